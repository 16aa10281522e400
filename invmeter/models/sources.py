"""The model-source registry: where a spec string's model comes from, and the one place specs are resolved.

``resnet18`` / ``timm:NAME[.TAG]`` (timm), ``torchvision:NAME``, ``cifar:ARCH[?width=W&classes=K]`` (the paper's
CIFAR architectures), a checkpoint path (``.safetensors`` written by ``invmeter train``), ``package.module:factory``.
"""

from __future__ import annotations

import copy
import dataclasses
import enum
import fnmatch
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from invmeter._utils.validation import check_image_size, unknown_name
from invmeter.errors import CheckpointError, InvalidParameterError, UnknownNameError
from invmeter.models.handle import ModelHandle
from invmeter.models.weights import CHECKPOINT_SUFFIXES, is_path

__all__ = ["ModelSource", "MODEL_SOURCES", "WEIGHT_CHOICES", "build_model", "check_model_spec", "load_model",
           "list_models", "model_catalog", "random_init_copy"]

WEIGHT_CHOICES = ("auto", "pretrained", "random")


@dataclass(frozen=True)
class ModelSource:
    """One kind of model spec.

    Attributes:
        prefix: The spec prefix (``timm`` in ``timm:resnet18``).
        about: What it covers, for help texts.
        load: ``(name after the prefix, weights, image_size) -> ModelHandle``.
        catalog: ``() -> [(spec, has pretrained weights)]`` for listing, or ``None`` if it cannot be listed.
    """

    prefix: str
    about: str
    load: Callable[[str, Any, int | None], ModelHandle]
    catalog: Callable[[], list[tuple[str, bool]]] | None = None


def _timm(name: str, weights: Any, image_size: int | None) -> ModelHandle:
    from invmeter.models.timm_source import timm_handle

    return timm_handle(name, weights, image_size)


def _timm_catalog() -> list[tuple[str, bool]]:
    from invmeter.models.timm_source import timm_names

    tagged = timm_names(pretrained=True)
    with_weights = {t.partition(".")[0] for t in tagged}
    return [(n, n in with_weights) for n in timm_names()] + [(t, True) for t in tagged]


def _torchvision(name: str, weights: Any, image_size: int | None) -> ModelHandle:
    from invmeter.models.torchvision_source import torchvision_handle

    return torchvision_handle(name, weights, image_size)


def _torchvision_catalog() -> list[tuple[str, bool]]:
    import torchvision

    from invmeter.models.torchvision_source import torchvision_names

    return [(f"torchvision:{n}", len(torchvision.models.get_model_weights(n)) > 0) for n in torchvision_names()]


def _cifar(name: str, weights: Any, image_size: int | None) -> ModelHandle:
    from invmeter.models.cifar import cifar_handle

    return cifar_handle(name, weights=weights, image_size=image_size)


def _cifar_catalog() -> list[tuple[str, bool]]:
    from invmeter.models.cifar import CIFAR_ARCHS

    return [(f"cifar:{n}", False) for n in CIFAR_ARCHS]


def _checkpoint_weights(path: str, weights: Any) -> None:
    if weights not in ("auto", "pretrained"):
        raise InvalidParameterError(
            f"--weights {str(weights)!r} cannot apply to the checkpoint {path!r}: a checkpoint brings its own weights. "
            "Drop --weights, or give the architecture as --model and the file as --weights.")


def _checkpoint(path: str, weights: Any, image_size: int | None) -> ModelHandle:
    from invmeter.models.checkpoint import load_checkpoint

    _checkpoint_weights(path, weights)
    return load_checkpoint(path, image_size=image_size)


def _factory_weights(spec: str, weights: Any) -> None:
    if weights not in ("auto", "pretrained"):
        raise InvalidParameterError(f"--weights does not apply to the factory {spec!r}; the factory builds the model.")


def _factory(spec: str, weights: Any, image_size: int | None) -> ModelHandle:
    from invmeter.models.modules import factory_handle

    _factory_weights(spec, weights)
    return factory_handle(spec, image_size)


