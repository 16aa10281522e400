"""One definition per name (issue 24): ``paired_distance_ratio`` is the paper's pairing wherever it appears (two
transformed views of each image, the transform drawn twice, against a random other transformed image, as the
paper's code: paper.md §3.1), in ``score``, Figure 6's cells, the functional and streaming APIs; the clean-vs-
transformed variant is ``clean_distance_ratio``."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

import invmeter
from invmeter import functional as F
from invmeter.data import Transforms2D
from invmeter.experiments.cells import dataset_config, model_for
from invmeter.experiments.pairs import paired_distance_cell, redrawn_pairs
from invmeter.metrics import compute_metrics, get_metric
from invmeter.metrics.context import metric_rng
from invmeter.models.representation import extract_images
from invmeter.runner.settings import RunSettings
from invmeter.transforms import parse_transform
from invmeter.types import Representations


def test_fig6_and_score_give_the_same_ratio_on_the_same_model_and_pairs(tmp_path: Path) -> None:
    """Figure 6's cell and score's metric (compute_metrics, what score runs on its representations) on one model
    and one set of pairs (two renders of the target's test scenes that differ only in their transform draws): the
    same number, to the last bit (the same terms, reduction and random stream for the other images)."""
    target = Transforms2D(objects=(0, 1, 2), transforms=parse_transform("rotation"), image_size=16)
    config = {"target": dataset_config(target), "n": 24, "seed": 5, "arch": "cifar:resnet18", "width": 0.125}
    fig6 = paired_distance_cell(config, {}, tmp_path, RunSettings.for_jobs(1, 1))
    handle = model_for(config, {}, tmp_path, target)
    first, second = (extract_images(handle, views) for views in redrawn_pairs(target, 24, 5))
    reps = Representations(first, first, None, None, None, "pre_logits", redrawn=second)
    ours = compute_metrics(reps, metrics=["paired_distance_ratio"], seed=5, n_boot=0)["paired_distance_ratio"]
    assert fig6["paired_distance_ratio"] == ours.value
    assert fig6["paired_distance_ratio"] == F.paired_distance_ratio(first, second,
                                                                    generator=metric_rng(5, "paired_distance_ratio"))
    assert 0.0 < ours.value < 1.0


class _Seen(nn.Module):
    """A seeded conv net that records every batch it receives."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(4), nn.Flatten())
        self.batches: list[torch.Tensor] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.batches.append(x.detach().clone())
        return self.net(x)


def test_score_compares_two_draws_of_the_transform_on_the_same_scenes() -> None:
    model = _Seen()
    report = invmeter.score(model, "rotation", image_size=16, n_images=16, n_classes=2, batch_size=64, n_boot=0,
                            mean=(0.5,), std=(0.5,), metrics="paired_distance_ratio,clean_distance_ratio")
    (both, redrawn) = model.batches  # clean + first draw in one pass, then the second draw: 3N forward passes
    clean, first = both[:16], both[16:]
    assert report.provenance["forward_passes"] == 48 and redrawn.shape == first.shape
    moved = (first - redrawn).abs().amax(dim=1) > 1e-6
    assert 0.02 < float(moved.float().mean()) < 0.7  # the object moved, the background stayed: the same scenes
    assert not torch.equal(first, clean)
    with torch.no_grad():
        z_clean, z_first, z_second = (model.net(v) for v in (clean, first, redrawn))
    assert report["paired_distance_ratio"] == F.paired_distance_ratio(
        z_first, z_second, generator=metric_rng(0, "paired_distance_ratio"))
    assert report["clean_distance_ratio"] == F.clean_distance_ratio(
        z_clean, z_first, generator=metric_rng(0, "clean_distance_ratio"))


def test_several_transforms_add_one_pass_per_transform_for_the_second_draw() -> None:
    from invmeter.api import score_many

    model = _Seen()
    reports = score_many(model, ["rotation", "scale"], image_size=16, n_images=16, n_classes=2, n_boot=0,
                         batch_size=64, mean=(0.5,), std=(0.5,), metrics="invariance,paired_distance_ratio")
    assert sum(len(b) for b in model.batches) == (1 + 2 * 2) * 16  # (1 + 2T) N: clean views once, two draws each
    assert [r.provenance["forward_passes"] for (r,) in reports] == [48, 32]
    assert all(r["paired_distance_ratio"] > 0 for (r,) in reports)


def test_the_paper_pairing_needs_a_transform_whose_draws_differ() -> None:
    settings = dict(image_size=16, n_images=16, n_classes=2, n_boot=0, mean=(0.5,), std=(0.5,))
    with pytest.raises(invmeter.InvalidParameterError, match="two draws of hflip are the same image"):
        invmeter.score(_Seen(), "hflip", metrics="paired_distance_ratio", **settings)
    report = invmeter.score(_Seen(), "hflip", metrics="all", **settings)  # 'all' skips it, saying why
    assert "paired_distance_ratio" not in report.metrics
    assert "two draws of hflip" in report.skipped_metrics["paired_distance_ratio"]


def test_the_registry_names_each_pairing_once() -> None:
    paper, clean = get_metric("paired_distance_ratio"), get_metric("clean_distance_ratio")
    assert "redraw" in paper.needs and "two draws" in paper.formula and not paper.default
    assert "redraw" not in clean.needs and clean.default and paper.reduction == clean.reduction


def test_the_docs_paired_distance_numbers_are_the_experiments_output_never_typed() -> None:
    """docs/reproduce.md's Figure 6b section types no measured number: it points to the C6-pdr row of the committed
    fig6 summary.md, which holds the committed results.json's C6-pdr numbers (whatever results are committed)."""
    import json
    import re

    root = Path(__file__).resolve().parents[1]
    docs = (root / "docs" / "reproduce.md").read_text()
    section = docs.split("## Figure 6b", 1)[1].split("\n## ", 1)[0]
    assert not re.findall(r"\b0\.\d{3}\b", section), "docs/reproduce.md's Figure 6b types measured numbers"
    assert "not yet at the `cpu` preset" not in docs and "benchmarks/results/fig6-cpu/summary.md" in section
    run = root / "benchmarks" / "results" / "fig6-cpu"
    claim = next(c for c in json.loads((run / "results.json").read_text())["claims"] if c["id"] == "C6-pdr")
    row = next(line for line in (run / "summary.md").read_text().splitlines() if line.startswith("| **C6-pdr**"))
    assert claim["measured"], "C6-pdr was not measured in the committed fig6 results"
    for key, value in claim["measured"].items():
        assert f"{key}: {value:.3f}" in row, (key, value, row)
