"""Percentile bootstrap over images, vectorised: resample counts drawn in blocks of rows, so memory stays bounded
however many images there are (a block is at most ``BLOCK_VALUES`` counts) and the draws are the same as in one
piece."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

__all__ = ["BLOCK_VALUES", "resample_blocks", "resample_weights", "percentile_ci"]

BLOCK_VALUES = 1 << 22  # counts per block of resamples: 32 MiB of float64 (plus the draws), whatever n is


def resample_blocks(n: int, n_boot: int, rng: np.random.Generator, block_values: int = BLOCK_VALUES
                    ) -> Iterator[np.ndarray]:
    """The rows of :func:`resample_weights` in consecutive blocks of at most ``block_values`` counts (at least one
    row each): the same draws from ``rng``, in the same order, without the ``(n_boot, n)`` array."""
    rows = max(1, block_values // max(n, 1))
    for start in range(0, max(n_boot, 0), rows):
        b = min(rows, n_boot - start)
        draws = rng.integers(0, n, size=(b, n)) + n * np.arange(b)[:, None]
        yield np.bincount(draws.ravel(), minlength=b * n).reshape(b, n).astype(np.float64)


def resample_weights(n: int, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """``(n_boot, n)`` float64 counts: how often each of n images appears in each resample (with replacement)."""
    if n_boot <= 0 or n == 0:
        return np.zeros((0, n))
    return np.concatenate(list(resample_blocks(n, n_boot, rng)))


def percentile_ci(values: np.ndarray, *, estimate: float | None = None, scale: float = 1.0,
                  bounds: tuple[float, float] | None = None) -> tuple[float, float]:
    """95% percentile interval of bootstrap ``values`` (NaN if there are none).

    ``scale`` stretches deviations from ``estimate`` (2 for U-statistics over pairs of images, whose resampled
    per-image row means move half as much as the statistic does between samples). ``bounds``: the range of the
    statistic (a metric's, from the registry); the interval is clipped to it (a stretched or jackknife interval
    can otherwise pass a bound the statistic cannot).
    """
    values = np.asarray(values, dtype=np.float64)
    if scale != 1.0 and estimate is not None:
        values = estimate + scale * (values - estimate)
    values = values[np.isfinite(values)]
    if len(values) == 0:
        return (float("nan"), float("nan"))
    lo, hi = np.percentile(values, [2.5, 97.5])
    if bounds is not None:
        lo, hi = np.clip([lo, hi], *bounds)
    return (float(lo), float(hi))
