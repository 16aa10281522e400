"""The l2 between/within-class distance ratio over all pairs (of every image, or of a sample of them: the metric
registry's :class:`~invmeter.metrics.registry.PairSample`), computed blockwise in O(N·d) memory."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from invmeter.errors import DataError

__all__ = ["ClassDistanceSums", "class_distance_sums", "l2_ratio_from_sums"]


@dataclass(frozen=True)
class ClassDistanceSums:
    """Per-image sums of distances to other images of the same / other classes, and the pair counts."""

    within: np.ndarray  # (N,) sum_j{y_j = y_i, j != i} ||z_i - z_j||
    between: np.ndarray  # (N,) sum_j{y_j != y_i} ||z_i - z_j||
    n_within: np.ndarray  # (N,) number of such j
    n_between: np.ndarray  # (N,)


def class_distance_sums(z: Tensor, labels: Tensor, block: int | None = None, keep: np.ndarray | None = None
                        ) -> ClassDistanceSums:
    """All pairwise Euclidean distances, accumulated per image by class relation, one row block at a time.

    Distances come from the Gram expansion in float64, clamped at 0 before the square root (NaN-free for
    identical rows); the diagonal is excluded exactly. Per-class row sums are one product with the one-hot
    label matrix. Peak memory is one ``block x N`` float64 buffer (64 MiB by default) on top of the
    ``N x d`` features: linear in N.

    ``keep``: sorted indices of the images whose pairs are visited (a sample); the other images' sums and pair
    counts are 0, so every array still has one entry per image.
    """
    if keep is not None:
        part = class_distance_sums(z[torch.from_numpy(keep)], labels[torch.from_numpy(keep)], block)
        full = [np.zeros(len(z)) for _ in range(4)]
        for out, values in zip(full, (part.within, part.between, part.n_within, part.n_between)):
            out[keep] = values
        return ClassDistanceSums(*full)
    zd = z.double()
    zd = zd - zd.mean(dim=0, keepdim=True)  # centring reduces cancellation in the expansion
    sq = (zd * zd).sum(dim=1)
    y = labels.to(torch.int64)
    n = len(zd)
    if block is None:
        block = int(min(1024, max(64, 2**23 // max(n, 1))))
    onehot = torch.nn.functional.one_hot(y, int(y.max()) + 1 if n else 1).double()
    counts = onehot.sum(dim=0)
    within = torch.zeros(n, dtype=torch.float64)
    total = torch.zeros(n, dtype=torch.float64)
    for start in range(0, n, block):
        stop = min(start + block, n)
        d = zd[start:stop] @ zd.T  # the only block x N buffer, turned into distances in place
        d.mul_(-2.0).add_(sq[None, :]).add_(sq[start:stop, None]).clamp_min_(0.0).sqrt_()
        rows = torch.arange(start, stop)
        d[rows - start, rows] = 0.0
        per_class = d @ onehot
        within[start:stop] = per_class.gather(1, y[start:stop, None]).squeeze(1)
        total[start:stop] = per_class.sum(dim=1)
    n_within = counts[y] - 1.0
    return ClassDistanceSums(within.numpy(), (total - within).numpy(), n_within.numpy(), (n - counts[y]).numpy())


def l2_ratio_from_sums(s: ClassDistanceSums, weights: np.ndarray | None = None) -> np.ndarray | float:
    """mean between-class distance / mean within-class distance; with ``(B, N)`` weights returns B values."""
    if s.n_within.sum() == 0:
        raise DataError("l2_ratio needs at least one class with 2 or more images.")
    if s.n_between.sum() == 0:
        raise DataError("l2_ratio needs at least 2 classes.")
    if weights is None:
        within = s.within.sum() / s.n_within.sum()
        return float(s.between.sum() / s.n_between.sum() / within) if within > 0 else float("inf")
    with np.errstate(divide="ignore", invalid="ignore"):
        between = (weights @ s.between) / (weights @ s.n_between)
        within = (weights @ s.within) / (weights @ s.n_within)
        return between / within
