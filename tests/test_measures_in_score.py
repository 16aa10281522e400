"""The field's measures through score: selectable with --metrics, with intervals, per layer with --layers."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from adversarial_cases_inputs import KnownUnits  # 3 variant, 3 invariant, 3 moving-without-a-shift units
from click.testing import CliRunner
from scipy import stats as scipy_stats

import invmeter
from invmeter.api import make_transforms2d
from invmeter.cli import cli
from invmeter.data import Transforms2DPairs
from invmeter.errors import InvalidParameterError
from invmeter.metrics import get_metric, list_metrics
from invmeter.metrics.measures import unit_values
from invmeter.metrics.unit_measures import UnitStats

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


PER_LAYER = [name for name in list_metrics() if get_metric(name).per_layer]


@pytest.mark.parametrize("model", ["timm:test_resnet", "cifar:resnet18?width=0.125"])
def test_the_table_and_the_profiles_representation_row_agree_on_every_per_layer_metric(model: str) -> None:
    """One value per metric per representation: the metrics table and the layer profile's last row (the same
    representation) give each metric with a per-layer form the same value and interval (goodfellow was 7.362 in
    the table and 2.099 in the profile: two threshold rules)."""
    assert {"invariance", "cka", "normalized_variance", "anova_variant", "goodfellow", "lie_derivative"} <= set(PER_LAYER)
    result = CliRunner().invoke(cli, ["score", "-m", model, "--weights", "random", "-t", "rotation", "--image-size",
                                      "32", "--classes", "3", "--n-images", "30", "--bootstrap", "100", "--batch-size",
                                      "8", "-q", "--json", "-", "--metrics", ",".join(PER_LAYER), "--layers", "blocks"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    row = report["layers"][-1]
    assert row["layer"] == report["model"]["layer"] and set(PER_LAYER) <= set(row)
    for name in PER_LAYER:
        table, profile = report["metrics"][name], row[name]
        assert profile["value"] == pytest.approx(table["value"], rel=1e-6, abs=1e-12), name
        if None in table["ci95"]:  # a ratio of per-unit sums: no interval in either
            assert profile["ci95"] == table["ci95"], name
        else:
            assert profile["ci95"] == pytest.approx(table["ci95"], rel=1e-6, abs=1e-12), name
    assert report["metrics"]["goodfellow"]["value"] > 0


def _halve(x: torch.Tensor) -> torch.Tensor:
    return x * 0.5


def test_anova_variant_counts_the_units_whose_mean_shifts_as_tmeasures_defines_f() -> None:
    tm = pytest.importorskip("tmeasures")
    images = torch.rand(40, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    report = invmeter.score(KnownUnits(), _halve, data=images, n_images=None, n_boot=0, mean=(0.0,), std=(1.0,),
                            metrics="anova_variant,normalized_variance")
    assert report["anova_variant"] == pytest.approx(3 / 9)  # the channel means only
    assert report["normalized_variance"] > 0.1  # although every unit but the shares moves

    with torch.no_grad():
        a, b = KnownUnits()(images).double(), KnownUnits()(_halve(images)).double()

    class Stored:  # the part of tmeasures' ActivationsIterator its ANOVA reads: one batch per view
        def layer_names(self) -> list[str]:
            return ["units"]

        def transformations_first(self):  # noqa: ANN202
            for v, z in enumerate((a, b)):
                yield v, iter([(np.zeros((len(z), 1)), [z.numpy()])])

    theirs = tm.np.ANOVAFInvariance().eval(Stored()).layers[0]
    stats = UnitStats(calibration=10)
    stats.update(a, b)
    assert np.allclose(stats.anova_f().numpy(), theirs, rtol=1e-9)  # tmeasures' F, unit by unit
    critical = scipy_stats.f.isf(0.01 / 9, 1, 2 * 40 - 2)  # the upper tail at 0.99, Bonferroni over 9 units
    assert (theirs > critical).tolist() == [True] * 3 + [False] * 6 == stats.anova_variant().tolist()
    assert theirs[3:6].max() < 1e-20 < 1e3 < theirs[:3].min()  # shares exactly unchanged, means far apart


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
    assert set(skipped) == {"lie_derivative", "paired_distance_ratio", *gains}
    assert "no continuous generator" in skipped["lie_derivative"]
    assert "two draws of hflip are the same image" in skipped["paired_distance_ratio"]  # the paper's pairing
    assert {"invariance", "cka", "goodfellow", "probe_accuracy", "equivariance"} <= set(report["metrics"])  # a flip is fixed
    rotation = CliRunner().invoke(cli, ["score", "-m", "timm:test_resnet", "--weights", "random", "-t", "rotation",
                                        "--image-size", "32", "--classes", "3", "--n-images", "24", "--bootstrap", "0",
                                        "-q", "--json", "-", "--metrics", "all"])
    assert json.loads(rotation.output)["skipped_metrics"] == {
        "equivariance": "needs fixed transform magnitudes (a sweep: --magnitudes)", **gains}
    assert "paired_distance_ratio" in json.loads(rotation.output)["metrics"]  # two draws of a rotation differ


def test_every_leaf_profile_reads_layers_in_place_with_the_values_of_flattened_copies() -> None:
    """The unit measures' layer profile reads each layer's output where it is (channels-last, no copy) and the
    classifier's output too (a pre_logits readout): every leaf module of a timm ResNet gets the values of UnitStats
    fed the flattened copies that extraction keeps, in the same batches (the former path)."""
    handle = invmeter.load_model("timm:test_resnet", weights="random", image_size=32)
    leaves = [name for name, m in handle.model.named_modules() if name and not list(m.children())]
    pairs = Transforms2DPairs(make_transforms2d(n_classes=3, image_size=32), invmeter.parse_transform("rotation"), 24,
                              seed=0)
    profile = get_metric("normalized_variance").profile(0, 0, len(pairs))
    invmeter.extract(handle, pairs, profile=leaves, reducers=[profile], batch_size=8, device="cpu")
    ours = profile.result()
    kept = invmeter.extract(handle, pairs, layers=leaves, batch_size=8, device="cpu").layers
    assert "fc" in leaves and set(ours) == {*leaves, handle.readout.name}
    for name in leaves:
        stats = UnitStats(calibration=max(2, len(pairs) // 4))  # a quarter of the images fix Goodfellow's thresholds
        for start in range(0, len(pairs), 8):
            stats.update(kept[name][0][start : start + 8], kept[name][1][start : start + 8])
        for metric, value in unit_values(stats).items():
            expected = pytest.approx(value.value, rel=1e-6, abs=1e-12, nan_ok=True)
            assert ours[name][metric].value == expected, (name, metric)
    nv = {name: ours[name]["normalized_variance"].value for name in ("bn1", "act1")}
    assert nv["bn1"] != nv["act1"], nv  # bn1 is read before the in-place ReLU overwrites its output
