"""Transform families: the type (parameters, units, default (paper) distributions, kernels) and the registry.

A family draws per-image parameters from a seeded generator (``sample``) and applies them in a batch
(``apply``, or ``matrix`` for geometric families, which :mod:`invmeter.transforms.spec` fuses into one
resampling). The built-in families are registered by :mod:`invmeter.transforms.families`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor

from invmeter._utils.validation import unknown_name
from invmeter.errors import InvalidParameterError

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
