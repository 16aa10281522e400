"""Backgrounds for Transforms-2D: a bank of ``count`` images, rendered at any size.

Sources: :class:`ProceduralBackgrounds` (seeded textures, the default) and :class:`PhotoBackgrounds` (seeded
crops of photos in a folder, including the SI-score layout, via :func:`load_background_source`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor

from invmeter.data._files import (
    IMAGE_EXTENSIONS as _EXT,
    check_folder,
    displayed_size,
    fingerprint,
    image_files,
    read_rgb,
    si_score_part,
)
from invmeter.errors import DataError, InvalidParameterError

__all__ = ["PAPER_BACKGROUND_COUNT", "PhotoBackgrounds", "ProceduralBackgrounds", "load_background_source"]

PAPER_BACKGROUND_COUNT = 867  # the paper's number of background photos
CROPS = ("random", "top-left")


@dataclass(frozen=True)
class ProceduralBackgrounds:
    """A bank of ``count`` seeded textures: background ``b`` is always the same image at a given size.

    Each texture blends two random colours through a smooth random field, plus finer luminance detail,
    so backgrounds vary in colour and structure like natural scenes without any download.
    """

    seed: int = 0
    count: int = PAPER_BACKGROUND_COUNT

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


@dataclass(frozen=True)
class PhotoBackgrounds:
    """Backgrounds cropped from photos: bank entry ``b`` is a square crop of photo ``files[b % len(files)]``,
    resized to the image size (bilinear, antialiased).

    Attributes:
        root: The photo folder (for provenance).
        files: The photos, sorted.
        seed: Seeds the random crops: entry ``b`` is always the same crop.
        crop: ``"random"``: a square of side U[0.5, 1] x the photo's shorter side at a uniform position;
            ``"top-left"``: the largest top-left square (the paper's preprocessing; one entry per photo).
        size: Bank size; default: one entry per photo, and at least the paper's 867 for random crops.
    """

    root: Path
    files: tuple[Path, ...]
    seed: int = 0
    crop: str = "random"
    size: int | None = None

    def __post_init__(self) -> None:
        if self.crop not in CROPS:
            raise InvalidParameterError(f"The 'crop' parameter must be one of {', '.join(CROPS)}. Got {self.crop!r}.")
        if self.size is not None and self.size < 1:
            raise InvalidParameterError(f"The 'size' parameter must be an integer >= 1. Got {self.size!r} instead.")

    @property
    def count(self) -> int:
        if self.size is not None:
            return self.size
        return len(self.files) if self.crop == "top-left" else max(len(self.files), PAPER_BACKGROUND_COUNT)

    @property
    def name(self) -> str:
        return f"photos({self.root}, {self.crop} crops)"

    def describe(self) -> dict[str, object]:
        return {
            "source": "photos", "path": str(self.root.resolve()), "photos": len(self.files), "count": self.count,
            "crop": self.crop, "seed": self.seed, "resize": "bilinear, antialiased",
            "fingerprint": fingerprint(self.files, self.root),
        }

    def _box(self, b: int, width: int, height: int) -> tuple[float, float, float]:
        """(left, top, side) of entry ``b``'s crop in a ``width x height`` photo, in pixels."""
        short = min(width, height)
        if self.crop == "top-left":
            return 0.0, 0.0, float(short)
        rng = np.random.default_rng([self.seed, b])
        side = short * rng.uniform(0.5, 1.0)
        return rng.uniform(0, width - side), rng.uniform(0, height - side), side

    def _render_one(self, b: int, image_size: int) -> np.ndarray:
        path = self.files[b % len(self.files)]
        width, height = displayed_size(path)
        left, top, side = self._box(b, width, height)
        # JPEGs decode at a reduced scale that still leaves the crop >= 2x the output size (much faster).
        wanted = (math.ceil(width * 2 * image_size / side), math.ceil(height * 2 * image_size / side))
        img = read_rgb(path, min_size=wanted)
        fx, fy = img.size[0] / width, img.size[1] / height
        box = (left * fx, top * fy, (left + side) * fx, (top + side) * fy)
        return np.asarray(img.resize((image_size, image_size), Image.BILINEAR, box=box))

    def render(self, ids: Tensor, image_size: int) -> Tensor:
        """RGB backgrounds ``(len(ids), 3, S, S)`` in [0, 1] for bank indices ``ids`` (each photo read once)."""
        unique, inverse = torch.unique(ids, return_inverse=True)
        crops = np.stack([self._render_one(int(b), image_size) for b in unique]) if len(unique) else np.zeros(
            (0, image_size, image_size, 3), np.uint8
        )
        bank = torch.from_numpy(crops).permute(0, 3, 1, 2).float().div_(255.0)
        return bank[inverse]


def load_background_source(path: str | Path, *, seed: int = 0, crop: str | None = None) -> PhotoBackgrounds:
    """Backgrounds from a folder of photos (searched recursively) or an SI-score folder (``backgrounds/*.jpg``).

    ``crop`` defaults to ``"top-left"`` for the SI-score layout (the paper's preprocessing) and ``"random"``
    otherwise. Raises DataError (one line) for a missing folder or one without photos.
    """
    root = check_folder(path, "background")
    si_score = si_score_part(root, "backgrounds")
    root = si_score or root
    files = image_files(root, recursive=True)
    if not files:
        raise DataError(
            f"No photos found in the background folder {str(root)!r} (looked for {', '.join(e[1:] for e in _EXT)})."
        )
    return PhotoBackgrounds(root=root, files=tuple(files), seed=seed, crop=crop or ("top-left" if si_score else "random"))
