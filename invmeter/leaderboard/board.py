"""The leaderboard: zoo records ranked by one metric, written as ``leaderboard.md`` and a self-contained
``leaderboard.html`` (inline CSS, JS and SVG figures; nothing fetched when it is opened), plus the figures as
``leaderboard-*.svg`` for the Markdown page. The record schema is in :mod:`invmeter.leaderboard.records`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from invmeter._utils.io import atomic_write
from invmeter.leaderboard.pages import render_html, render_markdown
from invmeter.leaderboard.ranking import (
    NeighbourTest,
    RankedModel,
    bootstrap_interval,
    check_terms,
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
from invmeter.leaderboard.svg import Point, heatmap_svg, scatter_svg
from invmeter.metrics import get_metric, list_metrics
from invmeter.models.checkpoint import remove_stale_temporaries

__all__ = ["Board", "Cell", "build_board", "write_leaderboard", "fmt", "fmt_ci"]

@dataclasses.dataclass(frozen=True)
class Cell:
    """One table cell: what to show, how to sort it (``None`` sorts last), and a visible note (a reason)."""

    text: str
    sort: float | str | None
    note: str | None = None


@dataclasses.dataclass(frozen=True)
class Board:
    """Everything both pages show. ``header`` and each of ``rows`` align; ``figures`` maps a figure's file stem to
    its SVG text, ``missing_figures`` a figure's name to why it is not drawn."""

    title: str
    metric: str
    higher_is_better: bool
    transforms: list[str]
    header: list[str]
    rows: list[list[Cell]]
    failures: list[tuple[str, str, str, str]]
    n_models: int
    n_random: int
    figures: dict[str, str]
    missing_figures: dict[str, str]


def fmt(value: float | None, signed: bool = False) -> str:
    """A metric value to 3 decimals (``n/a`` for None or non-finite; a leading ``+`` when ``signed``)."""
    if value is None or not math.isfinite(value):
        return "n/a"
    return f"{value:+.3f}" if signed else f"{value:.3f}"


def fmt_ci(ci: Any, signed: bool = False) -> str:
    """``[lo, hi]``, or an empty string when there is no interval."""
    if ci is None or ci[0] is None or ci[1] is None or not all(math.isfinite(v) for v in ci):
        return ""
    return f"[{fmt(ci[0], signed)}, {fmt(ci[1], signed)}]"


def _label(model: str, weights: str) -> str:
    short = "file:" + Path(weights[5:]).name if weights.startswith("file:") else weights
    return f"{model} [{short}]"


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


_PREPROCESSING_SHOWN = ("resize_shorter_side", "crop_pct", "interpolation", "mean", "std", "overridden_by_user")


def _preprocessing(pre: Any) -> str:
    """The preprocessing settings that differ between models (resize, crop, interpolation, normalisation)."""
    if not isinstance(pre, Mapping):
        return "" if pre is None else str(pre)
    parts = []
    shown = [k for k in _PREPROCESSING_SHOWN if k in pre] or list(pre)
    for key, value in ((k, pre[k]) for k in shown):
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


def _transform_cell(rec: dict[str, Any] | None, metric: str) -> Cell:
    if rec is None:
        return Cell("n/a", None, "no row")
    value, reason = metric_entry(rec, metric)
    if value is None:
        return Cell("n/a", None, reason)
    return Cell(f"{fmt(value)} {fmt_ci(rec['metrics'][metric].get('ci95'))}".strip(), value)


def _row(
    entry: RankedModel,
    ci: Any,
    test: NeighbourTest | None,
    recs: list[dict[str, Any]],
    metric: str,
    transforms: list[str],
) -> list[Cell]:
    by_t = {r["transform"]: r for r in recs}
    meta = _meta(recs)
    size = meta.get("input_size")
    weights = ("⚠ " if is_random_init(entry.weights) else "") + entry.weights
    overall = (
        Cell("n/a", None, entry.reason)
        if entry.value is None
        else Cell(f"{fmt(entry.value)} {fmt_ci(ci)}".strip(), entry.value)
    )
    return [
        Cell(str(entry.rank) if entry.rank else "–", entry.rank),
        Cell(entry.model, entry.model),
        Cell(weights, entry.weights),
        overall,
        _vs_next(test),
        *(_transform_cell(by_t.get(t), metric) for t in transforms),
        _params(meta.get("params")),
        Cell("×".join(str(s) for s in size) if size else "", float(math.prod(size)) if size else None),
        Cell(_preprocessing(meta.get("preprocessing")), _preprocessing(meta.get("preprocessing")) or None),
        Cell(str(meta.get("labels", "")), meta.get("labels")),
    ]


def _weights_note(flags: list[bool], hollow: bool) -> str:
    k, n = sum(flags), len(flags)
    if k == 0:
        return ""
    if k == n:
        return "\nALL WEIGHTS ARE RANDOM-INIT: these describe architectures, not trained models"
    return f"\n{k} of {n} models have RANDOM-INIT weights" + (
        " (hollow points)" if hollow else " (marked [random-init])"
    )


def _heatmap(recs: list[dict[str, Any]], order: list[tuple[str, str]], transforms: list[str], metric: str) -> str:
    """Models (in ranking order) × transforms of ``metric``; each cell's tooltip is its interval or its reason."""
    by_key = {(model_key(r), r["transform"]): r for r in recs}
    values: list[list[float | None]] = []
    notes: list[list[str | None]] = []
    for key in order:
        values.append([])
        notes.append([])
        for t in transforms:
            rec = by_key.get((key, t))
            value, why = (None, "no row") if rec is None else metric_entry(rec, metric)
            values[-1].append(value)
            notes[-1].append(why or fmt_ci(rec["metrics"][metric].get("ci95")))  # type: ignore[index]
    note = _weights_note([is_random_init(w) for _, w in order], hollow=False)
    title = f"{metric} by model and transform (fixed 0–1 colour scale)" + note
    return heatmap_svg([_label(*k) for k in order], transforms, values, notes, title=title, metric=metric)


