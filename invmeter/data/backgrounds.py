"""Backgrounds for Transforms-2D: seeded procedural textures (default) rendered in batches at any size."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["ProceduralBackgrounds"]


@dataclass(frozen=True)
class ProceduralBackgrounds:
    """A bank of ``count`` seeded textures: background ``b`` is always the same image at a given size.

    Each texture blends two random colours through a smooth random field, plus finer luminance detail,
    so backgrounds vary in colour and structure like natural scenes without any download.
    """

    seed: int = 0
    count: int = 867  # the paper's number of SI-score backgrounds

    @property
    def name(self) -> str:
        return f"procedural(seed={self.seed}, count={self.count})"

    def describe(self) -> dict[str, object]:
        return {"source": "procedural", "seed": self.seed, "count": self.count}

    def _params(self) -> dict[str, Tensor]:
        g = torch.Generator().manual_seed(10_007 + self.seed)
        n = self.count
        return {
            "c1": torch.rand(n, 3, 1, 1, generator=g),
            "c2": torch.rand(n, 3, 1, 1, generator=g),
            "mix": torch.rand(n, 1, 4, 4, generator=g),
            "detail": torch.rand(n, 1, 12, 12, generator=g) - 0.5,
            "amp": 0.1 + 0.25 * torch.rand(n, 1, 1, 1, generator=g),
        }

    def render(self, ids: Tensor, image_size: int) -> Tensor:
        """RGB backgrounds ``(len(ids), 3, S, S)`` in [0, 1] for bank indices ``ids``."""
        p = {k: v[ids] for k, v in self._params().items()}
        size = (image_size, image_size)
        mix = F.interpolate(p["mix"], size=size, mode="bicubic", align_corners=False).clamp(0, 1)
        detail = F.interpolate(p["detail"], size=size, mode="bilinear", align_corners=False)
        rgb = p["c1"] * mix + p["c2"] * (1 - mix) + p["amp"] * detail
        return rgb.clamp(0.0, 1.0)
