"""What :func:`invmeter.data.build_split` needs from a dataset: a spec, a size, classes and a per-split plan."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from torch import Tensor

__all__ = ["BuildableDataset", "SplitPlan"]


@dataclass(frozen=True)
class SplitPlan:
    """Every random choice of one split, drawn up front, and how to render any part of it.

    Attributes:
        labels: ``(N,)`` int64 class indices of the split's images.
        render: ``render(part)`` -> RGB images ``(len(part), 3, S, S)`` float in [0, 1] for the images in the slice
            ``part``; a pure function of the plan (called from worker threads, in any order).
    """

    labels: Tensor
    render: Callable[[slice], Tensor]


@runtime_checkable
class BuildableDataset(Protocol):
    """A dataset that ``build_split`` renders, caches and ``train`` trains on (Transforms2D, PastedObjects).

    ``describe()`` must hold everything that determines the images (it keys the cache) and a ``"name"``, which
    names the cache subfolder.
    """

    image_size: int  # side of the square images, pixels

    @property
    def n_classes(self) -> int: ...

    @property
    def class_names(self) -> list[str]: ...

    def describe(self) -> dict[str, Any]: ...

    def split_plan(self, split: str, n: int, seed: int) -> SplitPlan:
        """The plan of ``n`` images of split ``split`` (``train``/``val``/``test``), every draw seeded by ``seed``."""
        ...
