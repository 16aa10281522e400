"""Foreground object prototypes for Transforms-2D: one RGBA image per class.

A prototype is rendered onto an ``S x S`` canvas (S = image size) with the object occupying a centred square
of side ``object_scale · S`` (0.7 in the paper), as premultiplied RGBA float in [0, 1] (transparent = 0).
Sources: :class:`ProceduralObjects` (built in) and :class:`ImageObjects` (RGBA images on disk, including the
SI-score layout, via :func:`load_object_source`).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from invmeter.data._files import check_folder, fingerprint, has_alpha, image_files, open_image, read_rgb, si_score_part
from invmeter.errors import DataError
from invmeter.transforms.functional import hsv_to_rgb

__all__ = ["ImageObjects", "ProceduralObjects", "check_object_ids", "load_object_source", "place_on_canvas"]


def place_on_canvas(rgba: Tensor, image_size: int, object_scale: float) -> Tensor:
    """Resize ``(K, 4, h, w)`` straight-alpha RGBA objects to a centred square of side round(scale·S).

    Returns premultiplied ``(K, 4, S, S)`` canvases. Aspect ratio is not preserved (as in the paper's code).
    """
    side = max(1, round(object_scale * image_size))
    premult = torch.cat([rgba[:, :3] * rgba[:, 3:4], rgba[:, 3:4]], dim=1)
    small = F.interpolate(premult, size=(side, side), mode="bilinear", antialias=True, align_corners=False)
    canvas = torch.zeros(len(rgba), 4, image_size, image_size, dtype=torch.float32)
    off = (image_size - side) // 2
    canvas[:, :, off : off + side, off : off + side] = small.clamp(0.0, 1.0)
    return canvas


def check_object_ids(objects: tuple[int, ...], source: ProceduralObjects | ImageObjects) -> None:
    """Raise a one-line DataError unless every id in ``objects`` exists in ``source``."""
    available = source.count()
    if available is not None and not all(0 <= k < available for k in objects):
        raise DataError(
            f"Objects {list(objects)} are not all in the object source {source.name}, which has "
            f"{available} objects (ids 0..{available - 1}). Choose fewer classes."
        )


def _hsv_to_rgb(h: float, s: float, v: float) -> np.ndarray:
    rgb = hsv_to_rgb(torch.tensor([[h * 6.0]], dtype=torch.float64), torch.tensor([[v]], dtype=torch.float64),
                     torch.tensor([[v * s]], dtype=torch.float64))
    return rgb[0].numpy().astype(np.float32)


@dataclass(frozen=True)
class ProceduralObjects:
    """Unlimited distinct, asymmetric, seeded objects: object ``k`` is always the same shape and colours.

    Each object is a star-shaped blob (random Fourier radius, odd harmonics break mirror symmetry) with an
    attached off-centre lobe, a two-colour stripe texture at a random angle and an off-centre spot, so flips
    and rotations visibly change it. Rendered analytically at any resolution with anti-aliased edges.
    """

    seed: int = 0

    @property
    def name(self) -> str:
        return f"procedural(seed={self.seed})"

    def describe(self) -> dict[str, object]:
        return {"source": "procedural", "seed": self.seed}

    def count(self) -> int | None:
        """Number of available objects (``None`` = unlimited)."""
        return None

    def class_names(self, ids: list[int]) -> list[str]:
        return [f"object{k:03d}" for k in ids]

    def render(self, ids: list[int], image_size: int, object_scale: float = 0.7) -> Tensor:
        """Premultiplied RGBA canvases ``(len(ids), 4, S, S)`` for object ids ``ids``."""
        side = max(4, round(object_scale * image_size))
        objects = torch.from_numpy(np.stack([self._render_one(k, side) for k in ids]))
        canvas = torch.zeros(len(ids), 4, image_size, image_size, dtype=torch.float32)
        off = (image_size - side) // 2
        canvas[:, :, off : off + side, off : off + side] = objects
        return canvas

    def _render_one(self, k: int, side: int) -> np.ndarray:
        rng = np.random.default_rng([self.seed, k, 7919])
        # Pixel centres in object units: [-1, 1] across the object canvas.
        coords = (np.arange(side, dtype=np.float64) + 0.5) / side * 2 - 1
        y, x = np.meshgrid(coords, coords, indexing="ij")
        px = 2.0 / side  # one pixel in object units, for anti-aliasing

        def blob(cx: float, cy: float, radius: float, n_harm: int) -> np.ndarray:
            dx, dy = x - cx, y - cy
            rho, phi = np.hypot(dx, dy), np.arctan2(dy, dx)
            amp = rng.uniform(0.05, 0.28, n_harm) / np.arange(1, n_harm + 1) ** 0.5
            phase = rng.uniform(0, 2 * np.pi, n_harm)
            r = 1 + sum(a * np.cos((j + 1) * phi + ph) for j, (a, ph) in enumerate(zip(amp, phase)))
            r = radius * r / (1 + amp.sum())
            return np.clip((r - rho) / px + 0.5, 0.0, 1.0)

        body = blob(rng.uniform(-0.12, 0.12), rng.uniform(-0.12, 0.12), rng.uniform(0.62, 0.8), 5)
        angle = rng.uniform(0, 2 * np.pi)
        lobe = blob(0.55 * np.cos(angle), 0.55 * np.sin(angle), rng.uniform(0.22, 0.36), 3)
        alpha = np.maximum(body, lobe)

        hue = rng.uniform()
        c1 = _hsv_to_rgb(hue, rng.uniform(0.55, 1.0), rng.uniform(0.55, 1.0))
        c2 = _hsv_to_rgb((hue + rng.uniform(0.25, 0.75)) % 1, rng.uniform(0.4, 1.0), rng.uniform(0.3, 1.0))
        c3 = _hsv_to_rgb(rng.uniform(), rng.uniform(0.0, 1.0), rng.choice([0.1, 0.95]))
        theta, freq = rng.uniform(0, np.pi), rng.uniform(1.5, 4.0)
        stripes = 0.5 + 0.5 * np.sin(np.pi * freq * (x * np.cos(theta) + y * np.sin(theta)) + rng.uniform(0, 6.3))
        stripes = np.clip((stripes - 0.5) * 3 + 0.5, 0, 1)
        rgb = c1[:, None, None] * stripes + c2[:, None, None] * (1 - stripes)
        rgb = np.where(lobe[None] > body[None], c2[:, None, None] * 0.6 + c3[:, None, None] * 0.4, rgb)
        spot_angle = angle + rng.uniform(0.8, 2.2) * rng.choice([-1, 1])
        sx, sy = 0.35 * np.cos(spot_angle), 0.35 * np.sin(spot_angle)
        spot = np.clip((rng.uniform(0.12, 0.2) - np.hypot(x - sx, y - sy)) / px + 0.5, 0, 1)
        rgb = rgb * (1 - spot) + c3[:, None, None] * spot
        return np.concatenate([rgb * alpha, alpha[None]], axis=0).astype(np.float32)


@dataclass(frozen=True)
class ImageObjects:
    """Objects from image files with an alpha mask: ``files[k]`` is the prototype of class ``names[k]``.

    Build one with :func:`load_object_source`. Prototypes are resized (bilinear, antialiased, aspect ratio not
    kept, as in the paper's code) to the object canvas; the alpha channel is the object's footprint.
    """

    root: Path
    files: tuple[Path, ...]
    names: tuple[str, ...]
    layout: str  # "files" (one class per file), "subfolders" (first image per subfolder) or "si-score"

    @property
    def name(self) -> str:
        return f"images({self.root})"

    def describe(self) -> dict[str, object]:
        return {
            "source": "images", "path": str(self.root.resolve()), "layout": self.layout, "count": len(self.files),
            "fingerprint": fingerprint(self.files, self.root),
        }

    def count(self) -> int:
        """Number of available objects (classes)."""
        return len(self.files)

    def class_names(self, ids: list[int]) -> list[str]:
        return [self.names[k] for k in ids]

    def render(self, ids: list[int], image_size: int, object_scale: float = 0.7) -> Tensor:
        """Premultiplied RGBA canvases ``(len(ids), 4, S, S)`` for object ids ``ids``."""
        return torch.stack([_load_prototype(self.files[k], image_size, object_scale) for k in ids])


@functools.lru_cache(maxsize=128)
def _load_prototype_cached(path: Path, stamp: tuple[int, int], image_size: int, object_scale: float) -> Tensor:
    rgba = np.asarray(read_rgb(path, keep_alpha=True), dtype=np.float32) / 255.0
    if rgba[..., 3].max() == 0:
        raise DataError(f"Object image {str(path)!r} is fully transparent; its alpha channel must mark the object.")
    return place_on_canvas(torch.from_numpy(rgba).permute(2, 0, 1).unsqueeze(0), image_size, object_scale)[0]


def _load_prototype(path: Path, image_size: int, object_scale: float) -> Tensor:
    stat = path.stat()  # the file's size and mtime key the cache, so an edited file is read again
    return _load_prototype_cached(path, (stat.st_size, stat.st_mtime_ns), image_size, object_scale)


def _has_alpha(path: Path) -> bool:
    with open_image(path) as img:
        return has_alpha(img)


def load_object_source(path: str | Path) -> ImageObjects:
    """Objects from a folder: one RGBA image per class (named by file), one subfolder per class (its first image,
    sorted by name, is the prototype, as in the paper), or an SI-score folder (``foregrounds/<class>/*.png``).

    Raises DataError (one line) for a missing or empty folder, a single object, or an image without alpha.
    """
    root = check_folder(path, "object")
    layout = "si-score" if si_score_part(root, "foregrounds") else ""
    root = si_score_part(root, "foregrounds") or root
    per_class = [(d.name, image_files(d)) for d in sorted(root.iterdir()) if d.is_dir() and not d.name.startswith(".")]
    per_class = [(name, found[0]) for name, found in per_class if found]
    loose = image_files(root)
    if per_class and loose:
        raise DataError(
            f"The object folder {str(root)!r} mixes image files and class subfolders; use one image per class "
            "or one subfolder per class, not both."
        )
    if per_class:
        names, files, layout = tuple(n for n, _ in per_class), tuple(f for _, f in per_class), layout or "subfolders"
    else:
        names, files, layout = tuple(f.stem for f in loose), tuple(loose), "files"
    if len(files) < 2:
        raise DataError(
            f"The object folder {str(root)!r} has {len(files)} object image(s); Transforms-2D needs at least 2 "
            "(one RGBA image per class, or one subfolder per class)."
        )
    for file in files:
        if not _has_alpha(file):
            raise DataError(
                f"Object image {str(file)!r} has no alpha channel; objects must be RGBA images (e.g. PNG) whose "
                "transparent pixels mark the background."
            )
    return ImageObjects(root=root, files=files, names=names, layout=layout)
