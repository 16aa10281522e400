"""The front door: resolve strings into objects, run the pipeline, assemble a Report.

transforms -> controlled pairs -> representations (2 forward passes per image) -> metrics -> Report.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from invmeter import __version__
from invmeter._validation import check_positive_int
from invmeter._versions import versions
from invmeter.data import (
    FolderPairs,
    PairSource,
    ProceduralBackgrounds,
    ProceduralObjects,
    Transforms2D,
    Transforms2DPairs,
    load_background_source,
    load_object_source,
)
from invmeter.data.folders import find_class_images
from invmeter.errors import DataError, InvalidParameterError, InvmeterWarning
from invmeter.features import extract, resolve_device
from invmeter.labels import map_class_names
from invmeter.layers import resolve_layers
from invmeter.metrics import DEFAULT_METRICS, PROBE_SOLVERS, MetricValue, compute_metrics
from invmeter.metrics.bootstrap import percentile_ci, resample_weights
from invmeter.metrics.equivariance import verdict
from invmeter.metrics.invariance import invariance_from_terms
from invmeter.metrics.probe import resolve_solver
from invmeter.models import ModelHandle, load_model, wrap_module
from invmeter.models.registry import random_init_copy
from invmeter.report import Report
from invmeter.transforms import TransformSpec, parse_transform
from invmeter.types import Representations

__all__ = ["score", "sweep", "resolve_model", "make_pairs", "make_transforms2d", "versions", "DEFAULT_IMAGES_PER_CLASS"]

DEFAULT_IMAGES_PER_CLASS = 32


def resolve_model(
    model: str | nn.Module | ModelHandle, *, weights: str = "auto", image_size: int | None = None, init_seed: int = 0
) -> ModelHandle:
    """A :class:`ModelHandle` from a spec string, a bare ``nn.Module`` (image size default 32) or a handle."""
    if isinstance(model, ModelHandle):
        return replace(model, input_size=(image_size, image_size)) if image_size else model
    if isinstance(model, nn.Module):
        return wrap_module(model, image_size=image_size or 32)
    if isinstance(model, str):
        return load_model(model, weights=weights, image_size=image_size, init_seed=init_seed)
    raise InvalidParameterError(
        f"The 'model' parameter must be a model name, an nn.Module or a ModelHandle. Got {type(model).__name__}."
    )


def make_pairs(
    data: str | Path | Transforms2D,
    spec: TransformSpec,
    *,
    image_size: int,
    n_images: int | None,
    n_classes: int,
    seed: int,
) -> PairSource:
    """Controlled pairs from ``"transforms2d"`` (built-in), a :class:`Transforms2D` dataset or an image folder."""
    if isinstance(data, Transforms2D) or data == "transforms2d":
        dataset = data if isinstance(data, Transforms2D) else Transforms2D(
            objects=tuple(range(check_positive_int("n_classes", n_classes, 2))), image_size=image_size
        )
        if dataset.image_size != image_size:
            dataset = replace(dataset, image_size=image_size)
        n = n_images if n_images is not None else DEFAULT_IMAGES_PER_CLASS * dataset.n_classes
        return Transforms2DPairs(dataset, spec, check_positive_int("n_images", n, 4), seed=seed)
    if isinstance(data, (str, Path)):
        n = None if n_images is None else check_positive_int("n_images", n_images, 4)
        return FolderPairs(data, spec, image_size=image_size, n=n, seed=seed)
    raise InvalidParameterError(f"The 'data' parameter must be 'transforms2d' or a folder path. Got {data!r}.")


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
        transforms: The dataset's transforms, e.g. ``"rotation+blur"`` (``"rotation,blur"`` too); ``None`` or
            ``"none"``: untransformed.
        image_size: Side of the images in pixels.

    Example:
        >>> make_transforms2d(n_classes=3, transforms="rotation,blur").describe()["transforms"]
        'rotation+blur'
    """
    object_source = ProceduralObjects() if objects is None else load_object_source(objects)
    background_source = ProceduralBackgrounds() if backgrounds is None else load_background_source(backgrounds)
    available = object_source.count()
    k = n_classes if n_classes is not None else (available if available is not None else 10)
    check_positive_int("n_classes", k, 2)
    if available is not None and k > available:
        raise DataError(
            f"The 'n_classes' parameter asks for {k} objects but the object folder {str(objects)!r} has {available}."
        )
    if isinstance(transforms, str):
        transforms = None if transforms.strip() in ("", "none") else parse_transform(transforms.replace(",", "+"))
    return Transforms2D(
        objects=tuple(range(k)), transforms=transforms, image_size=check_positive_int("image_size", image_size, 8),
        object_source=object_source, background_source=background_source,
    )


