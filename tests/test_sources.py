"""Transforms-2D object and background sources from disk: RGBA images, photo folders and the SI-score layout."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from invmeter.data import ImageObjects, PhotoBackgrounds, load_background_source, load_object_source
from invmeter.errors import DataError


def _si_score(tmp_path: Path, object_folder: Path, background_folder: Path) -> Path:
    root = tmp_path / "si-score"
    for png in sorted(object_folder.glob("*.png")):
        (root / "foregrounds" / png.stem).mkdir(parents=True)
        shutil.copy(png, root / "foregrounds" / png.stem / f"{png.stem}_2.png")
        Image.new("RGBA", (8, 8)).save(root / "foregrounds" / png.stem / f"{png.stem}_9.png")  # not the first: unused
    shutil.copytree(background_folder, root / "backgrounds")
    return root


def test_one_rgba_file_per_class(object_folder: Path) -> None:
    source = load_object_source(object_folder)
    assert isinstance(source, ImageObjects) and source.layout == "files"
    assert source.count() == 4 and source.class_names([0, 3]) == ["astronaut", "rocket"]
    canvas = source.render([0, 1], 32, 0.7)
    assert canvas.shape == (2, 4, 32, 32)
    # The object fills the centred round(0.7 * 32) = 22 px square; outside it the canvas is transparent (and black).
    assert canvas[:, :, :5].abs().max() == 0 and canvas[:, :, 27:].abs().max() == 0
    assert canvas[:, :, :, :5].abs().max() == 0 and canvas[:, :, :, 27:].abs().max() == 0
    # Its alpha is the ellipse: opaque at the centre, transparent in the corners of the square.
    assert (canvas[:, 3, 16, 16] > 0.99).all() and (canvas[:, 3, 5, 5] < 0.05).all()
    # Premultiplied colour is the photo's colour: compare the centre pixel with the source PNG's centre.
    rgba = np.asarray(Image.open(object_folder / "astronaut.png"), dtype=np.float32) / 255
    torch.testing.assert_close(canvas[0, :3, 15:17, 15:17].mean((1, 2)), torch.tensor(rgba[28:36, 20:28, :3].mean((0, 1))),
                               atol=0.12, rtol=0)


def test_one_subfolder_per_class_uses_the_first_image(tmp_path: Path, object_folder: Path) -> None:
    for png in sorted(object_folder.glob("*.png"))[:2]:
        (tmp_path / png.stem).mkdir()
        shutil.copy(png, tmp_path / png.stem / "a.png")
        Image.new("RGB", (8, 8)).save(tmp_path / png.stem / "b.png")  # an RGB image after it: never used
    source = load_object_source(tmp_path)
    assert source.layout == "subfolders" and source.names == ("astronaut", "chelsea")
    assert [f.name for f in source.files] == ["a.png", "a.png"]


def test_si_score_layout(tmp_path: Path, object_folder: Path, background_folder: Path) -> None:
    root = _si_score(tmp_path, object_folder, background_folder)
    objects, backgrounds = load_object_source(root), load_background_source(root)
    assert objects.layout == "si-score" and objects.names == ("astronaut", "chelsea", "coffee", "rocket")
    assert all(f.name.endswith("_2.png") for f in objects.files)
    # The paper's preprocessing: the largest top-left square of each photo, one background per photo.
    assert backgrounds.crop == "top-left" and backgrounds.count == 6
    first = Image.open(backgrounds.files[0]).convert("RGB")
    (w, h), side = first.size, min(first.size)
    got = backgrounds.render(torch.tensor([0]), 16)[0].permute(1, 2, 0).numpy()

    def error(left: int, top: int) -> float:
        crop = first.resize((16, 16), Image.BILINEAR, box=(left, top, left + side, top + side))
        return float(np.abs(got - np.asarray(crop, dtype=np.float32) / 255).mean())

    # JPEGs are decoded at a reduced scale (draft mode), so pixels differ slightly from a full-size decode.
    assert error(0, 0) < 0.03 and error(0, 0) < error(w - side, h - side) / 5
    assert error(0, 0) < error((w - side) // 2, (h - side) // 2) / 5


def test_photo_backgrounds_are_seeded_random_crops(background_folder: Path) -> None:
    source = load_background_source(background_folder)
    assert isinstance(source, PhotoBackgrounds) and source.crop == "random" and source.count == 867
    ids = torch.tensor([0, 6, 1, 0])  # 0 and 6 are two crops of the same photo
    a = source.render(ids, 24)
    assert a.shape == (4, 3, 24, 24) and 0 <= float(a.min()) and float(a.max()) <= 1
    assert torch.equal(a[0], a[3]) and not torch.equal(a[0], a[1])
    assert torch.equal(a, load_background_source(background_folder).render(ids, 24))
    assert not torch.equal(a, load_background_source(background_folder, seed=1).render(ids, 24))


def test_fingerprint_changes_when_a_file_changes(tmp_path: Path, object_folder: Path) -> None:
    folder = shutil.copytree(object_folder, tmp_path / "objects")
    before = load_object_source(folder).describe()
    path = folder / "coffee.png"
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    after = load_object_source(folder).describe()
    assert before["fingerprint"] != after["fingerprint"] and before["path"] == after["path"]


def _one_line_error(func, *args) -> str:  # noqa: ANN001
    with pytest.raises(DataError) as info:
        func(*args)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_bad_source_folders_give_one_line_errors(tmp_path: Path, object_folder: Path) -> None:
    assert "does not exist" in _one_line_error(load_object_source, tmp_path / "missing")
    assert "does not exist" in _one_line_error(load_background_source, tmp_path / "missing")
    assert "not a folder" in _one_line_error(load_object_source, object_folder / "coffee.png")
    (tmp_path / "empty").mkdir()
    assert "0 object image(s)" in _one_line_error(load_object_source, tmp_path / "empty")
    assert "No photos found" in _one_line_error(load_background_source, tmp_path / "empty")
    single = tmp_path / "single"
    single.mkdir()
    shutil.copy(object_folder / "coffee.png", single)
    assert "has 1 object image(s)" in _one_line_error(load_object_source, single)
    rgb = tmp_path / "rgb"
    shutil.copytree(object_folder, rgb)
    Image.open(object_folder / "rocket.png").convert("RGB").save(rgb / "rocket.png")
    message = _one_line_error(load_object_source, rgb)
    assert "rocket.png" in message and "has no alpha channel" in message
    mixed = shutil.copytree(object_folder, tmp_path / "mixed")
    (mixed / "sub").mkdir()
    shutil.copy(object_folder / "coffee.png", mixed / "sub")
    assert "mixes image files and class subfolders" in _one_line_error(load_object_source, mixed)
    broken = shutil.copytree(object_folder, tmp_path / "broken")
    (broken / "zzz.png").write_bytes(b"not a png")
    assert "Cannot read image" in _one_line_error(load_object_source, broken)
