"""``InvarianceCallback``: how invariant the module being trained is, measured on the validation loop and logged
through ``pl_module.log`` (the ``lightning`` extra). Definitions: docs/streaming.md."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from invmeter._utils.validation import check_positive_int
from invmeter.errors import InvalidParameterError, InvmeterError, InvmeterWarning, warn
from invmeter.streaming.metric import InvarianceMetric
from invmeter.transforms import parse_transform

try:
    from lightning.pytorch import Callback, LightningModule, Trainer
except ImportError:  # pragma: no cover - exercised only without the extra
    raise InvmeterError("The Lightning integration needs lightning: pip install 'invmeter[lightning]'.") from None

__all__ = ["InvarianceCallback"]

BatchImages = Callable[[Any], tuple[Tensor, Tensor | None]]


def batch_images(batch: Any) -> tuple[Tensor, Tensor | None]:
    """A validation batch's images and labels: ``(images, labels, ...)`` or ``images`` alone."""
    if isinstance(batch, Tensor):
        return batch, None
    if isinstance(batch, (tuple, list)) and batch and isinstance(batch[0], Tensor):
        return batch[0], batch[1] if len(batch) > 1 and isinstance(batch[1], Tensor) else None
    raise InvalidParameterError(f"InvarianceCallback cannot find images in a validation batch of type "
                                f"{type(batch).__name__}; give batch_images=lambda batch: (images, labels).")


