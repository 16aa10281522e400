"""The trainer: learning, determinism, resume after SIGKILL, checkpoint errors, the CLI, last-layer fine-tuning."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from safetensors.torch import load_file

import invmeter
from invmeter.cli import cli
from invmeter.data.build import BuiltSplit
from invmeter.errors import CheckpointError, InvalidParameterError, UnknownNameError
from invmeter.models import load_model, wrap_module
from invmeter.training.finetune import finetune_last_layer
from invmeter.training.loop import STATE_FILE, TrainConfig, train

# Under a second on a 2-core CPU: 2 classes at 16 px, a 1/16-width ResNet-18, one thread (robust on a busy machine).
TINY = {"transforms": "none", "classes": 2, "image_size": 16, "arch": "cifar:resnet18", "width": 0.0625,
        "n_train": 128, "n_val": 16, "n_test": 32, "epochs": 6, "batch_size": 16, "device": "cpu", "threads": 1}
TINY_ARGS = ["--transforms", "none", "--classes", "2", "--image-size", "16", "--width", "0.0625", "--n-train", "128",
             "--n-val", "16", "--n-test", "32", "--epochs", "6", "--batch-size", "16", "--device", "cpu",
             "--threads", "1"]


@pytest.fixture(autouse=True)
def _restore_threads() -> Iterator[None]:
    """train(threads=1) sets the process's thread count; give the other tests theirs back."""
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    return tmp_path / "cache"


def tiny(**changes: object) -> TrainConfig:
    return TrainConfig.for_transforms2d(**{**TINY, **changes})


def test_trainer_learns_a_separable_task(cache: Path) -> None:
    result = train(tiny(), cache=cache)
    assert [row["epoch"] for row in result.history] == [1, 2, 3, 4, 5, 6]
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]
    assert result.test_accuracy >= 0.9
    assert result.checkpoint is None and not result.model.training
    report = invmeter.score(result.handle, "hflip", n_images=16, n_classes=2, n_boot=0)  # scores like any model
    assert report.model["layer"] == "linear (input)"


def test_same_seed_same_weights(cache: Path) -> None:
    config = tiny(epochs=2)
    a, b = train(config, cache=cache), train(config, cache=cache)
    c = train(tiny(epochs=2, seed=1), cache=cache)
    for key, value in a.model.state_dict().items():
        assert torch.equal(value, b.model.state_dict()[key]), key
    assert not torch.equal(a.model.linear.weight, c.model.linear.weight)
    untimed = [{k: row[k] for k in ("train_loss", "train_accuracy", "val_accuracy")} for row in a.history]
    assert untimed == [{k: row[k] for k in ("train_loss", "train_accuracy", "val_accuracy")} for row in b.history]
    assert a.test_accuracy == b.test_accuracy


def test_checkpoint_files_and_sidecar(tmp_path: Path, cache: Path) -> None:
    result = train(tiny(), out=tmp_path / "run", cache=cache)
    meta = json.loads((tmp_path / "run" / "model.json").read_text())
    assert meta["arch"] == "cifar:resnet18" and meta["width"] == 0.0625 and meta["num_classes"] == 2
    assert meta["config"]["lr"] == 1e-3 and meta["config"]["data"]["n_classes"] == 2
    assert set(meta["dataset"]) == {"train", "val", "test"} and "torch" in meta["versions"]
    assert meta["metrics"]["test_accuracy"] == result.test_accuracy and len(meta["history"]) == 6
    state = torch.load(tmp_path / "run" / STATE_FILE, weights_only=True)  # resumable state loads safely
    assert len(state["history"]) == 6
    handle = load_model(str(result.checkpoint))
    x = torch.rand(4, 3, 16, 16)
    with torch.no_grad():
        assert torch.equal(handle.model(x), result.model(x))
    assert handle.input_size == (16, 16) and handle.mean == (0.5, 0.5, 0.5)
    assert not list((tmp_path / "run").glob(".*"))  # no temporaries left behind


def _one_line(exc: pytest.ExceptionInfo[BaseException]) -> str:
    message = str(exc.value)
    assert "\n" not in message
    return message


