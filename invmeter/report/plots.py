"""Figures for reports (the ``plot`` extra: matplotlib): sweep curves, layer profiles, comparison heatmaps.

Every figure invmeter draws (these, training curves, the paper's figures) comes from :func:`subplots`: a
``matplotlib.figure.Figure`` made without pyplot, so the user's backend (Jupyter's inline one included) and
pyplot's open figures are never touched; a notebook shows the figure a function returns.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from invmeter.errors import InvalidParameterError, InvmeterError
from invmeter.report.report import Report
from invmeter.report.tables import sweep_metrics

__all__ = ["heatmap", "plot_reports", "report_figure", "require_matplotlib", "save", "subplots"]


def require_matplotlib() -> None:
    """A one-line error naming the extra when matplotlib is not installed (check before long work)."""
    if importlib.util.find_spec("matplotlib") is None:
        raise InvmeterError("Plots need matplotlib: pip install 'invmeter[plot]'.")


def subplots(nrows: int = 1, ncols: int = 1, *, figsize: tuple[float, float], **kwargs: Any) -> tuple[Any, Any]:
    """A new figure and its axes (``Figure.subplots``'s arguments), without pyplot: an
    :class:`~invmeter.report.figure.InlineFigure`, which a notebook displays and :func:`save` writes."""
    require_matplotlib()
    from invmeter.report.figure import InlineFigure

    fig = InlineFigure(figsize=figsize)
    return fig, fig.subplots(nrows, ncols, **kwargs)


def heatmap(fig: Any, ax: Any, grid: Any, xlabels: Sequence[str], ylabels: Sequence[str], *, label: str,
            vmin: float | None = None, vmax: float | None = None, fontsize: int = 9, rotate_x: bool = False) -> None:
    """Draw ``grid`` (rows = ``ylabels``, columns = ``xlabels``) on ``ax`` with each value written in its cell."""
    image = ax.imshow(grid, cmap="viridis", aspect="auto", vmin=vmin, vmax=vmax)
    for i, row in enumerate(grid):
        for j, value in enumerate(row):
            dark = image.norm(value) < 0.6  # viridis is dark below ~60% of its range: white text there
            ax.text(j, i, f"{value:.2f}", ha="center", va="center", color="white" if dark else "black", fontsize=fontsize)
    ax.set_xticks(range(len(xlabels)), xlabels, rotation=40 if rotate_x else 0, ha="right" if rotate_x else "center")
    ax.set_yticks(range(len(ylabels)), ylabels)
    fig.colorbar(image, ax=ax, label=label)


def save(fig: Any, path: str | Path, dpi: int = 120) -> Path:
    """Lay out ``fig`` and write it to ``path`` (the format from its suffix)."""
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    return Path(path)


def _ci(entry: dict[str, Any]) -> tuple[float, float]:
    lo, hi = entry["ci95"]
    return (entry["value"] if lo is None else lo, entry["value"] if hi is None else hi)


def _sweep(reports: Sequence[Report]) -> Any:
    fig, ax = subplots(figsize=(6, 4))
    mags = [r.magnitude for r in reports]
    for key in sweep_metrics(reports[0]):
        entries = [r.metrics[key].to_dict() for r in reports]
        values = [e["value"] for e in entries]
        lo, hi = zip(*(_ci(e) for e in entries))
        ax.plot(mags, values, marker="o", label=key)
        ax.fill_between(mags, lo, hi, alpha=0.2)
    step = reports[0].transform["steps"][0]
    ax.set_xlabel(f"{step['family']} magnitude ({step['units']})")
    ax.set_ylabel("value (95% CI)")
    ax.set_title(f"{reports[0].model['name']}: {step['family']} sweep", fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return fig


def _layers(report: Report) -> Any:
    """One panel per profiled metric (invariance, lie_derivative, cka, ...), layers in forward order."""
    entries = [e.to_dict() for e in report.layers]
    names = list(dict.fromkeys(k for e in entries for k in e if k != "layer"))
    fig, axes = subplots(1, len(names), figsize=(max(5, 0.6 * len(entries) + 2) * len(names), 4), squeeze=False)
    xs = range(len(entries))
    for ax, name in zip(axes[0], names):
        points = [e.get(name) or {"value": None, "ci95": [None, None]} for e in entries]
        values = [float("nan") if p["value"] is None else p["value"] for p in points]
        lo, hi = zip(*(_ci(p) if p["value"] is not None else (float("nan"),) * 2 for p in points))
        ax.plot(xs, values, marker="o")
        ax.fill_between(xs, lo, hi, alpha=0.2)
        ax.set_xticks(list(xs), [e["layer"] for e in entries], rotation=45, ha="right", fontsize=8)
        ax.set_ylabel(f"{name} (95% CI)")
        ax.grid(alpha=0.3)
    fig.suptitle(f"{report.model['name']}: per-layer measures of {report.transform['spec']}", fontsize=10)
    return fig


def _comparison(reports: Sequence[Report], metric: str) -> Any:
    models = list(dict.fromkeys(r.model["name"] for r in reports))
    transforms = list(dict.fromkeys(r.transform["spec"] for r in reports))
    grid = [[float("nan")] * len(transforms) for _ in models]
    for r in reports:
        grid[models.index(r.model["name"])][transforms.index(r.transform["spec"])] = r[metric]
    fig, ax = subplots(figsize=(1.4 * len(transforms) + 3, 0.6 * len(models) + 2))
    heatmap(fig, ax, grid, transforms, models, label=metric, rotate_x=True)
    ax.set_title(f"{metric}: models x transforms")
    return fig


def _bars(report: Report) -> Any:
    keys = list(report.metrics)
    entries = [report.metrics[k].to_dict() for k in keys]
    fig, ax = subplots(figsize=(7, 4))
    values = [e["value"] for e in entries]
    lo, hi = zip(*(_ci(e) for e in entries))
    ax.bar(keys, values, yerr=[[v - low for v, low in zip(values, lo)], [high - v for v, high in zip(values, hi)]])
    ax.set_xticks(range(len(keys)), keys, rotation=30, ha="right")
    ax.set_title(f"{report.model['name']}: {report.transform['spec']}")
    return fig


def report_figure(reports: Sequence[Report], metric: str = "invariance") -> Any:
    """The natural figure for ``reports`` (an :class:`~invmeter.report.figure.InlineFigure`): a sweep curve, a layer
    profile, a models x transforms heatmap of ``metric``, or the metrics of a single report with their intervals."""
    if not reports:
        raise InvalidParameterError("There is nothing to plot: give at least one report.")
    if all(r.magnitude is not None for r in reports):
        return _sweep(reports)
    if len(reports) == 1 and reports[0].layers:
        return _layers(reports[0])
    if len(reports) > 1:
        return _comparison(reports, metric)
    return _bars(reports[0])


def plot_reports(reports: Sequence[Report], path: str | Path, metric: str = "invariance") -> Path:
    """Save :func:`report_figure` of ``reports`` to ``path``."""
    return save(report_figure(reports, metric), path)
