"""Batched representation extraction: one forward pass per view of each image, every metric reuses the result."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import numpy as np
import torch
from torch import Tensor, nn

from invmeter._progress import Progress
from invmeter._validation import unknown_name
from invmeter.data import PairSource
from invmeter.errors import InvalidParameterError
from invmeter.metrics.invariance import invariance_terms, paired_distances
from invmeter.models.handle import ModelHandle
from invmeter.types import Representations

__all__ = ["Representations", "extract", "extract_images", "resolve_device", "normalize", "to_unit_float"]


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


def prepare_model(handle: ModelHandle, device: torch.device) -> torch.memory_format:
    """Put the model on ``device`` in eval mode; convolutional models run channels-last (measured faster on CPU,
    see benchmarks/RESULTS.md). Returns the memory format inputs should use."""
    model = handle.model.to(device).eval()
    if any(isinstance(m, nn.Conv2d) for m in model.modules()):
        model.to(memory_format=torch.channels_last)
        return torch.channels_last
    return torch.contiguous_format


def to_unit_float(images: Tensor) -> Tensor:
    """uint8 images (0-255) as float32 in [0, 1]; float images are returned unchanged."""
    return images.float().div_(255.0) if images.dtype == torch.uint8 else images


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


def _batch_distances(
    a: Tensor, b: Tensor, reference: Tensor | None, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Per image of one batch: the invariance terms of its flattened views, ``reference`` indexing the batch
    (``None``: a seeded derangement within the batch; NaN for a batch of one image)."""
    a, b = a.flatten(1), b.flatten(1)
    if reference is None and len(a) < 2:
        return paired_distances(a, b), np.full(len(a), np.nan)
    return invariance_terms(a, b, rng, reference)


def _batches(n: int, batch_size: int, reference: Tensor | None) -> list[slice]:
    """Batch slices of ``n`` images. With twin references (``i ^ 1``), batches hold whole twins: an even size,
    and a last batch of one image joins the batch before it."""
    if reference is not None:
        batch_size += batch_size % 2
    starts = list(range(0, n, batch_size))
    if reference is not None and len(starts) > 1 and n - starts[-1] == 1:
        starts.pop()
    return [slice(s, e) for s, e in zip(starts, [*starts[1:], n])]


def _local_reference(reference: Tensor | None, index: slice) -> Tensor | None:
    """The batch's references as indices into the batch; a reference outside it is a bad pair source."""
    if reference is None:
        return None
    local = reference[index] - index.start
    if local.numel() and (local.min() < 0 or local.max() >= index.stop - index.start):
        raise InvalidParameterError("A pair source's reference images must be twins (i ^ 1) of the same batch.")
    return local


