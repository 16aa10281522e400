"""Continuous one-parameter transformation paths and their generators, for Lie derivatives (docs/measures.md).

A path ``apply_path(name, images, t)`` moves images ``(N, C, H, W)`` (float, [0, 1]) along one continuous family
by ``t`` (a scalar or ``(N,)``, in the generator's unit): exactly the identity at ``t = 0`` and differentiable in
``t`` through forward-mode AD. :func:`path_tangent` is its derivative at ``t = 0`` in closed form (what a Lie
derivative feeds the model); the tests check that it equals the JVP of :func:`apply_path`.

Geometric paths move content by a 3x3 map ``M(t)`` in centred pixel coordinates (x right, y down, origin at the
image centre, as in :mod:`invmeter.transforms.functional`) and resample with **Catmull-Rom** cubic interpolation.
Bilinear resampling (``functional.warp``) has a kink at every pixel centre, so at ``t = 0`` its derivative is a
one-sided difference that depends on which side rounding falls; Catmull-Rom is C1 and its derivative at a pixel
centre is the central difference ``(I[x+1] - I[x-1]) / 2``. So the image tangent is
``-(∂x I · v_x + ∂y I · v_y)`` with central differences and the content velocity ``v(p) = M'(0) p``.
Borders: ``reflection`` (default; mirror about the edge pixel, as lie-deriv's sampler), ``zeros`` (black, as
invmeter's finite warps) or ``circular`` (wrap-around; exact for translations).

Colour paths act per pixel without clamping to [0, 1] (a clamp has no derivative at saturated pixels; the path
is the identity at ``t = 0`` either way): brightness ``x e^t``, contrast ``m + e^t (x - m)`` about the image's mean
luma ``m``, saturation ``g + e^t (x - g)`` about each pixel's luma ``g`` (luma weights 0.299/0.587/0.114, as
invmeter's colour kernels), hue a rotation by ``t`` radians of the chroma plane (I, Q) of YIQ, which keeps luma.
Every colour path is an exact one-parameter group.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import torch
import torch.autograd.forward_ad as fwAD
from torch import Tensor

from invmeter._utils.validation import unknown_name
from invmeter.errors import InvalidParameterError
from invmeter.transforms import functional as K

__all__ = ["Generator", "GENERATORS", "FAMILY_GENERATORS", "PADDINGS", "apply_path", "path_tangent", "generators_for"]

PADDINGS = ("reflection", "zeros", "circular")

# torch loads its forward-AD decompositions on the first make_dual, and that import warns that torch.jit.script is
# deprecated (torch's own FutureWarning, not the user's concern): load them once here, quietly.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", FutureWarning)
    getattr(fwAD, "_maybe_load_decompositions", lambda: None)()


@dataclass(frozen=True)
class Generator:
    """A continuous one-parameter family: its name, kind (``geometric`` / ``colour``), unit and meaning."""

    name: str
    kind: str
    unit: str
    description: str
    lie_deriv: str  # lie-deriv's counterpart and how its unit relates to ours


def _gen(name: str, kind: str, unit: str, description: str, lie_deriv: str) -> tuple[str, Generator]:
    return name, Generator(name, kind, unit, description, lie_deriv)


GENERATORS: dict[str, Generator] = dict([
    _gen("translation_x", "geometric", "pixels", "content moves right by t pixels",
         "translate axis x; its t is in units of (W-1)/2 pixels: LEE_lie-deriv = LEE ((W-1)/2)²"),
    _gen("translation_y", "geometric", "pixels", "content moves down by t pixels",
         "translate axis y; its t is in units of (H-1)/2 pixels: LEE_lie-deriv = LEE ((H-1)/2)²"),
    _gen("rotation", "geometric", "radians", "content rotates counter-clockwise (as displayed) by t radians",
         "rotate: radians (clockwise; the sign does not change a squared norm): same LEE"),
    _gen("scale", "geometric", "log-scale", "content grows by the factor e^t about the centre",
         "scale (sampling at (1 - s) p): same derivative at 0, same LEE"),
    _gen("shear_x", "geometric", "radians", "x += tan(t)·y (shear angle t)", "shear axis x: same LEE"),
    _gen("shear_y", "geometric", "radians", "y += tan(t)·x (shear angle t)", "shear axis y: same LEE"),
    _gen("hyperbolic_rotation", "geometric", "rapidity", "content map [[cosh t, sinh t], [sinh t, cosh t]]",
         "hyperbolic_rotate: same LEE"),
    _gen("brightness", "colour", "log-factor", "x -> x e^t",
         "none: its 'saturate' scales the model-normalised image, (x - mean)·(1 + t) in pixel terms"),
    _gen("contrast", "colour", "log-factor", "x -> m + e^t (x - m), m = the image's mean luma", "none"),
    _gen("saturation", "colour", "log-factor", "x -> g + e^t (x - g), g = the pixel's luma", "none"),
    _gen("hue", "colour", "radians", "rotates the YIQ chroma plane by t radians (luma kept)", "none"),
])

# invmeter's transform families -> the generators whose span they move along (reported as their mean).
FAMILY_GENERATORS: dict[str, tuple[str, ...]] = {
    "rotation": ("rotation",),
    "translation": ("translation_x", "translation_y"),
    "scale": ("scale",),
    "shear": ("shear_x", "shear_y"),
    "brightness": ("brightness",),
    "contrast": ("contrast",),
    "saturation": ("saturation",),
    "hue": ("hue",),
    "color_jitter": ("brightness", "contrast", "saturation", "hue"),
}

_LUMA = K._GRAY
# RGB -> YIQ (NTSC); its first row is the luma invmeter's colour kernels use.
_YIQ = ((_LUMA[0], _LUMA[1], _LUMA[2]), (0.5959, -0.2746, -0.3213), (0.2115, -0.5227, 0.3112))


def generators_for(family: str) -> tuple[str, ...]:
    """The continuous generators of an invmeter transform family (``translation`` -> x and y)."""
    if family in GENERATORS:
        return (family,)
    if family not in FAMILY_GENERATORS:
        raise InvalidParameterError(
            f"The transform family {family!r} has no continuous generator, so it has no Lie derivative; "
            f"use one of {', '.join(FAMILY_GENERATORS)} (or a generator: {', '.join(GENERATORS)})."
        )
    return FAMILY_GENERATORS[family]


def _check(name: str, images: Tensor, padding: str) -> Generator:
    if name not in GENERATORS:
        raise unknown_name("generator", name, GENERATORS)
    if padding not in PADDINGS:
        raise unknown_name("padding", padding, PADDINGS)
    if images.dim() != 4 or not images.is_floating_point():
        raise InvalidParameterError(f"Images must be float (N, C, H, W); got {tuple(images.shape)}, {images.dtype}.")
    gen = GENERATORS[name]
    if gen.kind == "colour" and images.shape[1] != 3:
        raise InvalidParameterError(f"The {name!r} generator acts on RGB images (3 channels); got {images.shape[1]}.")
    return gen


def _per_image_t(t: Tensor | float, n: int, dtype: torch.dtype, device: torch.device) -> Tensor:
    t = torch.as_tensor(t, dtype=dtype, device=device)
    if t.dim() == 0:
        return t.expand(n)
    if t.shape != (n,):
        raise InvalidParameterError(f"t must be a scalar or have one value per image ({n},); got {tuple(t.shape)}.")
    return t


def _content_matrix(name: str, t: Tensor, height: int, width: int) -> Tensor:
    """``(N, 3, 3)`` float64 map M(t) of content points (centred pixel coordinates); M(0) = I."""
    t = t.to(torch.float64)
    zero = torch.zeros_like(t)
    if name == "translation_x":
        return K.translation_matrix(t / width, zero, height, width)
    if name == "translation_y":
        return K.translation_matrix(zero, t / height, height, width)
    if name == "scale":
        return K.scale_matrix(torch.exp(t))
    if name in ("shear_x", "shear_y"):
        degrees = torch.rad2deg(t)
        return K.shear_matrix(degrees, zero) if name == "shear_x" else K.shear_matrix(zero, degrees)
    # functional.rotation_matrix snaps cos/sin to integers (exact 90° turns), which has no derivative at 0.
    if name == "rotation":
        a, b, c, d = torch.cos(t), torch.sin(t), -torch.sin(t), torch.cos(t)  # as functional.rotation_matrix
    else:  # hyperbolic_rotation
        a, b, c, d = torch.cosh(t), torch.sinh(t), torch.sinh(t), torch.cosh(t)
    one = torch.ones_like(t)
    rows = [torch.stack([a, b, zero], -1), torch.stack([c, d, zero], -1), torch.stack([zero, zero, one], -1)]
    return torch.stack(rows, dim=1)


def _generator_matrix(name: str, height: int, width: int, device: torch.device) -> Tensor:
    """M'(0), the 3x3 content velocity field v(p) = M'(0) p, by forward-mode AD of :func:`_content_matrix`."""
    with fwAD.dual_level():
        return fwAD.unpack_dual(_content_matrix(name, _unit_dual(device), height, width)).tangent[0]


def _unit_dual(device: torch.device) -> Tensor:
    """t = 0 with tangent 1 (float64, one value), inside a ``fwAD.dual_level``."""
    zero = torch.zeros(1, dtype=torch.float64, device=device)
    return fwAD.make_dual(zero, torch.ones_like(zero))


def _pixel_grid(height: int, width: int, device: torch.device) -> tuple[Tensor, Tensor]:
    """Centred pixel coordinates ``(H, W)`` of the pixel centres (float64)."""
    ys = torch.arange(height, dtype=torch.float64, device=device) - (height - 1) / 2
    xs = torch.arange(width, dtype=torch.float64, device=device) - (width - 1) / 2
    return xs.expand(height, width), ys.unsqueeze(1).expand(height, width)


def _border_index(i: Tensor, size: int, padding: str) -> tuple[Tensor, Tensor | None]:
    """Map integer sample indices into ``[0, size)``; for ``zeros`` also a validity mask."""
    if padding == "circular":
        return torch.remainder(i, size), None
    if padding == "zeros":
        return i.clamp(0, size - 1), (i >= 0) & (i < size)
    if size == 1:
        return torch.zeros_like(i), None
    period = 2 * (size - 1)
    j = torch.remainder(i, period)
    return torch.where(j >= size, period - j, j), None


def _catmull_rom(f: Tensor) -> list[Tensor]:
    """Weights of the taps at offsets -1, 0, 1, 2 for a fractional position f in [0, 1) (C1, exact on lines)."""
    f2, f3 = f * f, f * f * f
    return [(-f3 + 2 * f2 - f) / 2, (3 * f3 - 5 * f2 + 2) / 2, (-3 * f3 + 4 * f2 + f) / 2, (f3 - f2) / 2]


def _resample_cubic(images: Tensor, qx: Tensor, qy: Tensor, padding: str) -> Tensor:
    """Sample ``images`` at index coordinates ``(N, H, W)`` (0 = first pixel centre) with Catmull-Rom weights."""
    n, c, h, w = images.shape
    x0, y0 = torch.floor(qx.detach()), torch.floor(qy.detach())
    wx, wy = _catmull_rom(qx - x0), _catmull_rom(qy - y0)
    x0, y0 = x0.long(), y0.long()
    flat = images.reshape(n, c, h * w)
    out = torch.zeros_like(images, dtype=torch.float64).reshape(n, c, h * w)
    for b in range(4):
        iy, valid_y = _border_index(y0 + (b - 1), h, padding)
        for a in range(4):
            ix, valid_x = _border_index(x0 + (a - 1), w, padding)
            weight = wy[b] * wx[a]
            if valid_x is not None:
                weight = weight * (valid_x & valid_y)
            taps = flat.gather(2, (iy * w + ix).reshape(n, 1, h * w).expand(n, c, h * w))
            out = out + taps * weight.reshape(n, 1, h * w)
    return out.reshape(n, c, h, w)


def _hue_matrix(t: Tensor) -> Tensor:
    """``(N, 3, 3)`` float64 ``Y⁻¹ (R(t) - I) Y``: the hue path is ``x + that @ x`` (exactly x at t = 0)."""
    yiq = torch.tensor(_YIQ, dtype=torch.float64, device=t.device)
    t = t.to(torch.float64).reshape(-1, 1, 1)
    c, s = torch.cos(t) - 1, torch.sin(t)
    zero = torch.zeros_like(t)
    rot = torch.cat([torch.cat([zero, zero, zero], 2), torch.cat([zero, c, -s], 2), torch.cat([zero, s, c], 2)], 1)
    return torch.linalg.inv(yiq) @ rot @ yiq


def apply_path(name: str, images: Tensor, t: Tensor | float, *, padding: str = "reflection") -> Tensor:
    """Images moved along generator ``name`` by ``t`` (scalar or ``(N,)``, in the generator's unit).

    Exactly ``images`` at ``t = 0`` and differentiable in ``t`` (forward or reverse mode). ``padding`` is the
    border rule of geometric paths (``reflection``, ``zeros``, ``circular``). Returns images of the same shape
    and dtype (not clamped to [0, 1]).
    """
    gen = _check(name, images, padding)
    n, _, h, w = images.shape
    t = _per_image_t(t, n, torch.float64, images.device)
    if gen.kind == "geometric":
        inverse = torch.linalg.inv(_content_matrix(name, t, h, w))  # output pixel p shows content from M⁻¹ p
        px, py = _pixel_grid(h, w, images.device)
        qx = inverse[:, 0, 0, None, None] * px + inverse[:, 0, 1, None, None] * py + inverse[:, 0, 2, None, None]
        qy = inverse[:, 1, 0, None, None] * px + inverse[:, 1, 1, None, None] * py + inverse[:, 1, 2, None, None]
        return _resample_cubic(images, qx + (w - 1) / 2, qy + (h - 1) / 2, padding).to(images.dtype)
    x = images.to(torch.float64)
    if name == "hue":
        return (x + torch.einsum("nij,njhw->nihw", _hue_matrix(t), x)).to(images.dtype)
    step = torch.expm1(t).reshape(-1, 1, 1, 1)  # written as x + (e^t - 1)(x - centre): exactly x at t = 0
    if name == "brightness":
        return (x + step * x).to(images.dtype)
    centre = K._gray(x).mean(dim=(1, 2, 3), keepdim=True) if name == "contrast" else K._gray(x)
    return (x + step * (x - centre)).to(images.dtype)


def _central_difference(images: Tensor, dim: int, padding: str) -> Tensor:
    """``(I[i+1] - I[i-1]) / 2`` along ``dim`` with the path's border rule (what Catmull-Rom gives at centres)."""
    size = images.shape[dim]
    i = torch.arange(size, device=images.device)
    nxt, valid_n = _border_index(i + 1, size, padding)
    prv, valid_p = _border_index(i - 1, size, padding)
    after, before = images.index_select(dim, nxt), images.index_select(dim, prv)
    if valid_n is not None:
        shape = [1] * images.dim()
        shape[dim] = size
        after = after * valid_n.reshape(shape).to(images.dtype)
        before = before * valid_p.reshape(shape).to(images.dtype)
    return (after - before) / 2


def path_tangent(name: str, images: Tensor, *, padding: str = "reflection") -> Tensor:
    """``d/dt apply_path(name, images, t)`` at ``t = 0``, in closed form (same shape and dtype as ``images``).

    Geometric: ``-(∂x I · v_x + ∂y I · v_y)`` (central differences, content velocity ``v = M'(0) p``).
    Colour: brightness ``x``; contrast ``x - m``; saturation ``x - g``; hue ``G x`` (G the YIQ chroma rotation
    generator). Units: image intensity per unit of the generator (per pixel, per radian, per log-factor).
    """
    gen = _check(name, images, padding)
    if gen.kind == "geometric":
        n, _, h, w = images.shape
        a = _generator_matrix(name, h, w, images.device)
        px, py = _pixel_grid(h, w, images.device)
        vx = (a[0, 0] * px + a[0, 1] * py + a[0, 2]).to(images.dtype)
        vy = (a[1, 0] * px + a[1, 1] * py + a[1, 2]).to(images.dtype)
        return -(_central_difference(images, 3, padding) * vx + _central_difference(images, 2, padding) * vy)
    if name == "brightness":
        return images.clone()
    if name == "contrast":
        return images - K._gray(images).mean(dim=(1, 2, 3), keepdim=True)
    if name == "saturation":
        return images - K._gray(images)
    with fwAD.dual_level():
        g = fwAD.unpack_dual(_hue_matrix(_unit_dual(images.device))).tangent[0].to(images.dtype)
    return torch.einsum("ij,njhw->nihw", g, images)
