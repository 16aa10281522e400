"""Claims judged per seed and on the mean; inconclusive when a model they rely on did not learn; the paper column."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from invmeter.errors import InvalidParameterError
from invmeter.experiments import fig2, fig3, fig5, fig8
from invmeter.experiments.claims import Check, Paper, Reference, combine, judge, learnt
from invmeter.experiments.common import scale_for
from invmeter.experiments.outputs import deviations, summary
from invmeter.experiments.tables import effects_table, load_results, tables_of, tally_table, write_tables


def test_learnt_needs_a_margin_over_chance() -> None:
    # 10 classes, 1,000 test images: 10% of the way from 0.1 to 1 (0.09) beats 2 standard errors (0.019)
    assert not learnt(0.189, 0.1, 1000) and learnt(0.19, 0.1, 1000)
    # 3 classes, 12 test images: 2 standard errors (0.272) beat 10% of the way (0.067): at least 0.605
    assert not learnt(0.60, 1 / 3, 12) and learnt(0.61, 1 / 3, 12)


def _check(holds: bool, learnt_reference: bool = True) -> Check:
    reference = Reference("model", 0.9 if learnt_reference else 0.1, 0.1, 1000)
    return Check("C", "a claim", {}, holds, 0.5, (reference,))


@pytest.mark.parametrize(("mean", "seeds", "status"), [
    ((True, True), [(True, True), (True, True), (False, True)], "holds"),  # 2 of 3 seeds
    ((True, True), [(True, True), (False, True), (False, True)], "fails"),  # holds on the mean, 1 of 3 seeds
    ((False, True), [(True, True), (True, True), (False, True)], "fails"),  # 2 of 3 seeds, but not on the mean
    ((True, True), [(True, True), (True, False), (True, False)], "inconclusive"),  # 1 of 3 seeds conclusive
    ((True, True), [(True, True), (True, True), (True, False)], "holds"),  # 2 of 3 hold, 1 inconclusive
    ((True, True), [(True, True), (False, True), (True, False)], "fails"),  # 1 of the 2 seeds judged: a tie
    ((True, True), [(True, True)] * 4 + [(False, True)] * 2 + [(True, False)] * 4, "holds"),  # 4 of 6 judged
    ((True, False), [(True, True), (True, True), (True, True)], "inconclusive"),  # the reference failed on the mean
    ((True, True), [(True, True), (False, True)], "fails"),  # a tie is no majority
    ((True, True), [(True, True)], "holds"),  # one seed: the seed is the mean
])
def test_a_claim_holds_on_the_mean_and_on_a_majority_of_seeds(mean: tuple, seeds: list, status: str) -> None:
    verdict, reason = combine(_check(*mean), {str(i): _check(*s) for i, s in enumerate(seeds)})
    excluded = any(not learnt_reference for _, learnt_reference in seeds)  # a holding claim names excluded seeds
    assert verdict == status and bool(reason) == (status != "holds" or excluded)


def _fig5_rows(native_composition: list[float]) -> list[dict]:
    """Three seeds of Figure 5 (10 classes, chance 0.1) where the models do what the paper says, except that the
    native T1∘T2 model learnt its pretraining task only as well as ``native_composition`` (one value per seed)."""
    transfer = {("T1", "T1"): 0.98, ("T1", "T2"): 0.3, ("T1", "T1+T2"): 0.6, ("T1", "T1oT2"): 0.2,
                ("T2", "T1"): 0.4, ("T2", "T2"): 0.9, ("T2", "T1+T2"): 0.6, ("T2", "T1oT2"): 0.2,
                ("T1+T2", "T1"): 0.9, ("T1+T2", "T2"): 0.85, ("T1+T2", "T1+T2"): 0.9, ("T1+T2", "T1oT2"): 0.2,
                ("T1oT2", "T1"): 0.5, ("T1oT2", "T2"): 0.5, ("T1oT2", "T1+T2"): 0.5, ("T1oT2", "T1oT2"): 0.7}
    rows = []
    for seed, composition in enumerate(native_composition):
        for (trained, target), accuracy in transfer.items():
            pretrain = composition if trained == "T1oT2" else 0.95
            rows.append({"seed": seed, "arch": "cifar:resnet18", "trained_on": trained, "target": target,
                         "accuracy": accuracy if trained != "T1oT2" or composition > 0.2 else 0.12,
                         "pretrain_accuracy": pretrain, "pretrain_chance": 0.1, "pretrain_n_test": 1000})
    return rows


def test_a_claim_against_a_reference_at_chance_is_inconclusive() -> None:
    # as the committed cpu run: the native T1∘T2 model learnt on seed 0 only (0.82; 0.12 and 0.13 are chance)
    claims = {c.id: c for c in judge(fig5.claims, _fig5_rows([0.82, 0.12, 0.13]), "cpu")}
    composition = claims["C5-composition"]
    assert composition.status == "inconclusive"
    assert [v["status"] for v in composition.per_seed.values()] == ["holds", "inconclusive", "inconclusive"]
    assert "native T1∘T2 model 0.12 (chance 0.10)" in composition.reason
    assert claims["C5-single"].status == "holds"  # it does not rely on the T1∘T2 model
    learnt_everywhere = {c.id: c for c in judge(fig5.claims, _fig5_rows([0.82, 0.8, 0.75]), "cpu")}
    assert learnt_everywhere["C5-composition"].status == "holds"


def test_a_seed_whose_reference_did_not_learn_is_excluded_from_the_mean() -> None:
    rows = _fig5_rows([0.82, 0.12, 0.75])  # seed 1's native T1∘T2 model is at chance: its transfer rows read 0.12
    composition = {c.id: c for c in judge(fig5.claims, rows, "cpu")}["C5-composition"]
    assert composition.status == "holds" and [v["status"] for v in composition.per_seed.values()] == [
        "holds", "inconclusive", "holds"]
    assert composition.measured["native T1oT2"] == pytest.approx(0.7)  # seeds 0 and 2 only: seed 1's 0.12 left out
    assert composition.effect == pytest.approx(0.5)
    assert composition.reason.startswith("on 2 seeds judged (seed 1 excluded: a model did not learn")
    everything = {c.id: c for c in judge(fig5.claims, _fig5_rows([0.82, 0.8, 0.75]), "cpu")}["C5-composition"]
    assert everything.reason == "" and everything.effect == pytest.approx(0.5)


def _fig2_rows(gaps: list[float]) -> list[dict]:
    rows = []
    for seed, gap in enumerate(gaps):
        acc = {"all": 0.99, "transforms": 0.95, "objects": 0.95 - gap, "none": 0.9 - gap}
        rows += [{"seed": seed, "arch": "cifar:resnet18", "target": t, "accuracy": a, "pretrain_accuracy": 0.99,
                  "pretrain_chance": 1 / 30, "pretrain_n_test": 1500} for t, a in acc.items()]
    return rows


def test_the_paper_column_and_the_ratio_of_effect_sizes() -> None:
    claims = {c.id: c for c in judge(fig2.claims, _fig2_rows([0.7, 0.7, 0.7]), "cpu")}
    gap = claims["C2-gap[resnet18]"]
    assert gap.paper.effect == pytest.approx(0.07) and gap.effect == pytest.approx(0.7)
    assert gap.effect_ratio == pytest.approx(10.0) and "D_objects 0.91" in gap.paper.values
    # one seed's large gap carries the mean (0.23 >= 0.15) but not the claim
    split = {c.id: c for c in judge(fig2.claims, _fig2_rows([0.5, 0.1, 0.1]), "cpu")}["C2-gap[resnet18]"]
    assert split.status == "fails" and split.reason == "holds on the mean but only on 1 of 3 seeds"


def test_fig8_compares_with_the_paper_at_the_same_number_of_missing_transforms() -> None:
    rows = [{"seed": 0, "arch": "cifar:resnet18", "k": k, "m": m, "accuracy": 1.0 if k >= m else 1.0 - 0.2 * (m - k),
             "pretrain_accuracy": 0.9, "pretrain_chance": 0.1, "pretrain_n_test": 1000}
            for k in range(1, 5) for m in range(1, 5)]
    subset = {c.id: c for c in judge(fig8.claims, rows, "cpu")}["C8-subset"]
    assert subset.effect == pytest.approx(0.4)  # 0.8 with 1 missing, 0.4 with 3
    assert subset.paper.effect == pytest.approx(0.927 - 0.666)  # the paper's 1 -> 3 missing, not 1 -> 7


def test_summary_shows_per_seed_verdicts_and_the_paper() -> None:
    claims = judge(fig5.claims, _fig5_rows([0.82, 0.12, 0.13]), "cpu")
    text = summary(fig5, "cpu", fig5.SCALES["cpu"], claims, "invmeter reproduce fig5", ["> a note"])
    assert "| per seed: verdict, effect | paper |" in text and "0: ✔ 0.500 · 1: ? " in text
    assert "**2 holds, 0 fails, 1 inconclusive** of 3 claims" in text
    assert "no stored numbers" in text


def test_deviations_name_every_setting_that_differs_from_the_paper_preset() -> None:
    line = deviations(fig8, "cpu", fig8.SCALES["cpu"])
    assert "n_train 6,000 (paper 50,000)" in line and "families 4: translation" in line
    assert "last layer 2,450 Adam steps (paper 25 epochs)" in line and "3 seeds (paper 10)" in line
    assert deviations(fig3, "paper", fig3.SCALES["paper"]) == "Preset paper: the paper's settings."
    # a Transforms-2D figure's paper preset fits the last layer on one draw of the target (the paper: one per epoch)
    assert deviations(fig8, "paper", fig8.SCALES["paper"]) == (
        "Preset paper differs from the paper's settings: last layer fit on 1 draw(s) of the target's scenes (the "
        "paper: a new draw every epoch).")
    assert "from its catalogue of 18" in deviations(fig5, "paper", fig5.SCALES["paper"])
    assert "the paper's own runs" in deviations(fig2, "paper", fig2.SCALES["paper"])
    fixed = deviations(fig2, "cpu", scale_for(fig2, "cpu", None, None, fixed_split=True))
    assert "fixed training splits, drawn once" in fixed and "families 8" in fixed and "own runs" not in fixed


COMMITTED = Path(__file__).resolve().parents[1] / "benchmarks" / "results"
RUNS = sorted(p.parent for p in COMMITTED.glob("*/results.json"))


@pytest.mark.parametrize("run", RUNS, ids=[p.name for p in RUNS])
def test_the_committed_results_under_the_current_rules(run: Path) -> None:
    """Whatever results are committed: their rows are their cells' results (benchmarks/results/*/cells), and judging
    those rows with the current rules (the figure's claims, the per-seed and mean verdicts) gives the committed
    verdicts, effects and numbers. A change of the rules fails here until the committed results are re-judged
    (``invmeter reproduce FIG --preset P --out benchmarks/results/FIG-P --cached-only``)."""
    from invmeter.experiments import EXPERIMENTS, FIGURES

    committed = json.loads((run / "results.json").read_text())
    for row in committed["rows"]:
        result = json.loads((run / "cells" / f"{row['cell']}.json").read_text())["result"]
        assert {k: row.get(k) for k in result} == result, f"{run.name}: row of cell {row['cell']} is not its cell's"
    claims = judge({**FIGURES, **EXPERIMENTS}[committed["figure"]].claims, committed["rows"], committed["preset"])
    assert [(c.id, c.status) for c in claims] == [(c["id"], c["status"]) for c in committed["claims"]], (
        f"re-judge it: invmeter reproduce {committed['figure']} --preset {committed['preset']} --out {run} "
        "--cached-only")
    for ours, theirs in zip((c.to_dict() for c in claims), committed["claims"]):
        for key in ("effect", "measured", "effect_ratio"):  # the same arithmetic on the same numbers
            assert json.loads(json.dumps(ours[key], default=str)) == theirs[key], (run.name, ours["id"], key)
        assert {s: v["status"] for s, v in ours["per_seed"].items()} == {
            s: v["status"] for s, v in theirs["per_seed"].items()}


def _fig8_records(out: Path, accuracy: Callable[[int, int], float]) -> None:
    """Cell records for Figure 8's smoke preset as if it had run: every model learnt its task (test accuracy 0.95,
    3 classes on 12 images: chance 1/3, learnt from 0.61), and model k transfers to target m with ``accuracy(k, m)``."""
    from invmeter.experiments import plan

    ((_, cells),) = plan("fig8", preset="smoke").values()
    (out / "cells").mkdir(parents=True)
    models = {dep.id: dep for cell in cells for dep in cell.deps.values()}  # the training cells the transfers load
    for cell in [*models.values(), *cells]:
        result = ({"test_accuracy": 0.95} if cell.task == "train" else
                  {"accuracy": accuracy(cell.meta["k"], cell.meta["m"]), "train_accuracy": 1.0})
        (out / "cells" / f"{cell.id}.json").write_text(json.dumps({"id": cell.id, "task": cell.task,
                                                                    "result": result}))


@pytest.mark.parametrize(("name", "accuracy", "statuses"), [
    ("holds", lambda k, m: 1.0 if k >= m else 1.0 - 0.3 * (m - k), {"C8-superset": "holds", "C8-subset": "holds"}),
    ("fails", lambda k, m: 1.0 if k >= m else 0.98, {"C8-superset": "holds", "C8-subset": "fails"}),
])
def test_constructed_cells_hold_and_fail_end_to_end_through_reproduce(tmp_path: Path, name: str,
                                                                      accuracy: Callable[[int, int], float],
                                                                      statuses: dict[str, str]) -> None:
    """reproduce's judging on constructed cells (no training: --cached-only reads them): a subset that loses 0.3 per
    missing transform holds the paper's claim; one that loses 0.02 fails it (drop below 0.10). The smoke runs in CI
    are inconclusive by design (models at chance), so this is where holds and fails run end to end."""
    from invmeter.experiments import reproduce

    out = tmp_path / name
    _fig8_records(out, accuracy)
    claims = {c.id: c for c in reproduce("fig8", preset="smoke", out=out, cached_only=True, jobs=1)["fig8"]}
    assert {k: c.status for k, c in claims.items()} == statuses
    written = json.loads((out / "results.json").read_text())
    assert {c["id"]: c["status"] for c in written["claims"]} == statuses
    assert written["tally"] == {s: list(statuses.values()).count(s) for s in ("holds", "fails", "inconclusive")}
    summary_text = (out / "summary.md").read_text()
    assert summary_text.count("✔ holds |") == list(statuses.values()).count("holds")
    assert summary_text.count("✘ fails |") == list(statuses.values()).count("fails")
    if name == "fails":
        assert claims["C8-subset"].effect == pytest.approx(0.0) and "fails on the mean" in claims["C8-subset"].reason


def test_a_check_that_could_not_measure_is_inconclusive() -> None:
    check = Check("C", "text", {}, False, None, (), Paper("x", 0.1, "s"), missing="no rows")
    assert check.status == "inconclusive" and check.reason == "no rows"


def test_the_docs_tables_are_the_committed_results() -> None:
    """docs/reproduce.md's tally and effect-size tables and docs/select.md's τ table are generated from the committed
    results, never typed."""
    tables = tables_of(COMMITTED)
    assert tables["tally"] == tally_table(load_results(COMMITTED)) and set(tables) == {"tally", "effects", "selection"}
    for doc, names in (("reproduce.md", ("tally", "effects")), ("select.md", ("selection",))):
        text = (COMMITTED.parents[1] / "docs" / doc).read_text()
        for name in names:
            assert f"<!-- tables:{name} -->\n{tables[name]}\n<!-- /tables -->" in text, (
                f"regenerate: python -m invmeter.experiments.tables benchmarks/results --write docs/{doc} ({name})")


def test_the_tables_count_verdicts_and_compare_effects_with_the_paper(tmp_path: Path) -> None:
    claims = judge(fig2.claims, _fig2_rows([0.14, 0.2, 0.05]), "cpu")  # gaps: the paper's is 0.07
    redrawn, fixed = {"config": {"redraw": True}}, {"config": {}}
    results = {"fig2": {"claims": [c.to_dict() for c in claims], "scale": {"redraw": True}, "cells": [fixed, redrawn]},
               "fig3": {"claims": [c.to_dict() for c in claims[:1]], "scale": {}},  # a run from before --redraw
               "fig4": {"claims": [c.to_dict() for c in claims[:1]], "scale": {"redraw": True}, "cells": [fixed]}}
    tally = tally_table(results)
    assert "| fig2 | drawn every epoch | 2 | 1 | 0 |" in tally and "C2-gap[resnet18] ✘ (0: ✘ · 1: ✔ · 2: ✘)" in tally
    assert "| fig3 | fixed splits | 0 | 1 | 0 |" in tally and "| fig4 | nothing to draw | 0 | 1 | 0 |" in tally
    assert "| **all** | | **2** | **3** | **0** | of 5 claims |" in tally
    effects = effects_table(results)
    assert "| fig2 | C2-gap[resnet18] | 0.130 (0.140, 0.200, 0.050) | 0.070 | 1.86× | yes |" in effects
    assert "| fig2 | C2-none[resnet18] | 0.050 (0.050, 0.050, 0.050) | 0.050 | 1.00× | yes |" in effects
    (tmp_path / "doc.md").write_text("a\n<!-- tables:tally -->\nold\n<!-- /tables -->\nb\n<!-- tables:effects -->\n"
                                     "<!-- /tables -->\n")
    write_tables(tmp_path / "doc.md", {"tally": tally, "effects": effects})
    assert (tmp_path / "doc.md").read_text() == (f"a\n<!-- tables:tally -->\n{tally}\n<!-- /tables -->\nb\n"
                                                 f"<!-- tables:effects -->\n{effects}\n<!-- /tables -->\n")
    (tmp_path / "select.md").write_text("<!-- tables:selection -->\n<!-- /tables -->\n")
    with pytest.raises(InvalidParameterError, match="no selection results"):
        write_tables(tmp_path / "select.md", {"tally": tally, "effects": effects})
    (tmp_path / "none.md").write_text("no markers\n")
    with pytest.raises(InvalidParameterError, match="none of the markers"):
        write_tables(tmp_path / "none.md", {"tally": tally})


def test_the_readme_tally_is_the_committed_results() -> None:
    counts = {s: 0 for s in ("holds", "fails", "inconclusive")}
    for result in load_results(COMMITTED).values():
        for claim in result["claims"]:
            counts[claim["status"]] += 1
    readme = " ".join((COMMITTED.parents[1] / "README.md").read_text().split())
    expected = (f"**{counts['holds']} claims that hold, {counts['fails']} that fail and {counts['inconclusive']} "
                f"inconclusive** of {sum(counts.values())}")
    assert expected in readme, expected
