"""Built splits (Transforms-2D, pasted objects, any :class:`BuildableDataset`): rendered once in batches, cached
on disk by their full spec, memory-mapped on reuse.

A split of ``n`` images is rendered in fixed chunks on a few worker threads (each torch op single-threaded, so a
busy machine does not slow the build down through thread contention); every image is a pure function of the
spec, so the bytes do not depend on the number of workers. Cache entries are folders ``<cache>/<name>/<key>``
(``name`` from the dataset's spec, e.g. ``transforms2d``) holding ``images.npy`` (uint8, ``(N, 3, S, S)``),
``labels.npy`` (int64), ``spec.json`` and ``checksums.json`` (the SHA-256 of both arrays' files); they are written
to a temporary folder and renamed into place, so an interrupted build never leaves a half-written entry. Every load
checks the checksums (about 0.1 s per 150 MB, the 50k 32x32 split; benchmarks/RESULTS.md): an entry damaged on
disk, even by a same-size change, is rebuilt with a warning instead of being used.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from invmeter._utils.io import sha256_file
from invmeter._utils.progress import Progress
from invmeter._utils.validation import check_image_size, check_positive_int, check_seed, unknown_name
from invmeter._version import __version__
from invmeter.data._split import BuildableDataset, SplitPlan
from invmeter.errors import DataError, InvalidParameterError, InvmeterWarning

__all__ = [
    "SPLIT_SEED_OFFSETS", "SPLIT_SIZES", "BuildableDataset", "BuiltSplit", "SplitPlan", "build_split", "cache_dir",
    "split_spec",
]

SPLIT_SEED_OFFSETS = {"train": 0, "val": 110, "test": 220}  # paper.md §1.6: split seeds s, s+110, s+220
SPLIT_SIZES = {"train": 50_000, "val": 10_000, "test": 10_000}  # the paper's split sizes
CHUNK = 128  # images rendered per batch: small enough to stay in the CPU cache
_FORMAT = 2  # bump when the rendering or the entry layout changes, so old cache entries are not reused
_ARRAYS = ("images.npy", "labels.npy")  # the files whose checksums checksums.json holds


@dataclass(frozen=True, eq=False)
class BuiltSplit:
    """A rendered split of a dataset (Transforms-2D, pasted objects, ...).

    Attributes:
        images: ``(N, 3, S, S)`` uint8 RGB (0..255), memory-mapped (read-only) when it comes from the cache.
        labels: ``(N,)`` int64 class indices (Transforms-2D: indices into ``dataset.objects``), balanced: class
            counts differ by at most one.
        spec: The full spec it was built from (``dataset.describe()`` + split, n, seed, ...); JSON-able.
        path: The cache entry holding it (``None`` when built without a cache).
    """

    images: np.ndarray
    labels: np.ndarray
    spec: dict[str, Any]
    path: Path | None = None

    def __len__(self) -> int:
        return len(self.labels)


def cache_dir(cache: bool | str | Path = True) -> Path | None:
    """The cache folder: ``cache`` if a path, else ``$INVMETER_CACHE`` or ``~/.cache/invmeter``; None if False."""
    if cache is False:
        return None
    if cache is True:
        return Path(os.environ.get("INVMETER_CACHE") or Path.home() / ".cache" / "invmeter")
    return Path(cache).expanduser()


def split_spec(dataset: BuildableDataset, split: str, n: int, seed: int) -> dict[str, Any]:
    """Everything that determines a split's bytes (the cache key hashes it)."""
    if split not in SPLIT_SEED_OFFSETS:
        raise unknown_name("split", split, SPLIT_SEED_OFFSETS)
    check_positive_int("n", n)
    check_image_size(dataset.image_size)
    if n < dataset.n_classes:
        raise InvalidParameterError(
            f"The number of images (n, --n-images) must be at least the number of classes, {dataset.n_classes}, so "
            f"that every class appears in the balanced split. Got {n} for the {split} split. Use {dataset.n_classes} "
            "or more."
        )
    check_seed("seed", seed)
    spec = {
        **dataset.describe(), "split": split, "n": n, "seed": seed, "split_seed": seed + SPLIT_SEED_OFFSETS[split],
        "labels": "balanced", "dtype": "uint8", "format": _FORMAT, "invmeter_version": __version__,
    }
    return json.loads(json.dumps(spec))  # exactly what spec.json will hold


def _key(spec: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:24]


