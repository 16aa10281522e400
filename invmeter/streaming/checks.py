"""What the streaming metric checks beyond one batch: sample ids counted once, and a saved state read back."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import Tensor

from invmeter.errors import InvalidParameterError

__all__ = ["STATE_KEYS", "checked_state", "first_sightings"]

STATE_KEYS = ("transform", "reservoir_size", "seed", "mean", "std", "sums", "modes", "counter", "reservoir")
_MODES = ("reference", "labels", "logits")
_ROWS = ("ids", "keys", "clean", "transformed", "labels")


def first_sightings(ids: Tensor, seen: Tensor | None) -> Tensor:
    """``(B,)`` bool: the ids of a batch neither repeated earlier in it nor in ``seen`` (each id counts once)."""
    fresh = torch.zeros(len(ids), dtype=torch.bool)
    fresh[torch.from_numpy(np.unique(ids.numpy(), return_index=True)[1])] = True
    return fresh & ~torch.isin(ids, seen) if seen is not None else fresh


def checked_state(state: Any, sum_keys: tuple[str, ...]) -> dict[str, Any]:
    """``state`` if it is what :meth:`InvarianceMetric.state_dict` writes (the settings are checked by the
    constructor), else a one-line InvalidParameterError naming what is wrong."""
    def bad(why: str) -> InvalidParameterError:
        return InvalidParameterError(f"Not an InvarianceMetric state_dict: {why}. Pass what metric.state_dict() "
                                     "returned (torch.save / torch.load(weights_only=True) keep it).")

    if not isinstance(state, dict):
        raise bad(f"got {type(state).__name__}")
    missing = [k for k in STATE_KEYS if k not in state]
    if missing:
        raise bad(f"missing {', '.join(map(repr, missing))}")
    sums = state["sums"]
    numbers = isinstance(sums, dict) and all(type(v) in (int, float) for v in sums.values())
    if not numbers or set(sums) != set(sum_keys) or not all(math.isfinite(v) and v >= 0 for v in sums.values()):
        raise bad(f"'sums' must map {', '.join(sum_keys)} to non-negative numbers")
    if not isinstance(state["reservoir_size"], int) or isinstance(state["reservoir_size"], bool):
        raise bad("'reservoir_size' must be an integer")
    counter = state["counter"]
    if not isinstance(counter, int) or isinstance(counter, bool) or counter < 0:
        raise bad("'counter' must be a non-negative integer")
    modes, res = state["modes"], state["reservoir"]
    if modes is None or res is None:
        if modes is not None or res is not None or sums.get("n"):
            raise bad("'modes' and 'reservoir' are None only for an empty metric")
        return state
    if not isinstance(modes, dict) or set(modes) != set(_MODES) or not all(isinstance(v, bool) for v in modes.values()):
        raise bad(f"'modes' must map {', '.join(_MODES)} to booleans")
    if not isinstance(res, dict) or set(res) != set(_ROWS):
        raise bad(f"'reservoir' must hold {', '.join(_ROWS)}")
    rows = {k: v for k, v in res.items() if k != "labels" or modes["labels"]}
    if not all(isinstance(v, Tensor) for v in rows.values()) or (res["labels"] is not None) != modes["labels"]:
        raise bad("the reservoir's rows must be tensors (labels only when 'modes' says so)")
    m = len(res["ids"])
    two_d = res["clean"].dim() == 2 and res["clean"].shape == res["transformed"].shape
    lengths = any(len(v) != m for v in rows.values()) or m > state["reservoir_size"]
    if not two_d or lengths or (m == 0) != (not sums["n"]):
        raise bad("the reservoir's rows disagree in length or shape, or with 'sums'")
    seen = state.get("seen")
    if seen is not None and (not isinstance(seen, Tensor) or seen.dim() != 1 or seen.dtype != torch.int64):
        raise bad("'seen' must be a 1-D int64 tensor of sample ids")
    return state
