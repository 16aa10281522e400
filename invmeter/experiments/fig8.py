"""Figure 8: more invariance than needed does not hurt; too little does.

For each seed, the preset's families (the paper's 8; 4 at the cpu preset) are drawn in a random order; T_k is the
first k of them (T_1 ⊂ ... ⊂ T_n).
One model per k is pretrained on D(O, T_k) (the same objects O throughout) and its last layer is re-fit on every
D(O, T_m): a superset of the target's transforms (k ≥ m) should reach about the best accuracy, a subset (k < m)
should lose accuracy as more transforms are missing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from invmeter.data.design import make_dataset, nested_transforms, sample_object_sets, sample_transform_sets
from invmeter.data.transforms2d import Transforms2D
from invmeter.experiments.claims import Check, Paper, references
from invmeter.experiments.common import PAPER_FT_STEPS, Context, Scale, mean_by, train_cell, transfer_cell
from invmeter.experiments.fig2 import object_pool
from invmeter.report.plots import heatmap, save, subplots
from invmeter.runner import Cell

NAME = "fig8"
TITLE = "Training on subsets and supersets of the target's transforms"
SCALES = {
    "smoke": Scale(n_classes=3, n_train=48, n_val=12, n_test=12, n_ft_train=30, n_ft_test=30, epochs=1, batch_size=16,
                   width=0.125, seeds=(0,), archs=("cifar:resnet18",), ft_epochs=5, image_size=16,
                   families=("rotation", "scale", "blur")),
    # 4 of the 8 families: on a CPU budget a width-1/4 ResNet-18 cannot learn the union of all 8 (0.11 test accuracy
    # at 2,000 images x 10 epochs) or of rotation with 3 others (0.39 to 0.57 at 6,000 x 10); see docs/reproduce.md
    "cpu": Scale(n_classes=10, n_train=6000, n_val=500, n_test=1000, n_ft_train=2000, n_ft_test=1000, epochs=10,
                 batch_size=64, width=0.25, seeds=(0, 1, 2), archs=("cifar:resnet18",), ft_steps=PAPER_FT_STEPS,
                 families=("translation", "color_jitter", "hflip", "scale")),
    "paper": Scale(n_classes=30, n_train=50_000, n_val=10_000, n_test=10_000, n_ft_train=50_000, n_ft_test=10_000,
                   epochs=100, batch_size=256, width=1.0, seeds=tuple(range(10)), archs=("cifar:resnet18",)),
}
SUPERSET_TOLERANCE = 0.05  # superset cells within this of the best (diagonal) accuracy
MONOTONE_TOLERANCE = 0.02  # allowed rise of mean accuracy between consecutive missing-transform counts
MIN_DROP = 0.10  # accuracy lost from one missing transform to the most missing
# The paper's mean transfer accuracy by number of missing transforms m - k (TMLR ResNet-18, 8 nested families, 10 seeds;
# means of its k x m table read off the plot to ±0.01-0.02, paper.md §5.2). C8-subset's paper effect is the drop from
# 1 missing to as many missing as this run has, so a run on 4 families is compared with the paper's 1 -> 3.
PAPER_BY_MISSING = {1: 0.927, 2: 0.818, 3: 0.666, 4: 0.538, 5: 0.413, 6: 0.340, 7: 0.270}
PAPER_SOURCE = "TMLR Fig. 8 analogue (invariance mismatch), ResNet-18; paper.md §5.2"
DATA = ("objects", "backgrounds")
DEVIATIONS = {"cpu": ["the 4 families were chosen after a width-1/4 ResNet-18 could not learn the union of all 8 at this "
                      "budget (0.11 test accuracy; docs/reproduce.md)"]}


def cells(scale: Scale, context: Context) -> list[Cell]:
    out = []
    base = Transforms2D(image_size=scale.image_size)
    for seed in scale.seeds:
        (objects,) = sample_object_sets((scale.n_classes,), seed=seed, pool=object_pool(context))
        (order,) = sample_transform_sets((len(scale.families),), seed=seed, pool=scale.families, order="sampled")
        nested = nested_transforms(order)
        datasets = [context.dataset(make_dataset(base, objects, t)) for t in nested]
        for arch in scale.archs:
            for k, train_on in enumerate(datasets, 1):
                model = train_cell(scale, arch, train_on, seed, f"seed {seed} {arch} train k={k}", k=k,
                                   transforms=str(nested[k - 1]))
                out += [transfer_cell(scale, model, target, seed, f"seed {seed} {arch} k={k} -> m={m}", m=m)
                        for m, target in enumerate(datasets, 1)]
    return out


def claims(rows: list[dict[str, Any]], preset: str) -> list[Check]:
    cell = {key: v[0] for key, v in mean_by(rows, ("k", "m")).items()}
    ks = sorted({k for k, _ in cell})
    best = float(np.mean([cell[(k, k)] for k in ks]))
    superset = float(np.mean([v for (k, m), v in cell.items() if k >= m]))
    by_missing = {d: float(np.mean([v for (k, m), v in cell.items() if m - k == d])) for d in range(1, len(ks))}
    steps = [by_missing[d + 1] - by_missing[d] for d in range(1, len(ks) - 1)]
    monotone = all(step <= MONOTONE_TOLERANCE for step in steps)
    most = len(ks) - 1
    drop = by_missing[1] - by_missing[most] if by_missing else 0.0
    models = references(rows, {f"T_{k} model": (lambda r, k=k: r["k"] == k) for k in ks})
    paper_drop = PAPER_BY_MISSING[1] - PAPER_BY_MISSING[most] if most >= 1 else None
    shown = ", ".join(f"{d}: {PAPER_BY_MISSING[d]:.2f}" for d in range(1, max(most, 1) + 1))
    return [
        Check("C8-superset", f"a superset of the target's transforms gives about the best accuracy "
              f"(within {SUPERSET_TOLERANCE:.2f} of the diagonal)",
              {"superset mean": superset, "diagonal mean": best}, superset >= best - SUPERSET_TOLERANCE,
              best - superset, models, Paper("superset (k ≥ m) 0.99-1.00, diagonal 0.98-1.00", None, PAPER_SOURCE)),
        Check("C8-subset", "on a subset, accuracy falls as more of the target's transforms are missing "
              f"(non-increasing within {MONOTONE_TOLERANCE:.2f}, dropping >= {MIN_DROP:.2f} overall)",
              {"mean accuracy by missing count": {str(d): v for d, v in by_missing.items()}, "drop": drop},
              monotone and drop >= MIN_DROP, drop if by_missing else None, models,
              Paper(f"by missing count {shown} (8 families)", None if paper_drop is None else round(paper_drop, 3),
                    PAPER_SOURCE)),
    ]


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    cell = {key: v[0] for key, v in mean_by(rows, ("k", "m")).items()}
    n = max(k for k, _ in cell)
    grid = np.full((n, n), np.nan)
    for (k, m), value in cell.items():
        grid[k - 1, m - 1] = value
    fig, ax = subplots(figsize=(6, 5))
    ticks = [str(i) for i in range(1, n + 1)]
    heatmap(fig, ax, grid, ticks, ticks, label="transfer accuracy", vmin=0, vmax=1, fontsize=7)
    ax.set_xlabel("target transforms m")
    ax.set_ylabel("training transforms k")
    ax.set_title("Figure 8: subsets vs supersets of transforms")
    save(fig, path)
