"""Learned invariance: how much of an architecture's non-invariance at random initialisation training removed.

A random network is already partly invariant (a convolution stack with a global pool is a low-pass filter), by an
amount that depends on the architecture, so a raw value cannot tell what training added. The gain over the
architecture's random initialisation, scored on the same pairs, can: with ρ the non-invariance ratio of the model
(Σ_i d_i / Σ_i r_i, paired over reference distances) and ρ₀ the mean of the same ratio over K random
initialisations of its architecture, the gain is ``1 - ρ / ρ₀`` (docs/metrics.md). For ``invariance`` = 1 - ρ this
is ``(inv - inv₀) / (1 - inv₀)``; for ``paired_distance_ratio`` = ρ it is ``(pdr₀ - pdr) / pdr₀``.

The pipeline measures the random initialisations first (:mod:`invmeter.pipeline.baseline`) and hands their per-image
terms in ``MetricContext.inputs[BASELINE_KEY]``: ``{raw metric: {"d0": (K, N), "r0": (K, N)}}``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from invmeter.metrics.context import MetricContext, metric_rng, reduce_terms
from invmeter.metrics.registry import get_metric, register_metric
from invmeter.types import MetricValue

__all__ = ["BASELINE_KEY", "gain_terms", "gain_value"]

BASELINE_KEY = "baseline"
_INF = math.inf


def gain_terms(name: str, raw_terms: Mapping[str, Mapping[str, Any]], baseline: Mapping[str, Any]
               ) -> dict[str, Any] | str:
    """The gain ``name``'s per-image terms (the raw metric's ``d``, ``r`` and the baseline's ``d0``, ``r0``), or why
    there are none. ``raw_terms``: a measurement's terms by metric; ``baseline``: ``{raw metric: {"d0", "r0"} or the
    reason the random initialisations have no value}``."""
    raw = get_metric(name).calibrates
    assert raw is not None
    base = baseline.get(raw)
    if base is None:
        return f"no random-init baseline terms for {raw} (score with baseline='random-init')"
    if isinstance(base, str):
        return f"the random-init baseline's {raw} is undefined: {base}"
    if raw not in raw_terms:
        return f"{raw} was not computed"
    terms = raw_terms[raw]
    return {"d": terms["d"], "r": terms["r"], "d0": base["d0"], "r0": base["r0"]}


def gain_value(name: str, raw_terms: Mapping[str, Mapping[str, Any]], baseline: Mapping[str, Any], *, n_boot: int,
               seed: int) -> tuple[MetricValue, dict[str, Any] | None]:
    """The gain ``name`` with its interval (its own random stream at ``seed``: the value a measurement at that seed
    computes), and its terms (``None`` with an undefined value); see :func:`gain_terms`."""
    terms = gain_terms(name, raw_terms, baseline)
    if isinstance(terms, str):
        return MetricValue.undefined(terms), None
    return reduce_terms(name, terms, n_boot=n_boot, rng=metric_rng(seed, name)), terms


def _gain(ctx: MetricContext, name: str) -> MetricValue:
    """The gain ``name`` of its raw metric over the baseline's random initialisations, on the same pairs."""
    raw = get_metric(name).calibrates
    assert raw is not None
    if raw not in ctx.terms:
        get_metric(raw).compute(ctx)  # the raw metric's per-image terms (its own stream: the same terms)
    terms = gain_terms(name, ctx.terms, ctx.inputs.get(BASELINE_KEY, {}))
    return MetricValue.undefined(terms) if isinstance(terms, str) else ctx.from_terms(name, terms)


@register_metric(
    "learned_invariance", formula="(inv - inv0) / (1 - inv0), inv0 = the architecture's random-init invariance on the "
    "same pairs (mean over its initialisations)", reading="1 = training removed all random-init non-invariance, 0 = "
    "none, < 0 = less invariant than random", higher_is_better=True, bounds=(-_INF, 1.0), needs=("baseline",),
    default=False, reduction="gain", calibrates="invariance")
def learned_invariance(ctx: MetricContext) -> MetricValue:
    return _gain(ctx, "learned_invariance")


@register_metric(
    "learned_paired_distance_ratio", formula="(pdr0 - pdr) / pdr0, pdr0 = the architecture's random-init "
    "paired_distance_ratio on the same pairs (mean over its initialisations)", reading="1 = training removed all "
    "random-init non-invariance, 0 = none, < 0 = less invariant than random", higher_is_better=True,
    bounds=(-_INF, 1.0), needs=("baseline", "redraw"), default=False, reduction="gain",
    calibrates="paired_distance_ratio")
def learned_paired_distance_ratio(ctx: MetricContext) -> MetricValue:
    return _gain(ctx, "learned_paired_distance_ratio")
