"""The leaderboard's figures from its records: a heatmap of models × transforms and two scatter plots (the metric
against clean accuracy and against parameter count), each point numbered by its row on the board with a legend."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from invmeter.leaderboard.ranking import RankedModel
from invmeter.leaderboard.records import is_random_init, metric_entry, metric_names, model_key
from invmeter.leaderboard.svg import Point, heatmap_svg, scatter_svg

__all__ = ["figures", "fmt", "fmt_ci", "label"]


def fmt(value: float | None, signed: bool = False) -> str:
    """A metric value to 3 decimals (``n/a`` for None or non-finite; a leading ``+`` when ``signed``)."""
    if value is None or not math.isfinite(value):
        return "n/a"
    value = round(value, 3) + 0.0  # no "-0.000"
    return f"{value:+.3f}" if signed else f"{value:.3f}"


def fmt_ci(ci: Any, signed: bool = False) -> str:
    """``[lo, hi]``, or an empty string when there is no interval."""
    if ci is None or ci[0] is None or ci[1] is None or not all(math.isfinite(v) for v in ci):
        return ""
    return f"[{fmt(ci[0], signed)}, {fmt(ci[1], signed)}]"


def label(model: str, weights: str) -> str:
    """``model [weights]``, a weights file by its name only."""
    short = "file:" + Path(weights[5:]).name if weights.startswith("file:") else weights
    return f"{model} [{short}]"


def _weights_note(flags: list[bool], hollow: bool) -> str:
    k, n = sum(flags), len(flags)
    if k == 0:
        return ""
    if k == n:
        return "\nALL WEIGHTS ARE RANDOM-INIT: these describe architectures, not trained models"
    return f"\n{k} of {n} models have RANDOM-INIT weights" + (" (hollow points)" if hollow else " (marked [random-init])")


def _meta(recs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    return next((dict(r["meta"]) for r in recs if r.get("meta")), {})


def _heatmap(recs: list[dict[str, Any]], order: list[tuple[str, str]], transforms: list[str], metric: str) -> str:
    """Models (in board order) × transforms of ``metric``; each cell's tooltip is its interval or its reason."""
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
    return heatmap_svg([label(*k) for k in order], transforms, values, notes, title=title, metric=metric)


def _scatters(recs: list[dict[str, Any]], order: list[tuple[str, str]], overall: Mapping[tuple[str, str], Any],
              metric: str, y_name: str) -> tuple[dict[str, str], dict[str, str]]:
    """``metric`` (with its interval) against clean accuracy and against parameter count, one point per model,
    numbered by its row on the board."""
    accuracy, params, modes = [], [], set()
    for number, key in enumerate(order, start=1):
        entry, ci = overall.get(key, (None, None))
        if entry is None or entry.value is None:
            continue
        lo, hi = ci if ci is not None and None not in ci else (None, None)
        group = [r for r in recs if model_key(r) == key]
        meta = _meta(group)
        point = Point(label(*key), 0.0, entry.value, lo, hi, is_random_init(key[1]), str(number))
        acc = [v for v in (metric_entry(r, "clean_accuracy")[0] for r in group) if v is not None]
        if acc:
            modes.add(meta.get("labels", "data"))
            accuracy.append(dataclasses.replace(point, x=sum(acc) / len(acc)))
        if isinstance(meta.get("params"), (int, float)) and meta["params"] > 0:
            params.append(dataclasses.replace(point, x=float(meta["params"])))
    x_acc = {frozenset({"model"}): "clean accuracy of the model's own classifier",
             frozenset({"data"}): "clean probe accuracy"}.get(frozenset(modes), "clean accuracy (probe or classifier)")
    drawn, missing = {}, {}
    for name, points, x_label, log, lack in (
        ("scatter-accuracy", accuracy, x_acc, False, "clean_accuracy"),
        ("scatter-params", params, "parameters (log scale)", True, "a parameter count"),
    ):
        if not points:
            missing[name] = f"no model with a {metric} value has {lack}"
            continue
        title = f"{metric} vs {x_label.split(' (')[0]}" + _weights_note([p.random_init for p in points], hollow=True)
        drawn[name] = scatter_svg(points, title=title, x_label=x_label, y_label=y_name, log_x=log, element_id=name)
    return drawn, missing


def figures(recs: list[dict[str, Any]], ranked: Sequence[RankedModel], heat: str, scatter: str,
            overall: Mapping[tuple[str, str], Any] | None) -> tuple[dict[str, str], dict[str, str]]:
    """The heatmap of ``heat`` and the scatter plots of ``scatter`` (``overall``: each model's value and interval
    of it, see the board), in the board's order; and why a figure is not drawn."""
    order = [(e.model, e.weights) for e in ranked]
    transforms = list(dict.fromkeys(r["transform"] for r in recs))
    present = metric_names(recs)
    drawn, missing = {}, {}
    if heat in present:
        drawn["heatmap"] = _heatmap(recs, order, transforms, heat)
    else:
        missing["heatmap"] = f"no {heat} in the rows"
    if overall is not None:
        y_name = f"{scatter} (mean over {len(transforms)} transforms)" if len(transforms) > 1 else scatter
        more, lacking = _scatters(recs, order, overall, scatter, y_name)
        drawn.update(more)
        missing.update(lacking)
    else:
        missing["scatter plots"] = f"no {scatter} in the rows"
    return drawn, missing
