"""Image tensor helpers shared by every part that takes images."""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["to_unit_float"]


def to_unit_float(images: Tensor) -> Tensor:
    """uint8 images (0-255) as float32 in [0, 1]; float images are returned unchanged."""
    return images.float().div_(255.0) if images.dtype == torch.uint8 else images
