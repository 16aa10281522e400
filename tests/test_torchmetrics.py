"""The scalar torchmetrics metrics with the real package: each a torchmetrics.Metric whose compute() is a tensor,
equal to the streaming metric; forward, MetricCollection compute groups, merge_state, set_dtype, plot, 2 gloo
processes (CPU)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from dist_worker import single_process
from test_guard import _assert_same, _model_with_grads, _snapshot
from test_streaming import _data, _fed, run_two_ranks

from conftest import CountingModel
from invmeter import functional as F
from invmeter.errors import DataError, InvalidParameterError, UndefinedMetricWarning
from invmeter.metrics.context import CONSTANT_REPRESENTATION
from invmeter.metrics.reductions import NO_REFERENCE_MOVE
from invmeter.streaming.metric import InvarianceMetric

tm = pytest.importorskip("torchmetrics")
from invmeter.integrations.torchmetrics import (  # after the extra's check
    Consistency,
    Invariance,
    L2Ratio,
    PairedDistanceRatio,
    StreamMetric,
)

CLASSES = {"invariance": Invariance, "paired_distance_ratio": PairedDistanceRatio, "l2_ratio": L2Ratio,
           "consistency": Consistency}


def _feed(metric: StreamMetric, batches: list[torch.Tensor], data: tuple[torch.Tensor, ...]) -> None:
    z, z_t, labels, logits, logits_t = data
    for idx in batches:
        metric.update(z[idx], z_t[idx], labels[idx], logits=logits[idx], logits_t=logits_t[idx])


def test_each_metric_is_a_scalar_torchmetrics_metric_equal_to_the_streaming_metric() -> None:
    data = _data()
    batches = list(torch.arange(3000).split(250))
    expected = _fed(batches, data, reservoir=400, seed=1).compute()
    expected["paired_distance_ratio"] = 1 - expected["invariance"]
    for name, cls in CLASSES.items():
        metric = cls(reservoir=400, seed=1)
        assert isinstance(metric, tm.Metric)
        _feed(metric, batches, data)
        assert sum(len(r) for r in metric.clean) <= 400  # bounded state
        value = metric.compute()
        assert value.shape == () and value.dtype == torch.float64
        assert float(value) == pytest.approx(expected[name], rel=1e-12, abs=0), name
        assert cls.higher_is_better is {"paired_distance_ratio": False}.get(name, True)  # the registry's direction
    z, z_t, labels, *_ = data
    whole = L2Ratio(reservoir=3000)
    whole.update(z, z_t, labels)
    assert float(whole.compute()) == F.l2_ratio(z_t, labels)  # the reservoir holds the stream: the batch value


def test_forward_is_one_model_pass_giving_the_batchs_value(counting_model: CountingModel) -> None:
    images = torch.rand(30, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    labels = torch.arange(30) % 3
    metric = Invariance("hflip", reservoir=16)
    batch_values = [metric(counting_model, images[idx], labels[idx]) for idx in torch.arange(30).split(10)]
    assert counting_model.images_seen == 60  # one pass of both views per batch, no second update
    for value, idx in zip(batch_values, torch.arange(30).split(10)):
        alone = InvarianceMetric("hflip", reservoir=16)
        alone.update(counting_model, images[idx], labels[idx], index=idx)  # the batch's ids, as forward draws them
        assert float(value) == pytest.approx(alone.compute()["invariance"], rel=1e-12)
    assert sum(len(r) for r in metric.clean) == 16  # the batches merged bottom-M into the state, bounded
    whole = InvarianceMetric("hflip", reservoir=16)
    whole.update(counting_model, images, labels)
    assert float(metric.compute()) == pytest.approx(whole.compute()["invariance"], rel=1e-12)


def test_a_failing_forward_leaves_the_state_as_it_was() -> None:
    z, z_t, *_ = _data(n=100)
    metric = Invariance()
    metric(z[:60], z_t[:60])
    before = float(metric.compute())
    with pytest.raises(DataError, match="NaN or Inf"):
        metric(z[60:] * float("nan"), z_t[60:])
    with pytest.raises(DataError, match="at least 2 images"):
        metric(z[60:61], z_t[60:61])  # a batch of one has no value against random references
    assert float(metric.compute()) == before and int(metric.sums[0]) == 60 and metric.update_count == 1


def test_a_collection_with_the_same_inputs_is_one_compute_group_and_one_model_pass(
        counting_model: CountingModel) -> None:
    images = (torch.rand(40, 3, 8, 8, generator=torch.Generator().manual_seed(1)) * 255).to(torch.uint8)
    labels = torch.arange(40) % 4
    names = list(CLASSES)
    collection = tm.MetricCollection({k: cls("rotation", reservoir=32) for k, cls in CLASSES.items()},
                                     compute_groups=[names])
    for idx in torch.arange(40).split(10):
        collection.update(counting_model, images[idx], labels[idx])
    assert counting_model.images_seen == 80  # 4 batches x both views, once for the four metrics
    got = {k: float(v) for k, v in collection.compute().items()}
    alone = InvarianceMetric("rotation", reservoir=32)
    alone.update(counting_model, images, labels)
    expected = {**alone.compute(), "paired_distance_ratio": 1 - alone.compute()["invariance"]}
    for name in names:
        assert got[name] == pytest.approx(expected[name], rel=1e-12), name
    # torchmetrics' automatic groups: every metric updates on the first batch, then one group
    automatic = tm.MetricCollection({k: cls("rotation", reservoir=32) for k, cls in CLASSES.items()})
    counting_model.images_seen = 0
    for idx in torch.arange(40).split(10):
        automatic.update(counting_model, images[idx], labels[idx])
    assert list(automatic.compute_groups.values()) == [sorted(names)]
    assert counting_model.images_seen == 4 * 20 + 3 * 20
    assert {k: float(v) for k, v in automatic.compute().items()} == got
    other = tm.MetricCollection({"a": Invariance("rotation", reservoir=32), "b": Invariance("rotation", reservoir=33)})
    other.update(counting_model, images[:10], labels[:10])  # the same state so far, other settings: two groups
    assert len(other.compute_groups) == 2


def test_merge_state_equals_one_stream_and_refuses_other_settings() -> None:
    z, z_t, labels, *_ = _data()
    whole, a, b = (Invariance(reservoir=300) for _ in range(3))
    whole.update(z, z_t, index=torch.arange(3000))
    a.update(z[::2], z_t[::2], index=torch.arange(0, 3000, 2))
    b.update(z[1::2], z_t[1::2], index=torch.arange(1, 3000, 2))
    a.merge_state(b)
    assert float(a.compute()) == pytest.approx(float(whole.compute()), rel=1e-12, abs=0)
    assert torch.equal(a.stream().reservoir.by_id().ids, whole.stream().reservoir.by_id().ids)  # bottom-M merge
    with pytest.raises(InvalidParameterError, match="same transform, reservoir size, seed"):
        a.merge_state(Invariance(reservoir=301))
    labelled = Invariance(reservoir=300)
    labelled.update(z, z_t, labels)
    with pytest.raises(InvalidParameterError, match="'labels' was given in some updates but not in others"):
        a.merge_state(labelled.metric_state)


def test_set_dtype_and_to_keep_the_running_sums_float64() -> None:
    z, z_t, *_ = _data(n=200)
    twins = torch.arange(200) ^ 1
    exact = Invariance()
    exact.update(z, z_t, z_ref=z[twins])
    for convert in (lambda m: m.set_dtype(torch.float16), lambda m: m.to(torch.float16)):
        metric = convert(Invariance())
        metric.update(z, z_t, z_ref=z[twins])
        assert metric.sums.dtype == torch.float64 and metric.ids[0].dtype == torch.int64
        assert metric.modes.dtype == torch.int64 and metric.settings.dtype == torch.int64
        assert float(metric.compute()) == float(exact.compute())  # exact sums: explicit references, no rounding
    half = Invariance().set_dtype(torch.float16)
    half.update(z, z_t)
    assert half.clean[0].dtype == torch.float16  # the reservoir's rows take the dtype
    assert float(half.compute()) == pytest.approx(float(Invariance().forward(z, z_t)), rel=2e-3)
    assert half.to("cpu").device == torch.device("cpu")


def test_plot_draws_the_value_and_its_bound() -> None:
    pytest.importorskip("matplotlib")
    import matplotlib.pyplot as plt

    metric = Invariance()
    z, z_t, *_ = _data(n=100)
    values = [metric(z[idx], z_t[idx]) for idx in torch.arange(100).split(25)]
    fig, ax = metric.plot(values)
    try:
        (line,) = ax.get_lines()[:1]
        assert np.allclose(line.get_ydata(), [float(v) for v in values])
        (optimal,) = [t for t in ax.texts if "Optimal" in t.get_text()]
        assert optimal.get_position()[1] == 1.0  # the registry's upper bound, marked as the optimum
    finally:
        plt.close(fig)


def test_degenerate_streams_and_bad_calls() -> None:
    constant = Invariance()  # constant clean representations: the reason a report and invmeter.functional give
    constant.update(torch.ones(10, 4), torch.randn(10, 4))
    with pytest.warns(UndefinedMetricWarning, match="identical for every image") as caught:
        assert math.isnan(float(constant.compute()))
    assert str(caught[0].message).endswith(CONSTANT_REPRESENTATION + ".")
    z = torch.randn(10, 4, generator=torch.Generator().manual_seed(3))
    unmoved = Invariance()  # references that do not move the representation
    unmoved.update(z, z + 0.1, z_ref=z)
    with pytest.warns(UndefinedMetricWarning, match="does not move the representation") as caught:
        assert math.isnan(float(unmoved.compute()))
    assert str(caught[0].message).endswith(NO_REFERENCE_MOVE + ".")
    z = torch.randn(10, 4)
    no_labels = L2Ratio()
    no_labels.update(z, z)
    with pytest.raises(InvalidParameterError, match="l2_ratio needs labels"):
        no_labels.compute()
    with pytest.raises(InvalidParameterError, match="'z_ref' goes with representations"):
        Invariance("rotation").update(CountingModel(), torch.rand(4, 3, 8, 8), z_ref=z)
    with pytest.raises(InvalidParameterError, match="'transformed' goes with a model"):
        Invariance().update(z, z, transformed=z)
    with pytest.raises(TypeError, match="shared base"):
        StreamMetric()
    with pytest.raises(InvalidParameterError, match="reservoir"):
        Invariance(reservoir=1)


def test_model_path_leaves_the_model_untouched() -> None:
    model = _model_with_grads()
    before = _snapshot(model)
    metric = Consistency("rotation")
    images = torch.rand(8, 3, 8, 8)
    metric.update(model, images, torch.arange(8) % 2)
    _assert_same(before, model)
    reference = InvarianceMetric("rotation")
    reference.update(model, images, torch.arange(8) % 2)
    assert float(metric.compute()) == reference.compute()["consistency"]


@pytest.mark.slow
def test_two_gloo_processes_give_the_single_process_numbers(tmp_path: Path) -> None:
    got = run_two_ranks(tmp_path, "torchmetrics")
    single = single_process()
    expected = {**single.compute(), "paired_distance_ratio": 1 - single.compute()["invariance"]}
    assert got["result"].keys() == set(CLASSES)  # type: ignore[union-attr]
    for key, value in got["result"].items():  # type: ignore[union-attr]
        assert value == pytest.approx(expected[key], rel=1e-12, abs=0), key
    assert got["local_n"] == 750 and got["groups"] == 1


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_to_cuda_moves_every_state_and_keeps_the_dtypes() -> None:
    model = CountingModel()
    images, labels = torch.rand(24, 3, 8, 8), torch.arange(24) % 3
    on_cpu = L2Ratio("rotation")
    on_cpu.update(model, images, labels)
    metric = L2Ratio("rotation").to("cuda")
    metric.update(model.cuda(), images, labels)  # the images go where the model is; the state where the metric is
    assert metric.sums.device.type == "cuda" and metric.sums.dtype == torch.float64
    assert metric.clean[0].device.type == "cuda" and metric.ids[0].dtype == torch.int64
    value = metric.compute()
    assert value.device.type == "cuda" and float(value) == pytest.approx(float(on_cpu.compute()), rel=1e-4)
    assert metric.to("cpu").sums.device.type == "cpu"
