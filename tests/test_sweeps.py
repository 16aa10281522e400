"""Every family with a magnitude sweeps (translation and noise included), with an equivariance value per magnitude."""

from __future__ import annotations

import pytest
import torch
from click.testing import CliRunner

import invmeter
from conftest import PooledPixels
from invmeter.cli import cli
from invmeter.errors import InvalidParameterError
from invmeter.transforms import get_family, list_transforms

SWEEPABLE = [name for name in list_transforms() if get_family(name).fixed is not None]
KW = dict(image_size=16, n_classes=3, n_images=48, n_boot=0, mean=(0.5,), std=(0.5,))


@pytest.mark.parametrize("family", SWEEPABLE)
def test_every_family_sweeps(family: str) -> None:
    lo, hi = get_family(family).magnitude_bounds
    identity = 1.0 if family in ("scale", "sharpen", "pixelate") else 0.0  # the magnitude that changes nothing
    magnitudes = [identity, (lo + hi) / 4 if identity == 0.0 else 0.5]
    reports = invmeter.sweep(PooledPixels(), family, magnitudes, **KW)
    assert [r.magnitude for r in reports] == magnitudes
    for r in reports:
        assert "equivariance" in r.metrics and r.verdict in ("invariant", "equivariant", "neither")
    assert reports[0]["invariance"] == 1.0  # the identity magnitude moves nothing


@pytest.mark.parametrize("family", [n for n in list_transforms() if get_family(n).fixed is None])
def test_families_without_a_magnitude_say_so(family: str) -> None:
    with pytest.raises(InvalidParameterError, match="magnitude"):
        invmeter.sweep(PooledPixels(), family, [1], **KW)


def test_translation_sweeps_in_fractions_or_pixels_on_the_command_line() -> None:
    base = ["score", "-m", "cifar:resnet18?width=0.125", "--weights", "random", "-t", "translation", "--classes", "3",
            "--n-images", "24", "--bootstrap", "0", "-q", "--json", "-"]
    fractions = CliRunner().invoke(cli, [*base, "--magnitudes", "0,0.125,0.25"])
    pixels = CliRunner().invoke(cli, [*base, "--magnitudes", "0,4px,8px"])
    assert fractions.exit_code == 0 and pixels.exit_code == 0, fractions.output + pixels.output
    import json

    a, b = json.loads(fractions.output), json.loads(pixels.output)  # 4 px of 32 = 0.125: the same pairs
    assert [e["metrics"]["invariance"] for e in a["sweep"]] == [e["metrics"]["invariance"] for e in b["sweep"]]
    bare = CliRunner().invoke(cli, [*base, "--magnitudes", "0,4,8"])
    assert bare.exit_code == 1 and "Got 4 instead. For pixels write 4px." in bare.output


def test_a_pixel_translation_moves_content_by_that_many_pixels() -> None:
    from invmeter.transforms import apply_transforms, parse_transform

    image = torch.zeros(1, 3, 32, 32)
    image[..., 10, 10] = 1.0
    spec = parse_transform("translation").at_magnitude("4px")
    moved = apply_transforms(image, spec.sample(1, torch.Generator().manual_seed(0)))
    y, x = divmod(int(moved[0, 0].argmax()), 32)
    assert max(abs(y - 10), abs(x - 10)) == 4  # one of the 8 compass directions, 4 px away
