"""A built-in, offline stand-in for CIFAR-10: 10 classes of procedural outdoor scenes. It is *not* CIFAR-10.

Each class is a distribution of scenes: a sky over textured ground split by a tilted horizon, and often a shaded
elliptical "thing" in front. A class fixes the means of the sky, ground and thing hues, the horizon height, the
ground texture's frequency and orientation, the thing's size, shape and how often it appears; every image draws
its own jittered values of all of them, its own position and lighting, plus smooth and fine random variation.
Classes overlap (hues and layouts are shared between classes and jittered widely), so the class is learnable
but not trivial. Every image is a pure function of (seed, split, index) and renders at any size.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from invmeter.data.prototypes import ProceduralObjects
from invmeter.transforms.functional import (
    flip_matrix,
    hsv_to_rgb,
    rotation_matrix,
    scale_matrix,
    translation_matrix,
    warp,
)

__all__ = ["STANDIN_SPLIT_SIZES", "Cifar10StandIn"]

STANDIN_SPLIT_SIZES = {"train": 45_000, "val": 5_000, "test": 10_000}  # as CIFAR-10's seeded split gives
_SPLIT_CODES = {"train": 0, "val": 1, "test": 2}
N_CLASSES = 10
SUBJECTS_PER_CLASS = 2  # procedural objects per class
SUBJECT_SEED = 4242  # + the stand-in's seed: the subjects' ProceduralObjects seed (the pasted objects use 0)
# Bump when the rendering changes (part of describe() and of every experiment cell's key). 3: one HSV helper
# (transforms.functional.hsv_to_rgb) moved colours by float rounding: 3 pixels of a 2,500-image split by one level.
_FORMAT = 3


def _hsv(h: Tensor, s: Tensor, v: Tensor) -> Tensor:
    """RGB ``(N, 3)`` from hue (turns, wrapped), saturation and value ``(N,)`` in [0, 1]."""
    return hsv_to_rgb(h[:, None] * 6, v[:, None], v[:, None] * s[:, None])


@functools.lru_cache(maxsize=6)
def _scene_params(seed: int, split: str) -> dict[str, Tensor]:
    """Every image's labels and scene parameters for the split's pool (a few MB, drawn once per process)."""
    n = STANDIN_SPLIT_SIZES[split]
    classes = np.random.default_rng([seed, 977])
    cls = {  # per class: the means the images of the class jitter around
        "hues": classes.uniform(0, 1, (N_CLASSES, 2)),  # sky, ground
        "horizon": classes.uniform(0.3, 0.75, N_CLASSES),
        "freq": classes.uniform(2.0, 9.0, N_CLASSES),
        "angle": classes.uniform(0, math.pi, N_CLASSES),
    }
    rng = np.random.default_rng([seed, 1 + _SPLIT_CODES[split]])
    labels = rng.permutation(np.arange(n) % N_CLASSES)
    u = lambda lo, hi, *shape: rng.uniform(lo, hi, (n, *shape))  # noqa: E731 - a local shorthand
    hues = (cls["hues"][labels] + rng.normal(0, 0.12, (n, 2))) % 1.0
    params = {
        "labels": labels, "subject": labels * SUBJECTS_PER_CLASS + rng.integers(0, SUBJECTS_PER_CLASS, n),
        "hues": hues, "sat": u(0.15, 0.85, 2), "val": u(0.35, 0.95, 2),
        "horizon": cls["horizon"][labels] + rng.normal(0, 0.12, n), "tilt": rng.normal(0, 0.25, n),
        "freq": cls["freq"][labels] * u(0.75, 1.3), "angle": cls["angle"][labels] + rng.normal(0, 0.35, n),
        "phase": u(0, 2 * math.pi), "texture": u(0.05, 0.3), "soft": u(0.01, 0.05),
        "size": u(0.45, 0.8), "dx": u(-0.2, 0.2), "dy": u(-0.15, 0.2), "degrees": u(-40, 40),
        "mirror": rng.integers(0, 2, n), "shine": u(0.6, 1.2), "gain": u(0.75, 1.2),
        "smooth": rng.normal(0, 0.08, (n, 1, 4, 4)), "detail": rng.normal(0, 0.05, (n, 1, 8, 8)),
    }
    integers = ("labels", "subject", "mirror")
    return {k: torch.from_numpy(v.astype(np.int64 if k in integers else np.float32)) for k, v in params.items()}


@functools.lru_cache(maxsize=4)
def _subjects(seed: int, image_size: int) -> Tensor:
    """The classes' subjects as premultiplied RGBA canvases ``(K·SUBJECTS_PER_CLASS, 4, S, S)``, filling them."""
    ids = list(range(N_CLASSES * SUBJECTS_PER_CLASS))
    return ProceduralObjects(seed=SUBJECT_SEED + seed).render(ids, image_size, 1.0)


