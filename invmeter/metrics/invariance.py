"""Paired-distance invariance: how far t moves g(x), relative to how far a reference change moves it (on
Transforms-2D: swapping the object in the same scene; elsewhere: swapping the image for a random other one)."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

__all__ = ["paired_distances", "derangement", "invariance_terms", "invariance_from_terms"]


ROWS_PER_BLOCK = 4096  # rows converted to float64 at a time: memory O(block · D), not O(N · D)


def paired_distances(a: Tensor, b: Tensor) -> np.ndarray:
    """Row-wise Euclidean distances ``||a_i - b_i||`` in float64, computed directly (exactly 0 for equal rows), a
    block of rows at a time (each row's value does not depend on the blocks)."""
    out = torch.empty(len(a), dtype=torch.float64)
    for s in range(0, len(a), ROWS_PER_BLOCK):
        torch.linalg.vector_norm(a[s : s + ROWS_PER_BLOCK].double() - b[s : s + ROWS_PER_BLOCK].double(), dim=1,
                                 out=out[s : s + ROWS_PER_BLOCK])
    return out.numpy()


def derangement(n: int, rng: np.random.Generator) -> np.ndarray:
    """A seeded permutation with no fixed point (each image paired with a different image); n >= 2."""
    if n < 2:
        raise ValueError("A derangement needs at least 2 items.")
    perm = rng.permutation(n)
    shift = rng.integers(1, n)
    # Composing a random permutation with a cyclic shift of its positions never maps an index to itself.
    out = np.empty(n, dtype=np.int64)
    out[perm] = perm[(np.arange(n) + shift) % n]
    return out


def invariance_terms(
    clean: Tensor, transformed: Tensor, rng: np.random.Generator, reference: Tensor | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Per-image ``d_i = ||z_i - z'_i||`` and ``r_i = ||z_i - z_ref(i)||``: ``reference`` (N,) indexes each image's
    reference image; ``None`` pairs it with a seeded random other image (a derangement, drawn from ``rng``)."""
    if reference is None:
        reference = torch.from_numpy(derangement(len(clean), rng))
    return paired_distances(clean, transformed), paired_distances(clean, clean[reference])


def invariance_from_terms(d: np.ndarray, r: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray | float:
    """``1 - mean(d) / mean(r)``; with ``(B, N)`` resample ``weights`` returns B values."""
    if weights is None:
        denom = r.mean()
        return float(1.0 - d.mean() / denom) if denom > 0 else float("nan")
    with np.errstate(divide="ignore", invalid="ignore"):
        return 1.0 - (weights @ d) / (weights @ r)
