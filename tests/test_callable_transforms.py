"""Callable transforms are checked like built-in ones (issue 25): the output must be float pixels in [0, 1] of the
input's shape and device, else a one-line error naming the transform and what it returned, before any metric."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch
from torchvision.transforms import v2

import invmeter
from invmeter.errors import InvalidParameterError

KW: dict[str, Any] = {"image_size": 16, "n_classes": 2, "n_images": 8, "n_boot": 0, "mean": (0.5,), "std": (0.5,)}


def _to_uint8(x: torch.Tensor) -> torch.Tensor:
    return (x * 255).round().to(torch.uint8)


def _raises(x: torch.Tensor) -> torch.Tensor:
    raise ValueError("bad angle\nsecond line")


@pytest.mark.parametrize(("transform", "message"), [
    (_to_uint8, r"The transform '_to_uint8' returned a uint8 tensor for a float image in \[0, 1\]"),
    (v2.Compose([v2.RandomHorizontalFlip(p=1.0), v2.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])]),
     r"returned values in \[-?[\d.]+, [\d.]+\] for an image in \[0, 1\].*A Normalize inside it normalises twice"),
    (_raises, r"The transform '_raises' raised ValueError: bad angle \(called on a float image \(3, 16, 16\)"),
    (lambda x: x.to("meta"), r"returned a tensor on meta for an image on cpu"),
    (lambda x: x * float("nan"), r"returned NaN or infinite values"),
    (lambda x: x[:, :8], r"the image's shape \(3, 16, 16\); got a tensor of shape \(3, 8, 16\)"),
    (lambda x: x.numpy(), r"must return a tensor of the image's shape \(3, 16, 16\); got ndarray"),
])
def test_a_bad_callable_is_one_line_before_the_model_sees_an_image(
        transform: Callable[[torch.Tensor], Any], message: str, counting_model: torch.nn.Module) -> None:
    with pytest.raises(InvalidParameterError, match=message) as caught:
        invmeter.score(counting_model, transform, **KW)
    assert "\n" not in str(caught.value)
    assert counting_model.images_seen == 0  # refused while rendering the first batch, before its forward pass


def seeded_conv_features() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(3, 6, 3, padding=1), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(2),
                               torch.nn.Flatten())


def test_float64_and_a_small_overshoot_are_accepted() -> None:
    flip = invmeter.score(seeded_conv_features(), v2.RandomHorizontalFlip(p=1.0), **KW)
    as_double = invmeter.score(seeded_conv_features(), lambda x: x.flip(-1).double(), **KW)
    assert as_double["invariance"] == pytest.approx(flip["invariance"], abs=1e-6)
    overshoot = invmeter.score(seeded_conv_features(), lambda x: (x.flip(-1) * 1.08 - 0.04), **KW)  # [-0.04, 1.04]
    clipped = invmeter.score(seeded_conv_features(), lambda x: (x.flip(-1) * 1.08 - 0.04).clamp(0, 1), **KW)
    assert overshoot["invariance"] == clipped["invariance"]
