"""The built-in metrics, each declared once (formulas in docs/metrics.md)."""

from __future__ import annotations

import math

import numpy as np
import torch

from invmeter.metrics.bootstrap import percentile_ci
from invmeter.metrics.context import MetricContext
from invmeter.metrics.distances import l2_ratio_from_sums
from invmeter.metrics.equivariance import equivariance_from_terms, equivariance_terms
from invmeter.metrics.invariance import derangement, invariance_from_terms, paired_distances
from invmeter.metrics.profile import InvarianceProfile
from invmeter.metrics.registry import register_metric
from invmeter.types import MetricValue

__all__: list[str] = []

_INF = math.inf
_NO_REFERENCE_MOVE = ("the reference change of content does not move the representation (zero mean distance): "
                      "the model does not see what differs between images, so invariance is undefined")


def _mean_value(ctx: MetricContext, name: str, x: np.ndarray) -> MetricValue:
    """Mean of per-image values with its percentile-bootstrap interval (the metric's own resamples)."""
    ctx.terms[name] = {"values": x}
    weights = ctx.resamples(len(x), ctx.rng(name))
    return MetricValue(float(x.mean()), percentile_ci((weights @ x) / len(x)))


def _random_reference(ctx: MetricContext, rng: np.random.Generator) -> torch.Tensor:
    return torch.from_numpy(derangement(len(ctx.reps), rng))