@dataclass(frozen=True)
class Cifar10StandIn:
    """The built-in CIFAR-10 stand-in (procedural scenes, see the module docstring); **not CIFAR-10**.

    Splits have CIFAR-10's sizes (45,000 / 5,000 / 10,000 after its seeded train/val split), classes exactly
    balanced. ``seed`` fixes the classes' distributions and every image.

    Example:
        >>> standin = Cifar10StandIn()
        >>> standin.render("test", torch.arange(5), 32).shape, len(standin.labels("test"))
        (torch.Size([5, 3, 32, 32]), 10000)
    """

    seed: int = 0

    name = "cifar10-standin"
    class_names = tuple(f"standin{k}" for k in range(N_CLASSES))

    def describe(self) -> dict[str, Any]:
        return {"source": self.name, "seed": self.seed, "format": _FORMAT,
                "note": "stand-in: procedural scenes, not CIFAR-10 (pass --cifar-root for the real data)"}

    def labels(self, split: str) -> Tensor:
        """``(P,)`` int64 classes of the split's images."""
        return _scene_params(self.seed, split)["labels"]

    def render(self, split: str, ids: Tensor, image_size: int) -> Tensor:
        """Images ``ids`` of ``split`` as RGB ``(len(ids), 3, S, S)`` float in [0, 1]."""
        p = {k: v[ids] for k, v in _scene_params(self.seed, split).items()}
        n = len(ids)
        grid = (torch.arange(image_size, dtype=torch.float32) + 0.5) / image_size
        y, x = grid.view(1, -1, 1), grid.view(1, 1, -1)
        col = lambda name: p[name].view(n, 1, 1)  # noqa: E731 - per-image scalar as (N, 1, 1)
        sky_rgb, ground_rgb = (_hsv(p["hues"][:, i], p["sat"][:, i], p["val"][:, i]).view(n, 3, 1, 1)
                               for i in range(2))
        ground = torch.sigmoid((y - col("horizon") - col("tilt") * (x - 0.5)) / col("soft")).unsqueeze(1)
        wave = torch.sin(2 * math.pi * col("freq") * (x * torch.cos(col("angle")) + y * torch.sin(col("angle")))
                         + col("phase"))
        sky = sky_rgb * (0.7 + 0.5 * y).unsqueeze(1)  # lighter towards the horizon
        scene = sky * (1 - ground) + ground_rgb * (1 + col("texture").unsqueeze(1) * wave.unsqueeze(1)) * ground
        pose = (translation_matrix(p["dx"], p["dy"], image_size, image_size) @ rotation_matrix(p["degrees"])
                @ scale_matrix(p["size"]) @ flip_matrix(p["mirror"], horizontal=True))
        subject = warp(_subjects(self.seed, image_size)[p["subject"]], pose)
        scene = scene * (1 - subject[:, 3:]) + subject[:, :3] * p["shine"].view(n, 1, 1, 1)
        size = (image_size, image_size)
        scene = scene + F.interpolate(p["smooth"], size=size, mode="bicubic", align_corners=False)
        scene = scene + F.interpolate(p["detail"], size=size, mode="bilinear", align_corners=False)
        return (scene * p["gain"].view(n, 1, 1, 1)).clamp_(0.0, 1.0)
