"""``invmeter select``: the done-when command offline at tiny size, one clean pass per model plus the transforms'
passes, the combined rule and its reasons, the fine-tuned ground truth and its τ, the outputs and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from scipy.stats import kendalltau, weightedtau
from torch import nn

import invmeter
from conftest import CountingModel
from invmeter.cli import cli
from invmeter.errors import DataError, InvalidParameterError
from invmeter.selection.evaluate import rank_correlation
from invmeter.selection.rule import RULE, rank_candidates

TINY = {"image_size": 16, "n_boot": 0, "mean": (0.5,), "std": (0.5,)}


def _images(n_per_class: int = 6, classes: int = 3, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Noise with a bright square whose colour channel is the class."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n_per_class * classes) % classes
    images = torch.rand(len(labels), 3, 16, 16, generator=g) * 0.3
    for i, c in enumerate(labels.tolist()):
        images[i, c, 4:12, 4:12] = 0.9
    return images, labels


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two tiny checkpoints of invmeter's trainer (16 px, 2 classes, one epoch): runs/{rotation,hflip}/."""
    root = tmp_path_factory.mktemp("runs")
    for t in ("rotation", "hflip"):
        config = invmeter.TrainConfig.for_transforms2d(transforms=t, classes=2, image_size=16, width=0.125, n_train=32,
                                                       n_val=8, n_test=8, epochs=1, batch_size=16)
        invmeter.train(config, out=root / t, cache=False)
    return root


@pytest.mark.filterwarnings("default::invmeter.errors.InvmeterWarning")  # offline: cifar:* are random-init, loudly
def test_the_command_ranks_cifar_architectures_and_checkpoints_with_reasons(runs: Path, photo_folder: Path,
                                                                            tmp_path: Path) -> None:
    """The issue's done-when: invmeter select 'cifar:*' runs/*/model.safetensors --data DIR -t rotation."""
    args = ["select", "cifar:*", str(runs / "*" / "model.safetensors"), "--data", str(photo_folder), "-t", "rotation",
            "--bootstrap", "0", "--out", str(tmp_path / "sel")]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    models = ["cifar:resnet18", "cifar:vgg11", "cifar:densenet121", str(runs / "hflip" / "model.safetensors"),
              str(runs / "rotation" / "model.safetensors")]
    assert all(f"] {m} [" in result.output or f" {m} [" in result.output for m in models)
    assert "5 of 5 models ranked" in result.output and "Nuisances (named for the target): rotation." in result.output
    assert result.output.count("    LogME ") == 5  # one reason line per model
    assert "the most invariant to rotation" in result.output and "less invariant to rotation than" in result.output
    saved = json.loads((tmp_path / "sel" / "selection.json").read_text())
    assert saved["schema_version"] == 1 and saved["rule"] == RULE and saved["nuisances"] == ["rotation"]
    assert [c["rank"] for c in saved["candidates"]] == [1, 2, 3, 4, 5]
    assert {"selection.csv", "selection.md", "selection.html"} <= {p.name for p in (tmp_path / "sel").iterdir()}


def test_each_model_sees_every_image_once_plus_once_per_transform(counting_model: CountingModel) -> None:
    images, labels = _images()
    selection = invmeter.select([counting_model], (images, labels), ["rotation", "hflip", "blur"], **TINY)
    assert counting_model.images_seen == (1 + 3) * len(labels)  # not 2 x 3 x N
    (row,) = selection.candidates
    assert row["meta"]["forward_passes"] == (1 + 3) * len(labels)
    for transform in ("rotation", "blur"):  # the first transform, and one that reused the clean views
        alone = invmeter.score(CountingModel(), transform, data=(images, labels), **TINY)
        assert row["invariance"][transform]["value"] == pytest.approx(alone["invariance"], abs=1e-12)
        assert row["accuracy_delta"][transform]["value"] == pytest.approx(alone["accuracy_delta"], abs=1e-12)
    assert row["estimators"]["clean_accuracy"]["value"] == pytest.approx(alone["clean_accuracy"], abs=1e-12)
    assert row["estimators"]["leep"]["value"] is not None  # the counting model has a classifier


