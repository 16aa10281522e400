"""The elastic deformation kernel (torchvision's ``ElasticTransform``, per image), beside
:mod:`invmeter.transforms.functional`'s kernels and under the same contract."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from invmeter.transforms.functional import _filter_matrices

__all__ = ["elastic"]


def _displacement_axis(gen: torch.Generator, sigma: float, h: int, w: int) -> Tensor:
    """One axis of a displacement field: uniform noise in [-1, 1] blurred as torchvision's ``ElasticTransform``
    does (Gaussian of ``sigma`` pixels, kernel ``int(8·sigma + 1)`` made odd, reflect padding; the radius is capped at
    the side − 1 on images too small for it)."""
    noise = torch.rand(h, w, generator=gen) * 2 - 1
    if sigma <= 0:
        return noise
    radius = min((int(8 * sigma + 1) | 1) // 2, h - 1, w - 1)
    x = torch.arange(-radius, radius + 1, dtype=torch.float32)
    taps = torch.exp(-0.5 * (x / sigma) ** 2)
    taps = (taps / taps.sum()).unsqueeze(0)
    return _filter_matrices(taps, h)[0] @ noise @ _filter_matrices(taps, w)[0].T


def elastic(images: Tensor, alpha: Tensor, sigma: Tensor, seed: Tensor) -> Tensor:
    """Elastic deformation with torchvision's ``ElasticTransform`` semantics, per image: a displacement field of
    uniform noise in [−1, 1] per axis, Gaussian-blurred with ``sigma`` (pixels), scaled by ``alpha`` (so a displacement
    of at most ``alpha``/2 pixels before the blur), and a bilinear resampling with zero fill (transparent on RGBA).

    Each image's field comes from its own ``seed`` on a CPU generator (x drawn first, then y, as torchvision draws
    them), so it does not depend on the batch or the device; ``alpha`` 0 is the identity.
    """
    _, _, h, w = images.shape
    out = images.clone()
    rows = (alpha != 0).nonzero().flatten().tolist()
    if not rows:
        return out
    fields = []
    for i in rows:
        gen = torch.Generator().manual_seed(int(seed[i]))
        s = float(sigma[i])
        dx = _displacement_axis(gen, s, h, w) * (float(alpha[i]) / h)  # torchvision scales x by alpha / height
        dy = _displacement_axis(gen, s, h, w) * (float(alpha[i]) / w)
        fields.append(torch.stack([dx, dy], dim=-1))
    u = (torch.arange(w, dtype=torch.float32) * 2 + 1) / w - 1  # pixel centres, align_corners=False
    v = (torch.arange(h, dtype=torch.float32) * 2 + 1) / h - 1
    identity = torch.stack([u.expand(h, w), v.unsqueeze(1).expand(h, w)], dim=-1)
    grid = (identity + torch.stack(fields)).to(device=images.device, dtype=images.dtype)
    index = torch.tensor(rows, device=images.device)
    warped = F.grid_sample(images[index], grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return out.index_copy_(0, index, warped)
