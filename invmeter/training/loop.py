"""invmeter's trainer: the paper's CIFAR architectures (or any timm model) trained on Transforms-2D (or on any
:class:`~invmeter.data.BuildableDataset`, e.g. CIFAR-10 with pasted objects).

``train(config)`` is one loop that reads top to bottom, in nanoGPT's spirit but importable: build the validation
and test splits (fixed, cached on disk) and the training images, seed, build the model and Adam, resume if asked,
then every epoch take that epoch's training images, shuffle, step through mini-batches, score validation accuracy,
log one line and save a resumable state atomically. At the end the held-out test split is scored once and the model
is written as ``DIR/model.safetensors`` + ``DIR/model.json``, which ``invmeter score --model DIR/model.safetensors``
loads.

Data: as the paper (paper.md §1.4), a Transforms-2D training split draws its transform parameters again every epoch
(``redraw``, the default): classes, objects and backgrounds per index are fixed, and epoch e's parameters are seeded
by (seed, e), so a run is reproducible and resumes mid-training exactly (:mod:`invmeter.training.epochs`). With
``redraw=False`` it trains on one fixed split, rendered once and cached (invmeter's protocol until the paper's was
adopted; results committed under it reproduce with it). Validation and test splits are fixed in both modes.

The paper's transfer protocol (re-fitting the last layer of a trained model) is :mod:`invmeter.training.finetune`.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from invmeter._utils.device import resolve_device
from invmeter._utils.images import to_unit_float
from invmeter._utils.progress import Progress
from invmeter._utils.validation import check_image_size, check_positive_int, check_range, check_seed, unknown_name
from invmeter._utils.versions import versions
from invmeter.data.build import BuildableDataset, build_split
from invmeter.data.transforms2d import Transforms2D
from invmeter.errors import InvalidParameterError, UnknownNameError
from invmeter.models.checkpoint import build_architecture, checkpoint_handle, save_checkpoint
from invmeter.models.cifar import CIFAR_ARCHS, CIFAR_MEAN, CIFAR_STD, check_arch_image_size
from invmeter.models.handle import ModelHandle
from invmeter.models.preprocessing import normalize
from invmeter.training.defaults import TRAIN_DEFAULTS
from invmeter.training.epochs import TrainImages
from invmeter.training.state import STATE_FILE, open_run, save_state
from invmeter.training.tracking import Tracker, log_text, parse_track
from invmeter.transforms import parse_dataset_transform, parse_transform

__all__ = [
    "STATE_FILE",
    "TrainConfig",
    "TrainResult",
    "evaluate",
    "resolve_arch",
    "train",
]

# the only settings that may change when a run is resumed (tracking never changes the training: tested)


def resolve_arch(arch: str) -> str:
    """``cifar:NAME`` / ``timm:NAME`` as given; a bare name is a CIFAR architecture if there is one, else timm."""
    if not isinstance(arch, str) or not arch.strip():
        raise InvalidParameterError(f"The 'arch' parameter must be a non-empty string. Got {arch!r}.")
    prefix, sep, name = arch.strip().partition(":")
    if not sep:
        prefix, name = ("cifar" if prefix in CIFAR_ARCHS else "timm"), prefix
    if prefix == "cifar":
        if name not in CIFAR_ARCHS:
            raise unknown_name("CIFAR architecture", name, CIFAR_ARCHS)
    elif prefix == "timm":
        import timm

        if not timm.is_model(name):
            pool = [f"cifar:{a}" for a in CIFAR_ARCHS] + timm.list_models()
            hint = "Use cifar:NAME or timm:NAME ('invmeter models' lists them)."
            raise unknown_name("architecture", name, pool, hint=hint)
    else:
        raise UnknownNameError(f"Unknown architecture prefix {prefix!r} in {arch!r}; use cifar:NAME or timm:NAME.")
    return f"{prefix}:{name}"


@dataclass(frozen=True)
class TrainConfig:
    """What to train and how; every field is recorded in the checkpoint. From plain options (objects
    ``0..K-1``, a transform spec string): :meth:`TrainConfig.for_transforms2d`."""

    arch: str = TRAIN_DEFAULTS["arch"]  # cifar:resnet18|vgg11|densenet121 or timm:NAME (bare: cifar, then timm)
    width: float = TRAIN_DEFAULTS["width"]  # channel multiplier of the cifar architectures; timm models: 1 only
    # the training distribution: D(O, T) (Transforms2D) or any BuildableDataset (e.g. PastedObjects)
    data: BuildableDataset = field(default_factory=lambda: Transforms2D(transforms=parse_transform("rotation")))
    n_train: int = TRAIN_DEFAULTS["n_train"]  # training scenes (images per epoch)
    n_val: int = TRAIN_DEFAULTS["n_val"]  # validation images, scored after every epoch
    n_test: int = TRAIN_DEFAULTS["n_test"]  # held-out test images, scored once at the end
    epochs: int = TRAIN_DEFAULTS["epochs"]  # full passes over the training split
    batch_size: int = TRAIN_DEFAULTS["batch_size"]  # images per Adam step; an epoch drops its last incomplete batch
    lr: float = TRAIN_DEFAULTS["lr"]  # Adam learning rate, constant (the paper: 1e-3, no schedule)
    weight_decay: float = TRAIN_DEFAULTS["weight_decay"]  # Adam's L2 weight decay (the paper: none)
    seed: int = TRAIN_DEFAULTS["seed"]  # seeds the splits (seed + 0 / 110 / 220), the initialisation, the batch order
    device: str = TRAIN_DEFAULTS["device"]  # auto | cpu | cuda | cuda:N
    threads: int = TRAIN_DEFAULTS["threads"]  # CPU threads for the whole process (0 = PyTorch's choice)
    amp: bool = TRAIN_DEFAULTS["amp"]  # bfloat16 autocast on CUDA (ignored on CPU)
    channels_last: bool = TRAIN_DEFAULTS["channels_last"]  # NHWC weights and inputs on CUDA (ignored on CPU)
    compile: bool = TRAIN_DEFAULTS["compile"]  # torch.compile the model on CUDA (ignored on CPU)
    # Transforms-2D: draw the training split's transform parameters again every epoch (the paper); False: one fixed
    # split, rendered once and cached. Other datasets (nothing to draw) always train on their fixed split.
    redraw: bool = TRAIN_DEFAULTS["redraw"]
    track: tuple[str, ...] = ()  # transforms whose invariance and l2_ratio are measured every epoch (invmeter.training.tracking)
    track_images: int = TRAIN_DEFAULTS["track_images"]  # controlled pairs in tracking's fixed held-out set

    def __post_init__(self) -> None:
        object.__setattr__(self, "arch", resolve_arch(self.arch))
        if not isinstance(self.data, BuildableDataset):
            raise InvalidParameterError(
                f"The 'data' parameter must be a dataset build_split renders (Transforms2D, PastedObjects). "
                f"Got {type(self.data).__name__}."
            )
        if self.arch.startswith("cifar:"):
            object.__setattr__(self, "width", check_range("width", self.width, 0.03, 4.0, "TrainConfig"))
            check_arch_image_size(self.arch, self.data.image_size)
        elif self.width != 1.0:
            raise InvalidParameterError(f"The 'width' multiplier applies to cifar:NAME architectures only; {self.arch} "
                                        f"trains at width 1. Got {self.width}.")
        for name in ("n_train", "n_val", "n_test", "epochs"):
            check_positive_int(name, getattr(self, name))
        for name in ("n_train", "n_val", "n_test"):  # before the output folder is made (build_split checks it late)
            if getattr(self, name) < self.data.n_classes:
                raise InvalidParameterError(
                    f"The {name!r} parameter must be at least the number of classes, {self.data.n_classes}, so that "
                    f"every class appears in the balanced split. Got {getattr(self, name)}. Use "
                    f"{self.data.n_classes} or more.")
        check_positive_int("batch_size", self.batch_size, 2)
        check_positive_int("threads", self.threads, 0)
        if self.batch_size > self.n_train:
            raise InvalidParameterError(
                f"The 'batch_size' ({self.batch_size}) must not exceed 'n_train' ({self.n_train})."
            )
        check_range("lr", self.lr, 1e-9, 10.0, "TrainConfig")
        check_range("weight_decay", self.weight_decay, 0.0, 1.0, "TrainConfig")
        check_seed("seed", self.seed)
        for name in ("amp", "channels_last", "compile", "redraw"):
            if not isinstance(getattr(self, name), bool):
                raise InvalidParameterError(f"The {name!r} parameter must be True or False. Got {getattr(self, name)!r}.")
        object.__setattr__(self, "track", parse_track(self.track))
        check_positive_int("track_images", self.track_images, 2 * self.data.n_classes if self.track else 2)

    @classmethod
    def for_transforms2d(
        cls, *, transforms: str | None = "rotation", classes: int = 10, image_size: int = 32, **options: Any
    ) -> TrainConfig:
        """A config on objects ``0..classes-1`` under ``transforms`` (one spec, ``"rotation+blur"``; ``"none"``: none),
        rendered at ``image_size`` pixels; ``options`` are the other fields."""
        spec = parse_dataset_transform(transforms)
        objects = tuple(range(check_positive_int("classes", classes, 2)))
        data = Transforms2D(objects=objects, transforms=spec, image_size=check_image_size(image_size))
        return cls(data=data, **options)

    def to_dict(self) -> dict[str, Any]:
        """Every field, JSON-able (``data`` as its full spec)."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["data"] = self.data.describe()
        return json.loads(json.dumps(out))