def _row(model: str, logme: float, invariance: float, delta: float = 0.0) -> dict:
    return {"model": model, "weights": "as-given", "status": "ok", "reason": None,
            "estimators": {"logme": {"value": logme}}, "invariance": {"rotation": {"value": invariance}},
            "accuracy_delta": {"rotation": {"value": delta}}}


def test_the_combined_rule_and_the_reasons_on_a_constructed_case() -> None:
    """LogME -0.5, -0.6, -0.7 (z: 1.224745, 0, -1.224745) and invariance to rotation 0.1, 0.15, 0.9 (mean 0.383333,
    std 0.365908; z: -0.774328, -0.637682, 1.412010): combined A 0.225208, C 0.093633, B -0.318841. C climbs from
    LogME's 3rd; B drops behind it."""
    rows = [_row("A", -0.5, 0.1, -0.30), _row("B", -0.6, 0.15), _row("C", -0.7, 0.9),
            {"model": "D", "weights": "x", "status": "failed", "reason": "boom", "estimators": {}, "invariance": {},
             "accuracy_delta": {}}]
    ranked = rank_candidates(rows, ["rotation"])
    assert [r["model"] for r in ranked] == ["A", "C", "B", "D"]
    assert [r["combined"] for r in ranked[:3]] == pytest.approx([0.225208, 0.093633, -0.318841], abs=1e-6)
    reasons = {r["model"]: r["reasons"] for r in ranked}
    assert reasons["A"] == ("LogME 1st of 3; 0.80 less invariant to rotation than C (which the target has); "
                            "accuracy -0.30 under rotation")
    assert reasons["C"] == "LogME 3rd of 3, but the most invariant to rotation: up 1"
    assert reasons["B"] == "LogME 2nd of 3, but 0.75 less invariant to rotation than C (which the target has): down 1"
    assert ranked[3]["rank"] is None and reasons["D"] == "not ranked: failed (boom)"
    default = rank_candidates(rows, ["rotation"], given=False)
    assert "(a default nuisance)" in default[0]["reasons"]


def test_invariance_counts_by_how_reliably_the_models_differ_in_it() -> None:
    """Standard error 0.2 for each model's invariance (a 95% interval of ± 1.96 · 0.2) against a spread of variance
    0.133889: ρ = 1 − 0.04 / 0.133889 = 0.701245 and combined = (z(LogME) + ρ z(inv)) / 2 = A 0.340875, B -0.223586,
    C -0.117290. With standard errors of 1 the spread is noise: ρ = 0, LogME's order."""
    def noisy(se: float) -> list[dict]:
        rows = [_row("A", -0.5, 0.1), _row("B", -0.6, 0.15), _row("C", -0.7, 0.9)]
        for r in rows:
            v = r["invariance"]["rotation"]["value"]
            r["invariance"]["rotation"]["ci95"] = [v - 1.959963984540054 * se, v + 1.959963984540054 * se]
        return rows

    ranked = rank_candidates(noisy(0.2), ["rotation"])
    assert ranked[0]["invariance_weight"] == pytest.approx(0.701245, abs=1e-6)
    assert {r["model"]: r["combined"] for r in ranked} == pytest.approx(
        {"A": 0.340875, "B": -0.223586, "C": -0.117290}, abs=1e-6)
    pure_noise = rank_candidates(noisy(1.0), ["rotation"])
    assert [r["model"] for r in pure_noise] == ["A", "B", "C"] and pure_noise[0]["invariance_weight"] == 0.0


def test_rank_correlation_is_scipys_kendall_and_weighted_tau() -> None:
    scores, truth = [0.1, 0.4, 0.35, 0.8, None], [0.2, 0.3, 0.5, 0.9, 0.7]
    out = rank_correlation(scores, truth)
    assert out["n"] == 4
    assert out["kendall"] == pytest.approx(kendalltau(scores[:4], truth[:4]).statistic)
    assert out["weighted"] == pytest.approx(weightedtau(scores[:4], truth[:4]).statistic)
    assert rank_correlation([1.0, 1.0, 1.0], [0.1, 0.2, 0.3])["reason"].startswith("every model has the same estimator")
    assert rank_correlation([1.0, None], [0.1, 0.2])["kendall"] is None


