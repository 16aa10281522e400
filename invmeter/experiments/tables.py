"""The tables the docs show for a set of finished runs, generated from their ``results.json`` (never typed): the
tally of verdicts per figure with each claim's per-seed verdicts and every claim's effect beside the paper's
(docs/reproduce.md), and the selection experiment's Kendall τ per seed and target (docs/select.md).

    python -m invmeter.experiments.tables benchmarks/results            # print the tables
    python -m invmeter.experiments.tables benchmarks/results --write docs/reproduce.md --write docs/select.md

``--write`` replaces the text between each ``<!-- tables:NAME -->`` marker the file has (``tally``, ``effects``,
``selection``) and the next ``<!-- /tables -->``; a test checks that the committed docs hold exactly what the
committed results give.
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from invmeter.errors import InvalidParameterError
from invmeter.experiments.claims import STATUSES, SYMBOLS

__all__ = ["MARKERS", "effects_table", "load_results", "protocol", "selection_table", "tally_table", "tables_of",
           "write_tables"]

MARKERS = ("tally", "effects", "selection")
_END = "<!-- /tables -->"


def load_results(root: str | Path, preset: str = "cpu") -> dict[str, dict[str, Any]]:
    """``{figure: results.json}`` of every ``<root>/<figure>-<preset>/results.json``, in figure order."""
    found = sorted(Path(root).glob(f"fig*-{preset}/results.json"), key=lambda p: int(re.sub(r"\D", "", p.parent.name)))
    if not found:
        raise InvalidParameterError(f"No {preset} results under {str(root)!r} (looked for fig*-{preset}/results.json).")
    return {p.parent.name.removesuffix(f"-{preset}"): json.loads(p.read_text()) for p in found}


def _seeds(claim: dict[str, Any]) -> str:
    return " · ".join(f"{s}: {SYMBOLS[v['status']]}" for s, v in claim["per_seed"].items())


def protocol(result: dict[str, Any]) -> str:
    """The training protocol a run used, from its record: transforms drawn again every epoch (the paper's), fixed
    splits (``--fixed-split``, and every run recorded before the option: its scale has no ``redraw``), or nothing to
    draw (no cell's data has transforms: its cells are the same under both)."""
    if not result.get("scale", {}).get("redraw"):
        return "fixed splits"
    if any(cell.get("config", {}).get("redraw") for cell in result.get("cells", ())):
        return "drawn every epoch"
    return "nothing to draw"


def tally_table(results: Mapping[str, dict[str, Any]]) -> str:
    """Markdown: per figure, the protocol its run used, its tally and each claim's verdict with its per-seed verdicts;
    then the totals."""
    lines = ["| figure | protocol | holds | fails | inconclusive | claims: verdict (per seed) |",
             "| --- | --- | --- | --- | --- | --- |"]
    totals = dict.fromkeys(STATUSES, 0)
    for name, result in results.items():
        claims = result["claims"]
        if not claims:
            continue
        counts = {s: sum(c["status"] == s for c in claims) for s in STATUSES}
        for s in STATUSES:
            totals[s] += counts[s]
        shown = "; ".join(f"{c['id']} {SYMBOLS[c['status']]} ({_seeds(c)})" for c in claims)
        lines.append(f"| {name} | {protocol(result)} | {counts['holds']} | {counts['fails']} | {counts['inconclusive']} | {shown} |")
    n = sum(totals.values())
    lines.append(f"| **all** | | **{totals['holds']}** | **{totals['fails']}** | **{totals['inconclusive']}** | of {n} "
                 "claims |")
    return "\n".join(lines)


def _number(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


def effects_table(results: Mapping[str, dict[str, Any]]) -> str:
    """Markdown: every claim the paper gives a number for, with its effect (mean over the seeds judged), each seed's,
    the paper's, their ratio, and whether the ratio is within 2x."""
    lines = ["| figure | claim | effect: ours (per seed) | paper | ratio | within 2× |", "| --- | --- | --- | --- | --- | --- |"]
    for name, result in results.items():
        for c in result["claims"]:
            paper = (c.get("paper") or {}).get("effect")
            if paper is None:
                continue
            seeds = ", ".join(_number(v["effect"]) for v in c["per_seed"].values())
            ratio = c.get("effect_ratio")
            within = "–" if ratio is None else ("yes" if 0.5 <= ratio <= 2.0 else "**no**")
            lines.append(f"| {name} | {c['id']} | {_number(c['effect'])} ({seeds}) | {paper:.3f} | "
                         f"{'–' if ratio is None else f'{ratio:.2f}×'} | {within} |")
    return "\n".join(lines)


def selection_table(result: dict[str, Any]) -> str:
    """Markdown: the selection experiment's Kendall τ of every signal per seed and target, from its results.json."""
    from invmeter.experiments.selection import tau_markdown

    return tau_markdown(result["rows"]).rstrip("\n")


def tables_of(root: str | Path, preset: str = "cpu") -> dict[str, str]:
    """``{marker: table}`` for the finished runs under ``root``: the figures' tally and effects, and the selection
    experiment's τ table when ``root/selection-<preset>/results.json`` exists."""
    figures = load_results(root, preset)
    tables = {"tally": tally_table(figures), "effects": effects_table(figures)}
    selection = Path(root) / f"selection-{preset}" / "results.json"
    if selection.exists():
        tables["selection"] = selection_table(json.loads(selection.read_text()))
    return tables


def write_tables(path: str | Path, tables: Mapping[str, str]) -> None:
    """Replace each ``<!-- tables:NAME -->`` ... ``<!-- /tables -->`` block of the file at ``path`` with
    ``tables[NAME]``; the file must have at least one of the markers, and a marker without a table is an error."""
    text = Path(path).read_text()
    present = [name for name in MARKERS if f"<!-- tables:{name} -->" in text]
    if not present:
        raise InvalidParameterError(f"{str(path)!r} has none of the markers " +
                                    ", ".join(f"<!-- tables:{m} -->" for m in MARKERS) + ".")
    for name in present:
        start = f"<!-- tables:{name} -->"
        if name not in tables:
            raise InvalidParameterError(f"{str(path)!r} has {start} but no {name} results were found.")
        table = tables[name]
        head, _, rest = text.partition(start)
        _, end, tail = rest.partition(_END)
        if not end:
            raise InvalidParameterError(f"{str(path)!r}: {start} has no {_END} after it.")
        text = f"{head}{start}\n{table}\n{_END}{tail}"
    Path(path).write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", help="Folder of <figure>-<preset> result folders, e.g. benchmarks/results.")
    parser.add_argument("--preset", default="cpu")
    parser.add_argument("--write", action="append", default=[], metavar="FILE",
                        help="Replace the tables in FILE (the markers it has); repeatable.")
    args = parser.parse_args()
    tables = tables_of(args.root, args.preset)
    for path in args.write:
        write_tables(path, tables)
        print(f"wrote the tables into {path}")
    if not args.write:
        print(*tables.values(), sep="\n\n")


if __name__ == "__main__":
    main()
