"""torchvision models (``torchvision:resnet50``) with their weights as torchvision names them (``IMAGENET1K_V2``,
``ResNet50_Weights.DEFAULT``) and those weights' own ``transforms()``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from invmeter._utils.validation import unknown_name
from invmeter.models.handle import ModelHandle
from invmeter.models.modules import classifier_size, head_readout
from invmeter.models.preprocessing import torchvision_preprocessing
from invmeter.models.weights import is_path, load_weights_into, weights_unavailable

__all__ = ["torchvision_handle", "torchvision_names", "torchvision_weights"]


def torchvision_names() -> list[str]:
    import torchvision

    return list(torchvision.models.list_models(module=torchvision.models))


def torchvision_weights(name: str, weights: Any) -> Any:
    """The weights enum member ``weights`` names for model ``name``: an enum member, ``"IMAGENET1K_V2"``,
    ``"ResNet50_Weights.IMAGENET1K_V2"`` or ``"DEFAULT"``; ``None`` for auto/pretrained/random/a file."""
    import torchvision

    enum = torchvision.models.get_model_weights(name)
    if isinstance(weights, enum):
        return weights
    if not isinstance(weights, str) or weights in ("auto", "pretrained", "random") or is_path(weights):
        if not isinstance(weights, (str, Path)):
            raise unknown_name(f"weights for torchvision:{name} (got a {type(weights).__name__})", str(weights),
                               list(enum.__members__))
        return None
    member = weights.rpartition(".")[2]
    if member not in enum.__members__:
        raise unknown_name(f"weights for torchvision:{name}", weights, list(enum.__members__),
                           hint=f"{enum.__name__} has: {', '.join(enum.__members__)}.")
    return enum[member]


def torchvision_handle(name: str, weights: Any, image_size: int | None) -> ModelHandle:
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
        cached = Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(wanted.url)
        try:
            if cached.is_file():
                load_weights_into(model, cached, name)
            else:  # torch.hub downloads into its cache (honouring proxies); offline this fails within seconds
                model.load_state_dict(wanted.get_state_dict(progress=False, check_hash=True))
            tag = f"pretrained:{wanted}"
        except Exception as exc:  # noqa: BLE001 - no weights: fall back loudly (auto, a name) or fail (pretrained)
            tag = weights_unavailable(name, "pretrained" if weights == "pretrained" else "auto",
                                      f"{wanted} is not in the torch hub cache and downloading it failed "
                                      f"({exc.__class__.__name__})")
    return ModelHandle(
        model=model.eval(), name=f"torchvision:{name}", weights=tag,
        preprocessing=torchvision_preprocessing(wanted, image_size), readout=head_readout(model),
        num_classes=classifier_size(model),
        label_names=tuple(wanted.meta.get("categories", ())), extra={"weights_enum": str(wanted)},
    )
