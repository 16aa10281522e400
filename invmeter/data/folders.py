"""Image folders: one subfolder per class (labelled), or a flat folder of images (unlabelled)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from PIL import Image

from invmeter.data._files import IMAGE_EXTENSIONS, check_images, image_files, read_rgb
from invmeter.errors import DataError

__all__ = ["IMAGE_EXTENSIONS", "FolderImages", "find_class_images", "read_image"]


def find_class_images(root: str | Path) -> tuple[list[Path], list[int] | None, list[str]]:
    """Image files under ``root``: ``root/<class>/...`` (sorted, labelled) or, when there are no class subfolders
    with images, the images directly in ``root`` (unlabelled: labels ``None``). Returns (files, labels, class_names)."""
    root = Path(root)
    if not root.exists():
        raise DataError(f"Data folder {str(root)!r} does not exist.")
    if not root.is_dir():
        raise DataError(f"Data path {str(root)!r} is not a folder; give a folder of images (one subfolder per class "
                        "for the accuracy metrics).")
    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    files: list[Path] = []
    labels: list[int] = []
    kept: list[str] = []
    for name in classes:
        found = image_files(root / name, recursive=True)
        if found:
            labels += [len(kept)] * len(found)
            kept.append(name)
            files += found
    if files:
        return files, labels, kept
    loose = image_files(root)
    if not loose:
        raise DataError(f"No images found in {str(root)!r} (extensions: {', '.join(IMAGE_EXTENSIONS)}).")
    return loose, None, []


def read_image(path: Path) -> Image.Image:
    """An image file as an RGB PIL image, read faithfully (see :func:`invmeter.data._files.read_rgb`)."""
    return read_rgb(path)


class FolderImages:
    """The images of a folder, labelled by subfolder or unlabelled (flat), read lazily (see :func:`find_class_images`)."""

    io_bound = True  # decoding files: worth rendering the next batch while the model runs

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.files, labels, self.class_names = find_class_images(root)
        self.labels = torch.tensor(labels, dtype=torch.int64) if labels is not None else None

    def __len__(self) -> int:
        return len(self.files)

    def load(self, i: int) -> Image.Image:
        try:
            return read_image(self.files[i])
        except DataError:  # name how many of the folder's files are unreadable, not only this one
            check_images(self.files)
            raise

    def describe(self) -> dict[str, Any]:
        return {"name": "folder", "path": str(self.root.resolve()), "layout": "one subfolder per class"
                if self.labels is not None else "flat (unlabelled)", "class_names": self.class_names}
