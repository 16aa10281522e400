"""The paper benchmark: every figure's smoke preset end to end, cached cells, resume after kill -9, Ray."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from invmeter.cli import cli
from invmeter.experiments import FIGURES, reproduce
from invmeter.runner import Cell, run_cells


@pytest.fixture(scope="module")
def smoke_all(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``invmeter reproduce all --preset smoke`` once for the module (the CI run of every figure's smoke preset)."""
    out = tmp_path_factory.mktemp("smoke")
    result = CliRunner().invoke(cli, ["reproduce", "all", "--preset", "smoke", "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out


CLAIM_KEYS = {"id", "text", "status", "holds", "measured", "effect", "per_seed", "reason", "paper", "effect_ratio"}


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_every_figure_writes_its_outputs(smoke_all: Path, name: str) -> None:
    folder = smoke_all / name
    results = json.loads((folder / "results.json").read_text())
    assert results["figure"] == name and results["preset"] == "smoke"
    assert bool(results["claims"]) == (name != "fig7")  # Figure 7 shows examples and makes no claim
    assert all(set(c) == CLAIM_KEYS and set(c["per_seed"]) == {"0"} for c in results["claims"])
    assert results["rows"] and all(r["cell"] for r in results["rows"])
    assert all("versions" in c["provenance"] and "device" in c["provenance"] for c in results["cells"])
    csv_lines = (folder / "results.csv").read_text().strip().splitlines()
    assert len(csv_lines) == len(results["rows"]) + 1
    summary = (folder / "summary.md").read_text()
    assert sum(summary.count(f"| {s} |") for s in ("✔ holds", "✘ fails", "? inconclusive")) == len(results["claims"])
    assert "> Data: procedural objects" in summary and "> Preset smoke differs from the paper's settings" in summary
    assert not list((folder / "work").glob("*/train_state.pt"))  # resume states are deleted when a cell finishes
    assert (folder / f"{name}.png").stat().st_size > 1000


def test_smoke_models_at_chance_make_every_claim_inconclusive(smoke_all: Path) -> None:
    """The smoke preset trains for seconds: its models stay at chance, so no claim may read as holding or failing."""
    for name in FIGURES:
        results = json.loads((smoke_all / name / "results.json").read_text())
        assert all(c["status"] == "inconclusive" and "did not learn" in c["reason"] for c in results["claims"])
        assert results["tally"]["inconclusive"] == len(results["claims"])


def test_fig6_writes_a_paired_distance_ratio_for_every_model_and_transform(smoke_all: Path) -> None:
    results = json.loads((smoke_all / "fig6" / "results.json").read_text())
    families = results["scale"]["families"]
    pairs = {(r["trained_on"], r["target"]): r["paired_distance_ratio"] for r in results["rows"] if r["panel"] == "c"}
    assert set(pairs) == {(m, g) for m in (*families, "none", "untrained") for g in families}
    assert all(0.0 < v < 2.0 for v in pairs.values())
    (pdr,) = [c for c in results["claims"] if c["id"] == "C6-pdr"]
    assert pdr["paper"]["effect"] == pytest.approx(0.28) and "own 0.12 ± 0.07" in pdr["paper"]["values"]
    header = (smoke_all / "fig6" / "results.csv").read_text().splitlines()[0].split(",")
    assert "paired_distance_ratio" in header


def test_fig7_writes_the_example_grids(smoke_all: Path) -> None:
    from PIL import Image

    folder = smoke_all / "fig7"
    scale = FIGURES["fig7"].SCALES["smoke"]
    for row in ("C", "C+O", "O"):
        grid = Image.open(folder / f"fig7_{row}.png")
        assert grid.height == scale.image_size * 3 and grid.width > scale.n_test * scale.image_size * 3


def test_figure_4_reuses_the_models_figure_3_trained(smoke_all: Path) -> None:
    """reproduce all runs a cell once: Figure 4's reference, α = 0 and β = 0 models are Figure 3's (same ids), and
    Figure 4's folder holds their records and hard links to their checkpoints."""
    def models(fig: str) -> set[str]:
        return {p.parent.name for p in (smoke_all / fig / "work").glob("*/model.safetensors")}

    shared = models("fig3") & models("fig4")
    assert len(shared) == 4  # C, C+O with CIFAR labels (= α 0), C+O with object labels, O; β = 0 is C
    fig4_records = {p.stem for p in (smoke_all / "fig4" / "cells").glob("*.json")}
    assert len({p.stem for p in (smoke_all / "fig3" / "cells").glob("*.json")} & fig4_records) == 4 + 4 * 2
    for cell_id in shared:
        original, linked = (smoke_all / f / "work" / cell_id / "model.safetensors" for f in ("fig3", "fig4"))
        assert original.stat().st_ino == linked.stat().st_ino
        assert (smoke_all / "fig4" / "cells" / f"{cell_id}.json").read_text() == (
            smoke_all / "fig3" / "cells" / f"{cell_id}.json").read_text()


def test_a_rerun_reuses_every_finished_cell(smoke_all: Path) -> None:
    before = json.loads((smoke_all / "fig2" / "results.json").read_text())
    lines: list[str] = []
    reproduce("fig2", preset="smoke", out=smoke_all / "fig2", log=lines.append)
    assert any("0 to run" in line for line in lines)
    after = json.loads((smoke_all / "fig2" / "results.json").read_text())
    assert after["rows"] == before["rows"]


def _orphaned_workers() -> list[int]:
    """Worker processes started by this test whose run has died (re-parented to init)."""
    test = os.environ.get("PYTEST_CURRENT_TEST", "").split(" ")[0].encode()
    pids = []
    for entry in Path("/proc").iterdir():
        try:
            if (entry.name.isdigit() and b"spawn_main" in (entry / "cmdline").read_bytes()
                    and test in (entry / "environ").read_bytes() and b"PPid:\t1\n" in (entry / "status").read_bytes()):
                pids.append(int(entry.name))
        except OSError:
            continue
    return pids


def test_kill_9_loses_at_most_the_cell_in_flight(tmp_path: Path) -> None:
    out = tmp_path / "fig2"
    command = [sys.executable, "-m", "invmeter", "reproduce", "fig2", "--preset", "smoke", "--out", str(out)]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    cells_dir = out / "cells"
    deadline = time.time() + 300
    while time.time() < deadline and len(list(cells_dir.glob("*.json"))) < 2:
        time.sleep(0.2)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    finished = {p.name: p.read_text() for p in cells_dir.glob("*.json")}
    assert len(finished) >= 2
    time.sleep(3)  # a smoke cell takes about a second: a worker outliving the killed run would record one by now
    assert {p.name for p in cells_dir.glob("*.json")} == set(finished), "a worker process survived kill -9"
    deadline = time.time() + 60  # a worker still starting (importing torch) exits as soon as it sees its run gone
    while _orphaned_workers() and time.time() < deadline:
        time.sleep(0.5)
    assert not _orphaned_workers(), "a worker process survived kill -9"
    lines: list[str] = []
    reproduce("fig2", preset="smoke", out=out, log=lines.append)
    assert any(f"{len(finished)} cached" in line for line in lines)
    for name, text in finished.items():  # finished cells were reused, not re-run
        assert (cells_dir / name).read_text() == text
    assert json.loads((out / "results.json").read_text())["claims"]


def test_worker_processes_give_the_numbers_of_one_process(smoke_all: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INVMETER_THREADS", "1")
    reproduce("fig2", preset="smoke", out=tmp_path / "two", jobs=2)
    reproduce("fig2", preset="smoke", out=tmp_path / "one", jobs=1)
    two = json.loads((tmp_path / "two" / "results.json").read_text())
    one = json.loads((tmp_path / "one" / "results.json").read_text())
    assert [(r["cell"], r["accuracy"]) for r in two["rows"]] == [(r["cell"], r["accuracy"]) for r in one["rows"]]
    assert {c["provenance"]["threads"] for c in two["cells"]} == {1}


def test_jobs_must_not_be_negative(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["reproduce", "fig2", "--preset", "smoke", "--jobs", "-1", "--out", str(tmp_path)])
    assert result.exit_code == 1 and "'jobs' parameter must be >= 0" in result.output


def test_unknown_figure_and_preset_give_one_line_errors(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["reproduce", "fig9", "--out", str(tmp_path)])
    assert result.exit_code == 1 and "Unknown figure 'fig9'" in result.output
    result = CliRunner().invoke(cli, ["reproduce", "fig2", "--preset", "huge", "--out", str(tmp_path)])
    assert result.exit_code == 2


def test_ray_executor_gives_the_local_numbers(smoke_all: Path, tmp_path: Path) -> None:
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        reproduce("fig2", preset="smoke", out=tmp_path / "fig2", executor="ray")
    finally:
        ray.shutdown()
    local = json.loads((smoke_all / "fig2" / "results.json").read_text())["rows"]
    remote = json.loads((tmp_path / "fig2" / "results.json").read_text())["rows"]
    assert [(r["cell"], r["accuracy"]) for r in remote] == [(r["cell"], r["accuracy"]) for r in local]


def _ray_worker_pids() -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if b"ray::run_cell" in (entry / "cmdline").read_bytes():
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


def test_a_killed_ray_worker_is_retried_and_nothing_is_lost_or_duplicated(smoke_all: Path, tmp_path: Path) -> None:
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
    killed: list[int] = []

    def kill_first_worker() -> None:
        deadline = time.time() + 120
        while time.time() < deadline and not killed:
            for pid in _ray_worker_pids():
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
                return
            time.sleep(0.05)

    killer = threading.Thread(target=kill_first_worker)
    killer.start()
    try:
        reproduce("fig2", preset="smoke", out=tmp_path / "fig2", executor="ray")
    finally:
        killer.join()
        ray.shutdown()
    assert killed, "no Ray worker was seen running a cell"
    local = json.loads((smoke_all / "fig2" / "results.json").read_text())["rows"]
    remote = json.loads((tmp_path / "fig2" / "results.json").read_text())["rows"]
    assert [(r["cell"], r["accuracy"]) for r in remote] == [(r["cell"], r["accuracy"]) for r in local]
    assert len(list((tmp_path / "fig2" / "cells").glob("*.json"))) == len(local) + 1  # 4 transfers + 1 training


def test_cell_ids_depend_on_config_and_dependencies() -> None:
    a = Cell("train", {"x": 1})
    assert a.id == Cell("train", {"x": 1}, label="other label", meta={"seed": 9}).id
    assert a.id != Cell("train", {"x": 2}).id
    assert Cell("transfer", {"y": 1}, deps={"model": a}).id != Cell("transfer", {"y": 1}, deps={"model": Cell("train", {"x": 2})}).id


def test_unknown_executor(tmp_path: Path) -> None:
    from invmeter.errors import UnknownNameError

    with pytest.raises(UnknownNameError, match="Unknown executor 'slurm'"):
        run_cells([], tmp_path, executor="slurm")
