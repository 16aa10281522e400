"""ModelHandle: a model travelling with its preprocessing and where its representation is read."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from torch import nn

__all__ = ["ModelHandle"]


@dataclass(frozen=True)
class ModelHandle:
    """A model ready for feature extraction.

    Attributes:
        model: The module, in ``eval()`` mode.
        name: Canonical spec, e.g. ``"timm:resnet18"``.
        weights: What the weights are: ``"pretrained:<tag>"``, ``"random-init"`` or ``"file:<path>"``.
        input_size: ``(H, W)`` the model expects; images are rendered at this size.
        mean: Per-channel normalisation mean, applied after transforms (``None`` = no normalisation).
        std: Per-channel normalisation std.
        kind: How the default representation is read: ``"timm"`` (``forward_head(pre_logits=True)``),
            ``"linear-input"`` (input of the last ``nn.Linear``, which must produce the output) or
            ``"output"`` (the model's output itself).
        layer: Human-readable name of where the default representation comes from.
        num_classes: Size of the model's own classifier output (0 if none).
        label_names: The classifier's class names where known (e.g. ImageNet), else empty.
        extra: Anything else worth recording (interpolation, crop, checkpoint metadata).
    """

    model: nn.Module
    name: str
    weights: str
    input_size: tuple[int, int]
    mean: tuple[float, ...] | None
    std: tuple[float, ...] | None
    kind: str
    layer: str
    num_classes: int = 0
    label_names: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "weights": self.weights,
            "layer": self.layer,
            "input_size": list(self.input_size),
            "preprocessing": {"mean": self.mean, "std": self.std, "order": "transform in [0, 1] pixels, then normalise"},
            **({"extra": self.extra} if self.extra else {}),
        }
