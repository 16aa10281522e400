"""InvarianceMetric: invariance (and l2_ratio, consistency) accumulated over a stream, in bounded memory, with a
state that merges across processes; for training loops, early stopping and model selection (docs/streaming.md).

State: exact running sums (paired distances, explicit reference distances, unchanged predictions) plus a seeded
reservoir of at most ``reservoir`` samples ``(id, z, z', label)`` chosen by ``key = hash(seed, id)`` (the M
smallest keys), so neither the batching nor the split across processes changes which samples it holds. Memory:
``O(reservoir · D)``, whatever the length of the stream.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from invmeter._utils.images import checked_pixels, to_unit_float
from invmeter._utils.validation import check_positive_int, check_seed
from invmeter.errors import DataError, InvalidParameterError, warn
from invmeter.metrics.functional import check_same_shape, checked_labels, checked_tensor
from invmeter.metrics.invariance import paired_distances
from invmeter.models.guard import borrowed
from invmeter.models.preprocessing import normalize
from invmeter.models.representation import read_representation
from invmeter.streaming.checks import checked_state, first_sightings
from invmeter.streaming.reservoir import Reservoir, sample_keys
from invmeter.streaming.state import STREAM_METRICS, SUM_KEYS, check_modes_agree, stream_value
from invmeter.transforms import SampledTransforms, TransformSpec, apply_transforms, parse_transform

__all__ = ["InvarianceMetric", "SUM_KEYS"]

_VALUES = ("invariance", "l2_ratio", "consistency")  # compute()'s values (paired_distance_ratio = 1 - invariance)

class InvarianceMetric:
    """Streaming invariance of representations to a transform: ``update`` with batches, ``compute`` at any time.

    Two ways to feed it:

    - ``update(z, z_t, labels=None, *, z_ref=None, logits=None, logits_t=None, index=None)``: representations you
      already have, ``(B, D)`` each (row i of ``z_t`` is image i transformed).
    - ``update(model, images, labels=None, *, transformed=None, reference=None, index=None)``: a model and
      ``(B, C, H, W)`` images in [0, 1] (or uint8); the transform's per-image parameters are drawn from
      ``hash(seed, id)`` (or the views come rendered, ``transformed=``), both views go through the model in eval
      mode under ``torch.inference_mode()`` and the model is handed back untouched
      (:func:`invmeter.models.guard.borrowed`: modes, devices, gradients, hooks). The representation is read as
      ``invmeter score`` reads it: the input of the last ``nn.Linear`` when it produces the output (logits then
      give ``consistency``), else the output.

    ``compute()`` returns ``{"invariance", "l2_ratio" (when labels were given), "consistency" (when logits were),
    "n"}``; definitions in docs/streaming.md. A metric a degenerate stream leaves undefined is NaN with an
    :class:`~invmeter.errors.UndefinedMetricWarning` giving the reason, as in the functional API (docs/metrics.md). Samples are identified by ``index`` (global ids, e.g. dataset
    indices), else by a running count of this process (offset by ``rank << 40`` under torch.distributed): the
    result does not depend on how the stream is batched (up to float64 rounding of the running sums) nor, with
    ``index``, on how it is split across processes. ``compute()`` merges every process's state (a collective call)
    when torch.distributed is initialised with more than one process.

    Args:
        transform: Spec for the model path (``"rotation"``, ``"rotation:45+blur"``); unused by the
            representation path.
        reservoir: Samples kept for random references and ``l2_ratio`` (memory ``O(reservoir · D)``).
        seed: Seeds the reservoir's keys and the transform draws.
        mean: Per-channel normalisation mean applied after the transform (model path); ``None``: none.
        std: Per-channel normalisation std.

    Example:
        >>> metric = InvarianceMetric(reservoir=256)
        >>> z = torch.randn(64, 16, generator=torch.Generator().manual_seed(0))
        >>> metric.update(z, z)
        >>> metric.compute()["invariance"]
        1.0
    """

    def __init__(self, transform: str | TransformSpec | None = None, *, reservoir: int = 1024, seed: int = 0,
                 mean: Sequence[float] | None = None, std: Sequence[float] | None = None) -> None:
        self.transform = parse_transform(transform) if transform is not None else None
        self.reservoir_size = check_positive_int("reservoir", reservoir, 2)
        check_seed("seed", seed)
        if (mean is None) != (std is None):
            raise InvalidParameterError("Give both 'mean' and 'std' (per channel), or neither.")
        self.seed = seed
        self.mean = tuple(float(m) for m in mean) if mean is not None else None
        self.std = tuple(float(s) for s in std) if std is not None else None
        if self.std is not None and not all(math.isfinite(v) for v in (*self.mean, *self.std)) or any(
                v <= 0 for v in self.std or ()):
            raise InvalidParameterError(f"'mean' and 'std' must be finite numbers, std > 0. Got mean {self.mean}, "
                                        f"std {self.std}.")
        self.reset()

    def reset(self) -> None:
        """Forget every sample (e.g. at the start of an evaluation epoch)."""
        self.sums: dict[str, float] = dict.fromkeys(SUM_KEYS, 0)
        self.modes: dict[str, bool] | None = None  # {"reference", "labels", "logits"}: fixed by the first update
        self.reservoir: Reservoir | None = None
        self.counter = 0  # samples seen by this process without an explicit index
        self.seen: Tensor | None = None  # the explicit index= ids counted (8 bytes each): each counts once

    # --- feeding ------------------------------------------------------------------------------------------------

    def update(self, *args: Any, **kwargs: Any) -> None:
        """``update(z, z_t, labels=None, ...)`` or ``update(model, images, labels=None, ...)``; see the class."""
        if args and isinstance(args[0], nn.Module):
            self.update_model(*args, **kwargs)
        else:
            self.update_representations(*args, **kwargs)

    def update_representations(
        self, z: Tensor, z_t: Tensor, labels: Tensor | None = None, *, z_ref: Tensor | None = None,
        logits: Tensor | None = None, logits_t: Tensor | None = None, index: Tensor | Sequence[int] | None = None,
    ) -> None:
        """Add a batch of representation pairs ``(B, D)``; ``z_ref`` (B, D) gives each image's reference (e.g. the
        same scene with another object) instead of random other images of the stream."""
        z, z_t = checked_tensor("z", z).float(), checked_tensor("z_t", z_t).float()
        check_same_shape(z, z_t, "z", "z_t")
        b = len(z)
        if z_ref is not None:
            z_ref = checked_tensor("z_ref", z_ref)
            check_same_shape(z, z_ref, "z", "z_ref")
        if logits is not None or logits_t is not None:
            if logits is None or logits_t is None:
                raise InvalidParameterError("Give both 'logits' and 'logits_t' (clean and transformed), or neither.")
            logits, logits_t = checked_tensor("logits", logits), checked_tensor("logits_t", logits_t)
            check_same_shape(logits, logits_t, "logits", "logits_t")
            if len(logits) != b:
                raise InvalidParameterError(f"'logits' has {len(logits)} rows for {b} images.")
        if labels is not None:
            labels = checked_labels(labels, b)
        self._check_modes({"reference": z_ref is not None, "labels": labels is not None, "logits": logits is not None},
                          z.shape[1])
        ids = self._ids(b, index)
        if index is not None and b:  # ids identify samples: each counts once
            fresh = first_sightings(ids, self.seen)
            self.seen = ids[fresh] if self.seen is None else torch.cat([self.seen, ids[fresh]])
            if not bool(fresh.all()):
                warn(f"{b - int(fresh.sum())} of {b} samples skipped: their index was already counted (in this batch "
                     "or an earlier update); each sample id counts once.")
                z, z_t, ids, b = z[fresh], z_t[fresh], ids[fresh], int(fresh.sum())
                z_ref, labels, logits, logits_t = (None if v is None else v[fresh] for v in (z_ref, labels, logits,
                                                                                              logits_t))
        if b == 0:
            return
        d = paired_distances(z, z_t)
        self.sums["n"] += b
        self.sums["sum_d"] += float(d.sum())
        if z_ref is not None:
            self.sums["n_ref"] += b
            self.sums["sum_r"] += float(paired_distances(z, z_ref).sum())
        if logits is not None:
            self.sums["n_logits"] += b
            self.sums["n_same"] += int((logits.argmax(dim=1) == logits_t.argmax(dim=1)).sum())
        self._admit(ids, z, z_t, labels)

    @torch.no_grad()
    def update_model(self, model: nn.Module, images: Tensor, labels: Tensor | None = None, *,
                     transformed: Tensor | None = None, reference: Tensor | None = None,
                     index: Tensor | Sequence[int] | None = None) -> None:
        """Run ``model`` on both views of ``(B, C, H, W)`` images in [0, 1] (or uint8), untouched (see the class),
        and add the representations.

        ``transformed``: the transformed views, rendered by you (e.g. ``Transforms2DPairs.render``, which
        transforms the object only); ``None``: the metric's transform applied to ``images``. ``reference``: (B,)
        index into this batch of each image's reference image (e.g. ``Transforms2DPairs.reference``, whose twins
        a batch must hold whole); ``None``: random other images of the stream.
        """
        weights = next((p for p in model.parameters() if p.dtype.is_floating_point), None)
        device = weights.device if weights is not None else images.device if isinstance(images, Tensor) else None
        dtype = weights.dtype if weights is not None else torch.float32
        x = _images("images", images, dtype).to(device)  # transforms run where the model does, in its dtype
        if transformed is None and self.transform is None:
            raise InvalidParameterError("Updating from a model needs a transform: InvarianceMetric('rotation', ...), "
                                        "or the transformed views (transformed=...).")
        b = len(x)
        ids = self._ids(b, index, advance=False)
        if transformed is None:
            x_t = apply_transforms(x, _draws(self.transform, ids, self.seed))  # type: ignore[arg-type]
        else:
            x_t = _images("transformed", transformed, dtype).to(device)
            check_same_shape(x.flatten(1), x_t.flatten(1), "images", "transformed")
        if reference is not None:
            reference = torch.as_tensor(reference).detach().cpu().long()
            if reference.shape != (b,) or (b and (int(reference.min()) < 0 or int(reference.max()) >= b)) or bool(
                    (reference == torch.arange(b)).any()):
                raise InvalidParameterError(f"'reference' must give each of the {b} images another image of the same "
                                            "batch (indices in [0, B), none its own).")
        with borrowed(model, device) as net, torch.inference_mode():
            views = normalize(torch.cat([x, x_t]), self.mean, self.std)
            z, logits = read_representation(net, views)
        z, logits = z.float().cpu(), logits.float().cpu() if logits is not None else None
        self.update_representations(z[:b], z[b:], labels, z_ref=None if reference is None else z[:b][reference],
                                    logits=None if logits is None else logits[:b],
                                    logits_t=None if logits is None else logits[b:], index=index)  # the same ids

    # --- results ------------------------------------------------------------------------------------------------

    def compute(self, *, sync: bool | None = None) -> dict[str, float]:
        """``invariance``, ``l2_ratio`` (labels given), ``consistency`` (logits given) and ``n`` (samples).

        ``sync``: merge every process's state first (a collective call: every rank must call ``compute``);
        ``None`` = when torch.distributed is initialised with more than one process. Local state is unchanged.
        """
        state = self.gathered() if (_distributed() if sync is None else sync) else self
        return state._compute()

    def _compute(self) -> dict[str, float]:
        """The values of this state (:func:`invmeter.streaming.state.stream_value`, the registry's reductions)."""
        if int(self.sums["n"]) == 0 or self.modes is None:
            raise DataError("The metric has no samples; call update() before compute().")
        out = {k: stream_value(k, self.sums, self.modes, self.reservoir) for k in _VALUES
               if STREAM_METRICS[k] is None or self.modes[STREAM_METRICS[k]]}  # type: ignore[index]
        out["n"] = int(self.sums["n"])
        return out

    # --- state: merge, save, sync -------------------------------------------------------------------------------

    def merge(self, other: InvarianceMetric) -> None:
        """Add ``other``'s samples (another process's or shard's metric with the same settings) to this one."""
        if (other.seed, other.reservoir_size, str(other.transform)) != (self.seed, self.reservoir_size,
                                                                         str(self.transform)):
            raise InvalidParameterError("Only metrics with the same transform, reservoir size and seed can be merged.")
        if other.reservoir is None:
            return
        self._check_modes(other.modes, other.reservoir.clean.shape[1])
        if self.seen is not None and other.seen is not None:
            shared = int(torch.isin(other.seen, self.seen).sum())
            if shared:
                raise InvalidParameterError(
                    f"{shared} sample ids were counted by both metrics (a DistributedSampler pads its last batches "
                    "with repeated samples): merged, they would count twice. Give each process distinct ids "
                    "(DistributedSampler(..., drop_last=True)).")
        self.seen = other.seen if self.seen is None else self.seen if other.seen is None else torch.cat(
            [self.seen, other.seen])
        for key in SUM_KEYS:
            self.sums[key] += other.sums[key]
        assert self.reservoir is not None  # created by _check_modes
        self.reservoir.add(other.reservoir)

    def state_dict(self) -> dict[str, Any]:
        """Settings and state as plain values and CPU tensors (``torch.save``-able, ``weights_only`` loadable)."""
        res = self.reservoir
        return {"transform": str(self.transform) if self.transform is not None else None,
                "reservoir_size": self.reservoir_size, "seed": self.seed, "mean": self.mean, "std": self.std,
                "sums": dict(self.sums), "modes": dict(self.modes) if self.modes else None, "counter": self.counter,
                "seen": self.seen,
                "reservoir": None if res is None else {"ids": res.ids, "keys": res.keys, "clean": res.clean,
                                                       "transformed": res.transformed, "labels": res.labels}}

    @classmethod
    def from_state_dict(cls, state: dict[str, Any]) -> InvarianceMetric:
        """The metric a :meth:`state_dict` describes (anything else: a one-line error)."""
        state = checked_state(state, SUM_KEYS)
        metric = cls(state["transform"], reservoir=state["reservoir_size"], seed=state["seed"], mean=state["mean"],
                     std=state["std"])
        metric.sums, metric.counter = dict(state["sums"]), state["counter"]
        metric.modes = dict(state["modes"]) if state["modes"] else None
        metric.seen = state.get("seen")  # absent from states saved before ids were counted once
        if state["reservoir"] is not None:
            metric.reservoir = Reservoir(metric.reservoir_size, **state["reservoir"])
        return metric

    def gathered(self) -> InvarianceMetric:
        """A copy holding every process's samples (all-gather of the states, merged in rank order; a collective
        call). Without torch.distributed: a copy of this metric."""
        if not _distributed():
            return copy.deepcopy(self)
        import torch.distributed as dist

        states: list[Any] = [None] * dist.get_world_size()
        dist.all_gather_object(states, self.state_dict())
        merged = InvarianceMetric.from_state_dict({**states[0], "sums": dict.fromkeys(SUM_KEYS, 0), "modes": None,
                                                   "reservoir": None, "counter": 0, "seen": None})
        for state in states:
            merged.merge(InvarianceMetric.from_state_dict(state))
        return merged

    # --- internals ----------------------------------------------------------------------------------------------

    def _check_modes(self, modes: dict[str, bool] | None, dim: int) -> None:
        """The first update fixes what every update gives (references, labels, logits) and the dimension."""
        if modes is None:
            return
        if self.modes is None:
            self.modes = dict(modes)
            self.reservoir = Reservoir.empty(self.reservoir_size, dim, modes["labels"])
            return
        check_modes_agree(self.modes, modes)
        assert self.reservoir is not None
        if dim != self.reservoir.clean.shape[1]:
            raise InvalidParameterError(f"Representations changed dimension: {dim}, earlier {self.reservoir.clean.shape[1]}.")

    def _ids(self, b: int, index: Tensor | Sequence[int] | None, advance: bool = True) -> Tensor:
        """Global sample ids of a batch: ``index`` as given, else this process's running count (rank-offset)."""
        if index is not None:
            ids = torch.as_tensor(index).detach().cpu()
            if ids.shape != (b,) or ids.dtype.is_floating_point or ids.dtype == torch.bool or (b and int(ids.min()) < 0):
                raise InvalidParameterError(f"'index' must hold {b} non-negative integer sample ids, one per image.")
            return ids.to(torch.int64)
        ids = torch.arange(self.counter, self.counter + b, dtype=torch.int64) + (_rank() << 40)
        if advance:
            self.counter += b
        return ids

    def _admit(self, ids: Tensor, z: Tensor, z_t: Tensor, labels: Tensor | None) -> None:
        """Offer a batch to the reservoir; once full, only keys below its largest can enter."""
        assert self.reservoir is not None
        keys = sample_keys(ids, self.seed)
        if len(self.reservoir) == self.reservoir_size:
            entering = keys < self.reservoir.keys.max()
            if not bool(entering.any()):
                return
            ids, keys, z, z_t = ids[entering], keys[entering], z[entering], z_t[entering]
            labels = labels[entering] if labels is not None else None
        self.reservoir.add(Reservoir(self.reservoir_size, ids, keys, z.clone(), z_t.clone(),
                                     labels.clone() if labels is not None else None))


def _draws(spec: TransformSpec, ids: Tensor, seed: int) -> SampledTransforms:
    """Per-image transform parameters, image i's drawn from its own generator seeded by ``hash(seed, id_i)``: the
    same draw whichever batch the image comes in."""
    per_image = [spec.sample(1, torch.Generator().manual_seed(int(k))) for k in sample_keys(ids, seed, stream=1)]
    return SampledTransforms(spec, tuple(torch.cat(p) for p in zip(*(s.params for s in per_image))))


def _images(name: str, images: Tensor, dtype: torch.dtype) -> Tensor:
    """``(B, C, H, W)`` images in [0, 1] as ``dtype`` (the model's), checked as ``score`` checks them
    (:func:`~invmeter._utils.images.checked_pixels`: uint8 divided by 255), or a one-line error."""
    if not isinstance(images, Tensor) or images.dim() != 4:
        shape = tuple(images.shape) if isinstance(images, Tensor) else type(images).__name__
        raise InvalidParameterError(f"'{name}' must be a (B, C, H, W) tensor. Got {shape}.")
    return to_unit_float(checked_pixels(images.detach(), f"'{name}'")).to(dtype)


def _distributed() -> bool:
    import torch.distributed as dist

    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def _rank() -> int:
    return torch.distributed.get_rank() if _distributed() else 0