def build_split(
    dataset: BuildableDataset,
    split: str,
    n: int,
    seed: int,
    *,
    cache: bool | str | Path = True,
    workers: int | None = None,
    progress: bool = False,
) -> BuiltSplit:
    """Render split ``split`` (``train``/``val``/``test``) of ``dataset``: ``n`` images, seeded by
    ``seed + SPLIT_SEED_OFFSETS[split]``, classes balanced (counts differ by at most one; ``n`` must be at least
    the number of classes); or load it from the cache.

    Args:
        cache: ``True``: the default cache folder (see :func:`cache_dir`); a folder; ``False``: no cache.
        workers: Rendering threads (default: the CPU count, at most 8). The result does not depend on it. While
            they run, torch ops are single-threaded (torch's thread count is restored afterwards).
        progress: Show a progress bar on stderr.

    Example:
        >>> from invmeter.data import Transforms2D, build_split
        >>> from invmeter.transforms import parse_transform
        >>> ds = Transforms2D(objects=(0, 1, 2), transforms=parse_transform("rotation"), image_size=16)
        >>> part = build_split(ds, "train", 30, seed=0, cache=False)
        >>> part.images.shape, part.images.dtype.name, part.labels.tolist().count(2)
        ((30, 3, 16, 16), 'uint8', 10)
    """
    spec = split_spec(dataset, split, n, seed)
    root = cache_dir(cache)
    if root is None:
        images = np.empty((n, 3, dataset.image_size, dataset.image_size), dtype=np.uint8)
        labels = _render(dataset, spec, images, workers, progress)
        return BuiltSplit(images, labels, spec)
    entry = root / spec["name"] / _key(spec)
    cached = _load(entry, spec)
    if cached is not None:
        return cached
    entry.parent.mkdir(parents=True, exist_ok=True)
    with _atomic_folder(entry) as tmp:
        images = np.lib.format.open_memmap(
            tmp / "images.npy", mode="w+", dtype=np.uint8, shape=(n, 3, dataset.image_size, dataset.image_size)
        )
        labels = _render(dataset, spec, images, workers, progress)
        images.flush()
        del images
        np.save(tmp / "labels.npy", labels)
        (tmp / "spec.json").write_text(json.dumps(spec, indent=1, sort_keys=True) + "\n")
        sums = {name: sha256_file(tmp / name) for name in _ARRAYS}
        (tmp / "checksums.json").write_text(json.dumps(sums, indent=1) + "\n")
    loaded = _load(entry, spec)  # just written, or written by a concurrent build of the same spec
    if loaded is None:
        raise DataError(f"Cannot read back the cache entry {str(entry)!r}; check the disk or use another cache folder.")
    return loaded


def _render(
    dataset: BuildableDataset, spec: dict[str, Any], out: np.ndarray, workers: int | None, progress: bool
) -> np.ndarray:
    """Render every image of ``spec`` into ``out`` (uint8, ``(N, 3, S, S)``); returns the labels."""
    n = spec["n"]
    plan: SplitPlan = dataset.split_plan(spec["split"], n, spec["split_seed"])
    def chunk(start: int) -> int:
        part = slice(start, min(start + CHUNK, n))
        rgb = plan.render(part)
        out[part] = rgb.mul_(255.0).round_().clamp_(0.0, 255.0).to(torch.uint8).numpy()
        return len(rgb)

    n_workers = check_positive_int("workers", workers) if workers is not None else min(os.cpu_count() or 1, 8)
    with Progress(n, f"{spec['split']} split", enabled=progress) as bar, _single_threaded_ops(), \
            ThreadPoolExecutor(n_workers) as pool:
        for done in pool.map(chunk, range(0, n, CHUNK)):
            bar.update(done)
    return plan.labels.numpy().astype(np.int64)


@contextmanager
def _single_threaded_ops() -> Iterator[None]:
    """One torch thread per op while the worker threads render (restored afterwards)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@contextmanager
def _atomic_folder(entry: Path) -> Iterator[Path]:
    """A temporary folder beside ``entry``, renamed to ``entry`` when the block succeeds, removed otherwise."""
    tmp = Path(tempfile.mkdtemp(prefix=f".{entry.name}.", dir=entry.parent))
    try:
        yield tmp
        try:
            os.rename(tmp, entry)
        except OSError:  # a concurrent build of the same spec finished first: keep its entry
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _load(entry: Path, spec: dict[str, Any]) -> BuiltSplit | None:
    """The cached split at ``entry`` if it is complete, matches ``spec`` and its checksums; a damaged entry is
    removed with a warning (the caller then rebuilds it)."""
    if not entry.exists():
        return None
    try:
        stored, sums = _read_json(entry / "spec.json"), _read_json(entry / "checksums.json")
        corrupt = [name for name in _ARRAYS if sha256_file(entry / name) != sums.get(name)]
        if corrupt:
            raise ValueError(f"{' and '.join(corrupt)} no longer match their SHA-256 checksums")
        images = np.load(entry / "images.npy", mmap_mode="r")
        labels = np.load(entry / "labels.npy")
        if stored != spec or images.shape[0] != spec["n"] or labels.shape != (spec["n"],):
            raise ValueError("its spec or array shapes differ from what the key promises")
    except (OSError, ValueError) as exc:
        why = f"{Path(exc.filename).name} is missing" if isinstance(exc, FileNotFoundError) else str(exc)
        warnings.warn(f"The data cache entry {str(entry)!r} is damaged ({why}); rebuilding it.", InvmeterWarning,
                      stacklevel=3)
        shutil.rmtree(entry, ignore_errors=True)
        return None
    return BuiltSplit(images, labels, stored, entry)


def _read_json(path: Path) -> dict[str, Any]:
    """A JSON object from ``path``; ValueError naming the file if it is not one."""
    try:
        value = json.loads(path.read_text())
    except json.JSONDecodeError:
        value = None
    if not isinstance(value, dict):
        raise ValueError(f"{path.name} is not a JSON object")
    return value
