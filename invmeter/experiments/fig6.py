"""Figure 6: relationships between invariances.

One model per single transform family (the paper's 8, plus "none") is pretrained on D(O, {f}); (a) its last
layer is re-fit on every single-family dataset D(O, {g}); (b) the l2 between/within-class distance ratio of its
representations is measured on every D(O, {g}), beside an untrained model of the same architecture.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import spearmanr

from invmeter.data.design import make_dataset, sample_object_sets
from invmeter.data.transforms2d import Transforms2D
from invmeter.experiments.common import (
    PAPER_FT_STEPS,
    Claim,
    Context,
    Scale,
    l2_cell,
    mean_by,
    train_cell,
    transfer_cell,
)
from invmeter.experiments.fig2 import object_pool
from invmeter.plots import heatmap, pyplot, save
from invmeter.runner import Cell
from invmeter.transforms import parse_transform

NAME = "fig6"
TITLE = "Transfer (a) and l2 between/within-class ratios (b) between single-transform models"
HARD = ("translation", "rotation", "color_jitter")  # the paper's hardest targets
SCALES = {
    "smoke": Scale(n_classes=3, n_train=48, n_val=12, n_test=12, n_ft_train=30, n_ft_test=30, epochs=1, batch_size=16,
                   width=0.125, seeds=(0,), archs=("cifar:resnet18",), ft_epochs=5, image_size=16,
                   families=("translation", "rotation", "scale", "color_jitter")),
    "cpu": Scale(n_classes=10, n_train=1500, n_val=300, n_test=500, n_ft_train=600, n_ft_test=600, epochs=8,
                 batch_size=64, width=0.25, seeds=(0, 1, 2), archs=("cifar:resnet18",), ft_steps=PAPER_FT_STEPS),
    "paper": Scale(n_classes=30, n_train=50_000, n_val=10_000, n_test=10_000, n_ft_train=50_000, n_ft_test=10_000,
                   epochs=50, batch_size=512, width=1.0, seeds=tuple(range(10)), archs=("cifar:resnet18",)),
}
WELL = 0.8  # "transfers well": at least this fraction of the target's own model's accuracy


def cells(scale: Scale, context: Context) -> list[Cell]:
    out = []
    base = Transforms2D(image_size=scale.image_size)
    for seed in scale.seeds:
        (objects,) = sample_object_sets((scale.n_classes,), seed=seed, pool=object_pool(context))
        targets = {f: context.dataset(make_dataset(base, objects, parse_transform(f))) for f in scale.families}
        for arch in scale.archs:
            for trained in (*scale.families, "none"):
                spec = None if trained == "none" else parse_transform(trained)
                model = train_cell(scale, arch, context.dataset(make_dataset(base, objects, spec)), seed,
                                   f"seed {seed} {arch} train {trained}", trained_on=trained)
                for target, dataset in targets.items():
                    out.append(transfer_cell(scale, model, dataset, seed, f"seed {seed} {trained} -> {target}",
                                             target=target, panel="a"))
                    out.append(l2_cell(scale, model, arch, dataset, seed, f"seed {seed} {trained} l2 on {target}",
                                       target=target, panel="b"))
            out += [l2_cell(scale, None, arch, dataset, seed, f"seed {seed} untrained l2 on {target}",
                            trained_on="untrained", target=target, panel="b") for target, dataset in targets.items()]
    return out


def _tables(rows: list[dict[str, Any]]) -> tuple[tuple[str, ...], dict, dict]:
    """(families, accuracy {(trained_on, target): mean}, l2 ratio {(trained_on, target): mean})."""
    families = tuple(dict.fromkeys(r["target"] for r in rows))
    acc = {k: v[0] for k, v in mean_by([r for r in rows if r["panel"] == "a"], ("trained_on", "target")).items()}
    l2 = {k: v[0] for k, v in mean_by([r for r in rows if r["panel"] == "b"], ("trained_on", "target"), "l2_ratio").items()}
    return families, acc, l2


def claims(rows: list[dict[str, Any]], preset: str) -> list[Claim]:
    families, acc, l2 = _tables(rows)
    models = (*families, "none")
    missing = [f for f in (*HARD, "scale") if f not in families]
    if missing:
        return [Claim("C6", "the paper's claims need its transform families", {"missing families": missing}, False)]
    own = {g: acc[(g, g)] for g in families}
    off = [(f, g) for f in families for g in families if f != g]
    well = float(np.mean([acc[c] >= WELL * own[c[1]] for c in off]))
    difficulty = {g: float(np.mean([acc[(f, g)] for f in families if f != g])) for g in families}
    hardest = sorted(difficulty, key=difficulty.get)[:4]
    to_each = {"translation->rotation": acc[("translation", "rotation")],
               "translation->color_jitter": acc[("translation", "color_jitter")],
               "rotation->translation": acc[("rotation", "translation")],
               "rotation->color_jitter": acc[("rotation", "color_jitter")]}
    scale_high = all(l2[(m, "scale")] >= np.median([l2[(m, g)] for g in families]) for m in models)
    own_highest = {g: l2[(g, g)] > max(l2[(m, g)] for m in (*models, "untrained") if m != g) for g in ("translation", "color_jitter")}
    pairs = [(acc[(f, g)], l2[(f, g)]) for f in models for g in families]
    accs, ratios = [a for a, _ in pairs], [r for _, r in pairs]
    rho = float(spearmanr(accs, ratios).statistic) if np.ptp(accs) > 0 and np.ptp(ratios) > 0 else float("nan")
    return [
        Claim("C6a-well", f"single-transform models transfer well (>= {WELL:.0%} of the target's own model) to most "
              "other single-transform targets", {"fraction of model/target pairs": well}, well > 0.5),
        Claim("C6a-hard", "translation, rotation and color jitter are the hardest targets (each among the 4 hardest)",
              {"mean accuracy as a target": difficulty, "4 hardest": hardest}, all(h in hardest for h in HARD)),
        Claim("C6a-pair", "translation and rotation transfer better to each other than to color jitter", to_each,
              to_each["translation->rotation"] > to_each["translation->color_jitter"]
              and to_each["rotation->translation"] > to_each["rotation->color_jitter"]),
        Claim("C6b-scale", "the l2 ratio on scale is high (at least the model's median) for every model",
              {m: l2[(m, "scale")] for m in models}, scale_high),
        Claim("C6b-own", "on translation and color jitter the l2 ratio is highest for the model trained on it",
              {g: {"own": l2[(g, g)], "best other": max(l2[(m, g)] for m in (*models, "untrained") if m != g)}
               for g in ("translation", "color_jitter")}, all(own_highest.values())),
        Claim("C6b-track", "l2 ratios track transfer accuracy (Spearman rho > 0.3 over model x target)",
              {"spearman rho": rho}, rho > 0.3),
    ]


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    plt = pyplot()
    families, acc, l2 = _tables(rows)
    models = (*families, "none")
    fig, axes = plt.subplots(1, 2, figsize=(13, 5.5))
    for ax, values, trained, title, label in (
        (axes[0], acc, models, "(a) transfer accuracy", "accuracy"),
        (axes[1], l2, (*models, "untrained"), "(b) l2 between/within-class ratio", "l2 ratio"),
    ):
        grid = np.array([[values[(m, g)] for g in families] for m in trained])
        heatmap(fig, ax, grid, families, trained, label=label, fontsize=7, rotate_x=True)
        ax.set_xlabel("target transform")
        ax.set_ylabel("trained on")
        ax.set_title(title)
    fig.suptitle("Figure 6: relationships between invariances")
    save(fig, path, dpi=110)
