"""The cell tasks every figure is built from: train a model, transfer it (last-layer fine-tuning), measure l2 ratios.

Configs are plain JSON (a dataset is ``{"objects": [...], "transforms": "a+b", ...}``, or ``{"kind": "pasted",
...}`` for CIFAR-10 with pasted objects), so a cell's id is a hash of everything that determines its result and a
cell can run in another process or on another machine.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from invmeter._utils.device import resolve_device
from invmeter.data.backgrounds import ProceduralBackgrounds, load_background_source
from invmeter.data.build import build_split
from invmeter.data.cifar import Cifar10Folder, load_cifar10
from invmeter.data.pasted import PastedObjects
from invmeter.data.prototypes import ImageObjects, ProceduralObjects, load_object_source
from invmeter.data.redraw import DRAWN_EVERY_EPOCH, RedrawnSplit, redraws
from invmeter.data.standin import Cifar10StandIn
from invmeter.data.transforms2d import Transforms2D
from invmeter.errors import CheckpointError
from invmeter.metrics.distances import class_distance_sums, l2_ratio_from_sums
from invmeter.models.checkpoint import load_checkpoint
from invmeter.models.handle import ModelHandle
from invmeter.models.representation import extract_images
from invmeter.runner import cell_task
from invmeter.runner.settings import RunSettings
from invmeter.transforms import TransformSpec, parse_transform

__all__ = ["CHECKPOINT", "dataset_config", "dataset_from_config", "model_for"]

CHECKPOINT = "model.safetensors"


def dataset_config(
    ds: Transforms2D | PastedObjects, *, objects_dir: str | None = None, backgrounds_dir: str | None = None
) -> dict[str, Any]:
    """A dataset as a JSON cell config (sources by folder, or the procedural defaults). Pasted objects bring their
    own backgrounds (a CIFAR-10 folder, the stand-in or black): ``backgrounds_dir`` does not apply to them."""
    if isinstance(ds, PastedObjects):
        return _pasted_config(ds, objects_dir)
    cfg: dict[str, Any] = {
        "objects": list(ds.objects),
        "transforms": str(ds.transforms) if ds.transforms is not None else None,
        "image_size": ds.image_size,
        "object_scale": ds.object_scale,
        "objects_dir": objects_dir,
        "backgrounds_dir": backgrounds_dir,
    }
    if ds.class_transforms is not None:
        cfg["class_transforms"] = [str(t) if t is not None else None for t in ds.class_transforms]
    return cfg


def _pasted_config(ds: PastedObjects, objects_dir: str | None) -> dict[str, Any]:
    bg = ds.backgrounds
    cfg: dict[str, Any] = {"kind": "pasted", "backgrounds": "black", "cifar_root": None, "background_seed": None}
    if isinstance(bg, Cifar10Folder):
        cfg.update(backgrounds=bg.name, cifar_root=str(bg.folder.resolve()), background_seed=bg.split_seed)
    elif isinstance(bg, Cifar10StandIn):
        # its rendering version is part of every cell's key: cells trained on an older rendering are not reused
        cfg.update(backgrounds=bg.name, background_seed=bg.seed, background_format=bg.describe()["format"])
    return {**cfg, "objects": list(ds.objects), "label": ds.label, "availability": ds.availability,
            "relevance": ds.relevance, "placement": ds.placement, "image_size": ds.image_size,
            "objects_dir": objects_dir}


def _backgrounds_from_config(cfg: dict[str, Any]) -> Cifar10Folder | Cifar10StandIn | None:
    if cfg["backgrounds"] == "black":
        return None
    if cfg["backgrounds"] == Cifar10StandIn.name:
        return Cifar10StandIn(cfg["background_seed"])
    return load_cifar10(cfg["cifar_root"], split_seed=cfg["background_seed"])


def _pasted_from_config(cfg: dict[str, Any]) -> PastedObjects:
    return PastedObjects(
        _backgrounds_from_config(cfg), objects=tuple(cfg["objects"]), label=cfg["label"],
        availability=cfg["availability"], relevance=cfg["relevance"], placement=cfg["placement"],
        image_size=cfg["image_size"], object_source=_object_source(cfg),
    )


def _object_source(cfg: dict[str, Any]) -> ImageObjects | ProceduralObjects:
    return load_object_source(cfg["objects_dir"]) if cfg.get("objects_dir") else ProceduralObjects()


def _spec(text: str | None) -> TransformSpec | None:
    return parse_transform(text) if text else None


def dataset_from_config(cfg: dict[str, Any]) -> Transforms2D | PastedObjects:
    """The inverse of :func:`dataset_config`."""
    if cfg.get("kind") == "pasted":
        return _pasted_from_config(cfg)
    class_transforms = cfg.get("class_transforms")
    return Transforms2D(
        objects=tuple(cfg["objects"]),
        transforms=_spec(cfg.get("transforms")),
        class_transforms=tuple(_spec(t) for t in class_transforms) if class_transforms else None,
        image_size=cfg.get("image_size", 32),
        object_scale=cfg.get("object_scale", 0.7),
        object_source=_object_source(cfg),
        background_source=(load_background_source(cfg["backgrounds_dir"]) if cfg.get("backgrounds_dir")
                           else ProceduralBackgrounds()),
    )


def _checkpoint(workdir: Path, record: dict[str, Any]) -> Path:
    """Where a finished train cell (``record``) left its model: ``OUT/work/<its id>/model.safetensors``."""
    return workdir.parent / record["id"] / CHECKPOINT


def _checkpoint_problem(record: dict[str, Any], workdir: Path) -> str | None:
    """What is wrong with a finished train cell's model (missing, damaged: the loader verifies its SHA-256)."""
    try:
        load_checkpoint(workdir / CHECKPOINT)
    except CheckpointError as exc:
        return f"its model cannot be used ({exc})"
    return None


