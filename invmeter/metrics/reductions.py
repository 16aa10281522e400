"""How a metric's value, its bootstrap values and its degenerate cases follow from its per-image terms.

Each kind of statistic is one :class:`Reduction`; the metric registry names each metric's
(:attr:`invmeter.metrics.Metric.reduction`), and every place a value is reduced from terms reads it: the batch
pipeline (:meth:`invmeter.metrics.MetricContext.from_terms`), the functional API, the streaming metric and the zoo's
paired comparisons (:mod:`invmeter.leaderboard.ranking`). Entry i of every array is image i.

A degenerate input has one answer everywhere (docs/metrics.md): the reduction's ``undefined(terms)`` gives the
reason the value does not exist (a report shows null with it; the functional and streaming APIs return NaN with an
:class:`~invmeter.errors.UndefinedMetricWarning` carrying it), and ``check(terms)`` raises a one-line
:class:`~invmeter.errors.DataError` for terms no value can come from (e.g. a single class).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from invmeter._utils.validation import unknown_name
from invmeter.errors import DataError, InvalidParameterError
from invmeter.metrics.distances import ClassDistanceSums, l2_ratio_from_sums
from invmeter.metrics.equivariance import equivariance_from_terms
from invmeter.metrics.invariance import invariance_from_terms

__all__ = ["Reduction", "REDUCTIONS", "get_reduction", "NO_REFERENCE_MOVE", "CLASSES_COLLAPSE", "NO_SPREAD"]

Terms = Mapping[str, Sequence[float] | np.ndarray]
Arrays = dict[str, np.ndarray]

NO_REFERENCE_MOVE = ("the reference change of content does not move the representation (zero mean distance): the "
                     "model does not see what differs between images, so the ratio is undefined")
CLASSES_COLLAPSE = ("every class collapses to a single point (zero within-class distance): the ratio is unbounded")
NO_SPREAD = "the transformed representations do not vary within a transform parameter"


def _none(_: Arrays) -> str | None:
    return None


@dataclass(frozen=True)
class Reduction:
    """One kind of statistic over per-image terms.

    Attributes:
        name: The kind's name (``ratio``, ``mean``, ...), as zoo records and docs/zoo.md name it.
        keys: The per-image arrays a metric of this kind stores (``record["terms"][metric]``).
        formula: The value from the terms, in one line.
        statistic: ``(arrays, weights)`` -> the value (``weights`` None) or one value per row of ``(B, n)``
            bootstrap resample counts.
        scale: Deviations of the bootstrap values from the estimate are stretched by this factor (2 for
            U-statistics over pairs of images).
        undefined: ``arrays`` -> why no value exists (a degenerate input), else ``None``.
        check: ``arrays`` -> raises :class:`DataError` when no value can come from the terms at all.
    """

    name: str
    keys: tuple[str, ...]
    formula: str
    statistic: Callable[[Arrays, np.ndarray | None], Any] = field(repr=False)
    scale: float = 1.0
    undefined: Callable[[Arrays], str | None] = field(default=_none, repr=False)
    check: Callable[[Arrays], None] = field(default=lambda _: None, repr=False)

    def arrays(self, terms: Terms) -> Arrays:
        """The terms as float64 arrays, checked: every key present, 1-D, non-empty, one length (one per image)."""
        if not isinstance(terms, Mapping) or any(k not in terms for k in self.keys):
            got = sorted(terms) if isinstance(terms, Mapping) else type(terms).__name__
            raise InvalidParameterError(f"Terms of kind {self.name!r} need keys {', '.join(self.keys)}; got {got}.")
        out = {k: np.asarray(terms[k], dtype=np.float64) for k in self.keys}
        lengths = {len(v) if v.ndim == 1 else -1 for v in out.values()}
        if len(lengths) != 1 or -1 in lengths or 0 in lengths:
            raise InvalidParameterError(f"Terms of kind {self.name!r} must be non-empty 1-D arrays of one length "
                                        "(one per image).")
        return out

    def value(self, terms: Terms) -> float:
        """The metric's value from its terms (NaN where it is undefined)."""
        return float(self.statistic(self.arrays(terms), None))

    def resampled(self, terms: Terms, weights: np.ndarray) -> np.ndarray:
        """One value per row of ``(B, n)`` bootstrap resample counts."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.asarray(self.statistic(self.arrays(terms), weights), dtype=np.float64)

    def why_undefined(self, terms: Terms) -> str | None:
        """Raise for unusable terms (``check``), else the reason a value does not exist, or ``None``."""
        a = self.arrays(terms)
        self.check(a)
        return self.undefined(a)


def _ratio(a: Arrays, w: np.ndarray | None) -> Any:
    return invariance_from_terms(a["d"], a["r"], w)


def _distance_ratio(a: Arrays, w: np.ndarray | None) -> Any:
    if w is None:
        return a["d"].mean() / a["r"].mean() if a["r"].mean() > 0 else math.nan
    return (w @ a["d"]) / (w @ a["r"])


def _no_reference_move(a: Arrays) -> str | None:
    return NO_REFERENCE_MOVE if a["r"].mean() <= 0 else None


def _mean(a: Arrays, w: np.ndarray | None) -> Any:
    v = a["values"]
    return v.mean() if w is None else (w @ v) / len(v)


def _r2(a: Arrays, w: np.ndarray | None) -> Any:
    return equivariance_from_terms(a["residual"], a["total"], w)


def _no_spread(a: Arrays) -> str | None:
    return NO_SPREAD if not math.isfinite(_r2(a, None)) else None


def _sums(a: Arrays) -> ClassDistanceSums:
    return ClassDistanceSums(a["within"], a["between"], a["n_within"], a["n_between"])


def _pair_ratio(a: Arrays, w: np.ndarray | None) -> Any:
    return l2_ratio_from_sums(_sums(a), w)


def _class_counts(a: Arrays) -> None:
    if a["n_between"].sum() == 0:
        raise DataError("l2_ratio needs at least 2 classes.")
    if a["n_within"].sum() == 0:
        raise DataError("l2_ratio needs at least one class with 2 or more images.")


def _collapsed(a: Arrays) -> str | None:
    return CLASSES_COLLAPSE if a["within"].sum() == 0 else None


def _jackknife(a: Arrays, w: np.ndarray | None) -> Any:
    """The estimate from the pseudo-values ``p_i = n θ̂ - (n-1) θ̂₋ᵢ`` and the leave-one-out values ``θ̂₋ᵢ``;
    resampled: the mean of resampled pseudo-values."""
    p, loo = a["pseudo"], a["loo"]
    n = len(p)
    if w is None:
        return float(np.mean((p + (n - 1) * loo) / n))
    return (w @ p) / n


REDUCTIONS: dict[str, Reduction] = {r.name: r for r in (
    Reduction("ratio", ("d", "r"), "1 - Σd / Σr", _ratio, undefined=_no_reference_move),
    Reduction("distance_ratio", ("d", "r"), "Σd / Σr", _distance_ratio, undefined=_no_reference_move),
    Reduction("mean", ("values",), "Σ values / n", _mean),
    Reduction("r2", ("residual", "total"), "1 - Σ residual / Σ total over finite entries", _r2, undefined=_no_spread),
    Reduction("pair_ratio", ("within", "between", "n_within", "n_between"),
              "(Σ between / Σ n_between) / (Σ within / Σ n_within)", _pair_ratio, scale=2.0, undefined=_collapsed,
              check=_class_counts),
    Reduction("jackknife", ("pseudo", "loo"), "the estimate θ̂ = mean((pseudo + (n-1) loo) / n); resampled: mean of "
              "the pseudo-values", _jackknife),
)}


def get_reduction(kind: str | Reduction) -> Reduction:
    """A reduction by name (or itself); unknown names raise an error with the known ones."""
    if isinstance(kind, Reduction):
        return kind
    if kind not in REDUCTIONS:
        raise unknown_name("kind of metric terms", kind, REDUCTIONS)
    return REDUCTIONS[kind]
