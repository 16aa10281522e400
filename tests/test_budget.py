"""The dry run's arithmetic: cells, image passes, GPU time, weights and peak disk, checked by hand on a tiny preset."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from invmeter.cli import cli
from invmeter.errors import InvalidParameterError
from invmeter.experiments import dry_run, plan
from invmeter.experiments.budget import (
    ASSUMED_RATES,
    GPU_CHECK_FILE,
    INFERENCE_SPEEDUP,
    RECORD_BYTES,
    STATE_COPIES,
    _model_size,
    budget,
    format_budget,
    parse_throughput,
    resolve_rates,
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
    assert f.redrawn_images == n_train * 1  # the training split is drawn again every epoch (1 here), on the device
    params, flops = _model_size("cifar:resnet18", 0.125, 16, 3)
    reference = _model_size("cifar:resnet18", 1.0, 32, 10)[1]
    per_image = flops / reference / 1000.0
    assert f.gpu_seconds == pytest.approx(per_image * (f.train_images + f.inference_images / INFERENCE_SPEEDUP))
    assert f.weights_bytes == 4 * params and f.state_bytes == STATE_COPIES * 4 * params
    # distinct cached splits: the model's val/test of D_all (its training split is drawn again, never cached); each
    # target's train and test (D_all's own test split at n_ft_test = 30 differs from the model's at n_test = 12)
    image = 3 * 16 * 16 + 8
    assert b.cache_bytes == image * (n_val + n_test + 4 * (n_ft_train + n_ft_test))
    fixed = budget({"fig2": plan("fig2", preset="smoke", fixed_split=True)["fig2"][1]},
                   throughput={"resnet18": 1000.0}, jobs=2, data_cache=True)
    assert fixed.cache_bytes == b.cache_bytes + image * n_train and fixed.figures[0].redrawn_images == 0
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
    # 440 training cells, of which fig4 shares fig3's 4 models per seed (its references, α = 0 and β = 0), with
    # their 2 transfers each to C+O→C and C+O→O: reproduce all trains them once
    assert sum(c.get("train", 0) for c in cells.values()) == 440 - 40
    assert sum(c.get("transfer", 0) for c in cells.values()) == 2120 - 80
    assert {f.name: f.shared for f in b.figures if f.shared} == {"fig4": 120}
    assert cells["fig6"]["l2"] == 800 and cells["fig6"]["paired_distance"] == 800
    assert b.train_images == 2_600_000_000 - 40 * 45_000 * 200
    # drawn again on the device: every Transforms-2D training epoch (fig2, 5, 6, 8; fig6's untransformed model
    # has nothing to draw); CIFAR with pasted objects (fig3, fig4) has no transforms
    redrawn = {f.name: f.redrawn_images for f in b.figures}
    assert redrawn["fig2"] == 30 * 50_000 * 50 and redrawn["fig6"] == 10 * 8 * 50_000 * 50
    assert redrawn["fig3"] == redrawn["fig4"] == 0
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


def test_the_cli_dry_run_runs_nothing(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)  # no gpu_check results here
    result = CliRunner().invoke(cli, ["reproduce", "all", "--preset", "paper", "--dry-run", "--throughput", "20000"])
    assert result.exit_code == 0, result.output
    assert "| **total** | 400 / 2040 / 800 / 800 / 3 (+120 shared) | 2.24 G |" in result.output
    assert "resnet18 20,000 img/s" in result.output and "measured (--throughput)" in result.output
    assert "Peak disk:" in result.output and "refuses to run on them without --allow-standin" in result.output
    text = dry_run("fig5", preset="cpu")
    assert "| fig5 | 12 / 48 / 0 / 0 / 0 |" in text and "assumed for one H100, not measured" in text
    assert "Rates (float32): resnet18 15,000 img/s" in text
    assert "Rates (bfloat16): resnet18 30,000 img/s" in dry_run("fig5", preset="cpu", amp=True)


def _gpu_check(path, **extra) -> None:
    report = {"gpu": "NVIDIA H100 80GB HBM3", "rates": {
        "float32": {"resnet18": 20_000.0, "vgg11": 50_000.0, "densenet121": 30_000.0},
        "bfloat16": {"resnet18": 40_000.0, "vgg11": 90_000.0, "densenet121": 45_000.0},
        "bfloat16+compile": {"resnet18": 50_000.0}}, "render_images_per_s": 900_000.0, **extra}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report))


def test_the_dry_run_prices_at_the_rates_gpu_check_measured(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    assumed = resolve_rates(None, amp=True)
    assert not assumed.measured and assumed.throughput == {"resnet18": ASSUMED_RATES["bfloat16"]}
    _gpu_check(tmp_path / GPU_CHECK_FILE, concurrent={"jobs": 4, "precision": "bfloat16",
                                                      "aggregate_images_per_s": 48_000.0})
    rates = resolve_rates(None, amp=True, jobs=4)  # found where gpu_check.sh writes it
    assert rates.measured and rates.throughput["vgg11"] == 90_000.0 and rates.packing == pytest.approx(1.2)
    assert "NVIDIA H100" in rates.source and rates.render_per_s == 900_000.0
    assert resolve_rates(None, amp=True, jobs=2).packing == 1.0  # 2 cells at once were not measured
    assert resolve_rates(None, amp=True, compile=True).throughput == {"resnet18": 50_000.0}
    fp32_compiled = resolve_rates(str(tmp_path / GPU_CHECK_FILE), compile=True)
    assert fp32_compiled.mode == "float32" and "float32+compile was not measured" in fp32_compiled.source
    ((_, cells),) = plan("fig2", preset="paper").values()
    b = budget({"fig2": cells}, throughput=rates.throughput, jobs=4, data_cache=False, packing=rates.packing)
    (f,) = b.figures
    expected = sum(10 * 50_000 * (50 + (10_000 * 50 + 10_000 + 4 * 60_000) / 50_000 / INFERENCE_SPEEDUP) / rate
                   for rate in (40_000.0, 90_000.0, 45_000.0))
    assert f.gpu_seconds == pytest.approx(expected, rel=0.02)  # the 30-class heads' FLOPs differ by < 2%
    assert b.gpu_hours == pytest.approx(f.gpu_seconds / 3600 / 1.2)
    text = dry_run("fig2", preset="paper", amp=True, jobs=4)
    assert "Rates (bfloat16): resnet18 40,000 img/s, vgg11 90,000 img/s" in text
    assert "4 cells sharing the GPU measured at 1.20x" in text and "measured 900,000 img/s for rendering" in text
    with pytest.raises(InvalidParameterError, match="no such file"):
        resolve_rates(str(tmp_path / "missing.json"))
    _gpu_check(tmp_path / "check.json", width=0.125, n_train=256)  # bench_gpu_epoch.py --device cpu, a check
    with pytest.raises(InvalidParameterError, match="a check of the script"):
        resolve_rates(str(tmp_path / "check.json"))
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(InvalidParameterError, match="Cannot read the gpu_check results"):
        resolve_rates(str(tmp_path / "bad.json"))


def test_the_goal_line_says_what_it_needs_and_how_many_seeds_fit(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    planned = plan("all", preset="paper", amp=True)
    rates = resolve_rates(None, amp=True)
    b = budget({k: cells for k, (_, cells) in planned.items()}, throughput=rates.throughput, jobs=1, data_cache=False)
    text = format_budget(b, rates=rates, seeds=range(10))
    per_seed = b.gpu_hours / 10
    fit = int(8 // per_seed)
    assert f"needs {b.gpu_hours / 8:.1f}x these rates: {b.gpu_hours / 8 * 30_000:,.0f} ResNet-18 img/s" in text
    assert f"fit {fit} of the 10 seeds (--seeds {','.join(map(str, range(fit)))}: {per_seed * fit:.1f}" in text
    assert f"(--seeds {','.join(map(str, range(fit)))}: {per_seed * fit:.1f}" in dry_run("all", preset="paper", amp=True)
    redrawn = sum(f.redrawn_images for f in b.figures)
    assert f"({redrawn / 8 / 3600:,.0f} img/s within 8 hours)" in text
    (_, cells), = plan("fig2", preset="paper", seeds=[0], amp=True).values()
    small = budget({"fig2": cells}, throughput=rates.throughput, jobs=1, data_cache=False)
    assert "it is met" in format_budget(small, rates=rates, seeds=[0])


def test_a_timm_architecture_is_priced_where_its_last_feature_map_is_one_pixel() -> None:
    # 16 px: timm's ResNet-18 ends on 1x1 maps, where batch norm in training mode refuses a single image
    import timm

    params, flops = _model_size("timm:resnet18", 1.0, 16, 3)
    assert params == sum(p.numel() for p in timm.create_model("resnet18", num_classes=3).parameters())
    assert flops > 0
    ((_, cells),) = plan("fig2", preset="smoke", archs=["timm:resnet18"], width=1).values()
    assert budget({"fig2": cells}, throughput={"resnet18": 15_000.0}, jobs=1, data_cache=False).gpu_hours > 0
