"""CIFAR-10 from a folder, its stand-in, and CIFAR-10 with pasted objects (Figures 3 and 4): known answers."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from invmeter.data import Cifar10StandIn, PastedObjects, build_split, load_cifar10
from invmeter.data.pasted import balanced_subset
from invmeter.errors import DataError, InvalidParameterError
from invmeter.experiments.cells import dataset_config, dataset_from_config

PER_CLASS = 4  # images per class in each fake training batch (5 batches: 200 training images) and the test batch
CORNER_ROWS, CORNER_COLS = slice(2, 14), slice(21, 32)  # the object's 12 px box at 32 px, cut at the right edge


def _batch(n_per_class: int, offset: int) -> dict:
    """A batch in CIFAR-10's pickle format whose pixels encode the label and the image index:
    red = 20·label, green = index mod 256, blue = 255 − 20·label (constant planes)."""
    labels = np.repeat(np.arange(10), n_per_class)
    index = np.arange(len(labels)) + offset
    planes = np.stack([20 * labels, index % 256, 255 - 20 * labels], axis=1).astype(np.uint8)  # (N, 3)
    data = np.repeat(planes[:, :, None], 1024, axis=2).reshape(len(labels), 3072)
    return {"batch_label": "fake", "labels": labels.tolist(), "data": data, "filenames": [f"{i}.png" for i in index]}


def write_fake_cifar(root: Path) -> Path:
    """A tiny CIFAR-10 folder in torchvision's layout under ``root``, written as the real one is (pickle protocol 2):
    4 images per class in each of the 5 training batches and in the test batch."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    for i in range(1, 6):
        (folder / f"data_batch_{i}").write_bytes(pickle.dumps(_batch(PER_CLASS, 1000 * i), protocol=2))
    (folder / "test_batch").write_bytes(pickle.dumps(_batch(PER_CLASS, 0), protocol=2))
    meta = {"label_names": ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))
    return root


@pytest.fixture(scope="module")
def cifar_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_fake_cifar(tmp_path_factory.mktemp("cifar"))


def _green(rgb: torch.Tensor) -> list[int]:
    """The image indices encoded in the green planes of float images in [0, 1]."""
    return (rgb[:, 1, 0, 0] * 255).round().long().tolist()


def test_cifar_folder_splits_and_pixels(cifar_root: Path) -> None:
    cifar = load_cifar10(cifar_root)
    assert load_cifar10(cifar_root / "cifar-10-batches-py") == cifar  # the batches folder itself works too
    train, val, test = (cifar.labels(s) for s in ("train", "val", "test"))
    assert (len(train), len(val), len(test)) == (180, 20, 40)  # a 90% / 10% split of the 200 training images
    seen = _green(cifar.render("train", torch.arange(180), 32)) + _green(cifar.render("val", torch.arange(20), 32))
    assert sorted(seen) == sorted((np.arange(200) % 40 + np.repeat(1000 * np.arange(1, 6), 40)) % 256)
    images = cifar.render("test", torch.arange(40), 32)
    assert images.shape == (40, 3, 32, 32)
    assert torch.equal((images[:, 0] * 255).round().long(), 20 * test.view(-1, 1, 1).expand(-1, 32, 32))
    assert cifar.render("test", torch.arange(3), 16).shape == (3, 3, 16, 16)
    other = load_cifar10(cifar_root, split_seed=1)
    assert not torch.equal(other.labels("train"), train) and torch.equal(load_cifar10(cifar_root).labels("val"), val)


def test_cifar_folder_errors_are_one_line(cifar_root: Path, tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"No CIFAR-10 folder at .*cifar-10-batches-py.*download=True") as missing:
        load_cifar10(tmp_path / "nowhere")
    assert "\n" not in str(missing.value)
    partial = tmp_path / "partial" / "cifar-10-batches-py"
    partial.mkdir(parents=True)
    (partial / "data_batch_1").write_bytes(b"")
    with pytest.raises(DataError, match=r"lacks data_batch_2, .*test_batch, batches.meta"):
        load_cifar10(partial.parent)
    broken = tmp_path / "broken"
    for name in ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "batches.meta"):
        (broken / "cifar-10-batches-py").mkdir(parents=True, exist_ok=True)
        (broken / "cifar-10-batches-py" / name).write_bytes((cifar_root / "cifar-10-batches-py" / name).read_bytes())
    (broken / "cifar-10-batches-py" / "test_batch").write_bytes(b"not a pickle")
    with pytest.raises(DataError, match="damaged"):
        load_cifar10(broken).labels("test")


