"""Resolve once, into one plan: the user's models, transforms, data and settings become a checked
:class:`~invmeter.pipeline.plan.Request` before any model is loaded, then one
:class:`~invmeter.pipeline.plan.MeasurementPlan` per model.

Each fact is resolved here once per request: the device (``auto``), each model spec's route, each transform's
metric plan, a sweep's specs, the probe solver; each model is built once (one weights check, one warning) and its
layers and label map resolved once, for every transform and seed.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from invmeter._utils.device import resolve_device
from invmeter.errors import DataError, InvalidParameterError
from invmeter.metrics import default_metrics, get_metric, list_metrics
from invmeter.metrics.probe import resolve_solver
from invmeter.models import Readout
from invmeter.models.labels import map_class_names
from invmeter.models.layers import resolve_layers
from invmeter.pipeline.gradient import lie_generators
from invmeter.pipeline.plan import Data, MeasurementPlan, MetricPlan, ModelRef, PlannedTransform, Request
from invmeter.pipeline.resolve import build_handle, check_model, resolve_data, resolve_transforms, sweep_specs
from invmeter.pipeline.settings import ScoreSettings

__all__ = ["metric_plan", "prepare", "plan_for"]


def metric_plan(settings: ScoreSettings, data: Data, transform: Any) -> MetricPlan:
    """The metrics to compute, and those skipped with why. Defaults (and ``metrics="all"``) skip what does not apply
    here: label metrics on unlabelled data, ``equivariance`` without fixed magnitudes (a sweep adds it), the Lie
    derivative without a continuous generator. A metric asked for by name that does not apply is an error."""
    explicit = settings.metrics is not None
    wanted = settings.metrics if explicit else (tuple(list_metrics()) if settings.all_metrics else default_metrics())
    steps = getattr(transform, "steps", ())
    fixed = bool(steps) and all(step.fixed for step in steps)  # a sweep's fixed magnitude
    if not explicit and fixed and "equivariance" not in wanted:
        wanted = (*wanted, "equivariance")
    why: dict[str, str] = {}
    for m in wanted:
        needs = get_metric(m).needs
        if "labels" in needs and not data.labelled:
            why[m] = "needs class labels; the data has none"
        elif "fixed" in needs and not getattr(transform, "fixed", False):
            why[m] = "needs fixed transform magnitudes (a sweep: --magnitudes)"
        elif "model" in needs:
            try:
                lie_generators(transform)  # a family with a continuous generator, checked before any forward pass
            except InvalidParameterError as exc:
                why[m] = str(exc).rstrip(".")
    if explicit and why:
        m = next(iter(why))
        raise (DataError if "labels" in why[m] else InvalidParameterError)(
            f"The {m} metric {why[m]}; leave it out, or use --metrics all to compute every metric that applies.")
    return MetricPlan(tuple(m for m in wanted if m not in why), why)


def _parsed(transforms: Any, settings: ScoreSettings, magnitudes: Sequence[float | str] | None
            ) -> list[tuple[Any, int, float | None, str | None]]:
    """``(transform, group, magnitude, units)`` for each transform parsed, or each entry of its sweep (every
    magnitude checked), before the data is read."""
    out: list[tuple[Any, int, float | None, str | None]] = []
    for group, transform in enumerate(resolve_transforms(transforms)):
        if magnitudes is None:
            out.append((transform, group, None, None))
            continue
        for spec in sweep_specs(transform, magnitudes, settings):
            step = spec.steps[0]
            out.append((spec, group, step.magnitude, "pixels" if step.pixels else step.info.units))
    return out


def prepare(models: Any, transforms: Any, *, data: Any = "transforms2d", settings: ScoreSettings,
            magnitudes: Sequence[float | str] | None = None, objects: str | Path | None = None,
            backgrounds: str | Path | None = None) -> Request:
    """Everything checked and resolved before any model is loaded, in this order: the transforms (and a sweep's
    magnitudes), every model (a bad second model fails before the first is built), the data, each transform's
    metric plan, the device and the probe solver."""
    parsed = _parsed(transforms, settings, magnitudes)
    many = isinstance(models, Sequence) and not isinstance(models, str)
    refs = tuple(check_model(m, settings) for m in (models if many else [models]))
    if not refs:
        raise InvalidParameterError("Give at least one model, e.g. resnet18.")
    resolved = resolve_data(data, settings, objects=objects, backgrounds=backgrounds)
    planned = tuple(PlannedTransform(t, metric_plan(settings, resolved, t), group, magnitude, units)
                    for t, group, magnitude, units in parsed)
    n_train = resolved.n_pairs(settings) // 2 if resolved.labelled else 0  # the probes train on half of each class
    return Request(refs, planned, resolved, settings, resolve_device(settings.device),
                   resolve_solver(settings.probe, n_train))


def plan_for(request: Request, ref: ModelRef) -> MeasurementPlan:
    """Build the model (once: one weights check, one warning) and resolve what depends on it: the profile's
    layers, the representation's module and the data's classes in its label set, before any forward pass."""
    s = request.settings
    handle, notes = build_handle(ref, s)
    profile = tuple(resolve_layers(handle, s.layers)) if s.layers else ()
    if s.layer:
        resolve_layers(handle, [s.layer])  # an unknown module name fails before any forward pass
    class_map = map_class_names(request.data.class_names, handle.label_names) if s.labels == "model" else None
    return MeasurementPlan(handle, request.transforms, request.data, s, request.device, request.solver,
                           Readout("module", s.layer) if s.layer else None, profile, class_map, notes)
