"""Paired comparisons between models scored on the same images and transform draws, and the ranking they qualify.

Every model of a zoo sees the same N images, the same transform draws and the same reference pairing, so two
models' metrics are paired by image. The difference of a metric between models A and B gets a percentile-bootstrap
95% interval in which each resample reweights the images ONCE for both models (the same resample counts,
:func:`invmeter.metrics.bootstrap.resample_weights`): image-to-image variation that both models share cancels, and a
model compared with itself gives exactly 0 with a zero-width interval.

A metric's per-image terms (``record["terms"][metric]``) and how its value follows from them are the metric
registry's facts: each metric names a kind of statistic (:attr:`invmeter.metrics.Metric.reduction`, one of
:data:`invmeter.metrics.reductions.REDUCTIONS`: ``ratio``, ``distance_ratio``, ``mean``, ``r2``, ``pair_ratio``,
``jackknife``). Entry i of every array is image i, in the same order in every record of a board. Every metric with
per-image terms gets paired intervals; the per-unit measures (ratios of per-unit sums) have none.

A ranking over all transforms (``transform=None``) uses each model's mean of the metric over the transforms; its
paired intervals resample the images once for every transform (the zoo shows every transform the same images).
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from invmeter._utils.validation import unknown_name
from invmeter.errors import DataError, InvalidParameterError
from invmeter.leaderboard.records import check_records, metric_entry, metric_names, model_key, transforms_of
from invmeter.metrics import get_metric
from invmeter.metrics.bootstrap import percentile_ci, resample_weights
from invmeter.metrics.reductions import Reduction, get_reduction

__all__ = [
    "RankedModel",
    "NeighbourTest",
    "statistic",
    "check_terms",
    "bootstrap_interval",
    "paired_difference",
    "rank",
    "neighbours_distinguishable",
]

_STREAM = 15  # rng stream of the paired bootstrap: np.random.default_rng([seed, 15]); compute_metrics uses 1 and 2

Terms = Mapping[str, Sequence[float]]
Kind = str | Reduction


def statistic(kind: Kind, terms: Terms, weights: np.ndarray | None = None) -> float | np.ndarray:
    """The metric from its per-image terms (``kind``: a reduction or its name, e.g.
    ``get_metric("invariance").reduction``); with ``(B, n)`` resample ``weights``, one value per resample."""
    reduction = get_reduction(kind)
    return reduction.value(terms) if weights is None else reduction.resampled(terms, weights)


def check_terms(records: Sequence[Mapping[str, Any]], rel_tol: float = 1e-6) -> None:
    """Check that every record's per-image terms reproduce its metric values to ``rel_tol`` (registered metrics
    with per-image terms; the tolerance admits terms stored rounded to float32).

    Raises:
        InvalidParameterError: a record's terms give another value than its metric (they are not this row's terms).
    """
    for i, rec in enumerate(records):
        for metric, terms in (rec.get("terms") or {}).items():
            entry = rec.get("metrics", {}).get(metric)
            reduction = _reduction_of(metric)
            if reduction is None or entry is None or entry["value"] is None:
                continue
            value = statistic(reduction, terms)
            if not math.isclose(value, entry["value"], rel_tol=rel_tol, abs_tol=1e-12):
                raise InvalidParameterError(
                    f"Zoo record {i}: its {metric} terms give {value!r} but its value is {entry['value']!r}; store the "
                    "per-image terms the value was computed from."
                )


def _reduction_of(metric: str) -> Reduction | None:
    """The registered metric's reduction (``None``: no per-image terms, or a name the registry does not know)."""
    from invmeter.metrics import list_metrics

    return get_metric(metric).reduction if metric in list_metrics() else None


def _as_list(terms: Terms | Sequence[Terms]) -> list[Terms]:
    return [terms] if isinstance(terms, Mapping) else list(terms)


def _n_images(seq: Sequence[Terms], kind: Kind) -> int:
    reduction = get_reduction(kind)
    sizes = {len(next(iter(reduction.arrays(t).values()))) for t in seq}
    if len(sizes) != 1:
        raise InvalidParameterError(
            f"Paired terms cover different numbers of images ({sorted(sizes)}); every model and transform of a zoo "
            "must be scored on the same images."
        )
    return sizes.pop()


@functools.lru_cache(maxsize=2)
def _weights(n: int, n_boot: int, seed: int) -> np.ndarray:
    """The resample counts every comparison on n images shares (cached: one ``(n_boot, n)`` array, read-only)."""
    weights = resample_weights(n, n_boot, np.random.default_rng([seed, _STREAM]))
    weights.flags.writeable = False
    return weights


def _resampled(seq: Sequence[Terms], kind: Kind, n_boot: int, seed: int) -> tuple[float, np.ndarray, int]:
    """A model's estimate (the mean over ``seq``, one terms dict per transform), its resampled values, and n."""
    n = _n_images(seq, kind)
    weights = _weights(n, n_boot, seed)
    est = float(np.mean([statistic(kind, t) for t in seq]))
    boot = np.mean([statistic(kind, t, weights) for t in seq], axis=0)
    return est, boot, n


