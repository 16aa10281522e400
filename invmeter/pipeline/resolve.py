"""Strings and the user's objects become checked invmeter objects: the model, the transform, the data, the settings.

Called once per measurement by the API's facades (:mod:`invmeter.api`) and by the zoo's cells; everything below
takes the resolved objects.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from torch import nn

from invmeter._utils.validation import check_image_size, check_int
from invmeter.data import (
    ProceduralBackgrounds,
    ProceduralObjects,
    Transforms2D,
    image_source,
    load_background_source,
    load_object_source,
)
from invmeter.errors import DataError, InvalidParameterError, InvmeterWarning
from invmeter.metrics import get_metric
from invmeter.models import ModelHandle, load_model, wrap_module
from invmeter.pipeline.measure import Data
from invmeter.pipeline.settings import ScoreSettings
from invmeter.transforms import TransformSpec, parse_dataset_transform, parse_transform
from invmeter.transforms.callable import CallableTransform

__all__ = ["resolve_model", "resolve_model_with_notes", "resolve_transform", "resolve_data", "make_transforms2d",
           "resolve_settings", "sweep_specs"]


def resolve_model(model: str | nn.Module | ModelHandle, settings: ScoreSettings | None = None) -> ModelHandle:
    """A :class:`ModelHandle` from a spec string, any ``nn.Module`` (its own preprocessing if it is a timm model;
    else ``image_size``/``mean``/``std`` from ``settings``) or a handle."""
    s = settings or ScoreSettings()
    if isinstance(model, ModelHandle):
        prep = model.preprocessing.with_size(s.image_size) if s.image_size else model.preprocessing
        return replace(model, preprocessing=prep.with_stats(s.mean, s.std) if s.mean else prep)
    if isinstance(model, nn.Module):
        if s.weights != "auto":
            raise InvalidParameterError("The 'weights' setting applies to model spec strings; a module brings its own "
                                        "weights (load them into it before scoring).")
        return wrap_module(model, image_size=s.image_size, mean=s.mean, std=s.std)
    if isinstance(model, str):
        handle = load_model(model, weights=s.weights, image_size=s.image_size, init_seed=s.seed)
        return replace(handle, preprocessing=handle.preprocessing.with_stats(s.mean, s.std)) if s.mean else handle
    raise InvalidParameterError(f"The 'model' parameter must be a model name, an nn.Module or a ModelHandle. "
                                f"Got {type(model).__name__}.")


def resolve_transform(transform: Any) -> TransformSpec | CallableTransform:
    """A spec string (``rotation:45+blur``), a :class:`TransformSpec`, or any callable on ``(3, H, W)`` tensors."""
    if isinstance(transform, (str, TransformSpec)):
        return parse_transform(transform)
    if isinstance(transform, CallableTransform):
        return transform
    return CallableTransform.wrap(transform)


def resolve_data(data: Any, settings: ScoreSettings | None = None) -> Data:
    """``"transforms2d"`` (built-in, ``n_classes`` procedural objects), a :class:`Transforms2D`, or the user's
    images: a folder (one subfolder per class, or flat and unlabelled), a ``Dataset``, a ``DataLoader``, a tensor
    ``(N, 3, H, W)`` or ``(images, labels)``."""
    s = settings or ScoreSettings()
    if isinstance(data, Data):  # already resolved (the command line resolves once for every model)
        return data
    if isinstance(data, Transforms2D) or (isinstance(data, str) and data == "transforms2d"):
        dataset = data if isinstance(data, Transforms2D) else make_transforms2d(n_classes=s.n_classes)
        n, k = s.n_pairs(dataset.n_classes), dataset.n_classes
        if n < 2 * k:
            raise InvalidParameterError(f"The 'n_images' parameter must give at least 2 images per class on "
                                        f"Transforms-2D ({2 * k} for {k} classes: the probes split every class into "
                                        f"train and test). Got {n}. Use {2 * k} or more, or fewer classes.")
        return Data(transforms2d=dataset)
    source = image_source(data)
    if source.labels is not None and len(set(source.class_names)) < 2 and len(source.labels.unique()) < 2 and (
            s.metrics is None or any("labels" in get_metric(m).needs for m in s.metrics)):
        raise DataError(f"The data has a single class ({', '.join(source.class_names) or '0'}); the accuracy metrics and "
                        "l2_ratio need at least 2 classes (one subfolder per class). For invariance alone, pass "
                        "metrics=invariance (--metrics invariance) or use a flat folder.")
    if s.n_images is not None and s.n_images > len(source):
        raise InvalidParameterError(f"The 'n_images' parameter asks for {s.n_images} images but the data has "
                                    f"{len(source)}. Use at most {len(source)}.")
    return Data(images=source)


def make_transforms2d(
    *,
    objects: str | Path | None = None,
    backgrounds: str | Path | None = None,
    n_classes: int | None = None,
    transforms: str | TransformSpec | None = None,
    image_size: int = 32,
) -> Transforms2D:
    """The built-in Transforms-2D data D(O, T), configured from strings.

    Args:
        objects: A folder of RGBA object images (one per class, or one subfolder per class) or an SI-score folder;
            ``None``: the procedural objects.
        backgrounds: A folder of photos or an SI-score folder; ``None``: the procedural textures.
        n_classes: Classes, the first objects of the source (default: 10 procedural objects, or every object of
            ``objects``).
        transforms: The dataset's transforms, one spec composed with ``+`` (``"rotation+blur"``); ``None`` or
            ``"none"``: untransformed.
        image_size: Side of the images in pixels.

    Example:
        >>> make_transforms2d(n_classes=3, transforms="rotation+blur").describe()["transforms"]
        'rotation+blur'
    """
    object_source = ProceduralObjects() if objects is None else load_object_source(objects)
    background_source = ProceduralBackgrounds() if backgrounds is None else load_background_source(backgrounds)
    available = object_source.count()
    k = n_classes if n_classes is not None else (available if available is not None else 10)
    check_int("n_classes", k, 2, 100_000)
    if available is not None and k > available:
        raise DataError(f"The 'n_classes' parameter asks for {k} objects but the object folder {str(objects)!r} has "
                        f"{available}. Use at most {available}.")
    return Transforms2D(objects=tuple(range(k)), transforms=parse_dataset_transform(transforms),
                        image_size=check_image_size(image_size), object_source=object_source,
                        background_source=background_source)


def resolve_settings(settings: ScoreSettings | None, options: dict[str, Any]) -> ScoreSettings:
    """``settings`` or a :class:`ScoreSettings` from keyword options, never both."""
    if settings is not None and options:
        raise InvalidParameterError(f"Give either settings= or keyword settings ({', '.join(options)}), not both.")
    return settings if settings is not None else ScoreSettings.create(**options)


def resolve_model_with_notes(model: Any, settings: ScoreSettings) -> tuple[ModelHandle, list[str]]:
    """The handle, and the warnings a report must carry (e.g. random weights under ``auto``), re-emitted so that
    callers see them too."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", InvmeterWarning)
        handle = resolve_model(model, settings)
    for w in caught:
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return handle, [str(w.message) for w in caught if issubclass(w.category, InvmeterWarning)]


