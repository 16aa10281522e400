"""Transform kernels: a contract for every family, exact units, reference identities and spec parsing."""

from __future__ import annotations

import math

import pytest
import torch

from invmeter.errors import InvalidParameterError, UnknownNameError
from invmeter.transforms import (
    PAPER_FAMILIES,
    SampledTransforms,
    apply_transforms,
    functional as K,
    get_family,
    list_transforms,
    parse_transform,
)


def _images(n: int = 5, c: int = 3, size: int = 32, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, c, size, size, generator=torch.Generator().manual_seed(seed))


def _fixed(name: str, *rows: list[float]) -> SampledTransforms:
    spec = parse_transform(name)
    return SampledTransforms(spec, (torch.tensor(rows, dtype=torch.float64),))


def test_paper_families_are_registered() -> None:
    assert set(PAPER_FAMILIES) <= set(list_transforms())
    assert len(list_transforms()) >= 8


@pytest.mark.parametrize("name", list_transforms())
@pytest.mark.parametrize("channels", [3, 4])
def test_family_contract(name: str, channels: int) -> None:
    x = _images(6, channels)
    if channels == 4:
        x[:, :3] *= x[:, 3:]  # premultiplied alpha
    before = x.clone()
    sampled = parse_transform(name).sample(6, torch.Generator().manual_seed(1))
    y = apply_transforms(x, sampled)
    assert y.shape == x.shape and y.dtype == x.dtype
    assert torch.equal(x, before), "kernels must not modify their input"
    assert y.min() >= 0.0 and y.max() <= 1.0
    assert not torch.equal(y, x), f"{name} with its default distribution changed nothing"
    # batched == one image at a time
    singles = torch.cat([apply_transforms(x[i : i + 1], sampled[i : i + 1]) for i in range(6)])
    torch.testing.assert_close(y, singles, atol=1e-5, rtol=0)
    # identity parameters leave images unchanged
    torch.testing.assert_close(apply_transforms(x, sampled.identity()), x, atol=1e-5, rtol=0)
    # the spec prints back to itself
    assert str(parse_transform(str(sampled.spec))) == str(sampled.spec)


def test_rotation_by_90_degrees_equals_rot90_counter_clockwise() -> None:
    x = _images(2)
    y = apply_transforms(x, _fixed("rotation", [90.0], [-90.0]))
    assert torch.equal(y[0], torch.rot90(x[0], 1, (-2, -1)))
    assert torch.equal(y[1], torch.rot90(x[1], -1, (-2, -1)))


def test_rotation_moves_a_dot_counter_clockwise_by_the_requested_angle() -> None:
    x = torch.zeros(1, 1, 65, 65)
    x[0, 0, 32, 52] = 1.0  # 20 px right of the centre
    y = apply_transforms(x, _fixed("rotation", [30.0]))[0, 0]
    ys, xs = torch.meshgrid(torch.arange(65.0), torch.arange(65.0), indexing="ij")
    cy, cx = float((y * ys).sum() / y.sum()) - 32, float((y * xs).sum() / y.sum()) - 32
    angle = math.degrees(math.atan2(-cy, cx))  # y axis points down: counter-clockwise is negative y
    assert angle == pytest.approx(30.0, abs=0.5)
    assert math.hypot(cx, cy) == pytest.approx(20.0, abs=0.3)


def test_translation_of_a_quarter_moves_content_8px_at_32px() -> None:
    x = _images(1)
    y = apply_transforms(x, _fixed("translation", [0.25, 0.0]))
    assert torch.equal(y[..., 8:], x[..., :-8])
    assert torch.equal(y[..., :8], torch.zeros_like(y[..., :8]))
    y = apply_transforms(x, _fixed("translation", [0.0, -0.25]))
    assert torch.equal(y[..., :-8, :], x[..., 8:, :])


def test_flips_are_exact_mirrors() -> None:
    x = _images(3)
    assert torch.equal(apply_transforms(x, parse_transform("hflip").sample(3, torch.Generator())), x.flip(-1))
    assert torch.equal(apply_transforms(x, parse_transform("vflip").sample(3, torch.Generator())), x.flip(-2))


def test_scale_shrinks_about_the_centre() -> None:
    x = torch.zeros(1, 1, 32, 32)
    x[..., 8:24, 8:24] = 1.0  # 16 px square
    y = apply_transforms(x, _fixed("scale", [0.5]))
    assert float(y.sum()) == pytest.approx(64.0, rel=0.02)  # area x 0.25
    assert torch.equal(y[..., 12:20, 12:20], torch.ones(1, 1, 8, 8))


def test_geometric_steps_compose_in_order() -> None:
    x = _images(1)
    spec = parse_transform("translation+rotation")
    sampled = SampledTransforms(spec, (torch.tensor([[0.25, 0.0]], dtype=torch.float64), torch.tensor([[90.0]], dtype=torch.float64)))
    expected = torch.rot90(apply_transforms(x, _fixed("translation", [0.25, 0.0])), 1, (-2, -1))
    torch.testing.assert_close(apply_transforms(x, sampled), expected, atol=1e-6, rtol=0)


