"""Batched image kernels with per-image parameters and explicit units.

Every kernel takes float images of shape ``(N, C, H, W)`` with values in ``[0, 1]`` and per-image parameter
tensors of shape ``(N,)``, and returns a new tensor of the same shape, dtype and device (inputs are never
modified). ``C`` is 1, 3, or 4; a 4th channel is an alpha mask and the colour channels are then
*premultiplied* by it (transparent pixels are 0 everywhere), so geometric resampling never bleeds colour
from transparent regions. Colour operations act on the un-premultiplied colour and leave alpha alone.

Geometric kernels are expressed as 3x3 matrices in pixel coordinates (x right, y down, origin at the image
centre) that map a content point to where it lands; :func:`warp` resamples once for a whole chain of them.
Resampling is bilinear with zero fill (black for RGB, transparent for RGBA), pinned.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "rotation_matrix",
    "translation_matrix",
    "scale_matrix",
    "shear_matrix",
    "flip_matrix",
    "warp",
    "gaussian_blur",
    "sharpen",
    "adjust_brightness",
    "adjust_contrast",
    "adjust_saturation",
    "adjust_hue",
    "hsv_to_rgb",
    "grayscale",
    "invert",
    "posterize",
    "add_noise",
    "pixelate",
    "erase_square",
    "color_op",
]

_GRAY = (0.299, 0.587, 0.114)


def _eye(n: int, device: torch.device) -> Tensor:
    return torch.eye(3, dtype=torch.float64, device=device).expand(n, 3, 3).clone()


def _snap(x: Tensor) -> Tensor:
    """Round cos/sin values within 1e-12 of an integer (so 90° rotations are exact permutations)."""
    r = torch.round(x)
    return torch.where((x - r).abs() < 1e-12, r, x)


def rotation_matrix(degrees: Tensor) -> Tensor:
    """Counter-clockwise rotation (as displayed, y axis pointing down) by ``degrees`` about the centre."""
    rad = torch.deg2rad(degrees.to(torch.float64))
    c, s = _snap(torch.cos(rad)), _snap(torch.sin(rad))
    m = _eye(len(degrees), degrees.device)
    # Counter-clockwise on screen with y down: (x, y) -> (x c + y s, -x s + y c).
    m[:, 0, 0], m[:, 0, 1], m[:, 1, 0], m[:, 1, 1] = c, s, -s, c
    return m


def translation_matrix(dx: Tensor, dy: Tensor, height: int, width: int) -> Tensor:
    """Shift content right by ``dx`` and down by ``dy``, both as fractions of the image width/height."""
    m = _eye(len(dx), dx.device)
    m[:, 0, 2] = dx.to(torch.float64) * width
    m[:, 1, 2] = dy.to(torch.float64) * height
    return m


def scale_matrix(factor: Tensor) -> Tensor:
    """Scale content by ``factor`` (> 0) about the image centre; < 1 shrinks."""
    m = _eye(len(factor), factor.device)
    m[:, 0, 0] = factor.to(torch.float64)
    m[:, 1, 1] = factor.to(torch.float64)
    return m


def shear_matrix(shear_x_deg: Tensor, shear_y_deg: Tensor) -> Tensor:
    """Shear by angles in degrees, as torchvision's ``affine(shear=(shear_x, shear_y))``: first x -= tan(shear_x)·y,
    then y -= tan(shear_y)·x (y down, about the centre)."""
    m = _eye(len(shear_x_deg), shear_x_deg.device)
    tx = torch.tan(torch.deg2rad(shear_x_deg.to(torch.float64)))
    ty = torch.tan(torch.deg2rad(shear_y_deg.to(torch.float64)))
    m[:, 0, 1] = -tx
    m[:, 1, 0] = -ty
    m[:, 1, 1] = 1.0 + tx * ty
    return m


def flip_matrix(flag: Tensor, horizontal: bool) -> Tensor:
    """Mirror left-right (``horizontal``) or top-bottom where ``flag`` is nonzero; identity elsewhere."""
    m = _eye(len(flag), flag.device)
    sign = 1.0 - 2.0 * (flag.to(torch.float64) != 0).to(torch.float64)
    m[:, 0 if horizontal else 1, 0 if horizontal else 1] = sign
    return m


def warp(images: Tensor, matrix: Tensor, interpolation: str = "bilinear", fill: float = 0.0) -> Tensor:
    """Resample ``images`` so that content at pixel point p moves to ``matrix @ p``.

    Maps that send pixel centres onto pixel centres (flips, multiples of 90°, whole-pixel shifts) are resampled
    exactly (nearest), so they are lossless permutations of pixels; other maps use ``interpolation``
    (``bilinear``, ``nearest`` or ``bicubic``). Areas with no source pixel get ``fill`` (an intensity in [0, 1])
    on RGB images; RGBA images (premultiplied) always get transparent pixels there.

    Args:
        images: ``(N, C, H, W)`` float images.
        matrix: ``(N, 3, 3)`` forward maps in centred pixel coordinates (see the module docstring).
    """
    n, c, h, w = images.shape
    if n == 0:
        return images.clone()
    inv = torch.linalg.inv(matrix.to(torch.float64))
    # A map is exact when its inverse sends the first pixel centre onto a pixel centre and one-pixel steps onto
    # whole-pixel steps (an integer linear part); then every pixel centre lands on a pixel centre.
    centre = torch.tensor([w / 2.0 - 0.5, h / 2.0 - 0.5], dtype=torch.float64, device=images.device)
    first = inv[:, :2, :2] @ -centre + inv[:, :2, 2] + centre
    linear = inv[:, :2, :2]
    exact = ((linear - linear.round()).abs().amax(dim=(1, 2)) < 1e-9) & ((first - first.round()).abs().amax(dim=1) < 1e-6)
    eye = torch.eye(3, dtype=torch.float64, device=images.device)
    if exact.all() and bool((matrix.to(torch.float64) == eye).all()):
        return images.clone()
    filled = fill != 0.0 and c != 4
    if filled:  # sample a coverage channel too: fill = what no source pixel covers
        images = torch.cat([images, torch.ones_like(images[:, :1])], dim=1)
    # Normalised coords u = x / (w/2), v = y / (h/2) with align_corners=False; conjugate by that scaling.
    to_px = torch.diag(torch.tensor([w / 2.0, h / 2.0, 1.0], dtype=torch.float64, device=images.device))
    to_norm = torch.diag(torch.tensor([2.0 / w, 2.0 / h, 1.0], dtype=torch.float64, device=images.device))
    theta = (to_norm @ inv @ to_px)[:, :2, :].to(images.dtype)
    # The sampling grid (what F.affine_grid computes) as one matrix product: (N, 2, 3) @ (3, H·W) pixel centres.
    u = (torch.arange(w, dtype=images.dtype, device=images.device) * 2 + 1) / w - 1
    v = (torch.arange(h, dtype=images.dtype, device=images.device) * 2 + 1) / h - 1
    centres = torch.stack([u.repeat(h), v.repeat_interleave(w), torch.ones_like(u).repeat(h)])
    grid = (theta @ centres).transpose(1, 2).reshape(n, h, w, 2)
    out = torch.empty_like(images)
    for mode, rows in (("nearest", exact), (interpolation, ~exact)):
        if rows.all():
            out = F.grid_sample(images, grid, mode=mode, padding_mode="zeros", align_corners=False)
            break
        if rows.any():
            out[rows] = F.grid_sample(images[rows], grid[rows], mode=mode, padding_mode="zeros", align_corners=False)
    if interpolation == "bicubic":
        out = out.clamp_(0.0, 1.0)
    if filled:
        out = out[:, :c] + fill * (1.0 - out[:, c:].clamp(0.0, 1.0))
    return out


def _per_image(values: Tensor, images: Tensor) -> Tensor:
    return values.to(images.dtype).reshape(-1, 1, 1, 1)


def _blur_kernels(sigma: Tensor, radius: int, dtype: torch.dtype) -> Tensor:
    """Per-image normalised Gaussian taps ``(N, 2·radius+1)``, each truncated at its own ``ceil(2·sigma)``."""
    x = torch.arange(-radius, radius + 1, dtype=torch.float64, device=sigma.device)
    s = sigma.to(torch.float64).clamp_min(1e-6).unsqueeze(1)
    own_radius = torch.ceil(2.0 * s).clamp_min(1.0)
    k = torch.exp(-0.5 * (x / s) ** 2) * (x.abs() <= own_radius)
    return (k / k.sum(dim=1, keepdim=True)).to(dtype)


def _reflect_index(size: int, radius: int, device: torch.device) -> Tensor:
    """Source index of each tap ``(size, 2·radius+1)`` of a 1-D filter with reflect padding (no edge repeat)."""
    i = (torch.arange(size, device=device).unsqueeze(1) + torch.arange(-radius, radius + 1, device=device)).abs()
    return torch.where(i > size - 1, 2 * (size - 1) - i, i)


def _filter_matrices(kernels: Tensor, size: int) -> Tensor:
    """Per-image 1-D filters ``(N, K)`` as ``(N, size, size)`` matrices, reflect padding folded in."""
    n, k = kernels.shape
    idx = _reflect_index(size, k // 2, kernels.device).expand(n, size, k)
    out = torch.zeros(n, size, size, dtype=kernels.dtype, device=kernels.device)
    return out.scatter_add_(2, idx, kernels.unsqueeze(1).expand(n, size, k))


def gaussian_blur(images: Tensor, sigma: Tensor) -> Tensor:
    """Separable Gaussian blur with per-image ``sigma`` in pixels (0 = identity).

    Each image's kernel is truncated at radius ``ceil(2·sigma)`` (kernel size 7 at sigma 1.5, the paper's
    setting), independent of the other images in the batch, with reflect padding. All channels are blurred,
    alpha included. Computed as ``B_rows @ channel @ B_cols^T`` with per-image filter matrices (batched matmul).
    """
    n, c, h, w = images.shape
    smax = float(sigma.max()) if n else 0.0
    if n == 0 or smax <= 0:
        return images.clone()
    radius = min(max(1, math.ceil(2.0 * smax)), min(h, w) - 1)
    kernels = _blur_kernels(sigma, radius, images.dtype)
    rows = _filter_matrices(kernels, h)
    cols = (rows if h == w else _filter_matrices(kernels, w)).transpose(1, 2)
    out = torch.empty_like(images)
    for channel in range(c):  # one bmm per channel: broadcasting the filters over channels would copy them
        torch.bmm(torch.bmm(rows, images[:, channel]), cols, out=out[:, channel])
    return out


def sharpen(images: Tensor, factor: Tensor) -> Tensor:
    """Sharpness adjustment (PIL/torchvision semantics): blend with a 3x3 smoothed copy by per-image ``factor``.

    ``factor`` 1 is the identity, 0 gives the smoothed image, > 1 sharpens. The smoothing kernel is PIL's
    (weights 1, centre 5, divided by 13); border pixels are kept, as in PIL. The result is clamped to [0, 1].
    """
    n, _, h, w = images.shape
    if n == 0 or h < 3 or w < 3:
        return images.clone()
    inner = images[..., 1:-1, 1:-1]
    rows = (images[..., :-2, :] + images[..., 1:-1, :]).add_(images[..., 2:, :])
    box = (rows[..., :-2] + rows[..., 1:-1]).add_(rows[..., 2:])  # 3x3 sums, centre included once
    smooth = box.add_(inner, alpha=4.0).div_(13.0)
    out = images.clone()
    out[..., 1:-1, 1:-1] = smooth.lerp_(inner, _per_image(factor, images))
    return out.clamp_(0.0, 1.0)


def _gray(rgb: Tensor) -> Tensor:
    r, g, b = rgb[:, 0:1], rgb[:, 1:2], rgb[:, 2:3]
    return _GRAY[0] * r + _GRAY[1] * g + _GRAY[2] * b


def adjust_brightness(rgb: Tensor, factor: Tensor) -> Tensor:
    """Multiply colour by per-image ``factor`` (1 = identity), clamped to [0, 1]."""
    return (rgb * _per_image(factor, rgb)).clamp_(0.0, 1.0)


def adjust_contrast(rgb: Tensor, factor: Tensor, weights: Tensor | None = None, segments: Tensor | None = None) -> Tensor:
    """Blend with the image's mean grey level by per-image ``factor`` (1 = identity, 0 = flat grey).

    ``weights`` (``(N, 1, H, W)``, optional) restricts the mean to where the object is (its alpha). With
    ``segments`` (``(N,)``), the rows are pixels of several images (as :func:`color_op` passes object pixels) and
    the weighted mean is taken over the rows of each segment.
    """
    gray = _gray(rgb)
    if weights is None:
        mean = gray.mean(dim=(1, 2, 3), keepdim=True)
    elif segments is not None:
        mean = _segment_mean(gray * weights, weights, segments)
    else:
        mean = (gray * weights).sum(dim=(1, 2, 3), keepdim=True) / weights.sum(dim=(1, 2, 3), keepdim=True).clamp_min(1e-8)
    return (rgb - mean).mul_(_per_image(factor, rgb)).add_(mean).clamp_(0.0, 1.0)


def adjust_saturation(rgb: Tensor, factor: Tensor) -> Tensor:
    """Blend with the greyscale image by per-image ``factor`` (1 = identity, 0 = greyscale)."""
    gray = _gray(rgb)
    return (rgb - gray).mul_(_per_image(factor, rgb)).add_(gray).clamp_(0.0, 1.0)


def hsv_to_rgb(hue6: Tensor, value: Tensor, chroma: Tensor) -> Tensor:
    """RGB from hue x 6 (any real: taken mod 6), value V and chroma C = V - min = V·S, all shaped ``(..., 1, ...)``
    alike; the result stacks R, G, B on dimension 1: channel c = V − C·clamp(min(k, 4 − k), 0, 1) with
    k = (hue6 + o_c) mod 6 and o = (5, 3, 1). The one HSV conversion of invmeter (hue shifts, procedural colours)."""
    out = torch.cat([value] * 3, dim=1)
    for c, offset in enumerate((5.0, 3.0, 1.0)):
        k = torch.remainder(hue6 + offset, 6.0)
        torch.addcmul(value, chroma, torch.minimum(k, 4.0 - k).clamp_(0.0, 1.0), value=-1.0, out=out[:, c : c + 1])
    return out


def adjust_hue(rgb: Tensor, shift: Tensor) -> Tensor:
    """Rotate hue by per-image ``shift`` in turns (fraction of the hue circle, in [-0.5, 0.5]); 0 = identity.

    An HSV round trip keeping value and saturation (:func:`hsv_to_rgb`); grey pixels come out unchanged.
    """
    r, g, b = rgb[:, 0:1], rgb[:, 1:2], rgb[:, 2:3]
    maxc = torch.maximum(torch.maximum(r, g), b)
    delta = maxc - torch.minimum(torch.minimum(r, g), b)  # the chroma: 0 for grey pixels
    sector = torch.where(
        maxc == r, g - b, torch.where(maxc == g, (b - r).add_(delta, alpha=2.0), (r - g).add_(delta, alpha=4.0))
    )
    h6 = sector.mul_(delta.clamp_min(1e-12).reciprocal_()).add_(_per_image(shift, rgb), alpha=6.0)  # hue x 6
    return hsv_to_rgb(h6, maxc, delta).clamp_(0.0, 1.0)


def grayscale(rgb: Tensor, flag: Tensor) -> Tensor:
    """Replace colour by its grey level where ``flag`` is nonzero."""
    gray = _gray(rgb).expand_as(rgb)
    return torch.where(_per_image(flag, rgb) != 0, gray, rgb)


def invert(rgb: Tensor, flag: Tensor) -> Tensor:
    """Invert colour (1 − x) where ``flag`` is nonzero."""
    return torch.where(_per_image(flag, rgb) != 0, 1.0 - rgb, rgb)


def posterize(rgb: Tensor, bits: Tensor) -> Tensor:
    """Keep the top ``bits`` bits of each channel's 8-bit value (torchvision's and PIL's posterize; 8 = identity)."""
    step = 2.0 ** (8.0 - _per_image(bits, rgb).clamp(1.0, 8.0))
    q = torch.floor(torch.round(rgb * 255.0) / step) * step / 255.0
    return torch.where(_per_image(bits, rgb) >= 8, rgb, q)


