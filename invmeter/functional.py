"""The metrics as functions on representation tensors (``invmeter.functional.invariance(z, z_t)``); the public name
of :mod:`invmeter.metrics.functional`, where they are defined."""

from invmeter.metrics.functional import (
    clean_distance_ratio as clean_distance_ratio,
    consistency as consistency,
    invariance as invariance,
    l2_ratio as l2_ratio,
    paired_distance_ratio as paired_distance_ratio,
)

__all__ = ["clean_distance_ratio", "consistency", "invariance", "l2_ratio", "paired_distance_ratio"]
