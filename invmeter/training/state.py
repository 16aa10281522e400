"""The trainer's resumable state: ``DIR/train_state.pt`` after every epoch, and the checks before continuing a run."""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from invmeter._utils.io import atomic_write
from invmeter._utils.versions import versions
from invmeter.errors import CheckpointError, InvalidParameterError, InvmeterWarning
from invmeter.models.checkpoint import remove_stale_temporaries
from invmeter.models.weights import torch_load_tensors

__all__ = ["STATE_FILE", "STATE_FORMAT", "RESUMABLE_CHANGES", "open_run", "save_state"]

STATE_FILE = "train_state.pt"  # the resumable state, rewritten after every epoch
STATE_FORMAT = "invmeter-train-state/1"
RESUMABLE_CHANGES = ("epochs", "device", "threads", "track", "track_images")


def open_run(out: Path | None, config: Any, resume: bool) -> dict[str, Any] | None:
    """Check the output folder for ``config`` (a :class:`~invmeter.training.loop.TrainConfig`); return the saved state to
    continue from, or ``None`` to start afresh."""
    if out is None:
        if resume:
            raise InvalidParameterError("Resuming needs the output folder of the run ('out' / --out).")
        return None
    if out.exists() and not out.is_dir():
        raise InvalidParameterError(f"The output path {str(out)!r} is a file; give a folder.")
    out.mkdir(parents=True, exist_ok=True)
    if not os.access(out, os.W_OK):
        raise InvalidParameterError(f"Cannot write to the output folder {str(out)!r}: permission denied.")
    state_path = out / STATE_FILE
    if not resume:
        if state_path.exists() or (out / "model.safetensors").exists():
            raise CheckpointError(f"{str(out)!r} already holds a training run; pass --resume to continue it, "
                                  "or choose another --out.")
        return None
    for name in (STATE_FILE, "model.safetensors", "model.json"):
        remove_stale_temporaries(out, name)
    if not state_path.exists():
        warnings.warn(f"Nothing to resume in {str(out)!r} (no {STATE_FILE}): training from scratch.", InvmeterWarning,
                      stacklevel=3)
        return None
    state = _read_state(state_path)
    _check_same_run(state["config"], config.to_dict(), out)
    if len(state["history"]) > config.epochs:
        raise CheckpointError(f"The run in {str(out)!r} has already trained {len(state['history'])} epochs, more than "
                              f"the {config.epochs} asked for.")
    return state


def _read_state(path: Path) -> dict[str, Any]:
    state = torch_load_tensors(path, "training state", "is it corrupt? Delete it to start over.")
    keys = {"format", "config", "history", "model", "optimizer", "rng", "cuda_rng"}
    if not isinstance(state, dict) or state.get("format") != STATE_FORMAT or not keys <= state.keys():
        raise CheckpointError(f"{str(path)!r} is not an invmeter training state ({STATE_FORMAT}).")
    return state


def _flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in d.items():
        if isinstance(value, dict):
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _check_same_run(saved: dict[str, Any], wanted: dict[str, Any], out: Path) -> None:
    """One-line error naming the first setting (besides RESUMABLE_CHANGES) that differs from the saved run."""
    old, new = _flatten(saved), _flatten(wanted)
    differ = [k for k in sorted(old.keys() | new.keys()) if k not in RESUMABLE_CHANGES and old.get(k) != new.get(k)]
    if differ:
        k = differ[0]
        more = f" (and {len(differ) - 1} more settings)" if len(differ) > 1 else ""
        raise CheckpointError(f"Cannot resume {str(out)!r}: it was trained with {k}={old.get(k)!r}, this run asks for "
                              f"{new.get(k)!r}{more}. Resume with the same settings, or choose another --out.")


def save_state(
    out: Path, model: nn.Module, optimizer: torch.optim.Optimizer, config: Any, history: list[dict[str, float]]
) -> None:
    """Everything needed to continue after the last finished epoch; loadable with ``torch.load(weights_only=True)``."""
    state = {
        "format": STATE_FORMAT,
        "config": config.to_dict(),
        "history": history,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "versions": versions(),
    }
    atomic_write(out / STATE_FILE, lambda tmp: torch.save(state, tmp))
