"""The built-in metrics, each declared once (formulas in docs/metrics.md)."""

from __future__ import annotations

import math

import numpy as np
import torch

from invmeter.metrics.context import MetricContext
from invmeter.metrics.equivariance import equivariance_terms
from invmeter.metrics.invariance import derangement, paired_distances
from invmeter.metrics.profile import InvarianceProfile
from invmeter.metrics.registry import register_metric
from invmeter.types import MetricValue

__all__: list[str] = []

_INF = math.inf


def _random_reference(ctx: MetricContext, rng: np.random.Generator) -> torch.Tensor:
    return torch.from_numpy(derangement(len(ctx.reps), rng))


def _ratio_terms(ctx: MetricContext, reference: torch.Tensor) -> dict[str, np.ndarray]:
    z, zt = ctx.reps.clean, ctx.reps.transformed
    return {"d": paired_distances(z, zt), "r": paired_distances(z, z[reference])}


@register_metric(
    "invariance", formula="1 - mean_i ||z_i - z'_i|| / mean_i ||z_i - z_ref(i)||",
    reading="1 = invariant, 0 = like new content", higher_is_better=True, bounds=(-_INF, 1.0),
    profile=InvarianceProfile, reduction="ratio", sweep=True)
def invariance(ctx: MetricContext) -> MetricValue:
    """ref(i): the same scene with another object (Transforms-2D twins), else a seeded random other image."""
    rng = ctx.rng("invariance")
    reference = ctx.reps.reference if ctx.reps.reference is not None else _random_reference(ctx, rng)
    return ctx.from_terms("invariance", _ratio_terms(ctx, reference), rng)


@register_metric(
    "paired_distance_ratio", formula="mean_i ||z_i - z'_i|| / mean_i ||z_i - z_pi(i)||, pi a random other image",
    reading="the paper's number: 0 = invariant, 1 = like another image", higher_is_better=False, bounds=(0.0, _INF),
    reduction="distance_ratio")
def paired_distance_ratio(ctx: MetricContext) -> MetricValue:
    """The paper's ratio: always against a seeded random other image (a derangement), on every kind of data."""
    rng = ctx.rng("paired_distance_ratio")
    return ctx.from_terms("paired_distance_ratio", _ratio_terms(ctx, _random_reference(ctx, rng)), rng)


@register_metric(
    "l2_ratio", formula="mean between-class / mean within-class ||z'_i - z'_j|| (transformed views, all pairs)",
    reading="higher = classes separate", higher_is_better=True, bounds=(0.0, _INF), needs=("labels",),
    reduction="pair_ratio")
def l2_ratio(ctx: MetricContext) -> MetricValue:
    sums = ctx.class_sums
    return ctx.from_terms("l2_ratio", {"within": sums.within, "between": sums.between, "n_within": sums.n_within,
                                       "n_between": sums.n_between})


def _correct(x: np.ndarray) -> dict[str, np.ndarray]:
    return {"values": x.astype(np.float64)}


@register_metric(
    "probe_accuracy", formula="linear probe fit on transformed train views, accuracy on transformed test views",
    reading="higher = better", higher_is_better=True, bounds=(0.0, 1.0), needs=("labels", "probe"), reduction="mean",
    sweep=True)
def probe_accuracy(ctx: MetricContext) -> MetricValue:
    assert ctx.reps.labels is not None
    _, test = ctx.split
    predicted = ctx.probe_on("transformed").predict(ctx.reps.transformed[test])
    return ctx.from_terms("probe_accuracy", _correct(predicted == ctx.reps.labels[test].numpy()))


@register_metric(
    "clean_accuracy", formula="linear probe fit on clean train views, accuracy on clean test views",
    reading="reference", higher_is_better=None, bounds=(0.0, 1.0), needs=("labels", "probe"), reduction="mean")
def clean_accuracy(ctx: MetricContext) -> MetricValue:
    clean, _, truth = ctx.clean_probe_predictions
    return ctx.from_terms("clean_accuracy", _correct(clean == truth))


@register_metric(
    "transformed_accuracy", formula="the clean-fit probe's accuracy on transformed test views",
    reading="higher = better", higher_is_better=True, bounds=(0.0, 1.0), needs=("labels", "probe"), reduction="mean",
    sweep=True)
def transformed_accuracy(ctx: MetricContext) -> MetricValue:
    _, transformed, truth = ctx.clean_probe_predictions
    return ctx.from_terms("transformed_accuracy", _correct(transformed == truth))


@register_metric(
    "accuracy_delta", formula="transformed_accuracy - clean_accuracy (same test images)",
    reading="0 = no cost", higher_is_better=True, bounds=(-1.0, 1.0), needs=("labels", "probe"), reduction="mean",
    sweep=True)
def accuracy_delta(ctx: MetricContext) -> MetricValue:
    clean, transformed, truth = ctx.clean_probe_predictions
    return ctx.from_terms("accuracy_delta", {"values": (transformed == truth).astype(np.float64) - (clean == truth)})


@register_metric(
    "consistency", formula="fraction of test images whose clean-fit prediction is unchanged by the transform",
    reading="1 = unchanged", higher_is_better=True, bounds=(0.0, 1.0), needs=("labels", "probe"), reduction="mean",
    sweep=True)
def consistency(ctx: MetricContext) -> MetricValue:
    clean, transformed, _ = ctx.clean_probe_predictions
    return ctx.from_terms("consistency", _correct(clean == transformed))


@register_metric(
    "equivariance", formula="held-out R^2 of the best linear effect u with z' = u(z), fit per fixed parameter",
    reading="1 = one linear effect predicts z'", higher_is_better=None, bounds=(-_INF, 1.0),
    needs=("fixed",), default=False, reduction="r2", sweep=True)
def equivariance(ctx: MetricContext) -> MetricValue:
    assert ctx.groups is not None
    train, test = ctx.split
    residual, total = equivariance_terms(ctx.reps.clean, ctx.reps.transformed, np.asarray(ctx.groups), train, test)
    return ctx.from_terms("equivariance", {"residual": residual, "total": total})