def test_cifar_batches_cannot_run_code(cifar_root: Path, tmp_path: Path) -> None:
    class Evil:
        def __reduce__(self) -> tuple:
            return (os.system, (f"touch {tmp_path / 'pwned'}",))

    evil = tmp_path / "evil" / "cifar-10-batches-py"
    evil.mkdir(parents=True)
    for f in (cifar_root / "cifar-10-batches-py").iterdir():
        (evil / f.name).write_bytes(f.read_bytes())
    (evil / "test_batch").write_bytes(pickle.dumps({"data": Evil(), "labels": []}, protocol=2))
    with pytest.raises(DataError, match="damaged"):
        load_cifar10(evil.parent).labels("test")
    assert not (tmp_path / "pwned").exists()


def test_standin_is_deterministic_balanced_labelled_and_learnable() -> None:
    standin = Cifar10StandIn()
    assert "stand-in" in standin.describe()["note"] and "not CIFAR-10" in standin.describe()["note"]
    labels = standin.labels("val")
    assert len(labels) == 5000 and torch.bincount(labels).tolist() == [500] * 10
    ids = torch.arange(600)
    images = standin.render("val", ids, 16)
    assert torch.equal(images, Cifar10StandIn().render("val", ids, 16)) and 0 <= images.min() <= images.max() <= 1
    assert not torch.equal(images, Cifar10StandIn(seed=1).render("val", ids, 16))
    # learnable but not trivial: a linear model on colour statistics is far above chance (0.1), far from perfect
    from sklearn.linear_model import LogisticRegression

    stats = torch.cat([images.mean((2, 3)), images.std((2, 3)), images[:, :, :8].mean((2, 3))], 1).numpy()
    y = labels[ids].numpy()
    accuracy = LogisticRegression(max_iter=2000).fit(stats[:400], y[:400]).score(stats[400:], y[400:])
    assert 0.2 < accuracy < 0.9


def test_balanced_subset_takes_classes_in_turn() -> None:
    labels = torch.tensor([0] * 50 + [1] * 30 + [2] * 3)
    picked = balanced_subset(labels, 30, torch.Generator().manual_seed(0))
    assert len(set(picked.tolist())) == 30
    assert torch.bincount(labels[picked]).tolist() == [14, 13, 3]  # class 2 runs out; the others share the rest


def _split(cifar_root: Path, n: int = 40, split: str = "train", **options: object) -> tuple[np.ndarray, np.ndarray]:
    built = build_split(PastedObjects(load_cifar10(cifar_root), **options), split, n, seed=3, cache=False)
    return np.asarray(built.images), np.asarray(built.labels)


def test_no_availability_means_no_object_pixels(cifar_root: Path) -> None:
    images, labels = _split(cifar_root, availability=0.0)
    assert (images[:, 0] == 20 * labels[:, None, None]).all()  # every pixel is the background's
    assert (images[:, 2] == 255 - 20 * labels[:, None, None]).all()
    with_objects, same_labels = _split(cifar_root)
    outside = np.ones((32, 32), bool)
    outside[CORNER_ROWS, CORNER_COLS] = False
    assert (same_labels == labels).all() and (with_objects[:, :, outside] == images[:, :, outside]).all()
    assert (with_objects[:, :, CORNER_ROWS, CORNER_COLS] != images[:, :, CORNER_ROWS, CORNER_COLS]).any((1, 2, 3)).all()
    half, _ = _split(cifar_root, n=100, availability=0.5)
    none, _ = _split(cifar_root, n=100, availability=0.0)
    pasted = (half[:, :, CORNER_ROWS, CORNER_COLS] != none[:, :, CORNER_ROWS, CORNER_COLS]).any((1, 2, 3))
    assert 0.35 < pasted.mean() < 0.65


