"""Values that cross module boundaries: a metric value with its interval, and cached representations."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from torch import Tensor

__all__ = ["LayerReducer", "MetricValue", "Representations"]


def _finite_or_none(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


@dataclass(frozen=True)
class MetricValue:
    """A metric value with its 95% bootstrap interval over images.

    Attributes:
        value: The estimate; NaN when the metric is undefined for this input (then ``reason`` says why).
        ci95: ``(lo, hi)``; NaN when there is no interval (no resamples, or an undefined value).
        reason: Why the value is undefined (e.g. constant representations), else ``None``.
    """

    value: float
    ci95: tuple[float, float]
    reason: str | None = None

    @classmethod
    def undefined(cls, reason: str) -> MetricValue:
        """A metric that has no value for this input, and why (never a number with a reading beside it)."""
        return cls(float("nan"), (float("nan"), float("nan")), reason)

    @property
    def defined(self) -> bool:
        return self.reason is None and math.isfinite(self.value)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: non-finite numbers become ``None``; an undefined value carries its ``reason``."""
        out: dict[str, Any] = {"value": _finite_or_none(self.value), "ci95": [_finite_or_none(v) for v in self.ci95]}
        if self.reason is not None:
            out["reason"] = self.reason
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MetricValue:
        lo, hi = (float("nan") if v is None else float(v) for v in d["ci95"])
        return cls(float("nan") if d["value"] is None else float(d["value"]), (lo, hi), d.get("reason"))


@dataclass(frozen=True)
class Representations:
    """Representations of both views of N controlled pairs.

    Attributes:
        clean: ``(N, D)`` float32 features of the untransformed views (``z_i``).
        transformed: ``(N, D)`` float32 features of the transformed views (``z'_i``).
        labels: ``(N,)`` int64 class labels of the data; ``None`` for unlabelled data.
        logits_clean: ``(N, K)`` outputs of the model's own classifier where it has one, else ``None``.
        logits_transformed: Same for the transformed views.
        layer: Where the features were read (the display name of ``readout``).
        layers: Layers kept in full: ``{layer name: (clean, transformed)}`` flattened features; else empty.
        seconds: Wall time spent rendering images and in forward passes.
        profile: Per-layer results of the layer reducers, ``{reducer name: {layer name: result}}``; the
            representation's own layer comes last.
        reference: ``(N,)`` index of each image's reference for ``invariance`` (on Transforms-2D the same scene
            with another object); ``None``: a seeded random other image.
        readout: The :class:`invmeter.models.Readout` the features were read from.
        redrawn: ``(N, D)`` features of a second transformed view of every image, the transform's parameters drawn
            again (the paper's pairing: ``paired_distance_ratio``); ``None`` when no metric asked for it.
    """

    clean: Tensor
    transformed: Tensor
    labels: Tensor | None
    logits_clean: Tensor | None
    logits_transformed: Tensor | None
    layer: str
    layers: dict[str, tuple[Tensor, Tensor]] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    profile: dict[str, dict[str, Any]] = field(default_factory=dict)
    reference: Tensor | None = None
    readout: Any = None
    redrawn: Tensor | None = None

    def __len__(self) -> int:
        return len(self.clean)

    @property
    def n_classes(self) -> int:
        return 0 if self.labels is None else int(np.unique(self.labels.numpy()).size)


class LayerReducer(Protocol):
    """A per-layer summary computed batch by batch during extraction (no layer is kept in full).

    ``update`` gets one batch of one layer's outputs ``(B, ...)`` for both views, as the layer returned them (on the
    model's device, in its memory format), and the batch-local index of each image's reference (``None``: the
    reducer chooses); ``result`` returns ``{layer: {metric: MetricValue}}``.
    """

    name: str

    def update(self, layer: str, clean: Tensor, transformed: Tensor, reference: Tensor | None) -> None: ...

    def result(self) -> dict[str, Any]: ...
