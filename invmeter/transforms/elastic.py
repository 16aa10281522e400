"""The elastic deformation kernel (torchvision's ``ElasticTransform``, per image), beside
:mod:`invmeter.transforms.functional`'s kernels and under the same contract."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from invmeter.transforms.functional import _filter_matrices

__all__ = ["elastic"]


def _smoothing(sigma: float, size: int) -> Tensor:
    """The ``(size, size)`` matrix of torchvision's ``ElasticTransform`` blur along one axis: a Gaussian of ``sigma``
    pixels, kernel ``int(8·sigma + 1)`` made odd, reflect padding (the radius capped at ``size`` − 1 on images too
    small for it); the identity at ``sigma`` 0."""
    if sigma <= 0:
        return torch.eye(size)
    radius = min((int(8 * sigma + 1) | 1) // 2, size - 1)
    x = torch.arange(-radius, radius + 1, dtype=torch.float32)
    taps = torch.exp(-0.5 * (x / sigma) ** 2)
    return _filter_matrices((taps / taps.sum()).unsqueeze(0), size)[0]


def elastic(images: Tensor, alpha: Tensor, sigma: Tensor, seed: Tensor) -> Tensor:
    """Elastic deformation with torchvision's ``ElasticTransform`` semantics, per image: a displacement field of
    uniform noise in [−1, 1] per axis, Gaussian-blurred with ``sigma`` (pixels), scaled by ``alpha`` (so a displacement
    of at most ``alpha``/2 pixels before the blur), and a bilinear resampling with zero fill (transparent on RGBA).

    Each image's field comes from its own ``seed`` on a CPU generator (x drawn first, then y, as torchvision draws
    them), so it does not depend on the batch or the device; ``alpha`` 0 is the identity.
    """
    _, _, h, w = images.shape
    out = images.clone()
    rows = (alpha != 0).nonzero().flatten()
    if not len(rows):
        return out
    seeds, sigmas, alphas = seed[rows].tolist(), sigma[rows].cpu().double(), alpha[rows].cpu().double()  # fields: CPU
    noise = torch.stack([torch.rand(2, h, w, generator=torch.Generator().manual_seed(int(s))) for s in seeds]) * 2 - 1
    field = torch.empty_like(noise)
    for value in torch.unique(sigmas):  # one pair of smoothing matrices per distinct sigma (few), not per image
        group = (sigmas == value).nonzero().flatten()
        field[group] = _smoothing(float(value), h) @ noise[group] @ _smoothing(float(value), w).T
    scale = torch.stack([alphas / h, alphas / w], dim=1).to(torch.float32)  # torchvision scales x by alpha / height
    field = field * scale[:, :, None, None]
    u = (torch.arange(w, dtype=torch.float32) * 2 + 1) / w - 1  # pixel centres, align_corners=False
    v = (torch.arange(h, dtype=torch.float32) * 2 + 1) / h - 1
    identity = torch.stack([u.expand(h, w), v.unsqueeze(1).expand(h, w)], dim=-1)
    grid = (identity + field.permute(0, 2, 3, 1)).to(device=images.device, dtype=images.dtype)
    index = rows.to(images.device)
    warped = F.grid_sample(images[index], grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return out.index_copy_(0, index, warped)
