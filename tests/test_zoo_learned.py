"""Learned invariance on a real zoo (a model trained here at tiny size, its random-init architecture, and two modules
of other architectures), and its board opened in a real headless Chromium at 1400 and 390 pixels wide."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import pytest
import torch
from headless import Browser, find_chromium
from torch import nn

import invmeter
from conftest import seeded_conv_features
from invmeter.leaderboard.board import write_leaderboard
from invmeter.leaderboard.zoo import ZooModel
from invmeter.training.loop import TrainConfig, train

SETTINGS = {"image_size": 16, "n_images": 48, "n_classes": 3, "n_boot": 300}
MODULE = {"mean": (0.5,), "std": (0.5,)}


@pytest.fixture(scope="module")
def zoo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    """A 1/16-width ResNet-18 trained 8 epochs on 3 objects under rotation (about 10 s), its architecture at random
    init, a parameter-free pooling module and a random conv module; scored on rotation."""
    root = tmp_path_factory.mktemp("learned")
    threads = torch.get_num_threads()
    config = TrainConfig.for_transforms2d(transforms="rotation", classes=3, image_size=16, arch="cifar:resnet18",
                                          width=0.0625, n_train=192, n_val=12, n_test=12, epochs=8, batch_size=16,
                                          device="cpu", threads=1)
    train(config, out=root / "run", cache=root / "cache", verbose=False)
    torch.set_num_threads(threads)
    checkpoint = str(root / "run" / "model.safetensors")
    models = {"trained": checkpoint, "random": ZooModel("random", checkpoint, weights="random"),
              "pool": ZooModel("pool", nn.Sequential(nn.AdaptiveAvgPool2d(2), nn.Flatten()), **MODULE),
              "conv": ZooModel("conv", seeded_conv_features(), **MODULE)}
    rows = invmeter.zoo(models, ["rotation"], out=root / "board", **SETTINGS)
    return root / "board", rows


def _row(rows: Any, model: str) -> dict[str, Any]:
    return next(r for r in rows if r["model"] == model)


def test_the_trained_model_has_learned_invariance_and_its_random_init_none(zoo: tuple[Path, Any]) -> None:
    out, rows = zoo
    assert not rows.failed and rows.ranked == 3
    trained, random = _row(rows, "trained"), _row(rows, "random")
    learned = trained["metrics"]["learned_invariance"]
    assert learned["value"] > 0 and learned["ci95"][0] > 0, learned  # the interval excludes 0
    # the definition, from the row's raw invariance and the mean over the baseline's initialisations
    inits = trained["report"]["baseline"]["inits"]
    assert inits["seeds"] == [0, 1, 2]
    inv, inv0 = trained["metrics"]["invariance"]["value"], inits["metrics"]["invariance"]["mean"]
    assert learned["value"] == pytest.approx((inv - inv0) / (1 - inv0), abs=1e-9)
    gain = random["metrics"]["learned_invariance"]  # init seed 0 of its own baseline: ≈ 0 by construction
    assert gain["ci95"][0] <= 0 <= gain["ci95"][1] and abs(gain["value"]) < learned["value"], gain
    assert random["weights"] == "random-init" and random["meta"]["architecture"] == trained["meta"]["architecture"]
    assert len(list((out / "baselines").glob("*.json"))) == 3  # trained, pool, conv; the random row shares trained's
    pool = _row(rows, "pool")["metrics"]["learned_invariance"]  # no parameters: its random init is itself
    assert pool["value"] == 0.0 and pool["ci95"] == pytest.approx([0.0, 0.0], abs=1e-12)


def test_the_board_ranks_the_trained_model_by_learned_invariance_and_lists_its_random_init_as_a_baseline(
        zoo: tuple[Path, Any]) -> None:
    out, _ = zoo
    md = (out / "leaderboard.md").read_text()
    assert "3 models ranked by learned_invariance" in md  # three architectures: the default rank is the gain
    table = [line.split(" | ") for line in md.splitlines() if line.startswith("| ") and "---" not in line][1:]
    assert table[0][:2] == ["| 1", "[trained](reports/" + table[0][1].split("(reports/")[1]]
    assert [cells[0].strip("| ") for cells in table if "random" in cells[1]] == ["baseline"]
    assert table[-1][0] == "| baseline" and "⚠ random-init" in table[-1][2]
    for line in table:  # every model linked to its report file, which exists and names the model
        link = line[1].split("](")[1].rstrip(")")
        report = json.loads((out / link).read_text())
        assert report["model"] == line[1][1:].split("]")[0] and report["reports"]


def _wider_than_the_viewport(browser: Browser) -> list[str]:
    """Elements that stick out of the viewport (those inside a scrolling box excepted: they scroll in it)."""
    return browser.evaluate(
        "Array.from(document.querySelectorAll('body *')).filter(e => !e.parentElement.closest('.scroll'))"
        ".filter(e => { const r = e.getBoundingClientRect(); return r.width > 0 && "
        "(r.right > innerWidth + 0.5 || r.left < -0.5); }).map(e => e.tagName + '#' + e.id)")


def _names(browser: Browser) -> list[str]:
    return browser.evaluate("Array.from(document.querySelectorAll('#board tbody tr')).filter(r => !r.hidden)"
                            ".map(r => r.cells[1].textContent)")


def _vs_next_shown(browser: Browser) -> bool:
    return browser.evaluate("getComputedStyle(document.querySelector('#board th.vsnext')).display !== 'none'")


def _focus_header(browser: Browser, name: str) -> None:
    browser.evaluate("Array.from(document.querySelectorAll('#board th button')).find(b => b.textContent === "
                     f"{name!r}).focus()")


@pytest.mark.skipif(find_chromium() is None, reason="no Chromium on this machine (Debian: apt-get install chromium)")
@pytest.mark.parametrize("width", [1400, 390])
def test_the_board_in_a_real_browser(zoo: tuple[Path, Any], tmp_path: Path, width: int) -> None:
    out, _ = zoo
    page = (out / "leaderboard.html").resolve()
    with Browser(find_chromium(), tmp_path / "profile") as browser:  # type: ignore[arg-type]
        browser.open(page.as_uri(), (width, 900), mobile=width < 600)
        assert browser.evaluate("innerWidth") == width  # the viewport meta tag lays the page out at the phone's width
        browser.screenshot(tmp_path / f"board-{width}.png")
        assert _wider_than_the_viewport(browser) == []
        assert browser.evaluate("document.documentElement.scrollWidth") <= width
        if width < 600:  # the table scrolls inside its own box
            assert browser.evaluate("(s => s.scrollWidth > s.clientWidth)(document.querySelector('.scroll'))")
        ranked = _names(browser)
        assert ranked[0] == "trained" and ranked[-1] == "random" and _vs_next_shown(browser)

        browser.evaluate("document.getElementById('filter').focus()")
        browser.type_text("RANDOM-init")  # model name, weights or architecture; case-insensitive
        assert _names(browser) == ["random"] and not _vs_next_shown(browser)
        assert browser.evaluate("document.getElementById('shown').textContent") == "1 of 4 models shown"
        browser.evaluate("(f => { f.value = ''; f.dispatchEvent(new Event('input')); })(document.getElementById"
                         "('filter'))")
        browser.evaluate("document.getElementById('filter').focus()")
        browser.type_text("cifar")  # the architecture
        assert sorted(_names(browser)) == ["random", "trained"]
        browser.evaluate("(f => { f.value = ''; f.dispatchEvent(new Event('input')); })(document.getElementById"
                         "('filter'))")
        assert _names(browser) == ranked and _vs_next_shown(browser)

        _focus_header(browser, "model")  # sorting from the keyboard
        browser.press("Enter", "Enter", 13)
        assert _names(browser) == sorted(ranked) and not _vs_next_shown(browser)
        assert browser.evaluate("document.querySelector('#board th[aria-sort=ascending]').textContent") == "model"
        browser.press("Enter", "Enter", 13)
        assert _names(browser) == sorted(ranked, reverse=True)
        _focus_header(browser, "rank")
        browser.press("Enter", "Enter", 13)  # rank order again: "vs next" is back
        assert _names(browser) == ranked and _vs_next_shown(browser)
        browser.press("Enter", "Enter", 13)
        assert _names(browser) == ranked[::-1] and not _vs_next_shown(browser)
        browser.press("Enter", "Enter", 13)
        browser.screenshot(tmp_path / f"board-{width}-sorted.png")

        links = browser.evaluate("Array.from(document.querySelectorAll('#board tbody tr')).map(r => "
                                 "r.cells[1].querySelector('a').href)")
        assert len(links) == 4 and all(Path(unquote(urlparse(link).path)).is_file() for link in links)
        assert [e for e in browser.events if e.get("method") == "Runtime.exceptionThrown"] == []
        requested = {e["params"]["request"]["url"] for e in browser.events
                     if e.get("method") == "Network.requestWillBeSent"}
        assert requested == {page.as_uri()}  # self-contained: nothing else is fetched
    assert (tmp_path / f"board-{width}.png").stat().st_size > 10_000


@pytest.mark.skipif(find_chromium() is None, reason="no Chromium on this machine (Debian: apt-get install chromium)")
def test_scatter_labels_do_not_collide_even_for_nine_tied_models(tmp_path: Path) -> None:
    from test_zoo_board import _zoo

    scales = {**{f"tied{i}": 0.5 for i in range(9)}, "low": 0.9, "mid": 0.6, "high": 0.1}
    records = _zoo(scales, dict.fromkeys(scales, 0.7), weights="pretrained:x")
    twin = {r["transform"]: r for r in records if r["model"] == "tied0"}
    for rec in records:
        if rec["model"].startswith("tied"):
            rec["terms"], rec["metrics"] = twin[rec["transform"]]["terms"], twin[rec["transform"]]["metrics"]
            rec["meta"]["params"] = 1000
    paths = write_leaderboard(records, tmp_path)
    with Browser(find_chromium(), tmp_path / "profile") as browser:  # type: ignore[arg-type]
        browser.open(paths["html"].resolve().as_uri())
        for figure in ("scatter-accuracy", "scatter-params"):
            boxes = browser.evaluate(
                f"Array.from(document.querySelectorAll('#{figure} text.key, #{figure} circle')).map(e => "
                "{ const b = e.getBoundingClientRect(); return [e.tagName, e.textContent, b.left, b.top, b.right, "
                "b.bottom]; })")
            labels = [b for b in boxes if b[0] == "text"]
            assert [b[1] for b in labels if "," in b[1]] == ["2,3,4,5,6,7…"]  # the nine tied models share one label
            for a in labels:  # no label covers another label or any point
                for b in boxes:
                    overlap = min(a[4], b[4]) - max(a[2], b[2]) > 0.5 and min(a[5], b[5]) - max(a[3], b[3]) > 0.5
                    assert b is a or not overlap, (figure, a, b)
        browser.screenshot(tmp_path / "tied.png")
