"""Batched representation extraction: one forward pass per view of each image; every metric reuses the result.

Extraction knows where to read (a :class:`~invmeter.models.Readout`) and what to keep (features in full, or per-layer
summaries from :class:`~invmeter.types.LayerReducer` objects that the metrics supply); it does no metric arithmetic.
The caller's model is borrowed (:func:`~invmeter.models.guard.borrowed`) and given back as it was.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import torch
from torch import Tensor

from invmeter._utils.cores import available_cores
from invmeter._utils.device import resolve_device
from invmeter._utils.progress import Progress
from invmeter.data import PairSource
from invmeter.errors import DataError, InvalidParameterError, InvmeterError
from invmeter.models.guard import borrowed
from invmeter.models.handle import ModelHandle
from invmeter.models.readout import Readout
from invmeter.models.representation import forward, is_convolutional
from invmeter.types import LayerReducer, Representations

__all__ = ["extract", "reading_threads"]


def _first_batch_error(handle: ModelHandle, x: Tensor, exc: Exception) -> InvalidParameterError:
    first = (str(exc).strip().splitlines() or [exc.__class__.__name__])[0][:300]
    return InvalidParameterError(
        f"Model {handle.name!r} failed on a batch of shape {tuple(x.shape)} ({exc.__class__.__name__}: {first}). "
        f"invmeter feeds RGB images at the model's input size {handle.input_size[0]}x{handle.input_size[1]}; if the "
        "model needs another size or channel count, set image_size= (--image-size) or adapt the model.")


def _check_finite(handle: ModelHandle, readout: Readout, feats: Tensor, n_seen: int) -> None:
    bad = ~torch.isfinite(feats).all(dim=1)
    if bool(bad.any()):
        raise DataError(f"Model {handle.name!r} produced NaN or Inf representations (layer {readout.name!r}) for "
                        f"{int(bad.sum())} of {len(feats)} images ({float(bad.float().mean()):.0%}) in a batch after "
                        f"{n_seen} images; check its weights and input range.")


_FEATURES, _LOGITS = object(), object()  # keys of the representation and the logits among the kept layers' names


def _keep(kept: dict[tuple[Any, str], Tensor], key: tuple[Any, str], index: slice, rows: Tensor, n: int) -> None:
    """Write ``rows`` at ``index`` of ``kept[key]``, an ``(n, ...)`` tensor allocated at the first batch: one block
    per output, not a piece per batch concatenated at the end (a second copy at the peak), and no small pieces left
    between the batches' freed buffers, where they kept the allocator from returning memory (RSS grew by about 10 kB
    per image beyond the representations on 5,000 images; benchmarks/bench_folder_scale.py)."""
    if key not in kept:
        with torch.inference_mode(False):  # a normal tensor, as torch.cat outside inference mode gave
            kept[key] = torch.empty((n, *rows.shape[1:]), dtype=rows.dtype)
    kept[key][index] = rows


def reading_threads() -> int:
    """Threads that read image files while the model runs: the cores this process may use beyond torch's intra-op
    threads, at least 1 (torch's own thread settings are left as they are)."""
    return max(1, available_cores() - torch.get_num_threads())


def _prefetched(pairs: PairSource, batches: list[tuple[slice, Tensor | None]], prepare: Callable[[Tensor], Tensor],
                with_clean: bool, threads: int = 1) -> Iterator[tuple[slice, Tensor | None, int, Tensor]]:
    """Each batch rendered and made into the model's input (normalised, in its memory format), in order. Image files
    are read in ``threads`` threads, each reading a batch ahead, while the model runs on the batch before (decoding
    releases the GIL); rendering with torch ops in a thread was measured slower on 2 cores (benchmarks/RESULTS.md),
    so other sources render in turn."""

    def make(index: slice) -> tuple[int, Tensor]:
        clean_img, transformed_img = pairs.render(index)
        views = torch.cat([clean_img, transformed_img]) if with_clean else transformed_img
        return len(clean_img), prepare(views)

    if len(batches) < 2 or not getattr(pairs, "io_bound", False):  # torch rendering in a thread only competes
        for index, ref in batches:
            yield (index, ref, *make(index))
        return
    pool = ThreadPoolExecutor(max(1, min(threads, len(batches))), thread_name_prefix="invmeter-read")
    try:
        ahead = deque(pool.submit(make, index) for index, _ in batches[:threads])  # at most `threads` batches held
        for k, (index, ref) in enumerate(batches):
            b, x = ahead.popleft().result()
            if k + threads < len(batches):
                ahead.append(pool.submit(make, batches[k + threads][0]))
            yield index, ref, b, x
    finally:  # an error or an early stop: batches not started are dropped, those running finish
        pool.shutdown(wait=True, cancel_futures=True)


def extract(
    handle: ModelHandle,
    pairs: PairSource,
    *,
    readout: Readout | None = None,
    layers: Sequence[str] = (),
    profile: Sequence[str] = (),
    reducers: Sequence[LayerReducer] = (),
    clean: Representations | None = None,
    batch_size: int = 64,
    device: str | torch.device = "auto",
    progress: bool = False,
) -> Representations:
    """Run the model once on each view of each pair and keep the representations.

    Views come in [0, 1] pixels (the transform applied there), then are normalised with the model's own mean/std.
    The model sees exactly ``2 N`` images, or ``N`` when ``clean`` (representations of the same images' clean
    views, e.g. from another magnitude of a sweep) is given. The model is given back untouched (mode, device,
    memory format, parameters, hooks).

    Args:
        readout: Where to read the representation (default: the handle's).
        layers: Named modules whose flattened outputs are kept in full (``Representations.layers``).
        profile: Named modules whose outputs (and then the representation's) go to each of ``reducers`` batch by
            batch, with the pair source's batch-local references; their results are ``Representations.profile``.
        reducers: Per-layer summaries (e.g. the invariance profile), each fed ``update(layer, clean, transformed,
            reference)`` with each view's ``(B, ...)`` outputs as the layer returned them (on the device, in the
            model's memory format: no copy is made for a reducer that reads them in place).
        device: A device string (``auto``: CUDA when available), or a resolved ``torch.device`` (a plan's).
    """
    dev = device if isinstance(device, torch.device) else resolve_device(device)  # a plan's device: resolved already
    readout = readout or handle.readout
    if clean is not None:
        if profile:
            raise InvalidParameterError("A layer profile needs both views in the same pass; it cannot reuse clean views.")
        if clean.labels is not None and pairs.labels is not None and not torch.equal(clean.labels, pairs.labels):
            raise InvalidParameterError("The reused clean representations belong to different images.")
        readout = clean.readout or readout
    kept: dict[tuple[Any, str], Tensor] = {}  # (what, view) -> (N, ...) rows, written batch by batch
    n = len(pairs)
    seconds = {"render": 0.0, "forward": 0.0}
    batches = pairs.batches(batch_size)
    channels_last = is_convolutional(handle.model)
    memory_format = torch.channels_last if channels_last else torch.contiguous_format

    def prepare(views: Tensor) -> Tensor:  # normalised straight into the model's memory format (one new tensor)
        views = views.to(dev, non_blocking=True)
        return handle.preprocessing.normalize(views, out=torch.empty_like(views, memory_format=memory_format))

    with Progress(total=len(pairs), label="extracting features", enabled=progress) as bar, \
            borrowed(handle.model, dev, channels_last=channels_last), torch.inference_mode():
        t0 = time.perf_counter()
        for index, local_ref, b, x in _prefetched(pairs, batches, prepare, clean is None, reading_threads()):
            t1 = time.perf_counter()
            try:
                feats, logits, readout, extra = forward(handle, readout, x, [*layers, *profile])
            except InvmeterError:
                raise
            except Exception as exc:  # noqa: BLE001 - a model that cannot run on these inputs: say why in one line
                if index.start == 0:
                    raise _first_batch_error(handle, x, exc) from None
                raise
            feats = feats.float().cpu()
            _check_finite(handle, readout, feats, index.start)
            logits = logits.float().cpu() if logits is not None else None
            if clean is not None:
                feats = torch.cat([clean.clean[index], feats])
                c_logits = clean.logits_clean[index] if clean.logits_clean is not None else None
                logits = torch.cat([c_logits, logits]) if c_logits is not None and logits is not None else None
            batch = {_FEATURES: feats, **({_LOGITS: logits} if logits is not None else {}),
                     **{name: extra[name].flatten(1).float().cpu() for name in layers}}
            for what, value in batch.items():
                _keep(kept, (what, "clean"), index, value[:b], n)
                _keep(kept, (what, "transformed"), index, value[b:], n)
            if profile:
                outputs = {**{name: extra[name] for name in profile}, readout.name: feats}
                for reducer in reducers:  # as the layer returned them: a reducer flattens or copies what it needs
                    for name, value in outputs.items():
                        reducer.update(name, value[:b], value[b:], local_ref)
            t2 = time.perf_counter()
            seconds["render"] += t1 - t0
            seconds["forward"] += t2 - t1
            t0 = t2
            bar.update(b)
        results = {r.name: r.result() for r in reducers} if profile else {}  # the reducers' tensors are inference
    return Representations(
        clean=kept[_FEATURES, "clean"],
        transformed=kept[_FEATURES, "transformed"],
        labels=pairs.labels.clone() if pairs.labels is not None else None,
        logits_clean=kept.get((_LOGITS, "clean")),
        logits_transformed=kept.get((_LOGITS, "transformed")),
        layer=readout.name,
        readout=readout,
        layers={name: (kept[name, "clean"], kept[name, "transformed"]) for name in layers},
        seconds=seconds,
        profile=results,
        reference=pairs.reference.clone() if pairs.reference is not None else None,
    )
