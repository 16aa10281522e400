"""Resolve model specs (``resnet18``, ``timm:NAME``, ``torchvision:NAME``, ``cifar:resnet18``, a checkpoint path,
``package.module:factory``) into :class:`ModelHandle` objects, with the model's own preprocessing.

Pretrained weights are taken from the local cache when present, downloaded only when the host is reachable, and
otherwise (``weights="auto"``) replaced by a random initialisation with a loud warning.
"""

from __future__ import annotations

import copy
import dataclasses
import fnmatch
import importlib
import os
from pathlib import Path

import torch
from torch import nn

from invmeter._validation import unknown_name
from invmeter.errors import CheckpointError, InvalidParameterError, UnknownNameError
from invmeter.models.handle import ModelHandle
from invmeter.models.weights import load_weights_into, reachable, weights_unavailable

__all__ = ["load_model", "wrap_module", "list_models", "random_init_copy", "WEIGHT_CHOICES"]

WEIGHT_CHOICES = ("auto", "pretrained", "random")
CHECKPOINT_SUFFIXES = (".safetensors", ".pt", ".pth", ".bin")


# --- timm -----------------------------------------------------------------------------------------------------


def _hf_cached_file(repo_id: str) -> str | None:
    from huggingface_hub import try_to_load_from_cache

    cache_dir = os.environ.get("HF_HUB_CACHE") or (
        os.path.join(os.environ["HF_HOME"], "hub") if "HF_HOME" in os.environ else None
    )
    for filename in ("model.safetensors", "pytorch_model.bin"):
        found = try_to_load_from_cache(repo_id, filename, cache_dir=cache_dir)
        if isinstance(found, str):
            return found
    return None


def _timm_handle(name: str, weights: str) -> ModelHandle:
    import timm

    if not timm.is_model(name):
        raise unknown_name("timm model", name, timm.list_models(), hint="Run 'invmeter models PATTERN' to search.")
    tag = "random-init"
    overlay = None
    if weights not in ("random",) and not _is_path(weights):
        cfg = timm.models.get_pretrained_cfg(name)
        repo = getattr(cfg, "hf_hub_id", None) if cfg is not None else None
        if repo is None:
            tag = weights_unavailable(name, weights, "timm lists no pretrained weights for it")
        else:
            cached = _hf_cached_file(repo)
            if cached is not None:
                overlay, tag = {"file": cached}, f"pretrained:{repo}"
            elif reachable("huggingface.co"):
                tag = f"pretrained:{repo}"
            else:
                tag = weights_unavailable(name, weights, "not in the local Hugging Face cache and huggingface.co is unreachable")
    pretrained = tag.startswith("pretrained")
    try:
        model = timm.create_model(name, pretrained=pretrained, **({"pretrained_cfg_overlay": overlay} if overlay else {}))
    except Exception as exc:  # noqa: BLE001 - a failed download falls back (auto) or fails clearly (pretrained)
        if not pretrained:
            raise
        tag = weights_unavailable(name, weights, f"loading failed: {exc.__class__.__name__}")
        model = timm.create_model(name, pretrained=False)
    if _is_path(weights):
        load_weights_into(model, weights, name)
        tag = f"file:{weights}"
    cfg = model.pretrained_cfg
    label_names: tuple[str, ...] = ()
    if getattr(model, "num_classes", 0) == 1000:
        from timm.data import ImageNetInfo

        info = ImageNetInfo()
        label_names = tuple(info.index_to_description(i) for i in range(1000))
    return ModelHandle(
        model=model.eval(),
        name=f"timm:{name}",
        weights=tag,
        input_size=tuple(cfg.get("input_size", (3, 224, 224))[1:]),
        mean=tuple(cfg.get("mean", (0.485, 0.456, 0.406))),
        std=tuple(cfg.get("std", (0.229, 0.224, 0.225))),
        kind="timm",
        layer="pre_logits",
        num_classes=int(getattr(model, "num_classes", 0) or 0),
        label_names=label_names,
        extra={"interpolation": cfg.get("interpolation"), "crop_pct": cfg.get("crop_pct")},
    )


# --- torchvision ----------------------------------------------------------------------------------------------


