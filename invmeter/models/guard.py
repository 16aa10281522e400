"""Borrow a caller's model for measurement and give it back exactly as it was."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

__all__ = ["borrowed"]


def _format(t: torch.Tensor) -> torch.memory_format | None:
    if t.dim() == 4 and t.is_contiguous(memory_format=torch.channels_last) and not t.is_contiguous():
        return torch.channels_last
    return torch.contiguous_format if t.is_contiguous() else None


@contextmanager
def borrowed(model: nn.Module, device: torch.device | None = None, *, channels_last: bool = False) -> Iterator[nn.Module]:
    """Yield ``model`` in eval mode on ``device`` (moved only if needed), channels-last if asked; afterwards restore
    every submodule's training flag and every parameter's and buffer's device and memory format. Parameter values
    and ``requires_grad`` flags are untouched (moves between devices are lossless)."""
    modes = [(m, m.training) for m in model.modules()]
    tensors = [(t, t.device, _format(t)) for t in [*model.parameters(), *model.buffers()]]
    try:
        if device is not None and any(t.device != device for t, _, _ in tensors):
            model.to(device)
        if channels_last:
            model.to(memory_format=torch.channels_last)
        model.eval()
        yield model
    finally:
        for t, dev, fmt in tensors:
            if t.device != dev or (fmt is not None and _format(t) != fmt):
                moved = t.data.to(dev)
                t.data = moved.contiguous(memory_format=fmt) if fmt is not None else moved
        for m, training in modes:
            m.training = training
