"""Invariance tracked while a model trains (``invmeter train --track rotation,hflip``): after every epoch, the
model's ``invariance`` and ``l2_ratio`` to each tracked transform on a fixed held-out set of controlled pairs.

The held-out set is rendered once, before the first epoch, from ``seed + 330`` (the splits use ``seed`` + 0 / 110 /
220), and reused every epoch, so the curves move only because the model does:

``track_images`` is capped at the run's images (``n_train + n_val + n_test``), with a warning.

- Transforms-2D: ``track_images`` fresh scenes of the training objects on untransformed prototypes, each tracked
  transform applied to the object, the reference being the same scene with another object: exactly the pairs
  ``invmeter score --model DIR/model.safetensors -t T --n-images K --seed S`` measures (same numbers).
- other datasets (pasted objects): the validation split's first ``track_images`` images, the transform applied to
  the whole image, each image's reference a seeded random other image (fixed across epochs).

The model is measured in eval mode under ``torch.inference_mode()`` (channels-last for convolutional models, as
``invmeter score`` runs them) and handed back untouched (:func:`invmeter.models.guard.borrowed`), in float32, so
tracking never changes the training (tested).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor, nn

from invmeter._utils.images import to_unit_float
from invmeter.data.build import BuiltSplit
from invmeter.data.transforms2d import INVARIANCE_REFERENCE, Transforms2D, Transforms2DPairs
from invmeter.errors import InvalidParameterError, warn
from invmeter.metrics import functional
from invmeter.models.checkpoint import checkpoint_handle
from invmeter.models.cifar import CIFAR_MEAN, CIFAR_STD
from invmeter.models.guard import borrowed
from invmeter.models.handle import ModelHandle
from invmeter.models.modules import head_readout
from invmeter.models.preprocessing import normalize
from invmeter.models.representation import read_representation
from invmeter.transforms import apply_transforms, parse_transform, parse_transform_list

if TYPE_CHECKING:
    from invmeter.training.loop import TrainConfig

__all__ = ["TRACK_SEED_OFFSET", "Tracker", "log_text", "parse_track"]

TRACK_SEED_OFFSET = 330  # the held-out pairs' seed: config.seed + 330 (splits: + 0 / 110 / 220)
RANDOM_REFERENCE = "a seeded random other image of the held-out set (the same one every epoch)"


def parse_track(value: str | Sequence[str] | None) -> tuple[str, ...]:
    """``"rotation,hflip"`` or ``["rotation", "hflip"]`` -> canonical specs; ``None``/``"none"``/``()`` -> ``()``;
    an empty string is refused (``--track ''`` tracked nothing without a word).

    The one grammar for transform lists (:func:`invmeter.transforms.parse_transform_list`): ``,`` separates specs
    and ``key=value`` items continue a spec's options, so ``color_jitter:hue=0.1,saturation=0.2`` is one.
    """
    if isinstance(value, str) and not value.strip():
        raise InvalidParameterError("The 'track' parameter is empty; give transforms such as rotation,hflip, or 'none' "
                                    "(or leave it out) to track nothing.")
    if value is None or (value.strip() == "none" if isinstance(value, str) else not value):
        return ()
    out = tuple(str(spec) for spec in parse_transform_list(value if isinstance(value, str) else [str(v) for v in value]))
    if len(set(out)) != len(out):
        raise InvalidParameterError(f"A transform is tracked twice in {value!r}; list each once.")
    return out


@dataclass(frozen=True)
class Tracker:
    """The fixed held-out pairs of every tracked transform, and how to score a model on them.

    Attributes:
        clean: ``(K, 3, S, S)`` clean views in [0, 1] (shared by every transform).
        transformed: ``{spec: (K, 3, S, S)}`` transformed views.
        labels: ``(K,)`` classes, for ``l2_ratio``.
        reference: ``(K,)`` each image's reference (its twin scene), or ``None`` for a seeded random other image.
        handle: Where the representation is read and the normalisation (the checkpoint's own).
        seed: The held-out set's seed.
    """

    clean: Tensor
    transformed: dict[str, Tensor]
    labels: Tensor
    reference: Tensor | None
    handle: ModelHandle
    seed: int

    @classmethod
    def build(cls, config: TrainConfig, val: BuiltSplit) -> Tracker:
        """Render the held-out pairs of ``config.track`` (see the module); the model will be read and normalised
        as its checkpoint will be (``invmeter score``)."""
        seed, n, specs = config.seed + TRACK_SEED_OFFSET, config.track_images, config.track
        run_images = config.n_train + config.n_val + config.n_test
        if n > run_images:  # 100000 pairs for a 32-image run took 530 s per epoch
            warn(f"track_images={n} is more than the run's {run_images} images (n_train + n_val + n_test): tracking "
                 f"{run_images} pairs (each costs 1 + one per tracked transform forward passes every epoch).")
            n = run_images
        meta = {"arch": config.arch, "num_classes": config.data.n_classes, "mean": list(CIFAR_MEAN),
                "std": list(CIFAR_STD), "input_size": [config.data.image_size] * 2}
        handle = checkpoint_handle(nn.Identity(), meta, name=config.arch, weights="in training")  # model set later
        if isinstance(config.data, Transforms2D):
            scenes = replace(config.data, transforms=None, class_transforms=None)
            views = {}
            for spec in specs:
                pairs = Transforms2DPairs(scenes, parse_transform(spec), n, seed=seed)
                views[spec] = pairs.render(slice(0, n))
            clean = views[specs[0]][0]
            assert all(torch.equal(v[0], clean) for v in views.values())  # the same scenes: draws come after them
            return cls(clean, {s: v[1] for s, v in views.items()}, pairs.labels.clone(), pairs.reference.clone(),
                       handle, seed)
        k = min(n, len(val.labels))
        if k < n:
            warn(f"Tracking uses the validation split's {k} images: track_images={n} asks for more than it has "
                 f"(n_val={k}); raise n_val to track more.")
        clean = to_unit_float(torch.from_numpy(np.array(val.images[:k])))
        transformed = {spec: apply_transforms(clean, parse_transform(spec).sample(k, torch.Generator().manual_seed(seed)))
                       for spec in specs}
        return cls(clean, transformed, torch.from_numpy(np.array(val.labels[:k])).long(), None, handle, seed)

    def describe(self) -> dict[str, Any]:
        """For the run's JSON: what was tracked and how."""
        return {"transforms": list(self.transformed), "n_images": len(self.labels), "seed": self.seed,
                "reference": INVARIANCE_REFERENCE if self.reference is not None else RANDOM_REFERENCE,
                "metrics": ["invariance", "l2_ratio"]}

    def measure(self, model: nn.Module, device: torch.device, batch_size: int = 256) -> dict[str, float]:
        """``{"invariance/<spec>", "l2_ratio/<spec>", ..., "track_seconds"}`` of ``model`` (untouched) now."""
        t0 = time.perf_counter()
        readout = self.handle.readout if self.handle.readout.kind == "pre_logits" else head_readout(model)
        handle = replace(self.handle, model=model, readout=readout)  # read where the checkpoint will be read
        out: dict[str, float] = {}
        fmt = torch.channels_last if any(isinstance(m, nn.Conv2d) for m in model.modules()) else torch.contiguous_format
        with borrowed(model, device, channels_last=fmt == torch.channels_last), torch.inference_mode():
            z = self._representations(handle, self.clean, device, batch_size, fmt)
            z_ref = z[self.reference] if self.reference is not None else None
            for spec, views in self.transformed.items():
                z_t = self._representations(handle, views, device, batch_size, fmt)
                out[f"invariance/{spec}"] = functional.invariance(z, z_t, z_ref,
                                                                  generator=np.random.default_rng([self.seed, 2]))
                out[f"l2_ratio/{spec}"] = functional.l2_ratio(z_t, self.labels)
        out["track_seconds"] = time.perf_counter() - t0
        return out

    @staticmethod
    def _representations(handle: ModelHandle, images: Tensor, device: torch.device, batch_size: int,
                         memory_format: torch.memory_format) -> Tensor:
        """Representations of normalised ``images``, in batches, in the format ``invmeter score`` runs them
        (channels-last for convolutional models: faster on CPU too, benchmarks/RESULTS.md)."""
        parts = []
        for start in range(0, len(images), batch_size):
            x = normalize(images[start : start + batch_size].to(device), handle.mean, handle.std)
            parts.append(read_representation(handle, x.contiguous(memory_format=memory_format))[0].float().cpu())
        return torch.cat(parts)


def log_text(row: dict[str, float], specs: Sequence[str]) -> str:
    """The epoch log line's part: ``"rotation inv 0.853 l2 6.81"`` per tracked transform."""
    return ", ".join(f"{s} inv {row[f'invariance/{s}']:.3f} l2 {row[f'l2_ratio/{s}']:.2f}" for s in specs)
