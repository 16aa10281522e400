"""End-to-end scoring with known answers: exact invariances score as such, raw pixels do not."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import invmeter
from invmeter.errors import DataError, InvalidParameterError, UnknownNameError

FAST = {"n_boot": 100}


def test_default_metric_set_uses_exactly_two_forward_passes_per_image(counting_model) -> None:  # noqa: ANN001
    report = invmeter.score(counting_model, "rotation", image_size=16, n_classes=4, n_images=40, batch_size=7, **FAST)
    assert counting_model.images_seen == 2 * 40
    assert report.provenance["forward_passes"] == 80
    assert set(report.metrics) == set(invmeter.metrics.default_metrics())


def test_exactly_hflip_invariant_model_on_an_image_folder(photo_folder: Path, hflip_invariant_model) -> None:  # noqa: ANN001
    flip = invmeter.score(hflip_invariant_model, "hflip", data=str(photo_folder), image_size=32, **FAST)
    assert flip["invariance"] >= 0.999
    assert flip["consistency"] == 1.0 and flip["accuracy_delta"] == 0.0
    rotation = invmeter.score(hflip_invariant_model, "rotation", data=str(photo_folder), image_size=32, **FAST)
    assert rotation["invariance"] < 0.9


def test_raw_pixels_are_far_from_rotation_invariant(photo_folder: Path, pixel_model) -> None:  # noqa: ANN001
    whole_image = invmeter.score(pixel_model, "rotation", data=str(photo_folder), image_size=32, **FAST)
    assert whole_image["invariance"] < 0.4
    # On Transforms-2D only the object turns; the shared background keeps raw pixels partly similar.
    report = invmeter.score(pixel_model, "rotation", image_size=32, n_classes=5, n_images=60, **FAST)
    assert report["invariance"] < 0.8
    same = invmeter.score(pixel_model, "rotation:0", image_size=32, n_classes=5, n_images=60, **FAST)
    assert same["invariance"] == 1.0


def test_same_seed_identical_json_metrics(counting_model) -> None:  # noqa: ANN001
    def run(seed: int) -> dict:
        r = invmeter.score(counting_model, "rotation+blur", image_size=16, n_classes=3, n_images=30, seed=seed, **FAST)
        return json.loads(r.to_json())["metrics"]

    assert run(0) == run(0)
    assert run(0) != run(1)


def test_report_schema_and_provenance(counting_model) -> None:  # noqa: ANN001
    report = invmeter.score(counting_model, "rotation:45", image_size=16, n_classes=3, n_images=30, seed=3, **FAST)
    d = json.loads(report.to_json())
    assert set(d) >= {"invmeter_version", "model", "transform", "data", "metrics", "provenance"}
    assert set(d["model"]) >= {"name", "weights", "layer", "input_size"}
    assert d["model"]["input_size"] == [16, 16]
    assert d["transform"]["spec"] == "rotation:45" and d["transform"]["steps"][0]["ranges"] == [[-45.0, 45.0]]
    assert d["data"]["name"] == "transforms2d" and d["data"]["n_images"] == 30
    assert set(d["provenance"]) >= {"seed", "versions", "device", "timings"}
    assert d["provenance"]["seed"] == 3 and "torch" in d["provenance"]["versions"]
    for value in d["metrics"].values():
        assert set(value) == {"value", "ci95"} and value["ci95"][0] <= value["value"] <= value["ci95"][1]
    assert invmeter.Report.from_dict(d).to_dict() == d
    assert "invariance" in report.to_table() and report["invariance"] == d["metrics"]["invariance"]["value"]


def test_a_named_layer_is_read_instead_of_the_penultimate_one(counting_model) -> None:  # noqa: ANN001
    report = invmeter.score(counting_model, "rotation", image_size=16, n_classes=3, n_images=30, layer="body.0", **FAST)
    assert report.model["layer"] == "body.0"
    with pytest.raises(UnknownNameError, match="Unknown layer 'body.9'"):
        invmeter.score(counting_model, "rotation", image_size=16, n_classes=3, n_images=30, layer="body.9", **FAST)


def test_timm_model_end_to_end() -> None:
    report = invmeter.score("timm:test_resnet", "blur", weights="random", image_size=32, n_classes=3, n_images=24, **FAST)
    assert report.model["name"] == "timm:test_resnet" and report.model["layer"] == "pre_logits"
    assert report.provenance["forward_passes"] == 2 * 24 and report.metrics["probe_accuracy"].defined
    assert report.model["preprocessing"]["source"].startswith("timm data config")


def test_user_mistakes(tmp_path: Path, counting_model) -> None:  # noqa: ANN001
    with pytest.raises(InvalidParameterError, match="'probe' parameter"):  # settings fail before the model is touched
        invmeter.score(counting_model, "rotation", probe="svm")
    with pytest.raises(DataError, match="does not exist"):
        invmeter.score(counting_model, "rotation", data=str(tmp_path / "nope"))
    with pytest.raises(InvalidParameterError, match="'n_images' parameter"):
        invmeter.score(counting_model, "rotation", n_images=0)
    with pytest.raises(InvalidParameterError, match="at least 2 images per class"):
        invmeter.score(counting_model, "rotation", n_images=10, n_classes=10, image_size=16)
    missing = "cuda" if not torch.cuda.is_available() else f"cuda:{torch.cuda.device_count()}"
    with pytest.raises(InvalidParameterError, match="CUDA is not available|does not exist"):
        invmeter.score(counting_model, "rotation", device=missing)  # on a GPU machine: one device too many


class _BackgroundHeavy(torch.nn.Module):
    """Sees the image corners (background only, 100x louder) and the raw central pixels (the object)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([100 * x[:, :, :2, :2].flatten(1), x[:, :, 8:24, 8:24].flatten(1)], 1)


def test_a_model_that_mostly_sees_the_background_is_not_called_rotation_invariant() -> None:
    # Random images differ mostly in their backgrounds, which this model amplifies, so against a random other image
    # (the paper's paired-distance ratio, and the clean-vs-transformed one) rotating the object looks negligible;
    # against the same scene with another object it is not.
    kwargs = dict(image_size=32, n_classes=4, n_images=64, n_boot=0,
                  metrics=["invariance", "paired_distance_ratio", "clean_distance_ratio"])
    report = invmeter.score(_BackgroundHeavy(), "rotation", mean=(0.0,), std=(1.0,), **kwargs)
    assert report.data["invariance_reference"].startswith("the same scene with another object")
    assert report["invariance"] < 0.5
    assert report["paired_distance_ratio"] < 0.1 and report["clean_distance_ratio"] < 0.1  # "0.9 invariant"
