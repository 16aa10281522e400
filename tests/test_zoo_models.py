"""Any model in a zoo (module objects, handles, named entries, a TOML models file: "timm architecture + my weights"),
the command line's exit status and messages, and one run per output folder."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from safetensors.torch import save_file
from torch import nn

import invmeter
from invmeter.cli import cli
from invmeter.errors import InvalidParameterError
from invmeter.leaderboard.entries import read_models_file
from invmeter.leaderboard.zoo import LOCK_FILE, ZooModel
from invmeter.models import load_model

SMALL = {"image_size": 32, "n_images": 12, "n_classes": 3, "n_boot": 50}
TINY = ["-t", "hflip", "--image-size", "32", "--n-images", "12", "--classes", "3", "--bootstrap", "20"]


def _conv(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten())


@pytest.mark.filterwarnings("default::invmeter.errors.InvmeterWarning")  # timm:test_resnet offline: random-init
def test_modules_handles_and_specs_in_one_zoo_under_the_names_given(tmp_path: Path) -> None:
    mine, handle = _conv(0), load_model("cifar:vgg11?width=0.125", weights="random", init_seed=3)
    before = {k: v.clone() for k, v in mine.state_dict().items()}
    rows = invmeter.zoo({"mine": ZooModel("mine", mine, mean=(0.5,), std=(0.5,)), "theirs": "timm:test_resnet",
                         "handle": handle}, ["hflip"], out=tmp_path, jobs=2, **SMALL)
    assert [(r["model"], r["status"]) for r in rows] == [("mine", "ok"), ("theirs", "ok"), ("handle", "ok")]
    assert all(torch.equal(v, mine.state_dict()[k]) for k, v in before.items())  # the caller's module, untouched
    alone = invmeter.score(mine, "hflip", mean=(0.5,), std=(0.5,), **SMALL)
    assert rows[0]["metrics"]["invariance"]["value"] == pytest.approx(alone["invariance"])
    assert rows[0]["weights"] == "as-given" and "learned_invariance" in rows[0]["metrics"]  # calibrated
    assert rows[2]["weights"] == "random-init" and rows[2]["meta"]["architecture"] == "cifar:vgg11?width=0.125"
    md = (tmp_path / "leaderboard.md").read_text()
    assert "[mine](reports/" in md and "[theirs](reports/" in md
    pairs = invmeter.zoo([("a", _conv(0)), ("b", _conv(1))], ["hflip"], out=tmp_path / "pairs", mean=(0.5,),
                         std=(0.5,), **SMALL)
    assert [r["model"] for r in pairs] == ["a", "b"]
    twice = invmeter.zoo([("a", mine), ("again", mine), "cifar:vgg11?width=0.125", "cifar:vgg11?width=0.125"],
                         ["hflip"], out=tmp_path / "twice", mean=(0.5,), std=(0.5,), **SMALL)
    assert [r["model"] for r in twice] == ["a", "cifar:vgg11?width=0.125"]  # one row per distinct model
    with pytest.raises(InvalidParameterError, match="Two different zoo models are named 'a'"):
        invmeter.zoo([("a", _conv(0)), ("a", _conv(1))], ["hflip"], out=tmp_path / "clash", **SMALL)
    with pytest.raises(InvalidParameterError, match=r"must be a spec string, an nn.Module or a ModelHandle. Got int"):
        invmeter.zoo({"x": 3}, ["hflip"], out=tmp_path / "bad", **SMALL)
    assert not (tmp_path / "clash").exists() and not (tmp_path / "bad").exists()


def test_a_models_file_puts_a_timm_architecture_with_my_weights_on_the_board(tmp_path: Path) -> None:
    mine = load_model("timm:test_resnet", weights="random", init_seed=7)
    save_file({k: v.contiguous() for k, v in mine.model.state_dict().items()}, str(tmp_path / "mine.safetensors"))
    (tmp_path / "models.toml").write_text(
        '[[model]]\nname = "mine"\narch = "timm:test_resnet"\nweights = "mine.safetensors"\n\n'
        '[[model]]\nname = "tiny vgg"\nspec = "cifar:vgg11?width=0.125"\nweights = "random"\nimage_size = 32\n')
    entries = read_models_file(tmp_path / "models.toml")
    assert [(e.name, e.weights) for e in entries] == [("mine", str(tmp_path / "mine.safetensors")),
                                                      ("tiny vgg", "random")]
    result = CliRunner().invoke(cli, ["zoo", "--models", str(tmp_path / "models.toml"), *TINY, "--out",
                                      str(tmp_path / "board"), "-q"])
    assert result.exit_code == 0, result.output
    rows = {r["model"]: r for r in invmeter.zoo(entries, ["hflip"], out=tmp_path / "board", **{**SMALL, "n_boot": 20})}
    assert rows["mine"]["weights"] == f"file:{tmp_path / 'mine.safetensors'}"
    alone = invmeter.score(mine, "hflip", **{**SMALL, "n_boot": 20})  # the weights in the file were the ones scored
    assert rows["mine"]["metrics"]["invariance"]["value"] == pytest.approx(alone["invariance"])
    assert rows["tiny vgg"]["weights"] == "random-init"
    assert "| [mine](reports/" in (tmp_path / "board" / "leaderboard.md").read_text()


@pytest.mark.parametrize(("text", "message"), [
    ("[[model]]\nname = 'x'\n", "give exactly one of 'spec'"),
    ("[[model]]\nspec = 'cifar:vgg11'\narch = 'cifar:vgg11'\n", "give exactly one of 'spec'"),
    ("[[model]]\narch = 'timm:test_resnet'\n", "an 'arch' needs weights = 'FILE'"),
    ("[[model]]\nspec = 'cifar:vgg11'\ncolour = 'red'\n", "unknown key 'colour'"),
    ("[[model]]\nspec = 'cifar:vgg11'\nmean = [0.5, 'a']\n", "'mean' must be 1 or 3 finite numbers"),
    ("[[model]]\nspec = 'cifar:vgg11'\nimage_size = '32'\n", "'image_size' must be an integer"),
    ("[[model]]\nspec = ''\n", "'spec'/'arch' must be a non-empty string"),
    ("model = 3\n", "expected one \\[\\[model\\]\\] table per model"),
    ("[[model]\n", "not valid TOML"),
])
def test_a_bad_models_file_is_a_one_line_error_naming_the_file_and_model(tmp_path: Path, text: str,
                                                                          message: str) -> None:
    (tmp_path / "m.toml").write_text(text)
    result = CliRunner().invoke(cli, ["zoo", "--models", str(tmp_path / "m.toml"), "--out", str(tmp_path / "z")])
    assert result.exit_code == 1 and len(result.output.strip().splitlines()) == 1, result.output
    assert "m.toml" in result.output
    with pytest.raises(InvalidParameterError, match=message):
        read_models_file(tmp_path / "m.toml")
    assert not (tmp_path / "z").exists()


def test_exit_status_says_whether_rows_failed_or_nothing_was_ranked(tmp_path: Path) -> None:
    both = ["zoo", "test_zoo:counting_model", "test_zoo:broken_model", *TINY]
    failed = CliRunner().invoke(cli, [*both, "--out", str(tmp_path / "a"), "-q"])
    assert failed.exit_code == 1
    assert "FAILED test_zoo:broken_model [auto] on hflip: The model factory 'test_zoo:broken_model' failed" in \
        failed.output and "no weights for this one" in failed.output
    assert "Error: 1 of 2 rows failed" in failed.output and "--allow-failures" in failed.output
    assert (tmp_path / "a" / "leaderboard.html").is_file()  # the board lists the failure too
    allowed = CliRunner().invoke(cli, [*both, "--out", str(tmp_path / "a"), "-q", "--allow-failures"])
    assert allowed.exit_code == 0 and "FAILED test_zoo:broken_model" in allowed.output
    nothing = CliRunner().invoke(cli, ["zoo", "test_zoo:broken_model", *TINY, "--out", str(tmp_path / "b"),
                                       "--allow-failures"])
    assert nothing.exit_code == 1 and "Nothing was ranked" in nothing.output
    wrote = next(line for line in nothing.output.splitlines() if line.startswith("Wrote "))
    assert "leaderboard" not in wrote and not (tmp_path / "b" / "leaderboard.html").exists()
    for path in wrote[len("Wrote "):].rstrip(".").split(", "):
        assert Path(path).exists(), path  # every file it names, it wrote
    empty = CliRunner().invoke(cli, ["zoo", "test_zoo:counting_model", "--out", ""])
    assert empty.exit_code == 1 and "output folder is empty" in empty.output


def test_a_second_run_on_the_same_folder_stops_while_the_first_holds_the_lock(tmp_path: Path) -> None:
    holder = subprocess.Popen([sys.executable, "-c", ("import sys, time, filelock; lock = filelock.FileLock(sys.argv[1]);"
                               " lock.acquire(); print('held', flush=True); time.sleep(60)"),
                               str(tmp_path / LOCK_FILE)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        start = time.perf_counter()
        with pytest.raises(InvalidParameterError, match=r"Another invmeter zoo is writing to .*wait for it to finish"):
            invmeter.zoo(["test_zoo:counting_model"], ["hflip"], out=tmp_path, mean=(0.5,), std=(0.5,), **SMALL)
        assert time.perf_counter() - start < 30 and not (tmp_path / "results.csv").exists()
    finally:
        holder.kill()
        holder.wait()
    rows = invmeter.zoo(["test_zoo:counting_model"], ["hflip"], out=tmp_path, mean=(0.5,), std=(0.5,), **SMALL)
    assert rows.ranked == 1  # the lock of a killed run is free again
