"""Data sources: Transforms-2D (built-in, procedural by default) and image folders, as controlled pairs."""

from typing import Any, Protocol

from torch import Tensor

from invmeter.data.backgrounds import ProceduralBackgrounds as ProceduralBackgrounds
from invmeter.data.folders import FolderPairs as FolderPairs
from invmeter.data.prototypes import ProceduralObjects as ProceduralObjects
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


__all__ = ["FolderPairs", "PairSource", "ProceduralBackgrounds", "ProceduralObjects", "Transforms2D", "Transforms2DPairs"]
