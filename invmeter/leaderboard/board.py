"""The leaderboard: zoo records ranked by one metric, written as ``leaderboard.md`` and a self-contained
``leaderboard.html`` (inline CSS, JS and SVG figures; nothing fetched when it is opened; each model linked to its own
report file when the zoo wrote one), plus the figures as ``leaderboard-*.svg`` for the Markdown page. The record
schema is in :mod:`invmeter.leaderboard.records`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from invmeter._utils.io import atomic_write
from invmeter.leaderboard.figures import figures, fmt, fmt_ci
from invmeter.leaderboard.pages import render_html, render_markdown
from invmeter.leaderboard.ranking import (
    NeighbourTest,
    RankedModel,
    bootstrap_interval,
    check_terms,
    default_rank,
    neighbours_distinguishable,
    rank,
)
from invmeter.leaderboard.records import (
    check_records,
    is_random_init,
    metric_entry,
    metric_names,
    model_key,
    transforms_of,
)
from invmeter.metrics import get_metric, list_metrics
from invmeter.models.checkpoint import remove_stale_temporaries

__all__ = ["Board", "Cell", "Row", "build_board", "fmt", "fmt_ci", "write_board", "write_leaderboard"]


@dataclasses.dataclass(frozen=True)
class Cell:
    """One table cell: what to show, how to sort it (``None`` sorts last), a visible note (a reason), and a link
    (relative to the board: the model's own report file)."""

    text: str
    sort: float | str | None
    note: str | None = None
    link: str | None = None


@dataclasses.dataclass(frozen=True)
class Row:
    """One model's row: its cells (aligned with :attr:`Board.header`), ``kind`` (``ranked``, ``baseline``: a
    random-init model beside trained ones, never ranked; ``unranked``: no value) and the text the search box
    matches (model, weights, architecture)."""

    cells: list[Cell]
    kind: str
    search: str


@dataclasses.dataclass(frozen=True)
class Board:
    """Everything both pages show. ``header`` and each row's cells align (``columns``: each column's key, e.g.
    ``vs_next``); ``figures`` maps a figure's file stem to its SVG text, ``missing_figures`` a figure's name to why
    it is not drawn."""

    title: str
    metric: str
    higher_is_better: bool
    transforms: list[str]
    header: list[str]
    columns: list[str]
    rows: list[Row]
    failures: list[tuple[str, str, str, str]]
    n_models: int
    n_ranked: int
    n_baselines: int
    n_random: int
    figures: dict[str, str]
    missing_figures: dict[str, str]


def _overall(recs: list[dict[str, Any]], metric: str, hib: bool, n_boot: int, seed: int) -> dict[tuple[str, str], Any]:
    """Per model: (RankedModel, 95% interval of its value or None) for ``metric`` averaged over the transforms."""
    metric_info = get_metric(metric) if metric in list_metrics() else None
    kind = metric_info.reduction if metric_info else None
    out = {}
    for entry in rank(recs, metric, higher_is_better=hib):
        ci = None
        terms = [(r.get("terms") or {}).get(metric) for r in entry.records]
        if entry.value is not None and len(entry.records) == 1:  # one transform: the row's own interval
            ci = entry.records[0]["metrics"][metric].get("ci95")
        elif entry.value is not None and kind and all(t is not None for t in terms):
            ci = bootstrap_interval(terms, kind, n_boot=n_boot, seed=seed, bounds=metric_info.bounds)[1]
        out[(entry.model, entry.weights)] = (entry, ci)
    return out


def _meta(recs: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    return next((dict(r["meta"]) for r in recs if r.get("meta")), {})


_PREPROCESSING_SHOWN = ("rendered", "resize_shorter_side", "crop_pct", "interpolation", "mean", "std",
                        "overridden_by_user")


def _preprocessing(pre: Any) -> str:
    """The preprocessing settings that differ between models (resize, crop, interpolation, normalisation)."""
    if not isinstance(pre, Mapping):
        return "" if pre is None else str(pre)
    parts = []
    shown = [k for k in _PREPROCESSING_SHOWN if k in pre] or list(pre)
    for key, value in ((k, pre[k]) for k in shown):
        if key == "rendered":  # rendered scenes: what ran, in the record's own words
            parts.append(str(value))
            continue
        if key in ("mean", "std") and value is None:
            parts += ["no normalisation"] if key == "mean" else []
            continue
        if isinstance(value, (list, tuple)):
            value = "(" + ", ".join(f"{v:.3g}" if isinstance(v, float) else str(v) for v in value) + ")"
        parts.append(f"{key} {value:.3g}" if isinstance(value, float) else f"{key} {value}")
    return ", ".join(parts)


def _params(n: Any) -> Cell:
    if not isinstance(n, (int, float)) or n <= 0:
        return Cell("", None)
    return Cell(f"{n / 1e6:.1f}M" if n >= 1e5 else f"{n / 1e3:.1f}k", float(n))


def _vs_next(test: NeighbourTest | None) -> Cell:
    if test is None:
        return Cell("", None)
    if test.distinguishable is None:
        return Cell("?", None, test.reason)
    mark = "" if test.distinguishable else "≈ "
    return Cell(f"{mark}{fmt(test.delta, True)} {fmt_ci(test.ci95, True)}", test.delta)


def _value_cell(entry: RankedModel | None, ci: Any, missing: str) -> Cell:
    if entry is None:
        return Cell("n/a", None, missing)
    if entry.value is None:
        return Cell("n/a", None, entry.reason)
    return Cell(f"{fmt(entry.value)} {fmt_ci(ci)}".strip(), entry.value)


def _transform_cell(rec: dict[str, Any] | None, metric: str) -> Cell:
    if rec is None:
        return Cell("n/a", None, "no row")
    value, reason = metric_entry(rec, metric)
    if value is None:
        return Cell("n/a", None, reason)
    return Cell(f"{fmt(value)} {fmt_ci(rec['metrics'][metric].get('ci95'))}".strip(), value)


def _rank_cell(entry: RankedModel) -> Cell:
    if entry.baseline:
        return Cell("baseline", None)
    return Cell(str(entry.rank) if entry.rank else "–", entry.rank)


def _row(entry: RankedModel, overall: dict[str, Any], test: NeighbourTest | None, recs: list[dict[str, Any]],
         metric: str, extra: list[str], transforms: list[str], reports: Mapping[tuple[str, str], str]) -> Row:
    key = (entry.model, entry.weights)
    by_t = {r["transform"]: r for r in recs}
    meta = _meta(recs)
    size = meta.get("input_size")
    weights = ("⚠ " if is_random_init(entry.weights) else "") + entry.weights
    arch = str(meta.get("architecture", ""))
    cells = [
        _rank_cell(entry),
        Cell(entry.model, entry.model, link=reports.get(key)),
        Cell(weights, entry.weights),
        Cell(arch, arch or None),
        _value_cell(*overall[metric][key], ""),
        _vs_next(test),
        *(_value_cell(*overall[m].get(key, (None, None)), f"no {m}") for m in extra),
        *(_transform_cell(by_t.get(t), metric) for t in transforms),
        _params(meta.get("params")),
        Cell("×".join(str(s) for s in size) if size else "", float(math.prod(size)) if size else None),
        Cell(_preprocessing(meta.get("preprocessing")), _preprocessing(meta.get("preprocessing")) or None),
        Cell(str(meta.get("labels", "")), meta.get("labels")),
    ]
    if all(r["status"] == "failed" for r in recs):  # the reason once, in the metric's cell (and under Failed rows)
        cells[6:] = [Cell(c.text, c.sort) for c in cells[6:]]
    kind = "baseline" if entry.baseline else ("ranked" if entry.rank else "unranked")
    return Row(cells, kind, f"{entry.model} {entry.weights} {arch}".lower())


def _extra_columns(recs: list[dict[str, Any]], metric: str) -> list[str]:
    """Beside the ranking metric: its raw metric or its gain over random init, and the clean accuracy."""
    present = metric_names(recs)
    info = get_metric(metric) if metric in list_metrics() else None
    partners = [info.calibrates] if info and info.calibrates else [
        m for m in list_metrics() if get_metric(m).calibrates == metric]
    return [m for m in (*partners, "clean_accuracy") if m in present and m != metric]


def build_board(
    records: Iterable[Mapping[str, Any]],
    *,
    rank_by: str | None = None,
    higher_is_better: bool | None = None,
    heatmap_metric: str | None = None,
    scatter_metric: str | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    title: str = "invmeter zoo leaderboard",
    reports: Mapping[tuple[str, str], str] | None = None,
) -> Board:
    """Rank the models by ``rank_by`` (mean over transforms; default :func:`~invmeter.leaderboard.ranking.
    default_rank`, in the registry's direction unless ``higher_is_better`` says), test each against the next, lay
    out the table and draw the figures. ``heatmap_metric`` and ``scatter_metric`` default to ``rank_by`` when the
    registry puts it on a 0-1 scale (:attr:`invmeter.metrics.Metric.unit_scale`), else ``invariance``. ``reports``:
    each model's report file, relative to the board, by ``(model, weights)`` (its name links to it)."""
    recs = check_records(records)
    check_terms(recs)
    metric = rank_by or default_rank(recs)
    registered = metric in list_metrics()
    hib = higher_is_better if higher_is_better is not None else (
        not registered or get_metric(metric).higher_is_better is not False)
    transforms = transforms_of(recs)
    extra = _extra_columns(recs, metric)
    overall = {m: _overall(recs, m, hib if m == metric else get_metric(m).higher_is_better is not False, n_boot, seed)
               for m in (metric, *extra)}
    ranked = [entry for entry, _ in overall[metric].values()]
    tests = {t.upper: t for t in neighbours_distinguishable(ranked, metric, n_boot=n_boot, seed=seed)}
    rows = [_row(e, overall, tests.get((e.model, e.weights)), [r for r in recs if model_key(r) == (e.model, e.weights)],
                 metric, extra, transforms, reports or {}) for e in ranked]
    mean = f" (mean over {len(transforms)})" if len(transforms) > 1 else ""
    header = ["rank", "model", "weights", "architecture", f"{metric}{mean}", "vs next",
              *(f"{m}{mean}" for m in extra), *transforms, "params", "input", "preprocessing", "labels"]
    columns = ["rank", "model", "weights", "architecture", "metric", "vs_next", *extra,
               *(f"transform:{t}" for t in transforms), "params", "input", "preprocessing", "labels"]
    figure_metric = metric if registered and get_metric(metric).unit_scale else "invariance"
    scatter = scatter_metric or figure_metric
    drawn, missing = figures(recs, ranked, heatmap_metric or figure_metric, scatter, overall.get(scatter) or (
        _overall(recs, scatter, True, n_boot, seed) if scatter in metric_names(recs) else None))
    failures = [(r["model"], r["weights"], r["transform"], r["reason"]) for r in recs if r["status"] == "failed"]
    return Board(
        title, metric, hib, transforms, header, columns, rows, failures, len(ranked),
        sum(e.rank is not None for e in ranked), sum(e.baseline for e in ranked),
        sum(is_random_init(e.weights) for e in ranked), drawn, missing,
    )


def write_board(board: Board, out_dir: str | Path) -> dict[str, Path]:
    """Write ``leaderboard.md``, ``leaderboard.html`` and ``leaderboard-<figure>.svg`` into ``out_dir``, each
    atomically (a killed write leaves the previous file; its stray temporary is removed on the next write).
    Returns ``{"md": path, "html": path, "<figure>": path, ...}``."""
    out = Path(out_dir)
    files = {
        "md": (out / "leaderboard.md", render_markdown(board)),
        "html": (out / "leaderboard.html", render_html(board)),
    }
    files.update({name: (out / f"leaderboard-{name}.svg", svg) for name, svg in board.figures.items()})
    for path, text in files.values():
        remove_stale_temporaries(out, path.name)
        atomic_write(path, lambda tmp, text=text: tmp.write_text(text, encoding="utf-8"))
    return {name: path for name, (path, _) in files.items()}


def write_leaderboard(records: Iterable[Mapping[str, Any]], out_dir: str | Path, **options: Any) -> dict[str, Path]:
    """:func:`build_board` (``options``) then :func:`write_board`."""
    return write_board(build_board(records, **options), out_dir)
