"""Model selection: does invariance to the target's nuisances rank source models better than LogME or source
accuracy? (``invmeter reproduce selection``; docs/select.md.)

Per seed, a zoo of source models is pretrained on D(O, T) over the same objects O with different transform sets T:
one per single family and one without transforms (Figure 6's models: the same cells, so a run beside Figure 6's
reuses them) and a few on sets of 2 or 3 families. Each is transferred (last layer re-fit, the figures' protocol)
to several targets D(O', T'): other objects O', and transform mixes T' of 2 families drawn per seed. On each target's
training images ``invmeter.select`` scores every model with every estimator and with invariance to T' (its
nuisances); the claim compares the rank correlations (Kendall's τ) of the signals with the measured transfer accuracy.

The claim, stated before the first run: the invariance-aware ranking (``select``'s combined rule) has a higher mean
Kendall τ with transfer accuracy than LogME alone, and than source accuracy alone.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from invmeter.data.build import build_split
from invmeter.data.design import make_dataset, sample_object_sets, sample_transform_sets
from invmeter.data.transforms2d import Transforms2D
from invmeter.experiments import fig6
from invmeter.experiments.cells import dataset_from_config, model_for
from invmeter.experiments.claims import Check, Paper, Reference
from invmeter.experiments.common import Context, Scale, train_cell, transfer_cell
from invmeter.experiments.fig2 import object_pool
from invmeter.runner import Cell, cell_task
from invmeter.runner.settings import RunSettings
from invmeter.selection.evaluate import rank_correlation
from invmeter.selection.rule import COMBINED, rank_candidates
from invmeter.transforms import TransformSpec, parse_transform

__all__ = ["NAME", "SCALES", "SIGNALS", "TITLE", "SelectionScale", "cells", "claims", "plot", "tables", "tau_table"]

NAME = "selection"
TITLE = "Model selection: invariance to the target's nuisances vs LogME and source accuracy (Kendall τ)"
DATA = ("objects", "backgrounds")
REUSES = ("fig6",)  # its source models are Figure 6's cells: reused from a sibling folder fig6/ (reproduce all's)
ESTIMATES = ("logme", "leep", "nce", "h_score", "knn_accuracy", "clean_accuracy")
# every ranking signal whose τ is reported, as (row key, label); the claim compares the first three
SIGNALS = ((COMBINED, "invariance-aware (select)"), ("logme", "LogME"), ("source_accuracy", "source accuracy"),
           ("leep", "LEEP"), ("nce", "NCE"), ("h_score", "H-score"), ("knn_accuracy", "kNN accuracy"),
           ("clean_accuracy", "probe accuracy"), ("invariance_mean", "invariance alone"),
           ("accuracy_delta_mean", "accuracy delta"))
OBJECT_SEED, COMPOSITE_SEED, TARGET_SEED = 7_001, 7_002, 7_003  # offsets of the seed's draws beyond Figure 6's
PAPER = Paper("not in the paper (LogME's paper reports τ for LogME, LEEP and NCE on other model zoos)", None,
              "invmeter's experiment; docs/select.md")
DEVIATIONS = {"cpu": ["the source models are Figure 6's (cpu preset) plus 3 trained on 2- or 3-family sets"]}


@dataclass(frozen=True)
class SelectionScale(Scale):
    """A :class:`Scale` with the zoo's composite models (``composites``: families per model) and the targets
    (``targets`` of ``target_families`` families each)."""

    composites: tuple[int, ...] = (2, 2, 3)
    targets: int = 3
    target_families: int = 2


SCALES = {
    "smoke": SelectionScale(**vars(fig6.SCALES["smoke"]), composites=(2,), targets=1, target_families=2),
    "cpu": SelectionScale(**vars(fig6.SCALES["cpu"])),
    "paper": SelectionScale(**vars(fig6.SCALES["paper"])),
}


def _families(spec: TransformSpec) -> list[str]:
    return [step.family for step in spec.steps]


def cells(scale: Scale, context: Context) -> list[Cell]:
    if not isinstance(scale, SelectionScale):
        raise TypeError(f"selection needs a SelectionScale; got {type(scale).__name__}")
    out: list[Cell] = []
    base = Transforms2D(image_size=scale.image_size)
    pool = object_pool(context)
    for seed in scale.seeds:
        (objects,) = sample_object_sets((scale.n_classes,), seed=seed, pool=pool)  # Figure 6's objects
        others = [k for k in range(pool) if k not in objects]
        (target_objects,) = sample_object_sets((scale.n_classes,), seed=seed + OBJECT_SEED, pool=others)
        sources: list[tuple[str, TransformSpec | None]] = [(f, parse_transform(f)) for f in scale.families]
        sources.append(("none", None))
        sources += [(str(t), t) for t in sample_transform_sets(scale.composites, seed=seed + COMPOSITE_SEED,
                                                                pool=scale.families)]
        targets = sample_transform_sets((scale.target_families,) * scale.targets, seed=seed + TARGET_SEED,
                                        pool=scale.families)
        for arch in scale.archs:
            for trained_on, spec in sources:
                model = train_cell(scale, arch, context.dataset(make_dataset(base, objects, spec)), seed,
                                   f"seed {seed} {arch} train {trained_on}", trained_on=trained_on)
                for target in targets:
                    dataset = context.dataset(make_dataset(base, target_objects, target))
                    label = f"seed {seed} {trained_on} -> {target}"
                    out.append(transfer_cell(scale, model, dataset, seed, label, target=str(target), kind="transfer"))
                    out.append(Cell("estimate", {"target": dataset, "n_train": scale.n_ft_train, "seed": seed,
                                                 "nuisances": _families(target)}, deps={"model": model},
                                    label=f"{label} (select)",
                                    meta={**model.meta, "target": str(target), "kind": "estimate", "row": True}))
    return out


@cell_task("estimate")
def estimate_cell(config: dict[str, Any], deps: dict[str, dict[str, Any]], workdir: Path,
                  settings: RunSettings) -> dict[str, Any]:
    """``invmeter.select`` of one trained model on the target's training split (the images its last layer is
    re-fit on), with the target's transform families as the nuisances: every estimator, and invariance with its 95%
    interval (1,000 bootstrap resamples: the rule weighs invariance by its reliability)."""
    from invmeter.selection.run import select

    target = dataset_from_config(config["target"])
    split = build_split(target, "train", config["n_train"], config["seed"], cache=settings.data_cache)
    data = (torch.from_numpy(np.array(split.images)), torch.from_numpy(np.array(split.labels)))
    handle = model_for(config, deps, workdir, target)
    (row,) = select([handle], data, config["nuisances"], seed=config["seed"]).candidates
    if row["status"] != "ok":
        raise RuntimeError(f"select failed on this model: {row['reason']}")
    values = {name: row["estimators"][name]["value"] for name in ESTIMATES}
    undefined = {name: row["estimators"][name]["reason"] for name in ESTIMATES if "reason" in row["estimators"][name]}
    return {**values, "invariance": {t: v["value"] for t, v in row["invariance"].items()},
            "invariance_ci95": {t: v["ci95"] for t, v in row["invariance"].items()},
            "accuracy_delta": {t: v["value"] for t, v in row["accuracy_delta"].items()},
            **({"undefined": undefined} if undefined else {})}


def _select_row(row: dict[str, Any]) -> dict[str, Any]:
    """An estimate row in the form :func:`invmeter.selection.rule.rank_candidates` ranks."""
    return {"model": row["trained_on"], "status": "ok", "reason": None,
            "estimators": {name: {"value": row[name]} for name in ESTIMATES},
            "invariance": {t: {"value": v, "ci95": row.get("invariance_ci95", {}).get(t)}
                           for t, v in row["invariance"].items()},
            "accuracy_delta": {t: {"value": v} for t, v in row["accuracy_delta"].items()}}


def tau_table(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One entry per (seed, target): every signal's Kendall τ and weighted τ against the models' transfer accuracy
    on that target (``{"seed", "target", "n_models", "tau": {signal: {...}}}``)."""
    out = []
    for seed, target in dict.fromkeys((r["seed"], r["target"]) for r in rows):
        here = [r for r in rows if r["seed"] == seed and r["target"] == target]
        truth = {r["trained_on"]: r["accuracy"] for r in here if r["kind"] == "transfer"}
        estimated = [r for r in here if r["kind"] == "estimate" and r["trained_on"] in truth]
        if not estimated:
            continue
        nuisances = list(estimated[0]["invariance"])
        ranked = {r["model"]: r for r in rank_candidates([_select_row(r) for r in estimated], nuisances)}
        models = [r["trained_on"] for r in estimated]
        scores = {COMBINED: [ranked[m][COMBINED] for m in models],
                  "source_accuracy": [r["pretrain_accuracy"] for r in estimated],
                  "invariance_mean": [ranked[m]["invariance_mean"] for m in models],
                  "accuracy_delta_mean": [float(np.mean(list(r["accuracy_delta"].values()))) for r in estimated],
                  **{name: [r[name] for r in estimated] for name in ESTIMATES}}
        tau = {name: rank_correlation(scores[name], [truth[m] for m in models]) for name, _ in SIGNALS}
        out.append({"seed": seed, "target": target, "n_models": len(models), "tau": tau})
    return out


