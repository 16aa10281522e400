"""One reader for every image source (issue 25): a folder, a Dataset of PIL images (any mode or bit depth), of
tensors or of numpy arrays, a DataLoader and a tensor give the same pixels, hence the same report; what a
container cannot say unambiguously is a one-line error."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from adversarial_cases_inputs import Items  # a Dataset of given items (called when callable), labelled or not
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader, Dataset, RandomSampler, Subset, SubsetRandomSampler

import invmeter
from invmeter.data import image_source
from invmeter.data.pixels import as_image
from invmeter.errors import DataError, InvalidParameterError

SIDE = 40  # the files' size; the model takes 32: every source goes through the same resize and crop


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(3), nn.Flatten(),
                         nn.Linear(54, 3))


def _score(data: Any, transform: str = "rotation") -> dict[str, Any]:
    report = invmeter.score(_model(), transform, data=data, image_size=32, n_images=None, n_boot=20,
                            mean=(0.5,), std=(0.25,), metrics="invariance,paired_distance_ratio,l2_ratio,cka")
    return {name: (v["value"], v["ci95"]) for name, v in report.to_dict()["metrics"].items()}


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path], list[int]]:
    """12 smooth 8-bit RGB PNGs of 2 classes, as a labelled folder."""
    root = tmp_path_factory.mktemp("sources")
    rng = np.random.default_rng(0)
    paths, labels = [], []
    for k in range(12):
        c = k % 2
        coarse = rng.integers(0, 256, (5, 5, 3), dtype=np.uint8)
        image = Image.fromarray(coarse).resize((SIDE, SIDE), Image.BICUBIC)
        (root / f"c{c}").mkdir(exist_ok=True)
        path = root / f"c{c}" / f"{k:02d}.png"
        image.save(path)
        paths.append(path)
        labels.append(c)
    order = sorted(range(12), key=lambda i: str(paths[i]))  # the folder's order: class folders, then names
    return root, [paths[i] for i in order], [labels[i] for i in order]


def _uint8(path: Path) -> np.ndarray:
    return np.array(Image.open(path).convert("RGB"))


def test_every_container_of_the_same_pixels_gives_the_same_report(files: tuple[Path, list[Path], list[int]]) -> None:
    root, paths, labels = files
    float_tensors = [torch.from_numpy(_uint8(p)).permute(2, 0, 1).float() / 255 for p in paths]  # as ToTensor
    expected = _score(str(root))
    sources = {
        "PIL images (opened lazily)": Items([lambda p=p: Image.open(p) for p in paths], labels),
        "float tensors": Items(float_tensors, labels),
        "uint8 tensors": Items([torch.from_numpy(_uint8(p)).permute(2, 0, 1) for p in paths], labels),
        "numpy HWC arrays": Items([_uint8(p) for p in paths], labels),
        "float64 numpy arrays": Items([_uint8(p).astype(np.float64) / 255 for p in paths], labels),
        "DataLoader (shuffled)": DataLoader(Items(float_tensors, labels), batch_size=5, shuffle=True),
        "tensor": (torch.stack(float_tensors), torch.tensor(labels)),
        "uint8 tensor": (torch.stack([torch.from_numpy(_uint8(p)).permute(2, 0, 1) for p in paths]),
                         torch.tensor(labels)),
    }
    for name, data in sources.items():
        assert _score(data) == expected, name


def test_sixteen_bit_float_and_alpha_images_read_as_their_files(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    deep = rng.integers(0, 65536, (SIDE, SIDE), dtype=np.uint16)
    png16 = tmp_path / "deep.png"
    Image.fromarray(deep).save(png16)
    high_byte = np.repeat((deep >> 8).astype(np.uint8)[..., None], 3, axis=2)
    for item in (Image.open(png16), Image.fromarray(deep), deep, Image.fromarray(deep.astype(np.int32), "I")):
        assert np.array_equal(np.asarray(as_image(item, "item")), high_byte)  # was pure white from a Dataset
    levels = rng.integers(0, 256, (SIDE, SIDE)).astype(np.float32) / 255
    assert np.array_equal(np.asarray(as_image(Image.fromarray(levels, "F"), "item"))[..., 0],
                          np.rint(levels * 255).astype(np.uint8))  # was black from a Dataset
    rgba = rng.integers(0, 256, (SIDE, SIDE, 4), dtype=np.uint8)
    Image.fromarray(rgba, "RGBA").save(tmp_path / "alpha.png")
    from invmeter.data.folders import read_image

    flattened = np.asarray(read_image(tmp_path / "alpha.png"))
    assert not np.array_equal(flattened, rgba[..., :3])  # the alpha matters
    for item in (Image.fromarray(rgba, "RGBA"), rgba, torch.from_numpy(rgba).permute(2, 0, 1),
                 torch.from_numpy(rgba).permute(2, 0, 1).float() / 255):
        assert np.array_equal(np.asarray(as_image(item, "item")), flattened)  # alpha over white, as the file
    fine = torch.rand(4, SIDE, SIDE, generator=torch.Generator().manual_seed(0))  # not 8-bit: stays a float tensor
    out = as_image(fine, "item")
    assert isinstance(out, torch.Tensor) and torch.allclose(out, fine[:3] * fine[3:] + 1 - fine[3:])


def test_a_loaders_sampler_is_honoured_or_refused(files: tuple[Path, list[Path], list[int]]) -> None:
    _, paths, labels = files
    dataset = Items([torch.from_numpy(_uint8(p)).permute(2, 0, 1) for p in paths], labels)
    keep = [0, 1, 4, 5, 8, 9, 10, 11]
    sampled = DataLoader(dataset, batch_size=3, sampler=SubsetRandomSampler(keep))
    assert len(image_source(sampled)) == 8
    assert _score(sampled) == _score(Subset(dataset, keep))
    state = torch.get_rng_state()
    image_source(sampled)
    assert torch.equal(torch.get_rng_state(), state)  # the sampler was read under a forked RNG
    with pytest.raises(InvalidParameterError, match=r"visits some items more than once \(drawn with replacement\)"):
        image_source(DataLoader(dataset, sampler=RandomSampler(dataset, replacement=True)))
    assert image_source(DataLoader(dataset, batch_size=5, shuffle=True)).indices == list(range(12))
    assert len(image_source(DataLoader(dataset, batch_size=5, drop_last=True))) == 10


class Raises(Dataset):
    def __len__(self) -> int:
        return 6

    def __getitem__(self, i: int) -> Any:
        if i == 4:
            raise OSError("disk on fire")
        return torch.rand(3, 8, 8), i % 2


@pytest.mark.parametrize(("data", "message"), [
    (Items([torch.rand(3, 8, 8)] * 4, ["cat", "dog", "cat", "dog"]),
     r"labels must be integer class indices 0\.\.K-1; got the str 'cat' \(item 0\)"),
    (Items([torch.rand(3, 8, 8)] * 4, [0, 1.7, 0, 1]), r"got the float 1\.7 \(item 1\)"),
    (Items([torch.rand(3, 8, 8)] * 4, [torch.tensor(0.0), torch.tensor(1.0)] * 2), r"got the float 0\.0 \(item 0\)"),
    ((torch.rand(4, 3, 8, 8), torch.tensor([0.0, 1.0, 0.0, 1.0])), r"The labels must be integer class indices"),
    (Raises(), r"Reading item 4 of the dataset Raises failed \(OSError: disk on fire\)"),
    (torch.rand(4, 3, 8, 8, device="meta"), r"The image tensor is on the meta device"),
    (Items([torch.rand(3, 8, 8, device="meta")] * 4, None), r"Item 0 of the dataset is on the meta device"),
    (torch.randint(0, 256, (4, 3, 8, 8)), r"The image tensor holds int64 values; images must be uint8"),
    (torch.rand(4, 3, 8, 8) * 255, r"values in \[.*\]; images must be in \[0, 1\].*look like 0-255 levels"),
    (Items([np.zeros((8, 8, 3), dtype=np.int32)] * 4, None), r"Item 0 of the dataset is a numpy array of int32"),
    (Items([Image.fromarray(np.full((8, 8), 2.0, np.float32), "F")] * 4, None),
     r"Float image \(item 0 of the dataset\) has values outside \[0, 1\]"),
])
def test_what_a_container_cannot_say_is_a_one_line_error(data: Any, message: str) -> None:
    with pytest.raises((DataError, InvalidParameterError), match=message) as caught:
        invmeter.score(_model(), "hflip", data=data, image_size=16, n_images=None, n_boot=0, mean=(0.5,), std=(0.5,))
    assert "\n" not in str(caught.value)
