"""The runner on damaged state: incomplete records, damaged checkpoints, resume states; bad options up front;
cell ids of the committed runs; GPU settings; the paired-distance pairs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from conftest import PixelModel
from invmeter.cli import cli
from invmeter.data.build import build_split
from invmeter.data.transforms2d import Transforms2D
from invmeter.errors import InvalidParameterError, InvmeterWarning
from invmeter.experiments import FIGURES, fig2, reproduce
from invmeter.experiments.common import Context, scale_for
from invmeter.experiments.pairs import redrawn_pairs
from invmeter.metrics.invariance import derangement, invariance_terms
from invmeter.models.modules import wrap_module
from invmeter.models.representation import extract_images
from invmeter.runner.settings import RunSettings
from invmeter.training.loop import STATE_FILE, TrainConfig, train
from invmeter.transforms import parse_transform


@pytest.fixture
def quiet(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """One thread per cell, one cell at a time, a private cache; the thread count is restored afterwards."""
    threads = torch.get_num_threads()
    monkeypatch.setenv("INVMETER_THREADS", "1")
    monkeypatch.setenv("INVMETER_CACHE", str(tmp_path / "cache"))
    yield
    torch.set_num_threads(threads)


def _smoke(out: Path) -> tuple[list[str], dict]:
    lines: list[str] = []
    reproduce("fig2", preset="smoke", out=out, jobs=1, log=lines.append)
    return lines, json.loads((out / "results.json").read_text())


def test_an_incomplete_record_is_recomputed_and_said(tmp_path: Path, quiet: None) -> None:
    _, first = _smoke(tmp_path)
    transfer = first["rows"][0]["cell"]
    (tmp_path / "cells" / f"{transfer}.json").write_text("{}")
    lines, again = _smoke(tmp_path)
    assert any(f"{transfer}.json has no result; recomputing the cell" in line for line in lines)
    assert "5 cells: 4 cached, 1 to run" in lines
    assert again["rows"] == first["rows"]


def test_a_damaged_checkpoint_under_a_cached_train_cell_is_rebuilt(tmp_path: Path, quiet: None) -> None:
    _, first = _smoke(tmp_path)
    (train,) = [c for c in first["cells"] if c["task"] == "train"]
    model = tmp_path / "work" / train["id"] / "model.safetensors"
    data = bytearray(model.read_bytes())
    data[-1] ^= 0xFF  # one flipped bit: the SHA-256 in the sidecar no longer matches
    model.write_bytes(bytes(data))
    (tmp_path / "cells" / f"{first['rows'][0]['cell']}.json").unlink()  # a transfer that needs the model again
    lines, again = _smoke(tmp_path)
    assert any("its model cannot be used" in line and "SHA-256 differs" in line and "re-running" in line
               for line in lines)
    assert "5 cells: 3 cached, 2 to run" in lines
    assert again["rows"] == first["rows"]  # the rebuilt model is the same model: same numbers


def test_a_finished_train_cell_keeps_its_model_but_not_its_resume_state(tmp_path: Path, quiet: None) -> None:
    _, results = _smoke(tmp_path)
    (train,) = [c for c in results["cells"] if c["task"] == "train"]
    work = tmp_path / "work" / train["id"]
    assert (work / "model.safetensors").is_file() and not (work / STATE_FILE).exists()
    assert train["result"]["precision"] == "float32" and train["provenance"]["amp"] is False


def test_resume_with_nothing_to_resume_warns(tmp_path: Path) -> None:
    cfg = TrainConfig.for_transforms2d(transforms="none", classes=2, image_size=16, width=0.0625, n_train=32, n_val=8,
                                       n_test=8, epochs=1, batch_size=16, device="cpu", threads=1)
    with pytest.warns(InvmeterWarning, match="Nothing to resume .* training from scratch"):
        train(cfg, out=tmp_path / "run", resume=True, cache=False)


def test_an_architecture_too_deep_for_the_image_size_is_refused_up_front(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["reproduce", "fig2", "--preset", "smoke", "--archs", "vgg11",
                                      "--out", str(tmp_path / "o")])
    assert result.exit_code == 1 and result.output.count("\n") == 1
    assert "cifar:vgg11 needs images of at least 32 pixels" in result.output and not (tmp_path / "o").exists()
    result = CliRunner().invoke(cli, ["train", "--arch", "cifar:vgg11", "--image-size", "16", "--out",
                                      str(tmp_path / "t")])
    assert result.exit_code == 1 and "at least 32 pixels" in result.output and result.output.count("\n") == 1
    assert not (tmp_path / "t").exists()


@pytest.mark.parametrize(("seeds", "message"), [("0,0", "lists 0 more than once"), ("", "--seeds is empty"),
                                                ("0,-1", "non-negative")])
def test_bad_seeds_are_refused(tmp_path: Path, seeds: str, message: str) -> None:
    result = CliRunner().invoke(cli, ["reproduce", "fig2", "--preset", "smoke", "--seeds", seeds,
                                      "--out", str(tmp_path)])
    assert result.exit_code == 1 and message in result.output


def test_the_paper_preset_refuses_stand_in_data(tmp_path: Path) -> None:
    with pytest.raises(InvalidParameterError, match=r"fig2: procedural objects \(no --objects\), procedural "
                                                     r"backgrounds .*--allow-standin"):
        reproduce("fig2", preset="paper", out=tmp_path)
    assert not (tmp_path / "cells").exists()


def test_committed_cells_keep_their_ids() -> None:
    """Nothing here changed what the committed cpu cells compute: every one of them is still a cell of its figure,
    under the paper's protocol or under --fixed-split (AMP, compile and redraw are in a config only when on); the
    fixed-split run is committed whole, so --fixed-split --cached-only reproduces its results exactly."""
    for name in ("fig2", "fig3", "fig4", "fig5", "fig6", "fig8"):
        figure = FIGURES[name]
        committed = Path(__file__).resolve().parents[1] / "benchmarks" / "results" / f"{name}-cpu" / "cells"
        stems = {p.stem for p in committed.glob("*.json")}
        fixed = {c.id for c in _with_deps(figure.cells(scale_for(figure, "cpu", None, None, fixed_split=True),
                                                       Context()))}
        redrawn = {c.id for c in _with_deps(figure.cells(scale_for(figure, "cpu", None, None), Context()))}
        assert fixed <= stems <= fixed | redrawn, name
    amp = scale_for(fig2, "cpu", None, None, amp=True)
    assert all(c.deps["model"].config["amp"] is True for c in fig2.cells(amp, Context()))


def _with_deps(cells: list) -> list:
    return cells + [d for c in cells for d in c.deps.values()]


def test_run_settings_bound_the_gpu_share_only_with_a_gpu_and_several_jobs() -> None:
    settings = RunSettings.for_jobs(4, 2, deterministic=True)
    assert settings.gpu_memory == (pytest.approx(0.225) if torch.cuda.is_available() else None)
    assert RunSettings.for_jobs(1, 2).gpu_memory is None
    provenance = settings.provenance()
    assert provenance["deterministic"] is True and provenance["threads"] == 2 and provenance["device"]
    with pytest.raises(InvalidParameterError):
        RunSettings(threads=1, gpu_memory=1.5)


def test_redrawn_pairs_are_the_test_split_and_its_redrawn_transforms() -> None:
    ds = Transforms2D(objects=(0, 1, 2), transforms=parse_transform("rotation"), image_size=16)
    clean, moved = redrawn_pairs(ds, 30, seed=4)
    assert torch.equal(clean, torch.from_numpy(np.asarray(build_split(ds, "test", 30, 4, cache=False).images)))
    assert moved.dtype == torch.uint8 and (moved != clean).flatten(1).any(1).float().mean() > 0.9
    plain = Transforms2D(objects=(0, 1, 2), image_size=16)
    same, again = redrawn_pairs(plain, 30, seed=4)
    assert torch.equal(same, again)  # no transforms: nothing to redraw


def test_paired_distances_agree_with_a_direct_computation_on_pixels() -> None:
    """A model whose representation is its input pixels: the ratio is the pixel distance of each redrawn pair over
    that of each image to its deranged partner, computed here directly."""
    handle = wrap_module(PixelModel(), image_size=16)
    ds = Transforms2D(objects=(0, 1, 2), transforms=parse_transform("hflip"), image_size=16)
    clean, moved = redrawn_pairs(ds, 40, seed=0)
    d, r = invariance_terms(extract_images(handle, clean), extract_images(handle, moved), np.random.default_rng(0))
    x, y = clean.double().flatten(1) / 255, moved.double().flatten(1) / 255
    partner = derangement(40, np.random.default_rng(0))
    expected = (x - y).norm(dim=1).mean() / (x - x[partner]).norm(dim=1).mean()
    assert d.mean() / r.mean() == pytest.approx(float(expected), rel=1e-6)
    flipped = (x != y).any(dim=1).float().mean()  # the dataset flips with p = 0.5: about half the pairs differ
    assert 0.25 < flipped < 0.75 and 0 < expected < 1
