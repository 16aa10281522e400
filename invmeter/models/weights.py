"""Weights: safe loading of state dicts, and what happens when pretrained weights cannot be had."""

from __future__ import annotations

import pickle
import re
import socket
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from invmeter.errors import CheckpointError, InvmeterError, InvmeterWarning

__all__ = ["reachable", "load_state_file", "load_weights_into", "torch_load_tensors", "weights_unavailable"]


def reachable(host: str, timeout: float = 3.0) -> bool:
    """Whether ``host:443`` accepts a TCP connection (a quick check before a download that would retry for minutes)."""
    try:
        with socket.create_connection((host, 443), timeout=timeout):
            return True
    except OSError:
        return False


def torch_load_tensors(path: Path, what: str) -> Any:
    """``torch.load(path, weights_only=True)``: tensors and plain containers only. A pickle that would import
    anything else (``os.system``, a class of its own, ...) is refused before it runs, as a one-line CheckpointError
    naming ``what`` (e.g. ``"weights file"``) and the refused call; other failures (a damaged file) propagate."""
    try:
        return torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        found = re.search(r"GLOBAL ([\w.]+)", str(exc))  # torch names the global it refused to import
        if found is None:  # not a refused import: a damaged file, for the caller to report
            raise
        raise CheckpointError(
            f"Refused {what} {str(path)!r}: unpickling it would call {found.group(1)}, which can run code; invmeter "
            "loads tensors only. Use a copy you trust, saved as .safetensors or as a plain state dict of tensors."
        ) from None


def load_state_file(path: str | Path) -> dict[str, torch.Tensor]:
    """Load a state dict safely: safetensors, or ``torch.load(weights_only=True)`` for .pt/.pth/.bin."""
    p = Path(path)
    if not p.is_file():
        raise CheckpointError(f"Weights file {str(p)!r} does not exist.")
    try:
        if p.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(p))
        state = torch_load_tensors(p, "weights file")
    except CheckpointError:
        raise
    except Exception as exc:  # noqa: BLE001 - any failure to parse the file is a corrupt checkpoint for the user
        raise CheckpointError(f"Cannot read weights file {str(p)!r} ({exc.__class__.__name__}); is it corrupt?") from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"Weights file {str(p)!r} does not contain a state dict of tensors.")
    return state


def load_weights_into(model: nn.Module, path: str | Path, name: str) -> None:
    """Load a state dict file into ``model`` (strict); a mismatch is a one-line CheckpointError."""
    state = load_state_file(path)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()[1].strip() if len(str(exc).splitlines()) > 1 else str(exc)[:200]
        raise CheckpointError(f"Weights in {str(path)!r} do not match model {name!r}: {first}") from None


def weights_unavailable(name: str, weights: str, why: str) -> str:
    """Fail (``weights="pretrained"``) or warn loudly and return ``"random-init"`` (``weights="auto"``)."""
    if weights == "pretrained":
        raise InvmeterError(
            f"Pretrained weights for {name!r} are unavailable ({why}). Put them in the cache, pass a file with "
            "--weights PATH, or use --weights random."
        )
    warnings.warn(
        f"PRETRAINED WEIGHTS UNAVAILABLE for {name!r} ({why}): scoring a RANDOMLY INITIALISED model. "
        "Results describe the architecture, not a trained model. Use --weights PATH or --weights random to silence.",
        InvmeterWarning,
        stacklevel=3,
    )
    return "random-init"
