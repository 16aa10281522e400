"""The state of a stream of representation pairs and the values it gives: one definition shared by
:class:`~invmeter.streaming.metric.InvarianceMetric` (a dict of values) and the scalar torchmetrics metrics
(:mod:`invmeter.integrations.torchmetrics`).

The state is exact running sums (:data:`SUM_KEYS`, merged by addition), what every update gives
(:data:`MODE_KEYS`, which must agree) and a seeded reservoir (:class:`~invmeter.streaming.reservoir.Reservoir`,
merged by keeping the M smallest keys). Each value is the metric registry's reduction
(:mod:`invmeter.metrics.reductions`) of terms read off the state, so a degenerate stream answers as the functional
API does: NaN with an :class:`~invmeter.errors.UndefinedMetricWarning` giving the registry's reason.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
from torch import Tensor

from invmeter.errors import DataError, InvalidParameterError, UndefinedMetricWarning, warn
from invmeter.metrics.context import CONSTANT_REPRESENTATION
from invmeter.metrics.distances import class_distance_sums
from invmeter.metrics.functional import reduced_value
from invmeter.streaming.reservoir import Reservoir

__all__ = ["MODE_KEYS", "STREAM_METRICS", "SUM_KEYS", "check_modes_agree", "stream_value"]

SUM_KEYS = ("n", "sum_d", "n_ref", "sum_r", "n_logits", "n_same")
MODE_KEYS = ("reference", "labels", "logits")  # z_ref given, labels given, logits given: fixed by the first update

# metric (registry name) -> the mode it needs, or None
STREAM_METRICS: dict[str, str | None] = {"invariance": None, "paired_distance_ratio": None, "l2_ratio": "labels",
                                         "consistency": "logits"}
_NEEDS = {"labels": "labels (update(..., labels))",
          "logits": "logits (a model whose last nn.Linear gives its output, or logits=/logits_t=)"}
_ARGUMENT = {"reference": "z_ref", "labels": "labels", "logits": "logits"}


def stream_value(name: str, sums: Mapping[str, float], modes: Mapping[str, bool] | None,
                 reservoir: Reservoir | None) -> float:
    """The metric ``name`` (a key of :data:`STREAM_METRICS`) over a stream's state, by its registry reduction.

    ``invariance``/``paired_distance_ratio``: terms ``d = Σ‖z − z'‖ / n`` and ``r`` = the mean reference distance
    (the running mean with explicit references, else the mean over all pairs of the reservoir); ``l2_ratio``: the
    class distance sums of the reservoir's transformed views; ``consistency``: the fraction of unchanged argmaxes.
    """
    if name not in STREAM_METRICS:
        raise InvalidParameterError(f"A stream gives {', '.join(STREAM_METRICS)}; not {name!r}.")
    n = int(sums["n"])
    if n == 0 or modes is None or reservoir is None:
        raise DataError("The metric has no samples; call update() before compute().")
    need = STREAM_METRICS[name]
    if need is not None and not modes[need]:
        raise InvalidParameterError(f"{name} needs {_NEEDS[need]} in every update.")
    held = reservoir.clean
    if len(held) > 1 and bool((held == held[0]).all()):  # a constant model: the reason score and functional give
        warn(f"{name} undefined (NaN): {CONSTANT_REPRESENTATION}.", UndefinedMetricWarning)
        return math.nan
    if name == "l2_ratio":
        held = reservoir.by_id()
        s = class_distance_sums(held.transformed.float(), held.labels)  # type: ignore[arg-type]
        return reduced_value(name, {"within": s.within, "between": s.between, "n_within": s.n_within,
                                    "n_between": s.n_between})
    if name == "consistency":
        return reduced_value(name, {"values": [sums["n_same"] / sums["n_logits"]]})
    if modes["reference"]:
        mean_r = sums["sum_r"] / sums["n_ref"]
    else:
        if len(reservoir) < 2:
            raise DataError("invariance against random references needs at least 2 images.")
        mean_r = _mean_pairwise_distance(reservoir.clean.float())
    return reduced_value(name, {"d": [sums["sum_d"] / n], "r": [mean_r]})


def check_modes_agree(first: Mapping[str, bool], other: Mapping[str, bool]) -> None:
    """What one update (or process, or merged state) gave must be what the others gave: a one-line error if not."""
    for key in MODE_KEYS:
        if bool(first[key]) != bool(other[key]):
            raise InvalidParameterError(f"'{_ARGUMENT[key]}' was given in some updates but not in others; give it in "
                                        "every update or in none (or reset()).")


def _mean_pairwise_distance(z: Tensor) -> float:
    """Mean of ``‖z_i − z_j‖`` over ordered pairs ``i ≠ j`` (every row's distances to every other row)."""
    sums = class_distance_sums(z, torch.zeros(len(z), dtype=torch.int64))
    return float(sums.within.sum() / sums.n_within.sum())
