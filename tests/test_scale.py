"""Metrics at scale: the blocked computations equal the one-piece ones, and the sampled pairwise metric
(``l2_ratio`` above its registry :class:`PairSample`) agrees with the exact value within its reported interval."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

import invmeter
from invmeter.metrics import MetricContext, functional as F, get_metric, registry
from invmeter.metrics.bootstrap import resample_blocks, resample_weights
from invmeter.metrics.distances import class_distance_sums, l2_ratio_from_sums
from invmeter.metrics.invariance import paired_distances
from invmeter.metrics.registry import PairSample
from invmeter.types import Representations


def _reps(n: int, d: int = 8, k: int = 5, seed: int = 0) -> Representations:
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % k
    clean = 0.8 * torch.randn(k, d, generator=g)[labels] + torch.randn(n, d, generator=g)
    transformed = clean + 0.5 * torch.randn(n, d, generator=g)
    return Representations(clean, transformed, labels, None, None, layer="test")


@pytest.fixture
def small_sample(monkeypatch: pytest.MonkeyPatch) -> PairSample:
    """l2_ratio sampling 150 images, so the sampled path runs on small N."""
    sample = PairSample(max_images=150)
    metric = dataclasses.replace(get_metric("l2_ratio"), pairs=sample)
    monkeypatch.setitem(registry._REGISTRY, "l2_ratio", metric)
    return sample


@pytest.mark.parametrize(("n", "n_boot", "block"), [(7, 11, 14), (8, 11, 24), (30, 5, 1), (5, 0, 10)])
def test_bootstrap_blocks_draw_the_counts_of_one_piece(n: int, n_boot: int, block: int) -> None:
    rng = np.random.default_rng(3)
    draws = rng.integers(0, n, size=(n_boot, n)) + n * np.arange(n_boot)[:, None]  # the one-piece reference
    expected = np.bincount(draws.ravel(), minlength=n_boot * n).reshape(n_boot, n)
    blocks = list(resample_blocks(n, n_boot, np.random.default_rng(3), block_values=block))
    assert all(len(b) == max(1, block // n) for b in blocks[:-1])
    got = np.concatenate(blocks) if blocks else np.zeros((0, n))
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(resample_weights(n, n_boot, np.random.default_rng(3)), expected)


def test_paired_distances_in_blocks_equal_one_piece(monkeypatch: pytest.MonkeyPatch) -> None:
    a, b = torch.randn(1001, 6), torch.randn(1001, 6)
    b[5] = a[5]
    expected = torch.linalg.vector_norm(a.double() - b.double(), dim=1).numpy()
    monkeypatch.setattr("invmeter.metrics.invariance.ROWS_PER_BLOCK", 64)
    got = paired_distances(a, b)
    np.testing.assert_array_equal(got, expected)
    assert got[5] == 0.0


def test_pair_sample_draws_nothing_up_to_its_size() -> None:
    sample = PairSample(max_images=100)
    rng = np.random.default_rng(0)
    assert sample.indices(100, rng) is None and sample.describe(100).startswith("exact: every pair of the 100")
    keep = sample.indices(1000, rng)
    assert keep is not None and len(keep) == 100 == len(np.unique(keep)) and (np.diff(keep) > 0).all()
    assert keep.max() < 1000 and sample.describe(1000).startswith("sampled: every pair among a seeded sample of 100")


def test_l2_ratio_is_exact_below_its_pair_sample() -> None:
    reps = _reps(300)
    exact = l2_ratio_from_sums(class_distance_sums(reps.transformed, reps.labels))
    ctx = MetricContext(reps, seed=0, n_boot=200)
    assert ctx.evaluate(["l2_ratio"])["l2_ratio"].value == pytest.approx(exact, rel=1e-12)
    assert ctx.sampling == {"l2_ratio": "exact: every pair of the 300 images"}


def test_sampled_sums_are_the_sampled_images_all_pairs() -> None:
    reps = _reps(200)
    keep = np.array([3, 10, 11, 50, 120, 121, 122, 199])
    part = class_distance_sums(reps.transformed[keep], reps.labels[keep])
    full = class_distance_sums(reps.transformed, reps.labels, keep=keep)
    others = np.setdiff1d(np.arange(200), keep)
    for name in ("within", "between", "n_within", "n_between"):
        np.testing.assert_array_equal(getattr(full, name)[keep], getattr(part, name))
        assert (getattr(full, name)[others] == 0).all()


def test_sampled_l2_ratio_interval_covers_the_exact_value(small_sample: PairSample) -> None:
    """On 1,500 images sampled down to 150, the exact all-pairs value lies inside the reported 95% interval for
    nearly every seed (the interval is the sample's: it carries the sampling error), and the samples differ."""
    reps = _reps(1500, d=8, k=5)
    exact = l2_ratio_from_sums(class_distance_sums(reps.transformed, reps.labels))
    covered, values = 0, set()
    for seed in range(40):
        ctx = MetricContext(reps, seed=seed, n_boot=400)
        v = ctx.evaluate(["l2_ratio"])["l2_ratio"]
        lo, hi = v.ci95
        covered += lo <= exact <= hi
        values.add(round(v.value, 12))
        assert ctx.sampling["l2_ratio"] == small_sample.describe(1500)
        assert v.value != pytest.approx(exact, rel=1e-9)  # a sample, not the exact value
        # the functional API with the same seed draws the same sample: the same value
        assert F.l2_ratio(reps.transformed, reps.labels, seed=seed) == pytest.approx(v.value, rel=1e-12)
    assert covered >= 34  # 95% nominal: 34 of 40 or more has probability > 0.95 even at 90% coverage
    assert len(values) == 40


def test_sampled_l2_ratio_is_deterministic_in_its_seed(small_sample: PairSample) -> None:
    reps = _reps(600)
    a = MetricContext(reps, seed=4, n_boot=100).evaluate(["l2_ratio"])["l2_ratio"]
    b = MetricContext(reps, seed=4, n_boot=100).evaluate(["l2_ratio"])["l2_ratio"]
    assert (a.value, a.ci95) == (b.value, b.ci95)


def test_the_record_says_how_the_pairs_were_visited(counting_model, small_sample: PairSample) -> None:
    exact = invmeter.score(counting_model, "rotation", image_size=16, n_classes=4, n_images=40, n_boot=50)
    assert exact.provenance["pairs"] == {"l2_ratio": "exact: every pair of the 40 images"}
    sampled = invmeter.score(counting_model, "rotation", image_size=16, n_classes=4, n_images=200, n_boot=50)
    assert sampled.provenance["pairs"] == {"l2_ratio": small_sample.describe(200)}
    assert sampled.provenance["pairs"]["l2_ratio"].startswith("sampled: every pair among a seeded sample of 150")
