"""One contract test per model source (timm, torchvision, cifar, checkpoint, factory, bare module, timm module):
every handle carries its preprocessing and a typed readout, reads (N, D) features where it says, and is measured."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

import invmeter
from invmeter.models import ModelHandle, Preprocessing, Readout, load_model, save_checkpoint, wrap_module
from invmeter.models.representation import representation


def _checkpoint(tmp: Path) -> str:
    from invmeter.models import create_cifar_model

    model = create_cifar_model("resnet18", num_classes=3, width=0.125)
    meta = {"arch": "cifar:resnet18", "width": 0.125, "num_classes": 3, "input_size": [32, 32],
            "mean": [0.5] * 3, "std": [0.5] * 3, "class_names": ["a", "b", "c"]}
    return str(save_checkpoint(model, tmp / "run", meta))


def _timm_module() -> ModelHandle:
    import timm

    return wrap_module(timm.create_model("test_resnet", pretrained=False))


SOURCES = {  # name: (make a handle, expected readout kind, expected feature size)
    "timm": (lambda tmp: load_model("timm:test_resnet", weights="random"), "pre_logits", None),
    "torchvision": (lambda tmp: load_model("torchvision:resnet18", weights="random", image_size=32), "head_input", 512),
    "cifar": (lambda tmp: load_model("cifar:vgg11?width=0.125&classes=4", weights="random"), "head_input", 64),
    "checkpoint": (lambda tmp: load_model(_checkpoint(tmp)), "head_input", 64),
    "factory": (lambda tmp: load_model("torchvision.models:resnet18", image_size=32), "head_input", 512),
    "bare classifier": (lambda tmp: wrap_module(nn.Sequential(nn.Flatten(), nn.Linear(3 * 16 * 16, 5)), image_size=16,
                                                mean=(0.5,), std=(0.5,)), "head_input", 3 * 16 * 16),
    "bare encoder": (lambda tmp: wrap_module(nn.Sequential(nn.AdaptiveAvgPool2d(2), nn.Flatten()), image_size=16,
                                             mean=(0.5,), std=(0.5,)), "output", 12),
    "timm module": (lambda tmp: _timm_module(), "pre_logits", None),
}


@pytest.mark.parametrize("source", list(SOURCES))
def test_model_source_contract(source: str, tmp_path: Path) -> None:
    make, kind, width = SOURCES[source]
    handle = make(tmp_path)
    assert isinstance(handle.preprocessing, Preprocessing) and isinstance(handle.readout, Readout)
    assert handle.readout.kind == kind and handle.preprocessing.source
    described = handle.describe()
    assert {"name", "weights", "layer", "input_size", "parameters", "preprocessing"} <= set(described)
    assert described["preprocessing"]["input_size"] == list(handle.input_size)
    h, w = handle.input_size
    x = handle.preprocessing.normalize(torch.rand(3, 3, h, w))
    with torch.inference_mode():
        z = representation(handle, x)
    assert z.shape[0] == 3 and z.dim() == 2 and torch.isfinite(z).all()
    if width is not None:
        assert z.shape[1] == width
    if kind == "pre_logits":
        assert z.shape[1] == handle.model.num_features
    report = invmeter.score(handle, "hflip", n_classes=2, n_images=8, n_boot=0, metrics="invariance")
    assert report.model["layer"] == handle.readout.name and report.metrics["invariance"].defined
