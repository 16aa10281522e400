"""Learned invariance (the gain over the architecture's random initialisations): its reduction against a reference
two-level bootstrap, its degenerate cases, ``score --baseline random-init``, the board's default rank, and one
baseline per architecture and settings in a zoo."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file
from torch import nn

import invmeter
from invmeter.api import resolve_model
from invmeter.errors import InvalidParameterError
from invmeter.leaderboard.ranking import default_rank
from invmeter.metrics import compute_metrics
from invmeter.metrics.bootstrap import percentile_ci, resample_weights
from invmeter.metrics.context import metric_rng, reduce_terms
from invmeter.metrics.reductions import BASELINE_NO_REFERENCE_MOVE, INVARIANT_AT_INIT, get_reduction, init_counts
from invmeter.models import load_model, random_init_copy
from invmeter.types import Representations

N, K = 200, 3
SMALL = {"image_size": 32, "n_images": 24, "n_classes": 3, "n_boot": 200}


def _terms(scales: tuple[float, ...], seed: int = 0) -> dict[str, np.ndarray]:
    """A model with ratio 0.3 and K initialisations with ratios ``scales`` (per-image noise on each)."""
    rng = np.random.default_rng(seed)
    r = rng.uniform(1.0, 2.0, N)
    return {"d": 0.3 * r * rng.uniform(0.7, 1.3, N), "r": r,
            "d0": np.stack([s * r * rng.uniform(0.7, 1.3, N) for s in scales]), "r0": np.stack([r] * len(scales))}


def test_the_gain_is_its_definition_and_its_interval_includes_the_spread_over_initialisations() -> None:
    terms = _terms((0.4, 0.5, 0.6))
    rho = terms["d"].sum() / terms["r"].sum()
    rho0 = np.mean([d.sum() / r.sum() for d, r in zip(terms["d0"], terms["r0"])])
    value = reduce_terms("learned_invariance", terms, n_boot=2000, rng=metric_rng(0, "learned_invariance"))
    assert value.value == pytest.approx(1 - rho / rho0, abs=1e-12)
    assert value.value == pytest.approx(((1 - rho) - (1 - rho0)) / (1 - (1 - rho0)), abs=1e-12)  # (inv-inv0)/(1-inv0)
    w = resample_weights(N, 2000, metric_rng(0, "learned_invariance"))  # the reference: images, then initialisations
    per_init = (w @ terms["d0"].T) / (w @ terms["r0"].T)
    reference = 1 - (w @ terms["d"] / (w @ terms["r"])) / ((init_counts(2000, K) * per_init).sum(axis=1) / K)
    assert value.ci95 == pytest.approx(percentile_ci(reference, estimate=value.value), abs=1e-12)
    alike = reduce_terms("learned_invariance", _terms((0.5, 0.5, 0.5)), n_boot=2000,
                         rng=metric_rng(0, "learned_invariance"))
    assert np.diff(value.ci95)[0] > 1.5 * np.diff(alike.ci95)[0]  # the initialisations' spread widens it
    counts = init_counts(2000, K)
    assert (counts.sum(axis=1) == K).all() and np.array_equal(counts, init_counts(2000, K))  # a fixed stream


def test_a_gain_without_a_value_says_why() -> None:
    terms = _terms((0.4, 0.5, 0.6))
    gain = get_reduction("gain")
    assert gain.why_undefined({**terms, "d0": np.zeros((K, N))}) == INVARIANT_AT_INIT
    assert gain.why_undefined({**terms, "r0": np.zeros((K, N))}) == BASELINE_NO_REFERENCE_MOVE
    with pytest.raises(InvalidParameterError, match="one row per random initialisation"):
        gain.arrays({**terms, "d0": terms["d0"][:, :-1]})


def _conv() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(2), nn.Flatten())


def test_score_with_a_baseline_reports_the_gain_over_separately_scored_initialisations() -> None:
    handle = resolve_model(_conv(), invmeter.ScoreSettings(image_size=32, mean=(0.5,), std=(0.5,)))
    both = "invariance,paired_distance_ratio"  # the paper's ratio is off by default; its gain comes beside it
    report = invmeter.score(handle, "rotation", baseline="random-init", baseline_inits=2, metrics=both, **SMALL)
    copies = [invmeter.score(random_init_copy(handle, seed=k), "rotation", metrics=both, **SMALL) for k in (0, 1)]
    for raw, gain, invariant in (("invariance", "learned_invariance", 1.0),
                                 ("paired_distance_ratio", "learned_paired_distance_ratio", 0.0)):
        base = np.mean([c[raw] for c in copies])
        assert report[gain] == pytest.approx((report[raw] - base) / (invariant - base), abs=1e-9)
        assert report.baseline.inits.metrics[raw].mean == pytest.approx(base, abs=1e-12)
    assert report.baseline.inits.seeds == (0, 1) and report.baseline.model["weights"] == "random-init"
    assert "random-init (2 inits)" in report.to_table()
    assert invmeter.Report.from_dict(report.to_dict()).to_dict() == report.to_dict()
    with pytest.raises(InvalidParameterError, match="learned_invariance metric needs the architecture's random init"):
        invmeter.score(handle, "rotation", metrics="learned_invariance", **SMALL)
    alone = invmeter.score(handle, "rotation", metrics="learned_invariance", baseline="random-init", baseline_inits=2,
                           **SMALL)
    assert list(alone.metrics) == ["learned_invariance"] and alone["learned_invariance"] == report["learned_invariance"]
    reps = Representations(torch.rand(8, 4), torch.rand(8, 4), None, None, None, "test")
    with pytest.raises(InvalidParameterError, match="need the architecture's random initialisations"):
        compute_metrics(reps, metrics=["learned_invariance"])


def _record(model: str, weights: str, baseline_id: str) -> dict:
    return {"model": model, "weights": weights, "transform": "hflip", "status": "ok", "reason": None,
            "metrics": {"invariance": {"value": 0.5, "ci95": None, "reason": None},
                        "learned_invariance": {"value": 0.1, "ci95": None, "reason": None}},
            "meta": {"baseline_id": baseline_id}}


def test_the_board_ranks_by_the_gain_when_its_ranked_models_do_not_share_a_baseline() -> None:
    one_arch = [_record("a", "file:a", "x"), _record("b", "file:b", "x"), _record("r", "random-init", "y")]
    assert default_rank(one_arch) == "invariance"  # one baseline: raw invariance orders them the same way
    assert default_rank([*one_arch, _record("c", "file:c", "z")]) == "learned_invariance"
    assert default_rank([_record("r", "random-init", "y"), _record("s", "random-init", "z")]) == "invariance"


def test_two_weights_of_one_architecture_share_one_baseline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from invmeter.pipeline import baseline

    measured = []
    real = baseline.measure_baseline
    monkeypatch.setattr(baseline, "measure_baseline", lambda plan, seed: measured.append(1) or real(plan, seed=seed))
    for k in (1, 2):
        model = load_model("cifar:vgg11?width=0.125", weights="random", init_seed=10 + k).model
        save_file({n: t.contiguous() for n, t in model.state_dict().items()}, str(tmp_path / f"w{k}.safetensors"))
    models = [invmeter.ZooModel(f"w{k}", "cifar:vgg11?width=0.125", weights=str(tmp_path / f"w{k}.safetensors"))
              for k in (1, 2)]
    rows = invmeter.zoo(models, ["hflip"], out=tmp_path / "z", **SMALL)
    assert len(measured) == 1 and len(list((tmp_path / "z" / "baselines").glob("*.json"))) == 1
    (a, b) = (r["report"]["baseline"] for r in rows)
    assert a == b and rows[0]["meta"]["baseline_id"] == rows[1]["meta"]["baseline_id"]
