"""A report records exactly the preprocessing that ran (issue 24): rendered Transforms-2D scenes go through no
resize, crop or interpolation, and say so; photos go through the model's own, and list them. A checkpoint of a
timm architecture without recorded preprocessing takes that architecture's ``pretrained_cfg``, and any checkpoint
without a recorded mean/std is scored unnormalised only with a warning."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

import invmeter
from invmeter.cli import cli
from invmeter.errors import InvmeterWarning
from invmeter.models import create_cifar_model, load_model, save_checkpoint

TAGS = ("timm:resnet18.a1_in1k", "timm:resnet18.tv_in1k")  # bicubic, crop 0.95 / bilinear, crop 0.875
FAST = dict(weights="random", image_size=48, n_boot=50, metrics="invariance,l2_ratio")


def _scores(data: str, **options: object) -> list[invmeter.Report]:
    return [invmeter.score(tag, "rotation", data=data, **FAST, **options) for tag in TAGS]


def test_two_tags_differing_only_in_crop_and_interpolation_agree_where_those_steps_did_not_run(
        photo_folder: Path) -> None:
    rendered = _scores("transforms2d", n_images=16, n_classes=2)
    records = [r.model["preprocessing"] for r in rendered]
    for record in records:
        assert record["rendered"] == "scenes rendered at 48x48 px: no resize, crop or interpolation ran"
        assert not {"resize_shorter_side", "crop", "crop_pct", "interpolation", "antialias"} & set(record)
        assert record["order"] == "the transform in [0, 1] pixels, then normalise"
    assert [(r["not_run"]["crop_pct"], r["not_run"]["interpolation"]) for r in records] == [
        (0.96, "bicubic"), (0.8889, "bilinear")]  # 48 / 50 and 48 / 54: timm's resize at 48 px
    values = [{k: (v.value, v.ci95) for k, v in r.metrics.items()} for r in rendered]
    assert values[0] == values[1]  # the steps that differ did not run: the same numbers, intervals included

    photos = _scores(str(photo_folder))
    records = [r.model["preprocessing"] for r in photos]
    assert [(r["interpolation"], r["resize_shorter_side"]) for r in records] == [("bicubic", 50), ("bilinear", 54)]
    assert all("rendered" not in r and r["order"].startswith("resize and crop") for r in records)
    assert photos[0]["invariance"] != photos[1]["invariance"]  # they ran, and they differ


def test_the_leaderboard_says_scenes_were_rendered(tmp_path: Path) -> None:
    invmeter.zoo(["cifar:vgg11?width=0.125"], ["hflip"], out=tmp_path, weights="random", image_size=32, n_images=12,
                 n_classes=3, n_boot=0)
    (row,) = [line for line in (tmp_path / "leaderboard.md").read_text().splitlines() if "| cifar:vgg11" in line]
    assert "| scenes rendered at 32x32 px: no resize, crop or interpolation ran, mean (0.5, 0.5, 0.5)" in row
    assert "resize_shorter_side" not in row and "bilinear" not in row


def _bare_checkpoint(tmp: Path, arch: str, model: torch.nn.Module, **meta: object) -> Path:
    return save_checkpoint(model, tmp / "run", {"arch": arch, "num_classes": 4, **meta})


def test_a_timm_checkpoint_without_recorded_preprocessing_takes_its_pretrained_cfg(tmp_path: Path) -> None:
    import timm

    model = timm.create_model("test_efficientnet", pretrained=False, num_classes=4)
    path = _bare_checkpoint(tmp_path, "timm:test_efficientnet", model)
    with pytest.warns(InvmeterWarning, match=r"records no input_size, mean, std: using timm's pretrained_cfg for "
                                             r"timm:test_efficientnet \(160x160 px, bicubic, crop 0\.95"):
        handle = load_model(str(path))
    expected = timm.data.resolve_model_data_config(model)  # what timm itself would feed this architecture
    prep = handle.preprocessing
    assert prep.input_size == expected["input_size"][1:] and prep.interpolation == expected["interpolation"]
    assert prep.mean == pytest.approx(expected["mean"]) and prep.std == pytest.approx(expected["std"])
    assert prep.crop_pct == pytest.approx(expected["crop_pct"], abs=0.01)
    assert prep.source.startswith("timm pretrained_cfg of timm:test_efficientnet")

    recorded = _bare_checkpoint(tmp_path / "sized", "timm:test_efficientnet", model, input_size=[64, 64])
    with pytest.warns(InvmeterWarning, match="records no mean, std"):
        sized = load_model(str(recorded)).preprocessing
    assert sized.input_size == (64, 64) and sized.mean == pytest.approx(expected["mean"])  # what it records wins
    full = _bare_checkpoint(tmp_path / "full", "timm:test_efficientnet", model, input_size=[32, 32], mean=[0.5] * 3,
                            std=[0.25] * 3)
    with warnings.catch_warnings():
        warnings.simplefilter("error", InvmeterWarning)  # everything recorded: nothing to say
        assert load_model(str(full)).preprocessing.std == (0.25,) * 3


def test_a_checkpoint_without_recorded_normalisation_says_so_in_the_report_and_the_cli(tmp_path: Path) -> None:
    path = _bare_checkpoint(tmp_path, "cifar:resnet18", create_cifar_model("resnet18", num_classes=4, width=0.125),
                            width=0.125, input_size=[32, 32])
    with pytest.warns(InvmeterWarning, match="records no normalisation"):
        report = invmeter.score(str(path), "hflip", n_images=16, n_classes=4, n_boot=0, metrics="invariance")
    assert any("records no normalisation (mean/std): it is fed unnormalised pixels" in w for w in report.warnings)
    prep = report.model["preprocessing"]
    assert prep["mean"] is None and prep["normalisation"].startswith("none")
    assert prep["order"] == "the transform in [0, 1] pixels"  # no 'then normalise' that never ran
    with warnings.catch_warnings():
        warnings.simplefilter("always")  # the command line prints each warning as a 'WARNING: ...' line
        result = CliRunner().invoke(cli, ["score", "-m", str(path), "-t", "hflip", "--n-images", "16", "--classes",
                                          "4", "--bootstrap", "0", "--metrics", "invariance", "-q", "--json", "-"])
    assert result.exit_code == 0, result.output
    assert "WARNING: Checkpoint" in result.output and "records no normalisation" in result.output
    assert any("records no normalisation" in w for w in json.loads(result.output[result.output.index("{"):])["warnings"])
