"""The Lie derivative on every readout (issue 25): a representation read through a hook (torchvision's and the
cifar models' head input, an invmeter checkpoint, a bare module's Linear head, any ``layer=``) keeps its tangent
for the gradient pass, and ``score``'s value equals a finite-difference estimate of the same derivative."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from torch import nn

import invmeter
from invmeter.cli import cli
from invmeter.models import ModelHandle, Readout, create_cifar_model, load_model, save_checkpoint, wrap_module
from invmeter.models.representation import representation
from invmeter.transforms.generators import apply_path

SIZE = 32


def _checkpoint(tmp: Path) -> str:
    torch.manual_seed(0)
    model = create_cifar_model("resnet18", num_classes=3, width=0.125)
    meta = {"arch": "cifar:resnet18", "width": 0.125, "num_classes": 3, "input_size": [SIZE, SIZE],
            "mean": [0.5] * 3, "std": [0.25] * 3, "class_names": ["a", "b", "c"]}
    return str(save_checkpoint(model, tmp / "run", meta))


def _linear_head() -> ModelHandle:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.Tanh(), nn.AdaptiveAvgPool2d(4), nn.Flatten(),
                          nn.Linear(96, 5))
    return wrap_module(model, image_size=SIZE, mean=(0.5,), std=(0.5,))


READOUTS = {  # name: (make a handle, layer= or None, the readout score must report)
    "torchvision": (lambda tmp: load_model("torchvision:resnet18", weights="random", image_size=SIZE), None,
                    "fc (input)"),
    "cifar": (lambda tmp: load_model("cifar:resnet18?width=0.125", weights="random"), None, "linear (input)"),
    "checkpoint": (lambda tmp: load_model(_checkpoint(tmp)), None, "linear (input)"),
    "linear head": (lambda tmp: _linear_head(), None, "4 (input)"),
    "layer": (lambda tmp: load_model("cifar:resnet18?width=0.125", weights="random"), "layer3", "layer3"),
}


def _images(n: int = 4) -> torch.Tensor:
    """Smooth random images (no flat regions: a max-pool has no ties to break)."""
    g = torch.Generator().manual_seed(3)
    coarse = torch.rand(n, 3, 6, 6, generator=g)
    return torch.nn.functional.interpolate(coarse, size=(SIZE + 4, SIZE + 4), mode="bicubic").clamp(0, 1)


def _finite_difference_lee(handle: ModelHandle, readout: Readout, images: torch.Tensor, h: float) -> float:
    """mean_i ‖(f(g_h x_i) − f(g_{−h} x_i)) / 2h‖² / D in float64, on the clean views ``score`` measures (the
    model's own resize and crop of each image)."""
    model = copy.deepcopy(handle.model).double().eval()
    handle64 = ModelHandle(model=model, name=handle.name, weights=handle.weights, preprocessing=handle.preprocessing,
                           readout=handle.readout, num_classes=handle.num_classes)
    clean = torch.stack([handle.preprocessing.prepare(image) for image in images]).double()

    def f(x: torch.Tensor) -> torch.Tensor:
        return representation(handle64, handle.preprocessing.normalize(x), readout)

    with torch.no_grad():
        d = (f(apply_path("rotation", clean, h)) - f(apply_path("rotation", clean, -h))) / (2 * h)
    return float(d.pow(2).mean(dim=1).mean())


@pytest.mark.parametrize("name", list(READOUTS))
def test_lie_derivative_of_a_hooked_readout_equals_finite_differences(name: str, tmp_path: Path) -> None:
    make, layer, shown = READOUTS[name]
    handle = make(tmp_path)
    images = _images()
    report = invmeter.score(handle, "rotation", data=images, n_images=None, metrics="lie_derivative", n_boot=0,
                            layer=layer)
    assert report.model["layer"] == shown
    lee = report["lie_derivative"]
    assert lee > 0
    readout = Readout("module", layer) if layer else handle.readout
    fd = _finite_difference_lee(handle, readout, images, 1e-4)
    assert abs(fd - lee) / lee < 3e-3, (name, lee, fd)


@pytest.mark.slow
@pytest.mark.parametrize("spec", ["torchvision:resnet18", "cifar:resnet18?width=0.125", "checkpoint"])
def test_metrics_all_on_torchvision_cifar_and_checkpoint_models(spec: str, tmp_path: Path) -> None:
    model = _checkpoint(tmp_path) if spec == "checkpoint" else spec
    weights = [] if spec == "checkpoint" else ["--weights", "random"]
    result = CliRunner().invoke(cli, ["score", "-m", model, *weights, "-t", "rotation", "--image-size", str(SIZE),
                                      "--classes", "3", "--n-images", "12", "--bootstrap", "0", "--metrics", "all",
                                      "-q", "--json", "-"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["skipped_metrics"] == {"equivariance": "needs fixed transform magnitudes (a sweep: --magnitudes)"}
    assert report["metrics"]["lie_derivative"]["value"] > 0
    assert all(v["value"] is not None for v in report["metrics"].values()), report["metrics"]
