"""The paper's paired-distance ratio on a Transforms-2D target (its Figure 6b number; paper.md §3.1, §5.3).

For every test scene x of D(O, T), t(x) is the same scene (object, background) with the dataset's transforms T drawn
again, as the paper pairs two renders of a dataset that differ only in their transform seed. With z = g(x) the
model's representation and x_π(i) another scene of the same set (a seeded derangement):

    paired_distance_ratio = mean_i ||z_i − z'_i|| / mean_i ||z_i − z_π(i)||

Lower is more invariant: 0 = t does not move the representation, 1 = t moves it as far as another image does (the
paper: 0.12 ± 0.07 on a model's own transform, 0.40 ± 0.15 on other models' transforms, 0.39 ± 0.15 for a model
trained without transforms; ResNet-18, TMLR).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from invmeter.data.build import SPLIT_SEED_OFFSETS
from invmeter.data.transforms2d import Scenes, Transforms2D
from invmeter.errors import InvalidParameterError
from invmeter.experiments.cells import dataset_from_config, model_for
from invmeter.metrics import get_metric
from invmeter.metrics.context import metric_rng
from invmeter.metrics.invariance import invariance_terms
from invmeter.models.representation import extract_images
from invmeter.runner import cell_task
from invmeter.runner.settings import RunSettings

__all__ = ["paired_distance_cell", "paired_distance_result", "redrawn_pairs"]

CHUNK = 1024  # scenes rendered at once
# the denominator's pairs, as the paper's; drawn from the metric's own stream (cells computed before that drew it
# from default_rng([seed, 6]): the same definition, another draw of the random pairs)
REFERENCE = "another test image of the same set (seeded derangement)"


def _uint8(images: Tensor) -> Tensor:
    """[0, 1] images as the stored splits hold them (``build_split``'s rounding)."""
    return images.mul(255.0).round_().clamp_(0.0, 255.0).to(torch.uint8)


def redrawn_pairs(dataset: Transforms2D, n: int, seed: int) -> tuple[Tensor, Tensor]:
    """``(x, t(x))``, uint8 ``(n, 3, S, S)`` each: ``x`` is the test split of ``build_split(dataset, "test", n,
    seed)`` image for image, and ``t(x)`` the same scenes with the dataset's transforms drawn again (same objects,
    backgrounds and classes)."""
    if dataset.class_transforms is not None:
        raise InvalidParameterError("Paired distances need one transform spec for every class (not T1⊕T2).")
    generator = torch.Generator().manual_seed(seed + SPLIT_SEED_OFFSETS["test"])
    scenes = dataset.sample_scenes(n, generator, balanced=True)  # the test split's scenes, drawn as build_split does
    redrawn = dataset.sample_scenes(n, generator, balanced=True).transforms  # the same spec for every class: reusable
    moved_scenes = Scenes(scenes.labels, scenes.backgrounds, redrawn)
    prototypes = dataset.prototypes()
    clean, moved = [], []
    for start in range(0, n, CHUNK):  # bounded memory at the paper's 10,000 pairs
        part = slice(start, min(start + CHUNK, n))
        backgrounds = dataset.background_source.render(scenes.backgrounds[part], dataset.image_size)
        clean.append(_uint8(dataset.render(scenes[part], prototypes, backgrounds=backgrounds)))
        moved.append(_uint8(dataset.render(moved_scenes[part], prototypes, backgrounds=backgrounds)))
    return torch.cat(clean), torch.cat(moved)


@cell_task("paired_distance")
def paired_distance_cell(config: dict[str, Any], deps: dict[str, dict[str, Any]], workdir: Path,
                         settings: RunSettings) -> dict[str, Any]:
    """The paired-distance ratio of a model (``deps["model"]``, or an untrained ``config["arch"]``) on
    ``config["n"]`` redrawn pairs of the target's test scenes."""
    target = dataset_from_config(config["target"])
    if not isinstance(target, Transforms2D):
        raise InvalidParameterError("Paired distances are defined on Transforms-2D targets.")
    handle = model_for(config, deps, workdir, target)
    clean, moved = redrawn_pairs(target, config["n"], config["seed"])
    return paired_distance_result(extract_images(handle, clean), extract_images(handle, moved), config["seed"])


def paired_distance_result(first: Tensor, second: Tensor, seed: int) -> dict[str, Any]:
    """The row of a paired-distance cell from the representations of two transformed views of the same images:
    ``paired_distance_ratio`` as the metric registry defines it (the same terms, reduction and random stream for the
    derangement π as ``invmeter score`` uses, ``metric_rng(seed, "paired_distance_ratio")``), with its two means."""
    terms = dict(zip(("d", "r"), invariance_terms(first, second, metric_rng(seed, "paired_distance_ratio"))))
    reduction = get_metric("paired_distance_ratio").reduction
    assert reduction is not None
    out = {"paired_distance": float(terms["d"].mean()), "random_distance": float(terms["r"].mean()),
           "reference": REFERENCE}
    reason = reduction.why_undefined(terms)
    if reason is not None:
        return {"paired_distance_ratio": None, **out, "reason": reason}
    return {"paired_distance_ratio": reduction.value(terms), **out}
