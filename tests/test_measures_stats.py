"""tmeasures' per-unit measures (streaming) and CKA: brute-force references and constructed known answers."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy import stats

from invmeter.errors import DataError, InvalidParameterError
from invmeter.metrics.cka import (
    CKAStats,
    CountSketch,
    cka_leave_one_out,
    jackknife_interval,
    linear_cka,
    pseudo_values,
)
from invmeter.metrics import unit_measures
from invmeter.metrics.unit_measures import UnitStats, _floor_float32

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))  # tmeasures' compatibility: tooling
from tmeasures_compat import feed_pairs, goodfellow_tmeasures, normalized_variance  # noqa: E402

Z99 = stats.norm.ppf(0.99)


def pairs(n: int = 60, shape: tuple[int, ...] = (3, 4, 5), seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Clean activations with a large offset (5) and transformed ones that partly follow them."""
    gen = torch.Generator().manual_seed(seed)
    clean = 5.0 + torch.randn(n, *shape, generator=gen)
    transformed = 0.7 * clean + 1.5 + 0.5 * torch.randn(n, *shape, generator=gen)
    return clean, transformed


def fed(clean: torch.Tensor, transformed: torch.Tensor, sizes: tuple[int, ...] = (7, 13, 1, 19), **kwargs) -> UnitStats:
    s = UnitStats(**kwargs)
    start = 0
    for b in (*sizes, len(clean)):
        s.update(clean[start : start + b], transformed[start : start + b])
        start += b
        if start >= len(clean):
            break
    return s


def test_variances_and_anova_match_brute_force_over_uneven_batches() -> None:
    clean, transformed = pairs()
    s = fed(clean, transformed)
    c, t = clean.double(), transformed.double()
    tv = (c - t).abs().mean(dim=0) / math.sqrt(2)  # std over the 2 views (ddof 1), mean over images
    sv = (c.std(dim=0) + t.std(dim=0)) / 2  # std over images (ddof 1), mean over the 2 views
    assert torch.allclose(s.transformation_variance(), tv, rtol=1e-6)
    assert torch.allclose(s.sample_variance(), sv, rtol=1e-6)
    assert torch.allclose(s.normalized_variance(), tv / sv, rtol=1e-6)
    f = stats.f_oneway(c.flatten(1).numpy(), t.flatten(1).numpy(), axis=0).statistic
    assert np.allclose(s.anova_f().flatten().numpy(), f, rtol=1e-6)
    per_channel = tv.mean(dim=(1, 2)) / sv.mean(dim=(1, 2))  # tmeasures' AverageFeatureMaps
    assert torch.allclose(normalized_variance(s, per="channel"), per_channel, rtol=1e-6)


def test_channels_last_maps_give_the_same_per_unit_values_as_contiguous_ones() -> None:
    clean, transformed = pairs(n=40, shape=(3, 4, 5))
    fmt = torch.channels_last
    plain, last = fed(clean, transformed), fed(clean.contiguous(memory_format=fmt), transformed.contiguous(memory_format=fmt))
    assert last._order == (2, 3, 1) and plain._order == (1, 2, 3)
    for name in ("transformation_variance", "sample_variance", "normalized_variance", "anova_f", "thresholds"):
        assert torch.allclose(getattr(last, name)(), getattr(plain, name)(), rtol=1e-6), name
    thresholds = plain.thresholds()
    counts = [fed(x, y, thresholds=thresholds).fires for x, y in ((clean, transformed), (clean.contiguous(memory_format=fmt), transformed.contiguous(memory_format=fmt)))]
    assert torch.equal(counts[0], counts[1]) and torch.equal(counts[0][0], (clean > thresholds).sum(0).double())


def test_normalized_variance_known_answers() -> None:
    clean, _ = pairs(n=400, shape=(2000,))
    assert float(fed(clean, clean).normalized_variance().abs().max()) == 0.0  # invariant
    gen = torch.Generator().manual_seed(1)
    resampled = 5.0 + torch.randn(clean.shape, generator=gen)  # the "transform" draws a new, independent value
    nv = fed(clean, resampled).normalized_variance()
    # Mean of the 2-view std is c4(2)·sigma = sqrt(2/pi)·sigma: the fully variant level of paired views.
    assert float(nv.mean()) == pytest.approx(math.sqrt(2 / math.pi), abs=0.01)
    flat = torch.full_like(clean[:64, :50], 7.3)  # a constant view (a rotated image's zero-filled corner)
    sv = fed(clean[:64, :50], flat).sample_variance()
    assert torch.allclose(sv, clean[:64, :50].double().std(dim=0) / 2, rtol=1e-6)  # its std is exactly 0
    const = torch.ones(10, 2)
    shifted = const.clone()
    shifted[:, 1] += 1
    assert fed(const, shifted, sizes=(4,)).normalized_variance().tolist() == [1.0, math.inf]  # 0/0 = 1, x/0 = inf