def _torchvision_handle(name: str, weights: str) -> ModelHandle:
    import torchvision

    names = torchvision.models.list_models(module=torchvision.models)
    if name not in names:
        raise unknown_name("torchvision model", name, names, hint="Run 'invmeter models \"torchvision:*\"' to list them.")
    default = torchvision.models.get_model_weights(name).DEFAULT
    model = torchvision.models.get_model(name, weights=None)
    tag = "random-init"
    if _is_path(weights):
        load_weights_into(model, weights, name)
        tag = f"file:{weights}"
    elif weights != "random":
        cached = Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(default.url)
        if cached.is_file():
            load_weights_into(model, cached, name)
            tag = f"pretrained:{default}"
        elif reachable("download.pytorch.org"):
            model = torchvision.models.get_model(name, weights=default)
            tag = f"pretrained:{default}"
        else:
            tag = weights_unavailable(name, weights, "not in the torch hub cache and download.pytorch.org is unreachable")
    preset = default.transforms()
    crop = preset.crop_size[0] if hasattr(preset, "crop_size") else 224
    handle = wrap_module(model, name=f"torchvision:{name}", image_size=crop, mean=tuple(preset.mean), std=tuple(preset.std))
    categories = tuple(default.meta.get("categories", ()))
    return ModelHandle(**{**handle.__dict__, "weights": tag, "label_names": categories})


# --- generic modules and factories ----------------------------------------------------------------------------


def _last_linear(model: nn.Module) -> tuple[str, nn.Linear] | None:
    found = None
    for name, module in model.named_modules():
        if isinstance(module, nn.Linear):
            found = (name, module)
    return found


def wrap_module(
    module: nn.Module,
    *,
    name: str | None = None,
    image_size: int | tuple[int, int] = 32,
    mean: tuple[float, ...] | None = None,
    std: tuple[float, ...] | None = None,
    weights: str = "as-given",
) -> ModelHandle:
    """Wrap any ``nn.Module`` mapping ``(N, 3, H, W)`` images to features or logits.

    The representation is the input of the last ``nn.Linear`` when that layer produces the model's output
    (a classifier head; checked on the first batch, no extra forward pass), else the output itself.
    ``mean``/``std`` normalise images after the transform.
    """
    if not isinstance(module, nn.Module):
        raise InvalidParameterError(f"Expected an nn.Module; got {type(module).__name__}.")
    size = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
    last = _last_linear(module)
    kind, layer, num_classes = "output", "output", 0
    if last is not None:
        kind, layer, num_classes = "linear-input", f"{last[0]} (input)", last[1].out_features
    return ModelHandle(
        model=module.eval(),
        name=name or type(module).__name__,
        weights=weights,
        input_size=size,
        mean=mean,
        std=std,
        kind=kind,
        layer=layer,
        num_classes=num_classes,
    )


def _factory_handle(spec: str, image_size: int | None) -> ModelHandle:
    module_name, _, attr = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
        factory = getattr(module, attr)
    except (ImportError, AttributeError) as exc:
        raise UnknownNameError(f"Cannot import model factory {spec!r}: {exc}.") from None
    return wrap_module(factory(), name=spec, image_size=image_size or 32, weights="from-factory")


def _is_path(text: str) -> bool:
    return text.endswith(CHECKPOINT_SUFFIXES) or os.sep in text or text.startswith(".")


# --- front door -----------------------------------------------------------------------------------------------


