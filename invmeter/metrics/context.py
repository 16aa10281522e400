"""What a metric's compute function receives: the representations, the measurement's settings, a random stream of
its own, and the intermediate results metrics share (the probe split, fitted probes, class distance sums)."""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import torch
from torch import Tensor

from invmeter.errors import DataError
from invmeter.metrics.bootstrap import percentile_ci, resample_weights
from invmeter.metrics.distances import ClassDistanceSums, class_distance_sums
from invmeter.metrics.probe import LinearProbe
from invmeter.metrics.reductions import Terms
from invmeter.metrics.registry import get_metric
from invmeter.types import MetricValue, Representations

__all__ = ["CONSTANT_REPRESENTATION", "MetricContext", "metric_rng", "reduce_terms", "stratified_split", "stream_id"]

# Why a constant representation has no metric (the reason a report, the functional API and the streaming metric give)
CONSTANT_REPRESENTATION = ("the representations of the clean images are identical for every image (a constant model, "
                           "or a layer that does not see the input): nothing can be measured")


def stream_id(name: str) -> int:
    """A stable integer naming a metric's random stream (the same in every process and Python version)."""
    return zlib.crc32(name.encode())


def metric_rng(seed: int, name: str) -> np.random.Generator:
    """A fresh generator for the stream ``name`` (a metric's name for its intervals): the same draws whatever else is
    computed, so a layer profile resampling with a metric's stream compares layers on that metric's draws."""
    return np.random.default_rng([seed, stream_id(name)])


def reduce_terms(name: str, terms: Terms, *, n_boot: int, rng: np.random.Generator) -> MetricValue:
    """The metric ``name``'s value from its per-image terms, by its registry reduction, with a 95% percentile
    interval from ``n_boot`` resamples of the images (counts drawn from ``rng``) clipped to its bounds; undefined
    with the reason for a degenerate input."""
    metric = get_metric(name)
    reduction = metric.reduction
    if reduction is None:
        raise ValueError(f"Metric {name!r} has no per-image terms to reduce.")
    reason = reduction.why_undefined(terms)
    if reason is not None:
        return MetricValue.undefined(reason)
    value = reduction.value(terms)
    n = len(np.asarray(terms[reduction.keys[0]]))
    boot = reduction.resampled(terms, resample_weights(n, n_boot, rng))
    return MetricValue(value, percentile_ci(boot, estimate=value, scale=reduction.scale, bounds=metric.bounds))


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


