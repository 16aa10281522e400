"""The gradient pass behind ``lie_derivative``: one forward-mode JVP per generator over the clean images, outside
inference mode, with the model borrowed and given back untouched (docs/measures.md)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from invmeter.data import PairSource
from invmeter.errors import InvalidParameterError
from invmeter.metrics.lie import OUTPUT, lie_derivative
from invmeter.models import ModelHandle, Readout
from invmeter.models.guard import borrowed
from invmeter.models.representation import representation
from invmeter.transforms.generators import generators_for

__all__ = ["lie_generators", "lie_pass"]


def lie_generators(transform: Any) -> tuple[str, ...]:
    """The continuous generators of a one-family transform spec (``translation`` -> x and y), or a one-line error."""
    steps = getattr(transform, "steps", None)
    if not steps or len(steps) != 1:
        raise InvalidParameterError(f"lie_derivative needs one transform family with a continuous generator (e.g. "
                                    f"rotation); got {str(transform)!r}.")
    return generators_for(steps[0].family)


def lie_pass(handle: ModelHandle, pairs: PairSource, transform: Any, *, readout: Readout, layers: Sequence[str],
             batch_size: int, device: torch.device) -> dict[str, np.ndarray]:
    """Per-image LEE ``(N,)`` of the representation (key: the readout's name) and of each of ``layers``: the mean
    over the family's generators of ``‖d/dt f(g_t x)‖² / D`` at t = 0 (per generator unit squared)."""
    generators = lie_generators(transform)
    modules = dict(handle.model.named_modules())
    hooked = {name: modules[name] for name in layers}
    parts: dict[str, list[np.ndarray]] = {}
    with borrowed(handle.model, device):
        for index, _ in pairs.batches(batch_size):
            clean = pairs.render(index)[0].to(device)

            def forward(x: torch.Tensor) -> torch.Tensor:
                return representation(handle, handle.preprocessing.normalize(x), readout)

            per_generator = [lie_derivative(forward, clean, g, layers=hooked) for g in generators]
            for key in per_generator[0]:
                values = torch.stack([p[key] for p in per_generator]).mean(dim=0)
                parts.setdefault(readout.name if key == OUTPUT else key, []).append(values.numpy())
    return {key: np.concatenate(v) for key, v in parts.items()}
