"""The field's measures through score: selectable with --metrics, with intervals, per layer with --layers."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

import invmeter
from invmeter.cli import cli
from invmeter.errors import InvalidParameterError

BASE = ["score", "-m", "timm:test_resnet", "--weights", "random", "-t", "rotation", "--image-size", "32",
        "--classes", "3", "--n-images", "24", "--bootstrap", "200", "-q", "--json", "-"]


def test_lie_derivative_and_cka_with_intervals_and_per_layer_profiles() -> None:
    result = CliRunner().invoke(cli, [*BASE, "--metrics", "invariance,lie_derivative,cka", "--layers", "blocks"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    for name in ("invariance", "lie_derivative", "cka"):
        entry = report["metrics"][name]
        assert entry["ci95"][0] <= entry["value"] <= entry["ci95"][1] and entry["ci95"][0] < entry["ci95"][1]
    layers = report["layers"]
    assert [e["layer"] for e in layers][-1] == "pre_logits" and len(layers) >= 4
    assert all({"invariance", "lie_derivative", "cka"} <= set(e) for e in layers)
    assert layers[-1]["lie_derivative"]["value"] == pytest.approx(report["metrics"]["lie_derivative"]["value"])
    assert layers[-1]["invariance"]["value"] == pytest.approx(report["metrics"]["invariance"]["value"])
    for name in ("invariance", "lie_derivative", "cka"):  # the representation's row: the metric, interval included
        assert layers[-1][name]["ci95"] == pytest.approx(report["metrics"][name]["ci95"]), name


def test_unit_measures_per_layer() -> None:
    result = CliRunner().invoke(cli, [*BASE, "--metrics", "normalized_variance,anova_variant,goodfellow",
                                      "--layers", "blocks"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert 0 <= report["metrics"]["anova_variant"]["value"] <= 1
    assert all({"normalized_variance", "anova_variant", "goodfellow"} <= set(e) for e in report["layers"])


def test_a_pooled_model_is_locally_rotation_invariant_and_raw_pixels_are_not() -> None:
    import torch

    pooled = torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten())
    pixels = torch.nn.Flatten()
    kw = dict(image_size=32, n_classes=3, n_images=12, n_boot=0, metrics="lie_derivative", mean=(0.5,), std=(0.5,))
    ratio = invmeter.score(pooled, "rotation", **kw)["lie_derivative"] / invmeter.score(pixels, "rotation", **kw)["lie_derivative"]
    assert ratio < 0.2


def test_a_family_without_a_continuous_generator_is_refused_before_any_work(counting_model) -> None:  # noqa: ANN001
    with pytest.raises(InvalidParameterError, match="'hflip' has no continuous generator"):
        invmeter.score(counting_model, "hflip", image_size=16, n_classes=3, n_images=12, metrics="lie_derivative")
    assert counting_model.images_seen == 0


def test_metrics_all_computes_every_metric_that_applies_and_says_why_for_the_rest() -> None:
    result = CliRunner().invoke(cli, ["score", "-m", "timm:test_resnet", "--weights", "random", "-t", "hflip",
                                      "--image-size", "32", "--classes", "3", "--n-images", "24", "--bootstrap", "0",
                                      "-q", "--json", "-", "--metrics", "all"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    skipped = report["skipped_metrics"]
    gains = {g: "needs the architecture's random initialisations scored on the same pairs (--baseline random-init)"
             for g in ("learned_invariance", "learned_paired_distance_ratio")}
    assert set(skipped) == {"lie_derivative", *gains} and "no continuous generator" in skipped["lie_derivative"]
    assert {"invariance", "cka", "goodfellow", "probe_accuracy", "equivariance"} <= set(report["metrics"])  # a flip is fixed
    rotation = CliRunner().invoke(cli, ["score", "-m", "timm:test_resnet", "--weights", "random", "-t", "rotation",
                                        "--image-size", "32", "--classes", "3", "--n-images", "24", "--bootstrap", "0",
                                        "-q", "--json", "-", "--metrics", "all"])
    assert json.loads(rotation.output)["skipped_metrics"] == {
        "equivariance": "needs fixed transform magnitudes (a sweep: --magnitudes)", **gains}
