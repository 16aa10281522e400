"""Percentile bootstrap over images, vectorised: one set of resample counts serves every metric."""

from __future__ import annotations

import numpy as np

__all__ = ["resample_weights", "percentile_ci"]


def resample_weights(n: int, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """``(n_boot, n)`` float64 counts: how often each of n images appears in each resample (with replacement)."""
    if n_boot <= 0 or n == 0:
        return np.zeros((0, n))
    draws = rng.integers(0, n, size=(n_boot, n)) + n * np.arange(n_boot)[:, None]
    return np.bincount(draws.ravel(), minlength=n_boot * n).reshape(n_boot, n).astype(np.float64)


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
