"""Transform specs (``rotation:45+blur``), seeded per-image parameter sampling, and batched application."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

import torch
from torch import Tensor

from invmeter.errors import InvalidParameterError
from invmeter.transforms import functional as K
from invmeter.transforms.registry import TransformFamily, get_family

__all__ = ["TransformStep", "TransformSpec", "SampledTransforms", "parse_transform", "parse_transform_list",
           "split_transform_list", "parse_dataset_transform", "parse_magnitude", "apply_transforms"]

INTERPOLATION = "bilinear"
INTERPOLATIONS = ("bilinear", "nearest", "bicubic")
FILL = 0.0


@dataclass(frozen=True)
class TransformStep:
    """One family in a spec with its magnitude.

    Attributes:
        family: Registry name, e.g. ``"rotation"``.
        magnitude: ``None`` for the family's default (paper) distribution, else the ``name:m`` value.
        fixed: Use the fixed value m (random sign for signed families) instead of sampling ``U[-m, m]``.
        options: Named strengths (``color_jitter:hue=0.1``), sorted by name.
        p: Probability of applying to an image. Controlled pairs use 1; datasets use the family's ``dataset_p``.
        pixels: The magnitude is in pixels (``translation:8px``), converted at each image's size.
    """

    family: str
    magnitude: float | None = None
    fixed: bool = False
    options: tuple[tuple[str, float], ...] = ()
    p: float = 1.0
    pixels: bool = False

    def __post_init__(self) -> None:
        fam = get_family(self.family)
        fam.check_magnitude(self.magnitude, self.pixels)
        fam.check_options(dict(self.options))
        if self.fixed and (fam.fixed is None or self.magnitude is None):
            raise InvalidParameterError(f"Transform {self.family!r} has no magnitude to sweep over.")
        if not 0.0 <= self.p <= 1.0:
            raise InvalidParameterError(f"The probability 'p' of transform {self.family!r} must be in [0, 1]. Got {self.p}.")

    @property
    def info(self) -> TransformFamily:
        return get_family(self.family)

    @property
    def deterministic(self) -> bool:
        """Every image gets the same effect up to a sign or direction: a fixed magnitude, or a family whose range
        is one value (flips, the default sharpen or posterize)."""
        return self.fixed or all(lo == hi for lo, hi in self.info.ranges(self.magnitude, dict(self.options)))

    def __str__(self) -> str:
        if self.options:
            return f"{self.family}:" + ",".join(f"{k}={v:g}" for k, v in self.options)
        if self.magnitude is None:
            return self.family
        return f"{self.family}:{self.magnitude:g}{'px' if self.pixels else ''}"

    def to_dict(self) -> dict[str, Any]:
        fam = self.info
        lo_hi = None if self.fixed else fam.ranges(self.magnitude, dict(self.options))
        return {
            "family": self.family,
            "magnitude": self.magnitude,
            "mode": "fixed" if self.fixed else "uniform",
            "options": dict(self.options),
            "p": self.p,
            "params": list(fam.params),
            "units": "pixels" if self.pixels else fam.units,
            "ranges": [list(r) for r in lo_hi] if lo_hi is not None else None,
        }


@dataclass(frozen=True)
class TransformSpec:
    """An ordered composition of transform steps, applied left to right (``rotation+blur``: rotate, then blur).

    Attributes:
        steps: The families with their magnitudes.
        interpolation: Resampling of geometric steps (``bilinear``, ``nearest``, ``bicubic``); maps onto the pixel
            grid (flips, 90° turns, whole-pixel shifts) are always exact.
        fill: Intensity in [0, 1] of areas a geometric step uncovers on whole images (objects on Transforms-2D are
            pasted, so there the background shows).
    """

    steps: tuple[TransformStep, ...]
    interpolation: str = field(default=INTERPOLATION)
    fill: float = field(default=FILL)

    def __post_init__(self) -> None:
        if not self.steps:
            raise InvalidParameterError("A transform spec needs at least one family, e.g. 'rotation'.")
        if self.interpolation not in INTERPOLATIONS:
            raise InvalidParameterError(f"The 'interpolation' of a transform must be one of {', '.join(INTERPOLATIONS)}. "
                                        f"Got {self.interpolation!r}.")
        if not 0.0 <= self.fill <= 1.0:
            raise InvalidParameterError(f"The 'fill' of a transform must be an intensity in [0, 1]. Got {self.fill!r}.")

    @property
    def fixed(self) -> bool:
        """Every step's effect is fixed (a sweep entry, or a flip): the equivariance metric applies."""
        return all(step.deterministic for step in self.steps)

    @property
    def level(self) -> str:
        """``object``: on Transforms-2D the transform acts on the object before it is pasted."""
        return "object"

    def apply(self, images: Tensor, sampled: SampledTransforms) -> Tensor:
        """:func:`apply_transforms` (the interface callable transforms share)."""
        return apply_transforms(images, sampled)

    def __str__(self) -> str:
        return "+".join(str(s) for s in self.steps)

    @property
    def families(self) -> tuple[str, ...]:
        return tuple(s.family for s in self.steps)

    def at_magnitude(self, magnitude: float | str) -> TransformSpec:
        """The same families at the fixed value ``magnitude`` (for sweeps): a number in the family's units, or a
        string such as ``"8px"``."""
        value, pixels = parse_magnitude(magnitude, self.steps[0].family)
        return replace(self, steps=tuple(replace(s, magnitude=value, fixed=True, options=(), pixels=pixels)
                                         for s in self.steps))

    def for_dataset(self) -> TransformSpec:
        """The spec as a dataset uses it: each family applied with its dataset probability (flips p=0.5)."""
        return replace(self, steps=tuple(replace(s, p=s.info.dataset_p) for s in self.steps))

    def to_dict(self) -> dict[str, Any]:
        return {
            "spec": str(self),
            "steps": [s.to_dict() for s in self.steps],
            "interpolation": self.interpolation,
            "fill": self.fill,
        }

    def sample(self, n: int, generator: torch.Generator) -> SampledTransforms:
        """Draw per-image parameters for ``n`` images, step by step, from ``generator``."""
        params = []
        for step in self.steps:
            fam = step.info
            p = fam.sample(n, generator, step.magnitude, step.fixed, dict(step.options))
            if step.p < 1.0:
                keep = torch.rand(n, generator=generator, dtype=torch.float64) < step.p
                p = torch.where(keep.unsqueeze(1), p, fam.identity_params(n))
            params.append(p)
        return SampledTransforms(self, tuple(params))