@dataclass(frozen=True)
class TrainResult:
    """A finished run.

    Attributes:
        handle: The trained model (eval mode) with its preprocessing; pass it to ``invmeter.score``.
        config: The config it was trained with.
        history: One row per epoch: ``epoch``, ``train_loss``, ``train_accuracy``, ``val_accuracy`` (fractions),
            ``images_per_s`` (the epoch's training steps, and its rendering where it was not done ahead: on a GPU, the
            rendered-and-trained rate) and ``seconds`` (training + validation + tracking); with
            ``config.track``, ``invariance/<t>`` and ``l2_ratio/<t>`` per tracked transform and ``track_seconds``.
        test_accuracy: Top-1 accuracy on the held-out test split (fraction).
        checkpoint: ``DIR/model.safetensors`` when an output folder was given, else ``None``.
        seconds: Wall time of this call, data building included.
    """

    handle: ModelHandle
    config: TrainConfig
    history: tuple[dict[str, float], ...]
    test_accuracy: float
    checkpoint: Path | None
    seconds: float

    @property
    def model(self) -> nn.Module:
        return self.handle.model


def _inputs(images: Tensor) -> Tensor:
    """uint8 images ``(B, 3, S, S)`` -> the model's input: [0, 1], then the paper's Normalize(0.5, 0.5)."""
    return normalize(to_unit_float(images), CIFAR_MEAN, CIFAR_STD)


