"""The metrics as functions on representation tensors (``invmeter.functional.invariance(z, z_t)``); the public name
of :mod:`invmeter.metrics.functional`, where they are defined."""

from invmeter.metrics.functional import (
    consistency as consistency,
    invariance as invariance,
    l2_ratio as l2_ratio,
    paired_distance_ratio as paired_distance_ratio,
)

__all__ = ["consistency", "invariance", "l2_ratio", "paired_distance_ratio"]
