"""The measurement plan: everything one model's measurements need, resolved once.

The API resolves the user's strings and objects into a :class:`Request` (models checked but not built, transforms
with their metric plans, data, settings, device, probe solver) before any model is loaded or image read, then
builds one :class:`MeasurementPlan` per model (the model built once, its layers and label map resolved).
:func:`invmeter.pipeline.measure.measure` and everything below it take the plan and resolve nothing again.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch

from invmeter.data import Transforms2D
from invmeter.models import ModelHandle, Readout
from invmeter.models.sources import ModelSource
from invmeter.pipeline.settings import ScoreSettings

__all__ = ["Data", "MetricPlan", "PlannedTransform", "ModelRef", "MeasurementPlan", "Request"]


@dataclass(frozen=True)
class Data:
    """Resolved data: the built-in Transforms-2D dataset, or an image source (folder, Dataset, tensor)."""

    transforms2d: Transforms2D | None = None
    images: Any = None

    @property
    def labelled(self) -> bool:
        return self.transforms2d is not None or self.images.labels is not None

    @property
    def class_names(self) -> list[str]:
        return self.transforms2d.class_names if self.transforms2d is not None else list(self.images.class_names)

    def n_pairs(self, settings: ScoreSettings) -> int:
        """The controlled pairs a measurement of this data makes with ``settings``."""
        if self.transforms2d is not None:
            return settings.n_pairs(self.transforms2d.n_classes)
        return settings.n_images if settings.n_images is not None else len(self.images)


@dataclass(frozen=True)
class MetricPlan:
    """The metrics computed for one transform, and those skipped with why (they do not apply here)."""

    computed: tuple[str, ...]
    skipped: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PlannedTransform:
    """One transform of a plan (a :class:`~invmeter.transforms.TransformSpec` or a callable), its metric plan, the
    group its report belongs to (one per transform the user gave; a sweep's magnitudes share one) and, for a sweep
    entry, its fixed magnitude."""

    transform: Any
    metrics: MetricPlan
    group: int = 0
    magnitude: float | None = None
    magnitude_units: str | None = None


@dataclass(frozen=True)
class ModelRef:
    """A model argument checked without building it: a spec string with the source it routes to, or a module or
    :class:`ModelHandle` the user gave."""

    model: Any
    route: tuple[ModelSource, str] | None = None


@dataclass(frozen=True)
class MeasurementPlan:
    """One model's measurements, resolved: what every lower function takes.

    Attributes:
        handle: The model, built once, with its preprocessing and readout.
        transforms: The transforms, each with its metric plan; their clean views are the same images.
        data: The resolved data.
        settings: The validated settings.
        device: Where the model runs (``auto`` resolved).
        solver: The probe solver (``auto`` resolved for this many pairs).
        readout: The module the representation is read from (``settings.layer``), or ``None``: the handle's.
        profile: The modules of a per-layer profile (``settings.layers`` resolved), else empty.
        class_map: The data's classes in the model's label set (``labels="model"``), else ``None``.
        weight_notes: What the report must say about the weights (e.g. random init under ``auto``); warned once,
            when the model was built.
    """

    handle: ModelHandle
    transforms: tuple[PlannedTransform, ...]
    data: Data
    settings: ScoreSettings
    device: torch.device
    solver: str
    readout: Readout | None = None
    profile: tuple[str, ...] = ()
    class_map: np.ndarray | None = None
    weight_notes: tuple[str, ...] = ()

    def with_handle(self, handle: ModelHandle) -> MeasurementPlan:
        """The same plan for another copy of the architecture (the random-init baseline): same layers, no notes."""
        return replace(self, handle=handle, weight_notes=())


@dataclass(frozen=True)
class Request:
    """Everything checked before any model is loaded: each model (checked, not built), the transforms with their
    metric plans, the data, the settings, the device and the probe solver. :meth:`plans` builds the models one at
    a time (:func:`invmeter.pipeline.prepare.plan_for`)."""

    models: tuple[ModelRef, ...]
    transforms: tuple[PlannedTransform, ...]
    data: Data
    settings: ScoreSettings
    device: torch.device
    solver: str

    def plans(self) -> Iterator[MeasurementPlan]:
        """One plan per model, in order, each model built when its turn comes."""
        from invmeter.pipeline.prepare import plan_for

        for ref in self.models:
            yield plan_for(self, ref)
