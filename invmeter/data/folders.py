"""Image folders (one subfolder per class) as controlled pairs: the transform acts on the whole image."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from invmeter.data._files import IMAGE_EXTENSIONS, read_rgb
from invmeter.errors import DataError
from invmeter.transforms import TransformSpec, apply_transforms

__all__ = ["IMAGE_EXTENSIONS", "RANDOM_REFERENCE", "find_class_images", "load_image", "FolderPairs"]

RANDOM_REFERENCE = "a random other image (seeded derangement)"


def find_class_images(root: str | Path) -> tuple[list[Path], list[int], list[str]]:
    """List image files under ``root/<class>/`` (sorted); returns (files, labels, class_names)."""
    root = Path(root)
    if not root.exists():
        raise DataError(f"Data folder {str(root)!r} does not exist.")
    if not root.is_dir():
        raise DataError(f"Data path {str(root)!r} is not a folder; give a folder with one subfolder per class.")
    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    files: list[Path] = []
    labels: list[int] = []
    kept: list[str] = []
    for name in classes:
        found = sorted(p for p in (root / name).rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file())
        if found:
            labels += [len(kept)] * len(found)
            kept.append(name)
            files += found
    if not files:
        loose = [p for p in root.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS]
        hint = " (images must be in one subfolder per class)" if loose else ""
        raise DataError(f"No images found in class subfolders of {str(root)!r}{hint}.")
    if len(kept) < 2:
        raise DataError(
            f"Data folder {str(root)!r} has a single class ({kept[0]!r}); the metrics need at least 2 classes "
            "(one subfolder per class)."
        )
    return files, labels, kept


def load_image(path: Path, image_size: int) -> Tensor:
    """Read an image as RGB float ``(3, S, S)`` in [0, 1] (see :func:`read_rgb`): shorter side resized to S, then
    centre-cropped."""
    array = np.asarray(read_rgb(path), dtype=np.float32) / 255.0
    x = torch.from_numpy(array).permute(2, 0, 1).unsqueeze(0)
    h, w = x.shape[-2:]
    scale = image_size / min(h, w)
    size = (max(image_size, round(h * scale)), max(image_size, round(w * scale)))
    x = F.interpolate(x, size=size, mode="bilinear", antialias=True, align_corners=False)
    top, left = (size[0] - image_size) // 2, (size[1] - image_size) // 2
    return x[0, :, top : top + image_size, left : left + image_size].clamp(0.0, 1.0)


class FolderPairs:
    """Controlled pairs from a folder of images: image i and T(image i), T drawn per image from ``seed``.

    Images are loaded lazily, per batch, at ``image_size``. ``n`` (optional) keeps a seeded subset.
    """

    def __init__(
        self, root: str | Path, transform: TransformSpec, image_size: int, n: int | None = None, seed: int = 0
    ) -> None:
        files, labels, self.class_names = find_class_images(root)
        generator = torch.Generator().manual_seed(seed)
        order = torch.randperm(len(files), generator=generator)
        if n is not None:
            order = order[:n]
        order = order.sort().values
        self.root = Path(root)
        self.files = [files[i] for i in order]
        self.labels = torch.tensor([labels[i] for i in order], dtype=torch.int64)
        self.image_size = image_size
        self.transform = transform
        self.probe = transform.sample(len(self.files), generator)
        self.reference = None  # invariance compares with a random other image: the whole image is the content

    def __len__(self) -> int:
        return len(self.files)

    def describe(self) -> dict[str, Any]:
        return {
            "name": "folder",
            "path": str(self.root.resolve()),
            "n_images": len(self),
            "n_classes": len(self.class_names),
            "class_names": self.class_names,
            "image_size": self.image_size,
            "resize": "shorter side to image_size (bilinear, antialiased), centre crop",
            "level": "image",
            "invariance_reference": RANDOM_REFERENCE,
        }

    def render(self, index: slice) -> tuple[Tensor, Tensor]:
        """Clean and transformed views ``(B, 3, S, S)`` for images ``index``."""
        clean = torch.stack([load_image(p, self.image_size) for p in self.files[index]])
        return clean, apply_transforms(clean, self.probe[index])