MODEL_SOURCES: dict[str, ModelSource] = {
    "timm": ModelSource("timm", "timm architectures and pretrained tags (resnet18, resnet18.a1_in1k)", _timm, _timm_catalog),
    "torchvision": ModelSource("torchvision", "torchvision classification models", _torchvision, _torchvision_catalog),
    "cifar": ModelSource("cifar", "the paper's CIFAR architectures (resnet18, vgg11, densenet121)", _cifar, _cifar_catalog),
    "checkpoint": ModelSource("checkpoint", "a checkpoint written by 'invmeter train' (.safetensors + .json)", _checkpoint),
    "factory": ModelSource("factory", "module:factory, a function returning an nn.Module", _factory),
}


def _importable(module: str) -> bool:
    """Whether ``module`` names an importable module (a ``module:factory`` spec), without importing it."""
    import importlib.util

    try:
        return module.isidentifier() and importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _route(spec: str) -> tuple[ModelSource, str]:
    """The source and the name within it for a spec string."""
    prefix, sep, rest = spec.partition(":")
    if spec.endswith(CHECKPOINT_SUFFIXES) or (not sep and Path(spec).exists()):
        return MODEL_SOURCES["checkpoint"], spec
    if sep and prefix in MODEL_SOURCES and prefix not in ("checkpoint", "factory"):
        return MODEL_SOURCES[prefix], rest
    if sep and ("." in prefix or _importable(prefix)):
        return MODEL_SOURCES["factory"], spec
    if sep:
        raise UnknownNameError(f"Unknown model prefix {prefix!r} in {spec!r}. Use timm:NAME, torchvision:NAME, "
                               "cifar:NAME, a checkpoint path or package.module:factory.")
    import timm

    from invmeter.models.torchvision_source import torchvision_names

    if timm.is_model(spec):
        return MODEL_SOURCES["timm"], spec
    if spec in torchvision_names():
        return MODEL_SOURCES["torchvision"], spec
    pool = [n for n, _ in _timm_catalog()] + [n for n, _ in _torchvision_catalog()]
    raise unknown_name("model", spec, pool, hint="Run 'invmeter models PATTERN' to search timm and torchvision names.")


def check_model_spec(spec: str, *, weights: Any = "auto", image_size: int | None = None) -> tuple[ModelSource, str]:
    """Everything about a model spec that can be checked without building the model, as one-line errors: the spec
    names a known kind of model (close names suggested), the weights setting applies to it and its file exists, a
    checkpoint's file and sidecar exist, a factory imports and is callable, the image size is in bounds. Returns
    the source and the name within it. :func:`load_model` starts with it; the command line runs it on every
    ``--model`` before the first is loaded."""
    if not isinstance(spec, str) or not spec.strip():
        raise InvalidParameterError(f"A model spec must be a non-empty string. Got {spec!r}.")
    if image_size is not None:
        check_image_size(image_size)
    if not isinstance(weights, (str, Path, enum.Enum)):
        raise InvalidParameterError(f"The 'weights' parameter must be one of {', '.join(WEIGHT_CHOICES)}, a file path "
                                    f"or a torchvision weights name or enum. Got {type(weights).__name__} {weights!r}.")
    if is_path(weights) and not Path(weights).is_file():
        raise CheckpointError(f"Weights file {str(weights)!r} does not exist.")
    source, name = _route(spec.strip())
    if isinstance(weights, str) and source.prefix not in ("torchvision",) and weights not in WEIGHT_CHOICES \
            and not is_path(weights):
        raise InvalidParameterError(
            f"The 'weights' parameter must be one of {', '.join(WEIGHT_CHOICES)} or a file path (torchvision models "
            f"also take weights names such as IMAGENET1K_V2). Got {weights!r}.")
    if source.prefix == "checkpoint":
        from invmeter.models.checkpoint import read_sidecar

        _checkpoint_weights(name, weights)
        file = Path(name) / "model.safetensors" if Path(name).is_dir() else Path(name)
        if not file.is_file():
            raise CheckpointError(f"Checkpoint {str(file)!r} does not exist.")
        read_sidecar(file)
    elif source.prefix == "factory":
        from invmeter.models.modules import import_factory

        import_factory(name)
        _factory_weights(name, weights)
    return source, name


