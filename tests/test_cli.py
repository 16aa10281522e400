"""The command line: happy paths, machine-readable output, and one-line errors for user mistakes."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from invmeter.cli import cli

TINY = ["--model", "timm:test_resnet", "--weights", "random", "--image-size", "32", "--classes", "3",
        "--n-images", "24", "--bootstrap", "50", "--quiet"]


def run(*args: str) -> object:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_score_writes_json_and_appends_csv(tmp_path: Path) -> None:
    out, table = tmp_path / "r.json", tmp_path / "r.csv"
    result = run("score", *TINY, "--transform", "rotation:45", "--json", str(out), "--csv", str(table))
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert report["transform"]["spec"] == "rotation:45" and "invariance" in report["metrics"]
    run("score", *TINY, "--transform", "blur", "--csv", str(table))
    rows = list(csv.DictReader(table.open()))
    assert [r["transform"] for r in rows] == ["rotation:45", "blur"]


def test_score_prints_a_table_and_json_to_stdout() -> None:
    args = [a for a in TINY if a != "--quiet"]
    result = run("score", *args, "--transform", "hflip")
    assert result.exit_code == 0
    assert "invariance" in result.output and "95% CI" in result.output
    result = run("score", *TINY, "--transform", "hflip", "--json", "-")
    assert json.loads(result.output)["transform"]["spec"] == "hflip"


def test_several_models_and_transforms_give_one_report_each() -> None:
    result = run("score", *TINY, "--model", "cifar:resnet18?width=0.125", "-t", "hflip", "-t", "vflip", "--json", "-")
    reports = json.loads(result.output)
    assert [(r["model"]["name"], r["transform"]["spec"]) for r in reports] == [
        ("timm:test_resnet", "hflip"), ("timm:test_resnet", "vflip"),
        ("cifar:resnet18?width=0.125", "hflip"), ("cifar:resnet18?width=0.125", "vflip"),
    ]


def _single_class_folder(tmp_path: Path) -> Path:
    from PIL import Image

    (tmp_path / "one" / "cats").mkdir(parents=True)
    Image.new("RGB", (8, 8)).save(tmp_path / "one" / "cats" / "a.png")
    return tmp_path / "one"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "resnt18"], "Did you mean 'resnet18'"),
        (["--transform", "rotaton"], "Did you mean 'rotation'"),
        (["--transform", "rotation:400"], "must be in [0, 180]"),
        (["--transform", "blur:lots"], "must be a number"),
        (["--data", "{tmp}/empty"], "No images found"),
        (["--data", "{tmp}/nowhere"], "does not exist"),
        (["--data", "{single}"], "single class"),
        (["--json", "{tmp}/no/such/dir/out.json"], "does not exist"),
        (["--weights", "{tmp}/missing.safetensors"], "does not exist"),
    ],
)
def test_user_mistakes_give_one_line_errors(tmp_path: Path, args: list[str], message: str) -> None:
    (tmp_path / "empty").mkdir()
    single = _single_class_folder(tmp_path)
    args = [a.format(tmp=tmp_path, single=single) for a in args]
    base = [a for a in TINY if a not in ("--model", "timm:test_resnet")] if "--model" in args else TINY
    result = CliRunner().invoke(cli, ["score", *base, *args])
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)  # no exception escaped the CLI
    lines = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(lines) == 1 and message in lines[0], result.output


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_unwritable_output_path(tmp_path: Path) -> None:  # pragma: no cover - CI runs as root
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    result = CliRunner().invoke(cli, ["score", *TINY, "--json", str(locked / "r.json")])
    assert result.exit_code == 1 and "permission denied" in result.output


def test_output_path_that_is_a_directory(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["score", *TINY, "--csv", str(tmp_path)])
    assert result.exit_code == 1 and "is a directory" in result.output


def test_bad_option_values() -> None:
    # a value the option's type cannot parse is click's usage error (exit 2); a value the settings layer refuses is
    # the same one-line error as in the API (exit 1), raised before any model is loaded
    result = CliRunner().invoke(cli, ["score", "--seed", "abc"])
    assert result.exit_code == 2 and "Invalid value" in result.output
    result = CliRunner().invoke(cli, ["score", "--probe", "svm"])
    assert result.exit_code == 1 and "Error: The 'probe' parameter must be one of auto, ridge, lbfgs, adam" in result.output


def _commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[list[str]]:
    out = [list(prefix)]
    for name, command in group.commands.items():
        out += _commands(command, (*prefix, name)) if isinstance(command, click.Group) else [[*prefix, name]]
    return out


@pytest.mark.parametrize("command", _commands(cli), ids=lambda c: " ".join(c) or "invmeter")
def test_help_of_every_command(command: list[str]) -> None:
    result = run(*command, "--help")
    assert result.exit_code == 0 and "Usage:" in result.output and "Traceback" not in result.output


def test_transforms_and_models_listings() -> None:
    from invmeter.transforms import list_transforms

    listing = run("transforms").output
    for name in list_transforms():
        assert name in listing
    assert "degrees" in listing
    rows = [line.split() for line in run("models", "cifar:*").output.splitlines()]
    assert rows == [["model", "pretrained", "weights"], ["cifar:resnet18", "no"], ["cifar:vgg11", "no"],
                    ["cifar:densenet121", "no"]]
    tags = run("models", "resnet18.*").output
    assert ["resnet18.a1_in1k", "yes"] in [line.split() for line in tags.splitlines()]
    missing = CliRunner().invoke(cli, ["models", "zzzz*"])
    assert missing.exit_code == 1 and "No model matches" in missing.output
