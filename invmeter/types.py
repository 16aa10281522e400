"""Values that cross module boundaries."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from torch import Tensor

__all__ = ["Representations"]


@dataclass(frozen=True)
class Representations:
    """Representations of both views of N controlled pairs.

    Attributes:
        clean: ``(N, D)`` float32 features of the untransformed views (``z_i``).
        transformed: ``(N, D)`` float32 features of the transformed views (``z'_i``).
        labels: ``(N,)`` int64 class labels of the data.
        logits_clean: ``(N, K)`` outputs of the model's own classifier where it has one, else ``None``.
        logits_transformed: Same for the transformed views.
        layer: Where the features were read (``pre_logits``, ``fc (input)``, a module name).
        layers: Layers kept in full: ``{layer name: (clean, transformed)}`` flattened features; else empty.
        seconds: Wall time spent rendering images and in forward passes.
        profile: Per-layer invariance terms ``{layer name: (d, r)}``, each ``(N,)``: paired distances and
            distances to the reference image; the representation's own layer comes last.
        reference: ``(N,)`` index of each image's reference for ``invariance`` (on Transforms-2D the same scene
            with another object); ``None``: a seeded random other image.
    """

    clean: Tensor
    transformed: Tensor
    labels: Tensor
    logits_clean: Tensor | None
    logits_transformed: Tensor | None
    layer: str
    layers: dict[str, tuple[Tensor, Tensor]]
    seconds: dict[str, float]
    profile: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    reference: Tensor | None = None

    def __len__(self) -> int:
        return len(self.labels)