def _scatters(
    recs: list[dict[str, Any]],
    order: list[tuple[str, str]],
    overall: dict[tuple[str, str], Any],
    metric: str,
    y_name: str,
) -> tuple[dict[str, str], dict[str, str]]:
    """``metric`` (with its interval) against clean accuracy and against parameter count, one point per model."""
    accuracy, params, modes = [], [], set()
    for key in order:
        entry, ci = overall[key]
        if entry.value is None:
            continue
        lo, hi = ci if ci is not None and None not in ci else (None, None)
        group = [r for r in recs if model_key(r) == key]
        meta = _meta(group)
        point = Point(_label(*key), 0.0, entry.value, lo, hi, is_random_init(key[1]))
        acc = [v for v in (metric_entry(r, "clean_accuracy")[0] for r in group) if v is not None]
        if acc:
            modes.add(meta.get("labels", "data"))
            accuracy.append(dataclasses.replace(point, x=sum(acc) / len(acc)))
        if isinstance(meta.get("params"), (int, float)) and meta["params"] > 0:
            params.append(dataclasses.replace(point, x=float(meta["params"])))
    x_acc = {
        frozenset({"model"}): "clean accuracy of the model's own classifier",
        frozenset({"data"}): "clean probe accuracy",
    }.get(frozenset(modes), "clean accuracy (probe or classifier)")
    figures, missing = {}, {}
    for name, points, x_label, log, lack in (
        ("scatter-accuracy", accuracy, x_acc, False, "clean_accuracy"),
        ("scatter-params", params, "parameters (log scale)", True, "a parameter count"),
    ):
        if not points:
            missing[name] = f"no model with a {metric} value has {lack}"
            continue
        title = f"{metric} vs {x_label.split(' (')[0]}" + _weights_note([p.random_init for p in points], hollow=True)
        figures[name] = scatter_svg(points, title=title, x_label=x_label, y_label=y_name, log_x=log, element_id=name)
    return figures, missing


def build_board(
    records: Iterable[Mapping[str, Any]],
    *,
    rank_by: str = "invariance",
    higher_is_better: bool = True,
    heatmap_metric: str | None = None,
    scatter_metric: str = "invariance",
    n_boot: int = 1000,
    seed: int = 0,
    title: str = "invmeter zoo leaderboard",
) -> Board:
    """Rank the models by ``rank_by`` (mean over transforms), test each against the next, lay out the table and
    draw the figures. ``heatmap_metric`` defaults to ``rank_by`` when the registry puts it on a 0-1 scale
    (:attr:`invmeter.metrics.Metric.unit_scale`), else ``invariance``."""
    recs = check_records(records)
    check_terms(recs)
    transforms = transforms_of(recs)
    overall = _overall(recs, rank_by, higher_is_better, n_boot, seed)
    ranked = [entry for entry, _ in overall.values()]
    tests = {t.upper: t for t in neighbours_distinguishable(ranked, rank_by, n_boot=n_boot, seed=seed)}
    rows = []
    for entry in ranked:
        key = (entry.model, entry.weights)
        group = [r for r in recs if model_key(r) == key]
        rows.append(_row(entry, overall[key][1], tests.get(key), group, rank_by, transforms))
    mean = f" (mean over {len(transforms)})" if len(transforms) > 1 else ""
    header = [
        "rank",
        "model",
        "weights",
        f"{rank_by}{mean}",
        "vs next",
        *transforms,
        "params",
        "input",
        "preprocessing",
        "labels",
    ]
    order = [(e.model, e.weights) for e in ranked]
    present = metric_names(recs)
    unit_scale = rank_by in list_metrics() and get_metric(rank_by).unit_scale
    heat = heatmap_metric or (rank_by if unit_scale else "invariance")
    figures, missing = {}, {}
    if heat in present:
        figures["heatmap"] = _heatmap(recs, order, transforms, heat)
    else:
        missing["heatmap"] = f"no {heat} in the rows"
    if scatter_metric in present:
        scatter = overall if scatter_metric == rank_by else _overall(recs, scatter_metric, True, n_boot, seed)
        y_name = f"{scatter_metric} (mean over {len(transforms)} transforms)" if len(transforms) > 1 else scatter_metric
        more, lacking = _scatters(recs, order, scatter, scatter_metric, y_name)
        figures.update(more)
        missing.update(lacking)
    else:
        missing["scatter plots"] = f"no {scatter_metric} in the rows"
    failures = [(r["model"], r["weights"], r["transform"], r["reason"]) for r in recs if r["status"] == "failed"]
    n_random = sum(is_random_init(w) for _, w in order)
    return Board(
        title, rank_by, higher_is_better, transforms, header, rows, failures, len(order), n_random, figures, missing
    )


def write_leaderboard(records: Iterable[Mapping[str, Any]], out_dir: str | Path, **options: Any) -> dict[str, Path]:
    """Write ``leaderboard.md``, ``leaderboard.html`` and ``leaderboard-<figure>.svg`` into ``out_dir``.

    Each file is written atomically (a killed write leaves the previous file; its stray temporary is removed on the
    next write). ``options`` are :func:`build_board`'s. Returns ``{"md": path, "html": path, "<figure>": path, ...}``.
    """
    board = build_board(records, **options)
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
