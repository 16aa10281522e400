"""CIFAR-10 from a local folder in torchvision's layout (never downloaded), as labelled backgrounds.

``ROOT/cifar-10-batches-py/{data_batch_1..5, test_batch, batches.meta}`` (what ``torchvision.datasets.CIFAR10(ROOT,
download=True)`` leaves behind) is read directly from its pickle batches with an unpickler that only builds numpy
arrays, lists and strings. Splits: ``train``/``val`` are a *seeded* 90%/10% split of the training images (45,000 /
5,000 for CIFAR-10; the paper's split was unseeded), ``test`` is the test set. When no folder is given, the figures
use :class:`~invmeter.data.standin.Cifar10StandIn` instead (:func:`cifar_backgrounds`).
"""

from __future__ import annotations

import codecs
import functools
import io
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from invmeter.data._files import fingerprint
from invmeter.data.standin import Cifar10StandIn
from invmeter.errors import DataError

__all__ = ["CIFAR10_CLASSES", "VAL_FRACTION", "Cifar10Folder", "cifar_backgrounds", "load_cifar10"]

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
VAL_FRACTION = 0.1  # of the training images held out as the val split (45k / 5k for CIFAR-10)
FOLDER = "cifar-10-batches-py"
TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
FILES = (*TRAIN_FILES, "test_batch", "batches.meta")
HOW_TO_GET = ("torchvision's layout ROOT/cifar-10-batches-py/{data_batch_1..5, test_batch, batches.meta}; get it once "
              "with `python -c \"import torchvision; torchvision.datasets.CIFAR10('ROOT', download=True)\"` or extract "
              "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz into ROOT")
_SAFE = {"_reconstruct": np.ndarray(0).__reduce__()[0], "ndarray": np.ndarray, "dtype": np.dtype,
         "encode": codecs.encode}  # what pickled numpy arrays (and Python 2 strings) are rebuilt with


class _ArraysOnly(pickle.Unpickler):
    """Unpickles dicts, lists, strings and numpy arrays only (a batch file can never run code)."""

    def find_class(self, module: str, name: str) -> Any:
        if module.split(".")[0] in ("numpy", "_codecs") and name in _SAFE:
            return _SAFE[name]
        raise pickle.UnpicklingError(f"{module}.{name} is not allowed in a CIFAR-10 batch")