def _select_layer(reps: Representations, layer: str) -> Representations:
    clean, transformed = reps.layers[layer]
    return replace(reps, clean=clean, transformed=transformed, layer=layer)


@dataclass(frozen=True)
class _Run:
    """How to measure: everything except the model and the transform (see :func:`score` for each field)."""

    data: str | Path | Transforms2D
    n_images: int | None
    n_classes: int
    seed: int
    layer: str | None
    layers: str | Sequence[str] | None
    labels: str
    metrics: tuple[str, ...]
    probe: str
    batch_size: int
    device: str
    n_boot: int
    progress: bool

    def __post_init__(self) -> None:
        check_positive_int("batch_size", self.batch_size)
        if self.probe not in PROBE_SOLVERS:
            raise InvalidParameterError(f"The 'probe' parameter must be one of {', '.join(PROBE_SOLVERS)}. Got {self.probe!r}.")
        if self.labels not in ("data", "model"):
            raise InvalidParameterError(f"The 'labels' parameter must be 'data' or 'model'. Got {self.labels!r}.")
        if isinstance(self.data, (str, Path)) and self.data != "transforms2d":
            find_class_images(self.data)  # a bad folder fails before any model is loaded
        resolve_device(self.device)


def _resolve(
    model: str | nn.Module | ModelHandle, weights: str, image_size: int | None, seed: int
) -> tuple[ModelHandle, list[str]]:
    """Resolve the model, collecting the warnings a report must carry (e.g. random weights under 'auto')."""
    if image_size is not None:
        check_positive_int("image_size", image_size, 8)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", InvmeterWarning)
        handle = resolve_model(model, weights=weights, image_size=image_size, init_seed=seed)
    for w in caught:  # re-emit so callers see them too
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return handle, [str(w.message) for w in caught if issubclass(w.category, InvmeterWarning)]


def _parameter_groups(pairs: PairSource) -> np.ndarray:
    """Id of each image's exact transform parameters (fixed-magnitude sweeps have one group per sign)."""
    params = torch.cat(pairs.probe.params, dim=1).numpy()
    groups = np.unique(params, axis=0, return_inverse=True)[1].reshape(-1)
    if groups.max() + 1 > len(groups) // 8:
        raise InvalidParameterError(
            "The equivariance metric needs fixed transform parameters (one linear effect per value); "
            "use a sweep (--magnitudes) or a parameter-free transform such as hflip."
        )
    return groups


def _profile_entries(reps: Representations, n_boot: int, seed: int) -> list[dict[str, Any]]:
    weights = resample_weights(len(reps), n_boot, np.random.default_rng([seed, 4]))
    entries = []
    for name, (d, r) in reps.profile.items():
        ok = np.isfinite(r)
        value = MetricValue(invariance_from_terms(d[ok], r[ok]), percentile_ci(invariance_from_terms(d[ok], r[ok], weights[:, ok])))
        entries.append({"layer": name, "invariance": value.to_dict()})
    return entries


