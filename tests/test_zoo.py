"""``invmeter zoo``: patterns, one clean pass per model, rows that resume and record failures, the board."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from torch import nn

import invmeter
from invmeter.cli import cli
from invmeter.errors import InvalidParameterError
from invmeter.leaderboard.zoo import expand_patterns
from invmeter.metrics.probe import LinearProbe

SMALL = dict(image_size=32, n_images=12, n_classes=3, n_boot=50)
SEEN = {"images": 0}


class _Counting(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten(),
                                 nn.Linear(16, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        SEEN["images"] += x.shape[0]
        return self.net(x)


def counting_model() -> nn.Module:
    """A factory for the ``test_zoo:counting_model`` spec."""
    return _Counting()


def test_patterns_expand_over_timm_tags_torchvision_cifar_and_files(tmp_path: Path) -> None:
    assert "timm:resnet18.a1_in1k" in expand_patterns(["timm:resnet18*"])
    assert "timm:resnet18" in expand_patterns(["timm:resnet18*"]) and "timm:resnet34" not in expand_patterns(["timm:resnet18*"])
    assert expand_patterns(["cifar:*"]) == ["cifar:resnet18", "cifar:vgg11", "cifar:densenet121"]
    assert "torchvision:resnet50" in expand_patterns(["torchvision:resnet*"])
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "model.safetensors").write_bytes(b"")
    assert expand_patterns([str(tmp_path / "*" / "model.safetensors")]) == [
        str(tmp_path / "a" / "model.safetensors"), str(tmp_path / "b" / "model.safetensors")]
    assert expand_patterns(["cifar:vgg11", "cifar:vgg11"]) == ["cifar:vgg11"]
    with pytest.raises(InvalidParameterError, match="matches no model or file"):
        expand_patterns(["timm:nosuchnet*"])


def test_each_model_sees_the_clean_images_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert sys.modules[counting_model.__module__] is sys.modules[__name__]
    fits = []
    real_fit = LinearProbe.fit
    monkeypatch.setattr(LinearProbe, "fit", lambda self, z, y: fits.append(len(z)) or real_fit(self, z, y))
    SEEN["images"] = 0
    rows = invmeter.zoo(["test_zoo:counting_model"], ["rotation", "hflip", "blur"], out=tmp_path, **SMALL,
                        mean=(0.5,), std=(0.5,))
    assert SEEN["images"] == (1 + 3) * 12  # not 2 x 3 x 12
    assert len(fits) == 1 + 3  # the clean-view probe once, one probe on each transform's views
    assert [r["transform"] for r in rows] == ["rotation", "hflip", "blur"] and all(r["status"] == "ok" for r in rows)
    for row in (rows[0], rows[2]):  # the first transform, and one that reused the clean views and their probe
        alone = invmeter.score(counting_model(), row["transform"], **SMALL, mean=(0.5,), std=(0.5,))
        assert {k: v["value"] for k, v in row["metrics"].items()} == pytest.approx(
            {k: v.value for k, v in alone.metrics.items()})
    SEEN["images"] = 0
    again = invmeter.zoo(["test_zoo:counting_model"], ["rotation", "hflip", "blur"], out=tmp_path, **SMALL,
                         mean=(0.5,), std=(0.5,))
    assert SEEN["images"] == 0 and again == rows  # finished models are not recomputed


def test_a_failing_model_becomes_a_row_with_its_reason_and_the_zoo_goes_on(tmp_path: Path) -> None:
    rows = invmeter.zoo(["cifar:vgg11?width=0.125", "nosuchpkg.mod:factory", "timm:vit_tiny_patch16_224"], ["hflip"],
                        out=tmp_path, weights="random", **SMALL)
    by_model = {r["model"]: r for r in rows}
    assert by_model["cifar:vgg11?width=0.125"]["status"] == "ok"
    assert by_model["nosuchpkg.mod:factory"]["status"] == "failed"
    assert "Cannot import model factory" in by_model["nosuchpkg.mod:factory"]["reason"]
    assert by_model["timm:vit_tiny_patch16_224"]["status"] == "ok"  # img_size passed to timm
    csv_text = (tmp_path / "results.csv").read_text()
    assert "failed" in csv_text and (tmp_path / "leaderboard.md").read_text().count("nosuchpkg") >= 1


@pytest.mark.filterwarnings("default::invmeter.errors.InvmeterWarning")  # offline: random-init, loudly
def test_the_command_writes_the_board_and_a_rerun_recomputes_nothing(tmp_path: Path) -> None:
    args = ["zoo", "timm:test_resnet*", "cifar:vgg11?width=0.125", "-t", "rotation", "-t", "hflip", "--image-size",
            "32", "--n-images", "12", "--classes", "3", "--bootstrap", "100", "--out", str(tmp_path)]
    first = CliRunner().invoke(cli, args)
    assert first.exit_code == 0, first.output
    assert "3 models x 2 transforms: 6 rows, 0 failed" in first.output
    csv_bytes = (tmp_path / "results.csv").read_bytes()
    assert {"leaderboard.md", "leaderboard.html", "results.jsonl"} <= {p.name for p in tmp_path.iterdir()}
    second = CliRunner().invoke(cli, args)
    assert second.exit_code == 0 and "3 cells: 3 cached, 0 to run" in second.output
    assert (tmp_path / "results.csv").read_bytes() == csv_bytes
    report = json.loads((tmp_path / "results.jsonl").read_text().splitlines()[0])["report"]
    assert report["model"]["input_size"] == [32, 32] and "terms" not in report


def test_kill_9_loses_at_most_the_model_in_flight(tmp_path: Path) -> None:
    code = ("import invmeter; invmeter.zoo(['cifar:resnet18?width=0.125', 'cifar:vgg11?width=0.125', "
            "'cifar:densenet121?width=0.125'], ['rotation'], out=%r, weights='random', image_size=32, n_images=12, "
            "n_classes=3, n_boot=0)" % str(tmp_path))
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    proc = subprocess.Popen([sys.executable, "-c", code], env=env, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and not (tmp_path / "results.csv").exists():
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    finished = (tmp_path / "results.csv").read_text().splitlines()[1:]
    assert finished and all(line.count(",ok,") == 1 for line in finished)  # whole rows only
    rows = invmeter.zoo(["cifar:resnet18?width=0.125", "cifar:vgg11?width=0.125", "cifar:densenet121?width=0.125"],
                        ["rotation"], out=tmp_path, weights="random", image_size=32, n_images=12, n_classes=3, n_boot=0)
    assert len(rows) == 3 and all(r["status"] == "ok" for r in rows)


def test_zoo_table_to_pandas_or_a_clear_error(tmp_path: Path) -> None:
    rows = invmeter.zoo(["cifar:vgg11?width=0.125"], ["hflip"], out=tmp_path, weights="random", **SMALL)
    try:
        import pandas  # noqa: F401
    except ImportError:
        with pytest.raises(invmeter.InvmeterError, match="needs pandas"):
            rows.to_pandas()
    else:
        frame = rows.to_pandas()
        assert list(frame["transform"]) == ["hflip"] and "invariance_lo" in frame


def test_every_metric_with_per_image_terms_gets_paired_intervals(tmp_path: Path) -> None:
    from invmeter.leaderboard.board import build_board
    from invmeter.metrics import get_metric

    field = ["paired_distance_ratio", "cka", "lie_derivative"]
    rows = invmeter.zoo(["timm:test_resnet", "timm:test_efficientnet"], ["rotation"], out=tmp_path,
                        weights="random", metrics=",".join(["invariance", *field]), **SMALL)
    assert all(r["status"] == "ok" and set(field) <= set(r["terms"]) for r in rows)
    for metric in field:
        board = build_board(rows, rank_by=metric, higher_is_better=get_metric(metric).higher_is_better is not False,
                            n_boot=200)
        vs_next = board.rows[0][board.header.index("vs next")]
        assert vs_next.note is None and "[" in vs_next.text, (metric, vs_next)  # a paired interval, not "?"