def _kendall(entry: dict[str, Any]) -> float:
    """τ for the means: a signal that cannot order the models (no τ) counts as 0, the τ of a random order."""
    return 0.0 if entry["kendall"] is None else float(entry["kendall"])


def _median_source(rows: list[dict[str, Any]]) -> tuple[Reference, ...]:
    """The median source model (by pretraining test accuracy): if it did not learn, nothing here is conclusive."""
    models = {(r["seed"], r["trained_on"]): r for r in rows if "pretrain_accuracy" in r}
    if not models:
        return ()
    first = next(iter(models.values()))
    accuracy = statistics.median(r["pretrain_accuracy"] for r in models.values())
    return (Reference("the median source model", accuracy, first["pretrain_chance"], int(first["pretrain_n_test"])),)


def claims(rows: list[dict[str, Any]], preset: str) -> list[Check]:
    table = tau_table(rows)
    means = {name: float(np.mean([_kendall(t["tau"][name]) for t in table])) for name, _ in SIGNALS}
    refs = _median_source(rows)
    measured = {"mean Kendall τ": {label: means[name] for name, label in SIGNALS}, "targets": len(table)}
    missing = "" if table else "no target has both estimates and transfer accuracies"
    return [
        Check("Csel-logme", "the invariance-aware ranking has a higher mean Kendall τ with transfer accuracy than "
              "LogME alone", measured, means[COMBINED] > means["logme"], means[COMBINED] - means["logme"], refs,
              PAPER, missing),
        Check("Csel-source", "the invariance-aware ranking has a higher mean Kendall τ with transfer accuracy than "
              "source accuracy alone", measured, means[COMBINED] > means["source_accuracy"],
              means[COMBINED] - means["source_accuracy"], refs, PAPER, missing),
    ]


