"""Batched representation extraction: one forward pass per view of each image, every metric reuses the result."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from invmeter._progress import Progress
from invmeter._validation import unknown_name
from invmeter.data import PairSource
from invmeter.errors import InvalidParameterError
from invmeter.models.handle import ModelHandle

__all__ = ["Representations", "extract", "resolve_device", "normalize"]


@dataclass(frozen=True)
class Representations:
    """Representations of both views of N controlled pairs.

    Attributes:
        clean: ``(N, D)`` float32 features of the untransformed views (``z_i``).
        transformed: ``(N, D)`` float32 features of the transformed views (``z'_i``).
        labels: ``(N,)`` int64 class labels of the data.
        logits_clean: ``(N, K)`` outputs of the model's own classifier where it has one, else ``None``.
        logits_transformed: Same for the transformed views.
        layer: Where the features were read (``pre_logits``, ``fc (input)``, a module name).
        layers: For multi-layer extraction: ``{layer name: (clean, transformed)}``; else empty.
        seconds: Wall time spent rendering images and in forward passes.
    """

    clean: Tensor
    transformed: Tensor
    labels: Tensor
    logits_clean: Tensor | None
    logits_transformed: Tensor | None
    layer: str
    layers: dict[str, tuple[Tensor, Tensor]]
    seconds: dict[str, float]

    def __len__(self) -> int:
        return len(self.labels)


def resolve_device(device: str) -> torch.device:
    """``auto`` -> CUDA if available, else CPU; otherwise any string torch accepts."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise InvalidParameterError(f"Unknown device {device!r}; use auto, cpu, cuda or cuda:N.") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise InvalidParameterError(f"Device {device!r} was requested but CUDA is not available; use --device cpu.")
    return dev


def normalize(images: Tensor, mean: Sequence[float] | None, std: Sequence[float] | None) -> Tensor:
    """``(images - mean) / std`` per channel (after transforms); identity when ``mean`` is None."""
    if mean is None or std is None:
        return images
    m = torch.tensor(mean, dtype=images.dtype, device=images.device).reshape(1, -1, 1, 1)
    s = torch.tensor(std, dtype=images.dtype, device=images.device).reshape(1, -1, 1, 1)
    return (images - m) / s


@contextmanager
def _capture(model: nn.Module, names: Sequence[str], inputs: bool) -> Iterator[dict[str, Tensor]]:
    """Record the output (or the input, ``inputs=True``) of named submodules; hooks removed in ``finally``.

    Captured tensors are copied: timm uses in-place ReLUs that would otherwise overwrite them.
    """
    modules = dict(model.named_modules())
    store: dict[str, Tensor] = {}
    hooks = []
    try:
        for name in names:
            if name not in modules:
                raise unknown_name("layer", name, [n for n in modules if n], hint="List them with --layers blocks or model.named_modules().")
            module = modules[name]
            if inputs:
                hooks.append(module.register_forward_pre_hook(lambda _m, args, n=name: store.__setitem__(n, args[0].detach().clone())))
            else:
                hooks.append(module.register_forward_hook(lambda _m, _a, out, n=name: store.__setitem__(n, _first_tensor(out).detach().clone())))
        yield store
    finally:
        for hook in hooks:
            hook.remove()


def _first_tensor(out: object) -> Tensor:
    if isinstance(out, Tensor):
        return out
    if isinstance(out, (tuple, list)) and out and isinstance(out[0], Tensor):
        return out[0]
    if isinstance(out, dict):
        return next(v for v in out.values() if isinstance(v, Tensor))
    raise InvalidParameterError(f"A hooked layer returned {type(out).__name__}, not a tensor.")


def _forward(handle: ModelHandle, x: Tensor, layers: Sequence[str]) -> tuple[Tensor, Tensor | None, str, dict[str, Tensor]]:
    """One forward pass: (representation, logits or None, where it was read, {layer: features})."""
    model = handle.model
    if handle.kind == "timm":
        with _capture(model, layers, inputs=False) as store:
            pre = model.forward_head(model.forward_features(x), pre_logits=True)
        head = model.get_classifier() if handle.num_classes else None
        logits = head(pre) if isinstance(head, nn.Module) else None
        return pre.flatten(1), logits, handle.layer, dict(store)
    if handle.kind == "linear-input":
        head_name = handle.layer.removesuffix(" (input)")
        with _capture(model, [head_name], inputs=True) as head_in, _capture(model, [head_name, *layers], inputs=False) as store:
            out = _first_tensor(model(x))
        head_out = store.pop(head_name) if head_name not in layers else store[head_name]
        if head_out.shape == out.shape and torch.equal(head_out, out):  # the last Linear is the classifier head
            return head_in[head_name].flatten(1), out, handle.layer, dict(store)
        return out.flatten(1), None, "output", dict(store)
    with _capture(model, layers, inputs=False) as store:
        out = _first_tensor(model(x))
    return out.flatten(1), None, handle.layer, dict(store)


def extract(
    handle: ModelHandle,
    pairs: PairSource,
    *,
    layers: Sequence[str] = (),
    batch_size: int = 64,
    device: str | torch.device = "auto",
    progress: bool = False,
) -> Representations:
    """Run the model once on each view of each pair and keep the representations.

    Views are rendered in [0, 1] pixel space (transform applied there), then normalised with the model's own
    mean/std. The model sees exactly ``2 N`` images. ``layers`` adds the flattened outputs of named modules,
    captured in the same passes.
    """
    dev = resolve_device(device) if isinstance(device, str) else device
    model = handle.model.to(dev).eval()
    n = len(pairs)
    clean_f, trans_f, clean_l, trans_l = [], [], [], []
    per_layer: dict[str, tuple[list[Tensor], list[Tensor]]] = {name: ([], []) for name in layers}
    t_render = t_forward = 0.0
    layer_read = handle.layer
    bar = Progress(total=n, label="extracting features", enabled=progress)
    with torch.inference_mode():
        for start in range(0, n, batch_size):
            index = slice(start, min(start + batch_size, n))
            t0 = time.perf_counter()
            clean, transformed = pairs.render(index)
            views = torch.cat([clean, transformed]).to(dev, non_blocking=True)
            views = normalize(views, handle.mean, handle.std)
            t1 = time.perf_counter()
            feats, logits, layer_read, extra = _forward(handle, views, layers)
            b = clean.shape[0]
            feats = feats.float().cpu()
            clean_f.append(feats[:b])
            trans_f.append(feats[b:])
            if logits is not None:
                logits = logits.float().cpu()
                clean_l.append(logits[:b])
                trans_l.append(logits[b:])
            for name, value in extra.items():
                value = value.flatten(1).float().cpu()
                per_layer[name][0].append(value[:b])
                per_layer[name][1].append(value[b:])
            t_render += t1 - t0
            t_forward += time.perf_counter() - t1
            bar.update(b)
    bar.close()
    return Representations(
        clean=torch.cat(clean_f),
        transformed=torch.cat(trans_f),
        labels=pairs.labels.clone(),
        logits_clean=torch.cat(clean_l) if clean_l else None,
        logits_transformed=torch.cat(trans_l) if trans_l else None,
        layer=layer_read,
        layers={k: (torch.cat(v[0]), torch.cat(v[1])) for k, v in per_layer.items()},
        seconds={"render": t_render, "forward": t_forward},
    )
