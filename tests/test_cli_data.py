"""The data commands and Transforms-2D from real object and background folders on the command line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from invmeter.cli import cli

TINY = ["--model", "timm:test_resnet", "--weights", "random", "--image-size", "32", "--n-images", "24",
        "--bootstrap", "20", "--quiet"]


def run(*args: str) -> object:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_score_on_real_object_photos_and_background_photos(object_folder: Path, background_folder: Path) -> None:
    result = run("score", *TINY, "--transform", "rotation", "--objects", str(object_folder),
                 "--backgrounds", str(background_folder), "--json", "-")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)["data"]
    assert data["n_classes"] == 4 and data["n_images"] == 24
    assert data["object_source"]["source"] == "images" and data["object_source"]["count"] == 4
    assert data["background_source"]["source"] == "photos" and data["background_source"]["photos"] == 6


def test_data_build_caches_and_reuses(tmp_path: Path) -> None:
    args = ["data", "build", "--classes", "3", "--transforms", "rotation+blur", "--split", "train", "--split", "val",
            "--n-images", "60", "--image-size", "16", "--cache-dir", str(tmp_path), "-q"]
    result = run(*args)
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert [line.split(":")[0] for line in lines] == ["train", "val"]
    entry = Path(lines[0].split("-> ")[1])
    assert np.load(entry / "images.npy", mmap_mode="r").shape == (60, 3, 16, 16)
    assert json.loads((entry / "spec.json").read_text())["transforms"] == "rotation+blur"
    assert run(*args).output.strip().splitlines()[0].split("-> ")[1] == str(entry)
    # one grammar: ',' separates specs, '+' composes; a dataset has one spec
    listed = run("data", "build", "--transforms", "rotation,blur", "--cache-dir", str(tmp_path))
    assert listed.exit_code == 1 and "compose families with '+': 'rotation+blur'" in listed.output


def test_data_preview_writes_a_grid(tmp_path: Path, object_folder: Path) -> None:
    out = tmp_path / "grid.png"
    result = run("data", "preview", "--transforms", "rotation,blur", "--n", "3", "--zoom", "2",
                 "--objects", str(object_folder), "--out", str(out))
    assert result.exit_code == 0, result.output
    with Image.open(out) as grid:
        assert grid.size[1] == 3 * (32 * 2 + 2) + 2  # rows: none, rotation, blur


@pytest.mark.parametrize("args,message", [
    (["data", "build", "--objects", "/no/such/dir", "--split", "val"], "The object folder '/no/such/dir' does not exist."),
    (["data", "build", "--backgrounds", "/no/such/dir", "--split", "val"], "The background folder '/no/such/dir' does"),
    (["data", "build", "--classes", "3", "--transforms", "rotaton", "--split", "val"], "Unknown transform 'rotaton'"),
    (["data", "build", "--classes", "9", "--objects", "OBJECTS", "--split", "val"], "asks for 9 objects but the object"),
    (["score", *TINY, "--objects", "RGB_OBJECTS"], "has no alpha channel"),
    (["data", "preview", "--out", "/no/such/dir/grid.png"], "folder '/no/such/dir' does not exist"),
])
def test_bad_sources_give_one_line_errors(args: list[str], message: str, tmp_path: Path, object_folder: Path) -> None:
    rgb = tmp_path / "rgb"
    rgb.mkdir()
    for name in ("a", "b"):
        Image.new("RGB", (8, 8), "red").save(rgb / f"{name}.png")
    args = [str(object_folder) if a == "OBJECTS" else str(rgb) if a == "RGB_OBJECTS" else a for a in args]
    result = run(*args)
    assert result.exit_code == 1
    assert result.output.startswith("Error: ") and len(result.output.strip().splitlines()) == 1
    assert message in result.output


def test_object_folders_need_the_built_in_data(object_folder: Path, photo_folder: Path) -> None:
    result = run("score", *TINY, "--data", str(photo_folder), "--objects", str(object_folder))
    assert result.exit_code == 2 and "cannot be used with --data DIR" in result.output


@pytest.mark.parametrize("command", [["data"], ["data", "build"], ["data", "preview"]])
def test_help(command: list[str]) -> None:
    assert run(*command, "--help").exit_code == 0
