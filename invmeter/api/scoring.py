"""``score``, ``sweep`` and ``score_many``: the facades over measurements.

Each resolves the models (spec strings, any ``nn.Module``, :class:`ModelHandle`), the transforms (specs in the one
list grammar, :class:`TransformSpec`, any callable), the data (``"transforms2d"``, a :class:`Transforms2D`, a
folder, a ``Dataset``, a ``DataLoader``, a tensor) and the settings (:class:`ScoreSettings`) once, into a plan
(:mod:`invmeter.pipeline.prepare`), then runs :func:`invmeter.pipeline.measure.measure_each` on it: each model is
built once, and its transforms share the clean views.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from torch import nn

from invmeter.errors import InvalidParameterError
from invmeter.models import ModelHandle, random_init_copy
from invmeter.pipeline.measure import measure_each
from invmeter.pipeline.plan import MeasurementPlan, Request
from invmeter.pipeline.prepare import prepare
from invmeter.pipeline.resolve import resolve_settings
from invmeter.pipeline.settings import ScoreSettings
from invmeter.report.report import Baseline, Report, SeedSummary, Sweep
from invmeter.transforms import TransformSpec

__all__ = ["score", "score_many", "sweep"]


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
            seeded per image from ``seed``. Several transforms: :func:`score_many`.
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
        >>> round(report["invariance"], 6), sorted(report.skipped_metrics)[:2]
        (1.0, ['accuracy_delta', 'clean_accuracy'])
    """
    request = prepare(model, transform, data=data, settings=resolve_settings(settings, options))
    return _measured(_one(request, "score() takes one transform; for several use score_many()"))[0][0]


def sweep(
    model: str | nn.Module | ModelHandle,
    transform: str | TransformSpec,
    magnitudes: Sequence[float | str],
    *,
    data: Any = "transforms2d",
    settings: ScoreSettings | None = None,
    **options: Any,
) -> Sweep:
    """One report per magnitude m, each at the *fixed* value θ = m (random sign or direction per image); a magnitude
    is a number in the family's units or, for translations, a string in pixels (``"8px"``).

    The clean views are the same images at every magnitude, so their representations are computed once:
    ``(1 + len(magnitudes)) · N`` forward passes. Each report adds ``equivariance`` and a verdict (invariant /
    equivariant / neither) and records its magnitude in ``report.magnitude``. The result is a :class:`Sweep`, a list
    of the reports with the sweep's ``to_json()``, ``to_table()`` and ``figure()``, shown as a table in a notebook.
    Settings are those of :func:`score` (``seeds`` and ``baseline`` excepted).

    Example:
        >>> import invmeter, torch
        >>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 16 * 16, 8))
        >>> reports = invmeter.sweep(net, "rotation", [0, 90], image_size=16, n_classes=3, n_images=24, n_boot=0,
        ...                          mean=(0.5,), std=(0.5,))
        >>> [r.magnitude for r in reports], reports[0]["invariance"]
        ([0.0, 90.0], 1.0)
    """
    request = prepare(model, transform, data=data, settings=resolve_settings(settings, options), magnitudes=magnitudes)
    (group,) = _measured(_one(request, "sweep() varies one transform; for several use score_many(magnitudes=...)"))
    return Sweep(group)


def score_many(
    models: str | nn.Module | ModelHandle | Sequence[str | nn.Module | ModelHandle],
    transforms: Any,
    *,
    data: Any = "transforms2d",
    magnitudes: Sequence[float | str] | None = None,
    objects: str | Path | None = None,
    backgrounds: str | Path | None = None,
    settings: ScoreSettings | None = None,
    on_group: Callable[[list[Report]], None] | None = None,
    **options: Any,
) -> list[list[Report]]:
    """Every model on every transform: one group of reports per (model, transform), in order (one report, or a
    :class:`Sweep` with ``magnitudes``). Everything is checked before the first model is built; each model is then
    built once (one weights check, one warning) and its transforms share the clean views: ``(1 + T) · N`` forward
    passes per model and seed for T transforms (a layer profile needs ``2 N`` per transform).

    Args:
        models: Model specs, modules or handles (see :func:`score`), or one of them.
        transforms: Specs in the one list grammar (``"rotation,color_jitter:hue=0.1,saturation=0.2"``), a list of
            them (the command line's repeated ``-t``), :class:`TransformSpec` objects or callables.
        data: As :func:`score`; ``objects``/``backgrounds`` configure the built-in data (folders).
        magnitudes: A sweep of each transform at these fixed magnitudes (see :func:`sweep`).
        settings: As :func:`score` (or its fields as keywords).
        on_group: Called with each model's groups as they are measured (the command line prints them).

    Example:
        >>> import invmeter, torch
        >>> pool = torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten())  # flip-invariant
        >>> images = torch.rand(20, 3, 16, 16, generator=torch.Generator().manual_seed(0))
        >>> groups = invmeter.api.score_many([pool], "hflip,vflip", data=images, image_size=16, n_boot=0,
        ...                                  mean=(0.5,), std=(0.5,))
        >>> [(g[0].transform["spec"], round(g[0]["invariance"], 6)) for g in groups]
        [('hflip', 1.0), ('vflip', 1.0)]
    """
    request = prepare(models, transforms, data=data, settings=resolve_settings(settings, options),
                      magnitudes=magnitudes, objects=objects, backgrounds=backgrounds)
    groups: list[list[Report]] = []
    for plan in request.plans():
        measured = _measured(plan)
        for group in measured:
            if on_group is not None:
                on_group(group)
        groups += measured
    return groups


def _one(request: Request, message: str) -> MeasurementPlan:
    """The plan of a request for one model and one transform (a sweep: one family at several magnitudes)."""
    if len({p.group for p in request.transforms}) != 1:
        specs = ", ".join(dict.fromkeys(str(p.transform) for p in request.transforms))
        raise InvalidParameterError(f"{message}. Got {specs}.")
    return next(request.plans())


def _reports(plan: MeasurementPlan, seed: int) -> list[Report]:
    """Each of the plan's transforms measured at ``seed`` (an error is raised, not kept)."""
    return [m.report for _, m in measure_each(plan, seed=seed)]  # type: ignore[union-attr]


def _measured(plan: MeasurementPlan) -> list[list[Report]]:
    """The plan's reports, one group per transform the user gave: every seed (the first seed's report carries the
    summary across seeds), then the random-init baseline on the same pairs."""
    s = plan.settings
    runs = [_reports(plan, seed) for seed in s.run_seeds]
    reports = runs[0]
    if s.seeds is not None:
        reports = [replace(r, seeds=SeedSummary.of([run[i] for run in runs])) for i, r in enumerate(reports)]
    if s.baseline:
        base = _reports(plan.with_handle(random_init_copy(plan.handle, seed=s.seed)), s.seed)
        reports = [replace(r, baseline=Baseline(b.model, b.metrics)) for r, b in zip(reports, base)]
    groups: dict[int, list[Report]] = {}
    for planned, report in zip(plan.transforms, reports):
        groups.setdefault(planned.group, []).append(report)
    return [Sweep(g) if g[0].magnitude is not None else g for g in groups.values()]