def _read_batch(path: Path) -> dict[str, Any]:
    try:
        entry = _ArraysOnly(io.BytesIO(path.read_bytes()), encoding="latin1").load()
    except (OSError, pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as exc:
        raise DataError(f"Cannot read the CIFAR-10 file {str(path)!r} ({exc.__class__.__name__}); it is damaged: "
                        "replace the folder with a fresh copy.") from None
    if not isinstance(entry, dict):
        raise DataError(f"{str(path)!r} is not a CIFAR-10 batch (a pickled dict); replace the folder with a fresh "
                        "copy.")
    return entry


def _images_and_labels(path: Path) -> tuple[np.ndarray, np.ndarray]:
    entry = _read_batch(path)
    data, labels = entry.get("data"), entry.get("labels")
    ok = isinstance(data, np.ndarray) and data.dtype == np.uint8 and data.ndim == 2 and data.shape[1] == 3072
    labels = np.asarray(labels if labels is not None else [], dtype=np.int64)
    if not ok or labels.shape != (len(data),) or not ((labels >= 0) & (labels < 10)).all():
        raise DataError(f"{str(path)!r} is not a CIFAR-10 batch: expected 'data' (N x 3072 uint8) and 'labels' "
                        "(N classes in 0..9); replace the folder with a fresh copy.")
    return data.reshape(-1, 3, 32, 32), labels


@functools.lru_cache(maxsize=2)
def _load(folder: Path, stamp: str) -> dict[str, tuple[Tensor, Tensor]]:
    """``{"train": (images, labels), "test": ...}``: uint8 ``(N, 3, 32, 32)`` and int64 ``(N,)``; cached per folder
    state (``stamp``), so the 180 MB are read once per process."""
    train = [_images_and_labels(folder / name) for name in TRAIN_FILES]
    test = _images_and_labels(folder / "test_batch")
    images, labels = np.concatenate([i for i, _ in train]), np.concatenate([y for _, y in train])
    return {"train": (torch.from_numpy(images), torch.from_numpy(labels)),
            "test": (torch.from_numpy(test[0]), torch.from_numpy(test[1]))}


@functools.lru_cache(maxsize=8)
def _split_index(n: int, split_seed: int, split: str) -> Tensor:
    """Indices into the ``n`` training images of the seeded train (first 90%) or val (last 10%) split."""
    order = torch.from_numpy(np.random.default_rng(split_seed).permutation(n))
    n_train = n - round(VAL_FRACTION * n)
    return order[n_train:] if split == "val" else order[:n_train]


@dataclass(frozen=True)
class Cifar10Folder:
    """CIFAR-10 read from ``folder`` (the ``cifar-10-batches-py`` folder); build one with :func:`load_cifar10`.

    Attributes:
        folder: The folder holding the pickle batches.
        stamp: Fingerprint of its files (names, sizes, modification times); part of every cache key.
        split_seed: Seeds the train/val split of the training images.
    """

    folder: Path
    stamp: str
    split_seed: int = 0

    name = "cifar10"
    class_names = CIFAR10_CLASSES

    def _set(self, split: str) -> tuple[Tensor, Tensor, Tensor | None]:
        """(images, labels) of the set ``split`` draws from, and the split's indices in it (None = all of it)."""
        images, labels = _load(self.folder, self.stamp)["test" if split == "test" else "train"]
        return images, labels, (None if split == "test" else _split_index(len(labels), self.split_seed, split))

    def describe(self) -> dict[str, Any]:
        return {"source": self.name, "path": str(self.folder.resolve()), "fingerprint": self.stamp,
                "val_fraction": VAL_FRACTION, "split_seed": self.split_seed}

    def labels(self, split: str) -> Tensor:
        """``(P,)`` int64 classes of the split's images (P = 45,000 / 5,000 / 10,000 for CIFAR-10)."""
        _, labels, index = self._set(split)
        return labels if index is None else labels[index]

    def render(self, split: str, ids: Tensor, image_size: int) -> Tensor:
        """Images ``ids`` (indices into :meth:`labels`) of ``split`` as RGB ``(len(ids), 3, S, S)`` float in [0, 1]
        (bilinear, antialiased resize when S is not 32)."""
        images, _, index = self._set(split)
        rgb = images[ids if index is None else index[ids]].float().div_(255.0)
        if image_size != 32:
            rgb = F.interpolate(rgb, size=(image_size, image_size), mode="bilinear", antialias=True,
                                align_corners=False).clamp_(0.0, 1.0)
        return rgb


def load_cifar10(root: str | Path, *, split_seed: int = 0) -> Cifar10Folder:
    """CIFAR-10 from ``root`` in torchvision's layout (``root/cifar-10-batches-py/``, or that folder itself).

    Never downloads. Raises a one-line DataError naming what is missing and how to get it; damaged files are
    reported when first read.
    """
    base = Path(root).expanduser()
    folder = base / FOLDER if (base / FOLDER).is_dir() else base
    if not folder.is_dir():
        raise DataError(f"No CIFAR-10 folder at {str(base)!r}: expected {HOW_TO_GET}.")
    missing = [name for name in FILES if not (folder / name).is_file()]
    if missing:
        raise DataError(f"The CIFAR-10 folder {str(folder)!r} lacks {', '.join(missing)}: expected {HOW_TO_GET}.")
    return Cifar10Folder(folder, fingerprint([folder / f for f in FILES], folder), split_seed)


def cifar_backgrounds(root: str | Path | None) -> Cifar10Folder | Cifar10StandIn:
    """CIFAR-10 from ``root`` (:func:`load_cifar10`), or the built-in stand-in when ``root`` is None."""
    return load_cifar10(root) if root is not None else Cifar10StandIn()
