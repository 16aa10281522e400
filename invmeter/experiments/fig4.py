"""Figure 4: relevance and availability decide which invariances a model learns (paper §4.1, paper.md §4.4).

Models are pretrained on C+O with CIFAR labels while sweeping the relevance α (the probability that the pasted
object is the background class's own object) at β = 1, and the availability β (the probability that an object
is pasted at all) at α = 0. Each has its last layer re-fit on C+O→C and C+O→O (the α = 0, β = 1 tasks), beside
the reference models of Figure 3 (C only, C+O with object labels, O only; dashed lines in the plot).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from invmeter.errors import InvalidParameterError
from invmeter.experiments import fig3
from invmeter.experiments.claims import Check, Paper, references
from invmeter.experiments.common import Context, Scale, mean_by, train_cell, transfer_cell
from invmeter.experiments.fig3 import DATASETS, background_name, core_datasets, notes, seed_objects
from invmeter.report.plots import save, subplots
from invmeter.runner import Cell

__all__ = ["NAME", "SCALES", "TITLE", "SweepScale", "cells", "claims", "notes", "plot"]

NAME = "fig4"
TITLE = "Relevance α and availability β of pasted objects vs CIFAR and object transfer accuracy"
TARGETS = ("C+O|C", "C+O|O")  # the tasks every model is re-fit on: C+O→C and C+O→O
REFERENCES = ("C", "C+O|O", "O")  # Figure 3's other models, drawn as dashed lines
REUSES = ("fig3",)  # its references, α = 0 and β = 0 models are Figure 3's cells: reused from fig3/ (or fig3-cpu/) beside it


@dataclass(frozen=True)
class SweepScale(Scale):
    """A :class:`Scale` with the figure's grids: ``relevance`` (α values) and ``availability`` (β values)."""

    relevance: tuple[float, ...] = (0.0, 1.0)
    availability: tuple[float, ...] = (0.0, 1.0)


SCALES = {
    "smoke": SweepScale(**vars(fig3.SCALES["smoke"]), relevance=(0.0, 1.0), availability=(0.0, 1.0)),
    "cpu": SweepScale(**{**vars(fig3.SCALES["cpu"]), "n_train": 2500, "epochs": 6},
                      relevance=(0.0, 0.6, 0.9, 1.0), availability=(0.0, 0.2, 0.6, 1.0)),
    "paper": SweepScale(**vars(fig3.SCALES["paper"]), relevance=(0.0, 0.2, 0.4, 0.6, 0.8, 0.85, 0.9, 0.95, 1.0),
                        availability=(0.0, 0.2, 0.4, 0.6, 0.8, 1.0)),
}
NEAR_ONE = 0.9  # object accuracy at α = 1 ("≈ 1")
RISE = 0.2  # object accuracy gained from α = 0 to α = 1
STEP_TOLERANCE = 0.05  # allowed fall of object accuracy between consecutive α values ("rises")
FLAT = 0.05  # "flat" / "independent": largest allowed spread of CIFAR accuracy
FLAT_BELOW = 0.9  # CIFAR accuracy is flat for every α below this
DROP = 0.05  # object accuracy lost from β = 0 to the smallest β > 0 ("drops as soon as β > 0")
PAPER = Paper("no stored numbers (the TMLR code's α/β sweep plots have no outputs)", None,
              "TMLR Fig. 4 analogue; paper.md §4.4, §5.4")
DATA = ("objects", "cifar")


def cells(scale: Scale, context: Context) -> list[Cell]:
    """Per seed and architecture: one model per α, per β and per reference, each re-fit on both targets. Models
    that coincide (α = 0 and β = 1; β = 0 and C) are the same cell, trained once."""
    if not isinstance(scale, SweepScale):
        raise InvalidParameterError(f"fig4 needs a SweepScale (a Scale with α and β grids). "
                                    f"Got {type(scale).__name__}.")
    out = []
    for seed in scale.seeds:
        core = core_datasets(context, seed_objects(scale, context, seed), scale.image_size)
        models = [("relevance", a, replace(core["C+O|C"], relevance=a)) for a in scale.relevance]
        models += [("availability", b, replace(core["C+O|C"], availability=b)) for b in scale.availability]
        models += [("reference", name, core[name]) for name in REFERENCES]
        targets = {DATASETS[t]: context.dataset(core[t]) for t in TARGETS}
        for arch in scale.archs:
            for kind, value, dataset in models:
                model = train_cell(scale, arch, context.dataset(dataset), seed, f"seed {seed} {arch} {kind}={value}",
                                   sweep=kind, value=value, backgrounds=background_name(context))
                out += [transfer_cell(scale, model, target, seed, f"seed {seed} {arch} {kind}={value} -> {task}",
                                      target=task) for task, target in targets.items()]
    return out


