"""Shared fixtures: an offline photo folder, tiny models with known invariances. Nothing touches the network."""

from __future__ import annotations

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


class HFlipInvariant(nn.Module):
    """h(x) + h(hflip(x)) with h a fixed random conv net: exactly invariant to horizontal flips."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.h = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(4), nn.Flatten())

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
