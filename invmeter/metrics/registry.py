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

from invmeter._utils.validation import unknown_name
from invmeter.errors import InvalidParameterError
from invmeter.metrics.reductions import Reduction, get_reduction

if TYPE_CHECKING:
    from invmeter.metrics.context import MetricContext
    from invmeter.types import MetricValue

__all__ = ["Metric", "NEEDS", "register_metric", "get_metric", "list_metrics", "default_metrics", "resolve_metrics",
           "METRICS"]

NEEDS = {
    "labels": "class labels of the data (or the model's own label set with labels='model')",
    "fixed": "fixed transform parameters (a sweep: --magnitudes)",
    "logits": "the model's own classifier outputs",
    "model": "a gradient pass through the model (forward-mode autodiff) and a transform with a continuous generator",
    "probe": "a linear probe fit on half of each class's images and scored on the other half (labels='data'; with "
             "labels='model' the clean-fit probe is the model's own classifier on every image)",
}


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

    def __post_init__(self) -> None:
        unknown = set(self.needs) - set(NEEDS)
        if unknown:
            raise ValueError(f"Metric {self.name!r} needs unknown inputs {sorted(unknown)}; known: {sorted(NEEDS)}.")

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
                "reduction": self.reduction.name if self.reduction else None, "sweep": self.sweep}


_REGISTRY: dict[str, Metric] = {}


def register_metric(
    name: str, *, formula: str, reading: str, higher_is_better: bool | None, bounds: tuple[float, float],
    needs: tuple[str, ...] = (), default: bool = True, profile: Callable[..., Any] | None = None,
    reduction: str | None = None, sweep: bool = False,
) -> Callable[[Callable[[MetricContext], MetricValue]], Callable[[MetricContext], MetricValue]]:
    """Decorator: register ``compute(context) -> MetricValue`` as the metric ``name`` (names are unique);
    ``reduction`` names its kind of per-image statistic (:data:`invmeter.metrics.reductions.REDUCTIONS`)."""

    def register(compute: Callable[[MetricContext], MetricValue]) -> Callable[[MetricContext], MetricValue]:
        if name in _REGISTRY:
            raise ValueError(f"Metric {name!r} is already registered.")
        _REGISTRY[name] = Metric(name, formula, reading, higher_is_better, bounds, frozenset(needs), default, compute,
                                 profile, get_reduction(reduction) if reduction else None, sweep)
        return compute

    return register


def _load_builtin() -> None:
    import invmeter.metrics.builtin  # noqa: F401 - registers the built-in metrics
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
