"""A preview grid of Transforms-2D samples: one row per transform, the same scenes in every row."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from invmeter._utils.validation import check_positive_int
from invmeter.data.transforms2d import Transforms2D
from invmeter.errors import InvalidParameterError
from invmeter.transforms import TransformSpec

__all__ = ["check_preview_size", "make_preview", "preview_size"]

_GAP = 2  # pixels between cells
_LABEL_WIDTH = 110  # pixels for the row labels


def preview_size(rows: int, n: int, image_size: int, zoom: int) -> tuple[int, int]:
    """``(width, height)`` in pixels of a grid of ``rows`` rows of ``n`` samples of ``image_size`` pixels drawn at
    ``zoom``."""
    cell = image_size * zoom
    return _LABEL_WIDTH + n * (cell + _GAP) + _GAP, rows * (cell + _GAP) + _GAP


def check_preview_size(rows: int, n: int, image_size: int, zoom: int) -> None:
    """Refuse (before rendering) a grid larger than Pillow's decompression-bomb limit, ``Image.MAX_IMAGE_PIXELS``
    (about 89 megapixels): the file could not be opened again, and the canvas alone would take ``3 w h`` bytes."""
    check_positive_int("n", n)
    check_positive_int("zoom", zoom)
    width, height = preview_size(rows, n, image_size, zoom)
    limit = Image.MAX_IMAGE_PIXELS
    if limit is not None and width * height > limit:
        raise InvalidParameterError(
            f"The preview grid would be {width} x {height} pixels ({width * height / 1e6:.0f} megapixels), above "
            f"Pillow's limit of {limit / 1e6:.0f} megapixels (PIL.Image.MAX_IMAGE_PIXELS). Lower --n ({n}), --zoom "
            f"({zoom}), --image-size ({image_size}) or the number of transforms.")


def make_preview(
    dataset: Transforms2D, transforms: Sequence[TransformSpec], *, n: int = 8, seed: int = 0, zoom: int = 4
) -> Image.Image:
    """A grid of samples: a first row without transforms, then one row per spec in ``transforms``.

    Column j shows the same object on the same background in every row, so rows differ only by their transform
    (drawn from the dataset distribution: flips and sharpen are applied with p = 0.5).

    Args:
        dataset: Objects, sources and image size (its own transforms are ignored).
        transforms: One spec per row.
        n: Samples per row (classes cycle through the dataset's objects).
        seed: Seeds scenes and transform parameters.
        zoom: Each pixel is drawn as a ``zoom x zoom`` block (nearest neighbour).

    Example:
        >>> from invmeter.transforms import parse_transform
        >>> grid = make_preview(Transforms2D(objects=(0, 1)), [parse_transform("rotation")], n=3, zoom=2)
        >>> grid.size[1] == 2 * 32 * 2 + 3 * 2
        True
    """
    check_preview_size(1 + len(transforms), n, dataset.image_size, zoom)
    rows: list[tuple[str, np.ndarray]] = []
    prototypes = dataset.prototypes()
    for spec in [None, *transforms]:
        variant = replace(dataset, transforms=spec, class_transforms=None)
        # Classes and backgrounds are drawn before the transforms, so every row gets the same scenes.
        scenes = variant.sample_scenes(n, torch.Generator().manual_seed(seed), balanced=True)
        images = variant.render(scenes, prototypes)
        rows.append(("none" if spec is None else str(spec), (images * 255).round().byte().numpy()))
    cell = dataset.image_size * zoom
    grid = Image.new("RGB", preview_size(len(rows), n, dataset.image_size, zoom), "white")
    draw = ImageDraw.Draw(grid)
    font = ImageFont.load_default()
    for r, (label, images) in enumerate(rows):
        top = _GAP + r * (cell + _GAP)
        draw.text((4, top + cell // 2), label, fill="black", font=font, anchor="lm")
        for c, image in enumerate(images):
            tile = Image.fromarray(image.transpose(1, 2, 0)).resize((cell, cell), Image.NEAREST)
            grid.paste(tile, (_LABEL_WIDTH + _GAP + c * (cell + _GAP), top))
    return grid
