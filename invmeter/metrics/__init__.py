"""The metric set, computed from one set of cached representations (see docs/metrics.md for the formulas)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from invmeter._validation import unknown_name
from invmeter.errors import DataError
from invmeter.features import Representations
from invmeter.metrics.bootstrap import bootstrap_ci
from invmeter.metrics.distances import class_distance_sums, l2_ratio_from_sums
from invmeter.metrics.invariance import invariance_from_terms, invariance_terms
from invmeter.metrics.probe import PROBE_SOLVERS, LinearProbe

__all__ = [
    "METRICS",
    "DEFAULT_METRICS",
    "MetricValue",
    "compute_metrics",
    "stratified_split",
    "LinearProbe",
    "PROBE_SOLVERS",
]

METRICS: dict[str, str] = {
    "invariance": "1 - mean ||z - z'|| / mean ||z - z_pi|| (1 = invariant, 0 = moves like swapping images)",
    "l2_ratio": "mean between-class / mean within-class distance of transformed representations (higher = separable)",
    "probe_accuracy": "linear probe fit on transformed train views, accuracy on transformed test views",
    "clean_accuracy": "linear probe fit on clean train views, accuracy on clean test views",
    "transformed_accuracy": "the clean-fit probe's accuracy on transformed test views",
    "accuracy_delta": "transformed_accuracy - clean_accuracy (0 = the transform costs nothing)",
    "consistency": "fraction of test images whose clean-fit prediction is unchanged by the transform",
}
DEFAULT_METRICS: tuple[str, ...] = tuple(METRICS)


@dataclass(frozen=True)
class MetricValue:
    """A metric value with its 95% bootstrap interval over images."""

    value: float
    ci95: tuple[float, float]

    def to_dict(self) -> dict[str, object]:
        return {"value": self.value, "ci95": list(self.ci95)}


def stratified_split(labels: Tensor, train_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Split image indices into train/test, per class, seeded. Both views of an image fall on the same side."""
    rng = np.random.default_rng([seed, 1])
    y = labels.numpy()
    train, test = [], []
    for cls in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == cls))
        if len(idx) < 2:
            raise DataError(f"Class {int(cls)} has a single image; the probe split needs at least 2 per class.")
        k = min(max(1, int(round(train_fraction * len(idx)))), len(idx) - 1)
        train.append(idx[:k])
        test.append(idx[k:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


def _mean_ci(correct: np.ndarray, n_boot: int, rng: np.random.Generator) -> MetricValue:
    return MetricValue(float(correct.mean()), bootstrap_ci(lambda w: (w @ correct) / len(correct), len(correct), n_boot, rng))


def compute_metrics(
    reps: Representations,
    *,
    metrics: Sequence[str] = DEFAULT_METRICS,
    seed: int = 0,
    n_boot: int = 1000,
    train_fraction: float = 0.5,
    probe: str = "lbfgs",
) -> dict[str, MetricValue]:
    """Compute the requested metrics from cached representations (no further forward passes).

    Every value carries a 95% percentile-bootstrap CI over images (``n_boot`` resamples; probe metrics resample
    the test images with the fitted probes held fixed; ``l2_ratio`` uses the linearised U-statistic bootstrap).
    """
    for name in metrics:
        if name not in METRICS:
            raise unknown_name("metric", name, METRICS)
    if len(torch.unique(reps.labels)) < 2:
        raise DataError("The data has a single class; the metrics need at least 2 classes.")
    rng = np.random.default_rng([seed, 2])
    out: dict[str, MetricValue] = {}
    n = len(reps)
    if "invariance" in metrics:
        d, r = invariance_terms(reps.clean, reps.transformed, rng)
        value = invariance_from_terms(d, r)
        out["invariance"] = MetricValue(value, bootstrap_ci(lambda w: invariance_from_terms(d, r, w), n, n_boot, rng))
    if "l2_ratio" in metrics:
        sums = class_distance_sums(reps.transformed, reps.labels)
        value = l2_ratio_from_sums(sums)
        ci = bootstrap_ci(lambda w: l2_ratio_from_sums(sums, w), n, n_boot, rng, scale=2.0, estimate=value)
        out["l2_ratio"] = MetricValue(value, ci)
    probe_keys = {"probe_accuracy", "clean_accuracy", "transformed_accuracy", "accuracy_delta", "consistency"}
    if probe_keys & set(metrics):
        out.update(_probe_metrics(reps, set(metrics) & probe_keys, seed, n_boot, train_fraction, probe, rng))
    return {k: out[k] for k in metrics}


def _probe_metrics(
    reps: Representations, wanted: set[str], seed: int, n_boot: int, train_fraction: float, solver: str,
    rng: np.random.Generator,
) -> dict[str, MetricValue]:
    train, test = stratified_split(reps.labels, train_fraction, seed)
    y_train, y_test = reps.labels[train], reps.labels[test].numpy()
    out: dict[str, MetricValue] = {}
    if "probe_accuracy" in wanted:
        transformed_probe = LinearProbe(solver=solver, random_state=seed).fit(reps.transformed[train], y_train)
        out["probe_accuracy"] = _mean_ci(transformed_probe.predict(reps.transformed[test]) == y_test, n_boot, rng)
    if wanted - {"probe_accuracy"}:
        clean_probe = LinearProbe(solver=solver, random_state=seed).fit(reps.clean[train], y_train)
        pred_clean = clean_probe.predict(reps.clean[test])
        pred_trans = clean_probe.predict(reps.transformed[test])
        ok_clean = (pred_clean == y_test).astype(np.float64)
        ok_trans = (pred_trans == y_test).astype(np.float64)
        out["clean_accuracy"] = _mean_ci(ok_clean, n_boot, rng)
        out["transformed_accuracy"] = _mean_ci(ok_trans, n_boot, rng)
        out["accuracy_delta"] = _mean_ci(ok_trans - ok_clean, n_boot, rng)
        out["consistency"] = _mean_ci((pred_clean == pred_trans).astype(np.float64), n_boot, rng)
    return out
