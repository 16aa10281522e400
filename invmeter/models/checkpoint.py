"""invmeter checkpoints: weights in safetensors plus a JSON sidecar that records the architecture.

``DIR/model.safetensors`` + ``DIR/model.json``; the sidecar holds ``arch`` (``cifar:resnet18`` or
``timm:NAME``), ``width``, ``num_classes``, ``class_names``, preprocessing, the training config, the dataset spec,
library versions, final metrics and the SHA-256 of the weights file (a weights file and a sidecar from different
runs, or a damaged weights file, are refused). Writes are atomic (temporary file, fsync, rename).
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from torch import nn

from invmeter._utils.io import atomic_write, sha256_file
from invmeter._utils.schemas import CHECKPOINT_SIDECAR_SCHEMA_VERSION
from invmeter.errors import CheckpointError, warn
from invmeter.models.handle import ModelHandle
from invmeter.models.modules import head_readout
from invmeter.models.preprocessing import Preprocessing, plain_preprocessing, timm_preprocessing
from invmeter.models.readout import Readout
from invmeter.models.weights import load_state_file

__all__ = [
    "CHECKPOINT_FORMAT",
    "build_architecture",
    "checkpoint_handle",
    "load_checkpoint",
    "read_sidecar",
    "remove_stale_temporaries",
    "save_checkpoint",
]

CHECKPOINT_FORMAT = "invmeter-checkpoint/1"


def remove_stale_temporaries(directory: Path, name: str) -> None:
    """Delete temporary files that a killed :func:`atomic_write` of ``directory/name`` left behind."""
    for tmp in directory.glob(f".{name}.*.tmp"):
        tmp.unlink(missing_ok=True)


def build_architecture(arch: str, *, num_classes: int, width: float = 1.0, zero_init_last: bool = True) -> nn.Module:
    """Instantiate ``cifar:NAME`` (with ``width``) or ``timm:NAME`` with random weights (``zero_init_last=False``
    turns off timm's zero-init of each block's last norm, for random-init baselines)."""
    prefix, _, name = arch.partition(":")
    if prefix == "cifar":
        from invmeter.models.cifar import create_cifar_model

        return create_cifar_model(name, num_classes=num_classes, width=width)
    if prefix == "timm":
        import timm

        from invmeter.models.timm_source import create_timm

        if not timm.is_model(name):
            raise CheckpointError(f"Checkpoint architecture {arch!r} is not a known timm model.")
        if zero_init_last:
            return timm.create_model(name, pretrained=False, num_classes=num_classes)
        return create_timm(name, pretrained=False, image_size=None, num_classes=num_classes)[0]
    raise CheckpointError(f"Unknown checkpoint architecture {arch!r}; expected 'cifar:NAME' or 'timm:NAME'.")


def save_checkpoint(model: nn.Module, directory: str | Path, meta: dict[str, Any], stem: str = "model") -> Path:
    """Write ``DIR/<stem>.safetensors`` and ``DIR/<stem>.json`` atomically; returns the weights path."""
    from safetensors.torch import save_file

    directory = Path(directory)
    weights = directory / f"{stem}.safetensors"
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    atomic_write(weights, lambda tmp: save_file(state, str(tmp)))
    sidecar = {"format": CHECKPOINT_FORMAT, "schema_version": CHECKPOINT_SIDECAR_SCHEMA_VERSION, **meta,
               "weights_sha256": sha256_file(weights)}
    atomic_write(directory / f"{stem}.json", lambda tmp: tmp.write_text(json.dumps(sidecar, indent=2, default=str)))
    return weights


def _sidecar_path(path: Path) -> Path:
    return path.with_suffix(".json")


def read_sidecar(path: str | Path) -> dict[str, Any]:
    """Read and check the JSON sidecar of a checkpoint (``model.safetensors`` -> ``model.json``)."""
    side = _sidecar_path(Path(path))
    if not side.is_file():
        raise CheckpointError(
            f"Checkpoint {str(path)!r} has no sidecar {side.name!r} recording its architecture; for a bare state dict "
            "use --model ARCH --weights PATH."
        )
    try:
        meta = json.loads(side.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise CheckpointError(f"Checkpoint sidecar {str(side)!r} is not valid JSON; is it corrupt?") from None
    if not isinstance(meta, dict) or meta.get("format") != CHECKPOINT_FORMAT or "arch" not in meta:
        raise CheckpointError(f"{str(side)!r} is not an invmeter checkpoint sidecar (format {CHECKPOINT_FORMAT}).")
    if not _known_architecture(str(meta["arch"])):
        from invmeter.models.cifar import CIFAR_ARCHS

        raise CheckpointError(f"Checkpoint sidecar {str(side)!r} records the architecture {meta['arch']!r}, which is "
                              f"neither cifar:NAME ({', '.join(CIFAR_ARCHS)}) nor a timm model; was it edited?")
    return meta


def _known_architecture(arch: str) -> bool:
    prefix, _, name = arch.partition(":")
    if prefix == "cifar":
        from invmeter.models.cifar import CIFAR_ARCHS

        return name in CIFAR_ARCHS
    if prefix == "timm":
        import timm

        return bool(timm.is_model(name))
    return False


def load_checkpoint(path: str | Path, *, image_size: int | None = None) -> ModelHandle:
    """Load a checkpoint written by ``invmeter train`` (a ``.safetensors`` file or its folder) as a handle.

    Every way a checkpoint can be wrong (missing, corrupt, a sidecar from another run, weights that do not fit the
    recorded architecture) is a one-line :class:`CheckpointError`.
    """
    p = Path(path)
    if p.is_dir():
        p = p / "model.safetensors"
    if not p.is_file():
        raise CheckpointError(f"Checkpoint {str(p)!r} does not exist.")
    meta = read_sidecar(p)
    expected = meta.get("weights_sha256")
    if expected is not None and sha256_file(p) != expected:
        raise CheckpointError(
            f"Checkpoint {str(p)!r} does not match its sidecar {_sidecar_path(p).name!r} (SHA-256 differs): the files "
            "come from different runs or the weights are damaged."
        )
    try:
        arch, num_classes, width = str(meta["arch"]), int(meta["num_classes"]), float(meta.get("width", 1.0))
    except (KeyError, TypeError, ValueError):
        raise CheckpointError(f"Checkpoint sidecar {str(_sidecar_path(p))!r} lacks a valid 'num_classes'.") from None
    model = build_architecture(arch, num_classes=num_classes, width=width)
    state = load_state_file(p)
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError:  # tensor shapes differ (e.g. another width or number of classes)
        missing, unexpected = [], ["(tensors of other shapes)"]
    if missing or unexpected:
        names = (missing or unexpected)[:3]
        raise CheckpointError(
            f"Checkpoint {str(p)!r} does not match its recorded architecture {arch!r} "
            f"({'missing' if missing else 'unexpected'} keys such as {', '.join(names)})."
        )
    handle = checkpoint_handle(model, meta, name=str(p), weights=f"file:{p}")
    return replace(handle, preprocessing=handle.preprocessing.with_size(image_size)) if image_size else handle


def checkpoint_handle(model: nn.Module, meta: dict[str, Any], *, name: str, weights: str) -> ModelHandle:
    """The :class:`ModelHandle` of a model described by checkpoint metadata (preprocessing, input size, labels).

    The preprocessing is what the sidecar records (``input_size``, ``mean``, ``std``). For a timm architecture,
    whatever it does not record comes from that architecture's ``pretrained_cfg`` (size, mean/std, interpolation,
    crop), with a warning that says so; any other checkpoint without a recorded mean/std is fed unnormalised
    [0, 1] pixels, with a warning (never silently)."""
    arch = str(meta["arch"])
    timm_arch = arch.startswith("timm:")
    recorded = {k: meta[k] for k in ("input_size", "mean", "std") if meta.get(k) is not None}
    if timm_arch and len(recorded) < 3:
        prep = _timm_fallback(model, arch, recorded, name)
    else:
        size = tuple(recorded.get("input_size", (32, 32)))
        prep = plain_preprocessing((int(size[0]), int(size[1])), recorded.get("mean"), recorded.get("std"),
                                   source="recorded in the checkpoint (the training preprocessing)")
    if prep.mean is None:
        warn(f"Checkpoint {name!r} records no normalisation (mean/std): it is fed unnormalised pixels in [0, 1]. If it "
             f"was trained on normalised images, record its mean and std in {_sidecar_path(Path(name)).name!r} or pass "
             "--mean/--std.")
    return ModelHandle(
        model=model.eval(), name=name, weights=weights, preprocessing=prep,
        readout=Readout("pre_logits") if timm_arch else head_readout(model),
        num_classes=int(meta["num_classes"]), label_names=tuple(meta.get("class_names", ())),
        extra={"arch": meta["arch"], "width": meta.get("width", 1.0), "checkpoint": meta.get("dataset")},
    )


def _timm_fallback(model: nn.Module, arch: str, recorded: dict[str, Any], name: str) -> Preprocessing:
    """The timm architecture's ``pretrained_cfg`` preprocessing for what the sidecar does not record, with a
    warning naming what was filled in."""
    prep = timm_preprocessing(model)
    if "input_size" in recorded and len(set(recorded["input_size"])) == 1:
        prep = replace(prep.with_size(int(recorded["input_size"][0])), overridden=())
    if "mean" in recorded and "std" in recorded:
        prep = replace(prep, mean=tuple(recorded["mean"]), std=tuple(recorded["std"]))
    missing = [k for k in ("input_size", "mean", "std") if k not in recorded]
    rest = f"; {', '.join(recorded)} recorded in the checkpoint" if recorded else ""
    prep = replace(prep, source=f"timm pretrained_cfg of {arch} for what the checkpoint does not record "
                                f"({', '.join(missing)}){rest}")
    h, w = prep.input_size
    warn(f"Checkpoint {name!r} records no {', '.join(missing)}: using timm's pretrained_cfg for {arch} ({h}x{w} px, "
         f"{prep.interpolation}, crop {prep.crop_pct or 1.0:.3g}, mean {_fmt(prep.mean)}, std {_fmt(prep.std)}). "
         "Record them in its model.json if it was trained otherwise.")
    return prep


def _fmt(values: tuple[float, ...] | None) -> str:
    return "none" if values is None else "(" + ", ".join(f"{v:.3g}" for v in values) + ")"
