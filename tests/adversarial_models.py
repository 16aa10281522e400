"""Odd models for the adversarial suite, as ``adversarial_models:NAME`` factory specs (tests/ is on sys.path).

Each factory builds a tiny model with a known, constructed defect or property. ``BUILT`` counts the models built
and ``CALLS`` the forward passes of the counted ones, so a test can assert that a refusal came before any work.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

BUILT = {"n": 0}


def _seeded_conv(out: int = 6) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, out, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten())


class _Counted(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        BUILT["n"] += 1


class Features(_Counted):
    """A fixed random conv net: 24 features, not invariant to anything in particular."""

    def __init__(self) -> None:
        super().__init__()
        self.body = _seeded_conv()

    def forward(self, x: Tensor) -> Tensor:
        return self.body(x)


class Classifier(_Counted):
    """The conv features and a 5-class linear head (so the readout is the head's input, with logits)."""

    def __init__(self) -> None:
        super().__init__()
        self.body = _seeded_conv()
        torch.manual_seed(1)
        self.fc = nn.Linear(24, 5)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.body(x))


class HFlipInvariant(_Counted):
    """``h(x) + h(hflip(x))``: exactly invariant to horizontal flips (floating-point addition commutes)."""

    def __init__(self) -> None:
        super().__init__()
        self.body = _seeded_conv()

    def forward(self, x: Tensor) -> Tensor:
        return self.body(x) + self.body(x.flip(-1))


class NaNRows(Features):
    """Every third image's representation is NaN (the issue's "one NaN row in three")."""

    def forward(self, x: Tensor) -> Tensor:
        z = self.body(x).clone()
        z[::3] = float("nan")
        return z


class InfOutput(Features):
    def forward(self, x: Tensor) -> Tensor:
        z = self.body(x).clone()
        z[:, 0] = float("inf")
        return z


class Constant(_Counted):
    """The same representation for every image: blind to content, so no metric has a meaning."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.ones(4))

    def forward(self, x: Tensor) -> Tensor:
        return self.w.expand(len(x), 4) * 1.0


class ConstantClassifier(Constant):
    """Constant features and a linear head on them: constant logits too."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 3)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(super().forward(x))


class UnusedLinear(Features):
    """Owns an ``nn.Linear`` that forward() never calls (the issue's KeyError in feature extraction)."""

    def __init__(self) -> None:
        super().__init__()
        self.unused = nn.Linear(24, 3)


class OneChannel(_Counted):
    """Expects grayscale (1-channel) input: invmeter feeds RGB."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(x).flatten(1)


class Scalar(Features):
    def forward(self, x: Tensor) -> Tensor:
        return self.body(x).sum()


class DictNoTensor(Features):
    def forward(self, x: Tensor) -> dict[str, object]:
        self.body(x)
        return {"label": "cat", "score": 1.0}


class DictOfTensors(Features):
    """Returns ``{"features": z, "extra": ...}``: the first tensor is the representation."""

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        return {"features": self.body(x), "norm": self.body(x).norm(dim=1)}


class TupleOutput(Features):
    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        return self.body(x), x.mean()


class OneFeature(Features):
    """A 1-dimensional representation: the mean of the 24 features (still a valid measurement)."""

    def forward(self, x: Tensor) -> Tensor:
        return self.body(x).mean(dim=1, keepdim=True)


class NoFeatures(Features):
    """An empty representation ``(N, 0)``."""

    def forward(self, x: Tensor) -> Tensor:
        return self.body(x)[:, :0]


class OneDimensional(Features):
    """Returns ``(N,)``: one number per image, not a vector."""

    def forward(self, x: Tensor) -> Tensor:
        return self.body(x).sum(dim=1)


class WrongBatch(Features):
    """Returns one row whatever the batch: the rows no longer match the images."""

    def forward(self, x: Tensor) -> Tensor:
        return self.body(x)[:1]


class Raises(Features):
    def forward(self, x: Tensor) -> Tensor:
        raise RuntimeError("boom: this model is broken")


class Interrupts(Features):
    """Ctrl-C during the first forward pass."""

    def forward(self, x: Tensor) -> Tensor:
        raise KeyboardInterrupt


class IntegerOutput(Features):
    """Integer features (e.g. a quantised model): read as floats."""

    def forward(self, x: Tensor) -> Tensor:
        return (self.body(x) * 1000).round().to(torch.int64)


class HalfOutput(Features):
    def forward(self, x: Tensor) -> Tensor:
        return self.body(x).half()


def features() -> nn.Module:
    return Features()


def classifier() -> nn.Module:
    return Classifier()


def hflip_invariant() -> nn.Module:
    return HFlipInvariant()


def nan_rows() -> nn.Module:
    return NaNRows()


def inf_output() -> nn.Module:
    return InfOutput()


def constant() -> nn.Module:
    return Constant()


def constant_classifier() -> nn.Module:
    return ConstantClassifier()


def unused_linear() -> nn.Module:
    return UnusedLinear()


def one_channel() -> nn.Module:
    return OneChannel()


def scalar() -> nn.Module:
    return Scalar()


def dict_no_tensor() -> nn.Module:
    return DictNoTensor()


def dict_of_tensors() -> nn.Module:
    return DictOfTensors()


def tuple_output() -> nn.Module:
    return TupleOutput()


def one_feature() -> nn.Module:
    return OneFeature()


def no_features() -> nn.Module:
    return NoFeatures()


def one_dimensional() -> nn.Module:
    return OneDimensional()


def wrong_batch() -> nn.Module:
    return WrongBatch()


def raises() -> nn.Module:
    return Raises()


def interrupts() -> nn.Module:
    return Interrupts()


def integer_output() -> nn.Module:
    return IntegerOutput()


def half_output() -> nn.Module:
    return HalfOutput()


def not_a_module() -> object:
    return "resnet18"


def needs_arguments(width: int) -> nn.Module:
    return Features()


def factory_raises() -> nn.Module:
    raise RuntimeError("cannot build: missing config file")


NOT_CALLABLE = 42