def test_corrupt_and_mismatched_checkpoints(tmp_path: Path, cache: Path) -> None:
    first = train(tiny(epochs=1), out=tmp_path / "a", cache=cache).checkpoint
    second = train(tiny(epochs=1, seed=1), out=tmp_path / "b", cache=cache).checkpoint
    assert first is not None and second is not None
    # a truncated weights file
    data = first.read_bytes()
    first.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError) as exc:
        load_model(str(first))
    assert "SHA-256" in _one_line(exc)
    first.write_bytes(data)
    # weights and sidecar from different runs
    (tmp_path / "a" / "model.json").write_bytes((tmp_path / "b" / "model.json").read_bytes())
    with pytest.raises(CheckpointError, match="does not match its sidecar"):
        load_model(str(first))
    # weights of another width under a sidecar without a hash
    meta = json.loads((tmp_path / "b" / "model.json").read_text())
    del meta["weights_sha256"]
    (tmp_path / "b" / "model.json").write_text(json.dumps({**meta, "width": 0.25}))
    with pytest.raises(CheckpointError) as exc:
        load_model(str(second))
    assert "does not match its recorded architecture" in _one_line(exc)
    # a damaged training state
    (tmp_path / "a" / STATE_FILE).write_bytes(b"\x00garbage")
    with pytest.raises(CheckpointError) as exc:
        train(tiny(epochs=2), out=tmp_path / "a", resume=True, cache=cache)
    assert "corrupt" in _one_line(exc)


def test_resume_refuses_another_config_and_an_existing_run(tmp_path: Path, cache: Path) -> None:
    train(tiny(epochs=1), out=tmp_path / "run", cache=cache)
    with pytest.raises(CheckpointError) as exc:
        train(tiny(epochs=2, lr=1e-2), out=tmp_path / "run", resume=True, cache=cache)
    assert "lr=0.001" in _one_line(exc) and "0.01" in str(exc.value)
    with pytest.raises(CheckpointError, match="already holds a training run"):
        train(tiny(), out=tmp_path / "run", cache=cache)
    killed_write = tmp_path / "run" / f".{STATE_FILE}.x1y2.tmp"  # what a write killed mid-way leaves behind
    killed_write.write_bytes(b"partial")
    extended = train(tiny(epochs=2), out=tmp_path / "run", resume=True, cache=cache)  # more epochs: allowed
    assert not killed_write.exists()
    assert [row["epoch"] for row in extended.history] == [1, 2]
    with pytest.raises(CheckpointError, match="already trained 2 epochs, more than the 1 asked for"):
        train(tiny(epochs=1), out=tmp_path / "run", resume=True, cache=cache)


def _cli_env(cache: Path) -> dict[str, str]:
    return {**os.environ, "INVMETER_CACHE": str(cache), "PYTHONUNBUFFERED": "1"}


@pytest.mark.slow
def test_sigkill_then_resume_redoes_no_epoch_and_matches_an_uninterrupted_run(tmp_path: Path, cache: Path) -> None:
    args = [*TINY_ARGS, "--epochs", "8", "--n-train", "512"]
    run = tmp_path / "killed"
    cmd = [sys.executable, "-m", "invmeter", "train", *args, "--out", str(run), "--resume"]
    proc = subprocess.Popen(cmd, env=_cli_env(cache), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 600
        while not (run / STATE_FILE).exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    done = len(torch.load(run / STATE_FILE, weights_only=True)["history"])  # complete, never half-written
    assert 1 <= done < 8 and not (run / "model.safetensors").exists()

    resumed = subprocess.run(cmd, env=_cli_env(cache), capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    log_lines = [line for line in resumed.stderr.splitlines() if line.startswith("epoch ") and ": train loss" in line]
    epochs_run = [int(line.split()[1].split("/")[0]) for line in log_lines]
    assert f"resuming {run} after epoch {done}" in resumed.stderr
    assert epochs_run == list(range(done + 1, 9))

    reference = train(TrainConfig.for_transforms2d(**{**TINY, "epochs": 8, "n_train": 512}), cache=cache)
    weights = load_file(str(run / "model.safetensors"))
    for key, value in reference.model.state_dict().items():
        assert torch.equal(weights[key], value), key
    assert json.loads((run / "model.json").read_text())["metrics"]["test_accuracy"] == reference.test_accuracy


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"arch": "resnet19"}, "Did you mean"),
        ({"arch": "timm:resnet18", "width": 0.5}, "applies to cifar:NAME architectures only"),
        ({"batch_size": 256}, "must not exceed 'n_train'"),
        ({"epochs": 0}, "'epochs' parameter must be an integer >= 1"),
        ({"lr": -1.0}, "'lr' parameter of TrainConfig must be in"),
        ({"transforms": "rotaton"}, "Did you mean 'rotation'"),
    ],
)
def test_config_errors(changes: dict[str, object], match: str) -> None:
    with pytest.raises((InvalidParameterError, UnknownNameError), match=match):
        tiny(**changes)


