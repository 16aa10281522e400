"""Transformation families, specs and batched kernels (see ``invmeter transforms`` for the list)."""

from invmeter.transforms.families import PAPER_FAMILIES as PAPER_FAMILIES  # registers the built-in families
from invmeter.transforms.registry import (
    TransformFamily as TransformFamily,
    get_family as get_family,
    list_transforms as list_transforms,
    register_family as register_family,
)
from invmeter.transforms.spec import (
    SampledTransforms as SampledTransforms,
    TransformSpec as TransformSpec,
    TransformStep as TransformStep,
    apply_transforms as apply_transforms,
    parse_dataset_transform as parse_dataset_transform,
    parse_transform as parse_transform,
    parse_transform_list as parse_transform_list,
)

__all__ = [
    "PAPER_FAMILIES",
    "SampledTransforms",
    "TransformFamily",
    "TransformSpec",
    "TransformStep",
    "apply_transforms",
    "get_family",
    "list_transforms",
    "parse_dataset_transform",
    "parse_transform",
    "parse_transform_list",
    "register_family",
]
