"""The metrics as functions on plain tensors, for one's own loop; each equals the batch pipeline
(:func:`invmeter.metrics.compute_metrics`) on the same representations, without intervals.

Every function takes ``(N, D)`` representations (any float dtype, any device; computed in float64 on the CPU) and
raises :class:`~invmeter.errors.DataError` on NaN or Inf input. Formulas: docs/metrics.md and docs/streaming.md.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from invmeter.errors import DataError, InvalidParameterError, UndefinedMetricWarning, warn
from invmeter.metrics.context import CONSTANT_REPRESENTATION
from invmeter.metrics.distances import class_distance_sums
from invmeter.metrics.invariance import derangement, paired_distances
from invmeter.metrics.reductions import Terms
from invmeter.metrics.registry import get_metric

__all__ = ["invariance", "paired_distance_ratio", "l2_ratio", "consistency", "checked_tensor", "checked_labels",
           "check_same_shape", "reduced_value"]


def invariance(z: Tensor, z_t: Tensor, z_ref: Tensor | None = None, *, generator: np.random.Generator | int | None = None
               ) -> float:
    """``1 − mean_i ‖z_i − z'_i‖ / mean_i ‖z_i − z_ref(i)‖``: 1 = invariant, 0 = t moves representations as far as
    changing the content does, negative = further.

    Args:
        z: ``(N, D)`` representations of the clean images.
        z_t: ``(N, D)`` representations of the same images transformed (row i is t_i applied to image i).
        z_ref: ``(N, D)`` representation of each image's reference (another content, e.g. ``z[twin]``);
            ``None`` pairs each image with a seeded random other image of ``z`` (a derangement, N >= 2).
        generator: Seeds that derangement: a numpy Generator or an int seed (default 0).

    Returns:
        The value, or NaN with an :class:`~invmeter.errors.UndefinedMetricWarning` when ``z`` is the same for every
        image (a constant model: the reason a report gives) or every reference distance is 0 (the representation
        does not see the content at all: not invariant, blind; docs/metrics.md).

    Example:
        >>> z = torch.randn(64, 8, generator=torch.Generator().manual_seed(0))
        >>> invariance(z, z)
        1.0
    """
    return _ratio("invariance", z, z_t, z_ref, generator)


def _ratio(name: str, z: Tensor, z_t: Tensor, z_ref: Tensor | None, generator: np.random.Generator | int | None
           ) -> float:
    """``invariance`` or ``paired_distance_ratio``; NaN with the batch report's reason when ``z`` is constant."""
    terms = _invariance_terms(z, z_t, z_ref, generator)
    if len(z) > 1 and bool((z == z[0]).all()):  # a constant model: the reason a report gives
        warn(f"{name} undefined (NaN): {CONSTANT_REPRESENTATION}.", UndefinedMetricWarning)
        return float("nan")
    return reduced_value(name, terms)


def paired_distance_ratio(z: Tensor, z_t: Tensor, z_ref: Tensor | None = None, *,
                          generator: np.random.Generator | int | None = None) -> float:
    """The paper's number, ``mean_i ‖z_i − z'_i‖ / mean_i ‖z_i − z_ref(i)‖`` (= 1 − :func:`invariance`): the
    distance t moves a representation relative to a change of content; 0 = invariant, lower = more invariant.
    Arguments and the NaN case as in :func:`invariance`."""
    return _ratio("paired_distance_ratio", z, z_t, z_ref, generator)


def l2_ratio(z: Tensor, labels: Tensor) -> float:
    """``mean_{y_i ≠ y_j} ‖z_i − z_j‖ / mean_{y_i = y_j, i ≠ j} ‖z_i − z_j‖`` over all pairs of rows of ``z``
    (the batch pipeline passes the transformed views); higher = classes further apart. NaN with an
    :class:`~invmeter.errors.UndefinedMetricWarning` when every class collapses to a point (a report says
    undefined); :class:`DataError` without 2 classes or without a class of 2 images."""
    z = checked_tensor("z", z)
    sums = class_distance_sums(z, checked_labels(labels, len(z)))
    return reduced_value("l2_ratio", {"within": sums.within, "between": sums.between, "n_within": sums.n_within,
                                      "n_between": sums.n_between})


