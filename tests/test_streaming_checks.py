"""The streaming metric validates like score (issue 25): the same image checks and degenerate-representation
reasons, one-line errors for meta tensors and a garbage state, and each sample id counted once."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from invmeter.errors import DataError, InvalidParameterError, InvmeterError, InvmeterWarning, UndefinedMetricWarning
from invmeter.metrics.context import CONSTANT_REPRESENTATION
from invmeter.streaming.metric import InvarianceMetric


def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten())


class Constant(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.ones(4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.w.expand(len(x), 4) * 1.0


def _images(n: int = 8) -> torch.Tensor:
    return torch.rand(n, 3, 16, 16, generator=torch.Generator().manual_seed(0))


def _streamed(model: nn.Module, images: torch.Tensor, **kw: Any) -> dict[str, float]:
    metric = InvarianceMetric("rotation", reservoir=16)
    metric.update(model, images, **kw)
    return metric.compute()


@pytest.mark.parametrize(("images", "message"), [
    (_images() * 255, r"'images' has values in \[.*, 255\]; images must be in \[0, 1\].*look like 0-255 levels"),
    (_images() * 4 - 2, r"must be in \[0, 1\] and not normalised\. Remove Normalize"),
    (torch.rand(8, 3, 16, 16, device="meta"), r"'images' is on the meta device"),
    (torch.randint(0, 255, (8, 3, 16, 16)), r"'images' holds int64 values"),
])
def test_images_are_checked_as_score_checks_them(images: torch.Tensor, message: str) -> None:
    with pytest.raises(DataError, match=message):
        _streamed(_net(), images)


def test_float64_images_run_in_the_models_dtype() -> None:
    assert _streamed(_net(), _images().double()) == _streamed(_net(), _images())
    double = _streamed(_net().double(), _images())  # a float64 model gets float64 images
    assert double["invariance"] == pytest.approx(_streamed(_net(), _images())["invariance"], abs=1e-5)


def test_a_constant_model_has_the_reports_reason() -> None:
    with pytest.warns(UndefinedMetricWarning, match="(invariance|l2_ratio) undefined") as caught:
        out = _streamed(Constant(), _images(), labels=torch.arange(8) % 2)
    messages = [str(w.message) for w in caught]  # one warning per metric, as invmeter.functional gives
    assert {m.split(" undefined")[0] for m in messages} == {"invariance", "l2_ratio"}
    assert all(CONSTANT_REPRESENTATION in m for m in messages)
    assert math.isnan(out["invariance"]) and math.isnan(out["l2_ratio"]) and out["n"] == 8


def test_meta_representations_are_one_line_errors() -> None:
    with pytest.raises(DataError, match="'z' is on the meta device"):
        InvarianceMetric().update(torch.rand(4, 3, device="meta"), torch.rand(4, 3))


def test_each_sample_id_counts_once() -> None:
    z = torch.randn(8, 5, generator=torch.Generator().manual_seed(1))
    z_t = z + 0.3 * torch.randn(8, 5, generator=torch.Generator().manual_seed(2))
    once = InvarianceMetric(reservoir=16)
    once.update(z, z_t, index=range(8))
    repeated = InvarianceMetric(reservoir=16)
    with pytest.warns(InvmeterWarning, match="2 of 6 samples skipped: their index was already counted"):
        repeated.update(z[[0, 1, 2, 0, 3, 1]], z_t[[0, 1, 2, 0, 3, 1]], index=[0, 1, 2, 0, 3, 1])
    with pytest.warns(InvmeterWarning, match="4 of 8 samples skipped"):
        repeated.update(z, z_t, index=range(8))
    assert repeated.compute() == once.compute() and repeated.compute()["n"] == 8


def test_merging_metrics_that_counted_the_same_ids_is_refused_and_states_keep_the_ids(tmp_path: Path) -> None:
    z = torch.randn(8, 5, generator=torch.Generator().manual_seed(1))
    a, b, c = (InvarianceMetric(reservoir=16) for _ in range(3))
    a.update(z[:4], z[:4] * 0.9, index=range(4))
    b.update(z[3:], z[3:] * 0.9, index=range(3, 8))  # id 3 in both, as a DistributedSampler pads
    with pytest.raises(InvalidParameterError, match="1 sample ids were counted by both metrics.*drop_last=True"):
        a.merge(b)
    c.update(z[4:], z[4:] * 0.9, index=range(4, 8))
    torch.save(c.state_dict(), tmp_path / "c.pt")
    restored = InvarianceMetric.from_state_dict(torch.load(tmp_path / "c.pt", weights_only=True))
    assert torch.equal(restored.seen, torch.arange(4, 8))
    a.merge(restored)
    assert a.compute()["n"] == 8 and sorted(a.seen.tolist()) == list(range(8))
    with pytest.warns(InvmeterWarning, match="1 of 1 samples skipped"):
        a.update(z[:1], z[:1], index=[6])


def _state() -> dict[str, Any]:
    metric = InvarianceMetric(reservoir=16)
    g = torch.Generator().manual_seed(0)
    metric.update(torch.randn(6, 3, generator=g), torch.randn(6, 3, generator=g), torch.arange(6) % 2)
    return metric.state_dict()


@pytest.mark.parametrize(("change", "message"), [
    (lambda s: "garbage", r"got str"),
    (lambda s: {}, r"missing 'transform', 'reservoir_size'"),
    (lambda s: {**s, "sums": {"n": 1}}, r"'sums' must map n, sum_d"),
    (lambda s: {**s, "sums": {**s["sums"], "sum_d": float("nan")}}, r"'sums' must map"),
    (lambda s: {**s, "counter": -3}, r"'counter' must be a non-negative integer"),
    (lambda s: {**s, "modes": None}, r"'modes' and 'reservoir' are None only for an empty metric"),
    (lambda s: {**s, "modes": {"labels": "yes"}}, r"'modes' must map reference, labels, logits to booleans"),
    (lambda s: {**s, "reservoir": {**s["reservoir"], "clean": torch.randn(2, 3)}}, r"disagree in length or shape"),
    (lambda s: {**s, "reservoir": {**s["reservoir"], "labels": None}}, r"labels only when 'modes' says so"),
    (lambda s: {**s, "reservoir_size": "16"}, r"'reservoir_size' must be an integer"),
    (lambda s: {**s, "reservoir_size": 1}, r"disagree in length or shape"),
    (lambda s: {**s, "transform": "rotaton"}, r"Unknown transform 'rotaton'"),
])
def test_a_garbage_state_is_a_one_line_error(change: Any, message: str) -> None:
    with pytest.raises(InvmeterError, match=message) as caught:
        InvarianceMetric.from_state_dict(change(_state()))
    assert "\n" not in str(caught.value)


def test_a_state_saved_before_ids_were_kept_still_loads() -> None:
    state = _state()
    del state["seen"]
    assert InvarianceMetric.from_state_dict(state).compute() == InvarianceMetric.from_state_dict(_state()).compute()