def test_bare_names_resolve_to_cifar_then_timm() -> None:
    assert tiny(arch="vgg11", image_size=32).arch == "cifar:vgg11"  # VGG-11's five max-pools need 32 px
    assert tiny(arch="resnet10t", width=1.0).arch == "timm:resnet10t"


def run_cli(*args: str) -> object:
    return CliRunner().invoke(cli, list(args))


def test_cli_train_then_score(tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INVMETER_CACHE", str(cache))
    out = tmp_path / "run"
    result = run_cli("train", *TINY_ARGS, "--out", str(out), "--quiet")
    assert result.exit_code == 0, result.output
    assert "test accuracy" in result.output and (out / "model.safetensors").is_file() and (out / "model.json").is_file()
    scored = run_cli("score", "--model", str(out / "model.safetensors"), "-t", "hflip", "--n-images", "16",
                     "--classes", "2", "--bootstrap", "0", "--json", "-", "-q")
    assert scored.exit_code == 0, scored.output
    assert json.loads(scored.output)["model"]["input_size"] == [16, 16]


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (["--arch", "resnet19"], "Did you mean"),
        (["--transforms", "rotaton"], "Did you mean 'rotation'"),
        (["--epochs", "0"], "'epochs' parameter must be"),
        (["--arch", "timm:resnet18"], "applies to cifar:NAME architectures only"),
    ],
)
def test_cli_train_errors(tmp_path: Path, args: list[str], match: str) -> None:
    result = run_cli("train", *TINY_ARGS, *args, "--out", str(tmp_path / "run"))
    assert result.exit_code == 1
    assert match in result.output and "Traceback" not in result.output
    assert result.output.startswith("Error: ") and result.output.count("\n") == 1


def test_cli_refuses_an_existing_run_and_a_damaged_checkpoint(
    tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INVMETER_CACHE", str(cache))
    out = tmp_path / "run"
    assert run_cli("train", *TINY_ARGS, "--epochs", "1", "--out", str(out), "-q").exit_code == 0
    again = run_cli("train", *TINY_ARGS, "--epochs", "1", "--out", str(out), "-q")
    assert again.exit_code == 1 and "pass --resume" in again.output
    (out / "model.safetensors").write_bytes(b"not safetensors")
    scored = run_cli("score", "--model", str(out / "model.safetensors"), "-q")
    assert scored.exit_code == 1 and scored.output.startswith("Error: ") and scored.output.count("\n") == 1


def _split(n: int, classes: int, seed: int) -> BuiltSplit:
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % classes
    images = rng.integers(0, 100, (n, 3, 8, 8), dtype=np.uint8)
    images[np.arange(n), labels % 3] = 255  # class k lights up channel k: separable
    return BuiltSplit(images=images, labels=labels.astype(np.int64), spec={"name": "synthetic", "n": n})


def test_finetune_runs_the_backbone_once_per_image(counting_model: torch.nn.Module) -> None:
    handle = wrap_module(counting_model, image_size=8)
    original_head = counting_model.fc.weight.detach().clone()
    result = finetune_last_layer(handle, _split(96, 3, 0), _split(48, 3, 1), epochs=25, lr=1e-2, batch_size=16)
    assert counting_model.images_seen == 96 + 48 == result.images_seen  # not 25 x 96
    assert torch.equal(counting_model.fc.weight, original_head)  # the original model is untouched
    new = result.handle.model
    assert new.fc.out_features == 3 and result.handle.num_classes == 3
    x = torch.from_numpy(_split(8, 3, 2).images).float() / 255
    with torch.no_grad():
        feats = new.body(x)
        assert torch.allclose(new(x), torch.from_numpy(result.probe.decision_function(feats)), atol=1e-5)
    assert result.train_accuracy > 0.9 and result.test_accuracy is not None and result.test_accuracy > 0.9


def test_finetune_a_trained_checkpoint_on_new_classes(tmp_path: Path, cache: Path) -> None:
    from invmeter.data.build import build_split

    trained = train(tiny(epochs=1), out=tmp_path / "run", cache=cache)
    target = tiny(classes=3, transforms="hflip").data
    data, test = build_split(target, "train", 48, 0, cache=cache), build_split(target, "test", 24, 0, cache=cache)
    result = finetune_last_layer(load_model(str(trained.checkpoint)), data, test, epochs=5)
    assert result.handle.model.linear.out_features == 3
    from invmeter.models.representation import extract_images

    features = extract_images(load_model(str(trained.checkpoint)), test.images)  # the frozen body's features
    assert result.test_accuracy == result.probe.score(features, np.array(test.labels))  # the probe's own accuracy
    assert trained.model.linear.out_features == 2
