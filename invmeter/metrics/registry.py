"""The metric registry: every metric declared once, with the facts the report, tables, plots and CLI read.

Adding a metric touches one file: declare it with :func:`register_metric` next to its compute function (see
:mod:`invmeter.metrics.builtin`). Each metric draws its random numbers (bootstrap resamples, a random reference
image) from its own stream, ``MetricContext.rng(name)``, so its value and interval do not depend on which other
metrics were requested.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from invmeter._utils.validation import unknown_name
from invmeter.errors import InvalidParameterError
from invmeter.metrics.reductions import Reduction, get_reduction

if TYPE_CHECKING:
    from invmeter.metrics.context import MetricContext
    from invmeter.types import MetricValue

__all__ = ["Metric", "NEEDS", "PairSample", "register_metric", "get_metric", "list_metrics", "default_metrics",
           "resolve_metrics", "calibrated_by", "METRICS"]

NEEDS = {
    "labels": "class labels of the data (or the model's own label set with labels='model')",
    "fixed": "fixed transform parameters (a sweep: --magnitudes)",
    "logits": "the model's own classifier outputs",
    "model": "a gradient pass through the model (forward-mode autodiff) and a transform with a continuous generator",
    "probe": "a linear probe fit on half of each class's images and scored on the other half (labels='data'; with "
             "labels='model' the clean-fit probe is the model's own classifier on every image)",
    "redraw": "a second transformed view of every image, the transform's random parameters drawn again (the paper's "
              "pairing: N more forward passes)",
    "baseline": "the architecture's random initialisations scored on the same pairs (baseline='random-init', "
                "--baseline random-init; the zoo does it for every model)",
}


@dataclass(frozen=True)
class PairSample:
    """How a metric over pairs of images keeps its cost bounded: up to ``max_images`` images it visits every pair
    (exact); above, every pair among a seeded uniform sample of ``max_images`` of them, drawn without replacement
    from the metric's own random stream (so the same seed and images give the same sample). The per-image terms of
    the other images are zeros with zero pair counts, so the value is the sample's and its bootstrap interval over
    the images is the sample's: wider than all pairs would give, it covers the error of sampling (tested).

    Cost: O(min(N, max_images)² · D) time, O(N · D) memory (a blocked computation)."""

    max_images: int

    def indices(self, n: int, rng: np.random.Generator) -> np.ndarray | None:
        """Sorted indices of the sampled images, or ``None`` for every image (``n <= max_images``: nothing drawn)."""
        if n <= self.max_images:
            return None
        return np.sort(rng.choice(n, size=self.max_images, replace=False))

    def describe(self, n: int) -> str:
        """What was computed on ``n`` images, for the report's provenance."""
        if n <= self.max_images:
            return f"exact: every pair of the {n} images"
        return (f"sampled: every pair among a seeded sample of {self.max_images} of the {n} images (the metric's own "
                "random stream); the interval is the sample's, which covers the sampling error")


@dataclass(frozen=True)
class Metric:
    """One metric and everything the rest of invmeter needs to know about it.

    Attributes:
        name: Registry key (``invariance``), used in reports, the CLI's ``--metrics`` and CSV columns.
        formula: The definition in one line.
        reading: How to read a value, shown beside it in tables (``1 = invariant, 0 = like new content``).
        higher_is_better: ``True``/``False``, or ``None`` for a reference value with no direction.
        bounds: The range a defined value lies in.
        needs: What the metric needs from the measurement (keys of :data:`NEEDS`).
        default: Computed when no metric list is given.
        compute: ``(context) -> MetricValue``.
        profile: ``(seed, n_boot, n_images) -> LayerReducer`` computing it per layer during the pass over the
            pairs (``--layers``); metrics sharing one factory share one reducer. ``None``: no per-layer profile.
        reduction: How its value, interval and degenerate cases follow from its per-image terms
            (:mod:`invmeter.metrics.reductions`); the zoo's paired comparisons use it. ``None``: no per-image terms
            (a ratio of per-unit sums), so no interval and no paired comparison.
        sweep: Shown in a sweep's table and curves (``--magnitudes``).
        calibrates: The raw metric whose gain over the architecture's random initialisation this metric is
            (``learned_invariance`` calibrates ``invariance``); computed whenever a baseline is, beside it.
        pairs: For a metric over pairs of images, how it bounds its cost on many images (:class:`PairSample`);
            ``None``: its cost is linear in the images.
    """

    name: str
    formula: str
    reading: str
    higher_is_better: bool | None
    bounds: tuple[float, float]
    needs: frozenset[str] = frozenset()
    default: bool = True
    compute: Callable[[MetricContext], MetricValue] = field(default=lambda ctx: None, repr=False)  # type: ignore
    profile: Callable[..., Any] | None = field(default=None, repr=False)
    reduction: Reduction | None = None
    sweep: bool = False
    calibrates: str | None = None
    pairs: PairSample | None = None

    def __post_init__(self) -> None:
        unknown = set(self.needs) - set(NEEDS)
        if unknown:
            raise ValueError(f"Metric {self.name!r} needs unknown inputs {sorted(unknown)}; known: {sorted(NEEDS)}.")
        if (self.calibrates is not None) != ("baseline" in self.needs):
            raise ValueError(f"Metric {self.name!r}: a metric calibrated against a baseline names the metric it "
                             "calibrates (calibrates=) and needs the baseline, or neither.")

    @property
    def unit_scale(self) -> bool:
        """Its values lie in [0, 1] or below 1 (upper bound 1, lower bound 0 or none): a fixed 0-1 colour scale
        reads it (the leaderboard's heatmap)."""
        return self.bounds[1] == 1.0 and self.bounds[0] in (0.0, -math.inf)

    @property
    def per_layer(self) -> bool:
        """Whether a layer profile shows it: a reducer (``profile``), or the gradient pass's per-layer values (a
        metric that ``needs`` the model: ``lie_derivative``)."""
        return self.profile is not None or "model" in self.needs

    @property
    def direction(self) -> str:
        return {True: "higher", False: "lower", None: "reference"}[self.higher_is_better]

    def to_dict(self) -> dict[str, object]:
        lo, hi = self.bounds
        return {"name": self.name, "formula": self.formula, "reading": self.reading, "direction": self.direction,
                "bounds": [lo if math.isfinite(lo) else None, hi if math.isfinite(hi) else None],
                "needs": sorted(self.needs), "default": self.default, "per_layer": self.per_layer,
                "reduction": self.reduction.name if self.reduction else None, "sweep": self.sweep,
                "calibrates": self.calibrates, "pair_sample": self.pairs.max_images if self.pairs else None}