def extract(
    handle: ModelHandle,
    pairs: PairSource,
    *,
    layers: Sequence[str] = (),
    profile: Sequence[str] = (),
    clean: Representations | None = None,
    batch_size: int = 64,
    device: str | torch.device = "auto",
    seed: int = 0,
    progress: bool = False,
) -> Representations:
    """Run the model once on each view of each pair and keep the representations.

    Views are rendered in [0, 1] pixel space (transform applied there), then normalised with the model's own
    mean/std. The model sees exactly ``2 N`` images, or ``N`` when ``clean`` (representations of the same
    scenes' clean views, e.g. from another magnitude of a sweep) is given.

    Args:
        layers: Named modules whose flattened outputs are kept in full (``Representations.layers``).
        profile: Named modules for a per-layer invariance profile: only per-image paired distances and
            distances to the reference image (the pair source's twin, else a random image of the same batch) are
            kept (``Representations.profile``), so large feature maps cost no memory. The representation itself is
            profiled last.
        seed: Seeds the within-batch pairing of the profile where the pair source has no references.
    """
    dev = resolve_device(device) if isinstance(device, str) else device
    memory_format = prepare_model(handle, dev)
    n = len(pairs)
    if clean is not None and not torch.equal(clean.labels, pairs.labels):
        raise InvalidParameterError("The reused clean representations belong to different scenes.")
    feats_out: dict[str, list[Tensor]] = {"clean": [], "transformed": [], "logits_clean": [], "logits_transformed": []}
    kept: dict[str, tuple[list[Tensor], list[Tensor]]] = {name: ([], []) for name in layers}
    dist: dict[str, tuple[list[np.ndarray], list[np.ndarray]]] = {}
    rng = np.random.default_rng([seed, 3])
    t_render = t_forward = 0.0
    layer_read = clean.layer if clean is not None else handle.layer
    reference = getattr(pairs, "reference", None)
    bar = Progress(total=n, label="extracting features", enabled=progress)
    with torch.inference_mode():
        for index in _batches(n, batch_size, reference):
            t0 = time.perf_counter()
            clean_img, transformed_img = pairs.render(index)
            b = clean_img.shape[0]
            views = transformed_img if clean is not None else torch.cat([clean_img, transformed_img])
            views = normalize(views.to(dev, non_blocking=True), handle.mean, handle.std)
            t1 = time.perf_counter()
            feats, logits, layer_read, extra = _forward(handle, views.contiguous(memory_format=memory_format), [*layers, *profile])
            feats = feats.float().cpu()
            logits = logits.float().cpu() if logits is not None else None
            if clean is not None:
                c_feats = clean.clean[index]
                c_logits = clean.logits_clean[index] if clean.logits_clean is not None else None
                feats = torch.cat([c_feats, feats])
                logits = torch.cat([c_logits, logits]) if c_logits is not None and logits is not None else None
            feats_out["clean"].append(feats[:b])
            feats_out["transformed"].append(feats[b:])
            if logits is not None:
                feats_out["logits_clean"].append(logits[:b])
                feats_out["logits_transformed"].append(logits[b:])
            for name in layers:
                value = extra[name].flatten(1).float().cpu()
                kept[name][0].append(value[:b])
                kept[name][1].append(value[b:])
            if profile:
                outputs = {name: extra[name] for name in profile}
                outputs[layer_read] = feats
                local = _local_reference(reference, index)
                for name, value in outputs.items():
                    if clean is not None and name != layer_read:
                        raise InvalidParameterError("A layer profile cannot reuse clean representations.")
                    d, r = _batch_distances(value[:b].cpu(), value[b:].cpu(), local, rng)
                    dist.setdefault(name, ([], []))[0].append(d)
                    dist[name][1].append(r)
            t_render += t1 - t0
            t_forward += time.perf_counter() - t1
            bar.update(b)
    bar.close()
    return Representations(
        clean=torch.cat(feats_out["clean"]),
        transformed=torch.cat(feats_out["transformed"]),
        labels=pairs.labels.clone(),
        logits_clean=torch.cat(feats_out["logits_clean"]) if feats_out["logits_clean"] else None,
        logits_transformed=torch.cat(feats_out["logits_transformed"]) if feats_out["logits_transformed"] else None,
        layer=layer_read,
        layers={k: (torch.cat(v[0]), torch.cat(v[1])) for k, v in kept.items()},
        seconds={"render": t_render, "forward": t_forward},
        profile={k: (np.concatenate(v[0]), np.concatenate(v[1])) for k, v in dist.items()},
        reference=reference.clone() if reference is not None else None,
    )


def extract_images(
    handle: ModelHandle,
    images: Tensor | np.ndarray,
    *,
    batch_size: int = 256,
    device: str | torch.device = "auto",
) -> Tensor:
    """Representations ``(N, D)`` float32 of plain images, one forward pass per image (no transform).

    ``images`` is ``(N, 3, H, W)``: uint8 (as stored by ``build_split``, memory-mapped arrays are read batch by
    batch) or float in [0, 1]; each batch is normalised with the model's own mean/std.
    """
    dev = resolve_device(device) if isinstance(device, str) else device
    memory_format = prepare_model(handle, dev)
    feats = []
    with torch.inference_mode():
        for start in range(0, len(images), batch_size):
            batch = images[start : start + batch_size]
            batch = batch if isinstance(batch, Tensor) else torch.from_numpy(np.array(batch))  # a copy: memmaps are read-only
            x = normalize(to_unit_float(batch.to(dev)), handle.mean, handle.std).contiguous(memory_format=memory_format)
            feats.append(_forward(handle, x, [])[0].float().cpu())
    return torch.cat(feats) if feats else torch.empty(0, 0)
