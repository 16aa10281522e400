"""Figures 3 and 4 (CIFAR-10 with pasted objects): smoke runs end to end, and the claims on known numbers."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from test_pasted import write_fake_cifar

from invmeter.cli import cli
from invmeter.experiments import fig3, fig4, reproduce
from invmeter.experiments.common import Context


@pytest.fixture
def quiet_machine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """One torch thread per cell and a private cache; the process's thread count is restored afterwards."""
    threads = torch.get_num_threads()
    monkeypatch.setenv("INVMETER_THREADS", "1")
    monkeypatch.setenv("INVMETER_CACHE", str(tmp_path / "cache"))
    yield
    torch.set_num_threads(threads)


def test_fig3_smoke_names_the_standin_everywhere(tmp_path: Path, quiet_machine: None) -> None:
    lines: list[str] = []
    claims = reproduce("fig3", preset="smoke", out=tmp_path / "fig3", log=lines.append)["fig3"]
    assert [c.id for c in claims] == ["C3-objects", "C3-backgrounds"]
    result = json.loads((tmp_path / "fig3" / "results.json").read_text())
    assert any("stand-in" in note and "NOT CIFAR-10" in note for note in result["notes"])
    rows = result["rows"]
    assert len(rows) == 16 and {r["target"] for r in rows} == {"C→C", "C+O→C", "C+O→O", "O→O"}
    assert all("stand-in" in r["backgrounds"] and 0 <= r["accuracy"] <= 1 for r in rows)
    train = [c for c in result["cells"] if c["task"] == "train"]
    assert len(train) == 4 and train[0]["config"]["dataset"]["backgrounds"] == "cifar10-standin"
    with open(tmp_path / "fig3" / "results.csv") as f:
        assert len(list(csv.DictReader(f))) == 16
    summary = (tmp_path / "fig3" / "summary.md").read_text()
    assert "**stand-in**" in summary and "**C3-objects**" in summary
    assert (tmp_path / "fig3" / "fig3.png").stat().st_size > 1000
    lines.clear()
    again = reproduce("fig3", preset="smoke", out=tmp_path / "fig3", log=lines.append)["fig3"]
    assert "20 cells: 20 cached, 0 to run" in lines and again == claims
    assert json.loads((tmp_path / "fig3" / "results.json").read_text())["rows"] == rows


def test_fig4_smoke_on_a_cifar_folder(tmp_path: Path, quiet_machine: None) -> None:
    root = write_fake_cifar(tmp_path / "cifar")
    claims = reproduce("fig4", preset="smoke", out=tmp_path / "fig4", context=Context(cifar_root=str(root)))["fig4"]
    assert [c.id for c in claims] == ["C4r-objects", "C4r-cifar", "C4a-objects", "C4a-cifar"]
    result = json.loads((tmp_path / "fig4" / "results.json").read_text())
    assert result["scale"]["relevance"] == [0.0, 1.0] and result["scale"]["availability"] == [0.0, 1.0]
    assert not any("stand-in" in note for note in result["notes"]) and str(root) in result["notes"][0]
    train = [c for c in result["cells"] if c["task"] == "train"]
    assert len(train) == 5  # α ∈ {0, 1}, β = 0 (= C), C+O with object labels, O: α = 0 is β = 1, β = 0 is C
    assert {c["config"]["dataset"]["backgrounds"] for c in train} == {"cifar10", "black"}
    sweeps = {(r["sweep"], r["value"]) for r in result["rows"]}
    assert sweeps == {("relevance", 0.0), ("relevance", 1.0), ("availability", 0.0), ("availability", 1.0),
                      ("reference", "C"), ("reference", "C+O|O"), ("reference", "O")}
    assert (tmp_path / "fig4" / "fig4.png").stat().st_size > 1000


def test_missing_cifar_root_is_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["reproduce", "fig3", "--preset", "smoke", "--out", str(tmp_path / "o"),
                                      "--cifar-root", str(tmp_path / "nowhere")])
    assert result.exit_code == 1 and "No CIFAR-10 folder" in result.output and result.output.count("\n") == 1


def _fig3_rows(acc: dict[tuple[str, str], float]) -> list[dict]:
    return [{"trained_on": m, "target": t, "accuracy": a} for (m, t), a in acc.items()]


def test_fig3_claims_on_known_numbers() -> None:
    paper = {("C", "C+O→O"): 0.80, ("C+O|C", "C+O→O"): 0.53, ("O", "C+O→C"): 0.35, ("C+O|O", "C+O→C"): 0.24}
    assert [c.holds for c in fig3.claims(_fig3_rows(paper), "paper")] == [True, True]
    equal = {**paper, ("C+O|C", "C+O→O"): 0.78, ("C+O|O", "C+O→C"): 0.36}
    checked = fig3.claims(_fig3_rows(equal), "cpu")
    assert [c.holds for c in checked] == [False, False] and checked[0].measured["gap"] == pytest.approx(0.02)


def _fig4_rows(objects: dict[str, list[float]], cifar: dict[str, list[float]], grid: dict[str, list[float]]) -> list:
    rows = [{"sweep": kind, "value": x, "target": "C+O→O", "accuracy": a}
            for kind in grid for x, a in zip(grid[kind], objects[kind])]
    rows += [{"sweep": kind, "value": x, "target": "C+O→C", "accuracy": a}
             for kind in grid for x, a in zip(grid[kind], cifar[kind])]
    return rows


def test_fig4_claims_on_known_numbers() -> None:
    grid = {"relevance": [0.0, 0.6, 0.9, 1.0], "availability": [0.0, 0.2, 0.6, 1.0]}
    paper_like = _fig4_rows({"relevance": [0.5, 0.6, 0.8, 0.99], "availability": [0.8, 0.6, 0.55, 0.5]},
                            {"relevance": [0.8, 0.79, 0.78, 0.6], "availability": [0.8, 0.81, 0.8, 0.79]}, grid)
    assert [c.holds for c in fig4.claims(paper_like, "cpu")] == [True, True, True, True]
    opposite = _fig4_rows({"relevance": [0.5, 0.4, 0.45, 0.5], "availability": [0.8, 0.78, 0.6, 0.5]},
                          {"relevance": [0.8, 0.6, 0.7, 0.6], "availability": [0.8, 0.7, 0.75, 0.6]}, grid)
    assert [c.holds for c in fig4.claims(opposite, "cpu")] == [False, False, False, False]


def test_the_standin_rendering_version_is_part_of_every_cell_key(monkeypatch: pytest.MonkeyPatch) -> None:
    from invmeter.data import Cifar10StandIn, PastedObjects, standin
    from invmeter.experiments.cells import dataset_config

    ds = PastedObjects(Cifar10StandIn(0), objects=tuple(range(10)), relevance=0.5, image_size=32)
    before = dataset_config(ds)
    monkeypatch.setattr(standin, "_FORMAT", standin._FORMAT + 1)  # a new rendering: cells trained before are stale
    assert dataset_config(ds) != before and dataset_config(ds)["background_format"] == before["background_format"] + 1