def _measure(
    handle: ModelHandle,
    spec: TransformSpec,
    run: _Run,
    *,
    notes: Sequence[str] = (),
    clean: Representations | None = None,
    extra: dict[str, Any] | None = None,
) -> tuple[Report, Representations]:
    """One measurement: pairs -> representations -> metrics -> Report (``clean`` reuses clean-view features)."""
    t_start = time.perf_counter()
    pairs = make_pairs(run.data, spec, image_size=handle.input_size[0], n_images=run.n_images,
                       n_classes=run.n_classes, seed=run.seed)
    profile = resolve_layers(handle, run.layers) if run.layers else []
    reps = extract(handle, pairs, layers=[run.layer] if run.layer else [], profile=profile, clean=clean,
                   batch_size=run.batch_size, device=run.device, seed=run.seed, progress=run.progress)
    if run.layer:
        reps = _select_layer(reps, run.layer)
    t_features = time.perf_counter()
    fixed = all(step.fixed for step in spec.steps)
    metrics = tuple(run.metrics) + (("equivariance",) if fixed and "equivariance" not in run.metrics else ())
    model_labels = None
    if run.labels == "model":
        model_labels = map_class_names(pairs.class_names, handle.label_names)[reps.labels.numpy()]
    values = compute_metrics(reps, metrics=metrics, seed=run.seed, n_boot=run.n_boot, probe=run.probe,
                             groups=_parameter_groups(pairs) if "equivariance" in metrics else None,
                             model_labels=model_labels)
    t_end = time.perf_counter()
    more: dict[str, Any] = dict(extra or {})
    if "equivariance" in values and "invariance" in values:
        more["verdict"] = verdict(values["invariance"].value, values["equivariance"].value)
    if profile:
        more["layers"] = _profile_entries(reps, run.n_boot, run.seed)
    report = Report(
        invmeter_version=__version__,
        model={**handle.describe(), "layer": reps.layer},
        transform=spec.to_dict(),
        data=pairs.describe(),
        metrics=values,
        provenance={
            "seed": run.seed,
            "versions": versions(),
            "device": str(resolve_device(run.device)),
            "labels": run.labels,
            "probe": {"solver": run.probe, "solver_used": resolve_solver(run.probe, len(pairs) // 2),
                      "train_fraction": 0.5, "split": "by image, stratified by class"},
            "bootstrap": {"resamples": run.n_boot, "level": 0.95, "unit": "image"},
            "forward_passes": len(pairs) * (1 if clean is not None else 2),
            "timings": {
                "render_s": round(reps.seconds["render"], 3),
                "forward_s": round(reps.seconds["forward"], 3),
                "metrics_s": round(t_end - t_features, 3),
                "total_s": round(t_end - t_start, 3),
            },
        },
        warnings=tuple(notes),
        extra=more,
    )
    return report, reps


def _across_seeds(reports: list[Report]) -> dict[str, Any]:
    values = {k: [r.metrics[k].value for r in reports] for k in reports[0].metrics}
    return {
        "seeds": [r.provenance["seed"] for r in reports],
        "metrics": {k: {"mean": float(np.mean(v)), "std": float(np.std(v, ddof=1)) if len(v) > 1 else 0.0, "values": v}
                    for k, v in values.items()},
    }


def score(
    model: str | nn.Module | ModelHandle,
    transform: str | TransformSpec = "rotation",
    *,
    data: str | Path | Transforms2D = "transforms2d",
    image_size: int | None = None,
    n_images: int | None = None,
    n_classes: int = 10,
    seed: int = 0,
    weights: str = "auto",
    layer: str | None = None,
    layers: str | Sequence[str] | None = None,
    labels: str = "data",
    metrics: Sequence[str] = DEFAULT_METRICS,
    probe: str = "auto",
    seeds: Sequence[int] | None = None,
    baseline: str | None = None,
    batch_size: int = 32,
    device: str = "auto",
    n_boot: int = 1000,
    progress: bool = False,
) -> Report:
    """Measure how invariant ``model``'s representations are to ``transform``.

    Args:
        model: A spec (``"resnet18"``, ``"timm:NAME"``, ``"torchvision:NAME"``, ``"cifar:resnet18"``, a
            checkpoint path), any ``nn.Module`` (images in [0, 1], no normalisation) or a ModelHandle.
        transform: A spec such as ``"rotation"``, ``"rotation:45"`` or ``"rotation+blur"``.
        data: ``"transforms2d"`` (built-in; the transform acts on the object), a :class:`Transforms2D` dataset, or
            a folder with one subfolder per class (the transform acts on the whole image).
        image_size: Overrides the model's input size (pixels); a bare ``nn.Module`` defaults to 32.
        n_images: Number of controlled pairs (default: 32 per class on Transforms-2D, every image of a folder).
        n_classes: Classes (objects) of the built-in Transforms-2D data.
        seed: Seeds data, transform parameters, splits, probes and bootstrap: same seed, same numbers.
        weights: ``auto`` | ``pretrained`` | ``random`` | a weights file, for spec strings.
        layer: Read representations from this module's output instead of the penultimate layer.
        layers: ``"blocks"`` or module names: adds a per-layer invariance profile (``report.extra["layers"]``),
            captured in the same forward passes.
        labels: ``"data"`` (accuracy metrics from a linear probe) or ``"model"`` (from the model's own classifier,
            when the data's class names are in its label set, e.g. ImageNet).
        metrics: Which metrics to compute (default: all but ``equivariance``, which needs fixed magnitudes).
        probe: ``auto`` (``lbfgs`` below 10,000 training images, ``ridge`` above), ``ridge`` (closed form,
            strength by generalised cross-validation), ``lbfgs`` (regularised logistic regression) or ``adam``
            (the paper's 25-epoch last-layer protocol).
        seeds: Repeat the whole measurement for these seeds (``seed`` is then ignored): the report is the first
            seed's, with mean ± std across seeds in ``report.extra["seeds"]``.
        baseline: ``"random-init"`` also scores a randomly initialised copy of the architecture
            (``report.extra["baseline"]``): invariance that survives without training is the architecture's.
        batch_size: Pairs per forward pass (the model sees ``2 x batch_size`` images per call).
        device: ``auto``, ``cpu``, ``cuda``, ...
        n_boot: Bootstrap resamples for the 95% intervals (0 disables them).
        progress: Show a progress bar on stderr while extracting features.

    Example:
        >>> import invmeter, torch
        >>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 16 * 16, 8))
        >>> report = invmeter.score(net, "hflip", image_size=16, n_classes=3, n_images=24, n_boot=0)
        >>> 0.0 <= report["consistency"] <= 1.0
        True
    """
    spec = parse_transform(transform)
    if baseline not in (None, "random-init"):
        raise InvalidParameterError(f"The 'baseline' parameter must be 'random-init' or None. Got {baseline!r}.")
    run_seeds = [int(s) for s in seeds] if seeds else [seed]
    run = _Run(data, n_images, n_classes, run_seeds[0], layer, layers, labels, tuple(metrics), probe, batch_size,
               device, n_boot, progress)
    handle, notes = _resolve(model, weights, image_size, run.seed)
    reports = [_measure(handle, spec, replace(run, seed=s), notes=notes)[0] for s in run_seeds]
    report = reports[0]
    if seeds:
        report.extra["seeds"] = _across_seeds(reports)
    if baseline:
        base = _measure(random_init_copy(handle, seed=run.seed), spec, run)[0]
        report.extra["baseline"] = {"model": base.model, "metrics": {k: v.to_dict() for k, v in base.metrics.items()}}
    return report


def sweep(
    model: str | nn.Module | ModelHandle,
    transform: str | TransformSpec,
    magnitudes: Sequence[float],
    *,
    weights: str = "auto",
    image_size: int | None = None,
    **score_kwargs: Any,
) -> list[Report]:
    """One report per magnitude m, each at the *fixed* value θ = m (random sign for signed families).

    The clean views are the same scenes at every magnitude, so their representations are computed once:
    ``(1 + len(magnitudes)) · N`` forward passes. Each report adds ``equivariance`` and a verdict
    (invariant / equivariant / neither) and records its magnitude in ``report.extra["magnitude"]``.
    Other keyword arguments are those of :func:`score` (``seeds`` and ``baseline`` excepted).

    Example:
        >>> import invmeter, torch
        >>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 16 * 16, 8))
        >>> reports = invmeter.sweep(net, "rotation", [0, 90], image_size=16, n_classes=3, n_images=24, n_boot=0)
        >>> [r.extra["magnitude"] for r in reports], reports[0]["invariance"]
        ([0.0, 90.0], 1.0)
    """
    spec = parse_transform(transform)
    if len(spec.steps) != 1:
        raise InvalidParameterError(f"A sweep varies one family; got the composition {str(spec)!r}.")
    if not magnitudes:
        raise InvalidParameterError("Give at least one magnitude, e.g. --magnitudes 0,15,30,60,90.")
    defaults = {"data": "transforms2d", "n_images": None, "n_classes": 10, "seed": 0, "layer": None, "layers": None,
                "labels": "data", "metrics": DEFAULT_METRICS, "probe": "auto", "batch_size": 32, "device": "auto",
                "n_boot": 1000, "progress": False}
    unknown = set(score_kwargs) - set(defaults)
    if unknown:
        raise InvalidParameterError(f"sweep() got unexpected arguments: {', '.join(sorted(unknown))}.")
    settings = {**defaults, **score_kwargs}
    settings["metrics"] = tuple(settings["metrics"])
    run = _Run(**settings)
    specs = [spec.at_magnitude(float(m)) for m in magnitudes]  # validates every magnitude before any work
    handle, notes = _resolve(model, weights, image_size, run.seed)
    reports, clean = [], None
    for m, spec_m in zip(magnitudes, specs):
        report, reps = _measure(handle, spec_m, run, notes=notes, clean=clean, extra={"magnitude": float(m)})
        reports.append(report)
        if not run.layers:  # a layer profile needs both views in the same pass
            clean = clean or reps
    return reports
