"""``invmeter.select``: every candidate on the target's labelled images, ranked with its reasons.

Everything is resolved once, before any model is built (:mod:`invmeter.pipeline.prepare`): the settings, the
nuisance transforms and their metric plans, every candidate (checked, not built), the target data, the device and
the probe solver. Each model is then built once into a :class:`~invmeter.pipeline.plan.MeasurementPlan` and sees
every target image once clean and once per nuisance transform (:func:`~invmeter.pipeline.measure.measure_each`),
``(1 + T) · N`` forward passes: the clean representations feed every estimator and are shared by the transforms'
measurements, as in the zoo. A model that cannot be loaded or run becomes a row with the reason, and the others
go on.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from invmeter._utils.device import resolve_device
from invmeter._utils.validation import check_output_folder
from invmeter.data import ImagePairs, Transforms2D, image_source
from invmeter.errors import DataError, InvalidParameterError
from invmeter.metrics.context import stratified_split
from invmeter.metrics.probe import resolve_solver
from invmeter.metrics.transferability import estimate
from invmeter.models import ModelHandle
from invmeter.pipeline.measure import measure_each
from invmeter.pipeline.patterns import expand_patterns
from invmeter.pipeline.plan import Data, MeasurementPlan, ModelRef, PlannedTransform, Request
from invmeter.pipeline.prepare import metric_plan, plan_for
from invmeter.pipeline.resolve import check_model, resolve_transforms
from invmeter.pipeline.settings import ScoreSettings
from invmeter.selection.outputs import Selection

__all__ = ["DEFAULT_NUISANCES", "select"]

# SimCLR's augmentations (Chen et al. 2020): the changes most photo tasks' labels ignore (crops move and rescale,
# flips, colour jitter, blur). Name the target's own nuisances with transforms= (-t) for a decision that uses them.
DEFAULT_NUISANCES = ("translation", "scale", "hflip", "blur", "color_jitter")
_REFUSED = {"seeds": "one seed", "baseline": "no baseline", "layers": "no layer profile", "metrics": "its own metrics"}
_VALUES = ("invariance", "accuracy_delta", "clean_accuracy")


class _Subset:
    """Images ``index`` of an image source (the estimation or the test part of the target)."""

    def __init__(self, source: Any, index: Any, part: str) -> None:
        self.source, self.index, self.part = source, [int(i) for i in index], part
        self.labels = source.labels[torch.as_tensor(self.index, dtype=torch.int64)]
        self.class_names = source.class_names
        self.io_bound = getattr(source, "io_bound", False)

    def __len__(self) -> int:
        return len(self.index)

    def load(self, i: int) -> Any:
        return self.source.load(self.index[i])

    def describe(self) -> dict[str, Any]:
        return {**self.source.describe(), "part": self.part, "n_part": len(self)}


def _settings(options: dict[str, Any]) -> ScoreSettings:
    for name, what in _REFUSED.items():
        if options.get(name) is not None:
            raise InvalidParameterError(f"select scores each model with {what}; the {name!r} setting does not apply.")
    if options.get("labels", "data") != "data":
        raise InvalidParameterError("select fits its probes on the target's labels: the 'labels' setting must be "
                                    "'data'.")
    return ScoreSettings.create(**options)


def _candidates(models: Any) -> list[tuple[str, Any]]:
    """``[(name, spec or object)]``: strings expanded as the zoo's patterns, modules and handles by their name
    (repeated names numbered ``#2``, ``#3``)."""
    if isinstance(models, (str, nn.Module, ModelHandle)) or not isinstance(models, Sequence) or not models:
        raise InvalidParameterError("The 'models' parameter must be a non-empty list of candidates: specs, globs "
                                    "('cifar:*', 'runs/*/model.safetensors'), modules or handles.")
    out: list[tuple[str, Any]] = []
    for model in models:
        if isinstance(model, str):
            out += [(spec, spec) for spec in expand_patterns([model]) if spec not in {name for name, _ in out}]
        elif isinstance(model, ModelHandle):
            out.append((model.name, model))
        elif isinstance(model, nn.Module):
            out.append((type(model).__name__, model))
        else:
            raise InvalidParameterError(f"A candidate model must be a spec, a glob, an nn.Module or a ModelHandle. "
                                        f"Got {type(model).__name__}.")
    names: dict[str, int] = {}
    for i, (name, model) in enumerate(out):
        names[name] = names.get(name, 0) + 1
        out[i] = (name if names[name] == 1 else f"{name}#{names[name]}", model)
    return out


def _target(data: Any) -> Any:
    """The user's labelled images as an image source (folder, Dataset, DataLoader, tensors), with 2 or more classes."""
    if isinstance(data, Transforms2D) or (isinstance(data, str) and data == "transforms2d"):
        raise InvalidParameterError("select needs the target's own labelled images: a folder with one subfolder "
                                    "per class, a Dataset of (image, label) or (images, labels) tensors; not "
                                    "Transforms-2D.")
    source = image_source(data)
    if source.labels is None:
        raise DataError("select needs labelled target data (one subfolder per class, or a Dataset of (image, label)); "
                        "this data has no labels.")
    if len(torch.unique(source.labels)) < 2:
        raise DataError("The target data has a single class; select ranks models by how well they separate the "
                        "target's classes, so it needs at least 2 (one subfolder per class).")
    return source


def _check_classes(labels: torch.Tensor, names: Sequence[str], need: int, what: str) -> None:
    counts = torch.bincount(labels)
    if int((counts > 0).sum()) < 2:
        raise DataError(f"Only one class is left in {what}; select needs at least 2. Use more images (n_images).")
    for k in torch.nonzero(counts).flatten().tolist():
        if counts[k] < need:
            name = names[k] if k < len(names) else str(k)
            raise DataError(f"Class {name!r} has {int(counts[k])} image(s) in {what}; select needs at least {need} "
                            "per class (its probes split every class in two). Add images or leave the class out.")


def _checked(candidates: Sequence[tuple[str, Any]], settings: ScoreSettings
             ) -> list[tuple[str, ModelRef | dict[str, Any]]]:
    """Each candidate checked before any model is built (a spec routed to its source, once): its
    :class:`ModelRef`, or the row of a candidate that cannot be had, with the reason (the others go on)."""
    out: list[tuple[str, ModelRef | dict[str, Any]]] = []
    for name, model in candidates:
        try:
            out.append((name, check_model(model, settings)))
        except Exception as exc:  # noqa: BLE001 - a model that cannot be had is a row with the reason
            out.append((name, _failed(name, str(settings.weights), exc)))
    return out


def _assess(name: str, ref: ModelRef, request: Request, test: Any = None) -> dict[str, Any]:
    """One candidate's row: its estimators on the clean views, its invariance and accuracy delta under each
    nuisance, and with ``test`` its fine-tuned test accuracy; a model that fails gives a row with the reason."""
    start = time.perf_counter()
    try:
        plan = plan_for(request, ref)  # the model built once, its layer resolved, before any forward pass
    except Exception as exc:  # noqa: BLE001 - a model that cannot be had is a row with the reason; the others go on
        return _failed(name, str(request.settings.weights), exc)
    try:
        row = _measure(name, plan)
        if test is not None:
            from invmeter.selection.evaluate import finetune_accuracy

            row["finetune"] = finetune_accuracy(plan.handle, plan.data.images, test, seed=plan.settings.seed,
                                                device=plan.device)
    except Exception as exc:  # noqa: BLE001 - this model cannot run on these images: a row with the reason
        return _failed(name, plan.handle.weights, exc)
    row["seconds"] = round(time.perf_counter() - start, 2)
    return row


def _failed(name: str, weights: str, exc: Exception) -> dict[str, Any]:
    reason = f"{exc.__class__.__name__}: {exc}".splitlines()[0][:500]
    return {"model": name, "weights": weights, "status": "failed", "reason": reason, "estimators": {},
            "invariance": {}, "accuracy_delta": {}}


def _measure(name: str, plan: MeasurementPlan) -> dict[str, Any]:
    """The plan's nuisances measured with the clean views read once and shared (``measure_each``), and the
    estimators on those clean views."""
    measured = [(str(planned.transform), m) for planned, m in measure_each(plan, seed=plan.settings.seed)]
    clean = measured[0][1].reps
    per = {t: m.report.metrics for t, m in measured}
    estimators = {k: v.to_dict() for k, v in estimate(clean.clean, clean.labels, clean.logits_clean,
                                                      seed=plan.settings.seed).items()}
    handle = plan.handle
    return {
        "model": name, "weights": handle.weights, "status": "ok", "reason": None,
        "estimators": {**estimators, "clean_accuracy": per[measured[0][0]]["clean_accuracy"].to_dict()},
        "invariance": {t: v["invariance"].to_dict() for t, v in per.items()},
        "accuracy_delta": {t: v["accuracy_delta"].to_dict() for t, v in per.items()},
        "meta": {"params": sum(p.numel() for p in handle.model.parameters()), "input_size": list(handle.input_size),
                 "layer": clean.layer, "preprocessing": handle.preprocessing.describe(),
                 "classifier": clean.logits_clean is not None, "n_images": len(clean.clean), "device": str(plan.device),
                 "forward_passes": sum(m.report.provenance["forward_passes"] for _, m in measured)},
        "notes": list(dict.fromkeys(w for _, m in measured for w in m.report.warnings)),
    }


def select(
    models: Sequence[str | nn.Module | ModelHandle],
    data: Any,
    transforms: Sequence[Any] | None = None,
    *,
    evaluate: bool = False,
    test_fraction: float = 0.5,
    out: str | Path | None = None,
    log: Callable[[str], None] | None = None,
    **options: Any,
) -> Selection:
    """Rank candidate models for transfer to the labelled target ``data``, each with its reasons.

    Args:
        models: Specs and globs as the zoo takes them (``'cifar:*'``, ``'timm:resnet18*'``,
            ``'runs/*/model.safetensors'``), ``nn.Module`` objects or handles.
        data: The target's labelled images: a folder with one subfolder per class, a ``Dataset`` of
            ``(image, label)``, a ``DataLoader`` over one, or ``(images, labels)`` tensors.
        transforms: The target's nuisance transforms: specs or callables, or specs in the one list grammar
            (``"rotation,hflip"``); default :data:`DEFAULT_NUISANCES`.
        evaluate: Also fine-tune every candidate's last layer on a stratified ``1 - test_fraction`` of the data (the
            estimators see only that part), score it on the rest and report each estimator's Kendall τ and
            weighted τ against that accuracy.
        out: Folder for ``selection.csv``, ``selection.json``, ``selection.md`` and ``selection.html``.
        log: Called with one line per model.
        options: :class:`~invmeter.pipeline.settings.ScoreSettings` fields (``seed``, ``n_images``,
            ``batch_size``, ``device``, ``n_boot``, ``image_size``, ``weights``, ``probe``, ``layer``, ...).
    """
    settings = _settings(options)
    nuisances = resolve_transforms(transforms if transforms else list(DEFAULT_NUISANCES))
    names = [str(t) for t in nuisances]
    if len(set(names)) != len(names):
        raise InvalidParameterError(f"A nuisance transform is repeated ({', '.join(names)}); give each once.")
    candidates = _checked(_candidates(models), settings)
    source = _target(data)
    test = None
    if evaluate:
        if not 0.0 < test_fraction < 1.0:
            raise InvalidParameterError(f"The 'test_fraction' parameter must be in (0, 1). Got {test_fraction!r}.")
        _check_classes(source.labels, source.class_names, 4, "the data (--evaluate splits it in two)")
        train_index, test_index = stratified_split(source.labels, 1.0 - test_fraction, settings.seed)
        source, test = _Subset(source, train_index, "train"), _Subset(source, test_index, "test")
    seen = ImagePairs(source, nuisances[0], lambda image: image, n=settings.n_images, seed=settings.seed).labels
    _check_classes(seen, source.class_names, 2, "the images the estimators see")
    folder = check_output_folder(out, "selection's output") if out is not None else None
    request = _request(candidates, nuisances, Data(images=source), settings)
    rows = []
    for i, (name, ref) in enumerate(candidates, 1):
        rows.append(_assess(name, ref, request, test) if isinstance(ref, ModelRef) else ref)
        if log is not None:
            row = rows[-1]
            status = f"{row['seconds']:.1f} s" if row["status"] == "ok" else f"failed: {row['reason']}"
            log(f"[{i}/{len(candidates)}] {name}: {status}")
    described = {**source.describe(), "n_images": len(seen), "n_classes": int(torch.unique(seen).numel()),
                 "n_test_images": len(test) if test is not None else None}
    selection = Selection.build(rows, names, given=bool(transforms), data=described,
                                settings={k: v for k, v in settings.to_dict().items() if k != "progress"},
                                evaluated=evaluate)
    if folder is not None:
        selection.write(folder)
    return selection


def _request(candidates: Sequence[tuple[str, ModelRef | dict[str, Any]]], nuisances: Sequence[Any], data: Data,
             settings: ScoreSettings) -> Request:
    """The rest of the plan, resolved once for every candidate: each nuisance's metric plan (select's own metrics,
    checked by the registry), the device and the probe solver."""
    measured = replace(settings, metrics=_VALUES)
    planned = tuple(PlannedTransform(t, metric_plan(measured, data, t), group) for group, t in enumerate(nuisances))
    refs = tuple(ref for _, ref in candidates if isinstance(ref, ModelRef))
    return Request(refs, planned, data, measured, resolve_device(settings.device),
                   resolve_solver(settings.probe, data.n_pairs(settings) // 2))
