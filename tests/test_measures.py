"""Continuous generators and the Lie derivative (LEE): known answers on constructed models and images."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch
import torch.autograd.forward_ad as fwAD
import torch.nn.functional as F
from torch import nn

from invmeter.errors import DataError, InvalidParameterError, UnknownNameError
from invmeter.metrics.lie import OUTPUT, _LinearTangents, lee_value, lie_derivative
from invmeter.transforms import functional as K
from invmeter.transforms.generators import (
    _YIQ,
    GENERATORS,
    PADDINGS,
    apply_path,
    generators_for,
    path_tangent,
)

GEOMETRIC = [n for n, g in GENERATORS.items() if g.kind == "geometric"]
COLOUR = [n for n, g in GENERATORS.items() if g.kind == "colour"]


def smooth_images(n: int = 3, size: int = 24, seed: int = 0, border: int = 0, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Smooth random RGB images in (0, 1); with ``border`` > 0 exactly 0 within ``border`` pixels of the edge."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 3, size, size, generator=gen, dtype=torch.float64)
    x = K.gaussian_blur(x, torch.full((n,), 1.5, dtype=torch.float64))
    x = 0.1 + 0.8 * (x - x.amin()) / (x.amax() - x.amin())
    if border:
        r = torch.arange(size, dtype=torch.float64)
        inside = ((r >= border) & (r < size - border)).to(torch.float64)
        window = torch.sin(math.pi * (r - border + 1) / (size - 2 * border + 1)).clamp_min(0) ** 2 * inside
        x = x * window[:, None] * window[None, :]
    return x.to(dtype)


def pixels(x: torch.Tensor) -> torch.Tensor:
    return x.flatten(1)


# --------------------------------------------------------------------------------------------------- generators


@pytest.mark.parametrize("padding", PADDINGS)
def test_every_path_is_exactly_the_identity_at_zero(padding: str) -> None:
    x = smooth_images(dtype=torch.float32)
    for name in GENERATORS:
        assert torch.equal(apply_path(name, x, 0.0, padding=padding), x), name


@pytest.mark.parametrize("padding", PADDINGS)
def test_closed_form_tangent_is_the_jvp_of_the_path(padding: str) -> None:
    x = smooth_images(n=2, size=11)
    for name in GENERATORS:
        with fwAD.dual_level():
            t = fwAD.make_dual(torch.zeros(2, dtype=torch.float64), torch.ones(2, dtype=torch.float64))
            jvp = fwAD.unpack_dual(apply_path(name, x, t, padding=padding)).tangent
        closed = path_tangent(name, x, padding=padding)
        assert float(closed.abs().max()) > 1e-3, name
        assert torch.allclose(jvp, closed, atol=1e-12, rtol=0), name


def test_generator_units_and_directions_match_invmeters_finite_kernels() -> None:
    x = smooth_images(n=2, size=16, border=3)
    cols = torch.arange(16, dtype=torch.float64) - 7.5
    ramp = cols.expand(1, 3, 16, 16).clone()  # intensity = x coordinate (1 per pixel)
    inner = (slice(None), slice(None), slice(2, -2), slice(2, -2))
    assert torch.allclose(path_tangent("translation_x", ramp)[inner], torch.tensor(-1.0, dtype=torch.float64))
    rows = cols[:, None].expand(16, 16)
    # Rotation by t radians counter-clockwise on screen: d/dt I(M(t)⁻¹ p) = -∂x I · y for I = x (velocity (y, -x)).
    assert torch.allclose(path_tangent("rotation", ramp)[inner], -rows.expand(1, 3, 16, 16)[inner])
    quarter = apply_path("rotation", x, math.pi / 2, padding="zeros")
    exact = K.warp(x, K.rotation_matrix(torch.full((2,), 90.0, dtype=torch.float64)))
    assert torch.allclose(quarter, exact, atol=1e-9)
    shifted = apply_path("translation_y", x, 2.0, padding="zeros")
    exact = K.warp(x, K.translation_matrix(torch.zeros(2, dtype=torch.float64), torch.full((2,), 2 / 16, dtype=torch.float64), 16, 16))
    assert torch.allclose(shifted, exact, atol=1e-9)


def test_colour_paths_are_one_parameter_groups_that_keep_what_they_should() -> None:
    x = smooth_images(n=2, size=8)
    for name in COLOUR:
        twice = apply_path(name, apply_path(name, x, 0.3), -0.1)
        assert torch.allclose(twice, apply_path(name, x, 0.2), atol=1e-12), name
    luma = lambda z: K._gray(z)  # noqa: E731
    assert torch.allclose(luma(apply_path("hue", x, 1.1)), luma(x), atol=1e-12)
    assert torch.allclose(luma(apply_path("saturation", x, -0.7)), luma(x), atol=1e-12)
    assert torch.allclose(apply_path("hue", x, 2 * math.pi), x, atol=1e-12)
    assert torch.allclose(apply_path("saturation", x, -50.0), luma(x).expand_as(x), atol=1e-12)
    assert torch.allclose(apply_path("brightness", x, math.log(0.5)), x * 0.5, atol=1e-12)


def test_generator_errors() -> None:
    x = smooth_images(n=1, size=8)
    with pytest.raises(UnknownNameError, match="rotation"):
        apply_path("rotate", x, 0.1)
    with pytest.raises(UnknownNameError, match="padding"):
        path_tangent("rotation", x, padding="mirror")
    with pytest.raises(InvalidParameterError, match="RGB"):
        path_tangent("hue", x[:, :1])
    with pytest.raises(InvalidParameterError, match="one value per image"):
        apply_path("rotation", x, torch.zeros(3))
    with pytest.raises(InvalidParameterError, match="no continuous generator"):
        generators_for("blur")
    assert generators_for("translation") == ("translation_x", "translation_y")


# ----------------------------------------------------------------------------------------------- Lie derivative


def tanh_net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1), nn.Tanh(), nn.Conv2d(4, 4, 3, stride=2), nn.Tanh(), nn.Flatten(), nn.LazyLinear(5)
    ).double()


@pytest.mark.parametrize("name", list(GENERATORS))
def test_jvp_lee_is_the_limit_of_finite_differences(name: str) -> None:
    x = smooth_images(n=2, size=16)
    net = tanh_net()
    net(x)
    lee = lie_derivative(net, x, name)[OUTPUT]
    errors = []
    for h in (1e-2, 1e-3, 1e-4):
        with torch.no_grad():
            fd = (net(apply_path(name, x, h)) - net(apply_path(name, x, -h))) / (2 * h)
        errors.append(float(((fd.pow(2).mean(dim=1) - lee).abs() / lee).max()))
    assert errors[0] > errors[1] > errors[2], errors  # the cubic path is C1: the error shrinks like h (colour: h²)
    assert errors[2] < (2e-3 if GENERATORS[name].kind == "geometric" else 1e-7), errors


class QuadraticPool(nn.Module):
    """Mean over pixels of pointwise features W x(p) and their squares (a 1x1 conv, then global pooling)."""

    def __init__(self, circular: bool = False) -> None:
        super().__init__()
        torch.manual_seed(1)
        mode = "circular" if circular else "zeros"
        self.conv = nn.Conv2d(3, 4, 3 if circular else 1, padding=1 if circular else 0, padding_mode=mode).double()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.conv(x)
        return torch.cat([z.mean(dim=(2, 3)), z.pow(2).mean(dim=(2, 3))], dim=1)


def mass_ratios(x: torch.Tensor) -> torch.Tensor:
    m = x.sum(dim=(2, 3))
    return torch.stack([m[:, 0] / m[:, 1], m[:, 2] / m[:, 1]], dim=1)


def yiq_chroma(x: torch.Tensor) -> torch.Tensor:
    yiq = torch.einsum("ij,njhw->nihw", torch.tensor(_YIQ, dtype=x.dtype), x)
    return torch.cat([yiq[:, :1], yiq[:, 1:2] ** 2 + yiq[:, 2:] ** 2], dim=1).flatten(1)


def centred_unit(x: torch.Tensor) -> torch.Tensor:
    z = (x - K._gray(x).mean(dim=(1, 2, 3), keepdim=True)).flatten(1)
    return z / z.norm(dim=1, keepdim=True)


# (generator, padding, images with a zero border?, a model exactly invariant to it to first order)
INVARIANT = [
    ("translation_x", "circular", False, QuadraticPool(circular=True)),
    ("translation_y", "circular", False, QuadraticPool(circular=True)),
    ("translation_x", "zeros", True, QuadraticPool()),
    ("rotation", "reflection", True, QuadraticPool()),
    ("shear_x", "reflection", True, QuadraticPool()),
    ("shear_y", "reflection", True, QuadraticPool()),
    ("hyperbolic_rotation", "reflection", True, QuadraticPool()),
    ("scale", "reflection", True, mass_ratios),
    ("brightness", "reflection", False, lambda x: x.flatten(1) / x.mean(dim=(1, 2, 3))[:, None]),
    ("contrast", "reflection", False, centred_unit),
    ("saturation", "reflection", False, lambda x: K._gray(x).flatten(1)),
    ("hue", "reflection", False, yiq_chroma),
]


@pytest.mark.parametrize(("name", "padding", "border", "model"), INVARIANT, ids=[f"{r[0]}-{r[1]}" for r in INVARIANT])
def test_models_built_to_be_invariant_have_zero_lee(name: str, padding: str, border: bool, model) -> None:  # noqa: ANN001
    x = smooth_images(n=4, size=20, border=4 if border else 0, dtype=torch.float32)
    model = model.float() if isinstance(model, nn.Module) else model
    invariant = lie_derivative(model, x, name, padding=padding)[OUTPUT]
    control = lie_derivative(pixels, x, name, padding=padding)[OUTPUT]
    with torch.no_grad():
        scale = float(model(x).pow(2).mean())
    assert float(invariant.max()) < 1e-6 * min(1.0, scale), (name, invariant)  # the bound, relative when small
    assert float(control.min()) > 1e-4, (name, control)


@pytest.mark.parametrize("sigma", [4.0, 8.0])
def test_raw_pixel_rotation_lee_matches_the_analytic_derivative(sigma: float) -> None:
    size, centre = 64, (5.0, -4.0)
    c = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    y, x = torch.meshgrid(c, c, indexing="ij")
    blob = torch.exp(-((x - centre[0]) ** 2 + (y - centre[1]) ** 2) / (2 * sigma**2))
    images = torch.stack([blob, 0.5 * blob, 0.25 * blob])[None]
    # Content turns counter-clockwise: velocity (y, -x); dI/dt = -(∂x I · y - ∂y I · x).
    dx, dy = -blob * (x - centre[0]) / sigma**2, -blob * (y - centre[1]) / sigma**2
    analytic = -(dx * y - dy * x)
    expected = float(torch.stack([analytic, 0.5 * analytic, 0.25 * analytic]).pow(2).mean())
    lee = float(lie_derivative(pixels, images.float(), "rotation")[OUTPUT])
    # A central difference attenuates frequency w by sin(w)/w ≈ 1 - w²/6; for a Gaussian's derivative the mean
    # square loses 2·<w²>/6 = 1/(2 sigma²) of itself.
    assert lee / expected == pytest.approx(1 - 1 / (2 * sigma**2), abs=2e-3)


def test_pooled_model_rotation_lee_is_far_below_raw_pixels() -> None:
    torch.manual_seed(0)
    pooled = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1, padding_mode="reflect"), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())
    x = smooth_images(n=8, size=32, seed=3, dtype=torch.float32)
    gap = lie_derivative(pooled, x, "rotation")[OUTPUT].mean()
    raw = lie_derivative(pixels, x, "rotation")[OUTPUT].mean()
    assert float(gap / raw) < 0.2


def test_layer_lee_is_read_before_inplace_relu_overwrites_it() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(inplace=True), nn.Conv2d(4, 3, 3), nn.Flatten())
    bn = model[1]
    bn.running_mean.normal_()
    bn.running_var.uniform_(0.5, 2.0)
    bn.weight.data.normal_()
    model.eval()
    x = smooth_images(n=3, size=12, dtype=torch.float32)
    layers = {"bn": model[1], "relu": model[2], "conv": model[3]}
    got = lie_derivative(model, x, "rotation", layers=layers)
    reference = copy.deepcopy(model)
    reference[2] = nn.ReLU()
    tangent = path_tangent("rotation", x)
    for name, depth in (("bn", 2), ("relu", 3), ("conv", 4)):
        _, jvp = torch.func.jvp(reference[:depth], (x,), (tangent,))
        assert torch.allclose(got[name], jvp.flatten(1).double().pow(2).mean(dim=1), rtol=1e-4), name
    assert not torch.allclose(got["bn"], got["relu"], rtol=1e-2)


def test_fast_tangents_equal_pytorchs_forward_ad_formulas() -> None:
    torch.manual_seed(0)
    x, v = torch.randn(2, 4, 9, 9, dtype=torch.float64), torch.randn(2, 4, 9, 9, dtype=torch.float64)
    w, b = torch.randn(6, 2, 3, 3, dtype=torch.float64), torch.randn(6, dtype=torch.float64)
    lin_w = torch.randn(5, 9, dtype=torch.float64)
    stats = [torch.randn(4, dtype=torch.float64), torch.rand(4, dtype=torch.float64) + 0.5, torch.randn(4, dtype=torch.float64), torch.randn(4, dtype=torch.float64)]
    calls = [
        lambda z: F.conv2d(z, w, b, 2, 1, 1, 2),
        lambda z: F.conv2d(z, w, bias=None, stride=1, padding="same", groups=2),
        lambda z: F.linear(z, lin_w, bias=b[:5]),
        lambda z: F.batch_norm(z, stats[0], stats[1], stats[2], stats[3], False, 0.1, 1e-3),
        lambda z: F.batch_norm(z, stats[0], stats[1], eps=1e-5),
    ]
    for call in calls:
        with torch.no_grad(), fwAD.dual_level():
            plain = fwAD.unpack_dual(call(fwAD.make_dual(x, v)))
            with _LinearTangents():
                fast = fwAD.unpack_dual(call(fwAD.make_dual(x, v)))
        assert torch.allclose(fast.primal, plain.primal) and torch.allclose(fast.tangent, plain.tangent)


def test_lee_errors_and_degenerate_models() -> None:
    x = smooth_images(n=2, size=8, dtype=torch.float32)
    with torch.inference_mode(), pytest.raises(InvalidParameterError, match="inference_mode"):
        lie_derivative(pixels, x, "rotation")
    with pytest.raises(DataError, match="does not depend"):
        lie_derivative(lambda z: torch.ones(len(z), 3), x, "rotation")
    with pytest.raises(DataError, match="not finite"):
        lie_derivative(lambda z: z.flatten(1) / 0.0, x, "brightness")
    twice = nn.ReLU()
    with pytest.raises(InvalidParameterError, match="more than once"):
        lie_derivative(lambda z: twice(twice(z)), x, "rotation", layers={"relu": twice})
    with pytest.raises(UnknownNameError):
        lie_derivative(pixels, x, "spin")


def test_lee_value_is_the_mean_and_resamples_with_bootstrap_counts() -> None:
    per_image = np.array([1.0, 2.0, 6.0])
    assert lee_value(per_image) == 3.0
    counts = np.array([[3.0, 0.0, 0.0], [0.0, 1.0, 2.0]])
    assert np.allclose(lee_value(per_image, counts), [1.0, 14.0 / 3.0])
