"""Bad inputs are refused in one line before any work: image sizes out of bounds, splits smaller than their class
count, and pickled checkpoints that would run code (which must run nothing)."""

from __future__ import annotations

import builtins
import json
import os
from pathlib import Path
from typing import Any

import pytest
import torch
from click.testing import CliRunner

from invmeter._utils.validation import MAX_IMAGE_SIZE, check_image_size
from invmeter.cli import cli
from invmeter.data import PastedObjects, Transforms2D, build_split
from invmeter.data._split import SplitPlan
from invmeter.errors import InvalidParameterError
from invmeter.models.checkpoint import CHECKPOINT_FORMAT
from invmeter.training.loop import TrainConfig

TOO_BIG = "The 'image_size' parameter must be an integer in [8, 4096] (pixels). Got 100000. Use a smaller size."


def run(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def one_line_error(result: Any) -> str:
    """The CLI's error message: exit code 1 and a single 'Error: ...' line, no traceback."""
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    return lines[0].removeprefix("Error: ")


# --- image sizes ----------------------------------------------------------------------------------------------


def test_check_image_size_bounds_and_messages() -> None:
    assert check_image_size(8) == 8 and check_image_size(MAX_IMAGE_SIZE) == MAX_IMAGE_SIZE == 4096
    with pytest.raises(InvalidParameterError) as info:
        check_image_size(100000)
    assert str(info.value) == TOO_BIG
    with pytest.raises(InvalidParameterError, match=r"\[8, 4096\] \(pixels\)\. Got 4097\. Use a smaller size\.$"):
        check_image_size(4097)
    with pytest.raises(InvalidParameterError, match=r"Got 7\. Use at least 8\.$"):
        check_image_size(7)
    for value in (32.0, True, "32"):
        with pytest.raises(InvalidParameterError, match="Give a whole number of pixels"):
            check_image_size(value)


def test_every_dataset_and_the_trainer_bound_the_image_size() -> None:
    makers = (lambda: Transforms2D(image_size=100000), lambda: PastedObjects(None, label="object", image_size=100000),
              lambda: TrainConfig.for_transforms2d(image_size=100000))
    for make in makers:
        with pytest.raises(InvalidParameterError) as info:
            make()
        assert str(info.value) == TOO_BIG


class _HugeDataset:
    """A BuildableDataset claiming 100000-pixel images; rendering it would allocate 28 GiB per image."""

    image_size = 100000
    n_classes = 2
    class_names = ["a", "b"]

    def describe(self) -> dict[str, Any]:
        return {"name": "huge"}

    def split_plan(self, split: str, n: int, seed: int) -> SplitPlan:
        raise AssertionError("the builder must refuse the size before planning anything")


def test_the_builder_bounds_the_image_size_before_any_work(tmp_path: Path) -> None:
    with pytest.raises(InvalidParameterError) as info:
        build_split(_HugeDataset(), "train", 10, seed=0, cache=tmp_path)
    assert str(info.value) == TOO_BIG and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", [["data", "build"], ["data", "preview", "--out", "{tmp}/grid.png"],
                                     ["train", "--out", "{tmp}/run"]])
def test_image_size_options_on_the_command_line(tmp_path: Path, command: list[str]) -> None:
    args = [arg.format(tmp=tmp_path) for arg in command]
    cache = ["--cache-dir", str(tmp_path / "cache")] if "build" in args else []
    result = run(*args, "--image-size", "100000", *cache)
    assert one_line_error(result) == TOO_BIG
    assert list(tmp_path.iterdir()) == []  # nothing built, written or even created


# --- a split must hold every class ----------------------------------------------------------------------------


def test_data_build_refuses_fewer_images_than_classes(tmp_path: Path) -> None:
    result = run("data", "build", "--n-images", "5", "--split", "train", "--image-size", "8",
                 "--cache-dir", str(tmp_path))
    assert one_line_error(result) == (
        "The number of images (n, --n-images) must be at least the number of classes, 10, so that every class "
        "appears in the balanced split. Got 5 for the train split. Use 10 or more."
    )
    assert list(tmp_path.iterdir()) == []
    result = run("data", "build", "--n-images", "10", "--split", "train", "--image-size", "8", "--cache-dir",
                 str(tmp_path), "-q")
    assert result.exit_code == 0, result.output
    with pytest.raises(InvalidParameterError, match="at least the number of classes, 3.* Got 2 for the val split"):
        build_split(Transforms2D(objects=(0, 1, 2), image_size=8), "val", 2, seed=0, cache=False)


# --- pickled checkpoints that would run code ------------------------------------------------------------------


class _Payload:
    """Unpickling an instance calls ``call(*args)``: what a malicious checkpoint does."""

    def __init__(self, call: Any, *args: Any) -> None:
        self.call, self.args = call, args

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return self.call, self.args


def _payloads(marker: Path) -> dict[str, tuple[_Payload, str]]:
    """Each payload creates ``marker`` when unpickled; with the call the refusal names (as torch spells it)."""
    return {
        "os.system": (_Payload(os.system, f"touch '{marker}'"), "posix.system"),
        "exec": (_Payload(builtins.exec, f"open({str(marker)!r}, 'w').close()"), "exec"),
        "open": (_Payload(builtins.open, str(marker), "w"), "io.open"),
    }


def _evil(path: Path, payload: _Payload) -> Path:
    torch.save({"conv1.weight": torch.zeros(1), "bias": payload}, path)
    return path


@pytest.mark.parametrize("kind", ["os.system", "exec", "open"])
def test_a_malicious_weights_file_is_refused_and_runs_nothing(tmp_path: Path, kind: str) -> None:
    marker = tmp_path / "pwned"
    payload, call = _payloads(marker)[kind]
    evil = _evil(tmp_path / "evil.pt", payload)
    assert not marker.exists()
    result = run("score", "--model", "cifar:resnet18?width=0.125", "--weights", str(evil), "--quiet")
    message = one_line_error(result)
    assert message.startswith(f"Refused weights file {str(evil)!r}: unpickling it would call {call}, which can run ")
    assert "invmeter loads tensors only" in message and not marker.exists()


def test_a_malicious_checkpoint_is_refused_and_runs_nothing(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    evil = _evil(tmp_path / "model.pt", _payloads(marker)["os.system"][0])
    # without a sidecar it is refused before being opened; with a valid one, when its weights are read
    assert "has no sidecar" in one_line_error(run("score", "--model", str(evil), "--quiet"))
    sidecar = {"format": CHECKPOINT_FORMAT, "arch": "cifar:resnet18", "width": 0.125, "num_classes": 10}
    (tmp_path / "model.json").write_text(json.dumps(sidecar))
    message = one_line_error(run("score", "--model", str(evil), "--quiet"))
    assert message.startswith(f"Refused weights file {str(evil)!r}: unpickling it would call posix.system")
    assert not marker.exists()


def test_a_malicious_training_state_is_refused_on_resume_and_runs_nothing(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    (tmp_path / "run").mkdir()
    _evil(tmp_path / "run" / "train_state.pt", _payloads(marker)["exec"][0])
    result = run("train", "--classes", "2", "--image-size", "8", "--epochs", "1", "--out", str(tmp_path / "run"),
                 "--resume", "-q")
    state = tmp_path / "run" / "train_state.pt"
    assert one_line_error(result).startswith(f"Refused training state {str(state)!r}: unpickling it would call exec,")
    assert not marker.exists()
