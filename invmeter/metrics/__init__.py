"""Metrics: pure functions on cached representations, declared once in a registry (docs/metrics.md)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from invmeter.errors import DataError, InvalidParameterError
from invmeter.metrics.context import MetricContext, stratified_split
from invmeter.metrics.probe import PROBE_SOLVERS, LinearProbe
from invmeter.metrics.registry import (
    METRICS,
    NEEDS,
    Metric,
    default_metrics,
    get_metric,
    list_metrics,
    register_metric,
    resolve_metrics,
)
from invmeter.types import MetricValue, Representations

__all__ = [
    "METRICS",
    "NEEDS",
    "Metric",
    "MetricContext",
    "MetricValue",
    "LinearProbe",
    "PROBE_SOLVERS",
    "compute_metrics",
    "default_metrics",
    "get_metric",
    "list_metrics",
    "register_metric",
    "resolve_metrics",
    "stratified_split",
]


def compute_metrics(
    reps: Representations,
    *,
    metrics: Sequence[str] | None = None,
    seed: int = 0,
    n_boot: int = 1000,
    train_fraction: float = 0.5,
    probe: str = "auto",
    groups: np.ndarray | None = None,
    model_labels: np.ndarray | None = None,
) -> dict[str, MetricValue]:
    """Compute the requested metrics (default: the registry's defaults) from cached representations; no forward pass.

    ``groups`` (N,) gives each image the id of its exact transform parameters; ``equivariance`` needs it (fixed
    magnitudes, see :func:`invmeter.sweep`). ``model_labels`` (N,) are the data's labels in the model's own label
    set: the clean-probe metrics then use the model's classifier on every image (``probe_accuracy`` stays a probe).

    Every value carries a 95% percentile-bootstrap interval over images, drawn from the metric's own random stream:
    a metric's value and interval are the same whichever other metrics are requested. Representations that are
    constant across images make every metric undefined, with the reason; NaN or Inf is an error.
    """
    names = resolve_metrics(list(metrics) if metrics is not None else None)
    needs = {n for name in names for n in get_metric(name).needs}
    if "labels" in needs:
        if reps.labels is None:
            wanting = [n for n in names if "labels" in get_metric(n).needs]
            raise DataError(f"The metrics {', '.join(wanting)} need class labels and this data has none; "
                            "give labelled data (one subfolder per class) or leave them out (metrics=...).")
        if reps.n_classes < 2:
            raise DataError("The data has a single class; l2_ratio and the probe metrics need at least 2 classes.")
    if "baseline" in needs:
        raise InvalidParameterError(f"The metrics {', '.join(n for n in names if 'baseline' in get_metric(n).needs)} "
                                    "need the architecture's random initialisations scored on the same pairs; use "
                                    "invmeter.score(..., baseline='random-init') or the zoo.")
    if "fixed" in needs and groups is None:
        raise InvalidParameterError("The equivariance metric needs fixed transform magnitudes; use a sweep (--magnitudes).")
    ctx = MetricContext(reps, seed=seed, n_boot=n_boot, train_fraction=train_fraction, probe=probe, groups=groups,
                        model_labels=model_labels)
    return ctx.evaluate(names)
