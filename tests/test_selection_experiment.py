"""``invmeter reproduce selection``: each signal's τ per seed and target against a reference computation, the claims
judged on constructed rows, and finished cells of another run adopted (not recomputed) unless their files fail."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy.stats import kendalltau

from invmeter.experiments import plan, reproduce, selection
from invmeter.experiments.claims import judge
from invmeter.runner import Cell, adopt_cells, cell_task, run_cells

TRUTH = [0.9, 0.7, 0.5, 0.3]  # transfer accuracy of models m0..m3 on the target
LOGME = [-0.4, -0.3, -0.6, -0.5]
INVARIANCE = [0.8, 0.6, 0.5, 0.1]
SOURCE = [1.0, 1.0, 1.0, 1.0]  # every source model learnt its task perfectly: source accuracy cannot order them


def _rows(seed: int) -> list[dict[str, Any]]:
    rows = []
    for k, (acc, logme, inv) in enumerate(zip(TRUTH, LOGME, INVARIANCE)):
        base = {"seed": seed, "arch": "cifar:resnet18", "trained_on": f"m{k}", "target": "rotation+blur",
                "pretrain_accuracy": SOURCE[k], "pretrain_chance": 0.1, "pretrain_n_test": 500}
        rows.append({**base, "kind": "transfer", "accuracy": acc})
        rows.append({**base, "kind": "estimate", "logme": logme, "leep": None, "nce": None, "h_score": 1.0 + k,
                     "knn_accuracy": acc, "clean_accuracy": acc, "invariance": {"rotation": inv, "blur": inv},
                     "accuracy_delta": {"rotation": -0.1 * k, "blur": 0.0}})
    return rows


def _z(values: list[float]) -> np.ndarray:
    v = np.asarray(values)
    return (v - v.mean()) / v.std()


def test_the_tau_table_matches_scipy_on_every_signal() -> None:
    (entry,) = selection.tau_table(_rows(0))
    tau = entry["tau"]
    combined = (_z(LOGME) + _z(INVARIANCE)) / 2
    assert tau["combined"]["kendall"] == pytest.approx(kendalltau(combined, TRUTH).statistic)
    assert tau["logme"]["kendall"] == pytest.approx(kendalltau(LOGME, TRUTH).statistic)
    assert tau["invariance_mean"]["kendall"] == pytest.approx(1.0)
    assert tau["knn_accuracy"]["kendall"] == pytest.approx(1.0) and tau["h_score"]["kendall"] == pytest.approx(-1.0)
    assert tau["accuracy_delta_mean"]["kendall"] == pytest.approx(1.0)
    assert tau["source_accuracy"]["kendall"] is None and "same estimator" in tau["source_accuracy"]["reason"]
    assert tau["leep"]["kendall"] is None and entry["n_models"] == 4


def test_the_claims_compare_mean_taus_and_count_a_signal_without_order_as_zero() -> None:
    rows = _rows(0) + _rows(1)
    claims = {c.id: c for c in judge(selection.claims, rows, "cpu")}
    combined = kendalltau((_z(LOGME) + _z(INVARIANCE)) / 2, TRUTH).statistic
    logme = kendalltau(LOGME, TRUTH).statistic
    assert claims["Csel-logme"].status == "holds" and claims["Csel-logme"].effect == pytest.approx(combined - logme)
    assert claims["Csel-source"].status == "holds" and claims["Csel-source"].effect == pytest.approx(combined - 0.0)
    assert set(claims["Csel-logme"].per_seed) == {"0", "1"}
    table = selection.tables(rows)
    assert "| LogME | " in table and "| source accuracy | n/a | n/a |" in table


def test_a_zoo_that_did_not_learn_makes_the_claims_inconclusive() -> None:
    rows = [{**r, "pretrain_accuracy": 0.1} for r in _rows(0)]
    assert {c.status for c in judge(selection.claims, rows, "cpu")} == {"inconclusive"}


@cell_task("adoption_probe", check=lambda record, work: None if (work / "made").read_text() == "ok" else "damaged")
def _probe_task(config: dict[str, Any], deps: dict, workdir: Path, settings: Any) -> dict[str, Any]:
    (workdir / "made").write_text("ok")
    return {"value": config["n"] * 2}


def test_finished_cells_of_another_folder_are_adopted_and_damaged_ones_are_not(tmp_path: Path) -> None:
    cells = [Cell("adoption_probe", {"n": n}, label=f"probe {n}") for n in (1, 2)]
    run_cells(cells, tmp_path / "first")
    (tmp_path / "first" / "work" / cells[1].id / "made").write_text("broken")
    assert adopt_cells(cells, tmp_path / "first", tmp_path / "second") == ["probe 1"]
    lines: list[str] = []
    records = run_cells(cells, tmp_path / "second", log=lines.append)
    assert "2 cells: 1 cached, 1 to run" in lines[0]
    first = json.loads((tmp_path / "first" / "cells" / f"{cells[0].id}.json").read_text())
    assert records[cells[0].id] == first and (tmp_path / "second" / "work" / cells[0].id / "made").read_text() == "ok"
    assert adopt_cells(cells, tmp_path / "first", tmp_path / "second") == []  # nothing twice


def test_the_smoke_preset_reuses_figure_6s_models_beside_it_and_writes_its_outputs(tmp_path: Path) -> None:
    """A run in a folder beside a finished fig6/ (``reproduce all``'s layout) trains only its composite model: the
    single-family models are Figure 6's cells, adopted; at the smoke preset the models stay at chance."""
    ((_, fig6_cells),) = plan("fig6", preset="smoke").values()
    trains = list({c.deps["model"].id: c.deps["model"] for c in fig6_cells if "model" in c.deps}.values())
    run_cells(trains, tmp_path / "fig6")
    lines: list[str] = []
    (claims,) = reproduce("selection", preset="smoke", out=tmp_path / "selection", jobs=1, log=lines.append).values()
    assert f"selection: reusing {len(trains)} finished cells of {tmp_path / 'fig6'}" in lines
    assert any(line.startswith(f"{3 * (len(trains) + 1)} cells: {len(trains)} cached") for line in lines)
    assert [c.status for c in claims] == ["inconclusive", "inconclusive"]
    assert all("the median source model" in c.reason for c in claims)
    results = json.loads((tmp_path / "selection" / "results.json").read_text())
    assert {r["kind"] for r in results["rows"]} == {"transfer", "estimate"}
    summary = (tmp_path / "selection" / "summary.md").read_text()
    assert "## Kendall τ (weighted τ) of each signal" in summary and "| invariance-aware (select) |" in summary
    assert (tmp_path / "selection" / "selection.png").stat().st_size > 1000
