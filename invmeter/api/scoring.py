"""The front door: the one boundary where strings and the user's objects become checked invmeter objects.

``score`` and ``sweep`` resolve the model (a spec string, any ``nn.Module``, a :class:`ModelHandle`), the transform
(a spec string, a :class:`TransformSpec`, any callable), the data (``"transforms2d"``, a :class:`Transforms2D`, a
folder, a ``Dataset``, a ``DataLoader``, a tensor) and the settings (:class:`ScoreSettings`) once, then run
:func:`invmeter.measure.measure`. The command line calls only this module (see :mod:`invmeter.facades` for its
other commands).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from torch import nn

from invmeter.data import (
    ProceduralBackgrounds,
    ProceduralObjects,
    Transforms2D,
    image_source,
    load_background_source,
    load_object_source,
)
from invmeter._validation import check_image_size, check_int
from invmeter.errors import DataError, InvalidParameterError, InvmeterWarning
from invmeter.measure import Data, across_seeds, measure, metric_plan
from invmeter.metrics import get_metric
from invmeter.models import ModelHandle, load_model, random_init_copy, wrap_module
from invmeter.report import Report
from invmeter.settings import ScoreSettings
from invmeter.transforms import TransformSpec, parse_dataset_transform, parse_transform
from invmeter.transforms.callable import CallableTransform

__all__ = ["score", "sweep", "sweep_specs", "resolve_model", "resolve_transform", "resolve_data", "make_transforms2d",
           "ScoreSettings"]


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


def _settings(settings: ScoreSettings | None, options: dict[str, Any]) -> ScoreSettings:
    if settings is not None and options:
        raise InvalidParameterError(f"Give either settings= or keyword settings ({', '.join(options)}), not both.")
    return settings if settings is not None else ScoreSettings.create(**options)


def _resolved_model(model: Any, settings: ScoreSettings) -> tuple[ModelHandle, list[str]]:
    """The handle, and the warnings a report must carry (e.g. random weights under ``auto``), re-emitted so that
    callers see them too."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", InvmeterWarning)
        handle = resolve_model(model, settings)
    for w in caught:
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return handle, [str(w.message) for w in caught if issubclass(w.category, InvmeterWarning)]


def score(
    model: str | nn.Module | ModelHandle,
    transform: Any = "rotation",
    *,
    data: Any = "transforms2d",
    settings: ScoreSettings | None = None,
    **options: Any,
) -> Report:
    """Measure how invariant ``model``'s representations are to ``transform``.

    Args:
        model: A spec (``"resnet18"``, ``"timm:resnet18.a1_in1k"``, ``"torchvision:resnet50"``, ``"cifar:resnet18"``,
            a checkpoint path), any ``nn.Module`` (a timm model object brings its own preprocessing; others take
            ``image_size``, ``mean``, ``std``), or a :class:`ModelHandle`. The caller's module is given back untouched.
        transform: A spec (``"rotation"``, ``"rotation:45"``, ``"rotation+blur"``), a :class:`TransformSpec`, or any
            callable on ``(3, H, W)`` tensors in [0, 1] (e.g. ``torchvision.transforms.v2.RandomHorizontalFlip(p=1)``),
            seeded per image from ``seed``.
        data: ``"transforms2d"`` (built-in; the transform acts on the object), a :class:`Transforms2D`, a folder (one
            subfolder per class, or flat: unlabelled), a ``Dataset`` of ``(image, label)`` or images, a
            ``DataLoader``, or a tensor ``(N, 3, H, W)`` / ``(images, labels)``. The user's images go through the
            model's own resize and crop, then the transform, then its normalisation.
        settings: A :class:`ScoreSettings`; or give its fields as keywords (``seed=0``, ``n_images=320``,
            ``metrics="invariance,l2_ratio"``, ``seeds=[0, 1, 2]``, ``baseline="random-init"``, ...).

    Example:
        >>> import invmeter, torch
        >>> mean_colour = torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten())  # flip-invariant
        >>> images = torch.rand(20, 3, 16, 16, generator=torch.Generator().manual_seed(0))
        >>> report = invmeter.score(mean_colour, "hflip", data=images, image_size=16, mean=(0.5,), std=(0.5,), n_boot=0)
        >>> round(report["invariance"], 6), sorted(report.extra["skipped_metrics"])[:2]
        (1.0, ['accuracy_delta', 'clean_accuracy'])
    """
    s = _settings(settings, options)
    spec, resolved = resolve_transform(transform), resolve_data(data, s)
    metric_plan(s, resolved, spec)  # metrics the data or transform cannot give: refused before the model is loaded
    handle, notes = _resolved_model(model, s)
    reports = [measure(handle, spec, resolved, s, seed=seed, notes=notes)[0] for seed in s.run_seeds]
    report = reports[0]
    if s.seeds is not None:
        report.extra["seeds"] = across_seeds(reports)
    if s.baseline:
        base = measure(random_init_copy(handle, seed=s.seed), spec, resolved, s, seed=s.seed)[0]
        report.extra["baseline"] = {"model": base.model, "metrics": {k: v.to_dict() for k, v in base.metrics.items()}}
    return report


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


def sweep(
    model: str | nn.Module | ModelHandle,
    transform: str | TransformSpec,
    magnitudes: Sequence[float | str],
    *,
    data: Any = "transforms2d",
    settings: ScoreSettings | None = None,
    **options: Any,
) -> list[Report]:
    """One report per magnitude m, each at the *fixed* value θ = m (random sign or direction per image); a magnitude
    is a number in the family's units or, for translations, a string in pixels (``"8px"``).

    The clean views are the same images at every magnitude, so their representations are computed once:
    ``(1 + len(magnitudes)) · N`` forward passes. Each report adds ``equivariance`` and a verdict (invariant /
    equivariant / neither) and records its magnitude in ``report.extra["magnitude"]``. Settings are those of
    :func:`score` (``seeds`` and ``baseline`` excepted).

    Example:
        >>> import invmeter, torch
        >>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 16 * 16, 8))
        >>> reports = invmeter.sweep(net, "rotation", [0, 90], image_size=16, n_classes=3, n_images=24, n_boot=0,
        ...                          mean=(0.5,), std=(0.5,))
        >>> [r.extra["magnitude"] for r in reports], reports[0]["invariance"]
        ([0.0, 90.0], 1.0)
    """
    s = _settings(settings, options)
    specs = sweep_specs(transform, magnitudes, s)
    resolved = resolve_data(data, s)
    metric_plan(s, resolved, specs[0])
    handle, notes = _resolved_model(model, s)
    reports, clean, clean_cache = [], None, {}
    for spec_m in specs:
        step = spec_m.steps[0]
        extra = {"magnitude": step.magnitude, "magnitude_units": "pixels" if step.pixels else step.info.units}
        report, reps = measure(handle, spec_m, resolved, s, seed=s.seed, notes=notes, clean=clean, extra=extra,
                               clean_cache=None if s.layers else clean_cache)
        reports.append(report)
        if not s.layers:  # a layer profile needs both views in the same pass
            clean = clean or reps
    return reports

