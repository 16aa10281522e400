"""``score`` and ``sweep``: the facades over one measurement.

Each resolves the model (a spec string, any ``nn.Module``, a :class:`ModelHandle`), the transform (a spec string, a
:class:`TransformSpec`, any callable), the data (``"transforms2d"``, a :class:`Transforms2D`, a folder, a
``Dataset``, a ``DataLoader``, a tensor) and the settings (:class:`ScoreSettings`) once
(:mod:`invmeter.pipeline.resolve`), then runs :func:`invmeter.pipeline.measure.measure`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import nn

from invmeter.models import ModelHandle, random_init_copy
from invmeter.pipeline.measure import across_seeds, measure, metric_plan
from invmeter.pipeline.resolve import (
    resolve_data,
    resolve_model_with_notes,
    resolve_settings,
    resolve_transform,
    sweep_specs,
)
from invmeter.pipeline.settings import ScoreSettings
from invmeter.report.report import Report
from invmeter.transforms import TransformSpec

__all__ = ["score", "sweep"]


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
    s = resolve_settings(settings, options)
    spec, resolved = resolve_transform(transform), resolve_data(data, s)
    metric_plan(s, resolved, spec)  # metrics the data or transform cannot give: refused before the model is loaded
    handle, notes = resolve_model_with_notes(model, s)
    reports = [measure(handle, spec, resolved, s, seed=seed, notes=notes)[0] for seed in s.run_seeds]
    report = reports[0]
    if s.seeds is not None:
        report.extra["seeds"] = across_seeds(reports)
    if s.baseline:
        base = measure(random_init_copy(handle, seed=s.seed), spec, resolved, s, seed=s.seed)[0]
        report.extra["baseline"] = {"model": base.model, "metrics": {k: v.to_dict() for k, v in base.metrics.items()}}
    return report


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
    s = resolve_settings(settings, options)
    specs = sweep_specs(transform, magnitudes, s)
    resolved = resolve_data(data, s)
    metric_plan(s, resolved, specs[0])
    handle, notes = resolve_model_with_notes(model, s)
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