class InvarianceCallback(Callback):
    """Measure the module being trained at the end of every validation epoch and log ``invariance/<transform>``
    (plus ``l2_ratio/<transform>`` with labels, ``consistency/<transform>`` when the module ends in a classifier
    head) through ``pl_module.log`` with ``sync_dist``, so ``EarlyStopping``/``ModelCheckpoint`` can monitor them.

    It runs where the validation loop runs: every ``check_val_every_n_epoch`` epochs, under ``trainer.validate()``,
    never in the sanity check. It measures a fixed held-out set (``images``: the same pairs at every measurement)
    or, with ``images=None``, the validation batches themselves (images in [0, 1] or uint8, before normalisation;
    ``batch_images`` finds them in a batch; the first validation dataloader only). The module runs in eval mode under
    ``torch.inference_mode()`` and is handed back untouched, so training is exactly what it would be without the
    callback. Every measurement is kept in :attr:`history`, which is saved in checkpoints and restored on resume.

    Args:
        images: ``(N, C, H, W)`` held-out images in [0, 1] (or uint8), before normalisation; ``None``: the
            validation batches.
        labels: ``(N,)`` their classes, for ``l2_ratio``; ``None``: not logged.
        transforms: Transform specs, e.g. ``("rotation", "hflip")`` or ``"rotation"``, applied to whole images.
        transformed: Instead of ``transforms`` (held-out set only): ``{spec: (N, C, H, W) transformed views}``
            rendered by you (e.g. ``Transforms2DPairs.render``, which transforms the object only).
        reference: ``(N,)`` index of each held-out image's reference image among ``images`` (e.g.
            ``Transforms2DPairs.reference``: the same scene with another object); ``None``: random other images.
        every_n_steps: Also measure the held-out set after every N-th optimiser step, straight to the trainer's
            loggers (``None``: only at validation).
        mean: Per-channel normalisation the module expects (applied after the transform); ``None``: none.
        std: Per-channel normalisation std.
        seed: Seeds the transform draws and the reference reservoir.
        batch_size: Held-out images per forward pass (the module sees twice as many: both views).
        reservoir: Validation-batch mode: samples kept for random references and ``l2_ratio``.
        batch_images: Validation-batch mode: ``batch -> (images, labels or None)``; default: the batch's first two
            entries (or the batch, a tensor).
    """

    def __init__(self, images: Tensor | None = None, labels: Tensor | None = None, *,
                 transforms: str | Sequence[str] = "rotation", transformed: Mapping[str, Tensor] | None = None,
                 reference: Tensor | None = None, every_n_steps: int | None = None,
                 mean: Sequence[float] | None = None, std: Sequence[float] | None = None, seed: int = 0,
                 batch_size: int = 256, reservoir: int = 1024, batch_images: BatchImages = batch_images) -> None:
        if images is None:
            if labels is not None or transformed is not None or reference is not None or every_n_steps is not None:
                raise InvalidParameterError("labels, transformed, reference and every_n_steps describe a held-out set "
                                            "(images=...); without it the callback measures the validation batches.")
        elif not isinstance(images, Tensor) or images.dim() != 4 or len(images) < 2:
            raise InvalidParameterError("'images' must be a (N, C, H, W) tensor of at least 2 held-out images.")
        else:
            if labels is not None and len(labels) != len(images):
                raise InvalidParameterError(f"'labels' must hold one class per image ({len(images)}). "
                                            f"Got {len(labels)}.")
            if transformed is not None:
                transforms = list(transformed)
                if any(not isinstance(v, Tensor) or v.shape != images.shape for v in transformed.values()):
                    raise InvalidParameterError(f"Each of 'transformed' must be a tensor shaped like 'images' "
                                                f"{tuple(images.shape)}.")
            if reference is not None and len(reference) != len(images):
                raise InvalidParameterError(f"'reference' must give one reference per image ({len(images)}).")
        self.every_n_steps = None if every_n_steps is None else check_positive_int("every_n_steps", every_n_steps)
        specs = [transforms] if isinstance(transforms, str) else list(transforms)
        self.transforms = [str(parse_transform(t)) for t in specs]
        self.images, self.reference = images, reference
        self.labels = None if labels is None else torch.as_tensor(labels)
        self.transformed = {str(parse_transform(k)): v for k, v in transformed.items()} if transformed else None
        size = check_positive_int("reservoir", reservoir, 2) if images is None else max(2, len(images))
        self.settings = {"mean": mean, "std": std, "seed": seed, "reservoir": size}
        InvarianceMetric(**self.settings)  # type: ignore[arg-type]  # validates them now
        self.batch_size = check_positive_int("batch_size", batch_size)
        self.batch_images = batch_images
        self.history: list[dict[str, float]] = []
        self._streams: dict[str, InvarianceMetric] = {}
        self._measured = False

    @property
    def state_key(self) -> str:
        return self._generate_state_key(transforms=self.transforms, held_out=self.images is not None)

    def state_dict(self) -> dict[str, Any]:
        """The measurements so far (``history``), saved in Lightning checkpoints."""
        return {"history": [dict(entry) for entry in self.history]}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore the history of a checkpoint, so a resumed run keeps its earlier measurements."""
        self.history = [dict(entry) for entry in state_dict["history"]]

    def measure(self, model: nn.Module) -> dict[str, float]:
        """``{"invariance/<t>": ..., ...}`` of ``model`` on the held-out pairs, for every transform."""
        if self.images is None:
            raise InvalidParameterError("measure() needs a held-out set (images=...); this callback measures the "
                                        "validation batches.")
        out: dict[str, float] = {}
        for spec in self.transforms:
            metric = InvarianceMetric(spec, **self.settings)  # type: ignore[arg-type]
            step = len(self.images) if self.reference is not None else self.batch_size  # references: one batch
            # explicit ids: every rank of a distributed run draws the same transforms
            for ids in torch.arange(len(self.images)).split(step):
                metric.update(model, self.images[ids], None if self.labels is None else self.labels[ids],
                              transformed=None if self.transformed is None else self.transformed[spec][ids],
                              reference=self.reference, index=ids)
            out.update(_named(metric.compute(sync=False), spec))
        return out

    # --- the validation loop ----------------------------------------------------------------------------------

    def on_validation_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if self.images is None and not trainer.sanity_checking:
            self._streams = {spec: InvarianceMetric(spec, **self.settings) for spec in self.transforms}  # type: ignore

    def on_validation_batch_end(self, trainer: Trainer, pl_module: LightningModule, outputs: Any, batch: Any,
                                batch_idx: int, dataloader_idx: int = 0) -> None:
        if self.images is not None or trainer.sanity_checking or dataloader_idx != 0:
            return
        images, labels = self.batch_images(batch)
        for metric in self._streams.values():
            metric.update(pl_module, images, labels)

    def on_validation_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Log the epoch's measurement with ``pl_module.log`` (``sync_dist``: the mean over processes)."""
        if trainer.sanity_checking:
            return
        if self.images is not None:
            values = self.measure(pl_module)
        else:
            if not self._streams or any(m.sums["n"] == 0 for m in self._streams.values()):
                return
            values = {}  # every process's samples (compute() merges them: a collective call)
            for spec, metric in self._streams.items():
                values.update(_named(metric.compute(), spec))
        self._record(trainer, values)
        pl_module.log_dict(values, on_step=False, on_epoch=True, sync_dist=True)

    # --- per step, and a run that measured nothing --------------------------------------------------------------

    def on_train_batch_end(self, trainer: Trainer, pl_module: LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        """Every N-th step: the held-out set, straight to the trainer's loggers, once (``self.log`` in this hook
        would repeat the value on every later step's row)."""
        if self.every_n_steps and trainer.global_step % self.every_n_steps == 0:
            values = self.measure(pl_module)
            self._record(trainer, values)
            for logger in trainer.loggers:
                logger.log_metrics(values, step=trainer.global_step)

    def on_fit_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._measured = False

    def on_fit_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if not self._measured:
            warn("InvarianceCallback measured nothing: it measures when the validation loop runs (give the module a "
                 "validation_step and the trainer val_dataloaders), or per step with a held-out set (every_n_steps=).",
                 InvmeterWarning)

    def _record(self, trainer: Trainer, values: dict[str, float]) -> None:
        self.history.append({"epoch": trainer.current_epoch, "step": trainer.global_step, **values})
        self._measured = True


def _named(values: dict[str, float], spec: str) -> dict[str, float]:
    """A measurement's values as logged names: ``invariance/<spec>``, ... (the sample count left out)."""
    return {f"{key}/{spec}": float(value) for key, value in values.items() if key != "n"}
