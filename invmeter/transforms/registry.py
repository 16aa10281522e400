"""Transform families: their parameters, units, default (paper) distributions and kernels.

A family draws per-image parameters from a seeded generator (``sample``) and applies them in a batch
(``apply``, or ``matrix`` for geometric families, which :mod:`invmeter.transforms.spec` fuses into one
resampling). Defaults follow the paper's Transforms-2D code (``paper.md`` §1.5).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor

from invmeter._utils.validation import unknown_name
from invmeter.errors import InvalidParameterError
from invmeter.transforms import functional as K

__all__ = ["TransformFamily", "get_family", "list_transforms", "register_family"]


def _uniform(n: int, gen: torch.Generator, lo: float, hi: float) -> Tensor:
    return lo + (hi - lo) * torch.rand(n, generator=gen, dtype=torch.float64)


def _snap(x: Tensor) -> Tensor:
    """Values within 1e-12 of zero become exactly 0 (cos 90° is 6e-17 in floating point)."""
    return torch.where(x.abs() < 1e-12, torch.zeros_like(x), x)


def _random_sign(n: int, gen: torch.Generator) -> Tensor:
    return torch.where(torch.rand(n, generator=gen, dtype=torch.float64) < 0.5, -1.0, 1.0).to(torch.float64)


@dataclass(frozen=True)
class TransformFamily:
    """One transformation family (e.g. ``rotation``) and how to sample and apply it.

    Attributes:
        name: Registry key used in specs (``rotation``, ``rotation:45``).
        kind: ``geometric``, ``photometric`` or ``corruption``.
        params: Per-image parameter names, each with its unit, e.g. ``("degrees",)``.
        units: Human-readable units of the parameters.
        default: Human-readable default distribution (the paper's).
        magnitude: What ``name:m`` means, and the valid range of m.
        identity: Parameter values that leave an image unchanged.
        ranges: ``m -> [(lo, hi), ...]`` per parameter for ``name:m`` (uniform per image); ``None`` = default.
        fixed: ``(m, n, generator) -> (n, k)`` parameters at the fixed magnitude m (sweeps).
        magnitude_bounds: Valid range of m.
        dataset_p: Probability of applying the family to a *dataset* sample (a controlled pair always applies it).
        matrix: For geometric families: ``(params, H, W) -> (N, 3, 3)`` forward map in centred pixel coords.
        kernel: For other families: ``(images, params) -> images``.
        options: Named strengths that ``name:key=value,...`` may set (color_jitter).
        effect_params: Indices of the parameters that define the transform's effect on an image (``None``: all);
            a per-image noise seed is not one. Images with equal effect parameters share one linear effect in the
            equivariance metric.
        pixel_axes: For families whose magnitude may be given in pixels (``translation:8px``): the image axis
            (``"w"`` or ``"h"``) each parameter is a fraction of.
    """

    name: str
    kind: str
    params: tuple[str, ...]
    units: str
    default: str
    magnitude: str
    identity: tuple[float, ...]
    ranges: Callable[[float | None, dict[str, float]], list[tuple[float, float]]]
    fixed: Callable[[float, int, torch.Generator], Tensor] | None
    magnitude_bounds: tuple[float, float] | None
    dataset_p: float = 1.0
    matrix: Callable[[Tensor, int, int], Tensor] | None = None
    kernel: Callable[[Tensor, Tensor], Tensor] | None = None
    options: tuple[str, ...] = ()
    option_bounds: dict[str, tuple[float, float]] = field(default_factory=dict)
    effect_params: tuple[int, ...] | None = None
    pixel_axes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.effect_params is None:
            object.__setattr__(self, "effect_params", tuple(range(len(self.params))))

    @property
    def is_geometric(self) -> bool:
        return self.matrix is not None

    def check_magnitude(self, magnitude: float | None, pixels: bool = False) -> None:
        if magnitude is None:
            return
        if self.magnitude_bounds is None:
            raise InvalidParameterError(
                f"Transform {self.name!r} takes no magnitude (got {magnitude:g}); write just {self.name!r}."
            )
        if pixels and not self.pixel_axes:
            raise InvalidParameterError(f"Transform {self.name!r} takes no magnitude in pixels; write e.g. "
                                        f"{self.name}:{self.magnitude_bounds[1]:g} ({self.units}).")
        lo, hi = (0.0, float(MAX_PIXELS)) if pixels else self.magnitude_bounds
        if not (lo <= magnitude <= hi) or math.isnan(magnitude):
            hint = f" For pixels write {magnitude:g}px." if self.pixel_axes and not pixels and magnitude > hi else ""
            raise InvalidParameterError(
                f"The magnitude of transform {self.name!r} must be in [{lo:g}, {hi:g}] "
                f"({'pixels' if pixels else self.units}). Got {magnitude:g} instead.{hint}"
            )

    def check_options(self, options: dict[str, float]) -> None:
        for key, value in options.items():
            if key not in self.options:
                allowed = ", ".join(self.options) or "none"
                raise InvalidParameterError(
                    f"Transform {self.name!r} has no option {key!r} (options: {allowed})."
                )
            lo, hi = self.option_bounds[key]
            if not lo <= value <= hi:
                raise InvalidParameterError(
                    f"The {key!r} option of transform {self.name!r} must be in [{lo:g}, {hi:g}]. Got {value:g} instead."
                )

    def sample(
        self, n: int, gen: torch.Generator, magnitude: float | None, fixed: bool, options: dict[str, float]
    ) -> Tensor:
        """Draw ``(n, len(params))`` float64 parameters: uniform per image, or at fixed magnitude."""
        if fixed:
            if self.fixed is None or magnitude is None:
                raise InvalidParameterError(f"Transform {self.name!r} cannot be swept over magnitudes.")
            return self.fixed(magnitude, n, gen)
        cols = [_uniform(n, gen, lo, hi) for lo, hi in self.ranges(magnitude, options)]
        return torch.stack(cols, dim=1) if cols else torch.zeros(n, 0, dtype=torch.float64)

    def identity_params(self, n: int) -> Tensor:
        return torch.tensor(self.identity, dtype=torch.float64).expand(n, len(self.identity)).clone()


MAX_PIXELS = 4096  # a magnitude in pixels is at most the largest image side invmeter renders

_REGISTRY: dict[str, TransformFamily] = {}


def register_family(family: TransformFamily) -> TransformFamily:
    """Add a family to the registry (names are unique)."""
    if family.name in _REGISTRY:
        raise ValueError(f"Transform family {family.name!r} is already registered.")
    _REGISTRY[family.name] = family
    return family


def get_family(name: str) -> TransformFamily:
    """Look up a family by name; unknown names raise an error suggesting close matches."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise unknown_name("transform", name, _REGISTRY, hint="Run 'invmeter transforms' to list them.") from None


def list_transforms() -> list[str]:
    """Names of all registered transform families, in registry order (the paper's 8 first)."""
    return list(_REGISTRY)


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
