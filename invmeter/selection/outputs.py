"""A selection's result and its renderings: the ranked table printed by the command line, ``selection.csv``,
``selection.json`` (with its schema version, :data:`invmeter._utils.schemas.SELECTION_SCHEMA_VERSION`),
``selection.md`` and a self-contained ``selection.html``."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import Any

from invmeter._utils.io import atomic_write
from invmeter._utils.schemas import SELECTION_SCHEMA_VERSION
from invmeter._utils.versions import versions
from invmeter._version import __version__
from invmeter.metrics.transferability import ESTIMATORS
from invmeter.selection.rule import COMBINED, RULE, rank_candidates, value_of

__all__ = ["SCORES", "Selection"]

# every ranking signal, as (name, label): the estimators, the probe, invmeter's evidence and the combined rule
SCORES = (*((name, e.label) for name, e in ESTIMATORS.items()), ("clean_accuracy", "probe accuracy"),
          ("invariance_mean", "invariance"), ("accuracy_delta_mean", "accuracy delta"), (COMBINED, "combined"))
TRUTH = "fine-tuned test accuracy (last layer)"


def _fmt(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def score_of(row: dict[str, Any], name: str) -> float | None:
    """A candidate's value of one ranking signal of :data:`SCORES` (``None`` when it has none)."""
    if name == COMBINED:
        return row.get(COMBINED)
    if name == "invariance_mean":
        return row.get("invariance_mean")
    if name == "accuracy_delta_mean":
        values = [value_of(v) for v in row.get("accuracy_delta", {}).values()]
        return sum(values) / len(values) if values and None not in values else None  # type: ignore[arg-type]
    return value_of(row.get("estimators", {}).get(name))


