"""One measurement, from resolved objects: pairs -> representations (2N forward passes) -> metrics -> Report.

Everything here takes objects that :mod:`invmeter.api` has already resolved and checked: a
:class:`~invmeter.models.ModelHandle`, a transform (a :class:`~invmeter.transforms.TransformSpec` or a callable), the
data (a :class:`~invmeter.data.Transforms2D` or an image source) and :class:`~invmeter.pipeline.settings.ScoreSettings`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from invmeter._utils.device import resolve_device
from invmeter._utils.versions import versions
from invmeter._version import __version__
from invmeter.data import ImagePairs, PairSource, Transforms2D, Transforms2DPairs
from invmeter.errors import DataError, InvalidParameterError, warn
from invmeter.metrics import MetricContext, default_metrics, get_metric
from invmeter.metrics.equivariance import verdict
from invmeter.metrics.measures import LIE_KEY
from invmeter.metrics.probe import resolve_solver
from invmeter.models import ModelHandle, Readout
from invmeter.models.labels import map_class_names
from invmeter.models.layers import resolve_layers
from invmeter.pipeline.extract import extract
from invmeter.pipeline.gradient import lie_generators, lie_pass
from invmeter.pipeline.settings import ScoreSettings
from invmeter.report.report import Report
from invmeter.types import MetricValue, Representations

__all__ = ["Data", "make_pairs", "measure", "metric_plan", "across_seeds", "undefined_notes"]


@dataclass(frozen=True)
class Data:
    """Resolved data: the built-in Transforms-2D dataset, or an image source (folder, Dataset, tensor)."""

    transforms2d: Transforms2D | None = None
    images: Any = None

    @property
    def labelled(self) -> bool:
        return self.transforms2d is not None or self.images.labels is not None

    @property
    def class_names(self) -> list[str]:
        return self.transforms2d.class_names if self.transforms2d is not None else list(self.images.class_names)


def make_pairs(data: Data, transform: Any, handle: ModelHandle, settings: ScoreSettings, seed: int) -> PairSource:
    """Controlled pairs for ``handle``: Transforms-2D rendered at the model's input size, or the user's images
    through the model's own resize and crop."""
    if data.transforms2d is not None:
        h, w = handle.input_size
        if h != w:
            raise InvalidParameterError(f"Transforms-2D renders square images; the model {handle.name!r} takes {h}x{w}. "
                                        "Set image_size= to a square size or use your own images (data=...).")
        ds = data.transforms2d if data.transforms2d.image_size == h else replace(data.transforms2d, image_size=h)
        return Transforms2DPairs(ds, transform, settings.n_pairs(ds.n_classes), seed=seed)
    return ImagePairs(data.images, transform, handle.preprocessing.prepare, n=settings.n_images, seed=seed)


def metric_plan(settings: ScoreSettings, data: Data, transform: Any) -> tuple[tuple[str, ...], dict[str, str]]:
    """The metrics to compute, and those skipped with why. Defaults (and ``metrics="all"``) skip what does not apply
    here: label metrics on unlabelled data, ``equivariance`` without fixed magnitudes (a sweep adds it), the Lie
    derivative without a continuous generator. A metric asked for by name that does not apply is an error."""
    from invmeter.metrics import list_metrics

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
    return tuple(m for m in wanted if m not in why), why


def _parameter_groups(pairs: PairSource) -> np.ndarray | None:
    """Id of each image's transform effect, for the equivariance metric (one linear effect fit per group): images
    share a group when the parameters that define the effect are equal (a fixed magnitude's sign or direction;
    not a per-image noise seed)."""
    spec = pairs.transform
    if not getattr(spec, "fixed", False):
        return None
    columns = [params.numpy()[:, list(step.info.effect_params)] for step, params in zip(spec.steps, pairs.probe.params)]
    return np.unique(np.concatenate(columns, axis=1), axis=0, return_inverse=True)[1].reshape(-1)


