"""Borrow a caller's model for measurement and hand it back exactly as it was (issue 13: "untouched model")."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import Tensor, nn

__all__ = ["borrowed"]


@contextmanager
def borrowed(
    model: nn.Module, device: torch.device | str | None = None, *, channels_last: bool = False
) -> Iterator[nn.Module]:
    """The same module, in eval mode, on ``device`` (moved only if needed), channels-last if asked.

    On exit, even after an exception, everything is restored exactly: each submodule's ``training`` flag (models
    may mix modes), each parameter's and buffer's tensor (so its device, memory format and values are the
    caller's own, bit for bit, without a copy back), each gradient and ``requires_grad`` flag. The caller's hooks
    are left alone and none is added. Holding the original tensors costs no memory beyond the moved copy.

    Example:
        >>> net = torch.nn.Sequential(torch.nn.Linear(4, 2), torch.nn.Dropout()).train()
        >>> with borrowed(net) as m:
        ...     m.training
        False
        >>> net.training
        True
    """
    modules = list(model.modules())
    training = [m.training for m in modules]
    parameters = [dict(m._parameters) for m in modules]
    buffers = [dict(m._buffers) for m in modules]
    tensors = [(p, p.data, p.grad, p.requires_grad) for p in {id(p): p for p in model.parameters()}.values()]
    try:
        model.eval()
        target = None if device is None else _canonical(torch.device(device))
        if target is not None and any(t.device != target for t in _tensors(model)):
            model.to(target)
        if channels_last:
            model.to(memory_format=torch.channels_last)
        yield model
    finally:
        for module, params, bufs, flag in zip(modules, parameters, buffers, training):
            module._parameters.update(params)  # Parameter objects replaced by .to() under overwrite-on-conversion
            module._buffers.update(bufs)  # .to() replaces buffers with converted copies
            module.training = flag
        for param, data, grad, requires_grad in tensors:
            param.data = data
            param.grad = grad
            param.requires_grad_(requires_grad)


def _tensors(model: nn.Module) -> Iterator[Tensor]:
    yield from model.parameters()
    yield from (b for b in model.buffers() if b is not None)


def _canonical(device: torch.device) -> torch.device:
    """``cuda`` -> ``cuda:<current>``, so a model already on the current GPU is not moved."""
    if device.type == "cuda" and device.index is None:
        return torch.device("cuda", torch.cuda.current_device())
    return device
