"""CIFAR-10 with pasted objects (the paper's Figures 3 and 4; paper.md §4.4): small Transforms-2D objects pasted
onto labelled background images (CIFAR-10 or its stand-in) or onto black.

A sample is background image b (class y_b) with, with probability β (availability), object o pasted in the
upper-right corner: o = y_b with probability α (relevance; object k goes with background class k), else a
uniformly random object. Its label is y_b (``label="background"``) or o (``label="object"``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from invmeter._utils.validation import check_image_size
from invmeter.data._split import SplitPlan
from invmeter.data.cifar import Cifar10Folder
from invmeter.data.prototypes import ProceduralObjects, check_object_ids
from invmeter.data.standin import Cifar10StandIn
from invmeter.errors import DataError, InvalidParameterError

__all__ = ["CORNER", "LABELS", "OBJECT_SIDE", "PLACEMENTS", "PastedObjects", "balanced_subset"]

LABELS = ("background", "object")
PLACEMENTS = ("corner", "random")
OBJECT_SIDE = 0.7 * 0.55  # the paper's 0.7 object canvas scaled by 0.55: ~12 px at 32 px
CORNER = (21 / 32, 2 / 32)  # (left, top) of the object's box in the corner placement, fraction of the side


def balanced_subset(labels: Tensor, n: int, generator: torch.Generator) -> Tensor:
    """``n`` distinct indices into ``labels``, in random order, taking the classes in turn (a class that runs out
    is skipped): exactly balanced classes whenever every class has at least ``n / K`` members."""
    perm = torch.randperm(len(labels), generator=generator)
    permuted = labels[perm]
    by_class = torch.argsort(permuted, stable=True)  # grouped by class, random order within a class
    counts = torch.bincount(permuted)
    starts = torch.cumsum(counts, 0) - counts
    rank = torch.empty_like(permuted)
    rank[by_class] = torch.arange(len(permuted)) - starts[permuted[by_class]]
    chosen = perm[torch.argsort(rank * len(labels) + torch.arange(len(labels)))[:n]]
    return chosen[torch.randperm(n, generator=generator)]


def _paste(backgrounds: Tensor, objects: Tensor, top: Tensor, left: Tensor) -> Tensor:
    """``objects`` (premultiplied RGBA ``(N, 4, s, s)``) over ``backgrounds`` (``(N, 3, S, S)``) with their top-left
    corners at pixel (``top``, ``left``) (``(N,)`` int64); parts beyond the image are cut off."""
    n, _, size, _ = backgrounds.shape
    side = objects.shape[-1]
    grid = torch.arange(size)
    rows, cols = grid[None] - top[:, None], grid[None] - left[:, None]  # (N, S): object pixel at image row/col
    inside = ((rows >= 0) & (rows < side))[:, :, None] & ((cols >= 0) & (cols < side))[:, None, :]
    r, c = rows.clamp(0, side - 1), cols.clamp(0, side - 1)
    canvas = objects[torch.arange(n)[:, None, None], :, r[:, :, None], c[:, None, :]]  # (N, S, S, 4)
    canvas = canvas.permute(0, 3, 1, 2) * inside[:, None]
    return torch.addcmul(canvas[:, :3], backgrounds, 1.0 - canvas[:, 3:4])


@dataclass(frozen=True)
class PastedObjects:
    """Labelled backgrounds with small objects pasted on them (a :class:`~invmeter.data.BuildableDataset`).

    Attributes:
        backgrounds: CIFAR-10 (:func:`~invmeter.data.cifar.load_cifar10`), its stand-in, or ``None`` for black
            ("objects only"). Splits: its train/val/test images (each used at most once per split).
        objects: Object ids from ``object_source``; object k is class k of the object labels and goes with
            background class k when relevant.
        label: ``"background"`` (the background's class) or ``"object"`` (the pasted object's class).
        availability: β, the probability that an object is pasted at all.
        relevance: α, the probability that the pasted object is the background class's own object (else uniform).
        placement: ``"corner"``: the object's box (side ``OBJECT_SIDE`` of the image) at ``CORNER`` (top-left at
            (21, 2) px at 32 px, as the paper); ``"random"``: anywhere inside the image, uniformly.
        image_size: Side of the images in pixels (CIFAR images are resized when it is not 32).
        object_source: Where the objects come from (default: the procedural generator).

    Example:
        >>> from invmeter.data import build_split
        >>> objects_only = PastedObjects(None, objects=(0, 1), label="object", image_size=16)
        >>> part = build_split(objects_only, "test", 4, seed=0, cache=False)
        >>> part.images.shape, sorted(part.labels.tolist()), objects_only.class_names
        ((4, 3, 16, 16), [0, 0, 1, 1], ['object000', 'object001'])
    """

    backgrounds: Cifar10Folder | Cifar10StandIn | None
    objects: tuple[int, ...] = tuple(range(10))
    label: str = "background"
    availability: float = 1.0
    relevance: float = 0.0
    placement: str = "corner"
    image_size: int = 32
    object_source: Any = field(default_factory=ProceduralObjects)

    def __post_init__(self) -> None:
        if self.label not in LABELS:
            raise InvalidParameterError(
                f"The 'label' parameter must be one of {', '.join(LABELS)}. Got {self.label!r}."
            )
        if self.placement not in PLACEMENTS:
            raise InvalidParameterError(
                f"The 'placement' parameter must be one of {', '.join(PLACEMENTS)}. Got {self.placement!r}."
            )
        for name in ("availability", "relevance"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
                raise InvalidParameterError(f"The {name!r} parameter must be a probability in [0, 1]. Got {value!r}.")
            object.__setattr__(self, name, float(value))  # 1 and 1.0 give the same spec (and cache key)
        if len(self.objects) < 2 or len(set(self.objects)) != len(self.objects):
            raise InvalidParameterError(f"Give at least 2 distinct objects. Got {list(self.objects)}.")
        check_object_ids(self.objects, self.object_source)
        check_image_size(self.image_size)
        if self.label == "object" and self.availability != 1.0:
            raise InvalidParameterError("Object labels need an object in every image: availability must be 1. "
                                        f"Got {self.availability}.")
        if self.backgrounds is None and (self.label != "object" or self.relevance != 0.0):
            raise InvalidParameterError("Black backgrounds (objects only) have no class: use label='object' and "
                                        "relevance=0.")
        if self.relevance > 0 and len(self.objects) != len(self.backgrounds.class_names):
            raise InvalidParameterError(f"Relevance pairs object k with background class k: give "
                                        f"{len(self.backgrounds.class_names)} objects. Got {len(self.objects)}.")

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    @property
    def class_names(self) -> list[str]:
        if self.label == "object":
            return self.object_source.class_names(list(self.objects))
        return list(self.backgrounds.class_names)

    def describe(self) -> dict[str, Any]:
        return {
            "name": "pasted-objects",
            "backgrounds": self.backgrounds.describe() if self.backgrounds is not None else {"source": "black"},
            "objects": list(self.objects),
            "n_classes": self.n_classes,
            "label": self.label,
            "availability": self.availability,
            "relevance": self.relevance,
            "placement": self.placement,
            "image_size": self.image_size,
            "object_side": OBJECT_SIDE,
            "corner": list(CORNER),
            "object_source": self.object_source.describe(),
        }

    def split_plan(self, split: str, n: int, seed: int) -> SplitPlan:
        """``n`` samples of ``split``: distinct background images with balanced classes, then every draw (random
        object, relevance, availability, position) for every sample, whatever α and β, so datasets that differ
        only in α or β share their backgrounds and random objects."""
        g = torch.Generator().manual_seed(seed)
        size, side = self.image_size, max(2, round(OBJECT_SIDE * self.image_size))
        ids = background_labels = None
        if self.backgrounds is not None:
            pool = self.backgrounds.labels(split)
            if n > len(pool):
                raise DataError(f"The {split} split of {self.backgrounds.name} has {len(pool)} images; "
                                f"{n} were asked for. Ask for at most {len(pool)}.")
            ids = balanced_subset(pool, n, g)
            background_labels = pool[ids]
        k = len(self.objects)
        random_objects = (torch.arange(n) % k)[torch.randperm(n, generator=g)]
        relevant = torch.rand(n, generator=g) < self.relevance
        present = torch.rand(n, generator=g) < self.availability
        random_top, random_left = torch.randint(size - side + 1, (2, n), generator=g)
        if self.placement == "corner":
            top = torch.full((n,), round(CORNER[1] * size))
            left = torch.full((n,), round(CORNER[0] * size))
        else:
            top, left = random_top, random_left
        pasted = torch.where(relevant, background_labels, random_objects) if self.relevance > 0 else random_objects
        labels = pasted if self.label == "object" else background_labels
        prototypes = self.object_source.render(list(self.objects), side, 1.0)  # (K, 4, side, side)

        def render(part: slice) -> Tensor:
            if self.backgrounds is not None:
                rgb = self.backgrounds.render(split, ids[part], size)
            else:
                rgb = torch.zeros(len(range(n)[part]), 3, size, size)
            objects = prototypes[pasted[part]] * present[part].view(-1, 1, 1, 1)
            return _paste(rgb, objects, top[part], left[part])

        return SplitPlan(labels, render)
