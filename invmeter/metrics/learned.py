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

from invmeter.metrics.context import MetricContext
from invmeter.metrics.registry import get_metric, register_metric
from invmeter.types import MetricValue

__all__ = ["BASELINE_KEY"]

BASELINE_KEY = "baseline"
_INF = math.inf


def _gain(ctx: MetricContext, name: str) -> MetricValue:
    """The gain ``name`` of its raw metric over the baseline's random initialisations, on the same pairs."""
    raw = get_metric(name).calibrates
    assert raw is not None
    base = ctx.inputs.get(BASELINE_KEY, {}).get(raw)
    if base is None:
        return MetricValue.undefined(f"no random-init baseline terms for {raw} (score with baseline='random-init')")
    if isinstance(base, str):  # the random initialisations had no value: why
        return MetricValue.undefined(f"the random-init baseline's {raw} is undefined: {base}")
    if raw not in ctx.terms:
        get_metric(raw).compute(ctx)  # the raw metric's per-image terms (its own stream: the same terms)
    terms = ctx.terms[raw]
    return ctx.from_terms(name, {"d": terms["d"], "r": terms["r"], "d0": base["d0"], "r0": base["r0"]})


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
    bounds=(-_INF, 1.0), needs=("baseline",), default=False, reduction="gain", calibrates="paired_distance_ratio")
def learned_paired_distance_ratio(ctx: MetricContext) -> MetricValue:
    return _gain(ctx, "learned_paired_distance_ratio")
