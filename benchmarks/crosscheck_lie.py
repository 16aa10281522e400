"""invmeter's JVP LEE vs an independent finite-difference LEE following lie-deriv's published formula (limit 1e-3).

The reference re-implements Gruver et al.'s definition from the paper and lie-deriv's documented conventions (no
code of theirs is used): the model's softmax output f; the transform applied to the *normalised* image with
``affine_grid``/``grid_sample`` in ``align_corners=True`` coordinates (the image spans [-1, 1], so a translation
t moves content by t (W-1)/2 pixels), bilinear, reflection at the border; their parameterisations (translation
x/y, rotation by t radians, ``scale`` as the sampling matrix (1 - s) I, shear, hyperbolic rotation); and the
local equivariance error of an image as ``mean_k (d f_k / dt)²`` at t = 0 (Eq. 4; Fig. 3's ``.pow(2).mean()``).
The derivative is a central finite difference ``(f(+h) - f(-h)) / 2h`` in float64 (no autodiff anywhere), with
h = 1e-8: a step that moves some ReLU pre-activation across 0 changes the difference by O(1) for that unit, and
at h = 1e-6 ResNet-18's gaps reach 1e-2; at 1e-8 none is crossed and float64 keeps round-off near 1e-7.
Bilinear sampling has a kink at every pixel centre, and the central difference averages its two one-sided
slopes, which is the central pixel difference invmeter's Catmull-Rom path has at t = 0.

invmeter: ``lie_derivative`` on the same images in [0, 1] (float32 model, one forward-mode JVP, its own
normalisation inside ``forward``), converted to lie-deriv's units (translation: × ((W-1)/2)²).

Images: 4 of scikit-image's bundled photos (offline), centre-cropped to 224 px and 8-bit, plus a seeded dither of
less than half an 8-bit level (not clamped, so saturated pixels are not tied again at 0 and 1). Without it, flat
8-bit regions give max-pooling windows exactly tied values, where the max has no derivative: a JVP (invmeter's,
and lie-deriv's own autodiff) takes PyTorch's choice (the first maximum), a central difference the mean of the
tied slopes, and ResNet-18's LEEs then differ (``--no-dither`` shows it: up to 3e-3 at h = 1e-8). ViTs have no
max-pooling and agree either way.

    python benchmarks/crosscheck_lie.py [--n 4] [--size 224] [--h 1e-8] [--no-dither]
"""

from __future__ import annotations

import argparse
import math

import timm
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from invmeter.metrics.lie import OUTPUT, lie_derivative
from invmeter.models.preprocessing import normalize

LIMIT = 1e-3
MODELS = ("resnet18", "vit_tiny_patch16_224")


def sampling_matrix(name: str, t: float) -> Tensor:
    """lie-deriv's 2x3 ``affine_grid`` matrices (output coordinates -> input sampling coordinates)."""
    c, s, ch, sh = math.cos(t), math.sin(t), math.cosh(t), math.sinh(t)
    return torch.tensor({
        "translation_x": [[1, 0, t], [0, 1, 0]],
        "translation_y": [[1, 0, 0], [0, 1, t]],
        "rotation": [[c, s, 0], [-s, c, 0]],
        "scale": [[1 - t, 0, 0], [0, 1 - t, 0]],
        "shear_x": [[1, t, 0], [0, 1, 0]],
        "shear_y": [[1, 0, 0], [t, 1, 0]],
        "hyperbolic_rotation": [[ch, sh, 0], [sh, ch, 0]],
    }[name], dtype=torch.float64)


def warp(images: Tensor, name: str, t: float) -> Tensor:
    theta = sampling_matrix(name, t).expand(len(images), 2, 3)
    grid = F.affine_grid(theta, list(images.shape), align_corners=True)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="reflection", align_corners=True)


def fd_lee(model: nn.Module, normalised: Tensor, name: str, h: float) -> Tensor:
    """Per-image mean over classes of the squared central difference of the softmax output."""
    with torch.no_grad():
        plus = torch.softmax(model(warp(normalised, name, h)), dim=-1)
        minus = torch.softmax(model(warp(normalised, name, -h)), dim=-1)
    return ((plus - minus) / (2 * h)).pow(2).mean(dim=-1)


def photos(n: int, size: int) -> Tensor:
    """n centre crops of scikit-image's bundled photos (offline), resized to size x size, in [0, 1]."""
    from skimage import data

    out = []
    for name in ("astronaut", "coffee", "chelsea", "rocket", "cat", "immunohistochemistry")[:n]:
        img = torch.from_numpy(getattr(data, name)()).permute(2, 0, 1).float() / 255
        side = min(img.shape[1:])
        top, left = (img.shape[1] - side) // 2, (img.shape[2] - side) // 2
        crop = img[None, :, top : top + side, left : left + side]
        out.append(F.interpolate(crop, size=(size, size), mode="bilinear", antialias=True, align_corners=False)[0])
    return (torch.stack(out).clamp(0, 1) * 255).round() / 255  # 8-bit, as photos are


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=4, help="images")
    parser.add_argument("--size", type=int, default=224, help="image side in pixels")
    parser.add_argument("--h", type=float, default=1e-8, help="finite-difference step (lie-deriv's units)")
    parser.add_argument("--no-dither", action="store_true", help="keep the photos' exact 8-bit values (max-pool ties)")
    args = parser.parse_args()
    torch.set_num_threads(2)
    images = photos(args.n, args.size)
    if not args.no_dither:
        gen = torch.Generator().manual_seed(0)
        images = images + (torch.rand(images.shape, generator=gen) - 0.5) / 255  # not clamped: clamping re-ties 0 and 1
    generators = ("translation_x", "translation_y", "rotation", "scale", "shear_x", "shear_y", "hyperbolic_rotation")
    worst = 0.0
    for model_name in MODELS:
        torch.manual_seed(0)
        model = timm.create_model(model_name, pretrained=False).eval()
        mean, std = model.pretrained_cfg["mean"], model.pretrained_cfg["std"]

        def forward(x: Tensor) -> Tensor:
            return torch.softmax(model(normalize(x, mean, std)), dim=-1)

        ours = {g: lie_derivative(forward, images, g)[OUTPUT] for g in generators}
        model.double()
        normalised = normalize(images.double(), mean, std)
        for g in generators:
            unit = ((args.size - 1) / 2) ** 2 if g.startswith("translation") else 1.0
            theirs = fd_lee(model, normalised, g, args.h)
            rel = ((ours[g] * unit - theirs).abs() / theirs).max().item()
            worst = max(worst, rel)
            print(f"{model_name:<22} {g:<20} lie-deriv formula (FD) {theirs.mean().item():.6e}  invmeter JVP "
                  f"{(ours[g] * unit).mean().item():.6e}  max relative gap over {args.n} images {rel:.1e}")
    print(f"worst relative gap {worst:.1e} {'<=' if worst <= LIMIT else '>'} limit {LIMIT:g}")
    if worst > LIMIT:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
