"""ModelHandle: a model travelling with its preprocessing and where its representation is read."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from torch import nn

from invmeter.models.preprocessing import Preprocessing
from invmeter.models.readout import Readout

__all__ = ["ModelHandle"]


@dataclass(frozen=True)
class ModelHandle:
    """A model ready for feature extraction.

    Attributes:
        model: The module (the caller's own object for a module passed in: invmeter returns it untouched).
        name: Canonical spec, e.g. ``"timm:resnet18.a1_in1k"``.
        weights: What the weights are: ``"pretrained:<tag>"``, ``"random-init"``, ``"file:<path>"``, ``"as-given"``.
        preprocessing: The model's own resize, crop and normalisation.
        readout: Where the default representation is read.
        num_classes: Size of the model's own classifier output (0 if none).
        label_names: The classifier's class names where known (e.g. ImageNet), else empty.
        extra: Anything else worth recording (architecture, width, checkpoint metadata, initialisation).
    """

    model: nn.Module
    name: str
    weights: str
    preprocessing: Preprocessing
    readout: Readout
    num_classes: int = 0
    label_names: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def input_size(self) -> tuple[int, int]:
        return self.preprocessing.input_size

    @property
    def mean(self) -> tuple[float, ...] | None:
        return self.preprocessing.mean

    @property
    def std(self) -> tuple[float, ...] | None:
        return self.preprocessing.std

    @property
    def layer(self) -> str:
        """The default readout's display name."""
        return self.readout.name

    def describe(self, rendered: bool = False) -> dict[str, Any]:
        """The model's record; ``rendered``: its images were rendered at its input size (no resize or crop ran,
        :meth:`Preprocessing.describe`)."""
        return {
            "name": self.name,
            "weights": self.weights,
            "layer": self.readout.name,
            "input_size": list(self.input_size),
            "parameters": sum(p.numel() for p in self.model.parameters()),
            "preprocessing": self.preprocessing.describe(rendered=rendered),
            **({"extra": self.extra} if self.extra else {}),
        }
