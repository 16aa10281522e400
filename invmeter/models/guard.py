"""Borrow a caller's model for measurement and give it back exactly as it was."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

__all__ = ["borrowed"]


@contextmanager
def borrowed(model: nn.Module, device: torch.device | None = None, *, channels_last: bool = False) -> Iterator[nn.Module]:
    """Yield ``model`` in eval mode on ``device`` (moved only if needed), channels-last if asked; afterwards restore
    every submodule's training flag and every parameter's and buffer's device and memory format. Parameter values
    and ``requires_grad`` flags are untouched (moves between devices are lossless)."""
    modes = [(m, m.training) for m in model.modules()]
    tensors = [(t, t.device, t.stride()) for t in [*model.parameters(), *model.buffers()]]
    try:
        if device is not None and any(t.device != device for t, _, _ in tensors):
            model.to(device)
        if channels_last:
            model.to(memory_format=torch.channels_last)
        model.eval()
        yield model
    finally:
        for t, dev, stride in tensors:
            if t.device != dev or t.stride() != stride:  # back to the exact layout (and device) it had
                t.data = torch.empty_strided(t.shape, stride, dtype=t.dtype, device=dev).copy_(t.data)
        for m, training in modes:
            m.training = training