def test_blur_preserves_mean_and_reduces_variation() -> None:
    x = _images(2, size=64)
    y = K.gaussian_blur(x, torch.tensor([1.0, 2.0]))
    torch.testing.assert_close(y.mean(dim=(1, 2, 3)), x.mean(dim=(1, 2, 3)), atol=5e-3, rtol=0)
    assert (y.std(dim=(1, 2, 3)) < 0.5 * x.std(dim=(1, 2, 3))).all()
    assert K.gaussian_blur(x, torch.zeros(2)).equal(x)


def test_sharpen_and_colour_identities() -> None:
    x = _images(2)
    assert torch.equal(K.sharpen(x, torch.ones(2)), x)
    torch.testing.assert_close(K.adjust_hue(x, torch.zeros(2)), x, atol=1e-5, rtol=0)
    torch.testing.assert_close(K.adjust_hue(x, torch.ones(2)), x, atol=1e-5, rtol=0)  # a full turn
    gray = K.adjust_saturation(x, torch.zeros(2))
    assert torch.allclose(gray[:, 0], gray[:, 1]) and torch.allclose(gray[:, 1], gray[:, 2])
    assert torch.allclose(K.adjust_brightness(x, torch.full((2,), 0.5)), x * 0.5)


def test_hue_shift_of_a_third_turn_cycles_primaries() -> None:
    red = torch.zeros(1, 3, 2, 2)
    red[:, 0] = 1.0
    green = K.adjust_hue(red, torch.tensor([1 / 3]))
    torch.testing.assert_close(green[0, :, 0, 0], torch.tensor([0.0, 1.0, 0.0]), atol=1e-5, rtol=0)


def test_elastic_keeps_an_object_premultiplied_and_its_field_per_seed() -> None:
    x = _images(3, 4)
    x[:, :3] *= x[:, 3:]
    params = torch.tensor([[150.0, 5.0, 7.0], [150.0, 5.0, 7.0], [150.0, 5.0, 8.0]], dtype=torch.float64)
    y = apply_transforms(x[:1].expand(3, -1, -1, -1).contiguous(),
                         SampledTransforms(parse_transform("elastic"), (params,)))
    assert bool((y[:, :3] <= y[:, 3:] + 1e-6).all())  # colour never exceeds coverage: no bleeding from transparency
    assert torch.equal(y[0], y[1]) and not torch.equal(y[0], y[2])  # the field is the seed's, not the batch position's


def test_colour_ops_keep_alpha_and_transparent_pixels() -> None:
    x = _images(4, 4)
    x[:, 3, :, :16] = 0.0
    x[:, :3] *= x[:, 3:]
    y = apply_transforms(x, parse_transform("color_jitter").sample(4, torch.Generator().manual_seed(0)))
    assert torch.equal(y[:, 3], x[:, 3])
    assert torch.equal(y[:, :, :, :16], torch.zeros_like(y[:, :, :, :16]))


def test_magnitude_syntax_sets_the_sampling_range() -> None:
    p = parse_transform("rotation:45").sample(2000, torch.Generator().manual_seed(0)).params[0]
    assert p.min() >= -45 and p.max() <= 45 and p.min() < -40 and p.max() > 40
    fixed = parse_transform("rotation").at_magnitude(30).sample(100, torch.Generator()).params[0]
    assert set(fixed.abs().flatten().tolist()) == {30.0} and (fixed < 0).any() and (fixed > 0).any()
    jitter = parse_transform("color_jitter:hue=0.1").sample(500, torch.Generator().manual_seed(0)).params[0]
    assert jitter[:, 3].abs().max() <= 0.1 and jitter[:, 3].abs().max() > 0.09


def test_pairs_always_apply_flips_datasets_use_p_half() -> None:
    spec = parse_transform("hflip")
    always = spec.sample(1000, torch.Generator().manual_seed(0)).params[0]
    assert bool((always == 1).all())
    dataset = spec.for_dataset().sample(1000, torch.Generator().manual_seed(0)).params[0]
    assert 400 < int((dataset == 1).sum()) < 600


def test_same_seed_same_parameters() -> None:
    spec = parse_transform("rotation+blur+color_jitter")
    a = spec.sample(50, torch.Generator().manual_seed(3))
    b = spec.sample(50, torch.Generator().manual_seed(3))
    assert all(torch.equal(p, q) for p, q in zip(a.params, b.params))


@pytest.mark.parametrize(
    ("text", "error", "match"),
    [
        ("rotaton", UnknownNameError, "Did you mean 'rotation'"),
        ("rotation:500", InvalidParameterError, r"must be in \[0, 180\]"),
        ("rotation:abc", InvalidParameterError, "must be a number"),
        ("hflip:3", InvalidParameterError, "takes no magnitude"),
        ("color_jitter:sat=1", InvalidParameterError, "has no option 'sat'"),
        ("elastic:2000", InvalidParameterError, r"must be in \[0, 1000\]"),
        ("elastic:sigma=50", InvalidParameterError, r"'sigma' option of transform 'elastic' must be in \[0, 20\]"),
        ("", InvalidParameterError, "must be a name"),
        ("rotation+", InvalidParameterError, "Empty transform name"),
    ],
)
def test_bad_specs_give_clear_errors(text: str, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        parse_transform(text)


def test_every_family_documents_units_and_default() -> None:
    for name in list_transforms():
        fam = get_family(name)
        assert fam.units and fam.default and fam.magnitude
