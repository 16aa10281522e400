"""Image files on disk: finding them, their identity (for cache keys), and reading them faithfully as 8-bit RGB
(or RGBA) with one-line errors.

How :func:`read_rgb` reads a file (every reader of image files in invmeter goes through it):

- **Orientation**: the EXIF orientation is applied (``PIL.ImageOps.exif_transpose``): pixels come out as a viewer
  shows them.
- **More than 8 bits**: a 16-bit sample ``v`` (grayscale ``I;16*``, ``I``) becomes the 8-bit level ``v >> 8``
  (its high byte, i.e. ``floor(v / 256)``; 0 -> 0, 65535 -> 255), which is how Pillow itself decodes 48-bit RGB
  and 64-bit RGBA PNGs, so a 16-bit picture gives the same pixels stored as grayscale or as colour. It is within
  one 8-bit level of ``v / 65535``. Float images (``F``) must hold values in [0, 1] and become ``round(255 v)``;
  32-bit integer images (``I``) are taken as 16-bit and must hold values in [0, 65535]; other values are a
  DataError (their range is unknown, so any mapping would be a guess).
- **Colour**: palette (``P``), bilevel (``1``), grayscale (``L``), CMYK, YCbCr, ... are converted by Pillow.
  Colour profiles (ICC) are not applied: the samples are taken as sRGB, as torchvision's and timm's loaders do.
- **Alpha** (``RGBA``, ``LA``, ``PA``, palette or grayscale transparency): :func:`read_rgb` flattens the image over
  a fixed white background (``ALPHA_BACKGROUND``): ``out = round((a c + (255 - a) 255) / 255)`` per channel, so
  a pixel is what a viewer shows on white, whatever colour hides under a transparent pixel. ``keep_alpha=True``
  returns RGBA instead (Transforms-2D object prototypes, whose alpha marks the object).
- **Images already in memory** (a ``Dataset``'s PIL images, tensors, numpy arrays): :func:`to_rgb` applies the
  same rules to a PIL image of any mode, and :mod:`invmeter.data.pixels` maps arrays onto them (uint16 as 16-bit,
  float in [0, 1], a 4th channel as alpha), so the same pixels give the same numbers whatever the container.
- **Refusals**: an unreadable, truncated or empty file, a non-image, or one above Pillow's decompression-bomb limit
  (``PIL.Image.MAX_IMAGE_PIXELS`` pixels, about 89 megapixels) is a one-line :class:`DataError` naming the file.

Why 8-bit PIL images: the models' own evaluation transforms (timm, torchvision) run on PIL images, and PIL has no
16-bit RGB mode; the models were trained on 8-bit images, so 16-bit precision would not reach them anyway.
"""

from __future__ import annotations

import hashlib
import struct
import warnings
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from PIL import ExifTags, Image, ImageOps

from invmeter.errors import DataError