def test_anova_variant_is_an_upper_tail_bonferroni_test() -> None:
    clean, _ = pairs(n=200, shape=(50,))
    gen = torch.Generator().manual_seed(2)
    transformed = 5.0 + torch.randn(clean.shape, generator=gen)
    transformed[:, :10] += 1.0  # these units' means move by one standard deviation
    s = fed(clean, transformed)
    p = stats.f.sf(s.anova_f().numpy(), 1, 2 * 200 - 2)
    assert s.anova_variant(alpha=0.99).tolist() == (p < 0.01 / 50).tolist()
    assert s.anova_variant(alpha=0.99, bonferroni=False).tolist() == (p < 0.01).tolist()
    assert bool(s.anova_variant()[:10].all()) and int(s.anova_variant()[10:].sum()) == 0


@pytest.mark.parametrize("fmt", [torch.contiguous_format, torch.channels_last])
def test_blocks_of_units_give_the_values_of_one_block(monkeypatch: pytest.MonkeyPatch, fmt: torch.memory_format) -> None:
    """On a CPU, update() runs over blocks of units that fit the cache: blocks of 1 to 5 units (uneven last
    blocks, a batch split at the calibration count) give every per-unit value and count of a single block."""
    clean, transformed = (x.contiguous(memory_format=fmt) for x in pairs(n=60, shape=(3, 4, 5)))
    whole = fed(clean, transformed, calibration=20)
    given = fed(clean, transformed, thresholds=whole.thresholds())
    monkeypatch.setattr(unit_measures, "_BLOCK_BYTES", 3 * 4 * 5)  # 5 // B units per block: 1 for B > 2
    blocks = fed(clean, transformed, calibration=20)
    assert unit_measures._block_units(1, clean.flatten(1)) == 5 and unit_measures._block_units(13, clean.flatten(1)) == 1
    for name in ("transformation_variance", "sample_variance", "normalized_variance", "anova_f", "thresholds",
                 "goodfellow"):
        torch.testing.assert_close(getattr(blocks, name)(), getattr(whole, name)(), rtol=1e-6, atol=1e-9,
                                   equal_nan=True, msg=name)
    assert torch.equal(blocks.fires, whole.fires) and blocks.n_counted == whole.n_counted == 40
    assert torch.equal(fed(clean, transformed, thresholds=whole.thresholds()).fires, given.fires)


def test_goodfellow_with_given_thresholds_matches_brute_force() -> None:
    clean, transformed = pairs(n=300, shape=(40,))
    first = fed(clean, transformed)
    thresholds = first.thresholds()
    c = clean.double()
    assert torch.allclose(thresholds, c.mean(dim=0) + Z99 * c.std(dim=0), rtol=1e-6)
    s = fed(clean, transformed, thresholds=thresholds)
    fire_c, fire_t = clean > thresholds, transformed > thresholds
    g = fire_c.double().mean(dim=0)
    local = (fire_c & fire_t).double().mean(dim=0) / g
    assert torch.allclose(s.goodfellow(), local / g, equal_nan=True)
    assert torch.allclose(goodfellow_tmeasures(s), (fire_c.double().mean(0) + fire_t.double().mean(0)) / 2 / g, equal_nan=True)
    neg = fed(clean, transformed, thresholds=fed(clean, transformed, sign=-1).thresholds(), sign=-1)
    assert torch.allclose(neg.fires[0] / 300, (-clean > -c.mean(0) + Z99 * c.std(0)).double().mean(0))