_REGISTRY: dict[str, Metric] = {}


def register_metric(
    name: str, *, formula: str, reading: str, higher_is_better: bool | None, bounds: tuple[float, float],
    needs: tuple[str, ...] = (), default: bool = True, profile: Callable[..., Any] | None = None,
    reduction: str | None = None, sweep: bool = False, calibrates: str | None = None, pairs: PairSample | None = None,
) -> Callable[[Callable[[MetricContext], MetricValue]], Callable[[MetricContext], MetricValue]]:
    """Decorator: register ``compute(context) -> MetricValue`` as the metric ``name`` (names are unique);
    ``reduction`` names its kind of per-image statistic (:data:`invmeter.metrics.reductions.REDUCTIONS`); ``pairs``
    bounds the cost of a metric over pairs of images (:class:`PairSample`)."""

    def register(compute: Callable[[MetricContext], MetricValue]) -> Callable[[MetricContext], MetricValue]:
        if name in _REGISTRY:
            raise ValueError(f"Metric {name!r} is already registered.")
        _REGISTRY[name] = Metric(name, formula, reading, higher_is_better, bounds, frozenset(needs), default, compute,
                                 profile, get_reduction(reduction) if reduction else None, sweep, calibrates, pairs)
        return compute

    return register


def _load_builtin() -> None:
    import invmeter.metrics.builtin  # noqa: F401 - registers the built-in metrics
    import invmeter.metrics.learned  # noqa: F401 - and the gains over random initialisation (with a baseline)
    import invmeter.metrics.measures  # noqa: F401 - and the field's other measures (off by default)


def get_metric(name: str) -> Metric:
    """The registered metric ``name``; unknown names raise an error suggesting close matches."""
    _load_builtin()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise unknown_name("metric", name, _REGISTRY, hint="Run 'invmeter metrics' to list them.") from None


def list_metrics() -> list[str]:
    """Names of every registered metric, in registration order."""
    _load_builtin()
    return list(_REGISTRY)


def default_metrics() -> tuple[str, ...]:
    """The metrics computed when none are asked for."""
    _load_builtin()
    return tuple(name for name, m in _REGISTRY.items() if m.default)


def calibrated_by(names: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """The metrics that calibrate one of ``names`` against the random-init baseline (``invariance`` ->
    ``learned_invariance``), in registry order: what a measurement with a baseline adds beside them."""
    _load_builtin()
    return tuple(m.name for m in _REGISTRY.values() if m.calibrates is not None and m.calibrates in names)


def resolve_metrics(metrics: str | tuple[str, ...] | list[str] | None) -> tuple[str, ...]:
    """``None`` -> the defaults; ``"a,b"``, ``"all"`` or a sequence -> checked names, each once, in the given order."""
    if metrics is None:
        return default_metrics()
    if isinstance(metrics, str):
        if metrics.strip() == "all":
            return tuple(list_metrics())
        metrics = [m.strip() for m in metrics.split(",")]
    names = list(metrics)
    if not names or any(not isinstance(m, str) or not m for m in names):
        raise InvalidParameterError(f"The 'metrics' parameter must name at least one metric, e.g. invariance,l2_ratio. "
                                    f"Got {metrics!r}.")
    for name in names:
        get_metric(name)
    return tuple(dict.fromkeys(names))


class _Metrics(Mapping[str, Metric]):
    """Read-only view of the registry (``invmeter.METRICS``): name -> :class:`Metric`."""

    def __getitem__(self, name: str) -> Metric:
        return get_metric(name)

    def __iter__(self) -> Iterator[str]:
        return iter(list_metrics())

    def __len__(self) -> int:
        return len(list_metrics())


METRICS: Mapping[str, Metric] = _Metrics()
