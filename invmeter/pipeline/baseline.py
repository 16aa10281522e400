"""The random-init baseline: the plan's architecture at K random initialisations, scored on the same pairs.

Each copy (:func:`invmeter.models.random_init_copy`: named models rebuilt by their library, timm without its zero-init
of each block's last norm; checkpoints from their recorded architecture; modules re-initialised) is measured with the
plan's own preprocessing, readout, data, seed and transforms, its transforms sharing its clean views. What comes back
per transform is the report's :class:`~invmeter.report.report.Baseline` (the first copy's metrics, and every metric's
mean ± std over the copies) and, for each metric a gain calibrates (``invariance`` for ``learned_invariance``), the
copies' per-image terms stacked ``(K, N)``, which :mod:`invmeter.metrics.learned` reads.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from invmeter.metrics import get_metric
from invmeter.models import random_init_copy
from invmeter.pipeline.measure import Measurement, measure_each
from invmeter.pipeline.plan import MeasurementPlan, MetricPlan
from invmeter.report.report import Baseline, SeedSummary

__all__ = ["BaselineTerms", "measure_baseline", "raw_metrics", "without_gains"]


@dataclass(frozen=True)
class BaselineTerms:
    """One transform's random-init baseline.

    Attributes:
        summary: What the report records (``None`` when a copy failed: then every entry of ``terms`` is the reason).
        terms: For each raw metric a gain calibrates: ``{"d0": (K, N), "r0": (K, N)}`` (one row per
            initialisation), or why there are none (a one-line reason).
    """

    summary: Baseline | None
    terms: dict[str, dict[str, np.ndarray] | str]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (the zoo caches it per architecture and settings)."""
        return {"summary": None if self.summary is None else self.summary.to_dict(),
                "terms": {k: v if isinstance(v, str) else {a: np.asarray(x).tolist() for a, x in v.items()}
                          for k, v in self.terms.items()}}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> BaselineTerms:
        terms = {k: v if isinstance(v, str) else {a: np.asarray(x, dtype=np.float64) for a, x in v.items()}
                 for k, v in d["terms"].items()}
        return cls(None if d["summary"] is None else Baseline.from_dict(d["summary"]), terms)


def raw_metrics(metrics: Sequence[str]) -> tuple[str, ...]:
    """The raw metrics that the gains among ``metrics`` calibrate (``learned_invariance`` -> ``invariance``)."""
    return tuple(dict.fromkeys(c for m in metrics if (c := get_metric(m).calibrates) is not None))


def without_gains(plan: MeasurementPlan, reason: str | None = None) -> MeasurementPlan:
    """The plan without the metrics that need a baseline (what the random-init copies compute), each transform
    keeping the raw metrics its gains calibrate; ``reason``: list the gains as skipped with it."""
    out = []
    for planned in plan.transforms:
        computed = planned.metrics.computed
        gains = [m for m in computed if "baseline" in get_metric(m).needs]
        kept = tuple(dict.fromkeys([*(m for m in computed if m not in gains), *raw_metrics(gains)]))
        skipped = {**planned.metrics.skipped, **({m: reason for m in gains} if reason else {})}
        out.append(replace(planned, metrics=MetricPlan(kept, skipped)))
    return replace(plan, transforms=tuple(out))


def _stacked(runs: Sequence[Measurement], raw: str) -> dict[str, np.ndarray] | str:
    """The initialisations' per-image terms of ``raw``, one row each, or why a copy has none."""
    for m in runs:
        value = m.report.metrics.get(raw)
        if raw not in m.terms or value is None or not value.defined:
            return (value.reason if value is not None and value.reason else f"{raw} was not computed") + \
                f" (random init, init seed {m.report.model.get('extra', {}).get('init_seed')})"
    return {"d0": np.stack([np.asarray(m.terms[raw]["d"], dtype=np.float64) for m in runs]),
            "r0": np.stack([np.asarray(m.terms[raw]["r"], dtype=np.float64) for m in runs])}


def measure_baseline(plan: MeasurementPlan, *, seed: int) -> list[BaselineTerms]:
    """The plan's architecture at each of ``plan.settings.init_seeds``, measured on the plan's transforms at ``seed``
    (the same pairs as the model's): one :class:`BaselineTerms` per transform, in order. A copy that cannot be
    built, or a transform on which a copy fails, gives the reason instead of terms (the gains are then undefined
    with it)."""
    inits = plan.settings.init_seeds
    base = without_gains(plan)
    try:
        copies = [random_init_copy(plan.handle, seed=init) for init in inits]
    except Exception as exc:  # noqa: BLE001 - the gains become undefined with the reason; the model is still measured
        why = f"its random-init copy could not be built: {exc.__class__.__name__}: {exc}"
        return [BaselineTerms(None, dict.fromkeys(raw_metrics(p.metrics.computed), why)) for p in plan.transforms]
    runs = [[m for _, m in measure_each(base.with_handle(copy), seed=seed, keep_going=True)] for copy in copies]
    out = []
    for i, planned in enumerate(plan.transforms):
        raws = raw_metrics(planned.metrics.computed)
        per_init = [run[i] for run in runs]
        failed = next((m for m in per_init if isinstance(m, Exception)), None)
        if failed is not None:
            why = f"a random-init copy failed: {failed.__class__.__name__}: {failed}"
            out.append(BaselineTerms(None, dict.fromkeys(raws, why)))
            continue
        reports = [m.report for m in per_init]  # type: ignore[union-attr]
        summary = Baseline(reports[0].model, reports[0].metrics, SeedSummary.of(reports, inits))
        out.append(BaselineTerms(summary, {raw: _stacked(per_init, raw) for raw in raws}))  # type: ignore[arg-type]
    return out