def tables(rows: list[dict[str, Any]]) -> str:
    """Markdown: the summary's section of every signal's Kendall τ (weighted τ) per seed and target."""
    return "## Kendall τ (weighted τ) of each signal against transfer accuracy, per seed and target\n\n" + tau_markdown(rows)


def tau_markdown(rows: list[dict[str, Any]]) -> str:
    """Markdown: every signal's Kendall τ (weighted τ) per seed and target, and the means over them (what
    docs/select.md shows, generated by :mod:`invmeter.experiments.tables`)."""
    table = tau_table(rows)
    head = ["signal", *(f"seed {t['seed']}: {t['target']}" for t in table), "mean τ", "mean weighted τ"]
    lines = [f"Each column ranks the {table[0]['n_models'] if table else 0} source models of a seed on one target. "
             "n/a: the signal cannot order the models there (counted as τ = 0 in the means).", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, label in SIGNALS:
        cells = []
        for t in table:
            entry = t["tau"][name]
            cells.append("n/a" if entry["kendall"] is None else f"{entry['kendall']:+.2f} ({entry['weighted']:+.2f})")
        weighted = [0.0 if t["tau"][name]["weighted"] is None else t["tau"][name]["weighted"] for t in table]
        mean = np.mean([_kendall(t["tau"][name]) for t in table]) if table else float("nan")
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {mean:+.3f} | {np.mean(weighted):+.3f} |")
    return "\n".join(lines) + "\n"


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    from invmeter.report.plots import heatmap, save, subplots

    table = tau_table(rows)
    grid = np.array([[_kendall(t["tau"][name]) for t in table] for name, _ in SIGNALS])
    fig, ax = subplots(figsize=(1.1 * len(table) + 4, 5))
    heatmap(fig, ax, grid, [f"s{t['seed']} {t['target']}" for t in table], [label for _, label in SIGNALS],
            label="Kendall τ with transfer accuracy", vmin=-1, vmax=1, fontsize=7, rotate_x=True)
    ax.set_title("Model selection: each signal's τ against transfer accuracy, per seed and target")
    save(fig, path, dpi=110)
