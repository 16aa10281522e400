"""Reports as readable text tables: one report, a sweep (one row per magnitude), models x transforms."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from invmeter.metrics.registry import METRICS, get_metric

if TYPE_CHECKING:
    from invmeter.report.report import Report

__all__ = ["comparison_table", "fmt", "interval", "layer_cells", "report_cells", "report_heading", "report_table",
           "sweep_cells", "sweep_heading", "sweep_metrics", "sweep_table", "text_table"]


def fmt(value: float | None) -> str:
    """A value to 3 decimals; ``n/a`` for none or NaN."""
    return "n/a" if value is None or value != value else f"{value:.3f}"


def interval(ci: Sequence[float | None]) -> str:
    """A 95% interval as ``[lo, hi]`` (``n/a`` for a missing end)."""
    return f"[{fmt(ci[0])}, {fmt(ci[1])}]"


Cells = tuple[list[str], list[list[str]]]  # a table: its header and its rows of cells


def text_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Cells laid out in columns: the first left-aligned, the others right-aligned, the last left-aligned."""
    widths = [max(len(str(c)) for c in column) for column in zip(header, *rows)]

    def line(cells: Sequence[str]) -> str:
        last = len(cells) - 1
        return "   ".join(str(c).ljust(w) if i in (0, last) else str(c).rjust(w)
                          for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    return "\n".join([line(header), "-" * len(line(["-" * w for w in widths])), *(line(r) for r in rows)])


def report_heading(report: Report) -> list[str]:
    """What was measured: the model, the transform and the data, one line each."""
    model = report.model
    return [f"model      {model.get('name')}  (weights: {model.get('weights')}, layer: {model.get('layer')})",
            f"transform  {report.transform.get('spec')}", f"data       {_data_line(report.data)}"]


def report_cells(report: Report) -> Cells:
    """The metrics with their 95% intervals and readings (an undefined one: its reason), with the mean ± std across
    seeds and the random-init value when present."""
    seeds, base = report.seeds, report.baseline
    header = ["metric", "value", "95% CI"]
    header += [f"mean ± std ({len(seeds.seeds)} seeds)"] if seeds else []
    header += ["random-init"] if base else []
    rows = []
    for key, m in report.metrics.items():
        row = [key, fmt(m.value), interval(m.ci95)]
        if seeds:
            stats = seeds.metrics[key]
            row.append(f"{stats.mean:.3f} ± {stats.std:.3f}" if stats.mean is not None else "n/a")
        if base:
            row.append(fmt(base.metrics[key].value))
        rows.append(row + [f"undefined: {m.reason}" if m.reason else get_metric(key).reading])
    return header + ["reading"], rows


def layer_cells(report: Report) -> Cells:
    """The per-layer profile: one row per layer, each profiled metric's value and interval."""
    names = list(dict.fromkeys(k for entry in report.layers for k in entry.metrics))
    header = ["layer", *(c for n in names for c in (n, "95% CI"))]
    rows = [[entry.layer, *(c for n in names for c in ((fmt(entry.metrics[n].value), interval(entry.metrics[n].ci95))
                                                          if n in entry.metrics else ("", "")))]
            for entry in report.layers]
    return header, rows


def report_table(report: Report) -> str:
    """The metrics with their 95% intervals and readings (and seeds, baseline, layers when present)."""
    lines = [*report_heading(report), "", text_table(*report_cells(report))]
    if report.verdict is not None:
        lines.append(f"verdict: {report.verdict}")
    if report.layers:
        lines += ["", text_table(*layer_cells(report))]
    lines += [f"WARNING: {w}" for w in report.warnings]
    return "\n".join(lines)


def sweep_metrics(report: Report) -> list[str]:
    """The metrics a sweep shows (the registry's ``sweep`` flag), in registry order, that ``report`` has."""
    return [k for k in METRICS if METRICS[k].sweep and k in report.metrics]


def sweep_heading(reports: Sequence[Report]) -> str:
    step = reports[0].transform["steps"][0]
    return f"model {reports[0].model['name']}  sweep of {step['family']} ({step['units']}), fixed magnitude per row"


def sweep_cells(reports: Sequence[Report]) -> Cells:
    """One row per magnitude: the sweep's metrics (:func:`sweep_metrics`) with intervals, and the verdict."""
    keys = sweep_metrics(reports[0])
    rows = [[f"{r.magnitude:g}{'px' if r.magnitude_units == 'pixels' else ''}",
             *(f"{fmt(r[k])} {interval(r.metrics[k].ci95)}" for k in keys), r.verdict or ""] for r in reports]
    return ["magnitude", *keys, "verdict"], rows


def sweep_table(reports: Sequence[Report]) -> str:
    """One row per magnitude: the sweep's metrics (:func:`sweep_metrics`) with intervals, and the verdict."""
    return sweep_heading(reports) + "\n" + text_table(*sweep_cells(reports))


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
    """The data in one line: its name (a folder: its path), image and class counts, size and object source where
    the data has them (an unlabelled tensor has no classes to show)."""
    parts = [f"{data.get('n_images')} images"]
    if data.get("n_classes") is not None:
        parts.append(f"{data['n_classes']} classes")
    if data.get("image_size") is not None and data.get("name") != "folder":
        parts.append(f"{data['image_size']}px")
    if data.get("object_source"):
        parts.append(f"objects: {data['object_source'].get('source')}")
    name = f"folder {data.get('path')}" if data.get("name") == "folder" else data.get("name")
    return f"{name} ({', '.join(parts)})"
