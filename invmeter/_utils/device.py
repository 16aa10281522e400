"""Device strings resolved and checked once (``auto`` -> CUDA when available, else CPU)."""

from __future__ import annotations

import torch

from invmeter.errors import InvalidParameterError

__all__ = ["check_device", "resolve_device"]


def check_device(device: str) -> str:
    """A device string's form, checked without looking at this machine: ``auto`` or one torch parses."""
    if device != "auto":
        try:
            torch.device(device)
        except (RuntimeError, TypeError):
            raise InvalidParameterError(f"Unknown device {device!r}; use auto, cpu, cuda or cuda:N.") from None
    return device


def resolve_device(device: str | torch.device) -> torch.device:
    """``auto`` -> CUDA if available, else CPU; otherwise any device string torch accepts (checked to exist)."""
    if isinstance(device, torch.device):
        return device
    if check_device(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise InvalidParameterError(f"Device {device!r} was requested but CUDA is not available; use --device cpu.")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise InvalidParameterError(f"Device {device!r} does not exist: this machine has {torch.cuda.device_count()} "
                                        "CUDA device(s), cuda:0 and up.")
    return dev