def measure(
    handle: ModelHandle, transform: Any, data: Data, settings: ScoreSettings, *, seed: int,
    clean: Representations | None = None, extra: dict[str, Any] | None = None, notes: Sequence[str] = (),
    keep_terms: bool = False, clean_cache: dict[str, Any] | None = None,
) -> tuple[Report, Representations]:
    """One measurement at one seed; ``clean`` reuses clean-view representations of the same images (sweeps, the
    zoo), and ``clean_cache`` (one dict for every call sharing ``clean``) what was computed from them (the clean-fit
    probe). ``keep_terms``: each metric's per-image terms go to ``report.extra["terms"]`` (paired comparisons)."""
    t_start = time.perf_counter()
    metrics, skipped = metric_plan(settings, data, transform)
    pairs = make_pairs(data, transform, handle, settings, seed)
    profile = resolve_layers(handle, settings.layers) if settings.layers else []
    if settings.layer:
        resolve_layers(handle, [settings.layer])  # an unknown module name fails before any forward pass
    # --labels model: the data's classes must map onto the model's before any forward pass
    class_map = map_class_names(pairs.class_names, handle.label_names) if settings.labels == "model" else None
    factories = dict.fromkeys(get_metric(m).profile for m in metrics if get_metric(m).profile) if profile else {}
    reducers = [factory(seed, settings.n_boot, len(pairs)) for factory in factories]
    readout = Readout("module", settings.layer) if settings.layer else None
    reps = extract(handle, pairs, readout=readout, profile=profile, reducers=reducers, clean=clean,
                   batch_size=settings.batch_size, device=settings.device, progress=settings.progress)
    inputs: dict[str, Any] = {}
    if "lie_derivative" in metrics:
        inputs[LIE_KEY] = lie_pass(handle, pairs, transform, readout=reps.readout, layers=profile,
                                   batch_size=settings.batch_size, device=settings.device)
    t_features = time.perf_counter()
    model_labels = class_map[reps.labels.numpy()] if class_map is not None else None
    ctx = MetricContext(reps, seed=seed, n_boot=settings.n_boot, probe=settings.probe,
                        groups=_parameter_groups(pairs) if "equivariance" in metrics else None, model_labels=model_labels,
                        inputs=inputs, clean_cache=clean_cache if clean_cache is not None else {})
    values = ctx.evaluate(metrics)
    asked = settings.metrics if settings.metrics is not None else default_metrics()  # not a sweep's added metric
    undefined = undefined_notes(handle.name, {k: v for k, v in values.items() if k in asked})
    for note in undefined:
        warn(note)
    t_end = time.perf_counter()
    more: dict[str, Any] = dict(extra or {})
    if "equivariance" in values and "invariance" in values and values["invariance"].defined:
        more["verdict"] = verdict(values["invariance"].value, values["equivariance"].value)
    if skipped:
        more["skipped_metrics"] = skipped
    if keep_terms:
        more["terms"] = {name: {k: np.asarray(v, dtype=np.float64).tolist() for k, v in t.items()}
                         for name, t in ctx.terms.items() if name in values}
    if profile:
        more["layers"] = _layer_profile(reps, inputs, metrics, settings.n_boot, seed)
    n_train = len(ctx.split[0]) if reps.labels is not None else 0
    report = Report(
        invmeter_version=__version__,
        model={**handle.describe(), "layer": reps.layer},
        transform=transform.to_dict(),
        data=pairs.describe(),
        metrics=values,
        provenance={
            "seed": seed,
            "versions": versions(),
            "device": str(resolve_device(settings.device)),
            "labels": settings.labels,
            "probe": {"solver": settings.probe, "solver_used": resolve_solver(settings.probe, n_train),
                      "train_fraction": 0.5, "split": "by image, stratified by class"},
            "bootstrap": {"resamples": settings.n_boot, "level": 0.95, "unit": "image",
                          "streams": "one seeded random stream per metric"},
            "forward_passes": len(pairs) * (1 if clean is not None else 2),
            "timings": {"render_s": round(reps.seconds["render"], 3), "forward_s": round(reps.seconds["forward"], 3),
                        "metrics_s": round(t_end - t_features, 3), "total_s": round(t_end - t_start, 3)},
        },
        warnings=(*notes, *undefined),
        extra=more,
    )
    return report, reps


def undefined_notes(model: str, values: dict[str, MetricValue]) -> list[str]:
    """One line per reason why metrics have no value (null in the report, never a number), naming them: for the
    report's warnings and a warning to the caller."""
    by_reason: dict[str, list[str]] = {}
    for name, value in values.items():
        if not value.defined:
            by_reason.setdefault(value.reason or "the value is not a finite number", []).append(name)
    return [f"Model {model!r}: {', '.join(names)} undefined (null in the report): {reason}."
            for reason, names in by_reason.items()]


def _layer_profile(reps: Representations, inputs: dict[str, Any], metrics: Sequence[str], n_boot: int,
                   seed: int) -> list[dict[str, Any]]:
    """``[{"layer": name, metric: value, ...}]`` in forward order, the representation last: each reducer's values,
    and the per-layer Lie derivatives of the gradient pass."""
    from invmeter.metrics.measures import lie_layer_value

    rows: dict[str, dict[str, Any]] = {}
    for per_layer in reps.profile.values():
        for layer, values in per_layer.items():
            rows.setdefault(layer, {}).update({k: v.to_dict() for k, v in values.items() if k in metrics})
    for layer, per_image in inputs.get(LIE_KEY, {}).items():
        rows.setdefault(layer, {})["lie_derivative"] = lie_layer_value(per_image, n_boot, seed).to_dict()
    return [{"layer": layer, **values} for layer, values in rows.items()]


def across_seeds(reports: list[Report]) -> dict[str, Any]:
    """Mean ± std (ddof 1) of each metric across per-seed reports; a metric undefined at any seed has no mean."""
    out: dict[str, Any] = {"seeds": [r.provenance["seed"] for r in reports], "metrics": {}}
    for key in reports[0].metrics:
        values = [r.metrics[key] for r in reports]
        if all(v.defined for v in values):
            x = [v.value for v in values]
            out["metrics"][key] = {"mean": float(np.mean(x)), "std": float(np.std(x, ddof=1)) if len(x) > 1 else 0.0,
                                   "values": x}
        else:
            reason = next(v.reason for v in values if not v.defined)
            out["metrics"][key] = {"mean": None, "std": None, "values": [v.to_dict()["value"] for v in values],
                                   "reason": reason or "undefined at some seed"}
    return out

