"""The zoo's leaderboard: paired bootstrap comparisons, ranking, the Markdown and HTML pages (opened in a real
headless Chromium where one is installed)."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from headless import Browser, find_chromium

from invmeter.errors import DataError, InvalidParameterError, UnknownNameError
from invmeter.leaderboard.board import build_board, write_leaderboard
from invmeter.leaderboard.ranking import (
    bootstrap_interval,
    neighbours_distinguishable,
    paired_difference,
    rank,
    statistic,
)
from invmeter.leaderboard.records import check_records
from invmeter.metrics import get_metric
from invmeter.metrics.bootstrap import percentile_ci, resample_weights
from invmeter.metrics.reductions import REDUCTIONS

N = 40


def _terms(kind: str, rng: np.random.Generator, n: int = N) -> dict[str, list[float]]:
    if kind == "mean":
        return {"values": (rng.random(n) < 0.7).astype(float).tolist()}
    if kind == "pair_ratio":
        counts = rng.integers(1, 6, n).astype(float)
        return {
            "within": (counts * rng.uniform(1, 2, n)).tolist(),
            "between": (counts * rng.uniform(2, 4, n)).tolist(),
            "n_within": counts.tolist(),
            "n_between": (2 * counts).tolist(),
        }
    a, b = rng.uniform(0.5, 2.0, n), rng.uniform(1.0, 3.0, n)
    return dict(zip(REDUCTIONS[kind].keys, (a.tolist(), b.tolist())))


@pytest.mark.parametrize("kind", sorted(REDUCTIONS))
def test_a_model_compared_with_itself_differs_by_exactly_zero(kind: str) -> None:
    terms = _terms(kind, np.random.default_rng(3))
    assert paired_difference(terms, terms, kind, n_boot=500) == (0.0, (0.0, 0.0))
    other = _terms(kind, np.random.default_rng(4))
    assert paired_difference([terms, other], [terms, other], kind, n_boot=200) == (0.0, (0.0, 0.0))


def test_paired_difference_of_a_constant_shift_is_that_shift_with_no_spread() -> None:
    base = np.random.default_rng(0).random(N)
    delta, (lo, hi) = paired_difference({"values": base + 0.1}, {"values": base}, "mean", n_boot=300)
    assert (
        delta == pytest.approx(0.1, abs=1e-12)
        and lo == pytest.approx(0.1, abs=1e-12)
        and hi == pytest.approx(0.1, abs=1e-12)
    )


def test_paired_ratio_difference_matches_a_numpy_reference_with_shared_resamples() -> None:
    rng = np.random.default_rng(1)
    r = rng.uniform(1.9, 2.1, N)
    hard = rng.uniform(0.0, 1.5, N)  # how far the transform moves each image: varies a lot, shared by both models
    d_a, d_b = hard, hard + 0.2 + 0.02 * rng.standard_normal(N)
    delta, ci = paired_difference({"d": d_a, "r": r}, {"d": d_b, "r": r}, "ratio", n_boot=400, seed=7)
    assert delta == pytest.approx((1 - d_a.sum() / r.sum()) - (1 - d_b.sum() / r.sum()), abs=1e-12)
    w = resample_weights(N, 400, np.random.default_rng([7, 15]))
    reference = (1 - w @ d_a / (w @ r)) - (1 - w @ d_b / (w @ r))
    assert ci == pytest.approx(percentile_ci(reference), abs=1e-12)
    assert ci[0] > 0.05  # A is clearly more invariant; the pairing removes the shared spread of r
    unpaired_width = sum(
        np.diff(bootstrap_interval({"d": d, "r": r}, "ratio", n_boot=400, seed=s)[1])[0]
        for d, s in ((d_a, 1), (d_b, 2))
    )
    assert ci[1] - ci[0] < 0.5 * unpaired_width


def test_pair_ratio_difference_stretches_deviations_twofold() -> None:
    rng = np.random.default_rng(2)
    a, b = _terms("pair_ratio", rng), _terms("pair_ratio", rng)
    delta, ci = paired_difference(a, b, "pair_ratio", n_boot=300)
    assert delta == pytest.approx(statistic("pair_ratio", a) - statistic("pair_ratio", b))
    w = resample_weights(N, 300, np.random.default_rng([0, 15]))
    boot = statistic("pair_ratio", a, w) - statistic("pair_ratio", b, w)
    assert ci == pytest.approx(percentile_ci(delta + 2 * (boot - delta)))


def test_paired_difference_refuses_unpaired_or_degenerate_terms() -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(InvalidParameterError, match="same images"):
        paired_difference(_terms("ratio", rng, 10), _terms("ratio", rng, 11), "ratio")
    with pytest.raises(InvalidParameterError, match="need keys d, r"):
        paired_difference({"values": [1.0]}, {"values": [1.0]}, "ratio")
    with pytest.raises(UnknownNameError, match="Did you mean 'ratio'"):
        paired_difference({"values": [1.0]}, {"values": [1.0]}, "ratoi")
    with pytest.raises(DataError, match="undefined"):
        paired_difference({"d": [0.0, 0.0], "r": [0.0, 0.0]}, {"d": [1.0, 1.0], "r": [2.0, 2.0]}, "ratio")


def _record(model: str, transform: str, terms: dict[str, Any], weights: str = "random-init", **meta: Any) -> dict:
    metrics = {}
    for metric, t in terms.items():
        value, ci = bootstrap_interval(t, get_metric(metric).reduction, n_boot=200)
        metrics[metric] = {"value": value, "ci95": list(ci), "reason": None}
    meta = {
        "params": 1000,
        "input_size": [32, 32],
        "preprocessing": {"mean": [0.5], "std": [0.5]},
        "labels": "data",
        **meta,
    }
    return {
        "model": model,
        "weights": weights,
        "transform": transform,
        "status": "ok",
        "reason": None,
        "metrics": metrics,
        "meta": meta,
        "terms": terms,
        "pairing": "seed0-n40",
    }


def _zoo(scales: dict[str, float], accuracy: dict[str, float], transforms=("rotation", "hflip"), weights="random-init"):
    """Records for models whose invariance is ~1 - scale and probe accuracy ~ accuracy, on shared images."""
    r = np.random.default_rng(0).uniform(1.0, 2.0, N)
    out = []
    for i, (model, scale) in enumerate(scales.items()):
        for j, t in enumerate(transforms):
            rng = np.random.default_rng([i, j])
            d = r * scale * rng.uniform(0.8, 1.2, N)
            ok = (rng.random(N) < accuracy[model]).astype(float)
            terms = {
                "invariance": {"d": d.tolist(), "r": r.tolist()},
                "probe_accuracy": {"values": ok.tolist()},
                "clean_accuracy": {"values": ok.tolist()},
            }
            out.append(_record(model, t, terms, weights, params=10 ** (4 + i)))
    return out


def _failed(model: str, transform: str, reason: str) -> dict:
    return {"model": model, "weights": "random-init", "transform": transform, "status": "failed", "reason": reason}


def test_ranks_follow_the_chosen_metric_and_its_direction() -> None:
    records = _zoo({"a": 0.5, "b": 0.2, "c": 0.8}, {"a": 0.9, "b": 0.3, "c": 0.6})
    assert [e.model for e in rank(records, "invariance")] == ["b", "a", "c"]
    assert [e.model for e in rank(records, "probe_accuracy")] == ["a", "c", "b"]
    assert [e.model for e in rank(records, "invariance", higher_is_better=False)] == ["c", "a", "b"]
    by_model = {e.model: e for e in rank(records, "invariance")}
    mean_a = np.mean([r["metrics"]["invariance"]["value"] for r in records if r["model"] == "a"])
    assert by_model["a"].value == pytest.approx(mean_a) and by_model["a"].rank == 2
    rot = rank(records, "invariance", "rotation")
    assert [e.value for e in rot] == sorted(
        (r["metrics"]["invariance"]["value"] for r in records if r["transform"] == "rotation"), reverse=True
    )
    with pytest.raises(UnknownNameError, match="Did you mean 'invariance'"):
        rank(records, "invariance_")
    with pytest.raises(UnknownNameError, match="Unknown transform 'blur'"):
        rank(records, "invariance", "blur")


def test_ties_share_a_rank_and_models_without_a_value_come_last_with_the_reason() -> None:
    records = _zoo({"a": 0.5, "b": 0.5, "c": 0.2}, {"a": 0.5, "b": 0.5, "c": 0.5})
    for rec in records:  # b scores exactly what a scores
        if rec["model"] == "b":
            twin = next(r for r in records if r["model"] == "a" and r["transform"] == rec["transform"])
            rec["terms"], rec["metrics"] = copy.deepcopy(twin["terms"]), copy.deepcopy(twin["metrics"])
    records += [_failed("broken", "rotation", "weights unavailable"), _failed("broken", "hflip", "weights unavailable")]
    records[0]["metrics"]["invariance"] = {"value": None, "ci95": None, "reason": "constant representations"}
    ranked = rank(records, "invariance")
    assert [(e.model, e.rank) for e in ranked] == [("c", 1), ("b", 2), ("a", None), ("broken", None)]
    assert ranked[2].reason == "rotation: constant representations"
    assert ranked[3].reason == "rotation: failed: weights unavailable"
    hflip = [(e.model, e.rank) for e in rank(records, "invariance", "hflip")]  # a's hflip row is intact: a tie
    assert hflip == [("c", 1), ("a", 2), ("b", 2), ("broken", None)]


def test_neighbours_are_distinguishable_only_when_their_paired_interval_excludes_zero() -> None:
    records = _zoo({"far": 0.1, "twin1": 0.5, "twin2": 0.5}, {"far": 0.5, "twin1": 0.5, "twin2": 0.5})
    for rec in records:  # twin2's d differs from twin1's by a tiny per-image noise only
        if rec["model"] == "twin2":
            d = np.array(rec["terms"]["invariance"]["d"])
            twin = next(r for r in records if r["model"] == "twin1" and r["transform"] == rec["transform"])
            rec["terms"]["invariance"]["d"] = (
                np.array(twin["terms"]["invariance"]["d"]) + 1e-3 * (d - d.mean())
            ).tolist()
            rec["metrics"]["invariance"]["value"] = statistic("ratio", rec["terms"]["invariance"])
    tests = neighbours_distinguishable(rank(records, "invariance"), "invariance", n_boot=500)
    assert [t.upper[0] for t in tests] == ["far", tests[1].upper[0]] and tests[0].distinguishable is True
    assert tests[1].distinguishable is False and tests[1].ci95[0] <= 0 <= tests[1].ci95[1]
    records[0]["pairing"] = "seed1-n40"
    assert "different images" in neighbours_distinguishable(rank(records, "invariance"), "invariance")[0].reason
    del records[0]["terms"]
    (first, _) = neighbours_distinguishable(rank(records, "invariance"), "invariance")
    assert first.distinguishable is None and "no per-image terms for invariance on rotation" in first.reason


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda r: r["metrics"]["invariance"].update(value=None, reason=None), "null without a 'reason'"),
        (lambda r: r["metrics"]["invariance"].update(value=float("nan")), "finite number or null"),
        (lambda r: r.update(status="failed", reason=""), "needs a one-line 'reason'"),
        (lambda r: r.update(status="done"), "'status' must be 'ok' or 'failed'"),
        (lambda r: r.pop("model"), "'model' must be a non-empty string"),
    ],
)
def test_bad_records_are_one_line_errors(change: Any, message: str) -> None:
    records = _zoo({"a": 0.5}, {"a": 0.5})
    change(records[1])
    with pytest.raises(InvalidParameterError, match=re.escape(message)):
        check_records(records)
    with pytest.raises(InvalidParameterError, match="repeats the row of record 0"):
        check_records(_zoo({"a": 0.5}, {"a": 0.5})[:1] * 2)


def _board(tmp_path: Path, **options: Any) -> tuple[list[dict], dict[str, Path]]:
    records = _zoo(
        {"alpha": 0.2, "beta": 0.5, "gamma": 0.5, "delta": 0.7}, {"alpha": 0.9, "beta": 0.7, "gamma": 0.7, "delta": 0.5}
    )
    for rec in records:  # gamma = beta: not distinguishable
        if rec["model"] == "gamma":
            twin = next(r for r in records if r["model"] == "beta" and r["transform"] == rec["transform"])
            rec["terms"], rec["metrics"] = twin["terms"], twin["metrics"]
    records[-1]["metrics"]["invariance"] = {"value": None, "ci95": None, "reason": "every reference distance is 0"}
    records += [
        _failed("timm:vit_tiny", t, "input size 32 is not supported (needs 224)") for t in ("rotation", "hflip")
    ]
    return records, write_leaderboard(records, tmp_path, **options)


def test_markdown_board_ranks_marks_ties_and_shows_reasons(tmp_path: Path) -> None:
    records, paths = _board(tmp_path)
    md = paths["md"].read_text()
    rows = [line for line in md.splitlines() if line.startswith("| ") and not line.startswith("| rank")]
    table = [line for line in rows if line.count("|") > 8]
    assert [line.split("|")[2].strip() for line in table] == ["alpha", "beta", "gamma", "delta", "timm:vit_tiny"]
    assert [line.split("|")[1].strip() for line in table] == ["1", "2", "2", "–", "–"]
    assert re.search(r"\| ≈ \+0\.000 \[\+0\.000, \+0\.000\] \|", table[1])  # beta vs gamma: same numbers
    alpha = [r for r in records if r["model"] == "alpha"]
    inv = np.mean([r["metrics"]["invariance"]["value"] for r in alpha])
    assert f"| {inv:.3f} [" in table[0]
    assert "n/a (hflip: every reference distance is 0)" in table[3]
    assert "| input size 32 is not supported (needs 224) |" in md  # the failed rows' section
    assert "4 of 5 models" not in md and "5 of 5 models have RANDOM-INIT weights" in md
    assert "![heatmap](leaderboard-heatmap.svg)" in md and paths["heatmap"].is_file()
    heat = paths["heatmap"].read_text()
    assert heat.count('class="cell"') == 5 * 2 and "ALL WEIGHTS ARE RANDOM-INIT" in heat
    assert "ALL WEIGHTS ARE RANDOM-INIT" in paths["scatter-params"].read_text()
    assert re.search(r"<text[^>]*>0\.80</text>", heat)  # alpha's cells: invariance ~ 1 - 0.2
    again = write_leaderboard(records, tmp_path / "again")
    assert all(again[k].read_bytes() == paths[k].read_bytes() for k in paths)  # deterministic, byte for byte


def test_board_ranks_by_any_metric_and_titles_only_warn_about_random_init_weights(tmp_path: Path) -> None:
    records = _zoo({"a": 0.5, "b": 0.2}, {"a": 0.9, "b": 0.3}, weights="pretrained:in1k")
    board = build_board(records, rank_by="probe_accuracy")
    assert [row[1].text for row in board.rows] == ["a", "b"] and board.header[3] == "probe_accuracy (mean over 2)"
    assert all("RANDOM-INIT" not in svg for svg in board.figures.values()) and board.n_random == 0
    records[0]["weights"] = records[1]["weights"] = "random-init"
    board = build_board(records)
    assert all("1 of 2 models have RANDOM-INIT weights" in svg for svg in board.figures.values())
    assert "clean probe accuracy" in board.figures["scatter-accuracy"]
    for rec in records:
        rec["meta"]["labels"] = "model"
    assert "accuracy of the model&#x27;s own classifier" in build_board(records).figures["scatter-accuracy"]


def test_board_refuses_terms_that_are_not_the_rows_and_lists_a_zoo_where_everything_failed(tmp_path: Path) -> None:
    records = _zoo({"a": 0.5}, {"a": 0.5})
    records[1]["metrics"]["invariance"]["value"] += 0.01
    with pytest.raises(InvalidParameterError, match="record 1: its invariance terms give"):
        build_board(records)
    md = write_leaderboard([_failed("x", "rotation", "no weights")], tmp_path)["md"].read_text()
    assert "| – | x | ⚠ random-init | n/a (failed: no weights) |  | n/a (failed: no weights) |" in md
    assert "*heatmap: not drawn (no invariance in the rows).*" in md


def test_the_documented_row_builds_a_board() -> None:
    docs = (Path(__file__).parents[1] / "docs" / "zoo.md").read_text()
    row = json.loads(re.search(r"```json\n(.*?)```", docs, re.S).group(1))  # type: ignore[union-attr]
    board = build_board([row])
    assert board.rows[0][3].text == "0.810 [0.790, 0.830]" and board.header[3] == "invariance"


def test_html_board_is_self_contained(tmp_path: Path) -> None:
    _, paths = _board(tmp_path)
    html = paths["html"].read_text()
    assert not re.search(r"\b(src|href)\s*=", html) and "@import" not in html
    assert re.findall(r"url\(([^)]*)\)", html) == ["#heatmap-bar"]
    assert html.count("<svg") == 3 and "input size 32 is not supported (needs 224)" in html


@pytest.mark.skipif(find_chromium() is None, reason="no Chromium on this machine (Debian: apt-get install chromium)")
def test_html_board_renders_sorts_and_draws_its_figures_in_headless_chromium(tmp_path: Path) -> None:
    _, paths = _board(tmp_path / "board")
    with Browser(find_chromium(), tmp_path / "profile") as browser:  # type: ignore[arg-type]
        browser.open(paths["html"].resolve().as_uri())
        column = "Array.from(document.querySelectorAll('#board tbody tr')).map(r => r.cells[1].textContent)"
        assert browser.evaluate(column) == ["alpha", "beta", "gamma", "delta", "timm:vit_tiny"]
        figures = browser.evaluate(
            "Array.from(document.querySelectorAll('svg.figure')).map(s => { const b = s.getBoundingClientRect();"
            " return [s.id, b.width, b.height, s.querySelectorAll('.cell').length,"
            " s.querySelectorAll('.point').length]; })"
        )
        assert [f[0] for f in figures] == ["heatmap", "scatter-accuracy", "scatter-params"]
        assert all(w > 200 and h > 150 for _, w, h, _, _ in figures)
        assert figures[0][3] == 10 and figures[1][4] == 3 and figures[2][4] == 3  # delta has no invariance value
        hit = browser.evaluate(  # the drawn heatmap cell is what sits at its own centre on screen
            "(() => { const r = document.querySelector('#heatmap .cell rect'); r.scrollIntoView();"
            " const b = r.getBoundingClientRect();"
            " return document.elementFromPoint(b.x + b.width / 2, b.y + 3) === r; })()"
        )
        assert hit is True

        def click_header(name: str) -> None:
            x, y = browser.evaluate(
                "(() => { const th = Array.from(document.querySelectorAll('#board th')).find(h => h.textContent === "
                f"{name!r}); th.scrollIntoView(); const b = th.getBoundingClientRect(); "
                "return [b.x + b.width / 2, b.y + b.height / 2]; })()"
            )
            browser.click(x, y)

        click_header("rotation")  # ascending (ties keep the ranking's order); n/a cells last
        assert browser.evaluate(column) == ["delta", "beta", "gamma", "alpha", "timm:vit_tiny"]
        click_header("rotation")  # descending
        assert browser.evaluate(column) == ["alpha", "beta", "gamma", "delta", "timm:vit_tiny"]
        click_header("model")
        assert browser.evaluate(column) == ["alpha", "beta", "delta", "gamma", "timm:vit_tiny"]
        assert browser.evaluate("document.querySelector('#board th[aria-sort]').textContent") == "model"
        errors = [e for e in browser.events if e.get("method") == "Runtime.exceptionThrown"]
        assert errors == []
        requested = {
            e["params"]["request"]["url"] for e in browser.events if e.get("method") == "Network.requestWillBeSent"
        }
        assert requested == {paths["html"].resolve().as_uri()}  # self-contained: nothing else is fetched
