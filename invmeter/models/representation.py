"""The one place a representation is read: a forward pass, the readout's hooks, and the checks on what comes out.

Every part of invmeter that needs a model's representation (a measurement's pass over the pairs, the gradient pass,
the streaming metric, training-time tracking, the probes' feature extraction) calls :func:`forward` or one of the
functions built on it, so a representation means the same thing everywhere. Hooks copy what they capture: timm uses
in-place ReLUs that would otherwise overwrite them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import numpy as np
import torch
from torch import Tensor, nn

from invmeter._utils.device import resolve_device
from invmeter._utils.images import to_unit_float
from invmeter._utils.validation import unknown_name
from invmeter.errors import InvalidParameterError
from invmeter.models.guard import borrowed
from invmeter.models.handle import ModelHandle
from invmeter.models.readout import Readout

__all__ = ["forward", "representation", "read_representation", "extract_images", "is_convolutional", "tensor_of"]


def is_convolutional(model: nn.Module) -> bool:
    """Convolutional models run channels-last (measured faster on CPU, see benchmarks/RESULTS.md)."""
    return any(isinstance(m, nn.Conv2d) for m in model.modules())


@contextmanager
def _capture(model: nn.Module, names: Sequence[str], inputs: bool = False) -> Iterator[dict[str, Tensor]]:
    """Record the output (or the input, ``inputs=True``) of named submodules; hooks removed in ``finally``.

    Captured tensors are copied: timm uses in-place ReLUs that would otherwise overwrite them. The copy keeps a
    forward-mode tangent (the gradient pass reads the Lie derivative of a hooked representation through it) and
    drops a reverse-mode graph (:func:`_kept`).
    """
    modules = dict(model.named_modules())
    store: dict[str, Tensor] = {}
    hooks = []
    try:
        for name in names:
            if name not in modules:
                raise unknown_name("layer", name, [n for n in modules if n],
                                   hint="List them with --layers blocks or model.named_modules().")
            if inputs:
                hooks.append(modules[name].register_forward_pre_hook(
                    lambda _m, args, n=name: store.__setitem__(n, _kept(tensor_of(args, n)))))
            else:
                hooks.append(modules[name].register_forward_hook(
                    lambda _m, _a, out, n=name: store.__setitem__(n, _kept(tensor_of(out, n)))))
        yield store
    finally:
        for hook in hooks:
            hook.remove()


def _kept(t: Tensor) -> Tensor:
    """A copy of a captured tensor: detached from a reverse-mode graph (a model read while it trains keeps none),
    but with its forward-mode tangent (``detach`` would drop it: the Lie derivative's JVP reads it)."""
    return t.detach().clone() if t.requires_grad else t.clone()


def tensor_of(out: object, where: str) -> Tensor:
    """The tensor a module returned (the first one of a tuple, list or dict)."""
    if isinstance(out, Tensor):
        return out
    if isinstance(out, (tuple, list)) and out and isinstance(out[0], Tensor):
        return out[0]
    if isinstance(out, dict):
        for value in out.values():
            if isinstance(value, Tensor):
                return value
    raise InvalidParameterError(f"{where} returned {type(out).__name__} with no tensor in it; invmeter reads a "
                                "tensor of features per image. Choose another --layer.")


def _vectors(out: Tensor, where: str, n: int) -> Tensor:
    """``out`` as ``(n, D)`` vectors, one per image of the batch of ``n``; anything else is a one-line error."""
    if out.dim() == 0:
        raise InvalidParameterError(f"{where} returned a scalar; a representation needs one vector per image. "
                                    "Read another layer (--layer) or return features from forward().")
    if out.dim() == 1:
        raise InvalidParameterError(f"{where} returned one number per image (shape {tuple(out.shape)}); a "
                                    "representation is a vector per image, shape (N, D): return z.unsqueeze(1) for "
                                    "D = 1, or read another layer (--layer).")
    if out.shape[0] != n:
        raise InvalidParameterError(f"{where} returned {out.shape[0]} rows for a batch of {n} images (shape "
                                    f"{tuple(out.shape)}); a representation needs one row per image, the batch first. "
                                    "Read another layer (--layer) or fix the model's forward().")
    vectors = out.flatten(1)
    if vectors.shape[1] == 0:
        raise InvalidParameterError(f"{where} returned 0 features per image (shape {tuple(out.shape)}); a "
                                    "representation needs at least one. Read another layer (--layer).")
    return vectors


def forward(handle: ModelHandle, readout: Readout, x: Tensor, layers: Sequence[str]
             ) -> tuple[Tensor, Tensor | None, Readout, dict[str, Tensor]]:
    """One forward pass: (representation, logits or None, where it was read, {layer: output})."""
    model = handle.model
    if readout.kind == "pre_logits":
        with _capture(model, layers) as store:  # the head inside: a profile may read the classifier's output
            pre = model.forward_head(model.forward_features(x), pre_logits=True)
            head = model.get_classifier() if handle.num_classes else None
            logits = head(pre) if isinstance(head, nn.Module) else None
        return _vectors(pre, handle.name, len(x)), logits, readout, _ran(store, layers, handle)
    if readout.kind == "head_input":
        head = readout.module
        with _capture(model, [head], inputs=True) as head_in, _capture(model, [head, *layers]) as store:
            out = tensor_of(model(x), handle.name)
        head_out = store.get(head) if head in layers else store.pop(head, None)
        if head_out is not None and head_out.shape == out.shape and torch.equal(head_out, out):
            return _vectors(head_in[head], handle.name, len(x)), out, readout, _ran(store, layers, handle)
        return _vectors(out, handle.name, len(x)), None, Readout("output"), _ran(store, layers, handle)  # not a head
    names = [*layers, readout.module] if readout.kind == "module" else list(layers)
    with _capture(model, names) as store:
        out = tensor_of(model(x), handle.name)
    if readout.kind == "module":
        _ran(store, [readout.module], handle)
        rep = store[readout.module] if readout.module in layers else store.pop(readout.module)
        logits = out.flatten(1) if handle.num_classes and out.dim() == 2 and out.shape[1] == handle.num_classes else None
        return _vectors(rep, readout.module, len(x)), logits, readout, _ran(store, layers, handle)
    return _vectors(out, handle.name, len(x)), None, readout, _ran(store, layers, handle)


def _ran(store: dict[str, Tensor], names: Sequence[str], handle: ModelHandle) -> dict[str, Tensor]:
    """The captured outputs, or a one-line error naming a module the forward pass did not run."""
    missing = [name for name in names if name not in store]
    if missing:
        raise InvalidParameterError(f"Layer {missing[0]!r} of {handle.name!r} produced no output: the forward pass "
                                    "that reads the representation does not run it. Choose a module that it runs "
                                    "(--layers blocks lists the main ones).")
    return dict(store)


def representation(handle: ModelHandle, images: Tensor, readout: Readout | None = None) -> Tensor:
    """The representation ``(B, D)`` of normalised ``images``, read where ``invmeter score`` reads it (no hooks kept,
    no mode or device change: the caller holds the model, e.g. inside :func:`~invmeter.models.guard.borrowed`)."""
    return forward(handle, readout or handle.readout, images, [])[0]


def extract_images(
    handle: ModelHandle,
    images: Tensor | np.ndarray,
    *,
    batch_size: int = 256,
    device: str | torch.device = "auto",
) -> Tensor:
    """Representations ``(N, D)`` float32 of plain images at the model's input size, one forward pass per image.

    ``images`` is ``(N, 3, H, W)``: uint8 (as stored by ``build_split``; memory-mapped arrays are read batch by
    batch) or float in [0, 1]; each batch is normalised with the model's own mean/std.
    """
    dev = resolve_device(device)
    channels_last = is_convolutional(handle.model)
    feats = []
    with borrowed(handle.model, dev, channels_last=channels_last), torch.inference_mode():
        for start in range(0, len(images), batch_size):
            batch = images[start : start + batch_size]
            batch = batch if isinstance(batch, Tensor) else torch.from_numpy(np.array(batch))  # a copy: memmaps are read-only
            x = handle.preprocessing.normalize(to_unit_float(batch.to(dev)))
            x = x.contiguous(memory_format=torch.channels_last if channels_last else torch.contiguous_format)
            feats.append(forward(handle, handle.readout, x, [])[0].float().cpu())
    return torch.cat(feats) if feats else torch.empty(0, 0)


def read_representation(model: nn.Module | ModelHandle, images: Tensor) -> tuple[Tensor, Tensor | None]:
    """``(representation (B, D), logits or None)`` of normalised images, read exactly as ``invmeter score`` reads
    ``model`` (a bare module: the input of its last ``nn.Linear`` when that produces the output, else the output; a
    handle: its own rule, e.g. timm's ``pre_logits``). The caller holds the model (mode, device, grad mode)."""
    from invmeter.models.modules import wrap_module

    handle = model if isinstance(model, ModelHandle) else wrap_module(model, image_size=tuple(images.shape[-2:]))
    z, logits, _, _ = forward(handle, handle.readout, images, [])
    return z, logits
