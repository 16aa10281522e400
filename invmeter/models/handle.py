"""ModelHandle: a model travelling with its preprocessing and where its representation is read."""

from __future__ import annotations

import hashlib
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
    def architecture(self) -> str:
        """The architecture without its weights: ``timm:resnet18`` for ``timm:resnet18.a1_in1k``, a torchvision or
        ``cifar:`` spec, a checkpoint's recorded architecture (``cifar:resnet18?width=0.25``), else the module's
        class and a hash of its structure (``Sequential#3fa2b1c0``: its layers and their sizes)."""
        prefix, _, rest = self.name.partition(":")
        if prefix == "timm":
            return f"timm:{rest.partition('.')[0]}"
        if prefix in ("torchvision", "cifar"):
            return self.name
        arch, width = self.extra.get("arch"), self.extra.get("width", 1.0)
        if isinstance(arch, str) and ":" in arch:  # a checkpoint's recorded architecture
            return arch + (f"?width={width:g}" if arch.startswith("cifar:") and width != 1.0 else "")
        structure = hashlib.sha256(repr(self.model).encode()).hexdigest()[:8]  # layers and their sizes
        return f"{type(self.model).__qualname__}#{structure}"

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