def _curves(rows: list[dict[str, Any]]) -> dict[tuple[str, str], tuple[list[float], list[float], list[float]]]:
    """``{(sweep, task): (x values, mean accuracies, stds)}`` for the α and β sweeps."""
    means = mean_by([r for r in rows if r["sweep"] != "reference"], ("sweep", "target", "value"))
    out: dict[tuple[str, str], tuple[list[float], list[float], list[float]]] = {}
    for (kind, task, value), (mean, std, _) in sorted(means.items()):
        xs, ys, errors = out.setdefault((kind, task), ([], [], []))
        xs.append(value)
        ys.append(mean)
        errors.append(std)
    return out


def claims(rows: list[dict[str, Any]], preset: str) -> list[Check]:
    curves = _curves(rows)
    cifar, objects = DATASETS["C+O|C"], DATASETS["C+O|O"]
    alpha, obj_by_alpha = curves[("relevance", objects)][:2]
    cif_by_alpha = curves[("relevance", cifar)][1]
    beta, obj_by_beta = curves[("availability", objects)][:2]
    cif_by_beta = curves[("availability", cifar)][1]
    steps = np.diff(obj_by_alpha)
    flat = [c for a, c in zip(alpha, cif_by_alpha) if a < FLAT_BELOW]
    first = 1 if len(beta) > 1 else 0  # the smallest β > 0
    total_drop, first_drop = obj_by_beta[0] - obj_by_beta[-1], obj_by_beta[0] - obj_by_beta[first]
    relevance = references(rows, {f"α={a:g} model": (lambda r, a=a: r["sweep"] == "relevance" and r["value"] == a)
                                  for a in alpha})
    availability = references(rows, {f"β={b:g} model": (lambda r, b=b: r["sweep"] == "availability" and r["value"] == b)
                                     for b in beta})
    spread_alpha = max(flat) - min(flat) if flat else None
    return [
        Check("C4r-objects", f"object accuracy rises with α (no fall over {STEP_TOLERANCE:.2f} between grid points, "
              f"+{RISE:.2f} or more from α=0 to α=1) and reaches >= {NEAR_ONE:.2f} at α = 1",
              {"α": alpha, "C+O→O": obj_by_alpha},
              alpha[0] == 0.0 and alpha[-1] == 1.0 and bool((steps >= -STEP_TOLERANCE).all())
              and obj_by_alpha[-1] - obj_by_alpha[0] >= RISE and obj_by_alpha[-1] >= NEAR_ONE,
              obj_by_alpha[-1] - obj_by_alpha[0], relevance, PAPER),
        Check("C4r-cifar", f"CIFAR accuracy is flat (spread <= {FLAT:.2f}) over every α < {FLAT_BELOW} "
              "(needs 2 such α)", {"α": alpha, "C+O→C": cif_by_alpha},
              len(flat) >= 2 and spread_alpha is not None and spread_alpha <= FLAT, spread_alpha, relevance, PAPER),
        Check("C4a-objects", f"object accuracy drops as soon as β > 0: at the smallest β > 0 by >= {DROP:.2f} and by "
              "at least half of its whole drop", {"β": beta, "C+O→O": obj_by_beta},
              beta[0] == 0.0 and first_drop >= DROP and first_drop >= 0.5 * total_drop, first_drop, availability, PAPER),
        Check("C4a-cifar", f"CIFAR accuracy does not depend on β (spread <= {FLAT:.2f})",
              {"β": beta, "C+O→C": cif_by_beta}, max(cif_by_beta) - min(cif_by_beta) <= FLAT,
              max(cif_by_beta) - min(cif_by_beta), availability, PAPER),
    ]


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    curves = _curves(rows)
    reference_rows = [r for r in rows if r["sweep"] == "reference"]
    lines = {k: v[0] for k, v in mean_by(reference_rows, ("value", "target")).items()}
    fig, axes = subplots(2, 2, figsize=(10, 7), sharey=True)
    for i, (kind, symbol) in enumerate((("relevance", "relevance α"), ("availability", "availability β"))):
        for j, task in enumerate(DATASETS[t] for t in TARGETS):
            ax = axes[i, j]
            xs, ys, es = curves[(kind, task)]
            ax.errorbar(xs, ys, yerr=es, marker="o", capsize=3, label="C+O, CIFAR labels")
            for k, name in enumerate(REFERENCES):
                ax.axhline(lines[(name, task)], ls="--", color=f"C{k + 1}",
                           label=f"reference: {name.replace('|', ', labels ')}")
            ax.set_xlabel(symbol)
            ax.set_ylabel(f"{task} accuracy")
            ax.set_ylim(0, 1.02)
    axes[0, 0].legend(fontsize=7)
    fig.suptitle(f"Figure 4: relevance and availability — backgrounds: {rows[0]['backgrounds']}", fontsize=10)
    save(fig, path, dpi=110)
