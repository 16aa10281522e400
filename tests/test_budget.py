"""The dry run's arithmetic: cells, image passes, GPU time, weights and peak disk, checked by hand on a tiny preset."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from invmeter.cli import cli
from invmeter.errors import InvalidParameterError
from invmeter.experiments import dry_run, plan
from invmeter.experiments.budget import (
    INFERENCE_SPEEDUP,
    RECORD_BYTES,
    STATE_COPIES,
    _model_size,
    budget,
    parse_throughput,
)
from invmeter.models.cifar import create_cifar_model


def test_model_size_counts_parameters_and_the_flops_of_convolutions_and_linear_layers() -> None:
    params, flops = _model_size("cifar:resnet18", 1.0, 32, 10)
    assert params == sum(p.numel() for p in create_cifar_model("resnet18", num_classes=10).parameters())
    # the CIFAR ResNet-18's and VGG-11's known costs: 0.556 G and 0.153 G multiply-adds per 32-px image
    assert flops == pytest.approx(2 * 0.5554e9, rel=1e-3)
    assert _model_size("cifar:vgg11", 1.0, 32, 10)[1] == pytest.approx(2 * 0.1527e9, rel=1e-3)
    # by hand: the linear layer of a width-1 ResNet-18 adds 2 x 512 FLOPs per class
    assert _model_size("cifar:resnet18", 1.0, 32, 11)[1] - flops == 2 * 512


def test_dry_run_arithmetic_on_the_smoke_preset_of_figure_2() -> None:
    (scale, cells), = plan("fig2", preset="smoke").values()
    b = budget({"fig2": cells}, throughput={"resnet18": 1000.0}, jobs=2, data_cache=True)
    (f,) = b.figures
    assert dict(f.cells) == {"train": 1, "transfer": 4}
    n_train, n_val, n_test, n_ft_train, n_ft_test = 48, 12, 12, 30, 30
    assert (scale.n_train, scale.n_val, scale.n_test, scale.n_ft_train, scale.n_ft_test, scale.epochs) == (
        n_train, n_val, n_test, n_ft_train, n_ft_test, 1)
    assert f.train_images == n_train * 1
    assert f.inference_images == n_val * 1 + n_test + 4 * (n_ft_train + n_ft_test)
    assert f.rendered_images == n_train + n_val + n_test + 4 * (n_ft_train + n_ft_test)
    params, flops = _model_size("cifar:resnet18", 0.125, 16, 3)
    reference = _model_size("cifar:resnet18", 1.0, 32, 10)[1]
    per_image = flops / reference / 1000.0
    assert f.gpu_seconds == pytest.approx(per_image * (f.train_images + f.inference_images / INFERENCE_SPEEDUP))
    assert f.weights_bytes == 4 * params and f.state_bytes == STATE_COPIES * 4 * params
    # distinct splits: the model's train/val/test of D_all; each target's train and test (D_all's own test split at
    # n_ft_test = 30 differs from the model's at n_test = 12)
    image = 3 * 16 * 16 + 8
    assert b.cache_bytes == image * (n_train + n_val + n_test + 4 * (n_ft_train + n_ft_test))
    assert b.peak_disk_bytes == 4 * params + 2 * STATE_COPIES * 4 * params + b.cache_bytes + 5 * RECORD_BYTES
    no_cache = budget({"fig2": cells}, throughput={"resnet18": 1000.0}, jobs=2, data_cache=False)
    assert no_cache.peak_disk_bytes == b.peak_disk_bytes - b.cache_bytes


def test_a_measured_throughput_for_an_architecture_replaces_the_flops_scaling() -> None:
    ((_, cells),) = plan("fig2", preset="paper", archs=["vgg11"]).values()
    flops_scaled = budget({"f": cells}, throughput={"resnet18": 10_000.0}, jobs=1, data_cache=False)
    measured = budget({"f": cells}, throughput={"resnet18": 10_000.0, "vgg11": 20_000.0}, jobs=1, data_cache=False)
    (f,) = measured.figures
    assert f.gpu_seconds == pytest.approx((f.train_images + f.inference_images / INFERENCE_SPEEDUP) / 20_000.0)
    ratio = _model_size("cifar:vgg11", 1.0, 32, 30)[1] / _model_size("cifar:resnet18", 1.0, 32, 10)[1]
    assert flops_scaled.figures[0].gpu_seconds == pytest.approx(f.gpu_seconds * 20_000.0 / 10_000.0 * ratio)


def test_the_paper_preset_counts() -> None:
    planned = plan("all", preset="paper")
    b = budget({k: cells for k, (_, cells) in planned.items()}, throughput={"resnet18": 15_000.0}, jobs=1,
               data_cache=False)
    cells = {f.name: dict(f.cells) for f in b.figures}
    assert sum(c.get("train", 0) for c in cells.values()) == 440
    assert sum(c.get("transfer", 0) for c in cells.values()) == 2120
    assert cells["fig6"]["l2"] == 800 and cells["fig6"]["paired_distance"] == 800
    assert b.train_images == 2_600_000_000
    assert b.peak_disk_bytes < 40e9
    cached = budget({k: cells for k, (_, cells) in planned.items()}, throughput={"resnet18": 15_000.0}, jobs=1,
                    data_cache=True)
    assert cached.cache_bytes > 60e9  # why the paper preset renders its splits in memory


def test_throughput_parsing() -> None:
    assert parse_throughput("12000") == {"resnet18": 12000.0}
    assert parse_throughput("resnet18=1e4,cifar:vgg11=2e4") == {"resnet18": 1e4, "vgg11": 2e4}
    for bad in ("fast", "-3", "vgg11=2e4"):
        with pytest.raises(InvalidParameterError):
            parse_throughput(bad)


def test_the_cli_dry_run_runs_nothing(tmp_path) -> None:
    result = CliRunner().invoke(cli, ["reproduce", "all", "--preset", "paper", "--dry-run", "--throughput", "20000"])
    assert result.exit_code == 0, result.output
    assert "| **total** | 440 / 2120 / 800 / 800 / 3 | 2.60 G |" in result.output
    assert "resnet18 20,000 img/s" in result.output and "measured (--throughput)" in result.output
    assert "Peak disk:" in result.output and "refuses to run on them without --allow-standin" in result.output
    text = dry_run("fig5", preset="cpu")
    assert "| fig5 | 12 / 48 / 0 / 0 / 0 |" in text and "assumed for one H200-class GPU" in text