def _fresh_workdir(workdir: Path) -> str | None:
    """Prepare a train cell's folder for a run from scratch, unless it holds a resumable state: remove a model that a
    run finished but never recorded (killed before its record was written). Returns why it was removed, if it was."""
    from invmeter.training.loop import STATE_FILE

    if (workdir / STATE_FILE).exists() or not (workdir / CHECKPOINT).exists():
        return None
    for name in (CHECKPOINT, "model.json"):
        (workdir / name).unlink(missing_ok=True)
    return "an unrecorded model from an interrupted run was removed"


@cell_task("train", check=_checkpoint_problem)
def train_cell(config: dict[str, Any], deps: dict[str, dict[str, Any]], workdir: Path,
               settings: RunSettings) -> dict[str, Any]:
    """Train ``config["arch"]`` on ``config["dataset"]``; resumes from the cell's last finished epoch. Once the model
    is written, the resumable state (weights and Adam moments, about 3x the model) is deleted: the cell's epochs
    are fixed by its config, so it would never be resumed again."""
    from invmeter.training.loop import STATE_FILE, TrainConfig, train

    options = {k: v for k, v in config.items() if k != "dataset"}
    options.setdefault("redraw", False)  # a cell without the key trains on a fixed split (the earlier protocol)
    # train with the thread count the runner chose, not every core: same numbers everywhere
    cfg = TrainConfig(data=dataset_from_config(config["dataset"]), threads=settings.threads, **options)
    notes = [note] if (note := _fresh_workdir(workdir)) else []
    try:
        result = train(cfg, out=workdir, resume=(workdir / STATE_FILE).exists(), cache=settings.data_cache)
    except CheckpointError as exc:  # a damaged or foreign resumable state: start this cell again
        (workdir / STATE_FILE).unlink(missing_ok=True)
        notes.append(f"restarted from scratch: {exc}")
        result = train(cfg, out=workdir, resume=False, cache=settings.data_cache)
    (workdir / STATE_FILE).unlink(missing_ok=True)
    return {
        "test_accuracy": result.test_accuracy,
        "val_accuracy": result.history[-1]["val_accuracy"],
        "epochs": len(result.history),
        "train_seconds": round(result.seconds, 1),
        "precision": "bfloat16 autocast" if _amp_used(cfg) else "float32",
        "training_data": (f"transforms drawn again every epoch ({DRAWN_EVERY_EPOCH})"
                          if result.config.redraw and redraws(cfg.data) else "one fixed split"),
        **({"notes": notes} if notes else {}),
    }


