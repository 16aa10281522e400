"""Any callable as the probed transform (a torchvision ``transforms.v2`` object, a lambda), seeded per image."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from invmeter.errors import InvalidParameterError

__all__ = ["OVERSHOOT", "CallableDraws", "CallableTransform"]

OVERSHOOT = 0.05  # a callable's output may leave [0, 1] by this much (cubic interpolation), then is clipped


@dataclass(frozen=True)
class CallableDraws:
    """Per-image seeds ``(N,)`` int64: image i's call runs under ``torch.manual_seed(seeds[i])``."""

    seeds: Tensor

    def __len__(self) -> int:
        return len(self.seeds)

    def __getitem__(self, index: slice | Tensor) -> CallableDraws:
        return CallableDraws(self.seeds[index])


@dataclass(frozen=True)
class CallableTransform:
    """A user's transform: ``fn`` maps a ``(3, H, W)`` float image in [0, 1] to one of the same shape.

    It is called once per image under a seed drawn from the measurement's seed (global RNG forked and restored),
    so a random transform (``transforms.v2.RandomRotation``) draws the same parameters for the same seed and image,
    whatever the batching. It acts on whole images (on Transforms-2D: the composited scene, not only the object).
    """

    fn: Callable[[Tensor], Any]
    name: str

    @classmethod
    def wrap(cls, fn: Callable[[Tensor], Any], name: str | None = None) -> CallableTransform:
        if not callable(fn):
            raise InvalidParameterError(f"The 'transform' parameter must be a spec such as 'rotation', a TransformSpec "
                                        f"or a callable on (3, H, W) tensors. Got {type(fn).__name__}.")
        return cls(fn, name or _describe(fn))

    fixed = False
    level = "image"

    def __str__(self) -> str:
        return self.name

    def sample(self, n: int, generator: torch.Generator) -> CallableDraws:
        return CallableDraws(torch.randint(0, 2**62, (n,), generator=generator, dtype=torch.int64))

    def apply(self, images: Tensor, draws: CallableDraws) -> Tensor:
        """Apply ``fn`` to each image of ``images`` ``(N, 3, H, W)`` under its own seed; returns a new tensor.

        Each output is checked as a built-in transform's would be, before any metric is computed: a float tensor of
        the image's shape, on its device, finite, in [0, 1] (an overshoot of at most ``OVERSHOOT``, e.g. from cubic
        interpolation, is clipped). Anything else, or an exception in ``fn``, is a one-line error naming the
        transform and what it returned.
        """
        out = []
        for image, seed in zip(images, draws.seeds.tolist()):
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                try:
                    result = self.fn(image.clone())
                except Exception as exc:  # noqa: BLE001 - the user's callable failed: say which and why, in one line
                    first = (str(exc).strip().splitlines() or [""])[0][:200]
                    raise InvalidParameterError(
                        f"The transform {self.name!r} raised {exc.__class__.__name__}: {first} (called on a float "
                        f"image {tuple(image.shape)} in [0, 1], as every callable transform is).") from None
            out.append(self._checked(result, image))
        return torch.stack(out) if out else images.clone()

    def _checked(self, result: Any, image: Tensor) -> Tensor:
        """``result`` as float pixels in [0, 1] like ``image``, or a one-line error saying what it is instead."""
        fix = "a callable transform maps a float image in [0, 1] to one of the same shape, dtype and device"
        if not isinstance(result, Tensor) or result.shape != image.shape:
            got = f"a tensor of shape {tuple(result.shape)}" if isinstance(result, Tensor) else type(result).__name__
            raise InvalidParameterError(
                f"The transform {self.name!r} must return a tensor of the image's shape {tuple(image.shape)}; got "
                f"{got}. A controlled pair keeps the model's input size: resize inside the transform if needed.")
        if not result.dtype.is_floating_point:
            raise InvalidParameterError(
                f"The transform {self.name!r} returned a {str(result.dtype).removeprefix('torch.')} tensor for a float "
                f"image in [0, 1]; {fix} (convert back with v2.ToDtype(torch.float32, scale=True)).")
        if result.device != image.device:
            raise InvalidParameterError(f"The transform {self.name!r} returned a tensor on {result.device} for an "
                                        f"image on {image.device}; {fix}.")
        if not bool(torch.isfinite(result).all()):
            raise InvalidParameterError(f"The transform {self.name!r} returned NaN or infinite values; {fix}.")
        lo, hi = float(result.min()), float(result.max())
        if lo < -OVERSHOOT or hi > 1 + OVERSHOOT:
            raise InvalidParameterError(
                f"The transform {self.name!r} returned values in [{lo:.3g}, {hi:.3g}] for an image in [0, 1]; {fix}. "
                "A Normalize inside it normalises twice (invmeter applies the model's normalisation after the "
                "transform): remove it.")
        return result.to(image.dtype).clamp(0.0, 1.0)

    def to_dict(self) -> dict[str, Any]:
        return {"spec": self.name, "callable": repr(self.fn)[:300], "level": "image",
                "seeding": "torch.manual_seed(per-image seed drawn from the measurement seed) around each call"}


def _describe(fn: Callable[[Tensor], Any]) -> str:
    """A readable name: the object's own repr when it has one (``RandomHorizontalFlip(p=1.0)``), else its name."""
    if type(fn).__repr__ is not object.__repr__ and not hasattr(fn, "__code__"):
        text = " ".join(repr(fn).split())
        if len(text) <= 120:
            return text
    return getattr(fn, "__name__", None) or type(fn).__name__
