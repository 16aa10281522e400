"""Transforms-2D (the paper's dataset): one foreground prototype per class, transformed at object level and
pasted on a background. Scenes are seeded, so the same scene can be rendered with and without a transform.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from invmeter._utils.validation import check_image_size
from invmeter.data._split import SplitPlan
from invmeter.data.backgrounds import ProceduralBackgrounds
from invmeter.data.prototypes import ProceduralObjects, check_object_ids
from invmeter.errors import InvalidParameterError
from invmeter.transforms import SampledTransforms, TransformSpec, apply_transforms

__all__ = ["INVARIANCE_REFERENCE", "Transforms2D", "Scenes", "Transforms2DPairs"]

INVARIANCE_REFERENCE = "the same scene with another object (same background and scene transforms)"


@dataclass(frozen=True)
class Scenes:
    """What is fixed about each sample: its class, its background and its dataset-transform parameters."""

    labels: Tensor  # (N,) int64 class indices into Transforms2D.objects
    backgrounds: Tensor  # (N,) int64 indices into the background bank
    transforms: SampledTransforms | None  # the dataset's own transforms, per sample

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: slice | Tensor) -> Scenes:
        t = self.transforms[index] if self.transforms is not None else None
        return Scenes(self.labels[index], self.backgrounds[index], t)


@dataclass(frozen=True)
class Transforms2D:
    """The dataset D(O, T): objects O (object ``objects[k]`` is class k) under transforms T, on backgrounds.

    Attributes:
        objects: Object ids from ``object_source``; their order defines the class indices.
        transforms: The dataset's transforms for every class (``None`` = untransformed prototypes), applied per
            sample with each family's dataset probability (flips: p = 0.5), in the spec's order. A default-range
            ``translation`` places the object uniformly anywhere inside the image given its size after the
            ``scale`` steps before it (the paper's placement); other ranges are taken as written.
        image_size: Side of the square images in pixels (the paper: 32).
        object_scale: Side of the object canvas as a fraction of the image side (the paper: 0.7).
        object_source: Where prototypes come from (default: the procedural generator).
        background_source: Where backgrounds come from (default: procedural textures).
        class_transforms: Per-class transforms instead of ``transforms`` (T1⊕T2): class k uses
            ``class_transforms[k]`` (``None`` = untransformed). See :func:`invmeter.data.design.direct_sum`.
    """

    objects: tuple[int, ...] = tuple(range(10))
    transforms: TransformSpec | None = None
    image_size: int = 32
    object_scale: float = 0.7
    object_source: Any = field(default_factory=ProceduralObjects)
    background_source: Any = field(default_factory=ProceduralBackgrounds)
    class_transforms: tuple[TransformSpec | None, ...] | None = None

    def __post_init__(self) -> None:
        if len(self.objects) < 2:
            raise InvalidParameterError(f"Transforms-2D needs at least 2 classes (objects); got {len(self.objects)}.")
        if len(set(self.objects)) != len(self.objects):
            raise InvalidParameterError("Transforms-2D objects must be distinct.")
        check_object_ids(self.objects, self.object_source)
        check_image_size(self.image_size)
        if not 0.05 <= self.object_scale <= 1.0:
            raise InvalidParameterError(f"object_scale must be in [0.05, 1]. Got {self.object_scale}.")
        if self.class_transforms is not None:
            if self.transforms is not None:
                raise InvalidParameterError(
                    "Give either 'transforms' (every class) or 'class_transforms' (one spec per class), not both."
                )
            if len(self.class_transforms) != len(self.objects):
                raise InvalidParameterError(
                    f"'class_transforms' needs one spec (or None) per class: {len(self.objects)}. "
                    f"Got {len(self.class_transforms)}."
                )

    @property
    def n_classes(self) -> int:
        return len(self.objects)

    @property
    def class_names(self) -> list[str]:
        return self.object_source.class_names(list(self.objects))

    def describe(self) -> dict[str, Any]:
        out = {
            "name": "transforms2d",
            "objects": list(self.objects),
            "n_classes": self.n_classes,
            "transforms": str(self.transforms) if self.transforms is not None else None,
            "image_size": self.image_size,
            "object_scale": self.object_scale,
            "object_source": self.object_source.describe(),
            "background_source": self.background_source.describe(),
        }
        if self.class_transforms is not None:
            out["class_transforms"] = [str(t) if t is not None else None for t in self.class_transforms]
        return out

    def prototypes(self) -> Tensor:
        """Premultiplied RGBA canvases ``(K, 4, S, S)``, one per class."""
        return self.object_source.render(list(self.objects), self.image_size, self.object_scale)

    def transform_groups(self) -> list[tuple[TransformSpec, Tensor]]:
        """Each distinct transform spec with the classes using it, as a ``(K,)`` bool mask, in class order."""
        if self.class_transforms is None:
            return [] if self.transforms is None else [(self.transforms, torch.ones(self.n_classes, dtype=torch.bool))]
        groups: dict[TransformSpec, list[int]] = {}
        for k, spec in enumerate(self.class_transforms):
            if spec is not None:
                groups.setdefault(spec, []).append(k)
        masks = []
        for spec, classes in groups.items():
            mask = torch.zeros(self.n_classes, dtype=torch.bool)
            mask[classes] = True
            masks.append((spec, mask))
        return masks

    def sample_scenes(self, n: int, generator: torch.Generator, balanced: bool = False) -> Scenes:
        """Draw ``n`` scenes: classes (uniform, or exactly balanced), backgrounds and dataset transforms."""
        if balanced:
            labels = torch.arange(n) % self.n_classes
            labels = labels[torch.randperm(n, generator=generator)]
        else:
            labels = torch.randint(self.n_classes, (n,), generator=generator)
        backgrounds = torch.randint(self.background_source.count, (n,), generator=generator)
        return Scenes(labels, backgrounds, self._sample_transforms(labels, generator))

    def sample_twin_scenes(self, n: int, generator: torch.Generator) -> tuple[Scenes, Tensor]:
        """Draw ``n`` scenes (exactly balanced classes) in twins: scenes ``2k`` and ``2k + 1`` share their background
        and dataset-transform draws but show different objects. Returns the scenes and each scene's reference, its
        twin's index (``i ^ 1``; for odd ``n`` the last scene joins the twin before it, referring to ``n - 2``): the
        same scene with another object, against which invariance measures how far a transform moves a representation.
        """
        if n < 2:
            raise InvalidParameterError(f"Twin scenes need at least 2 scenes; got {n}.")
        reference = torch.arange(n) ^ 1
        if n % 2:
            reference[-1] = n - 2
        labels = _twin_labels(n, self.n_classes, generator)
        slots = (torch.arange(n) // 2).clamp_max(n // 2 - 1)
        backgrounds = torch.randint(self.background_source.count, (n // 2,), generator=generator)[slots]
        return Scenes(labels, backgrounds, self._sample_transforms(labels, generator, slots)), reference

    def redraw(self, scenes: Scenes, generator: torch.Generator) -> Scenes:
        """The same scenes (classes, objects, backgrounds) with the dataset's transform parameters drawn again from
        ``generator``: what the paper's on-the-fly generation gives a scene in another epoch (paper.md §1.4)."""
        return Scenes(scenes.labels, scenes.backgrounds, self._sample_transforms(scenes.labels, generator))

    def _sample_transforms(self, labels: Tensor, generator: torch.Generator, slots: Tensor | None = None
                           ) -> SampledTransforms | None:
        """Per-sample parameters of every class group's spec, concatenated into one spec; a sample's parameters
        are the identity (skipped when applied) in the steps of the groups it does not belong to. With ``slots``
        (N,), samples of the same slot share their draws."""
        n = len(labels)
        steps, params = [], []
        for spec, classes in self.transform_groups():
            sampled = spec.for_dataset().sample(n if slots is None else int(slots.max()) + 1, generator)
            member = classes[labels].unsqueeze(1)
            for step, p in zip(sampled.spec.steps, _place_objects(sampled, self.object_scale)):
                steps.append(step)
                params.append(torch.where(member, p if slots is None else p[slots], step.info.identity_params(n)))
        return SampledTransforms(TransformSpec(tuple(steps)), tuple(params)) if steps else None

    def split_plan(self, split: str, n: int, seed: int) -> SplitPlan:
        """``n`` scenes with exactly balanced classes drawn from ``seed`` (the same for every split name), each
        background rendered once."""
        scenes = self.sample_scenes(n, torch.Generator().manual_seed(seed), balanced=True)
        prototypes = self.prototypes()
        bank_ids, position = torch.unique(scenes.backgrounds, return_inverse=True)
        bank = self.background_source.render(bank_ids, self.image_size)
        return SplitPlan(scenes.labels,
                         lambda part: self.render(scenes[part], prototypes, backgrounds=bank[position[part]]))

    def render(
        self, scenes: Scenes, prototypes: Tensor, probe: SampledTransforms | None = None, backgrounds: Tensor | None = None
    ) -> Tensor:
        """Render scenes as RGB images ``(N, 3, S, S)`` in [0, 1]; ``probe`` transforms are applied to the object
        after the dataset's own transforms (a controlled pair differs only by ``probe``). ``backgrounds``: the
        scenes' backgrounds ``(N, 3, S, S)`` if already rendered (else rendered from the source)."""
        obj = prototypes[scenes.labels]
        if scenes.transforms is not None:
            obj = apply_transforms(obj, scenes.transforms)
        if probe is not None:
            obj = apply_transforms(obj, probe)
        if backgrounds is None:
            backgrounds = self.background_source.render(scenes.backgrounds, self.image_size)
        return torch.addcmul(obj[:, :3], backgrounds, 1.0 - obj[:, 3:4])  # premultiplied "over"


def _twin_labels(n: int, n_classes: int, generator: torch.Generator) -> Tensor:
    """Exactly balanced random labels in which twins ``(2k, 2k + 1)`` show different classes, and so do scenes
    ``n - 1`` and ``n - 2`` for odd ``n``. The balanced labels in random order, paired up; a twin of one class c
    swaps its second scene with that of a random twin holding no c (there always is one, since no class holds more
    than half of the scenes)."""
    balanced = torch.arange(n) % n_classes
    waiting = None
    if n % 2:  # one scene of a largest class waits; the others pair up
        waiting = int(torch.randint(n % n_classes or n_classes, (1,), generator=generator))
        balanced = torch.cat([balanced[:waiting], balanced[waiting + 1:]])
    twins = balanced[torch.randperm(len(balanced), generator=generator)].view(-1, 2).tolist()
    candidates = _random_indices(len(twins), generator)
    for twin in twins:
        c = twin[0]
        while twin[1] == c:
            other = twins[next(candidates)]
            if c not in other:
                twin[1], other[1] = other[1], twin[1]
    labels = torch.tensor(twins, dtype=torch.int64)
    if waiting is None:
        return labels.flatten()
    if labels[-1, 1] == waiting:  # the waiting scene joins the last twin: its second scene must differ
        labels[-1] = labels[-1].flip(0)
    return torch.cat([labels.flatten(), torch.tensor([waiting])])


def _random_indices(n: int, generator: torch.Generator) -> Iterator[int]:
    """An endless stream of seeded random indices in ``[0, n)``."""
    while True:
        yield from torch.randint(n, (max(64, n),), generator=generator).tolist()


def _place_objects(sampled: SampledTransforms, object_scale: float) -> list[Tensor]:
    """Parameters with default-range translations rescaled to the paper's placement: the object (side
    ``object_scale`` x the scale factors before it, in image fractions) lands uniformly anywhere inside the image."""
    side = torch.full((len(sampled),), object_scale, dtype=torch.float64)
    out = []
    for step, p in zip(sampled.spec.steps, sampled.params):
        if step.family == "scale":
            side = side * p[:, 0]
        elif step.family == "translation" and step.magnitude is None:
            default_half_range = step.info.ranges(None, {})[0][1]
            p = p / default_half_range * ((1.0 - side) / 2).clamp_min(0.0).unsqueeze(1)
        out.append(p)
    return out


class Transforms2DPairs:
    """Controlled pairs on Transforms-2D: scene i rendered without and with the probed transform.

    Classes are exactly balanced and scenes come in twins that differ only in their object (``reference``): the
    yardstick of ``invariance``. Every random choice comes from ``seed``. A :class:`TransformSpec` acts on the
    object before it is pasted (the paper's controlled pair); a callable transform acts on the whole scene.
    """

    io_bound = False

    def __init__(self, dataset: Transforms2D, transform: Any, n: int, seed: int = 0) -> None:
        if n < 2 * dataset.n_classes:
            raise InvalidParameterError(
                f"Need at least 2 images per class for a train/test split; got {n} images for "
                f"{dataset.n_classes} classes. Increase the number of images."
            )
        self.dataset = dataset
        self.transform = transform
        generator = torch.Generator().manual_seed(seed)
        self.scenes, self.reference = dataset.sample_twin_scenes(n, generator)
        self.probe = transform.sample(n, generator)
        self.labels = self.scenes.labels
        self.class_names = dataset.class_names
        self._prototypes = dataset.prototypes()

    def __len__(self) -> int:
        return len(self.labels)

    def batches(self, batch_size: int) -> list[tuple[slice, Tensor]]:
        """Batch slices that keep twins together (an even size; a last batch of one image joins the one before),
        each with its images' references as indices into the batch."""
        n, size = len(self), batch_size + batch_size % 2
        starts = list(range(0, n, size))
        if len(starts) > 1 and n - starts[-1] == 1:
            starts.pop()
        out = []
        for start, stop in zip(starts, [*starts[1:], n]):
            local = self.reference[start:stop] - start
            if local.numel() and (int(local.min()) < 0 or int(local.max()) >= stop - start):
                raise InvalidParameterError("A pair source's reference images must be twins of the same batch.")
            out.append((slice(start, stop), local))
        return out

    def describe(self) -> dict[str, Any]:
        return {**self.dataset.describe(), "n_images": len(self), "level": self.transform.level,
                "invariance_reference": INVARIANCE_REFERENCE}

    def render(self, index: slice) -> tuple[Tensor, Tensor]:
        """Clean and transformed RGB views ``(B, 3, S, S)`` for images ``index``."""
        scenes = self.scenes[index]
        bank, position = torch.unique(scenes.backgrounds, return_inverse=True)  # twins share theirs: render once
        backgrounds = self.dataset.background_source.render(bank, self.dataset.image_size)[position]
        clean = self.dataset.render(scenes, self._prototypes, backgrounds=backgrounds)
        if self.transform.level == "image":
            return clean, self.transform.apply(clean, self.probe[index])
        transformed = self.dataset.render(scenes, self._prototypes, self.probe[index], backgrounds=backgrounds)
        return clean, transformed
