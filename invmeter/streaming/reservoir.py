"""A fixed-size, seeded sample of a stream that does not depend on how the stream is cut into batches or split
across processes: it keeps the M samples with the smallest keys ``key = hash(seed, sample id)``, so merging two
reservoirs is keeping the M smallest keys of both."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

__all__ = ["Reservoir", "sample_keys"]

_GAMMA = 0x9E3779B97F4A7C15  # splitmix64's increment (2^64 / golden ratio)


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser on uint64 arrays: a bijection whose outputs look independent for nearby inputs."""
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def sample_keys(ids: Tensor, seed: int, stream: int = 0) -> Tensor:
    """``(N,)`` int64 keys in ``[0, 2^63)``, a pure function of ``(seed, stream, id)``; ``stream`` separates uses
    (0: the reservoir's order, 1: transform draws)."""
    base = _mix(np.array([seed % 2**64], dtype=np.uint64) * np.uint64(_GAMMA) + np.uint64(stream))
    x = _mix(ids.numpy().astype(np.uint64) * np.uint64(_GAMMA) + base)
    return torch.from_numpy((x >> np.uint64(1)).astype(np.int64))


@dataclass
class Reservoir:
    """Up to ``size`` samples of a stream: ids, keys, clean and transformed ``(M, D)`` float32 rows, labels."""

    size: int
    ids: Tensor
    keys: Tensor
    clean: Tensor
    transformed: Tensor
    labels: Tensor | None

    @classmethod
    def empty(cls, size: int, dim: int, labelled: bool) -> Reservoir:
        none = torch.empty(0, dtype=torch.int64)
        rows = torch.empty(0, dim)
        return cls(size, none, none.clone(), rows, rows.clone(), none.clone() if labelled else None)

    def __len__(self) -> int:
        return len(self.ids)

    def add(self, other: Reservoir) -> None:
        """Keep the ``size`` samples with the smallest ``(key, id)`` of both (order-independent: a bottom-M merge)."""
        keys = torch.cat([self.keys, other.keys])
        ids = torch.cat([self.ids, other.ids])
        order = np.lexsort((ids.numpy(), keys.numpy()))[: self.size]  # by key, ties (equal ids only) by id
        keep = torch.from_numpy(order)
        self.ids, self.keys = ids[keep], keys[keep]
        self.clean = torch.cat([self.clean, other.clean])[keep]
        self.transformed = torch.cat([self.transformed, other.transformed])[keep]
        if self.labels is not None and other.labels is not None:
            self.labels = torch.cat([self.labels, other.labels])[keep]

    def by_id(self) -> Reservoir:
        """The same samples in stream order (increasing id), so a stream no longer than ``size`` is held as it came."""
        order = torch.argsort(self.ids, stable=True)
        labels = self.labels[order] if self.labels is not None else None
        return Reservoir(self.size, self.ids[order], self.keys[order], self.clean[order], self.transformed[order], labels)
