"""The paper's CIFAR architectures (32x32 inputs, 3x3 stem), with a width multiplier for CPU presets.

Structure follows the widely used CIFAR variants the paper trained (ResNet-18, VGG-11 with batch norm,
DenseNet-121 "cifar" with growth rate 12). Written for invmeter. Every model ends in global average pooling and
one ``nn.Linear`` called ``linear``, whose input is the representation.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from invmeter._utils.validation import unknown_name
from invmeter.errors import InvalidParameterError
from invmeter.models.handle import ModelHandle
from invmeter.models.preprocessing import plain_preprocessing
from invmeter.models.readout import Readout
from invmeter.models.weights import load_weights_into, weights_unavailable

__all__ = ["CIFAR_ARCHS", "create_cifar_model", "cifar_handle", "check_arch_image_size", "CIFAR_MEAN", "CIFAR_STD"]

CIFAR_MEAN = (0.5, 0.5, 0.5)  # the paper's Normalize(0.5, 0.5)
CIFAR_STD = (0.5, 0.5, 0.5)


def _ch(channels: int, width: float) -> int:
    return max(4, int(round(channels * width)))


class _BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: Tensor) -> Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class CifarResNet18(nn.Module):
    """ResNet-18 for 32x32 images: 3x3 stem, no max-pool, stages of 2 basic blocks, global average pool."""

    MIN_SIZE = 1  # padded stride-2 convolutions shrink any input to at least 1 pixel

    def __init__(self, num_classes: int = 10, width: float = 1.0) -> None:
        super().__init__()
        widths = [_ch(c, width) for c in (64, 128, 256, 512)]
        self.conv1 = nn.Conv2d(3, widths[0], 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        layers, cin = [], widths[0]
        for i, cout in enumerate(widths):
            stride = 1 if i == 0 else 2
            layers.append(nn.Sequential(_BasicBlock(cin, cout, stride), _BasicBlock(cout, cout, 1)))
            cin = cout
        self.layer1, self.layer2, self.layer3, self.layer4 = layers
        self.linear = nn.Linear(cin, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer4(self.layer3(self.layer2(self.layer1(out))))
        return self.linear(torch.flatten(F.adaptive_avg_pool2d(out, 1), 1))


class CifarVGG11(nn.Module):
    """VGG-11 with batch norm for 32x32 images; one linear classifier on the pooled 512-d features."""

    CFG = (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M")
    MIN_SIZE = 2 ** CFG.count("M")  # each 2x2 max-pool halves the image: 32 pixels

    def __init__(self, num_classes: int = 10, width: float = 1.0) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        cin = 3
        for v in self.CFG:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                cout = _ch(int(v), width)
                layers += [nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]
                cin = cout
        self.features = nn.Sequential(*layers)
        self.linear = nn.Linear(cin, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.linear(torch.flatten(F.adaptive_avg_pool2d(self.features(x), 1), 1))


class _DenseLayer(nn.Module):
    def __init__(self, cin: int, growth: int) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(cin)
        self.conv1 = nn.Conv2d(cin, 4 * growth, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(4 * growth)
        self.conv2 = nn.Conv2d(4 * growth, growth, 3, padding=1, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        out = self.conv2(F.relu(self.bn2(self.conv1(F.relu(self.bn1(x))))))
        return torch.cat([out, x], 1)


class _Transition(nn.Module):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.bn = nn.BatchNorm2d(cin)
        self.conv = nn.Conv2d(cin, cout, 1, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        return F.avg_pool2d(self.conv(F.relu(self.bn(x))), 2)


class CifarDenseNet121(nn.Module):
    """DenseNet-121 "cifar" variant: blocks (6, 12, 24, 16), growth rate 12·width, compression 0.5."""

    MIN_SIZE = 2**3  # three transitions, each a 2x2 average pool

    def __init__(self, num_classes: int = 10, width: float = 1.0) -> None:
        super().__init__()
        growth = max(2, int(round(12 * width)))
        channels = 2 * growth
        self.conv1 = nn.Conv2d(3, channels, 3, padding=1, bias=False)
        stages: list[nn.Module] = []
        for i, n_layers in enumerate((6, 12, 24, 16)):
            block = []
            for _ in range(n_layers):
                block.append(_DenseLayer(channels, growth))
                channels += growth
            stages.append(nn.Sequential(*block))
            if i < 3:
                out = channels // 2
                stages.append(_Transition(channels, out))
                channels = out
        self.features = nn.Sequential(*stages)
        self.bn = nn.BatchNorm2d(channels)
        self.linear = nn.Linear(channels, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        out = F.relu(self.bn(self.features(self.conv1(x))))
        return self.linear(torch.flatten(F.adaptive_avg_pool2d(out, 1), 1))


CIFAR_ARCHS: dict[str, Callable[..., nn.Module]] = {
    "resnet18": CifarResNet18,
    "vgg11": CifarVGG11,
    "densenet121": CifarDenseNet121,
}


def create_cifar_model(arch: str, *, num_classes: int = 10, width: float = 1.0) -> nn.Module:
    """Build a CIFAR architecture by name (``resnet18``, ``vgg11``, ``densenet121``) with random weights."""
    if arch not in CIFAR_ARCHS:
        raise unknown_name("CIFAR architecture", arch, CIFAR_ARCHS)
    if not 0.03 <= width <= 4.0:
        raise InvalidParameterError(f"The 'width' multiplier must be in [0.03, 4]. Got {width}.")
    return CIFAR_ARCHS[arch](num_classes=num_classes, width=width)


def check_arch_image_size(arch: str, image_size: int) -> None:
    """One-line error if ``cifar:NAME`` (or a bare name) cannot run on ``image_size``-pixel images; other
    architectures are not checked."""
    name = arch.removeprefix("cifar:")
    minimum = getattr(CIFAR_ARCHS.get(name), "MIN_SIZE", 1)
    if image_size < minimum:
        raise InvalidParameterError(f"cifar:{name} needs images of at least {minimum} pixels (its pooling layers "
                                    f"halve them to 1); got {image_size}. Use --image-size {minimum} or larger.")


def _parse_cifar_spec(spec: str) -> tuple[str, int, float]:
    """``resnet18`` or ``resnet18?width=0.25&classes=30`` -> (arch, num_classes, width)."""
    arch, _, query = spec.partition("?")
    options = {"classes": "10", "width": "1.0"}
    for item in filter(None, query.split("&")):
        key, eq, value = item.partition("=")
        if not eq or key not in options:
            raise InvalidParameterError(f"Bad option {item!r} in 'cifar:{spec}'; use e.g. cifar:{arch}?width=0.25&classes=10.")
        options[key] = value
    try:
        return arch, int(options["classes"]), float(options["width"])
    except ValueError:
        raise InvalidParameterError(f"Bad number in 'cifar:{spec}'; use e.g. cifar:{arch}?width=0.25&classes=10.") from None


def cifar_handle(spec: str, *, weights: str = "auto", image_size: int | None = None) -> ModelHandle:
    """A handle for ``cifar:ARCH[?width=W&classes=K]``. These architectures have no published weights: use a
    checkpoint from ``invmeter train``, a weights file, or ``weights="random"``."""
    arch, num_classes, width = _parse_cifar_spec(spec)
    if image_size is not None:
        check_arch_image_size(arch, image_size)
    model = create_cifar_model(arch, num_classes=num_classes, width=width)
    if weights in ("auto", "pretrained"):
        tag = weights_unavailable(f"cifar:{arch}", weights, "these architectures have no published weights",
                                  "Train one with 'invmeter train' and score its checkpoint")
    elif weights == "random":
        tag = "random-init"
    else:
        load_weights_into(model, weights, f"cifar:{spec}")
        tag = f"file:{weights}"
    prep = plain_preprocessing(32, CIFAR_MEAN, CIFAR_STD, source="the paper's CIFAR preprocessing (32 px, Normalize(0.5, 0.5))")
    return ModelHandle(
        model=model.eval(), name=f"cifar:{spec}", weights=tag,
        preprocessing=prep.with_size(image_size) if image_size else prep, readout=Readout("head_input", "linear"),
        num_classes=num_classes, extra={"arch": arch, "width": width},
    )
