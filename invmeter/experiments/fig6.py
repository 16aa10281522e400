"""Figure 6: relationships between invariances.

One model per single transform family (the paper's 8, plus "none") is pretrained on D(O, {f}); (a) its last
layer is re-fit on every single-family dataset D(O, {g}); (b) the l2 between/within-class distance ratio of its
representations is measured on every D(O, {g}), beside an untrained model of the same architecture; (c) so is the
paper's paired-distance ratio (:mod:`invmeter.experiments.pairs`; lower = more invariant).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import spearmanr

from invmeter.data.design import make_dataset, sample_object_sets
from invmeter.data.transforms2d import Transforms2D
from invmeter.experiments.claims import Check, Paper, references
from invmeter.experiments.common import (
    PAPER_FT_STEPS,
    Context,
    Scale,
    l2_cell,
    mean_by,
    pair_cell,
    train_cell,
    transfer_cell,
)
from invmeter.experiments.fig2 import object_pool
from invmeter.report.plots import heatmap, save, subplots
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
PDR_GAP = 0.10  # "clearly below": the own-transform paired-distance ratio at least this far below (the paper: 0.28)
# The paper's paired-distance ratios (TMLR ResNet-18, image objects on image backgrounds, 18 transforms x 10 seeds,
# mean ± std over transforms and seeds, printed in its notebook; paper.md §5.3). "None": trained without transforms.
PAPER_PDR = {"own": (0.12, 0.07), "other": (0.40, 0.15), "none": (0.39, 0.15)}
PAPER_PDR_SOURCE = "TMLR Fig. 6b analogue (invariance transfer), ResNet-18, op-img evaluation data; paper.md §5.3"
NO_NUMBERS = Paper("no stored numbers (the TMLR transfer matrix is only in plots)", None, "ICLR Fig. 6; paper.md §4.3")
DATA = ("objects", "backgrounds")


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
                    out.append(pair_cell(scale, model, arch, dataset, seed,
                                         f"seed {seed} {trained} paired distances on {target}", target=target, panel="c"))
            for target, dataset in targets.items():
                out.append(l2_cell(scale, None, arch, dataset, seed, f"seed {seed} untrained l2 on {target}",
                                   trained_on="untrained", target=target, panel="b"))
                out.append(pair_cell(scale, None, arch, dataset, seed, f"seed {seed} untrained paired distances on "
                                     f"{target}", trained_on="untrained", target=target, panel="c"))
    return out


def _tables(rows: list[dict[str, Any]]) -> tuple[tuple[str, ...], dict, dict, dict]:
    """(families, then ``{(trained_on, target): mean}`` of accuracy, l2 ratio and paired-distance ratio)."""
    families = tuple(dict.fromkeys(r["target"] for r in rows))

    def table(panel: str, value: str) -> dict:
        chosen = [r for r in rows if r["panel"] == panel and r.get(value) is not None]
        return {k: v[0] for k, v in mean_by(chosen, ("trained_on", "target"), value).items()}

    return families, table("a", "accuracy"), table("b", "l2_ratio"), table("c", "paired_distance_ratio")


def claims(rows: list[dict[str, Any]], preset: str) -> list[Check]:
    families, acc, l2, pdr = _tables(rows)
    models = (*families, "none")
    missing = [f for f in (*HARD, "scale") if f not in families]
    if missing:
        return [Check("C6", "the paper's claims need its transform families", {"missing families": missing}, False,
                      missing=f"the families {', '.join(missing)} were not run")]
    refs = references(rows, {f"{m} model": (lambda r, m=m: r.get("trained_on") == m) for m in models})
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
    best_other = {g: max(l2[(m, g)] for m in (*models, "untrained") if m != g) for g in ("translation", "color_jitter")}
    pairs = [(acc[(f, g)], l2[(f, g)]) for f in models for g in families]
    accs, ratios = [a for a, _ in pairs], [r for _, r in pairs]
    rho = float(spearmanr(accs, ratios).statistic) if np.ptp(accs) > 0 and np.ptp(ratios) > 0 else float("nan")
    pair_margin = min(to_each["translation->rotation"] - to_each["translation->color_jitter"],
                      to_each["rotation->translation"] - to_each["rotation->color_jitter"])
    return [
        Check("C6a-well", f"single-transform models transfer well (>= {WELL:.0%} of the target's own model) to most "
              "other single-transform targets", {"fraction of model/target pairs": well}, well > 0.5, well, refs,
              NO_NUMBERS),
        Check("C6a-hard", "translation, rotation and color jitter are the hardest targets (each among the 4 hardest)",
              {"mean accuracy as a target": difficulty, "4 hardest": hardest}, all(h in hardest for h in HARD),
              None, refs, NO_NUMBERS),
        Check("C6a-pair", "translation and rotation transfer better to each other than to color jitter", to_each,
              pair_margin > 0, pair_margin, refs, NO_NUMBERS),
        Check("C6b-scale", "the l2 ratio on scale is high (at least the model's median) for every model",
              {m: l2[(m, "scale")] for m in models}, scale_high, None, refs, NO_NUMBERS),
        Check("C6b-own", "on translation and color jitter the l2 ratio is highest for the model trained on it",
              {g: {"own": l2[(g, g)], "best other": best_other[g]} for g in best_other},
              all(l2[(g, g)] > best_other[g] for g in best_other),
              min(l2[(g, g)] - best_other[g] for g in best_other), refs, NO_NUMBERS),
        Check("C6b-track", "l2 ratios track transfer accuracy (Spearman rho > 0.3 over model x target)",
              {"spearman rho": rho}, rho > 0.3, rho if np.isfinite(rho) else None, refs, NO_NUMBERS),
        _pdr_check(families, pdr, refs),
    ]


def _pdr_check(families: tuple[str, ...], pdr: dict, refs: tuple) -> Check:
    """C6-pdr: the paired-distance ratio on a model's own transform is clearly below that of other models on it and
    of the model trained without transforms (the paper's own / other / none)."""
    text = (f"paired-distance ratio (lower = more invariant): own transform at least {PDR_GAP:.2f} below other "
            "transforms and below the model trained without transforms")
    paper = Paper(", ".join(f"{k} {m:.2f} ± {s:.2f}" for k, (m, s) in PAPER_PDR.items()),
                  round(PAPER_PDR["other"][0] - PAPER_PDR["own"][0], 3), PAPER_PDR_SOURCE)
    needed = [(m, g) for m in (*families, "none", "untrained") for g in families]
    if any(key not in pdr for key in needed):
        return Check("C6-pdr", text, {}, False, None, refs, paper, missing="no paired-distance ratios in these rows")
    own = float(np.mean([pdr[(g, g)] for g in families]))
    other = float(np.mean([pdr[(f, g)] for f in families for g in families if f != g]))
    none = float(np.mean([pdr[("none", g)] for g in families]))
    untrained = float(np.mean([pdr[("untrained", g)] for g in families]))
    return Check("C6-pdr", text, {"own": own, "other": other, "none": none, "untrained (random init)": untrained},
                 own <= other - PDR_GAP and own <= none - PDR_GAP, other - own, refs, paper)


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    families, acc, l2, pdr = _tables(rows)
    models = (*families, "none")
    panels = [(acc, models, "(a) transfer accuracy", "accuracy"),
              (l2, (*models, "untrained"), "(b) l2 between/within-class ratio", "l2 ratio")]
    if pdr:
        panels.append((pdr, (*models, "untrained"), "(c) paired-distance ratio (lower = more invariant)", "ratio"))
    fig, axes = subplots(1, len(panels), figsize=(6.5 * len(panels), 5.5))
    for ax, (values, trained, title, label) in zip(axes, panels):
        grid = np.array([[values.get((m, g), np.nan) for g in families] for m in trained])
        heatmap(fig, ax, grid, families, trained, label=label, fontsize=7, rotate_x=True)
        ax.set_xlabel("target transform")
        ax.set_ylabel("trained on")
        ax.set_title(title)
    fig.suptitle("Figure 6: relationships between invariances")
    save(fig, path, dpi=110)
