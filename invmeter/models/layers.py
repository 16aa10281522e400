"""Which layers a per-layer invariance profile reads: named modules, or the model's main blocks."""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from invmeter._utils.validation import unknown_name
from invmeter.models.handle import ModelHandle

__all__ = ["resolve_layers", "block_names"]


def block_names(handle: ModelHandle) -> list[str]:
    """The model's main stages in forward order.

    timm models list them in ``feature_info``; otherwise the top-level children that contain a convolution or
    an attention/MLP block (anything with weights except the final classifier).
    """
    model = handle.model
    info = getattr(model, "feature_info", None)
    if info is not None:
        names = [entry["module"] for entry in (info.get_dicts() if hasattr(info, "get_dicts") else info)]
        modules = dict(model.named_modules())
        return [name for name in names if name in modules]
    head = handle.readout.module if handle.readout.kind == "head_input" else None
    return [
        name for name, child in model.named_children()
        if name != head and any(isinstance(m, (nn.Conv2d, nn.Linear, nn.MultiheadAttention)) for m in child.modules())
    ]


def resolve_layers(handle: ModelHandle, layers: str | Sequence[str]) -> list[str]:
    """``"blocks"`` -> :func:`block_names`; ``"a,b"`` or a list -> those module names (checked)."""
    if isinstance(layers, str):
        if layers.strip() == "blocks":
            return block_names(handle)
        layers = [name.strip() for name in layers.split(",") if name.strip()]
    modules = dict(handle.model.named_modules())
    for name in layers:
        if name not in modules:
            raise unknown_name("layer", name, [n for n in modules if n], hint="Use --layers blocks, or names from model.named_modules().")
    return list(layers)