def _amp_used(cfg: Any) -> bool:
    """Whether the trainer ran ``cfg`` with bfloat16 autocast (asked for, on a GPU that supports it)."""
    return bool(cfg.amp) and torch.cuda.is_available() and torch.cuda.is_bf16_supported()


def _target_splits(config: dict[str, Any], cache: bool) -> tuple[Any, Any]:
    """The target's training scenes (a split redrawn on the device that extracts the features, with ``draws``) and
    its fixed test split."""
    target = dataset_from_config(config["target"])
    n, seed = config["n_train"], config["seed"]
    train = (RedrawnSplit(target, "train", n, seed, device=resolve_device("auto")) if config.get("draws", 1) > 1
             else build_split(target, "train", n, seed, cache=cache))
    return train, build_split(target, "test", config["n_test"], seed, cache=cache)


@cell_task("transfer")
def transfer_cell(config: dict[str, Any], deps: dict[str, dict[str, Any]], workdir: Path,
                  settings: RunSettings) -> dict[str, Any]:
    """The paper's transfer protocol: freeze the trained model, fit its last layer on the target's training split
    (Adam, ``config["epochs"]`` epochs on features extracted once), report accuracy on the target's test split."""
    from invmeter.training.finetune import finetune_last_layer

    handle = load_checkpoint(_checkpoint(workdir, deps["model"]))
    train_split, test_split = _target_splits(config, settings.data_cache)
    draws = config.get("draws", 1)
    result = finetune_last_layer(handle, train_split, test_split, epochs=config.get("epochs", 25), draws=draws,
                                 seed=config["seed"])
    out = {"accuracy": result.test_accuracy, "train_accuracy": result.train_accuracy}
    return {**out, "draws": draws} if draws > 1 else out


def model_for(config: dict[str, Any], deps: dict[str, dict[str, Any]], workdir: Path, target: Any) -> ModelHandle:
    """The trained model of ``deps["model"]``, or without one an untrained model of ``config["arch"]`` at
    ``config["width"]`` for the ``target`` dataset, initialised from ``config["seed"]``."""
    model = deps.get("model")
    if model is not None:
        return load_checkpoint(_checkpoint(workdir, model))
    from invmeter.models.checkpoint import build_architecture
    from invmeter.models.cifar import CIFAR_MEAN, CIFAR_STD
    from invmeter.models.modules import wrap_module

    torch.manual_seed(config["seed"])
    net = build_architecture(config["arch"], num_classes=target.n_classes, width=config["width"])
    return wrap_module(net, image_size=target.image_size, mean=CIFAR_MEAN, std=CIFAR_STD)


@cell_task("l2")
def l2_cell(config: dict[str, Any], deps: dict[str, dict[str, Any]], workdir: Path,
            settings: RunSettings) -> dict[str, Any]:
    """The l2 between/within-class distance ratio of a model's representations on the target's test split."""
    target = dataset_from_config(config["target"])
    handle = model_for(config, deps, workdir, target)
    test = build_split(target, "test", config["n_test"], config["seed"], cache=settings.data_cache)
    feats = extract_images(handle, test.images)
    ratio = l2_ratio_from_sums(class_distance_sums(feats, torch.from_numpy(np.asarray(test.labels))))
    return {"l2_ratio": ratio}
