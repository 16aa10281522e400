"""Image tensor helpers shared by every part that takes images: one check of what pixels may hold."""

from __future__ import annotations

import torch
from torch import Tensor

from invmeter.errors import DataError

__all__ = ["RANGE_TOLERANCE", "checked_pixels", "to_unit_float"]

RANGE_TOLERANCE = 1e-3  # float pixels may stray this far outside [0, 1] (rounding); they are clamped later


def to_unit_float(images: Tensor) -> Tensor:
    """uint8 images (0-255) as float32 in [0, 1]; float images are returned unchanged."""
    return images.float().div_(255.0) if images.dtype == torch.uint8 else images


def checked_pixels(images: Tensor, what: str) -> Tensor:
    """``images`` as ``uint8`` (0-255 levels) or ``float32`` in [0, 1], on their own device: ``bool`` as 0/1,
    ``uint16`` as its high byte (as a 16-bit file is read), other floats converted. Any other dtype, a meta tensor,
    NaN or Inf and values outside [0, 1] are a one-line DataError naming ``what`` (e.g. ``'images'``)."""
    what = f"{what[:1].upper()}{what[1:]}"
    if images.device.type == "meta":
        raise DataError(f"{what} is on the meta device: it has a shape but no pixels. Give images with data.")
    dtype = images.dtype
    if dtype == torch.uint8:
        return images
    if dtype == torch.bool:
        return images.to(torch.float32)
    if str(dtype) == "torch.uint16":  # torch >= 2.3: 16-bit samples, as a 16-bit file
        return (images.to(torch.int32) >> 8).to(torch.uint8)
    if not dtype.is_floating_point:
        raise DataError(f"{what} holds {str(dtype).removeprefix('torch.')} values; images must be uint8 (0-255), "
                        "uint16 (0-65535) or float in [0, 1]: convert them (e.g. x.to(torch.uint8) for 0-255 levels).")
    images = images.to(torch.float32)
    if not bool(torch.isfinite(images).all()):
        raise DataError(f"{what} has NaN or infinite values; images must be finite, in [0, 1].")
    lo, hi = float(images.min()), float(images.max())
    if lo < -RANGE_TOLERANCE or hi > 1 + RANGE_TOLERANCE:
        hint = (" They look like 0-255 levels: divide by 255 or give uint8." if hi > 1.5 and lo >= 0 else
                " Remove Normalize from the dataset's transform: invmeter applies the model's normalisation after "
                "the transform.")
        raise DataError(f"{what} has values in [{lo:.3g}, {hi:.3g}]; images must be in [0, 1] and not normalised."
                        + hint)
    return images
