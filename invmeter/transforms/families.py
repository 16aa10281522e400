"""The built-in transform families (the paper's Transforms-2D catalogue and the ICLR text's colour jitter), registered
on import with their parameters, units, default (paper) distributions and kernels (``paper.md`` §1.5)."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from invmeter.transforms import functional as K
from invmeter.transforms.elastic import elastic
from invmeter.transforms.registry import TransformFamily, _random_sign, _snap, _uniform, register_family

__all__ = ["PAPER_FAMILIES"]


# --- declarative helpers ------------------------------------------------------------------------------------


def _symmetric(default: float) -> Callable[[float | None, dict[str, float]], list[tuple[float, float]]]:
    return lambda m, _o: [(-(default if m is None else m), default if m is None else m)]


def _signed_fixed(m: float, n: int, gen: torch.Generator) -> Tensor:
    return (m * _random_sign(n, gen)).unsqueeze(1)


def _value_fixed(m: float, n: int, gen: torch.Generator) -> Tensor:  # noqa: ARG001 - same signature as others
    return torch.full((n, 1), float(m), dtype=torch.float64)


def _flag(name: str, kind: str, doc: str, matrix=None, kernel=None) -> TransformFamily:  # noqa: ANN001
    return TransformFamily(
        name=name, kind=kind, params=("applied",), units="-", default="always applied in a pair; p=0.5 in datasets",
        magnitude=f"no magnitude ({doc})", identity=(0.0,), ranges=lambda _m, _o: [(1.0, 1.0)], fixed=None,
        magnitude_bounds=None, dataset_p=0.5, matrix=matrix, kernel=kernel,
    )


def _jitter_range(strength: float, centre: float) -> tuple[float, float]:
    return (max(0.0, centre - strength), centre + strength)


# --- geometric ----------------------------------------------------------------------------------------------

register_family(TransformFamily(
    name="rotation", kind="geometric", params=("degrees",), units="degrees, counter-clockwise",
    default="theta ~ U[-180, 180]", magnitude="rotation:m -> theta ~ U[-m, m], m in [0, 180]",
    identity=(0.0,), ranges=_symmetric(180.0), fixed=_signed_fixed, magnitude_bounds=(0.0, 180.0),
    matrix=lambda p, h, w: K.rotation_matrix(p[:, 0]),
))


def _translation_fixed(m: float, n: int, gen: torch.Generator) -> Tensor:
    """A shift of length m in one of the 8 compass directions, per image (a few distinct effects, so that a
    sweep's equivariance metric can fit one linear effect per direction)."""
    angle = torch.randint(8, (n,), generator=gen).to(torch.float64) * (math.pi / 4)
    return _snap(torch.stack([m * torch.cos(angle), m * torch.sin(angle)], dim=1))


register_family(TransformFamily(
    name="translation", kind="geometric", params=("dx", "dy"), units="fraction of image width/height (+ = right/down)",
    default="dx, dy ~ U[-0.15, 0.15] (anywhere inside the image for the paper's 0.7-side object)",
    magnitude="translation:m -> dx, dy ~ U[-m, m], m in [0, 1]; translation:8px in pixels; swept: a shift of "
    "length m in one of 8 directions",
    identity=(0.0, 0.0), ranges=lambda m, _o: [(-(0.15 if m is None else m), 0.15 if m is None else m)] * 2,
    fixed=_translation_fixed, magnitude_bounds=(0.0, 1.0),
    matrix=lambda p, h, w: K.translation_matrix(p[:, 0], p[:, 1], h, w), pixel_axes=("w", "h"),
))

register_family(TransformFamily(
    name="scale", kind="geometric", params=("factor",), units="factor about the centre (< 1 shrinks)",
    default="factor ~ U[0.4, 1.0]", magnitude="scale:m -> factor ~ U[min(m,1), max(m,1)], m in [0.05, 4]",
    identity=(1.0,), ranges=lambda m, _o: [(0.4, 1.0) if m is None else (min(m, 1.0), max(m, 1.0))],
    fixed=_value_fixed, magnitude_bounds=(0.05, 4.0),
    matrix=lambda p, h, w: K.scale_matrix(p[:, 0]),
))

register_family(_flag("hflip", "geometric", "mirror left-right", matrix=lambda p, h, w: K.flip_matrix(p[:, 0], True)))
register_family(_flag("vflip", "geometric", "mirror top-bottom", matrix=lambda p, h, w: K.flip_matrix(p[:, 0], False)))


def _shear_fixed(m: float, n: int, gen: torch.Generator) -> Tensor:
    return torch.stack([m * _random_sign(n, gen), m * _random_sign(n, gen)], dim=1)


register_family(TransformFamily(
    name="shear", kind="geometric", params=("shear_x", "shear_y"), units="degrees",
    default="shear_x, shear_y ~ U[-50, 50]", magnitude="shear:m -> shear_x, shear_y ~ U[-m, m], m in [0, 80]",
    identity=(0.0, 0.0), ranges=lambda m, _o: [(-(50.0 if m is None else m), 50.0 if m is None else m)] * 2,
    fixed=_shear_fixed, magnitude_bounds=(0.0, 80.0),
    matrix=lambda p, h, w: K.shear_matrix(p[:, 0], p[:, 1]),
))

# --- photometric --------------------------------------------------------------------------------------------

_JITTER_DEFAULTS = {"brightness": 1.0, "contrast": 1.0, "saturation": 0.0, "hue": 0.5}


def _jitter_strengths(m: float | None, options: dict[str, float]) -> dict[str, float]:
    scale = 1.0 if m is None else m
    strengths = {k: v * scale for k, v in _JITTER_DEFAULTS.items()}
    strengths["hue"] = min(strengths["hue"], 0.5)
    strengths.update(options)
    return strengths


def _jitter_ranges(m: float | None, options: dict[str, float]) -> list[tuple[float, float]]:
    s = _jitter_strengths(m, options)
    return [
        _jitter_range(s["brightness"], 1.0), _jitter_range(s["contrast"], 1.0),
        _jitter_range(s["saturation"], 1.0), (-s["hue"], s["hue"]),
    ]


def _jitter_fixed(m: float, n: int, gen: torch.Generator) -> Tensor:
    s = _jitter_strengths(m, {})
    cols = [
        (1.0 + s["brightness"] * _random_sign(n, gen)).clamp_min(0.0),
        (1.0 + s["contrast"] * _random_sign(n, gen)).clamp_min(0.0),
        (1.0 + s["saturation"] * _random_sign(n, gen)).clamp_min(0.0),
        s["hue"] * _random_sign(n, gen),
    ]
    return torch.stack(cols, dim=1)


def _jitter(rgb: Tensor, p: Tensor, weights: Tensor | None = None, segments: Tensor | None = None) -> Tensor:
    # Fixed order (torchvision randomises it): brightness, contrast (mean over the object), saturation, hue.
    rgb = K.adjust_brightness(rgb, p[:, 0])
    rgb = K.adjust_contrast(rgb, p[:, 1], weights, segments)
    if (p[:, 2] != 1.0).any():  # saturation is off in the paper's default
        rgb = K.adjust_saturation(rgb, p[:, 2])
    return K.adjust_hue(rgb, p[:, 3])


def _jitter_kernel(images: Tensor, p: Tensor) -> Tensor:
    return K.color_op(images, _jitter, p, object_weighted=True)


register_family(TransformFamily(
    name="color_jitter", kind="photometric", params=("brightness", "contrast", "saturation", "hue"),
    units="brightness/contrast/saturation factors (1 = unchanged); hue shift in turns",
    default="brightness ~ U[0, 2], contrast ~ U[0, 2], hue ~ U[-0.5, 0.5], saturation off (the paper's three)",
    magnitude="color_jitter:m scales the default strengths (m in [0, 1]); "
    "color_jitter:brightness=b,contrast=c,saturation=s,hue=h sets them (factor ~ U[1-b, 1+b], hue ~ U[-h, h])",
    identity=(1.0, 1.0, 1.0, 0.0), ranges=_jitter_ranges, fixed=_jitter_fixed, magnitude_bounds=(0.0, 1.0),
    kernel=_jitter_kernel, options=tuple(_JITTER_DEFAULTS),
    option_bounds={"brightness": (0.0, 1.0), "contrast": (0.0, 1.0), "saturation": (0.0, 1.0), "hue": (0.0, 0.5)},
))


def _factor_family(name: str, op, doc: str) -> TransformFamily:  # noqa: ANN001
    return TransformFamily(
        name=name, kind="photometric", params=("factor",), units=f"{doc} factor (1 = unchanged)",
        default="factor ~ U[0, 2]", magnitude=f"{name}:m -> factor ~ U[max(0, 1-m), 1+m], m in [0, 1]",
        identity=(1.0,), ranges=lambda m, _o: [_jitter_range(1.0 if m is None else m, 1.0)],
        fixed=lambda m, n, gen: (1.0 + m * _random_sign(n, gen)).clamp_min(0.0).unsqueeze(1),
        magnitude_bounds=(0.0, 1.0), kernel=lambda x, p: K.color_op(x, op, p[:, 0]),
    )


register_family(_factor_family("brightness", K.adjust_brightness, "brightness"))
register_family(_factor_family("contrast", K.adjust_contrast, "contrast"))

register_family(TransformFamily(
    name="hue", kind="photometric", params=("shift",), units="hue shift in turns (fraction of the colour circle)",
    default="shift ~ U[-0.5, 0.5]", magnitude="hue:m -> shift ~ U[-m, m], m in [0, 0.5]",
    identity=(0.0,), ranges=_symmetric(0.5), fixed=_signed_fixed, magnitude_bounds=(0.0, 0.5),
    kernel=lambda x, p: K.color_op(x, K.adjust_hue, p[:, 0]),
))
register_family(_flag("grayscale", "photometric", "replace colour by grey",
                      kernel=lambda x, p: K.color_op(x, K.grayscale, p[:, 0])))
register_family(_flag("invert", "photometric", "1 - colour", kernel=lambda x, p: K.color_op(x, K.invert, p[:, 0])))

register_family(TransformFamily(
    name="posterize", kind="photometric", params=("bits",), units="bits per channel (8 = unchanged)",
    default="bits = 1 (p=0.5 in datasets)", magnitude="posterize:m -> bits = m, m in [1, 8]",
    identity=(8.0,), ranges=lambda m, _o: [(1.0, 1.0) if m is None else (round(m), round(m))], fixed=None,
    magnitude_bounds=(1.0, 8.0), dataset_p=0.5, kernel=lambda x, p: K.color_op(x, K.posterize, p[:, 0]),
))

register_family(TransformFamily(
    name="sharpen", kind="photometric", params=("factor",), units="sharpness factor (1 = unchanged)",
    default="factor = 7 (p=0.5 in datasets)", magnitude="sharpen:m -> factor = m, m in [0, 20]",
    identity=(1.0,), ranges=lambda m, _o: [(7.0, 7.0) if m is None else (m, m)], fixed=_value_fixed,
    magnitude_bounds=(0.0, 20.0), dataset_p=0.5, kernel=lambda x, p: K.sharpen(x, p[:, 0]),
))

# --- corruption ---------------------------------------------------------------------------------------------

register_family(TransformFamily(
    name="blur", kind="corruption", params=("sigma",), units="Gaussian sigma, pixels",
    default="sigma ~ U[0.1, 1.5] (kernel 7 at sigma 1.5)",
    magnitude="blur:m -> sigma ~ U[min(0.1, m), m], m in [0, 10]",
    identity=(0.0,), ranges=lambda m, _o: [(0.1, 1.5) if m is None else (min(0.1, m), m)], fixed=_value_fixed,
    magnitude_bounds=(0.0, 10.0), kernel=lambda x, p: K.gaussian_blur(x, p[:, 0]),
))


def _noise_kernel(images: Tensor, p: Tensor) -> Tensor:
    # Per-image noise from a per-image seed, so an image's noise does not depend on how images are batched.
    out = images.clone()
    for i in range(len(images)):
        g = torch.Generator(device=images.device).manual_seed(int(p[i, 1]))
        out[i : i + 1] = K.color_op(images[i : i + 1], K.add_noise, p[i : i + 1, 0], generator=g)
    return out


def _noise_ranges(m: float | None, _o: dict[str, float]) -> list[tuple[float, float]]:
    return [(0.05, 0.2) if m is None else (0.0, m), (0.0, 2.0**31 - 1)]


register_family(TransformFamily(
    name="noise", kind="corruption", params=("std", "seed"), units="Gaussian noise std in intensity units [0, 1]",
    default="std ~ U[0.05, 0.2]", magnitude="noise:m -> std ~ U[0, m], m in [0, 1]",
    identity=(0.0, 0.0), ranges=_noise_ranges,
    fixed=lambda m, n, gen: torch.stack(
        [torch.full((n,), float(m), dtype=torch.float64), _uniform(n, gen, 0.0, 2.0**31 - 1)], dim=1
    ),
    magnitude_bounds=(0.0, 1.0), kernel=_noise_kernel, effect_params=(0,),
))

register_family(TransformFamily(
    name="pixelate", kind="corruption", params=("shrink",), units="fraction of the side kept (1 = unchanged)",
    default="shrink = 0.3 (p=0.5 in datasets)", magnitude="pixelate:m -> shrink = m, m in [0.05, 1]",
    identity=(1.0,), ranges=lambda m, _o: [(0.3, 0.3) if m is None else (m, m)], fixed=_value_fixed,
    magnitude_bounds=(0.05, 1.0), dataset_p=0.5, kernel=lambda x, p: K.pixelate(x, p[:, 0]),
))


ELASTIC_ALPHA, ELASTIC_SIGMA = 150.0, 5.0  # the paper's RandomApply([ElasticTransform(alpha=150.0)], p=0.5)


def _elastic_ranges(m: float | None, options: dict[str, float]) -> list[tuple[float, float]]:
    alpha = ELASTIC_ALPHA if m is None else m
    sigma = options.get("sigma", ELASTIC_SIGMA)
    return [(alpha, alpha), (sigma, sigma), (0.0, 2.0**31 - 1)]


register_family(TransformFamily(
    name="elastic", kind="corruption", params=("alpha", "sigma", "seed"),
    units="displacement scale (torchvision's alpha: at most alpha/2 pixels before smoothing); smoothing sigma, pixels",
    default=f"alpha = {ELASTIC_ALPHA:g}, sigma = {ELASTIC_SIGMA:g}, a new field per image (p=0.5 in datasets)",
    magnitude="elastic:m -> alpha = m, m in [0, 1000]; elastic:sigma=s sets the smoothing (s in [0, 20] pixels)",
    identity=(0.0, ELASTIC_SIGMA, 0.0), ranges=_elastic_ranges,
    fixed=lambda m, n, gen: torch.stack([torch.full((n,), float(m), dtype=torch.float64),
                                         torch.full((n,), ELASTIC_SIGMA, dtype=torch.float64),
                                         _uniform(n, gen, 0.0, 2.0**31 - 1)], dim=1),
    magnitude_bounds=(0.0, 1000.0), dataset_p=0.5, kernel=lambda x, p: elastic(x, p[:, 0], p[:, 1], p[:, 2]),
    options=("sigma",), option_bounds={"sigma": (0.0, 20.0)}, effect_params=(0,),
))


def _erasing_ranges(m: float | None, _o: dict[str, float]) -> list[tuple[float, float]]:
    size = 14 / 32 if m is None else m
    return [(size, size), (0.35, 0.65), (0.35, 0.65)]


register_family(TransformFamily(
    name="erasing", kind="corruption", params=("size", "cx", "cy"),
    units="square side as a fraction of the image side; centre in fractions",
    default="a 14/32-side square centred in U[0.35, 0.65]^2 (p=0.5 in datasets)",
    magnitude="erasing:m -> side m, m in [0, 1]", identity=(0.0, 0.5, 0.5), ranges=_erasing_ranges,
    fixed=lambda m, n, gen: torch.stack(
        [torch.full((n,), float(m), dtype=torch.float64), _uniform(n, gen, 0.35, 0.65), _uniform(n, gen, 0.35, 0.65)],
        dim=1,
    ),
    magnitude_bounds=(0.0, 1.0), dataset_p=0.5, kernel=lambda x, p: K.erase_square(x, p[:, 0], p[:, 1], p[:, 2]),
))

PAPER_FAMILIES: tuple[str, ...] = ("translation", "rotation", "scale", "hflip", "vflip", "blur", "sharpen", "color_jitter")
"""The paper's 8 transformation categories (ICLR version), in a fixed geometric -> photometric -> corruption order."""