def _ratio_terms(ctx: MetricContext, reference: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    z, zt = ctx.reps.clean, ctx.reps.transformed
    return paired_distances(z, zt), paired_distances(z, z[reference])


@register_metric(
    "invariance", formula="1 - mean_i ||z_i - z'_i|| / mean_i ||z_i - z_ref(i)||",
    reading="1 = invariant, 0 = like new content", higher_is_better=True, bounds=(-_INF, 1.0),
    profile=InvarianceProfile)
def invariance(ctx: MetricContext) -> MetricValue:
    """ref(i): the same scene with another object (Transforms-2D twins), else a seeded random other image."""
    rng = ctx.rng("invariance")
    reference = ctx.reps.reference if ctx.reps.reference is not None else _random_reference(ctx, rng)
    d, r = _ratio_terms(ctx, reference)
    ctx.terms["invariance"] = {"d": d, "r": r}
    if r.mean() <= 0:
        return MetricValue.undefined(_NO_REFERENCE_MOVE)
    return MetricValue(invariance_from_terms(d, r), percentile_ci(invariance_from_terms(d, r, ctx.resamples(len(d), rng))))


@register_metric(
    "paired_distance_ratio", formula="mean_i ||z_i - z'_i|| / mean_i ||z_i - z_pi(i)||, pi a random other image",
    reading="the paper's number: 0 = invariant, 1 = like another image", higher_is_better=False, bounds=(0.0, _INF))
def paired_distance_ratio(ctx: MetricContext) -> MetricValue:
    """The paper's ratio: always against a seeded random other image (a derangement), on every kind of data."""
    rng = ctx.rng("paired_distance_ratio")
    d, r = _ratio_terms(ctx, _random_reference(ctx, rng))
    if r.mean() <= 0:
        return MetricValue.undefined(_NO_REFERENCE_MOVE)
    weights = ctx.resamples(len(d), rng)
    with np.errstate(divide="ignore", invalid="ignore"):
        boot = (weights @ d) / (weights @ r)
    return MetricValue(float(d.mean() / r.mean()), percentile_ci(boot))


@register_metric(
    "l2_ratio", formula="mean between-class / mean within-class ||z'_i - z'_j|| (transformed views, all pairs)",
    reading="higher = classes separate", higher_is_better=True, bounds=(0.0, _INF), needs=("labels",))
def l2_ratio(ctx: MetricContext) -> MetricValue:
    sums = ctx.class_sums
    ctx.terms["l2_ratio"] = {"within": sums.within, "between": sums.between, "n_within": sums.n_within,
                             "n_between": sums.n_between}
    if sums.n_within.sum() == 0 or sums.n_between.sum() == 0:
        return MetricValue.undefined("l2_ratio needs at least 2 classes, one of them with 2 or more images")
    if sums.within.sum() == 0:
        return MetricValue.undefined("every class collapses to a single point (zero within-class distance): the "
                                     "ratio is unbounded")
    value = l2_ratio_from_sums(sums)
    boot = l2_ratio_from_sums(sums, ctx.resamples(len(sums.within), ctx.rng("l2_ratio")))
    return MetricValue(float(value), percentile_ci(boot, estimate=float(value), scale=2.0))


@register_metric(
    "probe_accuracy", formula="linear probe fit on transformed train views, accuracy on transformed test views",
    reading="higher = better", higher_is_better=True, bounds=(0.0, 1.0), needs=("labels",))
def probe_accuracy(ctx: MetricContext) -> MetricValue:
    assert ctx.reps.labels is not None
    _, test = ctx.split
    predicted = ctx.probe_on("transformed").predict(ctx.reps.transformed[test])
    return _mean_value(ctx, "probe_accuracy", (predicted == ctx.reps.labels[test].numpy()).astype(np.float64))


@register_metric(
    "clean_accuracy", formula="linear probe fit on clean train views, accuracy on clean test views",
    reading="reference", higher_is_better=None, bounds=(0.0, 1.0), needs=("labels",))
def clean_accuracy(ctx: MetricContext) -> MetricValue:
    clean, _, truth = ctx.clean_probe_predictions
    return _mean_value(ctx, "clean_accuracy", (clean == truth).astype(np.float64))


@register_metric(
    "transformed_accuracy", formula="the clean-fit probe's accuracy on transformed test views",
    reading="higher = better", higher_is_better=True, bounds=(0.0, 1.0), needs=("labels",))
def transformed_accuracy(ctx: MetricContext) -> MetricValue:
    _, transformed, truth = ctx.clean_probe_predictions
    return _mean_value(ctx, "transformed_accuracy", (transformed == truth).astype(np.float64))


@register_metric(
    "accuracy_delta", formula="transformed_accuracy - clean_accuracy (same test images)",
    reading="0 = no cost", higher_is_better=True, bounds=(-1.0, 1.0), needs=("labels",))
def accuracy_delta(ctx: MetricContext) -> MetricValue:
    clean, transformed, truth = ctx.clean_probe_predictions
    return _mean_value(ctx, "accuracy_delta", (transformed == truth).astype(np.float64) - (clean == truth))


@register_metric(
    "consistency", formula="fraction of test images whose clean-fit prediction is unchanged by the transform",
    reading="1 = unchanged", higher_is_better=True, bounds=(0.0, 1.0), needs=("labels",))
def consistency(ctx: MetricContext) -> MetricValue:
    clean, transformed, _ = ctx.clean_probe_predictions
    return _mean_value(ctx, "consistency", (clean == transformed).astype(np.float64))


@register_metric(
    "equivariance", formula="held-out R^2 of the best linear effect u with z' = u(z), fit per fixed parameter",
    reading="1 = one linear effect predicts z'", higher_is_better=None, bounds=(-_INF, 1.0),
    needs=("fixed",), default=False)
def equivariance(ctx: MetricContext) -> MetricValue:
    assert ctx.groups is not None
    train, test = ctx.split
    residual, total = equivariance_terms(ctx.reps.clean, ctx.reps.transformed, np.asarray(ctx.groups), train, test)
    ctx.terms["equivariance"] = {"residual": residual, "total": total}
    value = equivariance_from_terms(residual, total)
    if not math.isfinite(value):
        return MetricValue.undefined("the transformed representations do not vary within a transform parameter")
    boot = equivariance_from_terms(residual, total, ctx.resamples(len(test), ctx.rng("equivariance")))
    return MetricValue(float(value), percentile_ci(boot))