def test_goodfellow_conditions_on_firing_where_tmeasures_cannot_tell_a_permutation_from_invariance() -> None:
    clean, _ = pairs(n=2000, shape=(30,))
    thresholds = fed(clean, clean).thresholds()
    invariant = fed(clean, clean, thresholds=thresholds)
    permuted = fed(clean, clean.roll(1, dims=0), thresholds=thresholds)  # every image's "view" is another image
    g = invariant.fires[0] / 2000
    assert torch.allclose(invariant.goodfellow(), 1 / g)  # L = 1: fires on t(x) whenever it fires on x
    assert float(permuted.goodfellow().mean()) < 3.0 < 30.0 < float(invariant.goodfellow().mean())
    assert torch.equal(goodfellow_tmeasures(permuted), goodfellow_tmeasures(invariant))  # both exactly 1


def test_one_pass_thresholds_come_from_the_calibration_images_and_are_not_counted() -> None:
    clean, transformed = pairs(n=64, shape=(12,))
    s = UnitStats(calibration=20)
    for start in range(0, 64, 8):
        s.update(clean[start : start + 8], transformed[start : start + 8])
    head = clean[:20].double()  # 20 images end inside the 3rd batch of 8: that batch is split there
    thr = head.mean(0) + Z99 * head.std(0)
    assert s.n_counted == 44
    fire_c, fire_t = clean[20:] > thr, transformed[20:] > thr
    assert torch.equal(s.fires[0], fire_c.sum(0).double()) and torch.equal(s.fires[2], (fire_c & fire_t).sum(0).double())
    whole = UnitStats(calibration=20)  # the same images in one batch: the same thresholds and counts
    whole.update(clean, transformed)
    assert torch.allclose(whole.thresholds(), s.thresholds(), rtol=1e-6) and torch.equal(whole.fires, s.fires)
    short = UnitStats(calibration=20)
    short.update(clean[:16], transformed[:16])
    with pytest.raises(DataError, match="calibration"):
        short.goodfellow()


def test_float32_threshold_compares_like_the_float64_one() -> None:
    gen = torch.Generator().manual_seed(0)
    t64 = torch.randn(5000, generator=gen, dtype=torch.float64)
    t32 = t64.float()
    x = torch.cat([t32, torch.nextafter(t32, t32 + 1), torch.nextafter(t32, t32 - 1)])
    thr = _floor_float32(t64).repeat(3)
    assert torch.equal(x > thr, x.double() > t64.repeat(3))


def test_unit_stats_errors() -> None:
    clean, transformed = pairs(n=4)
    with pytest.raises(InvalidParameterError, match="one shape"):
        UnitStats().update(clean, transformed[:, :2])
    s = UnitStats()
    s.update(clean[:1], transformed[:1])
    with pytest.raises(DataError, match="at least 2"):
        s.sample_variance()
    with pytest.raises(InvalidParameterError, match="changed shape"):
        s.update(clean[:, :2], transformed[:, :2])
    with pytest.raises(InvalidParameterError, match="per must be"):
        normalized_variance(fed(clean, transformed), per="pixel")
    with pytest.raises(InvalidParameterError, match="sign"):
        UnitStats(sign=0)


def test_feed_pairs_splits_each_layer_output_into_its_two_views() -> None:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.ReLU(inplace=True), torch.nn.Linear(5, 3))
    x, xt = torch.randn(10, 6), torch.randn(10, 6)
    acc = {"0": [UnitStats(), CKAStats()], "2": CKAStats()}
    with torch.inference_mode(), feed_pairs(model, acc):
        model(torch.cat([x[:4], xt[:4]]))
        model(torch.cat([x[4:], xt[4:]]))
    with torch.no_grad():
        a, b = model[0](x), model[0](xt)  # pre-ReLU: read before the in-place ReLU overwrites it
    assert torch.allclose(acc["0"][0].transformation_variance(), (a - b).abs().mean(0).double() / math.sqrt(2), rtol=1e-5)
    assert acc["0"][1].result()[0] == pytest.approx(linear_cka(a, b), rel=1e-6)
    assert acc["2"].result()[0] == pytest.approx(linear_cka(model(x).detach(), model(xt).detach()), rel=1e-6)
    with pytest.raises(InvalidParameterError, match="No module named 'fc'"):
        with feed_pairs(model, {"fc": UnitStats()}):
            pass


# -------------------------------------------------------------------------------------------------------- CKA


