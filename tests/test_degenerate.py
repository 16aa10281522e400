"""One answer for each degenerate input across the three APIs (docs/metrics.md, "Degenerate inputs"): the batch
pipeline (``score``, ``compute_metrics``: null with the reason), the functional API and the streaming metric (NaN
with an ``UndefinedMetricWarning`` giving the same reason), or the same one-line error in all three."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

import invmeter
from invmeter import functional as F
from invmeter.errors import DataError, UndefinedMetricWarning
from invmeter.metrics import compute_metrics
from invmeter.metrics.reductions import CLASSES_COLLAPSE, NO_REFERENCE_MOVE
from invmeter.streaming import InvarianceMetric
from invmeter.types import MetricValue, Representations

G = torch.Generator().manual_seed(0)
PAIRS = torch.randn(6, 4, generator=G).repeat_interleave(2, dim=0)  # 12 images: images 2k and 2k+1 are one point
TWIN = torch.arange(12) ^ 1  # each image's reference: its identical twin
MOVED = PAIRS + torch.randn(12, 4, generator=G)
LABELS = torch.arange(12) % 2


def _batch(clean: torch.Tensor, transformed: torch.Tensor, metric: str, labels: torch.Tensor | None = None,
           reference: torch.Tensor | None = None) -> MetricValue:
    reps = Representations(clean, transformed, labels, None, None, "test", reference=reference)
    return compute_metrics(reps, metrics=[metric], n_boot=50)[metric]


def _streamed(metric: str, clean: torch.Tensor, transformed: torch.Tensor, **update: Any) -> float:
    stream = InvarianceMetric(reservoir=64)
    stream.update(clean, transformed, **update)
    return stream.compute()[metric]


def _undefined_everywhere(batch: MetricValue, reason: str, *calls: Callable[[], float]) -> None:
    assert not batch.defined and math.isnan(batch.value) and batch.reason == reason
    assert batch.to_dict()["value"] is None and batch.to_dict()["reason"] == reason
    for call in calls:
        with pytest.warns(UndefinedMetricWarning) as caught:
            assert math.isnan(call())
        assert [str(w.message).split(": ", 1)[1] for w in caught] == [reason + "."]


def test_a_reference_that_does_not_move_the_representation() -> None:
    # (the batch paired_distance_ratio always pairs with random other images: its reason is the same reduction's)
    _undefined_everywhere(_batch(PAIRS, MOVED, "invariance", reference=TWIN), NO_REFERENCE_MOVE,
                          lambda: F.invariance(PAIRS, MOVED, PAIRS[TWIN]),
                          lambda: F.paired_distance_ratio(PAIRS, MOVED, PAIRS[TWIN]),
                          lambda: _streamed("invariance", PAIRS, MOVED, z_ref=PAIRS[TWIN]))


def test_classes_that_collapse_to_points() -> None:
    collapsed = torch.eye(4)[LABELS] * 5  # the transformed views: one point per class
    _undefined_everywhere(_batch(MOVED, collapsed, "l2_ratio", labels=LABELS), CLASSES_COLLAPSE,
                          lambda: F.l2_ratio(collapsed, LABELS),
                          lambda: _streamed("l2_ratio", MOVED, collapsed, labels=LABELS))


def test_constant_representations_are_undefined_in_every_api() -> None:
    constant = torch.ones(12, 4)
    value = _batch(constant, MOVED, "invariance")
    assert not value.defined and "identical for every image" in value.reason
    for call in (lambda: F.invariance(constant, MOVED), lambda: _streamed("invariance", constant, MOVED)):
        with pytest.warns(UndefinedMetricWarning, match="identical for every image"):  # the report's reason
            assert math.isnan(call())


@pytest.mark.parametrize("api", ["batch", "functional", "streaming"])
def test_a_single_class_is_the_same_error(api: str) -> None:
    one = torch.zeros(12, dtype=torch.int64)
    call = {"batch": lambda: _batch(PAIRS, MOVED, "l2_ratio", labels=one),
            "functional": lambda: F.l2_ratio(MOVED, one),
            "streaming": lambda: _streamed("l2_ratio", PAIRS, MOVED, labels=one)}[api]
    with pytest.raises(DataError, match="single class|at least 2 classes"):
        call()


@pytest.mark.parametrize("api", ["batch", "functional", "streaming"])
def test_nan_representations_are_the_same_error(api: str) -> None:
    bad = MOVED.clone()
    bad[3, 1] = float("nan")
    call = {"batch": lambda: _batch(PAIRS, bad, "invariance"), "functional": lambda: F.invariance(PAIRS, bad),
            "streaming": lambda: _streamed("invariance", PAIRS, bad)}[api]
    with pytest.raises(DataError, match="NaN or Inf"):
        call()


@pytest.mark.parametrize("api", ["batch", "functional", "streaming"])
def test_one_image_is_the_same_error(api: str) -> None:
    one = MOVED[:1]
    call = {"batch": lambda: _batch(one, one, "invariance"), "functional": lambda: F.invariance(one, one),
            "streaming": lambda: _streamed("invariance", one, one)}[api]
    with pytest.raises(DataError, match="at least 2 images"):
        call()


def test_a_constant_model_is_undefined_through_score() -> None:
    class Blind(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.ones(len(x), 4)

    with pytest.warns(invmeter.InvmeterWarning, match="undefined.*identical for every image"):
        report = invmeter.score(Blind(), "rotation", image_size=16, mean=(0.5,), std=(0.5,), n_classes=2, n_images=8,
                                n_boot=0)
    assert all(v.to_dict()["value"] is None and "identical for every image" in v.reason for v in report.metrics.values())


def test_intervals_stay_within_the_metric_bounds() -> None:
    from invmeter.metrics import get_metric
    from invmeter.metrics.bootstrap import percentile_ci

    assert percentile_ci(np.array([0.98, 0.99, 1.0, 1.004]), bounds=get_metric("cka").bounds)[1] == 1.0
    g = torch.Generator().manual_seed(0)
    close = MOVED + 0.01 * torch.randn(12, 4, generator=g)  # nearly identical views: CKA's pseudo-values pass 1
    value = compute_metrics(Representations(MOVED, close, None, None, None, "t"), metrics=["cka"], n_boot=500)["cka"]
    assert value.defined and value.ci95[1] == 1.0  # unclipped: 1.00002
    spread = torch.randn(6, 4, generator=torch.Generator().manual_seed(0))
    spread[0] *= 30  # one far image: the x2 stretch of a pair statistic's interval would pass 0 (-0.18 unclipped)
    labels = torch.tensor([0, 0, 0, 1, 1, 1])
    l2 = compute_metrics(Representations(spread, spread, labels, None, None, "t"), metrics=["l2_ratio"], n_boot=500)
    assert l2["l2_ratio"].ci95[0] == 0.0


def test_probe_intervals_on_fewer_than_5_test_images_per_class_come_with_a_warning() -> None:
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten())
    options = dict(image_size=16, mean=(0.5,), std=(0.5,), n_classes=3, n_boot=100)
    few = invmeter.score(net, "rotation", n_images=24, **options)  # 8 per class: 4 test images each
    [note] = [w for w in few.warnings if "test image" in w]
    assert note.startswith("probe_accuracy, clean_accuracy, transformed_accuracy, accuracy_delta, consistency rest on "
                           "4 test images of some class (fewer than 5)")
    enough = invmeter.score(net, "rotation", n_images=30, **options)  # 10 per class: 5 test images each
    assert not [w for w in enough.warnings if "test image" in w]
    label_free = invmeter.score(net, "rotation", n_images=24, metrics="invariance,l2_ratio", **options)
    assert not [w for w in label_free.warnings if "test image" in w]