@dataclass(frozen=True)
class SampledTransforms:
    """Per-image parameters for a spec: ``params[k]`` is ``(N, len(family.params))`` float64 for step k."""

    spec: TransformSpec
    params: tuple[Tensor, ...]

    def __len__(self) -> int:
        return len(self.params[0])

    def __getitem__(self, index: slice | Tensor) -> SampledTransforms:
        return SampledTransforms(self.spec, tuple(p[index] for p in self.params))

    def identity(self) -> SampledTransforms:
        """The same steps with identity parameters (renders the untransformed view)."""
        return SampledTransforms(self.spec, tuple(s.info.identity_params(len(self)) for s in self.spec.steps))


def apply_transforms(images: Tensor, sampled: SampledTransforms) -> Tensor:
    """Apply sampled transforms to ``images`` (``(N, C, H, W)`` float in [0, 1]); returns a new tensor.

    Consecutive geometric steps are fused into one affine map and resampled once.
    """
    if len(sampled) != len(images):
        raise InvalidParameterError(f"Got {len(images)} images but parameters for {len(sampled)}.")
    _, _, h, w = images.shape
    spec = sampled.spec
    out = images
    pending: Tensor | None = None
    for step, params in zip(sampled.spec.steps, sampled.params):
        fam = step.info
        params = params.to(images.device)
        if step.pixels:  # magnitudes in pixels: the kernels take fractions of the image side
            params = params / torch.tensor([w if a == "w" else h for a in fam.pixel_axes], dtype=params.dtype,
                                           device=params.device)
        if fam.matrix is not None:
            m = fam.matrix(params, h, w)
            pending = m if pending is None else m @ pending
            continue
        if pending is not None:
            out, pending = K.warp(out, pending, spec.interpolation, spec.fill), None
        assert fam.kernel is not None  # every non-geometric family has a kernel (registry invariant)
        # Images at the identity (a dataset's p < 1, other class groups) are left exactly as they are.
        effect = list(fam.effect_params)  # a per-image noise seed alone does not make an image "changed"
        active = (params[:, effect] != fam.identity_params(1).to(params.device)[:, effect]).any(dim=1)
        if active.all():
            out = fam.kernel(out, params)
        elif active.any():
            rows = active.nonzero().squeeze(1)
            changed = fam.kernel(out[rows], params[rows])
            out = out.index_copy(0, rows, changed) if out is images else out.index_copy_(0, rows, changed)
    if pending is not None:
        out = K.warp(out, pending, spec.interpolation, spec.fill)
    return out if out is not images else images.clone()


def parse_magnitude(text: float | str, family: str) -> tuple[float, bool]:
    """A magnitude as ``(value, in pixels)``: ``45`` or ``"45"`` in the family's units, ``"8px"`` in pixels."""
    if isinstance(text, str) and text.strip().lower().endswith("px"):
        return _parse_number(text.strip()[:-2], family), True
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        return _parse_number(str(text), family), False
    return _parse_number(str(text), family), False