__all__ = [
    "ALPHA_BACKGROUND", "ALPHA_MODES", "IMAGE_EXTENSIONS", "check_folder", "check_images", "displayed_size",
    "fingerprint", "has_alpha", "image_files", "open_image", "read_rgb", "si_score_part", "to_rgb",
]

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm")
ALPHA_MODES = ("RGBA", "LA", "PA", "RGBa", "La")
ALPHA_BACKGROUND = 255  # transparent pixels are flattened over white (8-bit level of R, G and B)
_ORIENTATION = ExifTags.Base.Orientation
_TRANSPOSED = (5, 6, 7, 8)  # EXIF orientations that swap width and height
_FIX = " Remove or replace it."
# What Pillow raises for a damaged or unsupported file while identifying or decoding it
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error)


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
    """Open an image (lazily, as PIL does); an unreadable file, or one above Pillow's decompression-bomb limit,
    raises a one-line DataError naming it, also while decoding."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)  # above the limit: refuse, do not warn
            with Image.open(path) as img:
                yield img
    except DataError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise DataError(
            f"Image {str(path)!r} is too large to decode safely ({exc}). Downscale it, or raise "
            "PIL.Image.MAX_IMAGE_PIXELS if you trust the file."
        ) from None
    except _DECODE_ERRORS as exc:
        raise DataError(f"Cannot read image {str(path)!r}: {_reason(exc)}.{_FIX}") from None


def _reason(exc: BaseException) -> str:
    """``ClassName: first line of the message`` (at most 120 characters), for one-line errors."""
    text = str(exc).strip().splitlines()
    return f"{exc.__class__.__name__}: {text[0][:120]}" if text else exc.__class__.__name__


def has_alpha(img: Image.Image) -> bool:
    """Whether ``img`` has transparency: an alpha band or a transparent palette entry / colour."""
    return img.mode in ALPHA_MODES or "transparency" in img.info


def displayed_size(path: Path) -> tuple[int, int]:
    """``(width, height)`` of the image as displayed (after its EXIF orientation), read from the header only."""
    with open_image(path) as img:
        width, height = img.size
        return (height, width) if img.getexif().get(_ORIENTATION) in _TRANSPOSED else (width, height)


def read_rgb(path: Path, *, keep_alpha: bool = False, min_size: tuple[int, int] | None = None) -> Image.Image:
    """Read an image file as an 8-bit ``RGB`` PIL image, as displayed (see the module docstring for the rules).

    Args:
        keep_alpha: Return ``RGBA`` (alpha 255 where the file has none) instead of flattening over white.
        min_size: ``(width, height)`` in displayed pixels that suffice: JPEGs are then decoded at a reduced scale
            (1/2, 1/4 or 1/8) no smaller than that, which is much faster; other formats decode at full size.

    Raises:
        DataError: One line naming the file: unreadable, truncated, not an image, a decompression bomb, or
            samples outside their range (float images outside [0, 1], integer images outside [0, 65535]).
    """
    with open_image(path) as img:
        orientation = img.getexif().get(_ORIENTATION)
        if min_size is not None:
            img.draft(img.mode, min_size[::-1] if orientation in _TRANSPOSED else min_size)
        img.load()
        img = ImageOps.exif_transpose(img) if orientation not in (None, 1) else img
        return to_rgb(img, repr(str(path)), keep_alpha=keep_alpha)  # loaded: valid after the file is closed


def to_rgb(img: Image.Image, name: str, *, keep_alpha: bool = False) -> Image.Image:
    """A loaded PIL image of any mode as 8-bit ``RGB`` (``RGBA`` with ``keep_alpha``) by the rules of the module
    docstring (bit depth, float range, colour, alpha over white); ``name`` says which image in an error (a quoted
    path, ``item 3 of the dataset``). The one conversion behind files, Datasets, DataLoaders and tensors."""
    img = _normalised(img, name)
    if keep_alpha or not has_alpha(img):
        wanted = "RGBA" if keep_alpha else "RGB"
        return img if img.mode == wanted else img.convert(wanted)
    rgba = np.asarray(img.convert("RGBA"), dtype=np.uint32)
    alpha = rgba[..., 3:]  # below, (x + 127) // 255 = round(x / 255) exactly: x / 255 is never k + 1/2
    flat = (rgba[..., :3] * alpha + ALPHA_BACKGROUND * (255 - alpha) + 127) // 255
    return Image.fromarray(flat.astype(np.uint8), "RGB")


def _normalised(img: Image.Image, name: str) -> Image.Image:
    """``img`` in a mode that Pillow converts to RGB(A) exactly: 16-bit, 32-bit integer and float samples mapped to
    8-bit ``L`` (``LA`` with a transparent colour), premultiplied ``La`` as ``LA``; other modes unchanged."""
    if img.mode == "La":  # Pillow converts premultiplied gray + alpha to RGB(A) only through LA
        return img.convert("LA")
    if img.mode == "F":
        values = np.asarray(img, dtype=np.float64)
        if not np.isfinite(values).all():
            raise DataError(f"Float image {name} has NaN or infinite values; save it with values in [0, 1].")
        if values.min() < 0.0 or values.max() > 1.0:
            raise DataError(
                f"Float image {name} has values outside [0, 1] (min {values.min():g}, max {values.max():g}); "
                "save it with values in [0, 1], or as an 8- or 16-bit image."
            )
        level = np.rint(values * 255.0)
    elif img.mode == "I" or img.mode.startswith("I;16"):
        values = np.asarray(img, dtype=np.int64)
        if values.min() < 0 or values.max() > 65535:
            raise DataError(
                f"Integer image {name} has values outside [0, 65535] (min {values.min()}, max {values.max()}); "
                "save it as an 8- or 16-bit image."
            )
        level = values >> 8
    else:
        return img
    gray = Image.fromarray(level.astype(np.uint8), "L")
    transparent = img.info.get("transparency")
    if isinstance(transparent, int) and not isinstance(transparent, bool):  # a 16-bit grayscale PNG's tRNS colour
        gray.putalpha(Image.fromarray(np.where(values == transparent, 0, 255).astype(np.uint8), "L"))
    return gray


def check_images(files: Iterable[Path]) -> None:
    """Decode every file of ``files`` (JPEGs at 1/8 scale: still every byte) as :func:`read_rgb` would; if any
    cannot be read, raise one DataError with their count and the first bad file."""
    files = list(files)
    bad: list[str] = []
    for path in files:
        try:
            read_rgb(path, min_size=(1, 1))
        except DataError as exc:  # its message names the file
            bad.append(str(exc))
    if bad:
        raise DataError(
            f"{len(bad)} of {len(files)} image files cannot be read; the first: {bad[0].removesuffix(_FIX)} "
            "Remove or replace them."
        )
