"""One measurement, from its plan: pairs -> representations (2N forward passes, N with shared clean views) ->
metrics -> Report.

Everything here takes a :class:`~invmeter.pipeline.plan.MeasurementPlan` that :mod:`invmeter.api` has resolved
(:mod:`invmeter.pipeline.prepare`): the model handle, the transforms with their metric plans, the data, the
settings, the device and the probe solver. Nothing here resolves a string or a device.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from invmeter._utils.versions import versions
from invmeter._version import __version__
from invmeter.data import ImagePairs, PairSource, Transforms2DPairs
from invmeter.errors import InvalidParameterError, warn
from invmeter.metrics import MetricContext, default_metrics, get_metric
from invmeter.metrics.equivariance import verdict
from invmeter.metrics.measures import LIE_KEY, lie_layer_value
from invmeter.pipeline.extract import extract
from invmeter.pipeline.gradient import lie_pass
from invmeter.pipeline.plan import MeasurementPlan, PlannedTransform
from invmeter.report.report import LayerValues, Report
from invmeter.types import MetricValue, Representations

__all__ = ["Measurement", "make_pairs", "measure", "measure_each", "undefined_notes", "PROBE_MIN_TEST_PER_CLASS"]

PROBE_MIN_TEST_PER_CLASS = 5  # fewer test images per class: a probe metric's interval comes with a warning


@dataclass(frozen=True)
class Measurement:
    """One measurement's report, the representations it read (reusable as clean views) and each metric's
    per-image terms (for paired comparisons between models on the same images: the zoo)."""

    report: Report
    reps: Representations
    terms: dict[str, dict[str, np.ndarray]]


def make_pairs(plan: MeasurementPlan, transform: Any, seed: int) -> PairSource:
    """Controlled pairs for the plan's model: Transforms-2D rendered at the model's input size, or the user's images
    through the model's own resize and crop."""
    handle, data = plan.handle, plan.data
    if data.transforms2d is not None:
        h, w = handle.input_size
        if h != w:
            raise InvalidParameterError(f"Transforms-2D renders square images; the model {handle.name!r} takes {h}x{w}. "
                                        "Set image_size= to a square size or use your own images (data=...).")
        ds = data.transforms2d if data.transforms2d.image_size == h else replace(data.transforms2d, image_size=h)
        return Transforms2DPairs(ds, transform, plan.settings.n_pairs(ds.n_classes), seed=seed)
    return ImagePairs(data.images, transform, handle.preprocessing.prepare, n=plan.settings.n_images, seed=seed)


def _parameter_groups(pairs: PairSource) -> np.ndarray | None:
    """Id of each image's transform effect, for the equivariance metric (one linear effect fit per group): images
    share a group when the parameters that define the effect are equal (a fixed magnitude's sign or direction;
    not a per-image noise seed)."""
    spec = pairs.transform
    if not getattr(spec, "fixed", False):
        return None
    columns = [params.numpy()[:, list(step.info.effect_params)] for step, params in zip(spec.steps, pairs.probe.params)]
    return np.unique(np.concatenate(columns, axis=1), axis=0, return_inverse=True)[1].reshape(-1)


def measure(plan: MeasurementPlan, planned: PlannedTransform, *, seed: int, clean: Representations | None = None,
            clean_cache: dict[str, Any] | None = None) -> Measurement:
    """One measurement of ``planned`` (one of the plan's transforms) at one seed; ``clean`` reuses clean-view
    representations of the same images (another transform of the plan), and ``clean_cache`` (one dict for every
    call sharing ``clean``) what was computed from them (the clean-fit probe)."""
    t_start = time.perf_counter()
    s, metrics = plan.settings, planned.metrics.computed
    pairs = make_pairs(plan, planned.transform, seed)
    factories = dict.fromkeys(get_metric(m).profile for m in metrics if get_metric(m).profile) if plan.profile else {}
    reducers = [factory(seed, s.n_boot, len(pairs)) for factory in factories]
    reps = extract(plan.handle, pairs, readout=plan.readout, profile=plan.profile, reducers=reducers, clean=clean,
                   batch_size=s.batch_size, device=plan.device, progress=s.progress)
    inputs: dict[str, Any] = {}
    if "lie_derivative" in metrics:
        inputs[LIE_KEY] = lie_pass(plan.handle, pairs, planned.transform, readout=reps.readout, layers=plan.profile,
                                   batch_size=s.batch_size, device=plan.device)
    t_features = time.perf_counter()
    model_labels = plan.class_map[reps.labels.numpy()] if plan.class_map is not None else None
    ctx = MetricContext(reps, seed=seed, n_boot=s.n_boot, probe=plan.solver,
                        groups=_parameter_groups(pairs) if "equivariance" in metrics else None, model_labels=model_labels,
                        inputs=inputs, clean_cache=clean_cache if clean_cache is not None else {})
    values = ctx.evaluate(metrics)
    asked = s.metrics if s.metrics is not None else default_metrics()  # not a sweep's added metric
    undefined = undefined_notes(plan.handle.name, {k: v for k, v in values.items() if k in asked})
    for note in undefined:
        warn(note)
    coarse = _coarse_probe_note(ctx, values)
    t_end = time.perf_counter()
    both = "equivariance" in values and "invariance" in values and values["invariance"].defined
    report = Report(
        invmeter_version=__version__,
        model={**plan.handle.describe(), "layer": reps.layer},
        transform=planned.transform.to_dict(),
        data=pairs.describe(),
        metrics=values,
        provenance={
            "seed": seed,
            "versions": versions(),
            "device": str(plan.device),
            "labels": s.labels,
            "probe": {"solver": s.probe, "solver_used": plan.solver, "train_fraction": 0.5,
                      "split": "by image, stratified by class"},
            "bootstrap": {"resamples": s.n_boot, "level": 0.95, "unit": "image",
                          "streams": "one seeded random stream per metric"},
            "forward_passes": len(pairs) * (1 if clean is not None else 2),
            "timings": {"render_s": round(reps.seconds["render"], 3), "forward_s": round(reps.seconds["forward"], 3),
                        "metrics_s": round(t_end - t_features, 3), "total_s": round(t_end - t_start, 3)},
        },
        warnings=(*plan.weight_notes, *undefined, *coarse),
        skipped_metrics=dict(planned.metrics.skipped),
        verdict=verdict(values["invariance"].value, values["equivariance"].value) if both else None,
        magnitude=planned.magnitude,
        magnitude_units=planned.magnitude_units,
        layers=_layer_profile(reps, inputs, metrics, s.n_boot, seed) if plan.profile else (),
    )
    return Measurement(report, reps, {name: t for name, t in ctx.terms.items() if name in values})


