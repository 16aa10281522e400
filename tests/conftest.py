"""Shared fixtures: an offline photo folder, tiny models with known invariances. Nothing touches the network."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn


def _photos() -> dict[str, np.ndarray]:
    from skimage import data

    return {"astronaut": data.astronaut(), "coffee": data.coffee(), "chelsea": data.chelsea(), "rocket": data.rocket()}


@pytest.fixture(scope="session")
def photo_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """4 classes (real photos from scikit-image) x 8 images: seeded random crops of each photo, 48x48 PNGs."""
    root = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(0)
    for name, img in _photos().items():
        (root / name).mkdir()
        h, w = img.shape[:2]
        side = min(h, w) // 2
        for k in range(8):
            top, left = rng.integers(0, h - side), rng.integers(0, w - side)
            crop = Image.fromarray(img[top : top + side, left : left + side]).resize((48, 48), Image.BILINEAR)
            crop.save(root / name / f"{k}.png")
    return root


class PixelModel(nn.Module):
    """Representation = the raw pixels (flattened). Not invariant to anything that moves pixels."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1)


def seeded_conv_features() -> nn.Module:
    """A fixed (seed 0) random conv net: 3 -> 8 channels, 4x4 average-pooled, flattened to 128 features."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(4), nn.Flatten())


class HFlipInvariant(nn.Module):
    """h(x) + h(hflip(x)) with h a fixed random conv net: exactly invariant to horizontal flips."""

    def __init__(self) -> None:
        super().__init__()
        self.h = seeded_conv_features()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.h(x) + self.h(x.flip(-1))


class CountingModel(nn.Module):
    """A small classifier that counts how many images it has seen."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.body = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten())
        self.fc = nn.Linear(16, 5)
        self.images_seen = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.images_seen += x.shape[0]
        return self.fc(self.body(x))


@pytest.fixture
def pixel_model() -> nn.Module:
    return PixelModel()


@pytest.fixture
def hflip_invariant_model() -> nn.Module:
    return HFlipInvariant()


@pytest.fixture
def counting_model() -> CountingModel:
    return CountingModel()


@pytest.fixture(scope="session")
def large_photo_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """4 classes (scikit-image photos) x 40 seeded random crops, 32x32: enough images to fit linear effects."""
    root = tmp_path_factory.mktemp("photos_large")
    rng = np.random.default_rng(1)
    for name, img in _photos().items():
        (root / name).mkdir()
        h, w = img.shape[:2]
        for k in range(40):
            side = int(rng.integers(min(h, w) // 4, min(h, w) // 2))
            top, left = rng.integers(0, h - side), rng.integers(0, w - side)
            Image.fromarray(img[top : top + side, left : left + side]).resize((32, 32), Image.BILINEAR).save(root / name / f"{k}.png")
    return root


class Rot90Averaged(nn.Module):
    """mean_k h(rot90(x, k)) over the four right-angle rotations: exactly invariant to 90° turns of the image."""

    def __init__(self) -> None:
        super().__init__()
        self.h = seeded_conv_features()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return sum(self.h(torch.rot90(x, k, (-2, -1))) for k in range(4)) / 4


class PooledPixels(nn.Module):
    """Representation = pixels average-pooled to a 4x4 grid: a flip permutes them (equivariant, not invariant)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.adaptive_avg_pool2d(x, 4).flatten(1)


def _ellipse_alpha(h: int, w: int) -> np.ndarray:
    """An anti-aliased ellipse filling an ``h x w`` box, as uint8 alpha (the object's footprint)."""
    y, x = np.mgrid[0:h, 0:w]
    r = np.hypot((y + 0.5 - h / 2) / (0.45 * h), (x + 0.5 - w / 2) / (0.45 * w))
    return (np.clip((1.0 - r) * min(h, w) * 0.45 + 0.5, 0.0, 1.0) * 255).astype(np.uint8)


@pytest.fixture(scope="session")
def object_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """4 real-photo objects (one RGBA PNG per class): a 64x48 crop of each photo with an elliptical alpha mask."""
    root = tmp_path_factory.mktemp("objects")
    for name, img in _photos().items():
        h, w = img.shape[:2]
        crop = np.asarray(Image.fromarray(img[h // 4 : h // 4 + h // 2, w // 4 : w // 4 + w // 2]).resize((48, 64)))
        rgba = np.dstack([crop[..., :3], _ellipse_alpha(64, 48)])
        Image.fromarray(rgba, "RGBA").save(root / f"{name}.png")
    return root


@pytest.fixture(scope="session")
def background_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """6 background photos (JPEG, various sizes): seeded crops of the scikit-image photos."""
    root = tmp_path_factory.mktemp("backgrounds")
    rng = np.random.default_rng(1)
    photos = list(_photos().values())
    for k in range(6):
        img = photos[k % len(photos)]
        h, w = img.shape[:2]
        ch, cw = int(h * rng.uniform(0.4, 0.8)), int(w * rng.uniform(0.4, 0.8))
        top, left = rng.integers(0, h - ch), rng.integers(0, w - cw)
        Image.fromarray(img[top : top + ch, left : left + cw, :3]).resize((cw // 3, ch // 3)).save(root / f"bg{k}.jpg")
    return root


@pytest.fixture(scope="session")
def si_score_folder(tmp_path_factory: pytest.TempPathFactory, background_folder: Path) -> Path:
    """A folder in SI-score's layout: ``foregrounds/<class>/<id>_<n>.png`` (RGBA) and ``backgrounds/*.jpg``. 10 object
    classes cut from the scikit-image photos (seeded 64x48 crops with an elliptical alpha), the 6 background photos."""
    root = tmp_path_factory.mktemp("si-score")
    rng = np.random.default_rng(2)
    photos = list(_photos().items())
    for k in range(10):
        name, img = photos[k % len(photos)]
        h, w = img.shape[:2]
        top, left = rng.integers(0, h // 2), rng.integers(0, w // 2)
        crop = np.asarray(Image.fromarray(img[top : top + h // 2, left : left + w // 2, :3]).resize((48, 64)))
        folder = root / "foregrounds" / f"{name}{k}"
        folder.mkdir(parents=True)
        Image.fromarray(np.dstack([crop, _ellipse_alpha(64, 48)]), "RGBA").save(folder / f"{k:04d}_1_1.png")
    shutil.copytree(background_folder, root / "backgrounds")
    return root


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No network (HF_HUB_OFFLINE, and torch hub downloads fail) and empty Hugging Face / torch hub caches."""
    import urllib.error

    import huggingface_hub.constants as hf
    import torchvision.models._api as tv_api

    monkeypatch.setattr(hf, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(hf, "HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "torchhub"))

    def no_download(*_args: object, **_kwargs: object) -> None:
        raise urllib.error.URLError("offline (test)")

    monkeypatch.setattr(tv_api, "load_state_dict_from_url", no_download)
    return tmp_path


@pytest.fixture
def restore_threads() -> Iterator[None]:
    """torch's intra-op thread count as it was before the test (code under test may set it, e.g. the trainer)."""
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)
