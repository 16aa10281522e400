"""The front door: resolve strings into objects, run the pipeline, assemble a Report.

transforms -> controlled pairs -> representations (2 forward passes per image) -> metrics -> Report.
"""

from __future__ import annotations

import platform
import time
import warnings
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from invmeter import __version__
from invmeter._validation import check_positive_int
from invmeter.data import FolderPairs, PairSource, Transforms2D, Transforms2DPairs
from invmeter.data.folders import find_class_images
from invmeter.errors import InvalidParameterError, InvmeterWarning
from invmeter.features import Representations, extract, resolve_device
from invmeter.metrics import DEFAULT_METRICS, PROBE_SOLVERS, compute_metrics
from invmeter.models import ModelHandle, load_model, wrap_module
from invmeter.report import Report
from invmeter.transforms import TransformSpec, parse_transform

__all__ = ["score", "resolve_model", "make_pairs", "versions", "DEFAULT_IMAGES_PER_CLASS"]

DEFAULT_IMAGES_PER_CLASS = 32


def versions() -> dict[str, str]:
    """Versions of invmeter and the libraries that determine its numbers."""
    import numpy
    import sklearn
    import timm
    import torchvision

    return {
        "invmeter": __version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "timm": timm.__version__,
        "numpy": numpy.__version__,
        "scikit-learn": sklearn.__version__,
    }


def resolve_model(
    model: str | nn.Module | ModelHandle, *, weights: str = "auto", image_size: int | None = None
) -> ModelHandle:
    """A :class:`ModelHandle` from a spec string, a bare ``nn.Module`` (image size default 32) or a handle."""
    if isinstance(model, ModelHandle):
        return replace(model, input_size=(image_size, image_size)) if image_size else model
    if isinstance(model, nn.Module):
        return wrap_module(model, image_size=image_size or 32)
    if isinstance(model, str):
        return load_model(model, weights=weights, image_size=image_size)
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


def _select_layer(reps: Representations, layer: str) -> Representations:
    clean, transformed = reps.layers[layer]
    return replace(reps, clean=clean, transformed=transformed, layer=layer)


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
    metrics: Sequence[str] = DEFAULT_METRICS,
    probe: str = "lbfgs",
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
        data: ``"transforms2d"`` (built-in; the transform acts on the object) or a folder with one subfolder
            per class (the transform acts on the whole image).
        image_size: Overrides the model's input size (pixels); a bare ``nn.Module`` defaults to 32.
        n_images: Number of controlled pairs (default: 32 per class on Transforms-2D, every image of a folder).
        n_classes: Classes (objects) of the built-in Transforms-2D data.
        seed: Seeds data, transform parameters, splits, probes and bootstrap: same seed, same numbers.
        weights: ``auto`` | ``pretrained`` | ``random`` | a weights file, for spec strings.
        layer: Read representations from this module's output instead of the penultimate layer.
        metrics: Which metrics to compute (default: all of ``invmeter.METRICS``).
        probe: ``lbfgs`` (fast, regularised logistic regression) or ``adam`` (the paper's 25-epoch protocol).
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
    t_start = time.perf_counter()
    spec = parse_transform(transform)
    check_positive_int("batch_size", batch_size)
    if probe not in PROBE_SOLVERS:
        raise InvalidParameterError(f"The 'probe' parameter must be one of {', '.join(PROBE_SOLVERS)}. Got {probe!r}.")
    if image_size is not None:
        check_positive_int("image_size", image_size, 8)
    dev = resolve_device(device)
    if isinstance(data, (str, Path)) and data != "transforms2d":
        find_class_images(data)  # a bad folder fails before any model is loaded
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", InvmeterWarning)
        handle = resolve_model(model, weights=weights, image_size=image_size)
    notes = [str(w.message) for w in caught if issubclass(w.category, InvmeterWarning)]
    for w in caught:  # re-emit so callers see them too
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    t_model = time.perf_counter()
    pairs = make_pairs(data, spec, image_size=handle.input_size[0], n_images=n_images, n_classes=n_classes, seed=seed)
    reps = extract(handle, pairs, layers=[layer] if layer else [], batch_size=batch_size, device=dev, progress=progress)
    if layer:
        reps = _select_layer(reps, layer)
    t_features = time.perf_counter()
    values = compute_metrics(reps, metrics=metrics, seed=seed, n_boot=n_boot, probe=probe)
    t_end = time.perf_counter()
    model_info: dict[str, Any] = {**handle.describe(), "layer": reps.layer}
    return Report(
        invmeter_version=__version__,
        model=model_info,
        transform=spec.to_dict(),
        data=pairs.describe(),
        metrics=values,
        provenance={
            "seed": seed,
            "versions": versions(),
            "device": str(dev),
            "probe": {"solver": probe, "train_fraction": 0.5, "split": "by image, stratified by class"},
            "bootstrap": {"resamples": n_boot, "level": 0.95, "unit": "image"},
            "forward_passes": 2 * len(pairs),
            "timings": {
                "model_load_s": round(t_model - t_start, 3),
                "render_s": round(reps.seconds["render"], 3),
                "forward_s": round(reps.seconds["forward"], 3),
                "metrics_s": round(t_end - t_features, 3),
                "total_s": round(t_end - t_start, 3),
            },
        },
        warnings=tuple(notes),
    )
