"""CUDA code paths: a training step (float32 and bfloat16 autocast), an epoch rendered on the GPU, feature
extraction and score against the CPU, resume, and cells sharing one GPU. Skipped without CUDA
(benchmarks/gpu_check.sh runs them on a GPU box)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

import invmeter
from invmeter.data.build import build_split
from invmeter.data.redraw import RedrawnSplit
from invmeter.data.transforms2d import Transforms2D
from invmeter.experiments import reproduce
from invmeter.models.representation import extract_images
from invmeter.runner.settings import use_deterministic
from invmeter.training.loop import STATE_FILE, TrainConfig, train
from invmeter.transforms import parse_transform

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")

TINY = {"transforms": "rotation", "classes": 3, "image_size": 32, "arch": "cifar:resnet18", "width": 0.25,
        "n_train": 256, "n_val": 32, "n_test": 64, "batch_size": 64, "device": "cuda", "threads": 2}


@pytest.fixture
def exact_gpu() -> Iterator[None]:
    """Deterministic kernels and no TF32, so GPU numbers can be compared tightly; PyTorch's defaults afterwards."""
    tf32 = torch.backends.cudnn.allow_tf32
    use_deterministic(True)
    torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cudnn.allow_tf32 = tf32
    use_deterministic(False)


def _config(**changes: object) -> TrainConfig:
    return TrainConfig.for_transforms2d(**{**TINY, "epochs": 2, **changes})


@pytest.mark.parametrize("amp", [False, True])
def test_a_training_step_on_the_gpu(amp: bool) -> None:
    result = train(_config(amp=amp), cache=False)
    assert next(result.model.parameters()).is_cuda
    assert all(np.isfinite(row["train_loss"]) for row in result.history)
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"] * 1.5
    assert 0.0 <= result.test_accuracy <= 1.0


def test_an_epoch_rendered_on_the_gpu_matches_the_cpu(exact_gpu: None) -> None:
    """The trainer renders redrawn epochs on the GPU: the same scenes and parameters as on the CPU, the pixels equal
    up to float rounding (a level of 255 at a few edge pixels); rotation + scale + brightness + blur cover the
    warp, colour and convolution kernels."""
    data = Transforms2D(objects=tuple(range(5)), transforms=parse_transform("scale+rotation+brightness+blur"))
    gpu, cpu = RedrawnSplit(data, "train", 500, 0, device="cuda"), RedrawnSplit(data, "train", 500, 0)
    a, b = gpu.images(3), cpu.images(3)
    assert a.is_cuda and a.dtype == torch.uint8
    diff = (a.cpu().int() - b.int()).abs()
    assert int(diff.max()) <= 1 and float((diff > 0).float().mean()) < 0.01


def test_features_and_score_on_the_gpu_match_the_cpu(exact_gpu: None) -> None:
    result = train(_config(epochs=1), cache=False)
    handle = result.handle
    images = build_split(_config().data, "test", 64, seed=3, cache=False).images
    on_gpu = extract_images(handle, images, device="cuda")
    on_cpu = extract_images(handle, images, device="cpu")
    assert on_gpu.shape == on_cpu.shape and torch.allclose(on_gpu, on_cpu, rtol=1e-4, atol=1e-4)
    gpu = invmeter.score(handle, "rotation", n_images=60, n_classes=3, n_boot=0, device="cuda")
    cpu = invmeter.score(handle, "rotation", n_images=60, n_classes=3, n_boot=0, device="cpu")
    for key in ("invariance", "l2_ratio"):
        assert gpu[key] == pytest.approx(cpu[key], rel=1e-3, abs=1e-4), key


def test_resume_on_the_gpu_continues_the_same_run(tmp_path: Path, exact_gpu: None) -> None:
    straight = train(_config(epochs=2), cache=False)
    train(_config(epochs=1), out=tmp_path / "run", cache=False)
    assert (tmp_path / "run" / STATE_FILE).exists()
    resumed = train(_config(epochs=2), out=tmp_path / "run", resume=True, cache=False)
    assert [row["epoch"] for row in resumed.history] == [1, 2]
    for (name, a), b in zip(straight.model.state_dict().items(), resumed.model.state_dict().values()):
        # a resume that lost the optimiser's moments or the batch order moves weights by ~1e-3 (one Adam step)
        assert torch.allclose(a.float(), b.float(), rtol=1e-4, atol=1e-5), name


def test_cells_share_the_gpu_with_bounded_memory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INVMETER_CACHE", str(tmp_path / "cache"))
    claims = reproduce("fig2", preset="smoke", out=tmp_path / "fig2", jobs=2, deterministic=True, amp=True)
    assert len(claims["fig2"]) == 3
    results = json.loads((tmp_path / "fig2" / "results.json").read_text())
    for cell in results["cells"]:
        provenance = cell["provenance"]
        assert provenance["device"].startswith("cuda") and provenance["gpu_memory"] == pytest.approx(0.45)
        assert provenance["deterministic"] is True and provenance["amp"] is True
    (model,) = [c for c in results["cells"] if c["task"] == "train"]
    assert model["config"]["amp"] is True and model["result"]["precision"] == "bfloat16 autocast"