def test_objects_sit_in_the_corner_and_match_their_label() -> None:
    objects = (4, 9, 2)
    ds = PastedObjects(None, objects, label="object")
    built = build_split(ds, "test", 30, seed=0, cache=False)
    images, labels = np.asarray(built.images), np.asarray(built.labels)
    outside = np.ones((32, 32), bool)
    outside[CORNER_ROWS, CORNER_COLS] = False
    assert (images[:, :, outside] == 0).all() and (images.reshape(30, -1).max(1) > 0).all()
    assert np.bincount(labels).tolist() == [10, 10, 10] and ds.class_names == ["object004", "object009", "object002"]
    prototypes = ds.object_source.render(list(objects), 12, 1.0)[:, :3, :, :11]  # the 12 px object, right column cut
    expected = (prototypes * 255).round().to(torch.uint8).numpy()
    assert (images[:, :, CORNER_ROWS, CORNER_COLS] == expected[labels]).all()
    moved = np.asarray(build_split(PastedObjects(None, objects, label="object", placement="random"), "test", 30,
                                   seed=0, cache=False).images)
    assert (moved[:, :, outside] > 0).any()  # random placement leaves the corner


def test_relevance_pairs_objects_with_background_classes(cifar_root: Path) -> None:
    images, background = _split(cifar_root, n=100)
    same_images, objects = _split(cifar_root, n=100, label="object")
    assert (images == same_images).all() and not (background == objects).all()  # one input, two tasks
    assert (_split(cifar_root, n=100, label="object", relevance=1.0)[1] == background).all()
    agree = (_split(cifar_root, n=100, label="object", relevance=0.0)[1] == background).mean()
    assert agree < 0.3  # chance agreement (0.1 expected)
    assert (background == (images[:, 0, 0, 0] // 20)).all()  # background labels are the CIFAR classes


def test_pasted_objects_validation(cifar_root: Path) -> None:
    cifar = load_cifar10(cifar_root)
    with pytest.raises(InvalidParameterError, match="availability must be 1"):
        PastedObjects(cifar, label="object", availability=0.5)
    with pytest.raises(InvalidParameterError, match="Black backgrounds"):
        PastedObjects(None, label="background")
    with pytest.raises(InvalidParameterError, match="give 10 objects"):
        PastedObjects(cifar, objects=(0, 1, 2), relevance=0.5)
    with pytest.raises(InvalidParameterError, match=r"probability in \[0, 1\]"):
        PastedObjects(cifar, availability=1.5)
    with pytest.raises(InvalidParameterError, match="'label' parameter must be one of"):
        PastedObjects(cifar, label="cifar")
    with pytest.raises(DataError, match="val split of cifar10 has 20 images; 21 were asked for"):
        build_split(PastedObjects(cifar), "val", 21, seed=0, cache=False)


def test_pasted_splits_are_cached_and_deterministic(tmp_path: Path) -> None:
    ds = PastedObjects(Cifar10StandIn(), image_size=16, relevance=0.5)
    first = build_split(ds, "train", 50, seed=1, cache=tmp_path)
    assert first.path is not None and first.path.parent == tmp_path / "pasted-objects"
    again = build_split(ds, "train", 50, seed=1, cache=tmp_path)
    assert again.path == first.path and isinstance(again.images, np.memmap)
    fresh = build_split(ds, "train", 50, seed=1, cache=False, workers=1)
    assert np.array_equal(first.images, fresh.images) and np.array_equal(first.labels, fresh.labels)
    assert first.spec["backgrounds"]["source"] == "cifar10-standin" and "stand-in" in first.spec["backgrounds"]["note"]
    assert not np.array_equal(build_split(ds, "train", 50, seed=2, cache=False).images, first.images)


def test_pasted_dataset_configs_round_trip(cifar_root: Path) -> None:
    for ds in (PastedObjects(load_cifar10(cifar_root), relevance=0.9), PastedObjects(Cifar10StandIn(seed=2)),
               PastedObjects(None, (3, 5), label="object", image_size=16, placement="random")):
        cfg = dataset_config(ds)
        assert cfg["kind"] == "pasted" and dataset_from_config(cfg).describe() == ds.describe()


def test_train_config_takes_any_buildable_dataset() -> None:
    from invmeter.training.loop import TrainConfig

    config = TrainConfig(data=PastedObjects(Cifar10StandIn(), relevance=1.0), width=0.25)
    assert config.to_dict()["data"]["name"] == "pasted-objects" and config.data.n_classes == 10
    with pytest.raises(InvalidParameterError, match="dataset build_split renders"):
        TrainConfig(data="cifar10")  # type: ignore[arg-type]
