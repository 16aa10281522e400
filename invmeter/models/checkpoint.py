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
from invmeter.errors import CheckpointError
from invmeter.models.handle import ModelHandle
from invmeter.models.modules import head_readout
from invmeter.models.preprocessing import plain_preprocessing
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
    """The :class:`ModelHandle` of a model described by checkpoint metadata (preprocessing, input size, labels)."""
    size = tuple(meta.get("input_size", (32, 32)))
    timm_arch = meta["arch"].startswith("timm:")
    prep = plain_preprocessing((int(size[0]), int(size[1])), meta.get("mean"), meta.get("std"),
                               source="recorded in the checkpoint (the training preprocessing)")
    return ModelHandle(
        model=model.eval(), name=name, weights=weights, preprocessing=prep,
        readout=Readout("pre_logits") if timm_arch else head_readout(model),
        num_classes=int(meta["num_classes"]), label_names=tuple(meta.get("class_names", ())),
        extra={"arch": meta["arch"], "width": meta.get("width", 1.0), "checkpoint": meta.get("dataset")},
    )