def add_noise(rgb: Tensor, std: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """Add zero-mean Gaussian noise with per-image standard deviation ``std`` (intensity units), clamped."""
    noise = torch.randn(rgb.shape, generator=generator, dtype=rgb.dtype, device=rgb.device)
    return (rgb + noise * _per_image(std, rgb)).clamp(0.0, 1.0)


def pixelate(images: Tensor, shrink: Tensor) -> Tensor:
    """Box-downsample to ``round(shrink·size)`` pixels and upsample with nearest (``shrink`` 1 = identity)."""
    n, c, h, w = images.shape
    out = images.clone()
    for value in torch.unique(shrink):  # one resample per distinct factor (few), not per image
        rows = (shrink == value).nonzero().flatten()
        if float(value) >= 1.0:
            continue
        sh, sw = max(1, round(float(value) * h)), max(1, round(float(value) * w))
        small = F.adaptive_avg_pool2d(images[rows], (sh, sw))
        out[rows] = F.interpolate(small, size=(h, w), mode="nearest")
    return out


def erase_square(images: Tensor, size_frac: Tensor, cx: Tensor, cy: Tensor) -> Tensor:
    """Zero a square of side ``size_frac``·H centred at (``cx``, ``cy``) (fractions of width/height); 0 = none.

    On RGBA images the square becomes transparent (the background shows through).
    """
    n, _, h, w = images.shape
    ys = (torch.arange(h, device=images.device, dtype=torch.float64) + 0.5) / h
    xs = (torch.arange(w, device=images.device, dtype=torch.float64) + 0.5) / w
    half = (size_frac.to(torch.float64) / 2).reshape(-1, 1, 1)
    inside_y = (ys.reshape(1, -1, 1) - cy.to(torch.float64).reshape(-1, 1, 1)).abs() < half
    inside_x = (xs.reshape(1, 1, -1) - cx.to(torch.float64).reshape(-1, 1, 1)).abs() < half * h / w
    mask = (inside_y & inside_x).unsqueeze(1)
    return images.masked_fill(mask, 0.0)


def _segment_mean(values: Tensor, weights: Tensor, segments: Tensor) -> Tensor:
    """Per-row ``sum(values) / sum(weights)`` over the rows of the row's segment, shaped like ``values``."""
    n = int(segments.max()) + 1 if len(segments) else 0
    sums = torch.zeros(n, dtype=values.dtype, device=values.device).index_add_(0, segments, values.flatten())
    totals = torch.zeros(n, dtype=values.dtype, device=values.device).index_add_(0, segments, weights.flatten())
    return (sums / totals.clamp_min(1e-8))[segments].reshape(values.shape)


def color_op(images: Tensor, op, *args, object_weighted: bool = False, **kwargs) -> Tensor:  # noqa: ANN001
    """Apply a colour ``op(rgb, *args)`` to RGB or premultiplied RGBA images, keeping alpha unchanged.

    With alpha, the op sees un-premultiplied colour. With ``object_weighted``, it sees only the object's pixels,
    as a ``(P, 3, 1, 1)`` batch with ``args`` (then per-image tensors, first dimension N) given per pixel, their
    alphas as ``weights`` and their image indices as ``segments`` (for per-image statistics); transparent pixels
    stay transparent.
    """
    if images.shape[1] != 4:
        if images.shape[1] == 1:
            return op(images.expand(-1, 3, -1, -1), *args, **kwargs)[:, :1]
        return op(images, *args, **kwargs)
    if object_weighted:
        return _object_pixels_op(images, op, *args, **kwargs)
    alpha = images[:, 3:4]
    rgb = images[:, :3] / alpha.clamp_min(1e-8)  # premultiplied: where alpha is 0, the result is re-multiplied by 0
    rgb = op(rgb.clamp_(0.0, 1.0), *args, **kwargs)
    out = torch.empty_like(images)
    torch.mul(rgb, alpha, out=out[:, :3])
    out[:, 3:] = alpha
    return out


def _object_pixels_op(images: Tensor, op, *args, **kwargs) -> Tensor:  # noqa: ANN001
    """:func:`color_op` on the pixels where alpha > 0 only (objects cover a fraction of their canvas)."""
    segments, ys, xs = (images[:, 3] > 0).nonzero(as_tuple=True)
    alpha = images[segments, 3, ys, xs].reshape(-1, 1, 1, 1)
    rgb = (images[segments, :3, ys, xs].reshape(-1, 3, 1, 1) / alpha).clamp_(0.0, 1.0)
    rgb = op(rgb, *(a[segments] for a in args), weights=alpha, segments=segments, **kwargs)
    out = torch.zeros_like(images)
    out[:, 3] = images[:, 3]
    out[segments, :3, ys, xs] = (rgb * alpha).reshape(-1, 3)
    return out
