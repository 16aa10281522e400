"""Built-in Transforms-2D data and image folders."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from invmeter.data import FolderImages, ImagePairs, ProceduralObjects, Transforms2D, Transforms2DPairs
from invmeter.errors import DataError, InvalidParameterError
from invmeter.models.preprocessing import plain_preprocessing
from invmeter.transforms import parse_transform


def test_same_seed_same_pixels_other_seed_other_pixels() -> None:
    ds = Transforms2D(objects=(0, 1, 2), image_size=32)
    a = Transforms2DPairs(ds, parse_transform("rotation"), 12, seed=1).render(slice(0, 12))
    b = Transforms2DPairs(ds, parse_transform("rotation"), 12, seed=1).render(slice(0, 12))
    c = Transforms2DPairs(ds, parse_transform("rotation"), 12, seed=2).render(slice(0, 12))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[1], c[1])


def test_rendering_does_not_depend_on_batching() -> None:
    pairs = Transforms2DPairs(Transforms2D(objects=(0, 1), image_size=24), parse_transform("rotation+blur"), 8, seed=0)
    whole = pairs.render(slice(0, 8))
    parts = [pairs.render(slice(i, i + 3)) for i in range(0, 8, 3)]
    for view in (0, 1):
        torch.testing.assert_close(whole[view], torch.cat([p[view] for p in parts]), atol=1e-6, rtol=0)


@pytest.mark.parametrize("transform", ["rotation", "hflip", "blur", "color_jitter", "scale"])
def test_a_controlled_pair_differs_only_inside_the_object_footprint(transform: str) -> None:
    ds = Transforms2D(objects=(3, 4, 5), image_size=32)
    pairs = Transforms2DPairs(ds, parse_transform(transform), 6, seed=0)
    clean, transformed = pairs.render(slice(0, 6))
    protos = ds.prototypes()[pairs.scenes.labels]
    moved = parse_transform(transform)
    footprint_after = torch.zeros_like(protos[:, 3])
    from invmeter.transforms import apply_transforms

    footprint_after = apply_transforms(protos, pairs.probe)[:, 3]
    outside = (protos[:, 3] == 0) & (footprint_after == 0)
    assert outside.any()
    diff = (clean - transformed).abs().amax(dim=1)
    assert float(diff[outside].max()) == 0.0
    assert float(diff.max()) > 0.05, f"{moved} changed nothing"


def test_classes_are_balanced_and_objects_asymmetric() -> None:
    ds = Transforms2D(objects=tuple(range(5)), image_size=32)
    pairs = Transforms2DPairs(ds, parse_transform("hflip"), 50, seed=0)
    assert torch.bincount(pairs.labels).tolist() == [10] * 5
    protos = ProceduralObjects().render(list(range(20)), 32)
    for flipped in (protos.flip(-1), protos.flip(-2), torch.rot90(protos, 2, (-2, -1))):
        assert ((protos - flipped).abs().amax(dim=(1, 2, 3)) > 0.2).all()


def test_objects_are_distinct_and_stable() -> None:
    a = ProceduralObjects(seed=0).render([0, 1, 2], 32)
    b = ProceduralObjects(seed=0).render([2], 32)
    assert torch.equal(a[2], b[0])
    assert (a[0] - a[1]).abs().max() > 0.2
    assert ProceduralObjects().render([7], 224).shape == (1, 4, 224, 224)


def test_transforms2d_validation() -> None:
    with pytest.raises(InvalidParameterError, match="at least 2 classes"):
        Transforms2D(objects=(0,))
    with pytest.raises(InvalidParameterError, match="at least 2 images per class"):
        Transforms2DPairs(Transforms2D(objects=(0, 1, 2)), parse_transform("rotation"), 4)


def _folder_pairs(root: Path, spec: str, size: int, n: int | None = None) -> ImagePairs:
    return ImagePairs(FolderImages(root), parse_transform(spec), plain_preprocessing(size, source="test").prepare, n=n)


def test_folder_pairs_transform_the_whole_image(photo_folder: Path) -> None:
    pairs = _folder_pairs(photo_folder, "hflip", 40)
    assert len(pairs) == 32 and pairs.class_names == ["astronaut", "chelsea", "coffee", "rocket"]
    clean, transformed = pairs.render(slice(0, 5))
    assert clean.shape == (5, 3, 40, 40)
    assert torch.equal(transformed, clean.flip(-1))
    subset = _folder_pairs(photo_folder, "hflip", 40, n=10)
    assert len(subset) == 10


def test_folder_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        FolderImages(tmp_path / "missing")
    with pytest.raises(DataError, match="No images"):
        FolderImages(tmp_path)
    from PIL import Image

    Image.new("RGB", (8, 8)).save(tmp_path / "flat.png")
    flat = FolderImages(tmp_path)  # images directly in the folder: unlabelled
    assert flat.labels is None and len(flat) == 1
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "broken.png").write_bytes(b"not an image")
    (tmp_path / "only").mkdir()
    Image.new("RGB", (8, 8)).save(tmp_path / "only" / "a.png")
    pairs = _folder_pairs(tmp_path, "rotation", 32)  # class subfolders win over loose files
    assert pairs.class_names == ["only", "other"]
    with pytest.raises(DataError, match="Cannot read image .*broken.png"):
        pairs.render(slice(0, 2))


@pytest.mark.parametrize("n_classes, n", [(2, 8), (2, 9), (3, 7), (10, 40), (10, 41)])
def test_scenes_come_in_twins_that_differ_only_in_their_object(n_classes: int, n: int) -> None:
    ds = Transforms2D(objects=tuple(range(n_classes)), transforms=parse_transform("scale+rotation+blur"), image_size=32)
    pairs = Transforms2DPairs(ds, parse_transform("rotation"), n, seed=3)
    ref, scenes = pairs.reference, pairs.scenes
    expected = torch.arange(n) ^ 1
    if n % 2:
        expected[-1] = n - 2
    assert torch.equal(ref, expected)
    assert bool((scenes.labels != scenes.labels[ref]).all())  # another object ...
    assert torch.equal(scenes.backgrounds, scenes.backgrounds[ref])  # ... in the same scene
    assert all(torch.equal(p, p[ref]) for p in scenes.transforms.params)
    counts = torch.bincount(scenes.labels, minlength=n_classes)
    assert int(counts.max() - counts.min()) <= 1
    clean, _ = pairs.render(slice(0, n))
    from invmeter.transforms import apply_transforms

    alpha = apply_transforms(ds.prototypes()[scenes.labels], scenes.transforms)[:, 3]
    outside = (alpha == 0) & (alpha[ref] == 0)
    assert float((clean - clean[ref]).abs().amax(dim=1)[outside].max()) == 0.0  # the backgrounds are identical
    assert bool(((clean - clean[ref]).abs().amax(dim=(1, 2, 3)) > 0.05).all())