def measure_each(plan: MeasurementPlan, *, seed: int, keep_going: bool = False
                 ) -> Iterator[tuple[PlannedTransform, Measurement | Exception]]:
    """Each of the plan's transforms at ``seed``, in order, the clean views read once and shared (with what was
    computed from them): ``(1 + T) · N`` forward passes for T transforms (``2 N`` each with a layer profile, which
    needs both views in one pass). ``keep_going``: a transform that fails yields its exception and the others go
    on (the zoo's rows); otherwise the exception is raised."""
    clean: Representations | None = None
    cache: dict[str, Any] = {}
    for planned in plan.transforms:
        try:
            result = measure(plan, planned, seed=seed, clean=clean, clean_cache=None if plan.profile else cache)
        except Exception as exc:  # noqa: BLE001 - handed to the caller (a zoo row with the reason) or raised
            if not keep_going:
                raise
            if clean is None:
                cache.clear()  # fit on clean views that are not kept
            yield planned, exc
            continue
        if not plan.profile:
            clean = clean or result.reps
        yield planned, result


def _coarse_probe_note(ctx: MetricContext, values: dict[str, MetricValue]) -> tuple[str, ...]:
    """A warning when a probe metric's value and interval rest on fewer than 5 test images of some class (an
    interval can then collapse to [1, 1] or [0, 0])."""
    if ctx.reps.labels is None:
        return ()
    _, test = ctx.split
    scored = [m for m in values if "probe" in get_metric(m).needs and len(ctx.terms.get(m, {}).get("values", ())) ==
              len(test)]
    counts = np.bincount(ctx.reps.labels[test].numpy())
    fewest = int(counts[counts > 0].min()) if counts.any() else 0
    if not scored or fewest >= PROBE_MIN_TEST_PER_CLASS:
        return ()
    return (f"{', '.join(scored)} rest on {fewest} test image{'s' if fewest != 1 else ''} of some class (fewer than "
            f"{PROBE_MIN_TEST_PER_CLASS}): their intervals are coarse (they can collapse to [1, 1] or [0, 0]); use "
            f"more images (n_images, --n-images).",)


def undefined_notes(model: str, values: dict[str, MetricValue]) -> list[str]:
    """One line per reason why metrics have no value (null in the report, never a number), naming them: for the
    report's warnings and a warning to the caller."""
    by_reason: dict[str, list[str]] = {}
    for name, value in values.items():
        if not value.defined:
            by_reason.setdefault(value.reason or "the value is not a finite number", []).append(name)
    return [f"Model {model!r}: {', '.join(names)} undefined (null in the report): {reason}."
            for reason, names in by_reason.items()]


def _layer_profile(reps: Representations, inputs: dict[str, Any], metrics: tuple[str, ...], n_boot: int,
                   seed: int) -> tuple[LayerValues, ...]:
    """Each layer's profiled metrics in forward order, the representation last: each reducer's values, and the
    per-layer Lie derivatives of the gradient pass."""
    rows: dict[str, dict[str, MetricValue]] = {}
    for per_layer in reps.profile.values():
        for layer, values in per_layer.items():
            rows.setdefault(layer, {}).update({k: v for k, v in values.items() if k in metrics})
    for layer, per_image in inputs.get(LIE_KEY, {}).items():
        rows.setdefault(layer, {})["lie_derivative"] = lie_layer_value(per_image, n_boot, seed)
    return tuple(LayerValues(layer, values) for layer, values in rows.items())