def load_model(spec: str, *, weights: str = "auto", image_size: int | None = None, init_seed: int = 0) -> ModelHandle:
    """Resolve a model spec into a :class:`ModelHandle` in eval mode.

    Construction runs under ``torch.manual_seed(init_seed)`` (the global RNG is restored afterwards), so a
    random initialisation is the same every time.

    Args:
        spec: ``resnet18`` / ``timm:NAME`` (timm), ``torchvision:NAME``, ``cifar:resnet18|vgg11|densenet121``,
            a checkpoint written by ``invmeter train`` (``.safetensors`` with its ``.json`` sidecar), or
            ``package.module:factory``.
        weights: ``auto`` (pretrained if obtainable, else random init with a warning), ``pretrained``,
            ``random``, or a path to a state dict (safetensors or a weights-only torch file).
        image_size: Overrides the model's input size (square, pixels).
        init_seed: Seed of any random initialisation.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(init_seed)
        handle = _load(spec, weights, image_size)
    if handle.weights == "random-init":
        handle = dataclasses.replace(handle, extra={**handle.extra, "init_seed": init_seed})
    return handle


def _load(spec: str, weights: str, image_size: int | None) -> ModelHandle:
    if not isinstance(spec, str) or not spec.strip():
        raise InvalidParameterError(f"A model spec must be a non-empty string. Got {spec!r}.")
    if weights not in WEIGHT_CHOICES and not _is_path(weights):
        raise InvalidParameterError(
            f"The 'weights' parameter must be one of {', '.join(WEIGHT_CHOICES)} or a file path. Got {weights!r}."
        )
    if _is_path(weights) and not Path(weights).is_file():
        raise CheckpointError(f"Weights file {weights!r} does not exist.")
    spec = spec.strip()
    prefix, sep, rest = spec.partition(":")
    if spec.endswith(CHECKPOINT_SUFFIXES) or (not sep and Path(spec).exists()):
        from invmeter.models.checkpoint import load_checkpoint

        handle = load_checkpoint(spec)
    elif sep and prefix == "timm":
        handle = _timm_handle(rest, weights)
    elif sep and prefix == "torchvision":
        handle = _torchvision_handle(rest, weights)
    elif sep and prefix == "cifar":
        from invmeter.models.cifar import cifar_handle

        handle = cifar_handle(rest, weights=weights)
    elif sep and "." in prefix:
        handle = _factory_handle(spec, image_size)
    elif not sep:
        handle = _bare_name_handle(spec, weights)
    else:
        raise UnknownNameError(
            f"Unknown model prefix {prefix!r} in {spec!r}. Use timm:NAME, torchvision:NAME, cifar:NAME, "
            "a checkpoint path or package.module:factory."
        )
    if image_size is not None:
        handle = ModelHandle(**{**handle.__dict__, "input_size": (image_size, image_size)})
    return handle


def _bare_name_handle(name: str, weights: str) -> ModelHandle:
    import timm
    import torchvision

    if timm.is_model(name):
        return _timm_handle(name, weights)
    if name in torchvision.models.list_models(module=torchvision.models):
        return _torchvision_handle(name, weights)
    pool = list(timm.list_models()) + [f"torchvision:{n}" for n in torchvision.models.list_models(module=torchvision.models)]
    raise unknown_name("model", name, pool, hint="Run 'invmeter models PATTERN' to search timm and torchvision names.")


def list_models(pattern: str = "*") -> list[str]:
    """Model names matching a glob ``pattern``: timm names plain, torchvision as ``torchvision:NAME``, and the
    paper's CIFAR architectures as ``cifar:NAME``."""
    import timm
    import torchvision

    from invmeter.models.cifar import CIFAR_ARCHS

    names = list(timm.list_models())
    names += [f"torchvision:{n}" for n in torchvision.models.list_models(module=torchvision.models)]
    names += [f"cifar:{n}" for n in CIFAR_ARCHS]
    pat = pattern.lower()
    return [n for n in names if fnmatch.fnmatch(n.lower(), pat) or fnmatch.fnmatch(n.partition(":")[2].lower(), pat)]


def random_init_copy(handle: ModelHandle, seed: int = 0) -> ModelHandle:
    """The same architecture with random weights (the ``--baseline random-init`` model).

    Named models are rebuilt by their library (``weights="random"``, its own initialisation); checkpoints from
    their recorded architecture; any other module is deep-copied and every submodule's ``reset_parameters()``
    is called under ``seed``.
    """
    prefix = handle.name.partition(":")[0]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if prefix in ("timm", "torchvision", "cifar"):
            model = load_model(handle.name, weights="random", init_seed=seed).model
        elif "arch" in handle.extra:
            from invmeter.models.checkpoint import build_architecture

            model = build_architecture(handle.extra["arch"], num_classes=handle.num_classes, width=handle.extra.get("width", 1.0))
        else:
            model = copy.deepcopy(handle.model)
            for module in model.modules():
                if hasattr(module, "reset_parameters"):
                    module.reset_parameters()
    return dataclasses.replace(handle, model=model.eval(), weights="random-init", extra={**handle.extra, "init_seed": seed})
