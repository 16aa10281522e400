"""torchvision models (``torchvision:resnet50``) with their weights as torchvision names them (``IMAGENET1K_V2``,
``ResNet50_Weights.DEFAULT``) and those weights' own ``transforms()``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from invmeter._utils.validation import unknown_name
from invmeter.errors import InvalidParameterError
from invmeter.models.handle import ModelHandle
from invmeter.models.modules import classifier_size, head_readout
from invmeter.models.preprocessing import torchvision_preprocessing
from invmeter.models.weights import is_path, load_weights_into, unloadable_cache_file, weights_unavailable

__all__ = ["torchvision_handle", "torchvision_names", "torchvision_weights"]


def torchvision_names() -> list[str]:
    import torchvision

    return list(torchvision.models.list_models(module=torchvision.models))


def torchvision_weights(name: str, weights: Any) -> Any:
    """The weights enum member ``weights`` names for model ``name``: an enum member, ``"IMAGENET1K_V2"``,
    ``"ResNet50_Weights.IMAGENET1K_V2"`` or ``"DEFAULT"``; ``None`` for auto/pretrained/random/a file. Weights of
    another architecture (``ResNet50_Weights.IMAGENET1K_V1`` for ``resnet18``) are refused."""
    import enum as enum_module

    import torchvision

    enum = torchvision.models.get_model_weights(name)
    if isinstance(weights, enum):
        return weights
    if isinstance(weights, enum_module.Enum):
        raise _other_architecture(name, f"{type(weights).__name__}.{weights.name}", enum)
    if not isinstance(weights, str) or weights in ("auto", "pretrained", "random") or is_path(weights):
        if not isinstance(weights, (str, Path)):
            raise unknown_name(f"weights for torchvision:{name} (got a {type(weights).__name__})", str(weights),
                               list(enum.__members__))
        return None
    owner, _, member = weights.rpartition(".")
    if owner and owner != enum.__name__:
        raise _other_architecture(name, weights, enum)
    if member not in enum.__members__:
        raise unknown_name(f"weights for torchvision:{name}", weights, list(enum.__members__),
                           hint=f"{enum.__name__} has: {', '.join(enum.__members__)}.")
    return enum[member]


def _other_architecture(name: str, weights: str, enum: Any) -> InvalidParameterError:
    return InvalidParameterError(
        f"The weights {weights} are not torchvision:{name}'s (its weights are {enum.__name__}: "
        f"{', '.join(enum.__members__)}); name one of those, e.g. --weights {next(iter(enum.__members__))}, or the "
        "model these weights belong to.")


def torchvision_handle(name: str, weights: Any, image_size: int | None) -> ModelHandle:
    """A torchvision model with the weights asked for: ``auto`` (DEFAULT, or a loud random initialisation when they
    cannot be had), ``pretrained`` or a weights name or enum (they load or the call fails, naming the torch hub
    cache file), ``random`` or a file. A cached file that cannot be loaded is an error naming it."""
    import torchvision

    names = torchvision_names()
    if name not in names:
        raise unknown_name("torchvision model", name, names, hint="Run 'invmeter models \"torchvision:*\"' to list them.")
    chosen = torchvision_weights(name, weights)
    wanted = chosen or torchvision.models.get_model_weights(name).DEFAULT
    model = torchvision.models.get_model(name, weights=None)
    tag = "random-init"
    if is_path(weights):
        load_weights_into(model, weights, name)
        tag = f"file:{weights}"
    elif weights != "random":
        requested = "pretrained" if weights == "pretrained" else ("auto" if chosen is None else str(wanted))
        cached = Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(wanted.url)
        if cached.is_file():
            try:
                load_weights_into(model, cached, name)
            except Exception as exc:  # noqa: BLE001 - a damaged cache file is named, never replaced by random weights
                raise unloadable_cache_file(name, cached, exc) from None
            tag = f"pretrained:{wanted}"
        else:
            try:  # torch.hub downloads into its cache (honouring proxies); offline this fails within seconds
                model.load_state_dict(wanted.get_state_dict(progress=False, check_hash=True))
                tag = f"pretrained:{wanted}"
            except Exception as exc:  # noqa: BLE001 - no weights: fall back loudly (auto) or fail (named, pretrained)
                tag = weights_unavailable(
                    name, requested, f"{wanted} is not in the torch hub cache and downloading it failed "
                    f"({exc.__class__.__name__})", f"Put {cached.name} in {cached.parent} (torch.hub downloads it "
                    "there where download.pytorch.org can be reached; TORCH_HOME moves the cache)")
    return ModelHandle(
        model=model.eval(), name=f"torchvision:{name}", weights=tag,
        preprocessing=torchvision_preprocessing(wanted, image_size), readout=head_readout(model),
        num_classes=classifier_size(model),
        label_names=tuple(wanted.meta.get("categories", ())), extra={"weights_enum": str(wanted)},
    )