@dataclass
class MetricContext:
    """One measurement's inputs for the metrics, computed lazily and shared.

    Attributes:
        reps: The representations of both views.
        seed: Seeds the split, the probes and every metric's own stream.
        n_boot: Bootstrap resamples per interval (0: no intervals).
        train_fraction: Fraction of each class's images the probes are fit on.
        probe: The probe solver (see :class:`~invmeter.metrics.probe.LinearProbe`).
        groups: ``(N,)`` id of each image's exact transform parameters (equivariance), or ``None``.
        model_labels: ``(N,)`` the data's labels in the model's own label set (``labels='model'``), or ``None``.
        clean_cache: Results that depend only on the clean views (the clean-fit probe): give the same dict to every
            measurement of the same clean representations (a sweep, the zoo's transforms) to fit them once.
        terms: Filled by the metrics: each one's per-image terms (``{"d": ..., "r": ...}`` for invariance, ``{"values":
            ...}`` for a mean over images, ...), from which its value is computed; paired comparisons between models
            scored on the same images reuse them (:mod:`invmeter.leaderboard.ranking`).
        inputs: What metrics needing the model (``needs`` has ``"model"``) were given by the pipeline, e.g. the
            per-image Lie derivatives.
    """

    reps: Representations
    seed: int = 0
    n_boot: int = 1000
    train_fraction: float = 0.5
    probe: str = "auto"
    groups: np.ndarray | None = None
    model_labels: np.ndarray | None = None
    terms: dict[str, dict[str, np.ndarray]] = field(default_factory=dict, repr=False)
    inputs: dict[str, Any] = field(default_factory=dict, repr=False)
    clean_cache: dict[str, Any] = field(default_factory=dict, repr=False)
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)

    def rng(self, name: str) -> np.random.Generator:
        """A fresh generator for the metric ``name``: the same draws whatever else is computed."""
        return metric_rng(self.seed, name)

    def from_terms(self, name: str, terms: dict[str, np.ndarray], rng: np.random.Generator | None = None
                   ) -> MetricValue:
        """Keep the metric ``name``'s per-image terms (for paired comparisons) and reduce them
        (:func:`reduce_terms`); ``rng``: its stream when the metric drew from it already (default: a fresh one)."""
        self.terms[name] = terms
        return reduce_terms(name, terms, n_boot=self.n_boot, rng=rng if rng is not None else self.rng(name))

    def resamples(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``(n_boot, n)`` bootstrap resample counts over ``n`` images."""
        return resample_weights(n, self.n_boot, rng)

    @cached_property
    def constant(self) -> str | None:
        """Why nothing can be measured (every clean image has the same representation: a constant model, or a layer
        that does not see the input), else ``None``. Constant *transformed* views are a legitimate result (the
        transform destroyed the content) and are measured."""
        z = self.reps.clean
        return CONSTANT_REPRESENTATION if len(z) > 1 and bool((z == z[0]).all()) else None

    @cached_property
    def split(self) -> tuple[np.ndarray, np.ndarray]:
        """Train and test image indices of the probes (by image, stratified by class; unlabelled data: one class)."""
        labels = self.reps.labels if self.reps.labels is not None else torch.zeros(len(self.reps), dtype=torch.int64)
        return stratified_split(labels, self.train_fraction, self.seed)

    def probe_on(self, view: str) -> LinearProbe:
        """The probe fit on the train split's ``view`` (``clean`` or ``transformed``), fit once and shared."""
        cache, key = (self.clean_cache, "probe") if view == "clean" else (self._cache, f"probe:{view}")
        if key not in cache:
            train, _ = self.split
            assert self.reps.labels is not None
            z = getattr(self.reps, view)
            cache[key] = LinearProbe(solver=self.probe, random_state=self.seed).fit(z[train], self.reps.labels[train])
        return cache[key]

    @cached_property
    def clean_probe_predictions(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The clean-fit probe's predictions on the clean and transformed test views, and the true labels; with
        ``model_labels``, the model's own classifier on every image instead."""
        if self.model_labels is not None:
            if self.reps.logits_clean is None or self.reps.logits_transformed is None:
                raise DataError("The model has no classifier output; use labels='data'.")
            return (self.reps.logits_clean.argmax(dim=1).numpy(), self.reps.logits_transformed.argmax(dim=1).numpy(),
                    np.asarray(self.model_labels))
        _, test = self.split
        probe = self.probe_on("clean")
        assert self.reps.labels is not None
        truth = self.reps.labels[test].numpy()
        return probe.predict(self.reps.clean[test]), probe.predict(self.reps.transformed[test]), truth

    @cached_property
    def class_sums(self) -> ClassDistanceSums:
        """Per-image within/between-class distance sums of the transformed views (l2_ratio)."""
        assert self.reps.labels is not None
        return class_distance_sums(self.reps.transformed, self.reps.labels)

    def evaluate(self, names: Sequence[str]) -> dict[str, MetricValue]:
        """Each named metric's value from the registry (all undefined, with the reason, for constant
        representations; NaN or Inf, or fewer than 2 images, is an error)."""
        if len(self.reps) < 2:
            raise DataError(f"The metrics need at least 2 images (each image's reference is another image); got "
                            f"{len(self.reps)}.")
        self.check_finite(self.reps)
        if self.constant is not None:
            return {name: MetricValue.undefined(self.constant) for name in names}
        return {name: get_metric(name).compute(self) for name in names}

    @staticmethod
    def check_finite(reps: Representations) -> None:
        """A one-line error if any representation is NaN or infinite (with the fraction of images affected)."""
        for name, z in (("clean", reps.clean), ("transformed", reps.transformed)):
            bad = ~torch.isfinite(z).all(dim=1)
            if bool(bad.any()):
                raise DataError(f"The {name} representations (layer {reps.layer!r}) contain NaN or Inf for "
                                f"{int(bad.sum())} of {len(z)} images ({float(bad.float().mean()):.0%}); the model's "
                                "output is not a number there. Check the model, its weights and its input range.")