def sweep_specs(transform: str | TransformSpec, magnitudes: Sequence[float | str], settings: ScoreSettings
                ) -> list[TransformSpec]:
    """The specs of a sweep, one family at each fixed magnitude, every magnitude checked before any work."""
    if settings.seeds is not None or settings.baseline:
        raise InvalidParameterError("A sweep takes one seed and no baseline; run score() per seed instead.")
    if not isinstance(transform, (str, TransformSpec)):
        raise InvalidParameterError(f"A sweep needs a transform spec such as 'rotation' (its magnitudes are set per "
                                    f"point); a callable has none. Got {type(transform).__name__}.")
    spec = parse_transform(transform)
    if len(spec.steps) != 1:
        raise InvalidParameterError(f"A sweep varies one family; got the composition {str(spec)!r}. Sweep one family, "
                                    "e.g. rotation, or score the composition with score().")
    if isinstance(magnitudes, (str, bytes)):
        raise InvalidParameterError(f"The 'magnitudes' parameter must be a list such as [0, 15, 30] (translations also "
                                    f"'8px'). Got the string {magnitudes!r}.")
    if not len(magnitudes):
        raise InvalidParameterError("Give at least one magnitude, e.g. magnitudes=[0, 15, 30, 60, 90].")
    return [spec.at_magnitude(m) for m in magnitudes]