def _difference(
    a: tuple[float, np.ndarray, int], b: tuple[float, np.ndarray, int], kind: Kind,
    bounds: tuple[float, float] | None = None,
) -> tuple[float, tuple[float, float]]:
    (est_a, boot_a, n_a), (est_b, boot_b, n_b) = a, b
    if n_a != n_b:
        raise InvalidParameterError(
            f"Paired terms cover different numbers of images ({n_a} and {n_b}); every model and transform of a zoo "
            "must be scored on the same images."
        )
    delta = est_a - est_b
    if not np.isfinite(delta):
        raise DataError(f"The paired difference is undefined: the {get_reduction(kind).name} statistic is {est_a} vs "
                        f"{est_b}.")
    spread = None if bounds is None else (bounds[0] - bounds[1], bounds[1] - bounds[0])  # a difference's range
    return delta, percentile_ci(boot_a - boot_b, estimate=delta, scale=get_reduction(kind).scale, bounds=spread)


def bootstrap_interval(
    terms: Terms | Sequence[Terms], metric_kind: Kind, *, n_boot: int = 1000, seed: int = 0,
    bounds: tuple[float, float] | None = None,
) -> tuple[float, tuple[float, float]]:
    """A model's metric (the mean over a sequence of terms, one per transform) and its 95% bootstrap interval,
    resampling images with the same weights as :func:`paired_difference`, clipped to ``bounds`` (the metric's,
    from the registry); NaN value: degenerate terms."""
    est, boot, _ = _resampled(_as_list(terms), metric_kind, n_boot, seed)
    return est, percentile_ci(boot, estimate=est, scale=get_reduction(metric_kind).scale, bounds=bounds)


def paired_difference(
    terms_a: Terms | Sequence[Terms],
    terms_b: Terms | Sequence[Terms],
    metric_kind: Kind,
    *,
    n_boot: int = 1000,
    seed: int = 0,
    bounds: tuple[float, float] | None = None,
) -> tuple[float, tuple[float, float]]:
    """Metric of model A minus metric of model B, with a paired 95% percentile-bootstrap interval over images.

    Args:
        terms_a: Model A's per-image terms of one metric (a dict, see the module docstring), or a sequence of them
            (one per transform: the metric is then their mean).
        terms_b: Model B's, on the same images in the same order (and the same transforms in the same order).
        metric_kind: The metric's reduction or its name (``get_metric(name).reduction``; see
            :data:`invmeter.metrics.reductions.REDUCTIONS`).
        n_boot: Bootstrap resamples; each reweights the images once for both models.
        seed: Seed of the resample weights (``np.random.default_rng([seed, 15])``).
        bounds: The metric's range (from the registry): the difference's interval is clipped to
            ``[lo - hi, hi - lo]``.

    Returns:
        ``(delta, (lo, hi))``. A model compared with itself gives exactly ``(0.0, (0.0, 0.0))``.

    Raises:
        DataError: the difference is undefined (e.g. a model's reference distances are all 0).

    Example:
        >>> a = {"values": [1, 1, 0, 1]}
        >>> paired_difference(a, a, "mean", n_boot=200)
        (0.0, (0.0, 0.0))
        >>> paired_difference(a, {"values": [0, 1, 0, 1]}, "mean", n_boot=200)[0]
        0.25
    """
    seq_a, seq_b = _as_list(terms_a), _as_list(terms_b)
    if len(seq_a) != len(seq_b) or not seq_a:
        raise InvalidParameterError(
            f"Paired terms need the same transforms for both models; got {len(seq_a)} and {len(seq_b)} sets of terms."
        )
    return _difference(
        _resampled(seq_a, metric_kind, n_boot, seed), _resampled(seq_b, metric_kind, n_boot, seed), metric_kind, bounds
    )


@dataclass(frozen=True)
class RankedModel:
    """One model's place in a ranking.

    Attributes:
        rank: 1 = best; tied values share the best of their ranks; ``None`` when the model has no value.
        model: The model spec (``timm:resnet18``).
        weights: Its weights tag (``random-init``, ``pretrained:...``, ``file:...``).
        value: The metric (the mean over transforms for an overall ranking), or ``None``.
        reason: Why ``value`` is ``None`` (a failed row, an n/a metric, a missing transform), else ``None``.
        records: The model's records that the value comes from, in transform order (failed ones included).
    """

    rank: int | None
    model: str
    weights: str
    value: float | None
    reason: str | None
    records: tuple[dict[str, Any], ...]


@dataclass(frozen=True)
class NeighbourTest:
    """The paired comparison of two models adjacent in a ranking (``upper`` ranked just above ``lower``).

    ``delta`` = upper − lower with its paired 95% ``ci95``; ``distinguishable`` is False when the interval contains
    0, None (with ``reason``) when no paired interval could be computed.
    """

    upper: tuple[str, str]
    lower: tuple[str, str]
    delta: float | None
    ci95: tuple[float, float] | None
    distinguishable: bool | None
    reason: str | None = None


