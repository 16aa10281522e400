"""Reports as readable text tables: one report, a sweep (one row per magnitude), models x transforms."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from invmeter.metrics.registry import METRICS, get_metric

if TYPE_CHECKING:
    from invmeter.report.report import Report

__all__ = ["report_table", "sweep_table", "comparison_table", "sweep_metrics", "fmt"]


def fmt(value: float | None) -> str:
    """A value to 3 decimals; ``n/a`` for none or NaN."""
    return "n/a" if value is None or value != value else f"{value:.3f}"


def _interval(ci: Sequence[float | None]) -> str:
    return f"[{fmt(ci[0])}, {fmt(ci[1])}]"


def report_table(report: Report) -> str:
    """The metrics with their 95% intervals and readings (and seeds, baseline, layers when present)."""
    seeds, base = report.seeds, report.baseline
    width = max([22, *(len(k) + 1 for k in report.metrics)])
    header = f"{'metric':<{width}}{'value':>9}   {'95% CI':<19}"
    if seeds:
        header += f"{'mean ± std (' + str(len(seeds.seeds)) + ' seeds)':<24}"
    if base:
        header += f"{'random-init' + (f' ({len(base.inits.seeds)} inits)' if base.inits else ''):>22}  "
    lines = [
        f"model      {report.model.get('name')}  (weights: {report.model.get('weights')}, layer: "
        f"{report.model.get('layer')})",
        f"transform  {report.transform.get('spec')}",
        f"data       {_data_line(report.data)}",
        "",
        header + "reading",
        "-" * (len(header) + 24),
    ]
    for key, m in report.metrics.items():
        row = f"{key:<{width}}{fmt(m.value):>9}   {_interval(m.ci95):<19}"
        if seeds:
            stats = seeds.metrics[key]
            row += (f"{stats.mean:.3f} ± {stats.std:.3f}" if stats.mean is not None else "n/a").ljust(24)
        if base:
            row += f"{_baseline_cell(base, key):>22}  "
        lines.append(row + (f"undefined: {m.reason}" if m.reason else get_metric(key).reading))
    if report.verdict is not None:
        lines.append(f"verdict: {report.verdict}")
    if report.layers:
        names = list(dict.fromkeys(k for entry in report.layers for k in entry.metrics))
        lines += ["", f"{'layer':<30}" + "".join(f"{n:>14}   {'95% CI':<19}" for n in names)]
        for entry in report.layers:
            cells = "".join(f"{fmt(entry.metrics[n].value) if n in entry.metrics else '':>14}   "
                            f"{_interval(entry.metrics[n].ci95) if n in entry.metrics else '':<19}" for n in names)
            lines.append(f"{entry.layer:<30}{cells}")
    for w in report.warnings:
        lines.append(f"WARNING: {w}")
    return "\n".join(lines)


def _baseline_cell(base: Any, key: str) -> str:
    """The random-init baseline's value of ``key``: the mean ± std over its initialisations (one: its value);
    empty for a metric it has no value of (the gains themselves)."""
    if base.inits is not None and key in base.inits.metrics:
        stats = base.inits.metrics[key]
        if stats.mean is None:
            return "n/a"
        return f"{stats.mean:.3f} ± {stats.std:.3f}" if len(base.inits.seeds) > 1 else fmt(stats.mean)
    return fmt(base.metrics[key].value) if key in base.metrics else ""


def sweep_metrics(report: Report) -> list[str]:
    """The metrics a sweep shows (the registry's ``sweep`` flag), in registry order, that ``report`` has."""
    return [k for k in METRICS if METRICS[k].sweep and k in report.metrics]


def sweep_table(reports: Sequence[Report]) -> str:
    """One row per magnitude: the sweep's metrics (:func:`sweep_metrics`) with intervals, and the verdict."""
    keys = sweep_metrics(reports[0])
    step = reports[0].transform["steps"][0]
    lines = [f"model {reports[0].model['name']}  sweep of {step['family']} ({step['units']}), fixed magnitude per row",
             f"{'magnitude':>10}" + "".join(f"{k:>25}" for k in keys) + "   verdict"]
    for r in reports:
        cells = "".join(f"{fmt(r[k]) + ' ' + _interval(r.metrics[k].ci95):>25}" for k in keys)
        label = f"{r.magnitude:g}{'px' if r.magnitude_units == 'pixels' else ''}"
        lines.append(f"{label:>10}{cells}   {r.verdict or ''}")
    return "\n".join(lines)


def comparison_table(reports: Sequence[Report], metric: str = "invariance") -> str:
    """``metric`` for each model (rows) and transform (columns)."""
    models = list(dict.fromkeys(r.model["name"] for r in reports))
    transforms = list(dict.fromkeys(r.transform["spec"] for r in reports))
    width = max(len(m) for m in models) + 2
    lines = [f"{metric}: models x transforms", f"{'':<{width}}" + "".join(f"{t:>16}" for t in transforms)]
    for model in models:
        cells = {r.transform["spec"]: r[metric] for r in reports if r.model["name"] == model}
        lines.append(f"{model:<{width}}" + "".join(f"{fmt(cells.get(t)):>16}" for t in transforms))
    return "\n".join(lines)


def _data_line(data: dict[str, Any]) -> str:
    if data.get("name") == "folder":
        return f"folder {data.get('path')} ({data.get('n_images')} images, {data.get('n_classes')} classes)"
    return (
        f"{data.get('name')} ({data.get('n_images')} images, {data.get('n_classes')} classes, "
        f"{data.get('image_size')}px, objects: {data.get('object_source', {}).get('source')})"
    )
