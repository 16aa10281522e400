"""The user's own images as controlled pairs: folders, ``Dataset``s, ``DataLoader``s and tensors.

Each image goes through the model's own resize and crop first, then the transform (in [0, 1] pixels, on the whole
image), then the model's normalisation (at extraction). A source gives images one at a time by index; labels are
optional (unlabelled data runs the label-free metrics only).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

import numpy as np
import torch
from torch import Tensor

from invmeter.data.folders import FolderImages
from invmeter.errors import DataError, InvalidParameterError

__all__ = ["ImageSource", "DatasetImages", "TensorImages", "ImagePairs", "RANDOM_REFERENCE"]

RANDOM_REFERENCE = "a random other image (seeded derangement)"


class ImageSource(Protocol):
    labels: Tensor | None  # (N,) int64, or None for unlabelled images
    class_names: list[str]

    def __len__(self) -> int: ...

    def load(self, i: int) -> Any:
        """Image ``i``: a PIL image, or a ``(3, H, W)`` tensor in [0, 1] (or uint8)."""
        ...

    def describe(self) -> dict[str, Any]: ...


def _as_image(item: Any, where: str) -> Any:
    """A PIL image or a (3, H, W) tensor from what a dataset returned (PIL, tensor, HWC uint8 array)."""
    from PIL import Image

    if isinstance(item, Image.Image):
        return item.convert("RGB")
    if isinstance(item, np.ndarray):
        if item.ndim == 3 and item.shape[-1] in (1, 3) and item.dtype == np.uint8:
            return torch.from_numpy(np.ascontiguousarray(item)).permute(2, 0, 1).expand(3, -1, -1)
        item = torch.from_numpy(item)
    if isinstance(item, Tensor):
        if item.dim() == 2:
            item = item.unsqueeze(0)
        if item.dim() != 3 or item.shape[0] not in (1, 3):
            raise DataError(f"{where} is a tensor of shape {tuple(item.shape)}; images must be (3, H, W) (or (1, H, W)).")
        if item.dtype != torch.uint8:
            item = item.float()
            _check_unit_range(item, where)
        return item.expand(3, -1, -1)
    raise DataError(f"{where} is a {type(item).__name__}; expected a PIL image, a (3, H, W) tensor or an HWC uint8 array.")


def _check_unit_range(images: Tensor, where: str) -> None:
    """Float pixels must be finite and in [0, 1] (not normalised): a one-line DataError naming ``where``."""
    if not bool(torch.isfinite(images).all()):
        raise DataError(f"{where} has NaN or infinite values; images must be finite, in [0, 1].")
    lo, hi = float(images.min()), float(images.max())
    if lo < -1e-3 or hi > 1 + 1e-3:
        raise DataError(f"{where} has values in [{lo:.3g}, {hi:.3g}]; images must be in [0, 1] and not "
                        "normalised (invmeter applies the model's normalisation after the transform). Remove "
                        "Normalize from the dataset's transform.")


class DatasetImages:
    """A map-style ``torch.utils.data.Dataset`` yielding ``(image, label)`` or an image (unlabelled)."""

    def __init__(self, dataset: Any) -> None:
        try:
            n = len(dataset)
        except TypeError:
            raise InvalidParameterError(f"The dataset {type(dataset).__name__} has no length; give a map-style "
                                        "Dataset (with __len__ and __getitem__) or a tensor.") from None
        if n == 0:
            raise DataError(f"The dataset {type(dataset).__name__} is empty.")
        self.dataset = dataset
        try:
            first = dataset[0]
        except Exception as exc:  # noqa: BLE001 - the user's dataset cannot give an item: say so in one line
            raise DataError(f"Reading item 0 of the dataset {type(dataset).__name__} failed ({exc.__class__.__name__}: "
                            f"{str(exc)[:200]}).") from None
        labelled = isinstance(first, (tuple, list)) and len(first) >= 2
        self.labels = _dense(_dataset_labels(dataset, n)) if labelled else None
        classes = getattr(dataset, "classes", None)
        self.class_names = [str(c) for c in classes] if classes is not None and self.labels is not None else (
            [str(c) for c in range(int(self.labels.max()) + 1)] if self.labels is not None else [])
        self._n = n

    def __len__(self) -> int:
        return self._n

    def load(self, i: int) -> Any:
        item = self.dataset[i]
        return _as_image(item[0] if self.labels is not None else item, f"Item {i} of the dataset")

    def describe(self) -> dict[str, Any]:
        return {"name": "dataset", "type": type(self.dataset).__name__, "class_names": self.class_names}


def _dataset_labels(dataset: Any, n: int) -> Tensor:
    """The labels of a labelled dataset: its ``targets`` (torchvision datasets) or ``tensors[1]`` (TensorDataset)
    when it has them, else read item by item (which loads every image once)."""
    for known in (getattr(dataset, "targets", None), (getattr(dataset, "tensors", None) or (None, None))[1]):
        if known is not None and len(known) == n:
            return torch.as_tensor(known, dtype=torch.int64).reshape(-1)
    return torch.tensor([int(dataset[i][1]) for i in range(n)], dtype=torch.int64)


def _dense(labels: Tensor) -> Tensor:
    """Labels must be class indices 0..K-1 (negative labels are refused)."""
    if len(labels) and int(labels.min()) < 0:
        raise DataError(f"Labels must be class indices >= 0; got {int(labels.min())}.")
    return labels


class TensorImages:
    """A tensor ``(N, 3, H, W)`` of images in [0, 1] (or uint8), with optional labels ``(N,)``."""

    def __init__(self, images: Tensor, labels: Tensor | Sequence[int] | None = None) -> None:
        if not isinstance(images, Tensor) or images.dim() != 4 or images.shape[1] not in (1, 3) or not len(images):
            shape = tuple(images.shape) if isinstance(images, Tensor) else type(images).__name__
            raise DataError(f"Image tensors must be (N, 3, H, W) with N >= 1; got {shape}.")
        if images.dtype != torch.uint8:
            _check_unit_range(images, "The image tensor")  # all at once, before any work
        self.images = images
        self.labels = None if labels is None else _dense(torch.as_tensor(labels, dtype=torch.int64).reshape(-1))
        if self.labels is not None and len(self.labels) != len(images):
            raise DataError(f"Got {len(images)} images but {len(self.labels)} labels.")
        self.class_names = [] if self.labels is None else [str(c) for c in range(int(self.labels.max()) + 1)]

    def __len__(self) -> int:
        return len(self.images)

    def load(self, i: int) -> Any:
        return _as_image(self.images[i], f"Image {i} of the tensor")

    def describe(self) -> dict[str, Any]:
        return {"name": "tensor", "shape": list(self.images.shape), "dtype": str(self.images.dtype)}


def image_source(data: Any) -> FolderImages | DatasetImages | TensorImages:
    """A folder path, a Dataset, a DataLoader (its map-style dataset), a tensor or ``(images, labels)`` as a source."""
    from pathlib import Path

    from torch.utils.data import DataLoader, IterableDataset

    if isinstance(data, (str, Path)):
        return FolderImages(data)
    if isinstance(data, DataLoader):
        if isinstance(data.dataset, IterableDataset):
            raise InvalidParameterError("An iterable-style DataLoader cannot be indexed; give a map-style Dataset, "
                                        "a DataLoader over one, or a tensor.")
        return DatasetImages(data.dataset)
    if isinstance(data, Tensor):
        return TensorImages(data)
    if isinstance(data, tuple) and len(data) == 2 and isinstance(data[0], Tensor):
        return TensorImages(data[0], data[1])
    if hasattr(data, "__getitem__") and hasattr(data, "__len__") and not isinstance(data, (dict, str, bytes)):
        return DatasetImages(data)
    raise InvalidParameterError(f"The 'data' parameter must be 'transforms2d', a Transforms2D dataset, a folder, a "
                                f"Dataset, a DataLoader or a tensor (N, 3, H, W). Got {type(data).__name__}.")


class ImagePairs:
    """Controlled pairs from an :class:`ImageSource`: image i (resized and cropped by ``prepare``) and T(image i),
    T drawn per image from ``seed``. ``n`` keeps a seeded subset."""

    reference = None  # invariance compares with a random other image: the whole image is the content

    def __init__(self, source: Any, transform: Any, prepare: Callable[[Any], Tensor], n: int | None = None,
                 seed: int = 0) -> None:
        generator = torch.Generator().manual_seed(seed)
        order = torch.randperm(len(source), generator=generator)
        if n is not None:
            if n > len(source):
                raise InvalidParameterError(f"The 'n_images' parameter asks for {n} images but the data has "
                                            f"{len(source)}. Use at most {len(source)}.")
            order = order[:n]
        self.source, self.prepare, self.transform = source, prepare, transform
        self.index = order.sort().values
        self.labels = source.labels[self.index] if source.labels is not None else None
        self.class_names = source.class_names
        self.probe = transform.sample(len(self.index), generator)
        self.io_bound = getattr(source, "io_bound", False)

    def __len__(self) -> int:
        return len(self.index)

    def batches(self, batch_size: int) -> list[tuple[slice, Tensor | None]]:
        return [(slice(s, min(s + batch_size, len(self))), None) for s in range(0, len(self), batch_size)]

    def describe(self) -> dict[str, Any]:
        out = {**self.source.describe(), "n_images": len(self), "level": "image",
               "invariance_reference": RANDOM_REFERENCE}
        out["n_classes"] = len(self.class_names) if self.labels is not None else None
        return out

    def render(self, index: slice) -> tuple[Tensor, Tensor]:
        """Clean and transformed views ``(B, 3, H, W)`` in [0, 1] for pairs ``index``."""
        clean = torch.stack([self.prepare(self.source.load(int(i))) for i in self.index[index]])
        return clean, self.transform.apply(clean, self.probe[index])
