"""Equivariance: how well one linear effect u predicts the transformed representation, z' ≈ u(z) = z (I + A) + b.

Fit per exact transform parameter (a fixed θ; ±θ are different effects) with ridge regression on training
images, scored as R² on held-out images: 1 = an exact linear effect exists (equivariant), 0 = no better than
predicting the mean transformed representation. The ridge shrinks u towards the identity, so an invariant
representation (u = I) scores 1 even with fewer images than dimensions: invariance is the special case of
equivariance whose effect is the identity.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

__all__ = ["equivariance_terms", "equivariance_from_terms", "verdict", "VERDICT_THRESHOLD"]

VERDICT_THRESHOLD = 0.75  # calibrated for the object-swap reference: benchmarks/verdict_threshold.py, RESULTS.md
RIDGE = 1e-4  # ridge strength relative to the mean squared feature norm


def _ridge_fit(z: Tensor, zt: Tensor) -> tuple[Tensor, Tensor]:
    """Minimise ||zt - z A - b||² + λ||A||² with λ = RIDGE · n · mean ||z - mean z||² / d (float64)."""
    mu, mu_t = z.mean(dim=0), zt.mean(dim=0)
    zc, ztc = z - mu, zt - mu_t
    n, d = zc.shape
    lam = RIDGE * float((zc * zc).sum()) / d + 1e-12
    if n < d:  # dual form: A = Zᵀ (Z Zᵀ + λI)⁻¹ Z'
        gram = zc @ zc.T + lam * torch.eye(n, dtype=zc.dtype)
        A = zc.T @ torch.linalg.solve(gram, ztc)
    else:
        gram = zc.T @ zc + lam * torch.eye(d, dtype=zc.dtype)
        A = torch.linalg.solve(gram, zc.T @ ztc)
    return A, mu_t - mu @ A


def equivariance_terms(
    clean: Tensor, transformed: Tensor, groups: np.ndarray, train: np.ndarray, test: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per test image: squared residual ``||z'_i - u_g(z_i)||²`` and squared deviation ``||z'_i - mean_g z'||²``.

    ``groups`` (N,) assigns each image the id of its exact transform parameters; one effect u_g is fit per group
    on the group's training images. Both arrays follow the order of ``test``.
    """
    z, zt = clean.double(), transformed.double()
    residual = np.zeros(len(test))
    total = np.zeros(len(test))
    for g in np.unique(groups[test]):
        tr = train[groups[train] == g]
        te_pos = np.flatnonzero(groups[test] == g)
        te = test[te_pos]
        if len(tr) < 2:
            residual[te_pos] = total[te_pos] = np.nan
            continue
        A, b = _ridge_fit(z[tr], zt[tr] - z[tr])
        pred = z[te] + z[te] @ A + b
        residual[te_pos] = ((zt[te] - pred) ** 2).sum(dim=1).numpy()
        total[te_pos] = ((zt[te] - zt[tr].mean(dim=0)) ** 2).sum(dim=1).numpy()
    return residual, total


def equivariance_from_terms(
    residual: np.ndarray, total: np.ndarray, weights: np.ndarray | None = None
) -> np.ndarray | float:
    """Held-out R² = 1 - Σ residual / Σ total (pooled over groups); with ``(B, n)`` weights returns B values."""
    ok = np.isfinite(residual) & np.isfinite(total)
    r, t = np.where(ok, residual, 0.0), np.where(ok, total, 0.0)
    if weights is None:
        return float(1.0 - r.sum() / t.sum()) if t.sum() > 0 else float("nan")
    with np.errstate(divide="ignore", invalid="ignore"):
        return 1.0 - (weights @ r) / (weights @ t)


def verdict(invariance: float, equivariance: float | None, threshold: float = VERDICT_THRESHOLD) -> str:
    """``invariant`` (invariance ≥ threshold), else ``equivariant`` (equivariance ≥ threshold), else ``neither``."""
    if invariance >= threshold:
        return "invariant"
    if equivariance is not None and np.isfinite(equivariance) and equivariance >= threshold:
        return "equivariant"
    return "neither"
