"""Any callable as the probed transform (a torchvision ``transforms.v2`` object, a lambda), seeded per image."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from invmeter.errors import InvalidParameterError

__all__ = ["CallableTransform", "CallableDraws"]


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
    varies = True  # each image's call gets a seed of its own: two draws may differ
    level = "image"

    def __str__(self) -> str:
        return self.name

    def sample(self, n: int, generator: torch.Generator) -> CallableDraws:
        return CallableDraws(torch.randint(0, 2**62, (n,), generator=generator, dtype=torch.int64))

    def apply(self, images: Tensor, draws: CallableDraws) -> Tensor:
        """Apply ``fn`` to each image of ``images`` ``(N, 3, H, W)`` under its own seed; returns a new tensor."""
        out = []
        for image, seed in zip(images, draws.seeds.tolist()):
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                result = self.fn(image.clone())
            if not isinstance(result, Tensor) or result.shape != image.shape:
                got = tuple(result.shape) if isinstance(result, Tensor) else type(result).__name__
                raise InvalidParameterError(
                    f"The transform {self.name!r} must return a tensor of the image's shape {tuple(image.shape)}; got "
                    f"{got}. A controlled pair keeps the model's input size: resize inside the transform if needed.")
            out.append(result.to(images.dtype))
        return torch.stack(out) if out else images.clone()

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
