"""Any ``nn.Module`` (and ``package.module:factory`` specs) as a :class:`ModelHandle`."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence

from torch import nn

from invmeter.errors import InvalidParameterError, UnknownNameError, warn
from invmeter.models.handle import ModelHandle
from invmeter.models.preprocessing import plain_preprocessing
from invmeter.models.readout import Readout

__all__ = ["wrap_module", "head_readout", "factory_handle", "import_factory", "is_timm_model"]

DEFAULT_MODULE_SIZE = 32


def _last_linear(model: nn.Module) -> tuple[str, nn.Linear] | None:
    found = None
    for name, module in model.named_modules():
        if isinstance(module, nn.Linear):
            found = (name, module)
    return found


def head_readout(model: nn.Module) -> Readout:
    """The input of the last ``nn.Linear`` (checked on the first batch to produce the output: a classifier head;
    otherwise the output is read instead), or the output when the model has no ``nn.Linear``."""
    last = _last_linear(model)
    return Readout("head_input", last[0]) if last is not None else Readout("output")


def classifier_size(model: nn.Module) -> int:
    last = _last_linear(model)
    return last[1].out_features if last is not None else 0


def is_timm_model(module: nn.Module) -> bool:
    """A timm model carries its ``pretrained_cfg`` and the pre-logits interface."""
    return all(hasattr(module, a) for a in ("pretrained_cfg", "forward_features", "forward_head"))


def _check_stats(name: str, values: Sequence[float] | None) -> tuple[float, ...] | None:
    if values is None:
        return None
    try:
        out = tuple(float(v) for v in values)
    except (TypeError, ValueError):
        raise InvalidParameterError(f"The {name!r} parameter must be 3 numbers (one per RGB channel). Got {values!r}.") from None
    if len(out) not in (1, 3) or (name == "std" and any(v <= 0 for v in out)):
        raise InvalidParameterError(f"The {name!r} parameter must be 1 or 3 numbers{' > 0' if name == 'std' else ''} "
                                    f"(per RGB channel). Got {values!r}.")
    return out * 3 if len(out) == 1 else out


def wrap_module(
    module: nn.Module,
    *,
    name: str | None = None,
    image_size: int | None = None,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    weights: str = "as-given",
) -> ModelHandle:
    """Wrap any ``nn.Module`` mapping ``(N, 3, H, W)`` images to features or logits.

    A timm model object brings its own preprocessing (``pretrained_cfg``) and pre-logits readout; any other module
    reads the input of its last ``nn.Linear`` when that layer produces the output (a classifier head), else the
    output. ``image_size`` (pixels), ``mean`` and ``std`` (per channel, applied after the transform) describe the
    module's input; without them a bare module sees 32-pixel images in [0, 1] with no normalisation, and a warning
    says so.
    """
    if not isinstance(module, nn.Module):
        raise InvalidParameterError(f"Expected an nn.Module; got {type(module).__name__}.")
    mean, std = _check_stats("mean", mean), _check_stats("std", std)
    if (mean is None) != (std is None):
        raise InvalidParameterError("Give both 'mean' and 'std' (per RGB channel), or neither.")
    label = name or type(module).__name__
    if is_timm_model(module):
        from invmeter.models.preprocessing import timm_preprocessing

        prep = timm_preprocessing(module, image_size)
        if mean is not None:
            prep = prep.with_stats(mean, std)
        return ModelHandle(model=module, name=label, weights=weights, preprocessing=prep, readout=Readout("pre_logits"),
                           num_classes=int(getattr(module, "num_classes", 0) or 0))
    if image_size is None and mean is None:
        warn(f"No image_size, mean or std given for the module {label!r}: it is scored on {DEFAULT_MODULE_SIZE}-pixel "
             "images in [0, 1] without normalisation. Pass image_size=, mean= and std= (CLI: --image-size, --mean, "
             "--std) to measure it as it is used.")
    prep = plain_preprocessing(image_size or DEFAULT_MODULE_SIZE, mean, std,
                               source="given by the caller" if (image_size or mean) else "none given (default)")
    return ModelHandle(model=module, name=label, weights=weights, preprocessing=prep, readout=head_readout(module),
                       num_classes=classifier_size(module))


def import_factory(spec: str) -> Callable[[], object]:
    """The callable a ``package.module:factory`` spec names (imported, not called), or a one-line error."""
    module_name, _, attr = spec.partition(":")
    try:
        factory = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise UnknownNameError(f"Cannot import model factory {spec!r}: {exc}.") from None
    if not callable(factory):
        raise InvalidParameterError(f"The model factory {spec!r} is not callable (it is a {type(factory).__name__}); "
                                    "name a function or class that returns an nn.Module.")
    return factory


def factory_handle(spec: str, image_size: int | None) -> ModelHandle:
    """``package.module:factory``: call the factory (no arguments) and wrap what it returns."""
    factory = import_factory(spec)
    try:
        model = factory()
    except Exception as exc:  # noqa: BLE001 - the user's code failed: say where and why in one line
        first = (str(exc).strip().splitlines() or [""])[0][:300]
        call = f"{spec.partition(':')[2]}()"
        raise InvalidParameterError(f"The model factory {spec!r} failed when called without arguments "
                                    f"({exc.__class__.__name__}: {first}). invmeter calls it as {call}; give a factory "
                                    "that needs no arguments.") from None
    if not isinstance(model, nn.Module):
        raise InvalidParameterError(f"The model factory {spec!r} returned {type(model).__name__}, not an nn.Module.")
    return wrap_module(model, name=spec, image_size=image_size or DEFAULT_MODULE_SIZE, weights="from-factory")
