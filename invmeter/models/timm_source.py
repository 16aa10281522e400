"""timm models by name or pretrained tag (``resnet18``, ``timm:resnet18.a1_in1k``), with timm's own preprocessing."""

from __future__ import annotations

from typing import Any

from torch import nn

from invmeter._utils.validation import unknown_name
from invmeter.errors import InvalidParameterError
from invmeter.models.handle import ModelHandle
from invmeter.models.preprocessing import timm_preprocessing
from invmeter.models.readout import Readout
from invmeter.models.weights import (
    hf_how,
    hf_weights,
    is_path,
    load_weights_into,
    unloadable_cache_file,
    weights_unavailable,
)

__all__ = ["timm_handle", "timm_module_handle", "timm_names", "create_timm"]


def timm_names(pretrained: bool = False) -> list[str]:
    """timm's architecture names, or with ``pretrained`` every ``name.tag`` that has published weights."""
    import timm

    return list(timm.list_models(pretrained=pretrained))


def create_timm(name: str, *, pretrained: bool, image_size: int | None, **kwargs: Any) -> tuple[nn.Module, dict[str, Any]]:
    """``timm.create_model`` with the input size passed where the architecture takes one (``img_size``: ViTs and
    other fixed-size models), and, for random weights, timm's zero-init of each block's last norm turned off
    (``zero_init_last=False``; with it a random ResNet ignores its input's content). An architecture that does not
    take one of these options is built without it. Returns the model and the options it was built with."""
    import timm

    optional: dict[str, Any] = {}
    if image_size is not None:
        optional["img_size"] = image_size
    if not pretrained:
        optional["zero_init_last"] = False
    while True:
        try:
            return timm.create_model(name, pretrained=pretrained, **kwargs, **optional), dict(optional)
        except TypeError as exc:  # the architecture's constructor does not take an optional keyword
            refused = [k for k in optional if repr(k) in str(exc) or f" {k}" in str(exc)]
            if not refused:
                raise
            optional.pop(refused[0])


def _label_names(model: nn.Module) -> tuple[str, ...]:
    if getattr(model, "num_classes", 0) != 1000:
        return ()
    from timm.data import ImageNetInfo

    info = ImageNetInfo()  # the description, then the WordNet id as a synonym (ImageNet folders are named by it)
    return tuple(f"{info.index_to_description(i)}, {info.index_to_label_name(i)}" for i in range(1000))


def timm_module_handle(model: nn.Module, *, name: str, weights: str, image_size: int | None = None,
                       extra: dict[str, Any] | None = None) -> ModelHandle:
    """A handle for a timm model object: timm's eval preprocessing from its ``pretrained_cfg`` and its pre-logits."""
    return ModelHandle(
        model=model, name=name, weights=weights, preprocessing=timm_preprocessing(model, image_size),
        readout=Readout("pre_logits"), num_classes=int(getattr(model, "num_classes", 0) or 0),
        label_names=_label_names(model), extra=dict(extra or {}),
    )


def timm_handle(name: str, weights: Any, image_size: int | None) -> ModelHandle:
    """``name`` is a timm architecture or ``architecture.tag``; ``weights`` is auto | pretrained | random | a file.

    A tag names its weights: with ``auto`` or ``pretrained`` they load or the call fails (one line naming the Hugging
    Face cache folder and how to fill it); only an architecture named without a tag falls back to a random
    initialisation under ``auto``, loudly. A cached weights file that timm cannot load is an error naming the file.
    """
    import timm

    if not timm.is_model(name):
        raise unknown_name("timm model", name, timm_names() + timm_names(pretrained=True),
                           hint="Run 'invmeter models PATTERN' to search.")
    if not isinstance(weights, str) and not is_path(weights):
        raise InvalidParameterError(f"timm models take weights auto, pretrained, random or a file; got {weights!r}. "
                                    "Choose a pretrained tag in the name instead, e.g. resnet18.a1_in1k.")
    tag, overlay, cached, repo = "random-init", None, None, None
    if weights in ("auto", "pretrained"):
        cfg = timm.models.get_pretrained_cfg(name)
        repo = getattr(cfg, "hf_hub_id", None) if cfg is not None else None
        requested = "auto" if weights == "auto" and "." not in name else ("pretrained" if weights == "pretrained"
                                                                          else repo or name)
        if repo is None:
            tag = weights_unavailable(name, requested, "timm lists no pretrained weights for it",
                                      f"Run 'invmeter models \"timm:{name.partition('.')[0]}*\"' for tags with weights")
        else:
            cached, why = hf_weights(repo)
            if why is not None:
                tag = weights_unavailable(name, requested, why, hf_how(repo))
            else:
                overlay = {"file": cached} if cached else None
                tag = f"pretrained:{repo}"
    pretrained = tag.startswith("pretrained")
    try:
        model, options = create_timm(name, pretrained=pretrained, image_size=image_size,
                                     **({"pretrained_cfg_overlay": overlay} if overlay else {}))
    except Exception as exc:  # noqa: BLE001 - a damaged cache file or a failed download: say which, never hide it
        if not pretrained:
            raise InvalidParameterError(f"timm cannot build {name!r}: {exc}") from None
        if cached:
            raise unloadable_cache_file(name, cached, exc) from None
        tag = weights_unavailable(name, requested, f"downloading them failed: {exc.__class__.__name__}",
                                  hf_how(str(repo)))
        model, options = create_timm(name, pretrained=False, image_size=image_size)
    if is_path(weights):
        load_weights_into(model, weights, name)
        tag = f"file:{weights}"
    extra = {"timm_options": options} if options else {}
    return timm_module_handle(model.eval(), name=f"timm:{name}", weights=tag, image_size=image_size, extra=extra)