def load_model(spec: str, *, weights: Any = "auto", image_size: int | None = None, init_seed: int = 0) -> ModelHandle:
    """Resolve a model spec into a :class:`ModelHandle`.

    Construction runs under ``torch.manual_seed(init_seed)`` (the global RNG is restored afterwards), so a random
    initialisation is the same every time.

    Args:
        spec: ``resnet18`` / ``timm:NAME[.TAG]``, ``torchvision:NAME``, ``cifar:ARCH``, a checkpoint written by
            ``invmeter train``, or ``package.module:factory``.
        weights: ``auto`` (pretrained if obtainable, else random init with a loud warning), ``pretrained``,
            ``random``, a state-dict file (safetensors or weights-only torch), or torchvision weights by name or
            enum (``IMAGENET1K_V2``, ``ResNet50_Weights.DEFAULT``).
        image_size: Overrides the model's input size (square, pixels); recorded in its preprocessing.
        init_seed: Seed of any random initialisation.
    """
    source, name = check_model_spec(spec, weights=weights, image_size=image_size)
    return build_model(source, name, weights=weights, image_size=image_size, init_seed=init_seed)


def build_model(source: ModelSource, name: str, *, weights: Any = "auto", image_size: int | None = None,
                init_seed: int = 0) -> ModelHandle:
    """Build the model a checked spec routes to (``check_model_spec``'s ``(source, name)``), without checking the
    spec again; as :func:`load_model` otherwise."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(init_seed)
        handle = source.load(name, weights, image_size)
    if handle.weights == "random-init":
        handle = dataclasses.replace(handle, extra={**handle.extra, "init_seed": init_seed})
    return handle


def model_catalog(pattern: str = "*") -> list[tuple[str, bool]]:
    """``[(spec, has pretrained weights)]`` matching a glob: timm names and ``name.tag`` pretrained tags,
    ``torchvision:NAME`` and ``cifar:NAME`` (the glob also matches the part after the prefix)."""
    pat = pattern.lower()
    out = []
    for source in MODEL_SOURCES.values():
        for spec, pretrained in source.catalog() if source.catalog else []:
            if fnmatch.fnmatch(spec.lower(), pat) or fnmatch.fnmatch(spec.partition(":")[2].lower(), pat):
                out.append((spec, pretrained))
    return out


def list_models(pattern: str = "*") -> list[str]:
    """Model specs matching a glob ``pattern`` (see :func:`model_catalog`)."""
    return [spec for spec, _ in model_catalog(pattern)]


def random_init_copy(handle: ModelHandle, seed: int = 0) -> ModelHandle:
    """The same architecture with random weights (the ``--baseline random-init`` model).

    Named models are rebuilt by their library (timm without its zero-init of each block's last norm); checkpoints
    from their recorded architecture; any other module is deep-copied and every submodule's ``reset_parameters()``
    is called under ``seed``. The preprocessing and readout are the original's.
    """
    prefix = handle.name.partition(":")[0]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if prefix in ("timm", "torchvision", "cifar"):
            size = handle.input_size[0] if "input_size" in handle.preprocessing.overridden else None
            model = load_model(handle.name, weights="random", image_size=size, init_seed=seed).model
        elif "arch" in handle.extra:
            from invmeter.models.checkpoint import build_architecture

            model = build_architecture(handle.extra["arch"], num_classes=handle.num_classes,
                                       width=handle.extra.get("width", 1.0), zero_init_last=False)
        else:
            model = copy.deepcopy(handle.model)
            for module in model.modules():
                if hasattr(module, "reset_parameters"):
                    module.reset_parameters()
    return dataclasses.replace(handle, model=model.eval(), weights="random-init", extra={**handle.extra, "init_seed": seed})