def _blurry() -> nn.Module:
    """Features that see only a heavily pooled image: the square's colour survives, so it transfers."""
    torch.manual_seed(1)
    return nn.Sequential(nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(12, 6))


def _gray() -> nn.Module:
    """Features of the grey image: every class's square has the same brightness, so the classes look alike."""
    torch.manual_seed(2)
    return nn.Sequential(_Gray(), nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(4, 6))


class _Gray(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=1, keepdim=True)


def test_evaluate_fine_tunes_every_model_and_correlates_every_signal(tmp_path: Path) -> None:
    images, labels = _images(n_per_class=8)
    selection = invmeter.select([_blurry(), _gray()], (images, labels), ["hflip"], evaluate=True, out=tmp_path,
                                **TINY)
    assert selection.evaluation is not None
    by_model = {r["model"]: r for r in selection.candidates}
    good, bad = by_model["Sequential"], by_model["Sequential#2"]
    assert good["finetune"]["test_accuracy"] == 1.0 and bad["finetune"]["test_accuracy"] < 0.8
    assert good["finetune"]["n_train"] == 12 and good["finetune"]["n_test"] == 12
    assert selection.data["n_images"] == 12  # the estimators see the training half only
    assert selection.best == "Sequential"
    assert selection.evaluation["logme"]["kendall"] == 1.0 and selection.evaluation["logme"]["n"] == 2
    assert "Kendall τ" in (tmp_path / "selection.md").read_text()
    header = (tmp_path / "selection.csv").read_text().splitlines()[0].split(",")
    assert header[:4] == ["rank", "model", "weights", "status"] and "finetune_accuracy" in header
    assert "invariance/hflip" in header and "accuracy_delta/hflip" in header
    html = (tmp_path / "selection.html").read_text()
    assert "<table" in html and "http" not in html


def test_a_model_that_fails_becomes_a_row_with_its_reason_and_the_others_go_on() -> None:
    images, labels = _images()
    selection = invmeter.select([CountingModel(), "nosuchpkg.mod:factory"], (images, labels), ["hflip"], **TINY)
    failed = selection.candidates[-1]
    assert failed["status"] == "failed" and "Cannot import model factory" in failed["reason"]
    assert selection.ranking == ["CountingModel"]


@pytest.mark.parametrize(("call", "error", "pattern"), [
    (lambda d: invmeter.select("cifar:resnet18", d), InvalidParameterError, "non-empty list of candidates"),
    (lambda d: invmeter.select(["cifar:resnet18"], "transforms2d"), InvalidParameterError, "not Transforms-2D"),
    (lambda d: invmeter.select(["cifar:resnet18"], d[0]), DataError, "needs labelled target data"),
    (lambda d: invmeter.select(["cifar:resnet18"], d, ["hflip", "hflip"]), InvalidParameterError, "repeated"),
    (lambda d: invmeter.select(["cifar:resnet18"], d, seeds=[0, 1]), InvalidParameterError, "one seed"),
    (lambda d: invmeter.select(["cifar:resnet18"], d, labels="model"), InvalidParameterError, "must be 'data'"),
    (lambda d: invmeter.select(["cifar:resnet18"], d, evaluate=True, test_fraction=1.0), InvalidParameterError,
     r"'test_fraction' parameter must be in \(0, 1\)"),
    (lambda d: invmeter.select(["cifar:resnet18"], (d[0][:4], d[1][:4])), DataError, "at least 2 per class"),
    (lambda d: invmeter.select(["cifar:resnet18"], d, evaluate=True, n_images=4), DataError, "at least 2 per class"),
    (lambda d: invmeter.select(["timm:nosuchnet*"], d), InvalidParameterError, "matches no model or file"),
])
def test_bad_input_is_a_one_line_error_before_any_model_is_loaded(call, error, pattern) -> None:  # noqa: ANN001
    with pytest.raises(error, match=pattern) as info:
        call(_images())
    assert "\n" not in str(info.value)


def test_the_command_needs_data_and_says_so() -> None:
    result = CliRunner().invoke(cli, ["select", "cifar:resnet18"])
    assert result.exit_code == 2 and "Missing option '--data'" in result.output
