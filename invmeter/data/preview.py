"""A preview grid of Transforms-2D samples: one row per transform, the same scenes in every row."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from invmeter._validation import check_positive_int
from invmeter.data.transforms2d import Transforms2D
from invmeter.transforms import TransformSpec

__all__ = ["make_preview"]

_GAP = 2  # pixels between cells
_LABEL_WIDTH = 110  # pixels for the row labels


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
    check_positive_int("n", n)
    check_positive_int("zoom", zoom)
    rows: list[tuple[str, np.ndarray]] = []
    prototypes = dataset.prototypes()
    for spec in [None, *transforms]:
        variant = replace(dataset, transforms=spec, class_transforms=None)
        # Classes and backgrounds are drawn before the transforms, so every row gets the same scenes.
        scenes = variant.sample_scenes(n, torch.Generator().manual_seed(seed), balanced=True)
        images = variant.render(scenes, prototypes)
        rows.append(("none" if spec is None else str(spec), (images * 255).round().byte().numpy()))
    cell = dataset.image_size * zoom
    grid = Image.new("RGB", (_LABEL_WIDTH + n * (cell + _GAP) + _GAP, len(rows) * (cell + _GAP) + _GAP), "white")
    draw = ImageDraw.Draw(grid)
    font = ImageFont.load_default()
    for r, (label, images) in enumerate(rows):
        top = _GAP + r * (cell + _GAP)
        draw.text((4, top + cell // 2), label, fill="black", font=font, anchor="lm")
        for c, image in enumerate(images):
            tile = Image.fromarray(image.transpose(1, 2, 0)).resize((cell, cell), Image.NEAREST)
            grid.paste(tile, (_LABEL_WIDTH + _GAP + c * (cell + _GAP), top))
    return grid
