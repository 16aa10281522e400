"""``invmeter.integrations.torchmetrics.Invariance``: :class:`invmeter.InvarianceMetric` as a ``torchmetrics.Metric``
(the ``torchmetrics`` extra), so it syncs, resets and logs like any torchmetrics metric.

Its state is the streaming metric's, in torchmetrics' terms: the running sums (``dist_reduce_fx="sum"``) and the
reservoir's rows (``"cat"``; after a sync the bottom-M merge keeps the ``reservoir`` smallest keys of every
process's rows, exactly as :meth:`InvarianceMetric.merge` does). Definitions: docs/streaming.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from invmeter.errors import InvmeterError
from invmeter.streaming.metric import SUM_KEYS, InvarianceMetric
from invmeter.streaming.reservoir import Reservoir
from invmeter.transforms import TransformSpec

try:
    from torchmetrics import Metric
except ImportError:  # pragma: no cover - exercised only without the extra
    raise InvmeterError("The torchmetrics integration needs torchmetrics: pip install 'invmeter[torchmetrics]'.") from None

__all__ = ["Invariance"]

_MODES = ("reference", "labels", "logits")
_ROWS = ("ids", "keys", "clean", "transformed", "labels")


class Invariance(Metric):
    """Streaming invariance to a transform as a torchmetrics metric; ``update`` takes what
    :meth:`InvarianceMetric.update` takes (representations, or a model and images), ``compute`` returns a dict of
    0-d float64 tensors (``invariance``, ``l2_ratio`` with labels, ``consistency`` with logits, ``n``).

    Example:
        >>> metric = Invariance(reservoir=256)
        >>> z = torch.randn(32, 8, generator=torch.Generator().manual_seed(0))
        >>> metric.update(z, z)
        >>> float(metric.compute()["invariance"])
        1.0
    """

    full_state_update = True  # update() compacts the reservoir, which needs the whole state
    higher_is_better = True
    is_differentiable = False

    def __init__(self, transform: str | TransformSpec | None = None, *, reservoir: int = 1024, seed: int = 0,
                 mean: Sequence[float] | None = None, std: Sequence[float] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._settings = {"transform": transform, "reservoir": reservoir, "seed": seed, "mean": mean, "std": std}
        InvarianceMetric(**self._settings)  # validates the settings now
        self._counter = 0
        self.add_state("sums", torch.zeros(len(SUM_KEYS), dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("modes", torch.full((len(_MODES),), -1, dtype=torch.int64), dist_reduce_fx="max")
        for name in _ROWS:
            self.add_state(name, [], dist_reduce_fx="cat")

    def update(self, *args: Any, **kwargs: Any) -> None:
        """Add a batch: ``update(z, z_t, labels=None, ...)`` or ``update(model, images, labels=None, ...)``."""
        stream = self._stream()
        stream.update(*args, **kwargs)
        self._counter = stream.counter
        self._store(stream)

    def compute(self) -> dict[str, Tensor]:
        """The metric over every sample seen (by every process, once torchmetrics has synced the states)."""
        return {k: torch.tensor(float(v), dtype=torch.float64) for k, v in self._stream().compute(sync=False).items()}

    def reset(self) -> None:
        super().reset()
        self._counter = 0

    def _stream(self) -> InvarianceMetric:
        """The states as an :class:`InvarianceMetric` (concatenated rows cut back to the reservoir's bottom M)."""
        stream = InvarianceMetric(**self._settings)
        stream.counter = self._counter
        modes = self.modes.tolist()
        rows = {name: _cat(getattr(self, name)) for name in _ROWS}
        clean = rows["clean"].float()
        if modes[0] < 0 or clean.dim() != 2:  # no sample yet
            return stream
        stream.modes = {k: bool(v) for k, v in zip(_MODES, modes)}
        stream.sums = {k: (float(v) if k.startswith("sum") else int(v)) for k, v in zip(SUM_KEYS, self.sums.tolist())}
        stream.reservoir = Reservoir.empty(stream.reservoir_size, clean.shape[1], stream.modes["labels"])
        stream.reservoir.add(Reservoir(stream.reservoir_size, rows["ids"].long(), rows["keys"].long(), clean,
                                       rows["transformed"].float(), rows["labels"].long() if stream.modes["labels"]
                                       else None))
        return stream

    def _store(self, stream: InvarianceMetric) -> None:
        if stream.modes is None or stream.reservoir is None or not stream.sums["n"]:
            return
        self.sums = torch.tensor([float(stream.sums[k]) for k in SUM_KEYS], dtype=torch.float64, device=self.device)
        self.modes = torch.tensor([int(stream.modes[k]) for k in _MODES], dtype=torch.int64, device=self.device)
        res = stream.reservoir
        labels = res.labels if res.labels is not None else torch.empty(0, dtype=torch.int64)
        for name, value in zip(_ROWS, (res.ids, res.keys, res.clean, res.transformed, labels)):
            setattr(self, name, [value.to(self.device)])


def _cat(rows: list[Tensor] | Tensor) -> Tensor:
    """A list state's rows as one CPU tensor (a synced state may already be one tensor); empty parts dropped."""
    if isinstance(rows, Tensor):
        return rows.cpu()
    parts = [r.cpu() for r in rows if r.numel()]
    return torch.cat(parts) if parts else torch.empty(0)
