"""The trainer's training images, epoch by epoch: one fixed split (rendered once, cached), or a Transforms-2D split
whose transform parameters are drawn again every epoch (the paper's protocol, :mod:`invmeter.data.redraw`).

Redrawn epochs are rendered where the model trains: on a CPU in a worker thread, one epoch ahead, while the current
epoch trains (the images are a pure function of (seed, epoch), so the overlap changes no number); on a GPU on the
device itself, with batched torch operations, at the start of each epoch.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from invmeter.data.build import build_split
from invmeter.data.redraw import RedrawnSplit, redraws

__all__ = ["TrainImages"]


class TrainImages:
    """Each epoch's training images (uint8 ``(N, 3, S, S)``) and their labels, on the training device.

    Attributes:
        labels: ``(N,)`` int64 on the device, the same in every epoch.
        redrawn: Whether the transform parameters are drawn again every epoch.
        spec: The split's spec (``build_split``'s; a redrawn split adds ``transforms_drawn``).
    """

    def __init__(self, data: Any, n: int, seed: int, device: torch.device, *, redraw: bool,
                 cache: bool | str | Path = True, progress: bool = False) -> None:
        self.redrawn = redraw and redraws(data)
        self.device = device
        self._ahead: dict[int, Future[Tensor]] = {}
        self._pool: ThreadPoolExecutor | None = None
        if self.redrawn:
            self._split: RedrawnSplit | None = RedrawnSplit(data, "train", n, seed, device=device)
            self.spec = self._split.spec
            self.labels = self._split.labels.to(device)
            self._fixed: Tensor | None = None
            if device.type == "cpu":
                self._pool = ThreadPoolExecutor(1, thread_name_prefix="invmeter-render")
        else:
            built = build_split(data, "train", n, seed, cache=cache, progress=progress)
            self._split, self.spec = None, built.spec
            self._fixed = torch.from_numpy(np.array(built.images)).to(device)
            self.labels = torch.from_numpy(np.array(built.labels)).long().to(device)

    def epoch(self, epoch: int, *, next_epoch: int | None = None) -> Tensor:
        """The images of ``epoch`` (1, 2, ...); with ``next_epoch``, a CPU starts rendering that one meanwhile."""
        if self._split is None:
            assert self._fixed is not None
            return self._fixed
        ahead = self._ahead.pop(epoch, None)
        images = ahead.result() if ahead is not None else self._split.images(epoch)
        if self._pool is not None and next_epoch is not None and next_epoch not in self._ahead:
            self._ahead[next_epoch] = self._pool.submit(self._split.images, next_epoch)
        return images

    def close(self) -> None:
        """Stop the rendering thread (an epoch rendered ahead and never used is dropped)."""
        if self._pool is not None:
            for future in self._ahead.values():
                future.cancel()
            self._pool.shutdown(wait=True)
            self._pool, self._ahead = None, {}

    def __enter__(self) -> TrainImages:  # noqa: PYI034 - typing.Self needs Python 3.11
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
