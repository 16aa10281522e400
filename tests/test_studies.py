"""Deeper measurements with known answers: sweeps, equivariance, layer profiles, seeds, baselines, model labels."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

import invmeter
from conftest import CountingModel, HFlipInvariant, PooledPixels, Rot90Averaged
from invmeter.cli import cli
from invmeter.errors import DataError, InvalidParameterError
from invmeter.metrics.equivariance import verdict
from invmeter.models.labels import map_class_names

FAST = {"n_boot": 100}


def test_rotation_averaged_model_is_invariant_at_90_degrees_only(large_photo_folder: Path) -> None:
    reports = invmeter.sweep(Rot90Averaged(), "rotation", [45, 90], data=str(large_photo_folder), image_size=32, **FAST)
    at45, at90 = reports
    assert at90["invariance"] > 0.999 and at90.verdict == "invariant"
    assert at45["invariance"] < 0.9


def test_pooled_pixels_are_equivariant_not_invariant_to_flips(large_photo_folder: Path) -> None:
    flip = invmeter.score(PooledPixels(), "hflip", data=str(large_photo_folder), image_size=32,
                          metrics=["invariance", "equivariance"], **FAST)
    # the flip permutes the 4x4 grid: an exact linear effect, learnt on 80 images, predicts 80 held-out ones
    assert flip["equivariance"] > 0.99 and flip["invariance"] < 0.7
    assert flip.verdict == "equivariant"


def test_equivariance_needs_fixed_parameters() -> None:
    with pytest.raises(InvalidParameterError, match="fixed transform magnitudes"):
        from invmeter.metrics import compute_metrics
        from invmeter.types import Representations

        z = torch.randn(20, 4)
        compute_metrics(Representations(z, z, torch.arange(20) % 2, None, None, "x"), metrics=["equivariance"])


def test_verdict_rules() -> None:
    assert verdict(0.95, 0.99) == "invariant"
    assert verdict(0.76, None) == "invariant" and verdict(0.74, 0.2) == "neither"  # the 0.75 threshold
    assert verdict(0.5, 0.95) == "equivariant"
    assert verdict(0.5, 0.3) == "neither"


def test_sweep_reuses_clean_views(counting_model: CountingModel) -> None:
    reports = invmeter.sweep(counting_model, "rotation", [0, 30, 90], image_size=16, n_classes=4, n_images=40, **FAST)
    assert counting_model.images_seen == 40 * (1 + 3)
    assert [r.magnitude for r in reports] == [0.0, 30.0, 90.0]
    assert reports[0]["invariance"] == 1.0 and reports[0]["equivariance"] > 0.999
    separate = invmeter.score(CountingModel(), invmeter.parse_transform("rotation").at_magnitude(30),
                              image_size=16, n_classes=4, n_images=40, **FAST)
    assert separate["invariance"] == pytest.approx(reports[1]["invariance"], abs=1e-6)


def test_sweep_errors() -> None:
    with pytest.raises(InvalidParameterError, match="varies one family"):
        invmeter.sweep(PooledPixels(), "rotation+blur", [1])
    with pytest.raises(InvalidParameterError, match="takes no magnitude|cannot be swept|no magnitude"):
        invmeter.sweep(PooledPixels(), "hflip", [1])
    with pytest.raises(InvalidParameterError, match=r"must be in \[0, 180\]"):
        invmeter.sweep(PooledPixels(), "rotation", [30, 400])


def test_layer_profile_of_an_exactly_invariant_final_layer_ends_at_one(photo_folder: Path) -> None:
    report = invmeter.score(HFlipInvariant(), "hflip", data=str(photo_folder), image_size=32, layers="h.0,h.1", **FAST)
    profile = [e.to_dict() for e in report.layers]
    assert [e["layer"] for e in profile] == ["h.0", "h.1", "output"]
    assert profile[-1]["invariance"]["value"] == 1.0
    assert profile[0]["invariance"]["value"] < 0.9


@pytest.mark.parametrize("batch_size", [4, 5])
def test_layer_profile_ends_at_the_reports_invariance_whatever_the_batching(batch_size: int) -> None:
    # Transforms-2D twins (the invariance reference) must stay in one batch, even for odd batch sizes and counts.
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(2), torch.nn.Flatten())
    report = invmeter.score(model, "rotation", image_size=16, n_classes=3, n_images=31, batch_size=batch_size,
                            layers="0", metrics=["invariance"], **FAST)
    profile = [e.to_dict() for e in report.layers]
    assert profile[-1]["invariance"]["value"] == pytest.approx(report["invariance"], abs=1e-12)


def test_blocks_of_known_architectures() -> None:
    from invmeter.models.layers import block_names

    assert block_names(invmeter.load_model("cifar:resnet18", weights="random")) == ["conv1", "layer1", "layer2", "layer3", "layer4"]
    assert block_names(invmeter.load_model("timm:test_resnet", weights="random"))[-1] == "layer4"


def test_seeds_report_mean_and_std(counting_model: CountingModel) -> None:
    report = invmeter.score(counting_model, "rotation", image_size=16, n_classes=3, n_images=30, seeds=[0, 1, 2], **FAST)
    stats = report.seeds.to_dict()
    assert stats["seeds"] == [0, 1, 2]
    values = stats["metrics"]["invariance"]["values"]
    assert values[0] == report["invariance"] and len(set(values)) == 3
    assert stats["metrics"]["invariance"]["mean"] == pytest.approx(np.mean(values))
    assert stats["metrics"]["invariance"]["std"] == pytest.approx(np.std(values, ddof=1))


def test_random_init_baseline_reveals_architectural_invariance(photo_folder: Path) -> None:
    report = invmeter.score(HFlipInvariant(), "hflip", data=str(photo_folder), image_size=32, baseline="random-init", **FAST)
    baseline = report.baseline.to_dict()
    assert baseline["model"]["weights"] == "random-init"
    assert baseline["metrics"]["invariance"]["value"] >= 0.999  # the invariance is the architecture's


def test_named_random_models_are_seeded() -> None:
    a = invmeter.score("timm:test_resnet", "rotation", weights="random", image_size=32, n_classes=3, n_images=24, **FAST)
    b = invmeter.score("timm:test_resnet", "rotation", weights="random", image_size=32, n_classes=3, n_images=24, **FAST)
    assert json.loads(a.to_json())["metrics"] == json.loads(b.to_json())["metrics"]


def test_map_class_names_to_imagenet_labels() -> None:
    from timm.data import ImageNetInfo

    info = ImageNetInfo()
    names = [info.index_to_description(i) for i in range(1000)]
    mapped = map_class_names(["tabby_cat", "Tench", "golden retriever"], names)
    assert [names[i] for i in mapped] == ["tabby, tabby cat", "tench, Tinca tinca", "golden retriever"]
    with pytest.raises(DataError, match="not in the model's label set"):
        map_class_names(["astronaut"], names)


def test_model_labels_use_the_model_classifier(photo_folder: Path) -> None:
    model = CountingModel()
    handle = invmeter.models.wrap_module(model, image_size=16)
    handle = invmeter.ModelHandle(**{**handle.__dict__, "label_names": ("rocket", "x", "astronaut", "coffee", "chelsea")})
    report = invmeter.score(handle, "rotation", data=str(photo_folder), labels="model", **FAST)
    from invmeter.data import FolderImages, ImagePairs

    pairs = ImagePairs(FolderImages(photo_folder), invmeter.parse_transform("rotation"), handle.preprocessing.prepare)
    clean, transformed = pairs.render(slice(0, len(pairs)))
    with torch.no_grad():
        pred_clean = model(clean).argmax(1).numpy()
        pred_trans = model(transformed).argmax(1).numpy()
    labels = np.array([2, 4, 3, 0])[pairs.labels.numpy()]  # astronaut, chelsea, coffee, rocket -> model indices
    assert report["clean_accuracy"] == pytest.approx((pred_clean == labels).mean(), abs=1e-4)
    assert report["consistency"] == pytest.approx((pred_clean == pred_trans).mean(), abs=1e-4)


def test_cli_sweep_layers_seeds_baseline_and_plots(tmp_path: Path) -> None:
    base = ["score", "-m", "timm:test_resnet", "--weights", "random", "--image-size", "32", "--classes", "3",
            "--n-images", "24", "--bootstrap", "50", "-q"]
    result = CliRunner().invoke(cli, [*base, "--magnitudes", "0,90", "--json", "-"])
    sweep = json.loads(result.output)
    assert [e["magnitude"] for e in sweep["sweep"]] == [0.0, 90.0] and "verdict" in sweep["sweep"][0]
    out = tmp_path / "sweep.png"
    assert CliRunner().invoke(cli, [*base, "--magnitudes", "0,90", "--plot", str(out)]).exit_code == 0
    assert out.stat().st_size > 1000
    result = CliRunner().invoke(cli, [*base, "--layers", "blocks", "--seeds", "0,1", "--baseline", "random-init", "--json", "-"])
    report = json.loads(result.output)
    assert report["layers"][-1]["layer"] == "pre_logits" and report["seeds"]["seeds"] == [0, 1]
    assert report["baseline"]["model"]["weights"] == "random-init"
    heat = tmp_path / "heat.png"
    result = CliRunner().invoke(cli, [*base, "-m", "cifar:vgg11?width=0.125", "-t", "hflip", "-t", "blur", "--plot", str(heat)])
    assert result.exit_code == 0 and heat.stat().st_size > 1000
    bad = CliRunner().invoke(cli, [*base, "--magnitudes", "0,a"])
    assert bad.exit_code == 1 and "must be a number (e.g. 'rotation:0.5'). Got 'a'" in bad.output
