"""invmeter train --track: per-epoch invariance curves on a fixed held-out set, equal to invmeter score's numbers,
without changing the training; resume, plots and errors."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

import invmeter
from invmeter.cli import cli
from invmeter.data import PastedObjects
from invmeter.errors import InvalidParameterError, InvmeterWarning, UndefinedMetricWarning, UnknownNameError
from invmeter.report.curves import plot_history
from invmeter.training.loop import TrainConfig, train
from invmeter.training.tracking import RANDOM_REFERENCE, TRACK_SEED_OFFSET, parse_track

TINY = {"transforms": "none", "classes": 2, "image_size": 16, "arch": "cifar:resnet18", "width": 0.0625,
        "n_train": 64, "n_val": 16, "n_test": 16, "epochs": 2, "batch_size": 16, "device": "cpu", "threads": 1}


pytestmark = pytest.mark.usefixtures("restore_threads")  # the trainer sets torch's threads (threads=1)


def tiny(**changes: object) -> TrainConfig:
    return TrainConfig.for_transforms2d(**{**TINY, **changes})


@pytest.mark.slow
def test_issue_command_writes_both_epochs_and_equals_score(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The issue's exact command; the last epoch's numbers are invmeter score's on the same pairs."""
    monkeypatch.setenv("INVMETER_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "run"
    args = ["train", "--arch", "cifar:resnet18", "--width", "0.25", "--transforms", "rotation", "--classes", "3",
            "--epochs", "2", "--n-train", "300", "--n-val", "60", "--n-test", "60", "--track", "rotation",
            "--out", str(out)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    meta = json.loads((out / "model.json").read_text())
    assert [row["epoch"] for row in meta["history"]] == [1, 2]
    for row in meta["history"]:
        assert -1.0 < row["invariance/rotation"] < 1.0 and row["l2_ratio/rotation"] > 0
    assert meta["config"]["track"] == ["rotation"]
    assert meta["track"]["n_images"] == 256 and meta["track"]["seed"] == TRACK_SEED_OFFSET
    assert "epoch 2/2: " in result.output and "rotation inv " in result.output  # the epoch log line
    report = invmeter.score(str(out / "model.safetensors"), "rotation", n_images=256, n_classes=3,
                            seed=TRACK_SEED_OFFSET, n_boot=0, metrics=["invariance", "l2_ratio"])
    assert meta["history"][-1]["invariance/rotation"] == pytest.approx(report["invariance"], abs=1e-5)
    assert meta["history"][-1]["l2_ratio/rotation"] == pytest.approx(report["l2_ratio"], rel=1e-5)
    assert plot_history(meta["history"], tmp_path / "curves.png").stat().st_size > 10_000


def test_tracking_does_not_change_training_and_resume_may_change_it(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    plain = train(tiny(), cache=cache)
    tracked = train(tiny(track="rotation,hflip", track_images=8), out=tmp_path / "run", cache=cache)
    for key, value in plain.model.state_dict().items():
        assert torch.equal(value, tracked.model.state_dict()[key]), key  # bit-identical weights, BN stats included
    columns = ("train_loss", "train_accuracy", "val_accuracy")
    assert [[r[c] for c in columns] for r in plain.history] == [[r[c] for c in columns] for r in tracked.history]
    assert {"invariance/rotation", "l2_ratio/hflip", "track_seconds"} <= tracked.history[0].keys()
    again = train(tiny(track="rotation,hflip", track_images=8), cache=cache)
    assert [r["invariance/hflip"] for r in again.history] == [r["invariance/hflip"] for r in tracked.history]
    # resuming with other tracked transforms is allowed (tracking never changes the weights): rows keep their own
    resumed = train(tiny(epochs=3, track="blur", track_images=8), out=tmp_path / "run", resume=True, cache=cache)
    assert "invariance/rotation" in resumed.history[1] and "invariance/blur" not in resumed.history[1]
    assert "invariance/blur" in resumed.history[2] and "invariance/rotation" not in resumed.history[2]
    assert plot_history(resumed.history, tmp_path / "gaps.png").is_file()


def test_track_images_beyond_the_runs_images_are_capped_with_a_warning(tmp_path: Path) -> None:
    with pytest.warns(InvmeterWarning, match=r"track_images=100000 is more than the run's 96 images .*tracking 96 "):
        train(tiny(epochs=1, track="hflip", track_images=100_000), out=tmp_path / "run", cache=tmp_path / "cache")
    assert json.loads((tmp_path / "run" / "model.json").read_text())["track"]["n_images"] == 96


def test_pasted_objects_track_the_validation_images_against_random_references(tmp_path: Path) -> None:
    data = PastedObjects(None, objects=(0, 1), label="object", image_size=16)
    config = TrainConfig(data=data, arch="cifar:resnet18", width=0.0625, n_train=32, n_val=12, n_test=8, epochs=1,
                         batch_size=16, device="cpu", threads=1, track=("hflip",), track_images=48)
    # each class's validation images are one image (one object on no background): l2_ratio has no within-class
    # distance, so it is undefined (NaN with the reason, as a report says), never inf (docs/metrics.md)
    with pytest.warns(UndefinedMetricWarning, match="l2_ratio undefined.*every class collapses"), \
            pytest.warns(InvmeterWarning, match="Tracking uses the validation split's 12 images: track_images=48"):
        result = train(config, out=tmp_path / "run", cache=False)
    meta = json.loads((tmp_path / "run" / "model.json").read_text())
    assert meta["track"]["reference"] == RANDOM_REFERENCE and meta["track"]["n_images"] == 12  # the val split
    assert math.isfinite(result.history[0]["invariance/hflip"]) and math.isnan(result.history[0]["l2_ratio/hflip"])


def test_cli_plot_and_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INVMETER_CACHE", str(tmp_path / "cache"))
    args = ["train", "--transforms", "none", "--classes", "2", "--image-size", "16", "--width", "0.0625",
            "--n-train", "32", "--n-val", "8", "--n-test", "8", "--epochs", "1", "--batch-size", "16",
            "--device", "cpu", "--threads", "1", "-q"]
    ok = CliRunner().invoke(cli, [*args, "--track", "hflip", "--track-images", "8", "--out", str(tmp_path / "a"),
                                  "--plot", str(tmp_path / "a" / "curves.png")])  # inside --out, not there yet
    assert ok.exit_code == 0, ok.output
    assert (tmp_path / "a" / "curves.png").stat().st_size > 10_000
    for extra, match in [(["--track", "rotaton"], "Did you mean 'rotation'"),
                         (["--track", "hflip", "--track-images", "3"], "'track_images' parameter must be an integer >= 4"),
                         (["--plot", str(tmp_path / "no" / "c.png")], "does not exist")]:
        bad = CliRunner().invoke(cli, [*args, *extra, "--out", str(tmp_path / "b")])
        assert bad.exit_code == 1 and bad.output.startswith("Error: ") and match in bad.output, bad.output
        assert not (tmp_path / "b" / "model.safetensors").exists()  # refused before training


def test_parse_track() -> None:
    assert parse_track("rotation,hflip") == ("rotation", "hflip")
    assert parse_track(["rotation:45+blur"]) == ("rotation:45+blur",)
    assert parse_track("color_jitter:hue=0.1,saturation=0.2,rotation") == ("color_jitter:hue=0.1,saturation=0.2",
                                                                            "rotation")
    assert parse_track(None) == parse_track("none") == parse_track(()) == ()
    with pytest.raises(InvalidParameterError, match="The 'track' parameter is empty"):
        parse_track(" ")
    with pytest.raises(UnknownNameError, match="Did you mean 'rotation'"):
        parse_track("rotaton")
    with pytest.raises(InvalidParameterError, match="tracked twice"):
        parse_track("hflip,hflip")
