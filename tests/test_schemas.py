"""Every JSON the project writes carries its schema's version (invmeter/_utils/schemas.py), read back from each
writer's own output; provenance names the versions of every library that determines the numbers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn

import invmeter
from invmeter._utils import schemas
from invmeter._utils.versions import versions
from invmeter.api import commands
from invmeter.models.checkpoint import save_checkpoint
from invmeter.report.report import Report

TINY = dict(image_size=16, n_classes=2, n_images=8, n_boot=0, mean=(0.5,), std=(0.5,))


def test_a_report_and_a_sweep_write_the_report_schema(tmp_path: Path) -> None:
    net = nn.Sequential(nn.AdaptiveAvgPool2d(2), nn.Flatten())
    report = invmeter.score(net, "rotation", **TINY)
    written = json.loads(report.to_json())
    assert written["schema_version"] == schemas.REPORT_SCHEMA_VERSION
    assert json.loads(Report.from_dict(written).to_json()) == written
    images = torch.rand(8, 3, 16, 16, generator=torch.Generator().manual_seed(0))  # unlabelled: metrics skipped
    full = invmeter.score(nn.Sequential(nn.Conv2d(3, 2, 3), nn.Flatten()), "hflip", data=images, seeds=[0, 1],
                          layers="0", baseline="random-init", **{**TINY, "n_boot": 20, "n_images": None})
    entry = invmeter.sweep(net, "rotation", [90], **TINY)[0]
    for written in (json.loads(full.to_json()), entry.to_dict()):  # every typed field round-trips
        assert json.loads(json.dumps(Report.from_dict(written).to_dict())) == json.loads(json.dumps(written))
    assert {"seeds", "baseline", "layers", "skipped_metrics"} <= full.to_dict().keys()
    assert {"magnitude", "magnitude_units", "verdict"} <= entry.to_dict().keys()
    sweep = invmeter.sweep(net, "rotation", [0, 90], **TINY)
    commands.write_outputs([sweep], json_path=str(tmp_path / "sweep.json"), sweep=True)
    assert json.loads((tmp_path / "sweep.json").read_text())["schema_version"] == schemas.REPORT_SCHEMA_VERSION


@pytest.mark.filterwarnings("ignore::invmeter.errors.InvmeterWarning")
def test_zoo_rows_and_cell_records_write_their_schemas(tmp_path: Path) -> None:
    invmeter.zoo(["timm:test_resnet", "nosuchpkg.mod:factory"], ["hflip"], out=tmp_path, weights="random",
                 image_size=32, n_images=12, n_classes=3, n_boot=0)
    rows = [json.loads(line) for line in (tmp_path / "results.jsonl").read_text().splitlines()]
    assert [r["status"] for r in rows] == ["ok", "failed"]
    assert all(r["schema_version"] == schemas.ZOO_ROW_SCHEMA_VERSION for r in rows)
    assert rows[0]["report"]["schema_version"] == schemas.REPORT_SCHEMA_VERSION
    records = [json.loads(p.read_text()) for p in (tmp_path / "cells").glob("*.json")]
    assert len(records) == 2 and all(r["schema_version"] == schemas.CELL_RECORD_SCHEMA_VERSION for r in records)


def test_a_checkpoint_sidecar_and_a_training_run_write_the_sidecar_schema(tmp_path: Path) -> None:
    save_checkpoint(nn.Linear(2, 2), tmp_path / "bare", {"arch": "cifar:resnet18"})
    assert json.loads((tmp_path / "bare" / "model.json").read_text())["schema_version"] == \
        schemas.CHECKPOINT_SIDECAR_SCHEMA_VERSION
    config = invmeter.TrainConfig.for_transforms2d(transforms="none", classes=2, image_size=16, width=0.0625,
                                                   n_train=16, n_val=4, n_test=4, epochs=1, batch_size=8, device="cpu",
                                                   threads=1)
    invmeter.train(config, out=tmp_path / "run", cache=False, verbose=False)
    meta = json.loads((tmp_path / "run" / "model.json").read_text())
    assert meta["schema_version"] == schemas.CHECKPOINT_SIDECAR_SCHEMA_VERSION and len(meta["history"]) == 1


def test_a_reproduced_figure_writes_the_results_and_cell_schemas(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                                 ) -> None:
    monkeypatch.setenv("INVMETER_CACHE", str(tmp_path / "cache"))
    commands.reproduce("fig7", preset="smoke", out=str(tmp_path / "fig7"), seeds=None, archs=None, objects_dir=None,
                       backgrounds_dir=None, cifar_root=None, allow_standin=False, executor="local", jobs=1,
                       address=None, gpus_per_cell=0.0, amp=False, deterministic=False, data_cache=None,
                       cached_only=False, throughput=None, log=lambda _: None)
    results = json.loads((tmp_path / "fig7" / "results.json").read_text())
    assert results["schema_version"] == schemas.EXPERIMENT_RESULTS_SCHEMA_VERSION
    assert results["cells"] and all(c["schema_version"] == schemas.CELL_RECORD_SCHEMA_VERSION for c in results["cells"])


def test_a_selection_writes_the_selection_schema(tmp_path: Path) -> None:
    images = torch.rand(8, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    net = nn.Sequential(nn.AdaptiveAvgPool2d(2), nn.Flatten())
    invmeter.select([net], (images, torch.arange(8) % 2), ["hflip"], out=tmp_path,
                    **{k: v for k, v in TINY.items() if k not in ("n_classes", "n_images")})
    written = json.loads((tmp_path / "selection.json").read_text())
    assert written["schema_version"] == schemas.SELECTION_SCHEMA_VERSION and written["candidates"][0]["rank"] == 1


def test_provenance_names_every_library_that_determines_the_numbers() -> None:
    found = versions()
    assert {"invmeter", "python", "torch", "torchvision", "timm", "numpy", "scipy", "scikit-learn", "Pillow",
            "huggingface_hub"} <= found.keys()
    assert found["torch"] == str(torch.__version__) and all(v != "not installed" for k, v in found.items())
