"""invmeter.functional: each function equals the batch pipeline (compute_metrics) on the same representations."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from invmeter import functional as F
from invmeter.data import Transforms2D, Transforms2DPairs
from invmeter.errors import DataError, InvalidParameterError, UndefinedMetricWarning
from invmeter.metrics import compute_metrics
from invmeter.models import wrap_module
from invmeter.pipeline.extract import extract
from invmeter.transforms import parse_transform
from invmeter.types import Representations


@pytest.fixture(scope="module")
def reps() -> Representations:
    """Real representations: a seeded conv classifier on 48 Transforms-2D pairs (4 classes, rotation, twins)."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(32, 4))
    pairs = Transforms2DPairs(Transforms2D(objects=(0, 1, 2, 3), image_size=16), parse_transform("rotation"), 48, seed=0)
    out = extract(wrap_module(net, image_size=16), pairs, device="cpu")
    assert out.reference is not None and out.logits_clean is not None
    return out


def _batch(reps: Representations, metric: str, seed: int = 0, **kwargs: object) -> float:
    return compute_metrics(reps, metrics=[metric], seed=seed, n_boot=0, **kwargs)[metric].value  # type: ignore[arg-type]


def test_invariance_with_references_equals_the_batch_pipeline(reps: Representations) -> None:
    assert reps.reference is not None
    value = F.invariance(reps.clean, reps.transformed, reps.clean[reps.reference])
    assert value == _batch(reps, "invariance")
    ratio = F.paired_distance_ratio(reps.clean, reps.transformed, reps.clean[reps.reference])
    assert ratio == pytest.approx(1.0 - value, abs=1e-15)


@pytest.mark.parametrize("seed", [0, 3])
def test_invariance_with_random_references_equals_the_batch_pipeline(reps: Representations, seed: int) -> None:
    """Without references both draw the same seeded derangement (the metric's own stream, MetricContext.rng)."""
    no_ref = Representations(reps.clean, reps.transformed, reps.labels, None, None, "x", {}, {})
    from invmeter.metrics.context import stream_id

    value = F.invariance(reps.clean, reps.transformed, generator=np.random.default_rng([seed, stream_id("invariance")]))
    assert value == _batch(no_ref, "invariance", seed)
    assert value != F.invariance(reps.clean, reps.transformed, generator=np.random.default_rng([seed + 1, 2]))


def test_l2_ratio_and_consistency_equal_the_batch_pipeline(reps: Representations) -> None:
    assert F.l2_ratio(reps.transformed, reps.labels) == _batch(reps, "l2_ratio")
    assert reps.logits_clean is not None and reps.logits_transformed is not None
    value = F.consistency(reps.logits_clean, reps.logits_transformed)
    assert value == _batch(reps, "consistency", model_labels=reps.labels.numpy())
    assert 0.0 < value < 1.0  # the constructed case is not trivial


def test_known_answers() -> None:
    g = torch.Generator().manual_seed(0)
    z = torch.randn(400, 32, generator=g)
    assert F.invariance(z, z) == 1.0 and F.paired_distance_ratio(z, z) == 0.0
    assert abs(F.invariance(z, torch.randn(400, 32, generator=g))) < 0.1  # independent: moves like another image
    assert F.invariance(z, z, -z) == 1.0
    labels = torch.arange(400) % 4
    centres = torch.randn(4, 32, generator=g) * 100
    assert F.l2_ratio(centres[labels] + torch.randn(400, 32, generator=g), labels) > 10  # far-apart classes
    points = torch.tensor([[0.0, 0.0], [0.0, 0.0], [1.0, 1.0], [1.0, 1.0]])
    with pytest.warns(UndefinedMetricWarning, match="every class collapses"):  # undefined, as in a report
        assert np.isnan(F.l2_ratio(points, torch.tensor([0, 0, 1, 1])))  # every class a single point
    logits = torch.tensor([[1.0, 0.0], [0.0, 1.0], [2.0, 1.0], [0.0, 3.0]])
    assert F.consistency(logits, logits.flip(1)) == 0.0 and F.consistency(logits, logits * 2) == 1.0


def test_degenerate_inputs() -> None:
    z = torch.randn(10, 4)
    bad = z.clone()
    bad[3, 1] = float("nan")
    for call in (lambda: F.invariance(bad, z), lambda: F.invariance(z, z, bad.exp() * float("inf")),
                 lambda: F.l2_ratio(bad, torch.arange(10) % 2), lambda: F.consistency(bad, z)):
        with pytest.raises(DataError, match="NaN or Inf"):
            call()
    constant = torch.ones(10, 4)
    with pytest.warns(UndefinedMetricWarning, match="clean images are identical for every image"):
        assert np.isnan(F.invariance(constant, z))  # a constant representation: the report's reason
    with pytest.warns(UndefinedMetricWarning, match="does not move the representation"):
        assert np.isnan(F.paired_distance_ratio(z, z, z))
    with pytest.raises(InvalidParameterError, match="same shape"):
        F.invariance(z, z[:5])
    with pytest.raises(InvalidParameterError, match="2-D"):
        F.invariance(z.flatten(), z.flatten())
    with pytest.raises(DataError, match="at least 2"):
        F.invariance(z[:1], z[:1])
    with pytest.raises(DataError, match="at least 2 classes"):
        F.l2_ratio(z, torch.zeros(10, dtype=torch.int64))
    with pytest.raises(InvalidParameterError, match="integer class"):
        F.l2_ratio(z, torch.zeros(10))