def consistency(logits: Tensor, logits_t: Tensor) -> float:
    """Fraction of images whose predicted class (argmax of ``(N, K)`` logits) is unchanged by the transform."""
    logits, logits_t = checked_tensor("logits", logits), checked_tensor("logits_t", logits_t)
    check_same_shape(logits, logits_t, "logits", "logits_t")
    if len(logits) == 0:
        raise DataError("consistency needs at least one image.")
    return reduced_value("consistency", {"values": (logits.argmax(dim=1) == logits_t.argmax(dim=1)).double().numpy()})


def reduced_value(name: str, terms: Terms) -> float:
    """The metric ``name``'s value from its per-image terms by its registry reduction, as the batch pipeline
    computes it; NaN with an :class:`~invmeter.errors.UndefinedMetricWarning` giving the reason for a degenerate
    input (the batch report says undefined with the same reason), a :class:`DataError` for unusable terms."""
    reduction = get_metric(name).reduction
    assert reduction is not None  # every functional metric has per-image terms
    reason = reduction.why_undefined(terms)
    if reason is not None:
        warn(f"{name} undefined (NaN): {reason}.", UndefinedMetricWarning)
        return float("nan")
    return reduction.value(terms)


def _invariance_terms(z: Tensor, z_t: Tensor, z_ref: Tensor | None, generator: np.random.Generator | int | None
                      ) -> dict[str, np.ndarray]:
    """Per-image ``d_i`` and ``r_i`` exactly as :func:`invmeter.metrics.invariance.invariance_terms` computes them."""
    z, z_t = checked_tensor("z", z), checked_tensor("z_t", z_t)
    check_same_shape(z, z_t, "z", "z_t")
    if z_ref is None:
        if len(z) < 2:
            raise DataError("invariance with random references needs at least 2 images.")
        rng = generator if isinstance(generator, np.random.Generator) else np.random.default_rng(generator or 0)
        reference = z[torch.from_numpy(derangement(len(z), rng))]
    else:
        reference = checked_tensor("z_ref", z_ref)
        check_same_shape(z, reference, "z", "z_ref")
    if len(z) == 0:
        raise DataError("invariance needs at least one image.")
    return {"d": paired_distances(z, z_t), "r": paired_distances(z, reference)}


def checked_tensor(name: str, x: Tensor) -> Tensor:
    """A 2-D tensor on the CPU (detached), or a one-line error; NaN or Inf is a :class:`DataError`."""
    if not isinstance(x, Tensor):
        raise InvalidParameterError(f"'{name}' must be a torch.Tensor. Got {type(x).__name__}.")
    if x.dim() != 2:
        raise InvalidParameterError(f"'{name}' must be 2-D (N, D); flatten it first. Got shape {tuple(x.shape)}.")
    _check_not_meta(name, x)
    x = x.detach().cpu()
    if x.dtype.is_floating_point and not bool(torch.isfinite(x).all()):
        raise DataError(f"'{name}' holds NaN or Inf values; check the model's output (e.g. a diverged run).")
    return x


def checked_labels(labels: Tensor, n: int) -> Tensor:
    """``(n,)`` non-negative integer class indices as int64 on the CPU, or a one-line error."""
    labels = torch.as_tensor(labels)
    _check_not_meta("labels", labels)
    labels = labels.detach().cpu()
    if labels.shape != (n,) or labels.dtype.is_floating_point or labels.dtype == torch.bool:
        raise InvalidParameterError(f"'labels' must hold {n} integer class indices, one per image. Got "
                                    f"{tuple(labels.shape)} {labels.dtype}.")
    if n and int(labels.min()) < 0:
        raise InvalidParameterError("'labels' must be non-negative class indices.")
    return labels.to(torch.int64)


def _check_not_meta(name: str, x: Tensor) -> None:
    if x.device.type == "meta":
        raise DataError(f"'{name}' is on the meta device: it has a shape but no values. Give a tensor with data.")


def check_same_shape(a: Tensor, b: Tensor, name_a: str, name_b: str) -> None:
    if a.shape != b.shape:
        raise InvalidParameterError(f"'{name_a}' and '{name_b}' must have the same shape. Got {tuple(a.shape)} and "
                                    f"{tuple(b.shape)}.")
