"""Data sources: Transforms-2D (built-in, procedural by default) and image folders, as controlled pairs; CIFAR-10
(a local folder, or a built-in stand-in) with pasted objects; built (cached) splits of either; experiment design
in :mod:`invmeter.data.design`."""

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
    BuildableDataset as BuildableDataset,
    BuiltSplit as BuiltSplit,
    SplitPlan as SplitPlan,
    build_split as build_split,
)
from invmeter.data.cifar import (
    Cifar10Folder as Cifar10Folder,
    cifar_backgrounds as cifar_backgrounds,
    load_cifar10 as load_cifar10,
)
from invmeter.data.folders import FolderImages as FolderImages
from invmeter.data.images import (
    DatasetImages as DatasetImages,
    ImagePairs as ImagePairs,
    TensorImages as TensorImages,
    image_source as image_source,
)
from invmeter.data.pasted import PastedObjects as PastedObjects
from invmeter.data.prototypes import (
    ImageObjects as ImageObjects,
    ProceduralObjects as ProceduralObjects,
    load_object_source as load_object_source,
)
from invmeter.data.standin import Cifar10StandIn as Cifar10StandIn
from invmeter.data.transforms2d import Transforms2D as Transforms2D, Transforms2DPairs as Transforms2DPairs


class PairSource(Protocol):
    """N controlled pairs with labels, rendered lazily in batches (both views of image i differ only by t_i).

    The source owns its batch layout: ``batches(batch_size)`` gives the batches to render, each with its images'
    references as indices into the batch (``None``: the reducers choose a random other image of the batch).
    """

    labels: Tensor | None  # (N,) int64, or None for unlabelled images
    class_names: list[str]
    # (N,) int64 index of each image's reference for `invariance`: an image of the same batch-aligned twin
    # (i ^ 1) that differs from it only in content; None: a seeded random other image
    reference: Tensor | None
    transform: Any  # the probed transform (a TransformSpec or a callable transform)
    probe: Any  # its per-image draws (``transform.sample(N, generator)``), which render() applies

    def __len__(self) -> int: ...

    def batches(self, batch_size: int) -> list[tuple[slice, Tensor | None]]: ...

    def render(self, index: slice) -> tuple[Tensor, Tensor]:
        """Clean and transformed RGB views ``(B, 3, S, S)`` in [0, 1] for pairs ``index``."""
        ...

    def describe(self) -> dict[str, Any]:
        """The data spec, for provenance."""
        ...


__all__ = [
    "SPLIT_SEED_OFFSETS",
    "SPLIT_SIZES",
    "BuildableDataset",
    "BuiltSplit",
    "Cifar10Folder",
    "Cifar10StandIn",
    "DatasetImages",
    "FolderImages",
    "ImagePairs",
    "TensorImages",
    "ImageObjects",
    "PairSource",
    "PastedObjects",
    "PhotoBackgrounds",
    "ProceduralBackgrounds",
    "ProceduralObjects",
    "SplitPlan",
    "Transforms2D",
    "Transforms2DPairs",
    "build_split",
    "image_source",
    "cifar_backgrounds",
    "load_background_source",
    "load_cifar10",
    "load_object_source",
]