def _model_value(
    recs: Sequence[dict[str, Any]], transforms: Sequence[str], metric: str
) -> tuple[float | None, str | None]:
    by_transform = {rec["transform"]: rec for rec in recs}
    values = []
    for t in transforms:
        if t not in by_transform:
            return None, f"no row for transform {t}"
        value, reason = metric_entry(by_transform[t], metric)
        if value is None:
            return None, reason if len(transforms) == 1 else f"{t}: {reason}"
        values.append(value)
    return float(np.mean(values)), None


def rank(
    records: Sequence[dict[str, Any]], metric: str, transform: str | None = None, *, higher_is_better: bool = True
) -> list[RankedModel]:
    """Rank the models (one per (model, weights)) by ``metric`` on ``transform``, or by its mean over all the
    records' transforms (``transform=None``); models without a value come last, with the reason.

    ``records`` follow :mod:`invmeter.leaderboard.records` (checked here). ``higher_is_better=False`` ranks the smallest
    value first (for metrics where lower is better). Ties share a rank (1, 2, 2, 4); order among equals is by model
    name, then weights.
    """
    records = check_records(records)
    present = metric_names(records)
    if present and metric not in present:  # (no ok row at all: every model is listed with its failure)
        raise unknown_name("metric", metric, present, hint="Rank by one of the metrics in the zoo's rows.")
    all_transforms = transforms_of(records)
    if transform is not None and transform not in all_transforms:
        raise unknown_name("transform", transform, all_transforms)
    transforms = all_transforms if transform is None else [transform]
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for rec in records:
        if rec["transform"] in transforms:
            groups.setdefault(model_key(rec), []).append(rec)
    entries = []
    for key, recs in groups.items():
        recs.sort(key=lambda r: transforms.index(r["transform"]))
        value, reason = _model_value(recs, transforms, metric)
        entries.append((key, value, reason, tuple(recs)))
    sign = -1.0 if higher_is_better else 1.0
    entries.sort(key=lambda e: (e[1] is None, sign * e[1] if e[1] is not None else 0.0, e[0]))
    out: list[RankedModel] = []
    for i, (key, value, reason, recs) in enumerate(entries):
        tied = out and value is not None and out[-1].value == value
        place = out[-1].rank if tied else (i + 1 if value is not None else None)
        out.append(RankedModel(place, key[0], key[1], value, reason, recs))
    return out


def _terms(entry: RankedModel, metric: str) -> tuple[list[Terms] | None, str | None]:
    seq = []
    for rec in entry.records:
        terms = (rec.get("terms") or {}).get(metric)
        if terms is None:
            return None, f"{entry.model} ({entry.weights}) has no per-image terms for {metric} on {rec['transform']}"
        seq.append(terms)
    return seq, None


def _pairing_mismatch(upper: RankedModel, lower: RankedModel) -> str | None:
    for a, b in zip(upper.records, lower.records):
        if a.get("pairing") is not None and b.get("pairing") is not None and a["pairing"] != b["pairing"]:
            return f"scored on different images or transform draws ({a['transform']}: {a['pairing']} vs {b['pairing']})"
    return None


def neighbours_distinguishable(
    ranked: Sequence[RankedModel], metric: str, *, metric_kind: Kind | None = None, n_boot: int = 1000, seed: int = 0
) -> list[NeighbourTest]:
    """Paired tests of each model against the one ranked just below it (models with a value only).

    ``ranked`` is the output of :func:`rank` for ``metric``; ``metric_kind`` defaults to the metric's registry
    reduction. Neighbours whose paired 95% interval contains 0 are *not distinguishable* on these images.
    """
    valued = [e for e in ranked if e.value is not None]
    kind = metric_kind or _reduction_of(metric)
    bounds = get_metric(metric).bounds if _reduction_of(metric) is not None else None
    resampled: dict[int, Any] = {}  # each model's bootstrap values, computed once (it has two neighbours)

    def model(i: int) -> tuple[float, np.ndarray, int]:
        if i not in resampled:
            resampled[i] = _resampled(_terms(valued[i], metric)[0], kind, n_boot, seed)  # type: ignore[arg-type]
        return resampled[i]

    out = []
    for i, (upper, lower) in enumerate(itertools.pairwise(valued)):
        keys = ((upper.model, upper.weights), (lower.model, lower.weights))
        reason = None if kind else f"no paired bootstrap is defined for metric {metric!r} (pass metric_kind)"
        reason = reason or _terms(upper, metric)[1] or _terms(lower, metric)[1] or _pairing_mismatch(upper, lower)
        if reason is None:
            try:
                delta, ci = _difference(model(i), model(i + 1), kind, bounds)  # type: ignore[arg-type]
            except (DataError, InvalidParameterError) as exc:
                reason = str(exc)
            else:
                reason = None if np.all(np.isfinite(ci)) else "no finite bootstrap resample (too few images)"
        if reason is not None:
            out.append(NeighbourTest(*keys, None, None, None, reason))
        else:
            out.append(NeighbourTest(*keys, delta, ci, not (ci[0] <= 0.0 <= ci[1]), None))
    return out
