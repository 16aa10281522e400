"""Data sources: Transforms-2D (built-in, procedural by default) and image folders, as controlled pairs; built
(cached) Transforms-2D splits; experiment design in :mod:`invmeter.data.design`."""

from typing import Any, Protocol

from torch import Tensor

from invmeter.data.backgrounds import (
    PhotoBackgrounds as PhotoBackgrounds,
    ProceduralBackgrounds as ProceduralBackgrounds,
    load_background_source as load_background_source,
)
from invmeter.data.build import (
    SPLIT_SEED_OFFSETS as SPLIT_SEED_OFFSETS,
    SPLIT_SIZES as SPLIT_SIZES,
    BuiltSplit as BuiltSplit,
    build_split as build_split,
)
from invmeter.data.folders import FolderPairs as FolderPairs
from invmeter.data.prototypes import (
    ImageObjects as ImageObjects,
    ProceduralObjects as ProceduralObjects,
    load_object_source as load_object_source,
)
from invmeter.data.transforms2d import Transforms2D as Transforms2D, Transforms2DPairs as Transforms2DPairs


class PairSource(Protocol):
    """N controlled pairs with labels, rendered lazily in batches (both views of image i differ only by t_i)."""

    labels: Tensor  # (N,) int64
    class_names: list[str]

    def __len__(self) -> int: ...

    def render(self, index: slice) -> tuple[Tensor, Tensor]:
        """Clean and transformed RGB views ``(B, 3, S, S)`` in [0, 1] for pairs ``index``."""
        ...

    def describe(self) -> dict[str, Any]:
        """The data spec, for provenance."""
        ...


__all__ = [
    "SPLIT_SEED_OFFSETS",
    "SPLIT_SIZES",
    "BuiltSplit",
    "FolderPairs",
    "ImageObjects",
    "PairSource",
    "PhotoBackgrounds",
    "ProceduralBackgrounds",
    "ProceduralObjects",
    "Transforms2D",
    "Transforms2DPairs",
    "build_split",
    "load_background_source",
    "load_object_source",
]
