"""``InvarianceCallback``: log how invariant the model being trained is, every N epochs or steps, on a fixed held-out
batch, through the trainer's logger (the ``lightning`` extra). Definitions: docs/streaming.md."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from invmeter._utils.validation import check_positive_int
from invmeter.errors import InvalidParameterError, InvmeterError
from invmeter.streaming.metric import InvarianceMetric
from invmeter.transforms import parse_transform

try:
    from lightning.pytorch import Callback, LightningModule, Trainer
except ImportError:  # pragma: no cover - exercised only without the extra
    raise InvmeterError("The Lightning integration needs lightning: pip install 'invmeter[lightning]'.") from None

__all__ = ["InvarianceCallback"]


class InvarianceCallback(Callback):
    """Measure the module being trained on controlled pairs of ``images`` and log ``invariance/<transform>``
    (plus ``l2_ratio/<transform>`` with labels, ``consistency/<transform>`` when the model has a classifier head):
    per epoch through ``pl_module.log`` (so ``EarlyStopping(monitor="invariance/rotation")`` works), per step
    straight to the trainer's loggers.

    The pairs are the same at every measurement (transform draws keyed by image index and ``seed``), the model runs
    in eval mode under ``torch.inference_mode()`` and is handed back untouched (modes, gradients, hooks), so
    training is exactly what it would be without the callback. The reference distance is the mean over all pairs of
    held-out images (the reservoir holds them all). Values also accumulate in :attr:`history`.

    Args:
        images: ``(N, C, H, W)`` held-out images in [0, 1] (or uint8), before normalisation.
        labels: ``(N,)`` their classes, for ``l2_ratio``; ``None``: not logged.
        transforms: Transform specs, e.g. ``("rotation", "hflip")`` or ``"rotation"``, applied to whole images.
        transformed: Instead of ``transforms``: ``{spec: (N, C, H, W) transformed views}`` rendered by you (e.g.
            ``Transforms2DPairs.render``, which transforms the object only).
        reference: ``(N,)`` index of each image's reference image among ``images`` (e.g.
            ``Transforms2DPairs.reference``: the same scene with another object); ``None``: random other images.
        every_n_epochs: Measure after every N-th training epoch (``None``: never).
        every_n_steps: Measure after every N-th optimiser step (``None``: never).
        mean: Per-channel normalisation the module expects (applied after the transform); ``None``: none.
        std: Per-channel normalisation std.
        seed: Seeds the transform draws and the reference reservoir.
        batch_size: Images per forward pass (the module sees twice as many: both views).
    """

    def __init__(self, images: Tensor, labels: Tensor | None = None, *, transforms: str | Sequence[str] = "rotation",
                 transformed: Mapping[str, Tensor] | None = None, reference: Tensor | None = None,
                 every_n_epochs: int | None = 1, every_n_steps: int | None = None,
                 mean: Sequence[float] | None = None, std: Sequence[float] | None = None, seed: int = 0,
                 batch_size: int = 256) -> None:
        if not isinstance(images, Tensor) or images.dim() != 4 or len(images) < 2:
            raise InvalidParameterError("'images' must be a (N, C, H, W) tensor of at least 2 held-out images.")
        if labels is not None and len(labels) != len(images):
            raise InvalidParameterError(f"'labels' must hold one class per image ({len(images)}). Got {len(labels)}.")
        if transformed is not None:
            transforms = list(transformed)
            if any(not isinstance(v, Tensor) or v.shape != images.shape for v in transformed.values()):
                raise InvalidParameterError(f"Each of 'transformed' must be a tensor shaped like 'images' "
                                            f"{tuple(images.shape)}.")
        if reference is not None and len(reference) != len(images):
            raise InvalidParameterError(f"'reference' must give one reference per image ({len(images)}).")
        if every_n_epochs is None and every_n_steps is None:
            raise InvalidParameterError("Give every_n_epochs or every_n_steps (or both); otherwise nothing is logged.")
        self.every_n_epochs = None if every_n_epochs is None else check_positive_int("every_n_epochs", every_n_epochs)
        self.every_n_steps = None if every_n_steps is None else check_positive_int("every_n_steps", every_n_steps)
        specs = [transforms] if isinstance(transforms, str) else list(transforms)
        self.transforms = [str(parse_transform(t)) for t in specs]
        self.images, self.reference = images, reference
        self.labels = None if labels is None else torch.as_tensor(labels)
        self.transformed = {str(parse_transform(k)): v for k, v in transformed.items()} if transformed else None
        self.settings = {"mean": mean, "std": std, "seed": seed, "reservoir": max(2, len(images))}
        self.batch_size = check_positive_int("batch_size", batch_size)
        self.history: list[dict[str, float]] = []

    def measure(self, model: nn.Module) -> dict[str, float]:
        """``{"invariance/<t>": ..., ...}`` of ``model`` on the held-out pairs, for every transform."""
        out: dict[str, float] = {}
        for spec in self.transforms:
            metric = InvarianceMetric(spec, **self.settings)  # type: ignore[arg-type]
            step = len(self.images) if self.reference is not None else self.batch_size  # references: one batch
            # explicit ids: every rank of a distributed run draws the same transforms
            for ids in torch.arange(len(self.images)).split(step):
                metric.update(model, self.images[ids], None if self.labels is None else self.labels[ids],
                              transformed=None if self.transformed is None else self.transformed[spec][ids],
                              reference=self.reference, index=ids)
            for key, value in metric.compute(sync=False).items():
                if key != "n":
                    out[f"{key}/{spec}"] = float(value)
        return out

    def on_train_batch_end(self, trainer: Trainer, pl_module: LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        """Every N-th step: straight to the trainer's loggers, once (``self.log`` in this hook would repeat the
        value on every later step's row)."""
        if self.every_n_steps and trainer.global_step % self.every_n_steps == 0:
            values = self._measure(trainer, pl_module)
            for logger in trainer.loggers:
                logger.log_metrics(values, step=trainer.global_step)

    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Every N-th epoch: through ``pl_module.log``, so EarlyStopping/ModelCheckpoint can monitor the values."""
        if self.every_n_epochs and (trainer.current_epoch + 1) % self.every_n_epochs == 0:
            pl_module.log_dict(self._measure(trainer, pl_module), on_step=False, on_epoch=True)

    def _measure(self, trainer: Trainer, pl_module: LightningModule) -> dict[str, float]:
        values = self.measure(pl_module)
        self.history.append({"epoch": trainer.current_epoch, "step": trainer.global_step, **values})
        return values