@dataclass
class Selection:
    """The ranked candidates (best first; unranked ones last, with the reason), the nuisance transforms, the rule,
    and with ``evaluate`` each signal's rank correlation with the fine-tuned accuracy.

    Attributes:
        candidates: One dict per model: ``model``, ``weights``, ``status``, ``rank``, ``combined``, ``reasons``,
            ``estimators`` (LogME, LEEP, NCE, H-score, kNN and probe accuracy), ``invariance`` and
            ``accuracy_delta`` per nuisance, ``meta``, and ``finetune`` when evaluated.
        nuisances: The nuisance transforms (specs).
        evaluation: ``{signal: {"kendall", "weighted", "n"}}`` against :data:`TRUTH`, or ``None``.
    """

    candidates: list[dict[str, Any]]
    nuisances: list[str]
    given: bool
    data: dict[str, Any]
    settings: dict[str, Any]
    evaluation: dict[str, dict[str, Any]] | None = None
    provenance: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def build(cls, rows: Sequence[dict[str, Any]], nuisances: Sequence[str], *, given: bool, data: dict[str, Any],
              settings: dict[str, Any], evaluated: bool = False) -> Selection:
        """Rank the rows by :data:`RULE`; with ``evaluated`` (rows carry ``finetune``), correlate every signal."""
        ranked = rank_candidates(rows, nuisances, given=given)
        evaluation = None
        if evaluated:
            from invmeter.selection.evaluate import rank_correlations

            truth = [r.get("finetune", {}).get("test_accuracy") for r in ranked]
            evaluation = rank_correlations({name: [score_of(r, name) for r in ranked] for name, _ in SCORES}, truth)
        return cls(list(ranked), list(nuisances), given, data, settings, evaluation,
                   {"versions": versions(), "rule": RULE})

    @property
    def ranking(self) -> list[str]:
        """The ranked models' names, best first."""
        return [r["model"] for r in self.candidates if r["rank"] is not None]

    @property
    def invariance_weight(self) -> float | None:
        """ρ, the weight the rule gave invariance here (the share of its spread that is not sampling noise)."""
        return next((r["invariance_weight"] for r in self.candidates if r["rank"] is not None), None)

    @property
    def best(self) -> str | None:
        """The first-ranked model (``None`` when no model could be ranked)."""
        return self.ranking[0] if self.ranking else None

    def to_dict(self) -> dict[str, Any]:
        return {"schema_version": SELECTION_SCHEMA_VERSION, "invmeter_version": __version__, "rule": RULE,
                "nuisances": self.nuisances, "nuisances_given": self.given, "data": self.data,
                "invariance_weight": self.invariance_weight, "settings": self.settings, "candidates": self.candidates,
                "evaluation": self.evaluation,
                "truth": TRUTH if self.evaluation is not None else None, "provenance": self.provenance}

    def columns(self) -> list[str]:
        per = [f"{kind}/{t}" for kind in ("invariance", "accuracy_delta") for t in self.nuisances]
        tail = ["finetune_accuracy"] if self.evaluation is not None else []
        return ["rank", "model", "weights", "status", *(name for name, _ in SCORES), *per, *tail, "reasons"]

    def flat(self, row: dict[str, Any]) -> dict[str, Any]:
        """One candidate as the CSV's row (every value a number, a string or empty)."""
        out = {k: row.get(k) for k in ("rank", "model", "weights", "status")}
        out.update({name: score_of(row, name) for name, _ in SCORES})
        for kind in ("invariance", "accuracy_delta"):
            out.update({f"{kind}/{t}": value_of(row[kind].get(t)) for t in self.nuisances})
        if self.evaluation is not None:
            out["finetune_accuracy"] = row.get("finetune", {}).get("test_accuracy")
        out["reasons"] = row.get("reasons")
        return out

    def to_csv(self) -> str:
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=self.columns(), lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.flat(r) for r in self.candidates)
        return buf.getvalue()

    def _table(self) -> tuple[list[str], list[list[str]]]:
        """The board's header and cells: rank, model, weights, combined, LogME, probe, invariance per nuisance."""
        header = ["rank", "model", "weights", "combined", "LogME", "LEEP", "probe acc.",
                  *(f"inv. {t}" for t in self.nuisances), *(["fine-tuned acc."] if self.evaluation else []), "reasons"]
        rows = []
        for r in self.candidates:
            cells = [str(r["rank"]) if r["rank"] is not None else "–", r["model"], r["weights"],
                     _fmt(score_of(r, COMBINED), 2), _fmt(score_of(r, "logme")), _fmt(score_of(r, "leep")),
                     _fmt(score_of(r, "clean_accuracy")),
                     *(_fmt(value_of(r["invariance"].get(t))) for t in self.nuisances)]
            if self.evaluation:
                cells.append(_fmt(r.get("finetune", {}).get("test_accuracy")))
            rows.append([*cells, r["reasons"]])
        return header, rows

    def _tau_rows(self) -> list[list[str]]:
        assert self.evaluation is not None
        return [[label, _fmt(self.evaluation[name]["kendall"], 2), _fmt(self.evaluation[name]["weighted"], 2),
                 str(self.evaluation[name]["n"]), self.evaluation[name].get("reason", "")] for name, label in SCORES]

    def intro(self) -> list[str]:
        where = "named for the target" if self.given else "the default set; name the target's own with -t"
        target = self.data.get("path") or self.data.get("type") or self.data.get("name", "the data")
        head = (f"{len(self.ranking)} of {len(self.candidates)} models ranked for transfer to {target} "
                f"({self.data.get('n_images')} images, {self.data.get('n_classes')} classes). Nuisances ({where}): "
                f"{', '.join(self.nuisances)}.")
        weight = self.invariance_weight
        rule = f"Rule: {RULE}." + (f" Here rho = {weight:.2f}" if weight is not None else "")
        if weight is not None and weight < 0.5:
            rule += ": the models' invariances differ by little more than their noise on these images, so LogME decides"
        return [head, rule + ("." if weight is not None else "")]

    def to_text(self) -> str:
        """The ranking as the command line prints it: one line per model with its reasons, then the τ table."""
        lines = [*self.intro(), ""]
        for r in self.candidates:
            place = f"{r['rank']:>2}." if r["rank"] is not None else " –."
            lines.append(f"{place} {r['model']} [{r['weights']}]  combined {_fmt(r.get(COMBINED), 2)}")
            lines.append(f"    {r['reasons']}")
        if self.evaluation is not None:
            lines += ["", f"Each signal against the {TRUTH} (Kendall τ, weighted τ, models):"]
            lines += [f"  {label:<16} {tau:>5}  {w:>5}  {n}  {why}".rstrip()
                      for label, tau, w, n, why in self._tau_rows()]
        return "\n".join(lines)

    def to_markdown(self) -> str:
        header, rows = self._table()
        def cell(text: str) -> str:
            return text.replace("|", "\\|")

        lines = ["# Model selection", "", *self.intro(), "", "| " + " | ".join(header) + " |",
                 "|" + "|".join("---:" if h == "rank" else "---" for h in header) + "|"]
        lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
        if self.evaluation is not None:
            lines += ["", f"## Each signal against the {TRUTH}", "",
                      "| signal | Kendall τ | weighted τ | models | note |", "|---|---|---|---|---|"]
            lines += ["| " + " | ".join(row) + " |" for row in self._tau_rows()]
        return "\n".join(lines) + "\n"

    def to_html(self) -> str:
        header, rows = self._table()
        head = "".join(f"<th onclick='sortBy(this)'>{escape(h)}</th>" for h in header)
        body = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>" for row in rows)
        tau = ""
        if self.evaluation is not None:
            tau_rows = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>"
                               for row in self._tau_rows())
            tau = (f"<h2>Each signal against the {escape(TRUTH)}</h2><table><tr><th>signal</th><th>Kendall τ</th>"
                   f"<th>weighted τ</th><th>models</th><th>note</th></tr>{tau_rows}</table>")
        intro = "".join(f"<p>{escape(line)}</p>" for line in self.intro())
        return (f"<!doctype html><html><head><meta charset='utf-8'><title>Model selection</title>{_STYLE}</head><body>"
                f"<h1>Model selection</h1>{intro}<table id='board'><tr>{head}</tr>{body}</table>{tau}{_SCRIPT}"
                "</body></html>\n")

    def write(self, out: str | Path) -> dict[str, Path]:
        """Write ``selection.csv``, ``.json``, ``.md`` and ``.html`` under ``out`` (atomically); returns the paths."""
        folder = Path(out)
        folder.mkdir(parents=True, exist_ok=True)
        texts = {"csv": self.to_csv(), "json": json.dumps(self.to_dict(), indent=1) + "\n", "md": self.to_markdown(),
                 "html": self.to_html()}
        paths = {}
        for kind, text in texts.items():
            paths[kind] = folder / f"selection.{kind}"
            atomic_write(paths[kind], lambda tmp, text=text: tmp.write_text(text))
        return paths


_STYLE = ("<style>body{font-family:system-ui,sans-serif;margin:2em;max-width:80em}table{border-collapse:collapse}"
          "td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left}th{cursor:pointer;background:#f4f4f4}</style>")
_SCRIPT = ("<script>function sortBy(th){const t=th.closest('table'),i=[...th.parentNode.children].indexOf(th),"
           "rows=[...t.rows].slice(1),num=s=>{const v=parseFloat(s);return isNaN(v)?-Infinity:v};"
           "const up=th.dataset.up!=='1';th.dataset.up=up?'1':'0';rows.sort((a,b)=>{const x=a.cells[i].textContent,"
           "y=b.cells[i].textContent;"
           "const d=isNaN(parseFloat(x))||isNaN(parseFloat(y))?x.localeCompare(y):num(x)-num(y);"
           "return up?d:-d});rows.forEach(r=>t.appendChild(r))}</script>")
