"""One ``torchmetrics.Metric`` per quantity (the ``torchmetrics`` extra): :class:`Invariance`,
:class:`PairedDistanceRatio`, :class:`L2Ratio` and :class:`Consistency`, each ``compute()`` a 0-d float64 tensor,
so ``self.log("val/invariance", metric)``, ``MetricCollection``, ``merge_state``, DDP sync, ``forward``,
``plot()``, ``.to(device)`` and ``set_dtype`` behave as for any torchmetrics metric. Definitions: docs/streaming.md.

All four share one set of states, the streaming state of :mod:`invmeter.streaming.state` in torchmetrics' terms:
the exact running sums (``dist_reduce_fx="sum"``, float64 whatever ``set_dtype`` says), what every update gives and
the settings (which must agree), and the reservoir's rows (``"cat"``, cut back to the ``reservoir`` smallest keys
after every update, merge and forward: the bottom-M merge). So a ``MetricCollection`` of them fed the same inputs
forms one compute group: one update, one pass of the model, per batch. Each value is the metric registry's
reduction (:func:`invmeter.streaming.state.stream_value`); a degenerate stream gives NaN with an
:class:`~invmeter.errors.UndefinedMetricWarning`, as :mod:`invmeter.functional` does.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from invmeter.errors import InvalidParameterError, InvmeterError
from invmeter.metrics.registry import get_metric
from invmeter.streaming.metric import InvarianceMetric
from invmeter.streaming.reservoir import Reservoir
from invmeter.streaming.state import MODE_KEYS, SUM_KEYS, check_modes_agree, stream_value
from invmeter.transforms import TransformSpec

try:
    from torchmetrics import Metric
except ImportError:  # pragma: no cover - exercised only without the extra
    raise InvmeterError("The torchmetrics integration needs torchmetrics: pip install 'invmeter[torchmetrics]'.") from None

__all__ = ["Consistency", "Invariance", "L2Ratio", "PairedDistanceRatio", "StreamMetric"]

_ROWS = ("ids", "keys", "clean", "transformed", "labels")
_EXACT = ("settings", "modes", "sums", "ids", "keys", "labels")  # keep their dtypes under set_dtype and .to(dtype)


def _same_settings(stacked: Tensor) -> Tensor:
    """Reduction of the settings fingerprint across processes or merged states: one value, or a one-line error."""
    if not bool((stacked == stacked[0]).all()):
        raise InvalidParameterError("Only metrics with the same transform, reservoir size, seed and mean/std can be "
                                    "merged or synced.")
    return stacked[0].clone()


def _agreeing_modes(stacked: Tensor) -> Tensor:
    """Reduction of what the updates gave (-1: no update yet): the common value, or a one-line error."""
    given = [row for row in stacked.tolist() if min(row) >= 0]
    for row in given[1:]:
        check_modes_agree(dict(zip(MODE_KEYS, given[0])), dict(zip(MODE_KEYS, row)))
    return stacked.max(dim=0).values


class StreamMetric(Metric):
    """The shared states and updates of the scalar metrics; a subclass names its registry metric.

    ``update(z, z_t, labels=None, *, z_ref=None, logits=None, logits_t=None, index=None)`` adds ``(B, D)``
    representations (row i of ``z_t`` is image i transformed); ``update(model, images, labels=None, *,
    transformed=None, reference=None, index=None)`` runs ``model`` once on both views of ``(B, C, H, W)`` images in
    [0, 1] (or uint8) and hands it back untouched, as :meth:`InvarianceMetric.update` does. In a
    ``MetricCollection`` pass them as keywords (``z=``, ``z_t=``, ``labels=``): torchmetrics gives each metric the
    keywords its ``update`` names.

    Args:
        transform: Spec for the model path (``"rotation"``); unused with representations.
        reservoir: Samples kept for random references and ``l2_ratio`` (memory ``O(reservoir · D)``).
        seed: Seeds the reservoir's keys and the transform draws.
        mean: Per-channel normalisation mean applied after the transform (model path); ``None``: none.
        std: Per-channel normalisation std.
        kwargs: torchmetrics' own (``sync_on_compute``, ``process_group``, ...).
    """

    metric: ClassVar[str]
    full_state_update: bool = False  # forward: one update (one model pass), merged into the state by the reductions
    is_differentiable: bool = False

    def __init_subclass__(cls, metric: str = "", **kwargs: Any) -> None:
        """``class Invariance(StreamMetric, metric="invariance")``: direction and plot bounds from the registry."""
        super().__init_subclass__(**kwargs)
        if not metric:  # a user's subclass of Invariance, ...: its parent's metric
            return
        facts = get_metric(metric)
        lo, hi = facts.bounds
        cls.metric, cls.higher_is_better, cls.plot_legend_name = metric, facts.higher_is_better, metric
        cls.plot_lower_bound = lo if math.isfinite(lo) else None
        cls.plot_upper_bound = hi if math.isfinite(hi) else None

    def __init__(self, transform: str | TransformSpec | None = None, *, reservoir: int = 1024, seed: int = 0,
                 mean: Sequence[float] | None = None, std: Sequence[float] | None = None, **kwargs: Any) -> None:
        if not hasattr(type(self), "metric"):
            raise TypeError("StreamMetric is the shared base: use Invariance, PairedDistanceRatio, L2Ratio or "
                            "Consistency.")
        super().__init__(**kwargs)
        self._settings = {"transform": transform, "reservoir": reservoir, "seed": seed, "mean": mean, "std": std}
        checked = InvarianceMetric(**self._settings)  # type: ignore[arg-type]  # validates the settings now
        fingerprint = repr((str(checked.transform), checked.reservoir_size, checked.seed, checked.mean, checked.std))
        digest = hashlib.blake2b(fingerprint.encode(), digest_size=8).digest()
        self._counter = 0  # samples of this process without an index (InvarianceMetric's running count)
        self._in_forward = False
        self.add_state("settings", torch.tensor(list(digest), dtype=torch.int64), dist_reduce_fx=_same_settings)
        self.add_state("modes", torch.full((len(MODE_KEYS),), -1, dtype=torch.int64), dist_reduce_fx=_agreeing_modes)
        self.add_state("sums", torch.zeros(len(SUM_KEYS), dtype=torch.float64), dist_reduce_fx="sum")
        for name in _ROWS:
            self.add_state(name, [], dist_reduce_fx="cat")

    def update(self, z: Tensor | nn.Module, z_t: Tensor, labels: Tensor | None = None, *, z_ref: Tensor | None = None,
               logits: Tensor | None = None, logits_t: Tensor | None = None, transformed: Tensor | None = None,
               reference: Tensor | None = None, index: Tensor | Sequence[int] | None = None) -> None:
        """Add a batch: ``update(z, z_t, labels=None, ...)`` or ``update(model, images, labels=None, ...)``."""
        stream = self.stream()
        if isinstance(z, nn.Module):
            _refuse({"z_ref": z_ref, "logits": logits, "logits_t": logits_t}, "representations; with a model the "
                    "metric reads them itself")
            stream.update_model(z, z_t, labels, transformed=transformed, reference=reference, index=index)
        else:
            _refuse({"transformed": transformed, "reference": reference}, "a model and images: update(model, "
                    "images, ...)")
            stream.update_representations(z, z_t, labels, z_ref=z_ref, logits=logits, logits_t=logits_t, index=index)
        self._counter = stream.counter
        self._store(stream)

    def compute(self) -> Tensor:
        """The value over every sample seen (by every process, once torchmetrics has synced the states)."""
        s = self.stream()
        return torch.tensor(stream_value(self.metric, s.sums, s.modes, s.reservoir), dtype=torch.float64,
                            device=self.device)

    def forward(self, *args: Any, **kwargs: Any) -> Tensor:
        """The batch's value, the batch added to the state: one update (one model pass). A batch that fails
        (bad input, or no value on this batch alone) leaves the state as it was."""
        kept = {k: list(v) if isinstance(v, list) else v for k, v in self.metric_state.items()}
        count, self._in_forward = self._update_count, True
        try:
            value = super().forward(*args, **kwargs)
        except Exception:
            for key, v in kept.items():
                setattr(self, key, v)
            self._update_count, self._computed = count, None
            raise
        finally:
            self._in_forward = False
        self._store(self.stream())  # the bottom-M merge of the batch's rows into the state's
        return value

    def merge_state(self, incoming_state: dict[str, Any] | Metric) -> None:
        """Add another metric's (or its ``metric_state``'s) samples: settings and modes must agree, sums add, the
        reservoirs merge bottom-M."""
        super().merge_state(incoming_state)
        self._store(self.stream())

    def reset(self) -> None:
        super().reset()
        if not self._in_forward:  # forward's own reset keeps the running count of sample ids
            self._counter = 0

    def plot(self, val: Tensor | Sequence[Tensor] | None = None, ax: Any = None) -> Any:
        """torchmetrics' plot of one value or a sequence of values (``compute()`` when ``val`` is None):
        ``(figure, axes)``; needs matplotlib."""
        return self._plot(val, ax)

    def stream(self) -> InvarianceMetric:
        """The states as an :class:`InvarianceMetric` (concatenated rows cut back to the reservoir's bottom M), e.g.
        for its dict of every value: ``metric.stream().compute(sync=False)``."""
        stream = InvarianceMetric(**self._settings)  # type: ignore[arg-type]
        stream.counter = self._counter
        modes = self.modes.tolist()
        if min(modes) < 0:  # no sample yet
            return stream
        stream.modes = {k: bool(v) for k, v in zip(MODE_KEYS, modes)}
        stream.sums = {k: (float(v) if k.startswith("sum") else int(v)) for k, v in zip(SUM_KEYS, self.sums.tolist())}
        rows = {name: _cat(getattr(self, name)) for name in _ROWS}
        clean = rows["clean"].float()
        stream.reservoir = Reservoir.empty(stream.reservoir_size, clean.shape[1], stream.modes["labels"])
        stream.reservoir.add(Reservoir(stream.reservoir_size, rows["ids"].long(), rows["keys"].long(), clean,
                                       rows["transformed"].float(),
                                       rows["labels"].long() if stream.modes["labels"] else None))
        return stream

    def _store(self, stream: InvarianceMetric) -> None:
        """Write a stream's state back (its reservoir rows in the metric's dtype, on its device)."""
        if stream.modes is None or stream.reservoir is None or not stream.sums["n"]:
            return
        self.sums = torch.tensor([float(stream.sums[k]) for k in SUM_KEYS], dtype=torch.float64, device=self.device)
        self.modes = torch.tensor([int(stream.modes[k]) for k in MODE_KEYS], dtype=torch.int64, device=self.device)
        res = stream.reservoir
        labels = res.labels if res.labels is not None else torch.empty(0, dtype=torch.int64)
        rows_dtype = self.dtype if self.dtype.is_floating_point else torch.float32
        for name, value in zip(_ROWS, (res.ids, res.keys, res.clean, res.transformed, labels)):
            dtype = rows_dtype if value.is_floating_point() else value.dtype
            setattr(self, name, [value.to(self.device, dtype)])

    def _apply(self, fn: Callable[[Tensor], Tensor], exclude_state: Sequence[str] = ()) -> nn.Module:
        """``.to(device)`` moves every state; ``set_dtype``/``.to(dtype)`` converts only the reservoir's rows: the
        running sums stay float64, ids, keys, labels and modes int64."""
        exact = [k for k in _EXACT if k not in exclude_state]
        device = fn(torch.zeros(1, device=self.sums.device)).device
        this = super()._apply(fn, exclude_state=(*exclude_state, *exact))
        for key in exact:
            value, default = getattr(this, key), this._defaults[key]
            setattr(this, key, [v.to(device) for v in value] if isinstance(value, list) else value.to(device))
            if isinstance(default, Tensor):
                this._defaults[key] = default.to(device)
        return this


class Invariance(StreamMetric, metric="invariance"):
    """``1 − D / R``: mean distance a transform moves a representation over the mean distance to a reference (the
    same scene with another object with ``z_ref``, else the mean over all pairs of the reservoir); 1 = invariant.

    Example:
        >>> metric = Invariance(reservoir=256)
        >>> z = torch.randn(32, 8, generator=torch.Generator().manual_seed(0))
        >>> metric.update(z, z)
        >>> metric.compute()
        tensor(1., dtype=torch.float64)
    """


class PairedDistanceRatio(StreamMetric, metric="paired_distance_ratio"):
    """The paper's number, ``D / R`` (= 1 − :class:`Invariance`): 0 = invariant, lower = more invariant."""


class L2Ratio(StreamMetric, metric="l2_ratio"):
    """Mean between-class over mean within-class distance of the reservoir's transformed views (needs ``labels``);
    higher = classes further apart."""


class Consistency(StreamMetric, metric="consistency"):
    """Fraction of images whose argmax is unchanged by the transform (needs logits: a model ending in a classifier
    head, or ``logits=``/``logits_t=``)."""


def _refuse(given: dict[str, Any], meant_for: str) -> None:
    for name, value in given.items():
        if value is not None:
            raise InvalidParameterError(f"'{name}' goes with {meant_for}.")


def _cat(rows: list[Tensor] | Tensor) -> Tensor:
    """A list state's rows as one CPU tensor (a synced state is already one tensor); empty parts dropped."""
    if isinstance(rows, Tensor):
        return rows.cpu()
    parts = [r.cpu() for r in rows if r.numel()]
    if len({p.shape[1:] for p in parts}) > 1:
        raise InvalidParameterError("Representations changed dimension between merged states; merge only metrics "
                                    "fed the same representation.")
    return torch.cat(parts) if parts else torch.empty(0)
