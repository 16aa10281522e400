"""The field's other measures as registry metrics (off by default; docs/measures.md): the Lie derivative (LEE),
tmeasures' per-unit family (normalized variance, ANOVA, Goodfellow) and linear CKA, each with a per-layer profile.

``lie_derivative`` needs a gradient pass through the model (``needs=("model",)``): the pipeline computes its
per-image values (:mod:`invmeter.pipeline.gradient`) and hands them in ``MetricContext.inputs``. The others are computed
from the representations, and per layer by reducers fed during the one pass over the pairs.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from invmeter.errors import DataError
from invmeter.metrics.cka import CKAStats, cka_leave_one_out, pseudo_values
from invmeter.metrics.context import MetricContext, metric_rng, reduce_terms
from invmeter.metrics.registry import register_metric
from invmeter.metrics.unit_measures import UnitStats, release_workspace
from invmeter.types import MetricValue

__all__ = ["CKAProfile", "UnitProfile", "LIE_KEY", "cka_terms", "cka_value", "lie_layer_value", "unit_values"]

LIE_KEY = "lie_derivative"  # MetricContext.inputs[LIE_KEY]: {layer or representation: (N,) per-image LEE}
_INF = math.inf
_UNIT = {"normalized_variance": "normalized_variance", "anova_variant": "anova_variant_fraction",
         "goodfellow": "goodfellow"}


def lie_layer_value(per_image: np.ndarray, n_boot: int, seed: int) -> MetricValue:
    """One layer's Lie derivative (the mean of its per-image LEEs) with its bootstrap interval (the metric's own
    resamples, the same for every layer)."""
    return reduce_terms("lie_derivative", {"values": np.asarray(per_image, dtype=np.float64)}, n_boot=n_boot,
                        rng=metric_rng(seed, "lie_derivative"))


def cka_terms(clean: Tensor, transformed: Tensor) -> dict[str, np.ndarray] | str:
    """Debiased linear CKA's per-image terms (jackknife pseudo-values and leave-one-out values), or why CKA is
    undefined for these representations."""
    if len(clean) < 5:
        return "debiased CKA needs at least 5 images"
    try:
        value, loo = cka_leave_one_out(clean, transformed)
    except DataError as exc:
        return str(exc).rstrip(".")
    return {"pseudo": pseudo_values(value, loo), "loo": np.asarray(loo, dtype=np.float64)}


def cka_value(clean: Tensor, transformed: Tensor, n_boot: int, seed: int) -> MetricValue:
    """Debiased linear CKA with a percentile-bootstrap interval over its per-image jackknife pseudo-values (the
    metric's own resamples, the same for every layer), clipped to CKA's bounds."""
    terms = cka_terms(clean, transformed)
    if isinstance(terms, str):
        return MetricValue.undefined(terms)
    return reduce_terms("cka", terms, n_boot=n_boot, rng=metric_rng(seed, "cka"))


def unit_values(stats: UnitStats) -> dict[str, MetricValue]:
    """A layer's unit measures (means over units; no interval: they are ratios of per-unit sums)."""
    means = stats.layer_means()
    out = {}
    for metric, key in _UNIT.items():
        value = means.get(key, math.nan)
        if not math.isfinite(value):
            why = ("Goodfellow needs more images than its threshold calibration" if metric == "goodfellow"
                   else "every unit is constant across images")
            out[metric] = MetricValue.undefined(why)
        else:
            out[metric] = MetricValue(value, (math.nan, math.nan))
    return out


def _calibration(n: int) -> int:
    """Images whose clean views fix Goodfellow's thresholds in one pass: a quarter of them, at least 2."""
    return max(2, n // 4)


class CKAProfile:
    """Per-layer CKA (large layers count-sketched, :class:`~invmeter.metrics.cka.CKAStats`) as a layer reducer."""

    name = "cka"

    def __init__(self, seed: int = 0, n_boot: int = 1000, n_images: int = 0) -> None:
        self.seed, self.n_boot = seed, n_boot
        self._stats: dict[str, CKAStats] = {}

    def update(self, layer: str, clean: Tensor, transformed: Tensor, reference: Tensor | None) -> None:
        stats = self._stats.setdefault(layer, CKAStats(seed=self.seed))
        stats.update(clean.cpu().flatten(1), transformed.cpu().flatten(1))  # sketched on the CPU: deterministic

    def result(self) -> dict[str, dict[str, MetricValue]]:
        return {layer: {"cka": cka_value(torch.cat(s.clean), torch.cat(s.transformed), self.n_boot, self.seed)}
                for layer, s in self._stats.items()}


class UnitProfile:
    """Per-layer unit measures (:class:`~invmeter.metrics.unit_measures.UnitStats`, one set of sums per layer for
    all three) as a layer reducer. Each layer's outputs are read where they are (on the model's device, in its memory
    format), without a copy."""

    name = "units"

    def __init__(self, seed: int = 0, n_boot: int = 1000, n_images: int = 0) -> None:
        self._n = n_images
        self._stats: dict[str, UnitStats] = {}

    def update(self, layer: str, clean: Tensor, transformed: Tensor, reference: Tensor | None) -> None:
        self._stats.setdefault(layer, UnitStats(calibration=_calibration(self._n))).update(clean, transformed)

    def result(self) -> dict[str, dict[str, MetricValue]]:
        release_workspace()  # the scratch memory of the pass
        return {layer: unit_values(s) for layer, s in self._stats.items()}


@register_metric(
    "cka", formula="debiased linear CKA of the clean and the transformed representations",
    reading="1 = same up to rotation and scale", higher_is_better=True, bounds=(-_INF, 1.0), default=False,
    profile=CKAProfile, reduction="jackknife")
def cka(ctx: MetricContext) -> MetricValue:
    terms = cka_terms(ctx.reps.clean, ctx.reps.transformed)
    return MetricValue.undefined(terms) if isinstance(terms, str) else ctx.from_terms("cka", terms)


def _unit_metric(ctx: MetricContext, name: str) -> MetricValue:
    """The representation's unit measures, as the layer profile computes every layer's (:class:`UnitProfile`):
    Goodfellow's thresholds from the clean views of the first quarter of the images, firing counted on the rest."""
    if "unit_stats" not in ctx._cache:
        z, z_t = ctx.reps.clean, ctx.reps.transformed
        stats = UnitStats(calibration=_calibration(len(z)))
        stats.update(z, z_t)
        ctx._cache["unit_stats"] = unit_values(stats)
    return ctx._cache["unit_stats"][name]


@register_metric(
    "normalized_variance", formula="mean over units of transformational variance / sample variance (tmeasures)",
    reading="0 = invariant, about 0.8 = moves like new content", higher_is_better=False, bounds=(0.0, _INF),
    default=False, profile=UnitProfile)
def normalized_variance(ctx: MetricContext) -> MetricValue:
    return _unit_metric(ctx, "normalized_variance")


@register_metric(
    "anova_variant", formula="fraction of units whose mean differs between the views (one-way ANOVA F test, views "
    "as groups, 0.99, Bonferroni over units)",
    reading="0 = no unit moves", higher_is_better=False, bounds=(0.0, 1.0), default=False, profile=UnitProfile)
def anova_variant(ctx: MetricContext) -> MetricValue:
    return _unit_metric(ctx, "anova_variant")


@register_metric(
    "goodfellow", formula="mean over units of P(transformed fires | clean fires) / P(clean fires) (Goodfellow 2009)",
    reading="higher = more invariant (about 1 = unrelated)", higher_is_better=True, bounds=(0.0, _INF), default=False,
    profile=UnitProfile)
def goodfellow(ctx: MetricContext) -> MetricValue:
    return _unit_metric(ctx, "goodfellow")


@register_metric(
    "lie_derivative", formula="mean_i ||d/dt f(g_t x_i)|_{t=0}||^2 / D (local equivariance error)",
    reading="0 = locally invariant; per (generator unit)^2", higher_is_better=False, bounds=(0.0, _INF),
    needs=("model",), default=False, reduction="mean")
def lie_derivative(ctx: MetricContext) -> MetricValue:
    return ctx.from_terms("lie_derivative", {"values": np.asarray(ctx.inputs[LIE_KEY][ctx.reps.layer], dtype=np.float64)})
