"""Transforms-2D at paper fidelity: real sources in controlled pairs, per-class transforms, object placement."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import torch

from invmeter.data import Transforms2D, Transforms2DPairs, load_background_source, load_object_source
from invmeter.data.design import direct_sum
from invmeter.errors import DataError, InvalidParameterError
from invmeter.transforms import apply_transforms, parse_transform


@pytest.mark.parametrize("probe", ["rotation", "translation", "hflip", "color_jitter", "blur"])
def test_controlled_pairs_on_real_photos_differ_only_inside_the_object(
    probe: str, object_folder: Path, background_folder: Path
) -> None:
    dataset = Transforms2D(
        objects=(0, 1, 2, 3), transforms=parse_transform("scale+translation"), image_size=32,
        object_source=load_object_source(object_folder), background_source=load_background_source(background_folder),
    )
    pairs = Transforms2DPairs(dataset, parse_transform(probe), 16, seed=0)
    clean, transformed = pairs.render(slice(0, 16))
    placed = apply_transforms(dataset.prototypes()[pairs.labels], pairs.scenes.transforms)  # after the dataset's own
    probed = apply_transforms(placed, pairs.probe)
    outside = (placed[:, 3] == 0) & (probed[:, 3] == 0)
    diff = (clean - transformed).abs().amax(dim=1)
    assert outside.float().mean() > 0.3
    assert float(diff[outside].max()) == 0.0
    visible = torch.ones(16, dtype=torch.bool)
    if probe == "blur":  # sigma < 0.2 px (the paper's range starts at 0.1) is the identity in float32
        visible = pairs.probe.params[0][:, 0] > 0.2
    assert bool((diff.amax(dim=(1, 2)) > 0)[visible].all()), f"{probe} left an image unchanged"


def test_per_class_transforms_leave_other_groups_untouched() -> None:
    base = Transforms2D(objects=(0, 1, 2, 3), image_size=24)
    mixed = direct_sum(base, [parse_transform("rotation+blur"), None])
    assert mixed.describe()["class_transforms"] == ["rotation+blur", "rotation+blur", None, None]
    n = 64
    scenes = mixed.sample_scenes(n, torch.Generator().manual_seed(0), balanced=True)
    plain = base.sample_scenes(n, torch.Generator().manual_seed(0), balanced=True)
    assert torch.equal(scenes.labels, plain.labels) and torch.equal(scenes.backgrounds, plain.backgrounds)
    images = mixed.render(scenes, mixed.prototypes())
    reference = base.render(plain, base.prototypes())
    second = scenes.labels >= 2
    assert torch.equal(images[second], reference[second])  # classes 2, 3: no transform at all
    assert ((images[~second] - reference[~second]).abs().amax(dim=(1, 2, 3)) > 0.05).all()


def test_two_groups_each_get_only_their_own_transforms() -> None:
    mixed = direct_sum(Transforms2D(objects=(0, 1, 2, 3)), [parse_transform("rotation"), parse_transform("blur")])
    scenes = mixed.sample_scenes(200, torch.Generator().manual_seed(0))
    assert scenes.transforms.spec.families == ("rotation", "blur")
    degrees, sigma = scenes.transforms.params[0][:, 0], scenes.transforms.params[1][:, 0]
    first = scenes.labels < 2
    assert (degrees[~first] == 0).all() and (sigma[first] == 0).all()
    assert (degrees[first] != 0).all() and (sigma[~first] >= 0.1).all()


def test_default_translation_places_the_object_anywhere_inside_the_image() -> None:
    # Paper §1.5: the object's box stays inside; with a scale step before, the room grows as it shrinks.
    dataset = Transforms2D(objects=(0, 1), transforms=parse_transform("scale+translation"), object_scale=0.7)
    scenes = dataset.sample_scenes(4000, torch.Generator().manual_seed(0))
    factor, shift = scenes.transforms.params[0][:, 0], scenes.transforms.params[1]
    room = (1 - 0.7 * factor) / 2
    assert (shift.abs() <= room.unsqueeze(1) + 1e-12).all()
    assert float((shift.abs() / room.unsqueeze(1)).max()) > 0.99  # the whole room is used
    assert float(shift.abs().max()) > 0.3  # a 0.4-scaled object moves up to (1 - 0.28) / 2 = 0.36
    images = dataset.render(scenes[:200], dataset.prototypes())
    objects = apply_transforms(dataset.prototypes()[scenes.labels[:200]], scenes.transforms[:200])
    border = torch.cat([objects[:, 3, 0], objects[:, 3, -1], objects[:, 3, :, 0], objects[:, 3, :, -1]], dim=1)
    assert float(border.max()) < 0.5 and images.shape == (200, 3, 32, 32)
    # An explicit magnitude is taken as written.
    explicit = replace(dataset, transforms=parse_transform("translation:0.05"))
    shift = explicit.sample_scenes(500, torch.Generator().manual_seed(0)).transforms.params[0]
    assert float(shift.abs().max()) <= 0.05 and float(shift.abs().max()) > 0.045


def test_transforms2d_parameter_errors(object_folder: Path) -> None:
    with pytest.raises(InvalidParameterError, match="either 'transforms'"):
        Transforms2D(objects=(0, 1), transforms=parse_transform("blur"), class_transforms=(None, None))
    with pytest.raises(InvalidParameterError, match="one spec \\(or None\\) per class: 2. Got 3"):
        Transforms2D(objects=(0, 1), class_transforms=(None, None, None))
    with pytest.raises(DataError, match="has 4 objects"):
        Transforms2D(objects=(0, 4), object_source=load_object_source(object_folder))


def test_colour_jitter_on_object_pixels_equals_the_dense_computation() -> None:
    # color_jitter runs on the object's pixels only; a dense reference on the whole canvas must agree.
    from invmeter.transforms import functional as K

    g = torch.Generator().manual_seed(0)
    x = torch.rand(5, 4, 12, 12, generator=g)
    x[:, 3, :, :4] = 0.0  # transparent strip
    x[:, 3, :, 4] = 1e-4  # nearly transparent edge
    x[2, 3] = 0.0  # an image with no object at all
    x[:, :3] *= x[:, 3:]
    sampled = parse_transform("color_jitter:brightness=1,contrast=1,saturation=0.5,hue=0.5").sample(5, g)
    p = sampled.params[0].float()
    alpha = x[:, 3:4]
    rgb = (x[:, :3] / alpha.clamp_min(1e-8)).clamp(0, 1)
    rgb = K.adjust_contrast(K.adjust_brightness(rgb, p[:, 0]), p[:, 1], alpha)  # dense, alpha-weighted mean
    rgb = K.adjust_hue(K.adjust_saturation(rgb, p[:, 2]), p[:, 3])
    expected = torch.cat([rgb * alpha, alpha], dim=1)
    torch.testing.assert_close(apply_transforms(x, sampled), expected, atol=2e-6, rtol=0)