def test_cka_known_answers_and_invariances() -> None:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(40, 6, generator=gen, dtype=torch.float64)
    q, _ = torch.linalg.qr(torch.randn(6, 6, generator=gen, dtype=torch.float64))
    for debiased in (True, False):
        assert linear_cka(x, x, debiased=debiased) == pytest.approx(1.0, abs=1e-12)
        y = x @ torch.randn(6, 6, generator=gen, dtype=torch.float64) + torch.randn(40, 6, generator=gen, dtype=torch.float64)
        base = linear_cka(x, y, debiased=debiased)
        assert linear_cka(3.0 * x @ q + 7.0, y, debiased=debiased) == pytest.approx(base, abs=1e-12)
        assert linear_cka(x, 0.1 * y @ q, debiased=debiased) == pytest.approx(base, abs=1e-12)
        assert linear_cka(x * torch.tensor([1.0, 5, 1, 1, 1, 1], dtype=torch.float64), y, debiased=debiased) != pytest.approx(base, abs=1e-3)


def test_debiased_cka_of_independent_representations_is_near_zero_where_biased_is_not() -> None:
    gen = torch.Generator().manual_seed(0)
    values = {True: [], False: []}
    for _ in range(10):
        a, b = torch.randn(100, 200, generator=gen), torch.randn(100, 200, generator=gen)
        for debiased in values:
            values[debiased].append(linear_cka(a, b, debiased=debiased))
    assert abs(np.mean(values[True])) < 0.01 and np.std(values[True]) < 0.02
    assert np.mean(values[False]) > 0.5  # the biased estimator's floor with N = 100 images in 200 dimensions


@pytest.mark.parametrize("debiased", [True, False])
def test_leave_one_out_values_equal_refits_and_give_an_interval(debiased: bool) -> None:
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(25, 4, generator=gen, dtype=torch.float64)
    y = x + 0.8 * torch.randn(25, 4, generator=gen, dtype=torch.float64)
    value, loo = cka_leave_one_out(x, y, debiased=debiased)
    keep = lambda i: torch.arange(25) != i  # noqa: E731
    refits = [linear_cka(x[keep(i)], y[keep(i)], debiased=debiased) for i in range(25)]
    assert value == pytest.approx(linear_cka(x, y, debiased=debiased), abs=1e-12)
    assert np.allclose(loo, refits, atol=1e-12)
    lo, hi = jackknife_interval(value, loo)
    se = math.sqrt(24 / 25 * ((loo - loo.mean()) ** 2).sum())
    assert (lo, hi) == pytest.approx((value - 1.959964 * se, value + 1.959964 * se))
    assert pseudo_values(value, loo).mean() == pytest.approx(25 * value - 24 * loo.mean())


def test_cka_errors_on_degenerate_input() -> None:
    x = torch.randn(10, 3)
    with pytest.raises(DataError, match="constant"):
        linear_cka(x, torch.ones(10, 3))
    with pytest.raises(DataError, match="at least 5"):
        linear_cka(x[:4], x[:4])
    with pytest.raises(DataError, match="NaN"):
        linear_cka(x, x / 0.0)
    with pytest.raises(InvalidParameterError, match="same N"):
        linear_cka(x, x[:5])


def test_count_sketch_preserves_inner_products_and_cka_of_large_layers() -> None:
    gen = torch.Generator().manual_seed(0)
    a, b = torch.randn(2, 3000, generator=gen)
    estimates = [float(CountSketch(3000, 256, seed)(torch.stack([a, b])).prod(0).sum()) for seed in range(300)]
    assert np.mean(estimates) == pytest.approx(float(a @ b), abs=4 * np.std(estimates) / math.sqrt(300))
    latent = torch.randn(120, 30, generator=gen)
    mix = torch.randn(30, 20000, generator=gen)
    clean = torch.relu(latent @ mix) + 3.0  # a large common mean, as post-ReLU features have
    transformed = torch.relu((latent + 0.7 * torch.randn(120, 30, generator=gen)) @ mix) + 3.0
    acc = CKAStats(sketch_dim=4096, seed=0)
    for start in range(0, 120, 32):
        acc.update(clean[start : start + 32], transformed[start : start + 32])
    assert acc.sketch is not None and torch.cat(acc.clean).shape == (120, 4096)
    assert acc.result()[0] == pytest.approx(linear_cka(clean, transformed), abs=0.02)
