"""Image files on disk: finding them, their identity (for cache keys) and opening them with one-line errors."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from invmeter.errors import DataError

__all__ = ["IMAGE_EXTENSIONS", "check_folder", "image_files", "fingerprint", "open_image", "si_score_part"]

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm")


def check_folder(path: str | Path, what: str) -> Path:
    """``path`` as a folder, or a DataError naming ``what`` it should hold (e.g. ``"object"``)."""
    folder = Path(path).expanduser()
    if not folder.exists():
        raise DataError(f"The {what} folder {str(folder)!r} does not exist.")
    if not folder.is_dir():
        raise DataError(f"The {what} path {str(folder)!r} is not a folder; give a folder of images.")
    return folder


def image_files(folder: Path, recursive: bool = False) -> list[Path]:
    """Image files in ``folder`` (and its subfolders if ``recursive``), sorted, hidden files skipped."""
    found = folder.rglob("*") if recursive else folder.iterdir()
    return sorted(p for p in found if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file() and _visible(p, folder))


def _visible(path: Path, folder: Path) -> bool:
    return not any(part.startswith(".") for part in path.relative_to(folder).parts)


def si_score_part(root: Path, part: str) -> Path | None:
    """``root/part`` when ``root`` has the SI-score layout (``foregrounds/``, ``backgrounds/``), else None."""
    sub = root / part
    return sub if sub.is_dir() else None


def fingerprint(files: Sequence[Path], root: Path) -> str:
    """A short hash of the file list (relative paths, sizes, modification times): changes when a file is added,
    removed, renamed or edited, so cached datasets built from a folder are rebuilt when the folder changes."""
    h = hashlib.sha256()
    for path in files:
        stat = path.stat()
        h.update(f"{path.relative_to(root).as_posix()}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return h.hexdigest()[:16]


@contextmanager
def open_image(path: Path) -> Iterator[Image.Image]:
    """Open an image (lazily, as PIL does); unreadable files raise a one-line DataError, also while decoding."""
    try:
        with Image.open(path) as img:
            yield img
    except (UnidentifiedImageError, OSError) as exc:
        raise DataError(f"Cannot read image {str(path)!r}: {exc.__class__.__name__}. Remove or replace it.") from None