def _parse_number(text: str, family: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise InvalidParameterError(
            f"The magnitude of transform {family!r} must be a number (e.g. '{family}:0.5'). Got {text!r}."
        ) from None
    if math.isnan(value) or math.isinf(value):
        raise InvalidParameterError(f"The magnitude of transform {family!r} must be finite. Got {text!r}.")
    return value


def _parse_step(text: str) -> TransformStep:
    name, sep, arg = text.strip().partition(":")
    name = name.strip()
    if not name:
        raise InvalidParameterError(f"Empty transform name in {text!r}; write e.g. 'rotation' or 'rotation:45'.")
    get_family(name)  # raises with suggestions for unknown names
    if not sep:
        return TransformStep(name)
    if "=" in arg:
        options = {}
        for item in arg.split(","):
            key, eq, value = item.partition("=")
            if not eq:
                raise InvalidParameterError(f"Expected key=value in {text!r}, e.g. 'color_jitter:hue=0.1'.")
            options[key.strip()] = _parse_number(value.strip(), name)
        return TransformStep(name, options=tuple(sorted(options.items())))
    value, pixels = parse_magnitude(arg.strip(), name)
    return TransformStep(name, magnitude=value, pixels=pixels)


def parse_transform(text: str | TransformSpec, *, interpolation: str = INTERPOLATION, fill: float = FILL) -> TransformSpec:
    """Parse ``'rotation'``, ``'rotation:45'``, ``'color_jitter:hue=0.1,saturation=0.2'`` or compositions
    ``'rotation:45+blur'`` (``interpolation`` and ``fill`` apply to the geometric steps). A list of several specs
    (``'rotation,hflip'``) is refused: :func:`parse_transform_list` reads lists."""
    if isinstance(text, TransformSpec):
        return text
    if not isinstance(text, str) or not text.strip():
        raise InvalidParameterError(f"A transform must be a name such as 'rotation'. Got {text!r}.")
    items = split_transform_list(text)
    if len(items) > 1:
        raise InvalidParameterError(f"{text!r} is a list of {len(items)} transforms (',' separates specs); one is "
                                    f"expected here. Give them one at a time, or compose them with '+': "
                                    f"{'+'.join(items)!r}.")
    return TransformSpec(tuple(_parse_step(part) for part in text.split("+")), interpolation=interpolation, fill=fill)


def _is_option(item: str) -> bool:
    """``key=value`` with no family before it: an option continuing the spec before it."""
    key, eq, _ = item.partition("=")
    return bool(eq) and ":" not in key and "+" not in key


def split_transform_list(text: str) -> list[str]:
    """The one grammar for lists of transform specs, as strings: ``,`` separates specs, ``+`` composes within one,
    and an item ``key=value`` continues the options of the spec before it, so
    ``rotation,color_jitter:hue=0.1,saturation=0.2`` is two specs (``rotation``; ``color_jitter`` with two
    options). Empty items and an option with no spec taking options before it are one-line errors."""
    specs: list[str] = []
    for part in text.split(","):
        item = part.strip()
        if not item:
            raise InvalidParameterError(f"Empty transform spec in {text!r}: expected a comma-separated list of "
                                        "transform specs, e.g. rotation,blur.")
        if not _is_option(item):
            specs.append(item)
        elif specs and _is_option(specs[-1].rpartition("+")[2].partition(":")[2].rpartition(",")[2]):
            specs[-1] += "," + item
        else:
            before = f"follows {specs[-1]!r}, which takes none" if specs else "starts the list"
            raise InvalidParameterError(f"{item!r} in {text!r} is an option (key=value) but {before}; write options "
                                        "after their family, e.g. color_jitter:hue=0.1,saturation=0.2.")
    return specs


def parse_transform_list(text: str | TransformSpec | list[str | TransformSpec]) -> list[TransformSpec]:
    """The one grammar for lists (:func:`split_transform_list`): ``,`` separates specs, ``+`` composes within one
    (``rotation+blur,hflip`` is two specs: rotate then blur, and flip), and ``key=value`` items continue a spec's
    options (``color_jitter:hue=0.1,saturation=0.2`` is one spec). A list of strings: each item is such a list."""
    if isinstance(text, TransformSpec):
        return [text]
    if isinstance(text, str):
        if not text.strip():
            raise InvalidParameterError(f"A transform must be a name such as 'rotation'. Got {text!r}.")
        return [parse_transform(item) for item in split_transform_list(text)]
    items = list(text)
    if not items:
        raise InvalidParameterError("Expected at least one transform spec, e.g. rotation.")
    return [spec for item in items for spec in parse_transform_list(item)]


def parse_dataset_transform(text: str | TransformSpec | None) -> TransformSpec | None:
    """A dataset's one transform spec (``rotation+blur``: each sample rotated, then blurred); ``None``/``"none"``:
    untransformed. A list (``rotation,blur``) is refused: a dataset composes its transforms with ``+``."""
    if text is None or isinstance(text, TransformSpec):
        return text
    if not isinstance(text, str):
        raise InvalidParameterError(f"A dataset's transforms must be a spec such as 'rotation+blur'. Got {text!r}.")
    if text.strip() in ("", "none"):
        return None
    specs = parse_transform_list(text)
    if len(specs) > 1:
        raise InvalidParameterError(f"A dataset has one transform spec; compose families with '+': "
                                    f"{'+'.join(str(s) for s in specs)!r} instead of {text!r}.")
    return specs[0]
