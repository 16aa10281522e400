"""What only the cross-check against tmeasures needs (crosscheck_tmeasures.py, bench_measures.py and
tests/test_measures_stats.py), kept out of invmeter: tmeasures' per-channel averages and its unconditioned Goodfellow
ratio over invmeter's :class:`~invmeter.metrics.unit_measures.UnitStats`, and forward hooks that feed a model's
layer outputs to accumulators while the pairs go through it.

Import it from a source checkout (``sys.path`` holding ``benchmarks/``)::

    from tmeasures_compat import feed_pairs, goodfellow_tmeasures, normalized_variance
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Protocol

from torch import Tensor, nn

from invmeter.errors import DataError, InvalidParameterError
from invmeter.metrics.unit_measures import UnitStats, release_workspace, safe_divide

__all__ = ["PER", "PairAccumulator", "average_feature_maps", "feed_pairs", "goodfellow_tmeasures",
           "normalized_variance"]

PER = ("unit", "channel")


def average_feature_maps(values: Tensor) -> Tensor:
    """tmeasures' ``AverageFeatureMaps``: per-unit values ``(C, ...)`` averaged over positions to ``(C,)``."""
    return values.mean(dim=tuple(range(1, values.dim()))) if values.dim() >= 2 else values


def normalized_variance(stats: UnitStats, per: str = "unit") -> Tensor:
    """NV = TV / SV (0/0 = 1, x/0 = inf) per unit, or per channel (TV and SV each averaged over positions first,
    as tmeasures' ``AverageFeatureMaps``)."""
    if per not in PER:
        raise InvalidParameterError(f"per must be one of {PER}; got {per!r}.")
    tv, sv = stats.transformation_variance(), stats.sample_variance()
    if per == "channel":
        tv, sv = average_feature_maps(tv), average_feature_maps(sv)
    return safe_divide(tv, sv)


def goodfellow_tmeasures(stats: UnitStats) -> Tensor:
    """tmeasures' ``GoodfellowInvariance``: P(fires on a view) / P(fires on the clean view) (safe_divide), whose
    local rate is not conditioned on firing for the clean view (invmeter's ``UnitStats.goodfellow`` is)."""
    if stats.n_counted == 0:
        raise DataError("Goodfellow's firing rates were not counted: the thresholds took every image fed so far.")
    g, t, _ = stats.fires / stats.n_counted
    return safe_divide((g + t) / 2, g)


class PairAccumulator(Protocol):
    """Anything fed a layer's paired activations batch by batch (``UnitStats``, ``cka.CKAStats``)."""

    def update(self, clean: Tensor, transformed: Tensor) -> None: ...


@contextmanager
def feed_pairs(
    model: nn.Module, accumulators: Mapping[str, PairAccumulator | Sequence[PairAccumulator]]
) -> Iterator[None]:
    """Forward hooks that feed each named module's output to its accumulator(s) as it is computed.

    Every forward call inside the block must be on ``torch.cat([clean_views, transformed_views])`` (the two
    views of the same B images): the output's first half is passed as the clean views, the second as the
    transformed ones. The hook reads the output before any later in-place operation (an in-place ReLU) can
    change it, and keeps nothing beyond the accumulators' sums. A module may feed several accumulators
    (``{"layer1": [UnitStats(), CKAStats()]}``).
    """
    modules = dict(model.named_modules())
    missing = [name for name in accumulators if name not in modules]
    if missing:
        raise InvalidParameterError(f"No module named {missing[0]!r} in the model; use model.named_modules() names.")

    def hook(accs: Sequence[PairAccumulator]):  # noqa: ANN202
        def record(_module: nn.Module, _inputs: object, output: object) -> None:
            out = output[0] if isinstance(output, (tuple, list)) else output
            half = out.shape[0] // 2
            for acc in accs:
                acc.update(out[:half], out[half:])
        return record

    handles = [
        modules[name].register_forward_hook(hook(list(acc) if isinstance(acc, Sequence) else [acc]))
        for name, acc in accumulators.items()
    ]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()
        release_workspace()
