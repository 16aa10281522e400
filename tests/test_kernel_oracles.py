"""Each kernel against torchvision's ``transforms.v2.functional`` where it has the same operation (the oracle)."""

from __future__ import annotations

import math

import pytest
import torch
from torchvision.transforms import InterpolationMode
from torchvision.transforms.v2 import functional as TF

from invmeter.transforms import apply_transforms, parse_transform
from invmeter.transforms.spec import SampledTransforms

BILINEAR = InterpolationMode.BILINEAR
SIGMA = 1.3


@pytest.fixture(scope="module")
def photo() -> torch.Tensor:
    from skimage import data

    image = torch.from_numpy(data.astronaut()).permute(2, 0, 1).float() / 255
    return TF.resize(image, [64, 64], antialias=True).clamp(0, 1)[None]


def _ours(image: torch.Tensor, spec: str, params: list[float]) -> torch.Tensor:
    sampled = SampledTransforms(parse_transform(spec), (torch.tensor([params], dtype=torch.float64),))
    return apply_transforms(image, sampled)


CASES = [  # (invmeter spec, per-image parameters, torchvision oracle, tolerance on the mean / max abs difference)
    ("rotation", [30.0], lambda x: TF.rotate(x, 30, interpolation=BILINEAR), 1e-6),
    ("rotation", [90.0], lambda x: TF.rotate(x, 90), 0.0),
    ("translation", [4 / 64, -8 / 64], lambda x: TF.affine(x, angle=0, translate=[4, -8], scale=1, shear=[0, 0]), 0.0),
    ("scale", [0.7], lambda x: TF.affine(x, angle=0, translate=[0, 0], scale=0.7, shear=[0, 0], interpolation=BILINEAR),
     1e-6),
    ("shear", [20.0, -10.0], lambda x: TF.affine(x, angle=0, translate=[0, 0], scale=1, shear=[20.0, -10.0],
                                                 interpolation=BILINEAR), 1e-5),
    ("hflip", [1.0], TF.horizontal_flip, 0.0),
    ("vflip", [1.0], TF.vertical_flip, 0.0),
    ("brightness", [1.4], lambda x: TF.adjust_brightness(x, 1.4), 1e-6),
    ("contrast", [0.6], lambda x: TF.adjust_contrast(x, 0.6), 2e-4),  # grey weights 0.299 vs torchvision's 0.2989
    ("color_jitter", [1.0, 1.0, 0.3, 0.0], lambda x: TF.adjust_saturation(x, 0.3), 2e-4),
    ("hue", [0.2], lambda x: TF.adjust_hue(x, 0.2), 1e-5),
    ("grayscale", [1.0], lambda x: TF.rgb_to_grayscale(x, num_output_channels=3), 2e-4),
    ("invert", [1.0], TF.invert, 0.0),
    ("sharpen", [7.0], lambda x: TF.adjust_sharpness(x, 7.0), 1e-6),
    ("blur", [SIGMA], lambda x: TF.gaussian_blur(x, [2 * math.ceil(2 * SIGMA) + 1] * 2, [SIGMA, SIGMA]), 1e-6),
    ("erasing", [0.25, 0.5, 0.5], lambda x: TF.erase(x, 24, 24, 16, 16, torch.tensor(0.0)), 0.0),
]


@pytest.mark.parametrize(("spec", "params", "oracle", "tolerance"), CASES, ids=[f"{c[0]}{c[1]}" for c in CASES])
def test_kernel_matches_torchvision(photo: torch.Tensor, spec: str, params: list[float], oracle, tolerance: float) -> None:  # noqa: ANN001
    difference = (_ours(photo, spec, params) - oracle(photo)).abs()
    assert float(difference.max()) <= max(tolerance, 1e-6) * 10 and float(difference.mean()) <= max(tolerance, 1e-7)


def test_posterize_matches_torchvision_on_8_bit_values(photo: torch.Tensor) -> None:
    as_uint8 = (photo * 255).round().to(torch.uint8)
    ours = (_ours(as_uint8.float() / 255, "posterize", [3.0]) * 255).round().to(torch.uint8)
    assert torch.equal(ours, TF.posterize(as_uint8, 3))



@pytest.mark.parametrize(("alpha", "sigma"), [(150.0, 5.0), (40.0, 2.5), (80.0, 0.0)])
def test_elastic_matches_torchvision_for_the_same_seed(photo: torch.Tensor, alpha: float, sigma: float) -> None:
    # torchvision's field for the seed (its ElasticTransform draws x then y from the global generator), resampled with
    # plain zero padding: its default fill=0 also multiplies border pixels by their coverage, a second darkening
    from torchvision.transforms import v2

    seed = 1234
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        field = v2.ElasticTransform(alpha=alpha, sigma=sigma).make_params([photo])["displacement"]
    expected = TF.elastic(photo, field, interpolation=BILINEAR, fill=None)
    difference = (_ours(photo, "elastic", [alpha, sigma, seed]) - expected).abs()
    assert float((photo - expected).abs().mean()) > 0.05  # the deformation is visible
    assert float(difference.max()) <= 1e-4 and float(difference.mean()) <= 1e-6
