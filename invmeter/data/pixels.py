"""One reader for images already in memory: what a ``Dataset`` returns (a PIL image of any mode, a tensor, a numpy
array) and the images of a tensor become what the folder reader makes of a file (:mod:`invmeter.data._files`), so
the same pixels give the same numbers whatever the container.

- **PIL images** go through :func:`~invmeter.data._files.to_rgb`, as files do: EXIF orientation applied, 16-bit
  samples as their high byte, float (``F``) samples in [0, 1], alpha flattened over white.
- **Tensors** are ``(C, H, W)`` (or ``(H, W)``); **numpy arrays** ``(H, W, C)`` as ``np.asarray(pil_image)`` gives
  (or ``(H, W)``; ``(C, H, W)`` when only the first axis can be channels). C is 1 (gray), 2 (gray, alpha), 3 (RGB)
  or 4 (RGBA). Samples: ``uint8`` (0-255), ``uint16`` (0-65535, its high byte, as a 16-bit file), ``bool`` (0 or
  1) or float in [0, 1] (not normalised); other integer types, NaN, values out of range and meta tensors (no data)
  are a one-line :class:`~invmeter.errors.DataError` naming the image.
- **8-bit pixels take the folder's path**: an image whose samples are 8-bit levels (``uint8``, ``uint16`` mapped
  down, a float image whose every value is within 1e-4 of some ``k / 255``, as ``ToTensor`` makes) becomes an 8-bit
  PIL image like a decoded file, so the model's own resize and crop run on it as on the file (PIL's antialiased
  resize, not the tensor one). Other float images stay float tensors ``(3, H, W)`` in [0, 1] (alpha flattened over
  white, ``c a + (1 - a)``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from PIL import Image, ImageOps
from torch import Tensor

from invmeter._utils.images import checked_pixels
from invmeter.data._files import to_rgb
from invmeter.errors import DataError

__all__ = ["GRID_TOLERANCE", "as_image", "check_pixels"]

GRID_TOLERANCE = 1e-4  # a float sample within this of k / 255 (in units of 255 levels: 1e-4 / 255) is 8-bit
_MODES = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}


def as_image(item: Any, name: str) -> Image.Image | Tensor:
    """One image as the folder reader gives it: an 8-bit ``RGB`` PIL image, or a float ``(3, H, W)`` tensor in
    [0, 1] when its samples are finer than 8 bits. ``name`` says which image in an error (``item 3 of the dataset``)."""
    if isinstance(item, Image.Image):
        orientation = item.getexif().get(0x0112) if "exif" in item.info else None
        return to_rgb(ImageOps.exif_transpose(item) if orientation not in (None, 1) else item, f"({name})")
    if isinstance(item, np.ndarray):
        item = _channels_first(item, name)
    if not isinstance(item, Tensor):
        raise DataError(f"{name[:1].upper()}{name[1:]} is a {type(item).__name__}; expected a PIL image, a (C, H, W) "
                        "tensor or an (H, W, C) numpy array.")
    x = check_pixels(item.unsqueeze(0) if item.dim() == 2 else item, name, batch=False)
    if x.dtype == torch.uint8:
        return _pil(x, name)
    levels = x * 255.0
    rounded = levels.round()
    if bool(((levels - rounded).abs() <= GRID_TOLERANCE).all()):  # 8-bit content stored as floats
        return _pil(rounded.clamp(0, 255).to(torch.uint8), name)
    x = x.clamp(0.0, 1.0)
    if x.shape[0] in (2, 4):  # flatten over white, as files: c a + 1 (1 - a)
        x, alpha = x[:-1], x[-1:]
        x = x * alpha + (1.0 - alpha)
    return x.expand(3, -1, -1).clone()


def check_pixels(images: Tensor, name: str, *, batch: bool = True) -> Tensor:
    """``images`` ``(N, C, H, W)`` (``batch``) or ``(C, H, W)`` with C in 1..4 on the CPU as uint8 (8-bit or 16-bit
    mapped to its high byte) or float32 in [0, 1] (bool as 0/1); any other dtype, NaN or Inf, values outside [0, 1],
    a meta tensor or another layout is a one-line DataError naming ``name`` (all images checked at once)."""
    what = f"{name[:1].upper()}{name[1:]}"
    dims = 4 if batch else 3
    layout = "(N, C, H, W)" if batch else "(C, H, W)"
    if images.dim() != dims or images.shape[-3] not in _MODES or 0 in images.shape:
        raise DataError(f"{what} has shape {tuple(images.shape)}; images must be {layout} with C = 1 (gray), 2 (gray "
                        "and alpha), 3 (RGB) or 4 (RGBA), and at least one pixel.")
    return checked_pixels(images.detach(), name).cpu()


def _channels_first(array: np.ndarray, name: str) -> Tensor:
    """A numpy image as a ``(C, H, W)`` tensor: ``(H, W)``, ``(H, W, C)``, or ``(C, H, W)`` when only the first axis
    can be channels; ``uint16`` (which torch barely supports) mapped to its 8-bit high byte here."""
    if array.dtype == np.uint16:
        array = (array >> 8).astype(np.uint8)
    if array.dtype != np.uint8 and array.dtype.kind not in "bf":
        raise DataError(f"{name[:1].upper()}{name[1:]} is a numpy array of {array.dtype}; images must be uint8 "
                        "(0-255), uint16 (0-65535) or float in [0, 1]: convert it (e.g. a.astype(np.uint8)).")
    x = torch.from_numpy(np.array(array))  # a copy: arrays from PIL are read-only
    if x.dim() == 3 and x.shape[-1] in _MODES:
        return x.permute(2, 0, 1)
    return x


def _pil(levels: Tensor, name: str) -> Image.Image:
    """``(C, H, W)`` uint8 levels as a PIL image of the matching mode, then the folder reader's conversion."""
    array = levels.permute(1, 2, 0).numpy()
    mode = _MODES[levels.shape[0]]
    return to_rgb(Image.fromarray(array[..., 0] if mode == "L" else np.ascontiguousarray(array), mode), f"({name})")
