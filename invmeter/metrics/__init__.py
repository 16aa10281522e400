"""The metric set, computed from one set of cached representations (see docs/metrics.md for the formulas)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from invmeter._validation import unknown_name
from invmeter.errors import DataError, InvalidParameterError
from invmeter.types import Representations
from invmeter.metrics.bootstrap import percentile_ci, resample_weights
from invmeter.metrics.distances import class_distance_sums, l2_ratio_from_sums
from invmeter.metrics.equivariance import equivariance_from_terms, equivariance_terms
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
    "invariance": "1 - mean ||z - z'|| / mean ||z - z_ref|| (1 = invariant, 0 = moves like swapping the content)",
    "l2_ratio": "mean between-class / mean within-class distance of transformed representations (higher = separable)",
    "probe_accuracy": "linear probe fit on transformed train views, accuracy on transformed test views",
    "clean_accuracy": "linear probe fit on clean train views, accuracy on clean test views",
    "transformed_accuracy": "the clean-fit probe's accuracy on transformed test views",
    "accuracy_delta": "transformed_accuracy - clean_accuracy (0 = the transform costs nothing)",
    "consistency": "fraction of test images whose clean-fit prediction is unchanged by the transform",
    "equivariance": "held-out R² of the best linear effect u with z' = u(z), fit per fixed transform parameter",
}
DEFAULT_METRICS: tuple[str, ...] = tuple(k for k in METRICS if k != "equivariance")


@dataclass(frozen=True)
class MetricValue:
    """A metric value with its 95% bootstrap interval over images."""

    value: float
    ci95: tuple[float, float]

    def to_dict(self) -> dict[str, object]:
        """JSON-ready; non-finite numbers (no interval, an infinite ratio) become ``None``."""
        return {"value": _finite_or_none(self.value), "ci95": [_finite_or_none(v) for v in self.ci95]}

    @classmethod
    def from_dict(cls, d: dict[str, object]) -> MetricValue:
        lo, hi = (float("nan") if v is None else float(v) for v in d["ci95"])  # type: ignore[union-attr]
        return cls(float("nan") if d["value"] is None else float(d["value"]), (lo, hi))  # type: ignore[arg-type]


def _finite_or_none(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None


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


def _mean_ci(x: np.ndarray, weights: np.ndarray) -> MetricValue:
    """Mean of per-image values, with its interval from resample ``weights`` ``(B, len(x))``."""
    return MetricValue(float(x.mean()), percentile_ci((weights @ x) / len(x)))


def compute_metrics(
    reps: Representations,
    *,
    metrics: Sequence[str] = DEFAULT_METRICS,
    seed: int = 0,
    n_boot: int = 1000,
    train_fraction: float = 0.5,
    probe: str = "auto",
    groups: np.ndarray | None = None,
    model_labels: np.ndarray | None = None,
) -> dict[str, MetricValue]:
    """Compute the requested metrics from cached representations (no further forward passes).

    ``groups`` (N,) gives each image the id of its exact transform parameters; ``equivariance`` needs it and is
    only meaningful at fixed magnitudes (see :func:`invmeter.sweep`). ``model_labels`` (N,) are the data's labels
    in the model's own label set: the accuracy metrics then use the model's classifier on every image instead of
    a clean-fit probe (``probe_accuracy`` stays a probe).

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
    weights = resample_weights(len(reps), n_boot, rng)  # shared by the whole-set metrics
    if "invariance" in metrics:
        d, r = invariance_terms(reps.clean, reps.transformed, rng, reps.reference)
        value = invariance_from_terms(d, r)
        out["invariance"] = MetricValue(value, percentile_ci(invariance_from_terms(d, r, weights)))
    if "l2_ratio" in metrics:
        sums = class_distance_sums(reps.transformed, reps.labels)
        value = l2_ratio_from_sums(sums)
        out["l2_ratio"] = MetricValue(value, percentile_ci(l2_ratio_from_sums(sums, weights), estimate=value, scale=2.0))
    probe_keys = {"probe_accuracy", "clean_accuracy", "transformed_accuracy", "accuracy_delta", "consistency"}
    if model_labels is not None:
        out.update(_head_metrics(reps, np.asarray(model_labels), resample_weights(len(reps), n_boot, rng)))
        probe_keys = {"probe_accuracy"}
    if probe_keys & set(metrics):
        out.update(_probe_metrics(reps, set(metrics) & probe_keys, seed, n_boot, train_fraction, probe, rng))
    if "equivariance" in metrics:
        if groups is None:
            raise InvalidParameterError("The equivariance metric needs fixed transform magnitudes; use --magnitudes.")
        train, test = stratified_split(reps.labels, train_fraction, seed)
        residual, total = equivariance_terms(reps.clean, reps.transformed, np.asarray(groups), train, test)
        weights = resample_weights(len(test), n_boot, rng)
        value = equivariance_from_terms(residual, total)
        out["equivariance"] = MetricValue(value, percentile_ci(equivariance_from_terms(residual, total, weights)))
    return {k: out[k] for k in metrics}


def _head_metrics(reps: Representations, labels: np.ndarray, weights: np.ndarray) -> dict[str, MetricValue]:
    """Accuracy metrics from the model's own classifier (no probe): every image is a test image."""
    if reps.logits_clean is None or reps.logits_transformed is None:
        raise InvalidParameterError("The model has no classifier output; use --labels data.")
    pred_clean = reps.logits_clean.argmax(dim=1).numpy()
    pred_trans = reps.logits_transformed.argmax(dim=1).numpy()
    ok_clean = (pred_clean == labels).astype(np.float64)
    ok_trans = (pred_trans == labels).astype(np.float64)
    return {
        "clean_accuracy": _mean_ci(ok_clean, weights),
        "transformed_accuracy": _mean_ci(ok_trans, weights),
        "accuracy_delta": _mean_ci(ok_trans - ok_clean, weights),
        "consistency": _mean_ci((pred_clean == pred_trans).astype(np.float64), weights),
    }


def _probe_metrics(
    reps: Representations, wanted: set[str], seed: int, n_boot: int, train_fraction: float, solver: str,
    rng: np.random.Generator,
) -> dict[str, MetricValue]:
    train, test = stratified_split(reps.labels, train_fraction, seed)
    y_train, y_test = reps.labels[train], reps.labels[test].numpy()
    weights = resample_weights(len(test), n_boot, rng)  # test images, shared by the probe metrics
    out: dict[str, MetricValue] = {}
    if "probe_accuracy" in wanted:
        transformed_probe = LinearProbe(solver=solver, random_state=seed).fit(reps.transformed[train], y_train)
        correct = (transformed_probe.predict(reps.transformed[test]) == y_test).astype(np.float64)
        out["probe_accuracy"] = _mean_ci(correct, weights)
    if wanted - {"probe_accuracy"}:
        clean_probe = LinearProbe(solver=solver, random_state=seed).fit(reps.clean[train], y_train)
        pred_clean = clean_probe.predict(reps.clean[test])
        pred_trans = clean_probe.predict(reps.transformed[test])
        ok_clean = (pred_clean == y_test).astype(np.float64)
        ok_trans = (pred_trans == y_test).astype(np.float64)
        out["clean_accuracy"] = _mean_ci(ok_clean, weights)
        out["transformed_accuracy"] = _mean_ci(ok_trans, weights)
        out["accuracy_delta"] = _mean_ci(ok_trans - ok_clean, weights)
        out["consistency"] = _mean_ci((pred_clean == pred_trans).astype(np.float64), weights)
    return out
