"""Percentile bootstrap over images, vectorised: resampled index sets are drawn once per metric."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["bootstrap_ci", "resample_weights"]


def resample_weights(n: int, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """``(n_boot, n)`` multinomial counts: how often each of n images appears in each resample."""
    return rng.multinomial(n, np.full(n, 1.0 / n), size=n_boot).astype(np.float64)


def bootstrap_ci(
    statistic: Callable[[np.ndarray], np.ndarray], n: int, n_boot: int, rng: np.random.Generator, scale: float = 1.0,
    estimate: float | None = None,
) -> tuple[float, float]:
    """95% percentile interval of ``statistic(weights)`` over ``n_boot`` resamples of ``n`` images.

    ``statistic`` maps ``(B, n)`` resample counts to ``(B,)`` values. ``scale`` stretches deviations from
    ``estimate`` (2 for U-statistics over pairs, whose resampled row means move half as much as the statistic).
    """
    if n_boot <= 0 or n < 2:
        return (float("nan"), float("nan"))
    values = statistic(resample_weights(n, n_boot, rng))
    if scale != 1.0 and estimate is not None:
        values = estimate + scale * (values - estimate)
    values = values[np.isfinite(values)]
    if len(values) == 0:
        return (float("nan"), float("nan"))
    lo, hi = np.percentile(values, [2.5, 97.5])
    return (float(lo), float(hi))