@torch.no_grad()
def evaluate(model: nn.Module, images: Tensor, labels: Tensor, *, batch_size: int = 256, amp: bool = False) -> float:
    """Top-1 accuracy (fraction) of ``model`` on uint8 images ``(N, 3, S, S)`` with labels ``(N,)`` (on the
    model's device); runs in ``eval()`` mode and restores the previous mode."""
    was_training = model.training
    model.eval()
    correct = 0
    for start in range(0, len(labels), batch_size):
        with torch.autocast(images.device.type, dtype=torch.bfloat16, enabled=amp):
            logits = model(_inputs(images[start : start + batch_size]))
        correct += int((logits.argmax(1) == labels[start : start + batch_size]).sum())
    model.train(was_training)
    return correct / len(labels)


def train(
    config: TrainConfig,
    *,
    out: str | Path | None = None,
    resume: bool = False,
    verbose: bool = False,
    cache: bool | str | Path = True,
) -> TrainResult:
    """Train ``config.arch`` on ``config.data``; score validation accuracy every epoch and test accuracy at the end.

    Args:
        config: What to train (see :class:`TrainConfig`).
        out: Folder for ``model.safetensors`` + ``model.json`` (written at the end) and ``train_state.pt`` (after
            every epoch); all writes are atomic. ``None`` keeps everything in memory.
        resume: Continue the run in ``out`` after its last finished epoch (start afresh if none finished). Every
            setting except ``epochs``, ``device`` and ``threads`` must match the saved run. Without it, an ``out``
            that already holds a run is refused.
        verbose: A progress bar and one log line per epoch on stderr.
        cache: Where the splits are cached (``build_split``): ``True`` (default folder), ``False`` or a folder.

    Example:
        >>> cfg = TrainConfig.for_transforms2d(transforms="hflip", classes=2, image_size=16, arch="cifar:resnet18",
        ...                                    width=0.125, n_train=32, n_val=8, n_test=8, epochs=1, batch_size=16)
        >>> result = train(cfg, cache=False)
        >>> len(result.history), result.handle.num_classes, result.checkpoint
        (1, 2, None)
    """
    t_start = time.perf_counter()
    log = _log if verbose else _quiet
    out_dir = Path(out) if out is not None else None
    device = resolve_device(config.device)  # an unknown device fails before the output folder is made
    state = open_run(out_dir, config, resume)  # the saved state to continue from, or None
    if config.threads:
        torch.set_num_threads(config.threads)
    amp = config.amp and device.type == "cuda" and torch.cuda.is_bf16_supported()

    # 1) data: fixed validation and test splits (cached) and the training images of every epoch, on the device
    splits = {name: build_split(config.data, name, n, config.seed, cache=cache, progress=verbose)
              for name, n in (("val", config.n_val), ("test", config.n_test))}
    images = {name: torch.from_numpy(np.array(s.images)).to(device) for name, s in splits.items()}
    labels = {name: torch.from_numpy(np.array(s.labels)).long().to(device) for name, s in splits.items()}
    training = TrainImages(config.data, config.n_train, config.seed, device, redraw=config.redraw, cache=cache,
                           progress=verbose)
    specs = {"train": training.spec, **{name: s.spec for name, s in splits.items()}}
    tracker = Tracker.build(config, splits["val"]) if config.track else None  # --track: fixed held-out pairs

    # 2) model and optimiser: a seeded initialisation, or the saved state
    torch.manual_seed(config.seed)
    model = build_architecture(config.arch, num_classes=config.data.n_classes, width=config.width).to(device)
    channels_last = config.channels_last and device.type == "cuda"
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    step_model = torch.compile(model) if config.compile and device.type == "cuda" else model  # same weights
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    history: list[dict[str, float]] = []
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        history = list(state["history"])
        torch.set_rng_state(state["rng"])
        if state["cuda_rng"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda_rng"])
        log(f"resuming {out_dir} after epoch {len(history)}")

    # 3) the loop: shuffle, step, validate, log, save
    steps = config.n_train // config.batch_size
    with training:  # a redrawn split renders the next epoch while this one trains
        for epoch in range(len(history) + 1, config.epochs + 1):
            t_epoch = time.perf_counter()
            train_images = training.epoch(epoch, next_epoch=epoch + 1 if epoch < config.epochs else None)
            model.train()
            order = torch.from_numpy(np.random.default_rng([config.seed, epoch]).permutation(config.n_train)).to(device)
            loss_sum = torch.zeros((), device=device)
            correct = torch.zeros((), dtype=torch.long, device=device)
            bar = Progress(steps * config.batch_size, f"epoch {epoch}/{config.epochs}", enabled=verbose)
            for step in range(steps):
                idx = order[step * config.batch_size : (step + 1) * config.batch_size]
                x, y = _inputs(train_images[idx]), training.labels[idx]
                if channels_last:
                    x = x.contiguous(memory_format=torch.channels_last)
                with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
                    logits = step_model(x)
                    loss = F.cross_entropy(logits, y)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                loss_sum += loss.detach()
                correct += (logits.argmax(1) == y).sum()
                bar.update(config.batch_size)
            bar.close()
            train_loss, train_accuracy = loss_sum.item() / steps, correct.item() / (steps * config.batch_size)
            train_seconds = time.perf_counter() - t_epoch
            val_accuracy = evaluate(model, images["val"], labels["val"], batch_size=max(256, config.batch_size),
                                    amp=amp)
            tracked = tracker.measure(model, device) if tracker is not None else {}
            row = {"epoch": epoch, "train_loss": train_loss, "train_accuracy": train_accuracy,
                   "val_accuracy": val_accuracy, "images_per_s": steps * config.batch_size / train_seconds, **tracked,
                   "seconds": time.perf_counter() - t_epoch}
            history.append(row)
            log(f"epoch {epoch}/{config.epochs}: train loss {train_loss:.4f}, train acc {train_accuracy:.3f}, "
                f"val acc {val_accuracy:.3f}, " + (log_text(row, config.track) + ", " if tracked else "")
                + f"{row['images_per_s']:.0f} img/s, {row['seconds']:.1f} s")
            if out_dir is not None:
                save_state(out_dir, model, optimizer, config, history)

    # 4) test once, write the checkpoint
    test_accuracy = evaluate(model, images["test"], labels["test"], batch_size=max(256, config.batch_size), amp=amp)
    meta = _checkpoint_meta(config, specs, history, test_accuracy, device)
    if tracker is not None:
        meta["track"] = tracker.describe()
    checkpoint = save_checkpoint(model, out_dir, meta) if out_dir is not None else None
    name, weights = (str(checkpoint), f"file:{checkpoint}") if checkpoint else (config.arch, "trained-in-memory")
    log(f"test acc {test_accuracy:.3f} ({config.n_test} images)" + (f"; wrote {checkpoint}" if checkpoint else ""))
    return TrainResult(
        handle=checkpoint_handle(model.eval(), meta, name=name, weights=weights),
        config=config,
        history=tuple(history),
        test_accuracy=test_accuracy,
        checkpoint=checkpoint,
        seconds=time.perf_counter() - t_start,
    )


def _log(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _quiet(line: str) -> None:
    """Discard a log line (``verbose=False``)."""


def _checkpoint_meta(
    config: TrainConfig, specs: dict[str, dict[str, Any]], history: list[dict[str, float]], test_accuracy: float,
    device: torch.device,
) -> dict[str, Any]:
    """The JSON sidecar: architecture, preprocessing, config, dataset specs, versions and final metrics."""
    last = history[-1]
    return {
        "arch": config.arch,
        "width": config.width,
        "num_classes": config.data.n_classes,
        "class_names": config.data.class_names,
        "input_size": [config.data.image_size, config.data.image_size],
        "mean": list(CIFAR_MEAN),
        "std": list(CIFAR_STD),
        "config": config.to_dict(),
        "dataset": specs,
        "metrics": {"test_accuracy": test_accuracy, "val_accuracy": last["val_accuracy"],
                    "train_accuracy": last["train_accuracy"], "train_loss": last["train_loss"]},
        "history": history,
        "device": str(device),
        "versions": versions(),
    }
