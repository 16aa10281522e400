"""The user's own images as controlled pairs: folders, ``Dataset``s, ``DataLoader``s and tensors.

Each image is read by the folder reader's rules (:mod:`invmeter.data.pixels`: bit depth, mode, range, alpha), goes
through the model's own resize and crop, then the transform (in [0, 1] pixels, on the whole image), then the model's
normalisation (at extraction). A source gives images one at a time by index; labels are
optional (unlabelled data runs the label-free metrics only).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

import numpy as np
import torch
from torch import Tensor

from invmeter.data.folders import FolderImages
from invmeter.data.pixels import as_image, check_pixels
from invmeter.errors import DataError, InvalidParameterError

__all__ = ["RANDOM_REFERENCE", "DatasetImages", "ImagePairs", "ImageSource", "TensorImages", "class_indices"]

RANDOM_REFERENCE = "a random other image (seeded derangement)"


class ImageSource(Protocol):
    labels: Tensor | None  # (N,) int64, or None for unlabelled images
    class_names: list[str]

    def __len__(self) -> int: ...

    def load(self, i: int) -> Any:
        """Image ``i`` as the folder reader gives it: an 8-bit RGB PIL image, or a ``(3, H, W)`` float tensor in
        [0, 1] (:func:`invmeter.data.pixels.as_image`)."""
        ...

    def describe(self) -> dict[str, Any]: ...


class DatasetImages:
    """A map-style ``torch.utils.data.Dataset`` yielding ``(image, label)`` or an image (unlabelled); ``indices``
    keeps those items only (a DataLoader's sampler). Each image goes through :func:`~invmeter.data.pixels.as_image`
    (the folder reader's rules); an item that cannot be read is a one-line DataError naming it."""

    def __init__(self, dataset: Any, indices: Sequence[int] | None = None) -> None:
        try:
            n = len(dataset)
        except TypeError:
            raise InvalidParameterError(f"The dataset {type(dataset).__name__} has no length; give a map-style "
                                        "Dataset (with __len__ and __getitem__) or a tensor.") from None
        self.dataset, self.indices = dataset, list(range(n)) if indices is None else list(indices)
        if not self.indices:
            raise DataError(f"The dataset {type(dataset).__name__} is empty.")
        first = self._item(0)
        labelled = isinstance(first, (tuple, list)) and len(first) >= 2
        self.labels = self._labels(n) if labelled else None
        classes = getattr(dataset, "classes", None)
        self.class_names = [str(c) for c in classes] if classes is not None and self.labels is not None else (
            [str(c) for c in range(int(self.labels.max()) + 1)] if self.labels is not None else [])

    def __len__(self) -> int:
        return len(self.indices)

    def _item(self, i: int) -> Any:
        try:
            return self.dataset[self.indices[i]]
        except Exception as exc:  # noqa: BLE001 - the user's dataset cannot give an item: say so in one line
            first = (str(exc).strip().splitlines() or [""])[0][:200]
            raise DataError(f"Reading item {self.indices[i]} of the dataset {type(self.dataset).__name__} failed "
                            f"({exc.__class__.__name__}: {first}).") from None

    def _labels(self, n: int) -> Tensor:
        """Its ``targets`` (torchvision datasets) or ``tensors[1]`` (TensorDataset) when it has them, else each item's
        second element (which loads every image once): integer class indices, else a one-line DataError."""
        tensors = getattr(self.dataset, "tensors", None) or (None, None)
        for known in (getattr(self.dataset, "targets", None), tensors[1]):
            if known is not None and len(known) == n:
                return class_indices([known[i] for i in self.indices], "The dataset's targets")
        return class_indices([self._item(i)[1] for i in range(len(self))], "The dataset's labels",
                             [f"item {i}" for i in self.indices])

    def load(self, i: int) -> Any:
        item = self._item(i)
        return as_image(item[0] if self.labels is not None else item, f"item {self.indices[i]} of the dataset")

    def describe(self) -> dict[str, Any]:
        out = {"name": "dataset", "type": type(self.dataset).__name__, "class_names": self.class_names}
        if len(self.indices) != len(self.dataset):
            out["items"] = f"{len(self.indices)} of {len(self.dataset)} (the DataLoader's sampler)"
        return out


def class_indices(values: Sequence[Any] | Tensor, what: str, names: Sequence[str] | None = None) -> Tensor:
    """Labels as ``(N,)`` int64 class indices >= 0: integers (Python, numpy or 0-d integer tensors) only; a string,
    a float (it would be truncated) or a negative value is a one-line DataError naming the first one (``names``:
    each label's item)."""
    if isinstance(values, Tensor) and values.dim() == 1 and not values.dtype.is_floating_point and \
            values.dtype != torch.bool:
        labels = values.detach().cpu().to(torch.int64)
    else:
        out = []
        for k, value in enumerate(values):
            one = isinstance(value, Tensor) and value.numel() == 1 or isinstance(value, (np.ndarray, np.generic)) \
                and value.size == 1
            v = value.item() if one else value
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool):
                where = f" ({names[k]})" if names else f" (label {k})"
                shown = f"{type(v).__name__} {v!r}"[:80]
                raise DataError(f"{what} must be integer class indices 0..K-1; got the {shown}{where}. Map class names "
                                "to indices (e.g. classes.index(name)) and give whole numbers as ints, not floats.")
            out.append(int(v))
        labels = torch.tensor(out, dtype=torch.int64)
    if len(labels) and int(labels.min()) < 0:
        raise DataError(f"Labels must be class indices >= 0; got {int(labels.min())}.")
    return labels


class TensorImages:
    """A tensor ``(N, C, H, W)`` of images (uint8, uint16 or float in [0, 1]; C = 1 to 4), with optional labels
    ``(N,)``; every image is checked at once, before any work."""

    def __init__(self, images: Tensor, labels: Tensor | Sequence[int] | None = None) -> None:
        if not isinstance(images, Tensor) or images.dim() != 4 or not len(images):
            shape = tuple(images.shape) if isinstance(images, Tensor) else type(images).__name__
            raise DataError(f"Image tensors must be (N, 3, H, W) with N >= 1; got {shape}.")
        self.dtype = str(images.dtype)  # as given (the checked images are uint8 or float32)
        self.images = check_pixels(images, "the image tensor")
        self.labels = None if labels is None else class_indices(
            labels.reshape(-1) if isinstance(labels, Tensor) else labels, "The labels")
        if self.labels is not None and len(self.labels) != len(images):
            raise DataError(f"Got {len(images)} images but {len(self.labels)} labels.")
        self.class_names = [] if self.labels is None else [str(c) for c in range(int(self.labels.max()) + 1)]

    def __len__(self) -> int:
        return len(self.images)

    def load(self, i: int) -> Any:
        return as_image(self.images[i], f"image {i} of the tensor")

    def describe(self) -> dict[str, Any]:
        return {"name": "tensor", "shape": list(self.images.shape), "dtype": self.dtype}


def _sampled(loader: Any) -> list[int] | None:
    """The dataset items a DataLoader's sampler visits (``None``: every item, in any order: a sequential or a
    without-replacement random sampler over the whole dataset); a sampler that repeats items is refused. A random
    sampler is read under a forked global RNG (the caller's random state is left as it was)."""
    from torch.utils.data import BatchSampler, RandomSampler, SequentialSampler

    sampler, batches = loader.sampler, loader.batch_sampler
    whole = isinstance(sampler, SequentialSampler) or (isinstance(sampler, RandomSampler) and not sampler.replacement
                                                       and sampler.num_samples == len(loader.dataset))
    if whole and (batches is None or (type(batches) is BatchSampler and batches.sampler is sampler
                                      and not batches.drop_last)):
        return None
    with torch.random.fork_rng(devices=[]):
        indices = [int(i) for batch in (batches if batches is not None else ([i] for i in sampler)) for i in batch]
    if len(set(indices)) != len(indices):
        raise InvalidParameterError(f"The DataLoader's sampler ({type(sampler).__name__}) visits some items more than "
                                    "once (drawn with replacement); invmeter measures each image once: give a sampler "
                                    "without replacement, a Subset, or the Dataset itself.")
    return sorted(indices)


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
        return DatasetImages(data.dataset, _sampled(data))
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
