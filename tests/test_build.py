"""Built Transforms-2D splits: determinism, balanced labels, disjoint splits, the on-disk cache."""

from __future__ import annotations

import hashlib
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

import invmeter.data.build as build
from invmeter.data import SPLIT_SEED_OFFSETS, Transforms2D, build_split
from invmeter.errors import InvalidParameterError, InvmeterWarning, UnknownNameError
from invmeter.transforms import parse_transform

DATASET = Transforms2D(objects=(0, 1, 2, 3), transforms=parse_transform("rotation+blur"), image_size=16)


def test_same_seed_identical_bytes_whatever_the_workers() -> None:
    a = build_split(DATASET, "train", 300, seed=3, cache=False, workers=1)
    b = build_split(DATASET, "train", 300, seed=3, cache=False, workers=2)
    c = build_split(DATASET, "train", 300, seed=4, cache=False)
    assert a.images.dtype == np.uint8 and a.images.shape == (300, 3, 16, 16) and a.labels.dtype == np.int64
    assert a.images.tobytes() == b.images.tobytes() and np.array_equal(a.labels, b.labels)
    assert a.images.tobytes() != c.images.tobytes()
    assert np.bincount(a.labels).tolist() == [75] * 4


def test_a_built_split_is_the_dataset_rendered_at_its_split_seed() -> None:
    built = build_split(DATASET, "val", 50, seed=1, cache=False)
    scenes = DATASET.sample_scenes(50, torch.Generator().manual_seed(1 + SPLIT_SEED_OFFSETS["val"]), balanced=True)
    expected = (DATASET.render(scenes, DATASET.prototypes()) * 255).round().byte().numpy()
    assert np.array_equal(built.images, expected) and np.array_equal(built.labels, scenes.labels.numpy())
    assert {key: built.spec[key] for key in DATASET.describe()} == DATASET.describe()
    assert (built.spec["split"], built.spec["n"], built.spec["seed"], built.spec["split_seed"]) == ("val", 50, 1, 111)


def test_splits_are_disjoint() -> None:
    digests = {}
    for split in SPLIT_SEED_OFFSETS:
        images = build_split(DATASET, split, 200, seed=0, cache=False).images
        digests[split] = {hashlib.sha1(image.tobytes()).hexdigest() for image in images}
        assert len(digests[split]) == 200
    assert not digests["train"] & digests["val"] and not digests["train"] & digests["test"]
    assert not digests["val"] & digests["test"]


def test_cache_hit_is_memory_mapped_and_identical(tmp_path: Path) -> None:
    first = build_split(DATASET, "test", 120, seed=0, cache=tmp_path)
    again = build_split(DATASET, "test", 120, seed=0, cache=tmp_path)
    assert isinstance(again.images, np.memmap) and not again.images.flags.writeable
    assert again.path == first.path and first.path is not None and first.path.parent == tmp_path / "transforms2d"
    assert np.array_equal(again.images, build_split(DATASET, "test", 120, seed=0, cache=False).images)
    assert again.spec == first.spec
    other = build_split(DATASET, "test", 121, seed=0, cache=tmp_path)
    assert other.path != first.path
    assert sorted(p.name.startswith(".") for p in (tmp_path / "transforms2d").iterdir()) == [False, False]


def test_default_cache_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INVMETER_CACHE", str(tmp_path))
    assert build.cache_dir(True) == tmp_path and build.cache_dir(False) is None
    assert build_split(DATASET, "train", 10, seed=0).path.parent == tmp_path / "transforms2d"
    monkeypatch.delenv("INVMETER_CACHE")
    assert build.cache_dir() == Path.home() / ".cache" / "invmeter"


def test_an_interrupted_build_leaves_no_cache_entry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []

    def failing_render(*args, **kwargs):  # noqa: ANN002, ANN003
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return original(*args, **kwargs)

    original = Transforms2D.render
    monkeypatch.setattr(Transforms2D, "render", failing_render)
    monkeypatch.setattr(build, "CHUNK", 16)
    with pytest.raises(KeyboardInterrupt):
        build_split(DATASET, "train", 100, seed=0, cache=tmp_path, workers=1)
    assert list((tmp_path / "transforms2d").iterdir()) == []  # neither an entry nor a temporary folder
    monkeypatch.setattr(Transforms2D, "render", original)
    assert len(build_split(DATASET, "train", 100, seed=0, cache=tmp_path)) == 100


def test_a_damaged_cache_entry_is_rebuilt(tmp_path: Path) -> None:
    entry = build_split(DATASET, "train", 40, seed=0, cache=tmp_path).path
    (entry / "labels.npy").unlink()
    with pytest.warns(InvmeterWarning, match=r"cache entry .* is damaged \(labels.npy is missing\); rebuilding it"):
        rebuilt = build_split(DATASET, "train", 40, seed=0, cache=tmp_path)
    assert rebuilt.path == entry and len(rebuilt.labels) == 40


@pytest.mark.parametrize("name", ["images.npy", "labels.npy"])
def test_a_same_size_change_inside_a_cached_array_is_caught_and_rebuilt(tmp_path: Path, name: str) -> None:
    first = build_split(DATASET, "train", 40, seed=0, cache=tmp_path)
    entry, images, labels = first.path, np.array(first.images), first.labels.copy()
    del first
    data = bytearray((entry / name).read_bytes())
    data[-7] ^= 0x01  # one bit of one pixel / label, far from the header: the file still loads
    (entry / name).write_bytes(bytes(data))
    assert np.load(entry / name).shape == (images if name == "images.npy" else labels).shape
    with pytest.warns(InvmeterWarning, match=rf"is damaged \({name} no longer match their SHA-256 checksums\)"):
        rebuilt = build_split(DATASET, "train", 40, seed=0, cache=tmp_path)
    assert rebuilt.path == entry and np.array_equal(rebuilt.images, images) and np.array_equal(rebuilt.labels, labels)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the rebuilt entry loads again without a warning
        assert np.array_equal(build_split(DATASET, "train", 40, seed=0, cache=tmp_path).images, images)


def test_source_folder_identity_is_part_of_the_key(tmp_path: Path, object_folder: Path) -> None:
    import shutil

    from invmeter.data import load_object_source

    folder = shutil.copytree(object_folder, tmp_path / "objects")
    dataset = Transforms2D(objects=(0, 1), image_size=16, object_source=load_object_source(folder))
    before = build_split(dataset, "train", 8, seed=0, cache=tmp_path / "cache")
    shutil.copy(object_folder / "rocket.png", folder / "astronaut.png")  # same name, new content
    dataset = Transforms2D(objects=(0, 1), image_size=16, object_source=load_object_source(folder))
    after = build_split(dataset, "train", 8, seed=0, cache=tmp_path / "cache")
    assert after.path != before.path and not np.array_equal(after.images, before.images)


def test_bad_arguments() -> None:
    with pytest.raises(UnknownNameError, match="Unknown split 'tran'. Did you mean 'train'"):
        build_split(DATASET, "tran", 10, seed=0, cache=False)
    with pytest.raises(InvalidParameterError, match="'n' parameter must be an integer >= 1"):
        build_split(DATASET, "train", 0, seed=0, cache=False)
    with pytest.raises(InvalidParameterError, match="'workers'"):
        build_split(DATASET, "train", 10, seed=0, cache=False, workers=0)
