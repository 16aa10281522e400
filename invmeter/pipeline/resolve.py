"""Strings and the user's objects become checked invmeter objects: the model, the transform, the data, the settings.

Called once per measurement, through :func:`invmeter.pipeline.prepare.prepare`, by the API's facades
(:mod:`invmeter.api`) and the zoo's cells; everything below takes the plan they build.
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
from invmeter.models import ModelHandle, wrap_module
from invmeter.models.sources import build_model, check_model_spec
from invmeter.pipeline.plan import Data, ModelRef
from invmeter.pipeline.settings import ScoreSettings
from invmeter.transforms import TransformSpec, parse_dataset_transform, parse_transform, parse_transform_list
from invmeter.transforms.callable import CallableTransform

__all__ = ["check_model", "build_handle", "resolve_model", "resolve_transform", "resolve_transforms", "resolve_data",
           "make_transforms2d", "resolve_settings", "sweep_specs"]


def check_model(model: str | nn.Module | ModelHandle, settings: ScoreSettings) -> ModelRef:
    """A model argument checked as far as it can be without building it (a spec string routed to its source, see
    :func:`invmeter.models.sources.check_model_spec`; a module or handle with settings that apply to it)."""
    if isinstance(model, ModelHandle):
        return ModelRef(model)
    if isinstance(model, nn.Module):
        if settings.weights != "auto":
            raise InvalidParameterError("The 'weights' setting applies to model spec strings; a module brings its own "
                                        "weights (load them into it before scoring).")
        return ModelRef(model)
    if isinstance(model, str):
        return ModelRef(model, check_model_spec(model, weights=settings.weights, image_size=settings.image_size))
    raise InvalidParameterError(f"The 'model' parameter must be a model name, an nn.Module or a ModelHandle. "
                                f"Got {type(model).__name__}.")


def build_handle(ref: ModelRef, settings: ScoreSettings) -> tuple[ModelHandle, tuple[str, ...]]:
    """The :class:`ModelHandle` of a checked model (a spec built through its source, once; a module with its own
    preprocessing if it is a timm model, else ``image_size``/``mean``/``std`` from ``settings``), and the
    warnings a report must carry about it (e.g. random weights under ``auto``), which the caller sees too."""
    s = settings
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", InvmeterWarning)
        if isinstance(ref.model, ModelHandle):
            prep = ref.model.preprocessing.with_size(s.image_size) if s.image_size else ref.model.preprocessing
            handle = replace(ref.model, preprocessing=prep.with_stats(s.mean, s.std) if s.mean else prep)
        elif isinstance(ref.model, nn.Module):
            handle = wrap_module(ref.model, image_size=s.image_size, mean=s.mean, std=s.std)
        else:
            assert ref.route is not None  # a spec string is routed by check_model
            handle = build_model(*ref.route, weights=s.weights, image_size=s.image_size, init_seed=s.seed)
            handle = replace(handle, preprocessing=handle.preprocessing.with_stats(s.mean, s.std)) if s.mean else handle
    for w in caught:
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return handle, tuple(str(w.message) for w in caught if issubclass(w.category, InvmeterWarning))


def resolve_model(model: str | nn.Module | ModelHandle, settings: ScoreSettings | None = None) -> ModelHandle:
    """A :class:`ModelHandle` from a spec string, any ``nn.Module`` (its own preprocessing if it is a timm model;
    else ``image_size``/``mean``/``std`` from ``settings``) or a handle."""
    s = settings or ScoreSettings()
    return build_handle(check_model(model, s), s)[0]


def resolve_transform(transform: Any) -> TransformSpec | CallableTransform:
    """A spec string (``rotation:45+blur``), a :class:`TransformSpec`, or any callable on ``(3, H, W)`` tensors."""
    if isinstance(transform, (str, TransformSpec)):
        return parse_transform(transform)
    if isinstance(transform, CallableTransform):
        return transform
    return CallableTransform.wrap(transform)


def resolve_transforms(transforms: Any) -> list[TransformSpec | CallableTransform]:
    """Several transforms: a list string in the one grammar (``rotation,color_jitter:hue=0.1,saturation=0.2``:
    :func:`invmeter.transforms.parse_transform_list`), or a sequence whose items are specs, list strings or
    callables (the command line's repeated ``-t``)."""
    items = list(transforms) if isinstance(transforms, (list, tuple)) else [transforms]
    if not items:
        raise InvalidParameterError("Give at least one transform, e.g. rotation.")
    return [t for item in items for t in (parse_transform_list(item) if isinstance(item, (str, TransformSpec))
                                          else [resolve_transform(item)])]


def resolve_data(data: Any, settings: ScoreSettings | None = None, *, objects: str | Path | None = None,
                 backgrounds: str | Path | None = None) -> Data:
    """``"transforms2d"`` (built-in: ``n_classes`` of the procedural objects or of ``objects``, on the procedural
    textures or ``backgrounds``), a :class:`Transforms2D`, or the user's images: a folder (one subfolder per class,
    or flat and unlabelled), a ``Dataset``, a ``DataLoader``, a tensor ``(N, 3, H, W)`` or ``(images, labels)``."""
    s = settings or ScoreSettings()
    if (objects is not None or backgrounds is not None) and not (isinstance(data, str) and data == "transforms2d"):
        raise InvalidParameterError("--objects and --backgrounds configure the built-in data (objects=, "
                                    "backgrounds=); they cannot be used with other data (--data DIR).")
    if isinstance(data, Data):  # already resolved
        return data
    if isinstance(data, Transforms2D) or (isinstance(data, str) and data == "transforms2d"):
        dataset = data if isinstance(data, Transforms2D) else make_transforms2d(
            objects=objects, backgrounds=backgrounds, n_classes=s.n_classes)
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
