"""Resolve once, into one plan: each fact of a measurement (the device, a model spec's route, a transform's metric
plan, a sweep's specs, the probe solver) is resolved once; several transforms build each model once, warn once
per model and share the clean views ((1 + T)·N forward passes)."""

from __future__ import annotations

import dataclasses
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import torch
from click.testing import CliRunner
from torch import nn

import invmeter
from invmeter._utils import device
from invmeter.cli import cli
from invmeter.metrics import probe
from invmeter.models import sources
from invmeter.pipeline import prepare as prepare_module, resolve
from invmeter.pipeline.measure import measure, measure_each
from invmeter.pipeline.prepare import prepare
from invmeter.pipeline.settings import ScoreSettings

SMALL = dict(image_size=32, n_classes=3, n_images=24, n_boot=0)
RESOLVERS = {"device": device.resolve_device, "model spec": sources._route, "metric plan": prepare_module.metric_plan,
             "sweep specs": resolve.sweep_specs, "probe solver": probe.resolve_solver}


def _counted(call: Callable[[], Any]) -> Counter[str]:
    """How often each resolver ran during ``call`` (a profile hook sees every call, however it was imported)."""
    codes = {f.__code__: name for name, f in RESOLVERS.items()}
    counts: Counter[str] = Counter()

    def profile(frame: Any, event: str, _arg: Any) -> None:
        if event == "call" and frame.f_code in codes:
            counts[codes[frame.f_code]] += 1

    sys.setprofile(profile)
    try:
        call()
    finally:
        sys.setprofile(None)
    return counts


def test_one_measurement_resolves_each_fact_once() -> None:
    counts = _counted(lambda: invmeter.score("timm:test_resnet", "rotation", weights="random", **SMALL))
    assert counts == {"device": 1, "model spec": 1, "metric plan": 1, "probe solver": 1}


def test_a_sweep_resolves_its_specs_once_and_each_magnitude_has_its_metric_plan() -> None:
    counts = _counted(lambda: invmeter.sweep("timm:test_resnet", "rotation", [0, 30, 90], weights="random", **SMALL))
    assert counts == {"device": 1, "model spec": 1, "sweep specs": 1, "metric plan": 3, "probe solver": 1}


def test_several_models_and_transforms_resolve_each_model_once_and_the_device_once() -> None:
    calls = lambda: invmeter.api.score_many(["timm:test_resnet", "cifar:vgg11?width=0.125"],  # noqa: E731
                                            ["rotation", "hflip,blur"], weights="random", **SMALL)
    assert _counted(calls) == {"device": 1, "model spec": 2, "metric plan": 3, "probe solver": 1}


@contextmanager
def _images_into_stems() -> Iterator[Counter[int]]:
    """Images entering each model's stem (the convolutions reading 3-channel input), by the model's stem id."""
    seen: Counter[int] = Counter()

    def hook(module: nn.Module, inputs: tuple[Any, ...]) -> None:
        if isinstance(module, nn.Conv2d) and module.in_channels == 3:
            seen[id(module)] += inputs[0].shape[0]

    handle = torch.nn.modules.module.register_module_forward_pre_hook(hook)
    try:
        yield seen
    finally:
        handle.remove()


@pytest.mark.filterwarnings("always::invmeter.errors.InvmeterWarning")  # a repeated warning must show as repeated
def test_score_with_several_transforms_builds_each_model_once_and_shares_the_clean_views() -> None:
    args = ["score", "-m", "timm:test_resnet", "-m", "timm:test_efficientnet", "-t", "rotation", "-t", "hflip,blur",
            "--image-size", "32", "--n-images", "12", "--classes", "3", "--bootstrap", "0", "--metrics", "invariance",
            "--quiet"]
    with _images_into_stems() as seen:
        result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert sorted(seen.values()) == [(1 + 3) * 12] * 2  # one stem per model: N clean + N per transform
    weights_lines = [line for line in result.output.splitlines() if "PRETRAINED WEIGHTS UNAVAILABLE" in line]
    assert len(weights_lines) == 2 and {"test_resnet" in weights_lines[0], "test_resnet" in weights_lines[1]} == {
        True, False}  # one warning per model, not per transform


def test_several_transforms_give_the_numbers_of_separate_scores() -> None:
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten())
    options = dict(SMALL, mean=(0.5,), std=(0.5,), n_boot=200)
    together = invmeter.api.score_many(net, "rotation,hflip", **options)
    for group, spec in zip(together, ["rotation", "hflip"]):
        alone = invmeter.score(net, spec, **options)
        for name, value in alone.metrics.items():
            assert group[0].metrics[name].value == pytest.approx(value.value, abs=1e-6), (spec, name)
        assert group[0].provenance["forward_passes"] == (24 if spec == "hflip" else 48)  # clean views shared


def test_the_plan_is_frozen_and_measure_takes_it() -> None:
    settings = ScoreSettings.create(**SMALL, mean=(0.5,), std=(0.5,))
    request = prepare(nn.Flatten(), ["rotation", "hflip"], settings=settings)
    plan = next(request.plans())
    assert plan.device == torch.device("cpu") and plan.solver == "lbfgs"
    assert [p.metrics.computed[0] for p in plan.transforms] == ["invariance", "invariance"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        plan.solver = "ridge"  # type: ignore[misc]
    first = measure(plan, plan.transforms[1], seed=0)
    shared = [m for _, m in measure_each(plan, seed=0)]
    assert first.report.metrics["invariance"].value == shared[1].report.metrics["invariance"].value
    assert shared[1].report.provenance["forward_passes"] == 24 and first.report.provenance["forward_passes"] == 48


def test_score_takes_one_transform() -> None:
    with pytest.raises(invmeter.InvalidParameterError, match=r"score\(\) takes one transform.*score_many"):
        invmeter.score(nn.Flatten(), "rotation,hflip", **SMALL)


@pytest.mark.filterwarnings("ignore::invmeter.errors.InvmeterWarning")  # random weights under auto, said per model
def test_select_resolves_each_fact_once_for_every_candidate_and_nuisance() -> None:
    images = torch.rand(12, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    labels = torch.arange(12) % 3
    calls = lambda: invmeter.select(["timm:test_resnet", "cifar:vgg11?width=0.125"],  # noqa: E731
                                    (images, labels), ["rotation", "hflip,blur"], image_size=32, n_boot=0)
    assert _counted(calls) == {"device": 1, "model spec": 2, "metric plan": 3, "probe solver": 1}
