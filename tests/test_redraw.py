"""Transform parameters drawn again every epoch (the paper's protocol): seeded per (seed, epoch), epoch 1 = the fixed
split, resumable mid-run; the trainer and the last-layer fit use them."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from invmeter.data import Transforms2D, build_split
from invmeter.data.design import direct_sum, tvo_draw
from invmeter.data.redraw import DRAWN_EVERY_EPOCH, RedrawnSplit, epoch_seed, redraws
from invmeter.errors import InvalidParameterError
from invmeter.experiments import fig2, fig3, plan
from invmeter.experiments.common import Context
from invmeter.training.finetune import finetune_last_layer
from invmeter.training.loop import TrainConfig, train
from invmeter.transforms import parse_transform

ROTATION = Transforms2D(objects=(0, 1, 2), transforms=parse_transform("rotation+hflip"), image_size=16)
TINY = {"transforms": "rotation", "classes": 2, "image_size": 16, "arch": "cifar:resnet18", "width": 0.0625,
        "n_train": 64, "n_val": 16, "n_test": 16, "epochs": 3, "batch_size": 16, "device": "cpu", "threads": 1}


pytestmark = pytest.mark.usefixtures("restore_threads")  # the trainer sets torch's threads (threads=1)


def test_each_epoch_draws_new_transform_parameters_for_the_same_scenes() -> None:
    split = RedrawnSplit(ROTATION, "train", 60, seed=4)
    one, two, three = split.scenes(1), split.scenes(2), split.scenes(3)
    for other in (two, three):
        assert torch.equal(other.labels, one.labels) and torch.equal(other.backgrounds, one.backgrounds)
    angles = [s.transforms.params[0][:, 0] for s in (one, two, three)]
    assert not torch.equal(angles[0], angles[1]) and not torch.equal(angles[1], angles[2])
    assert (angles[0] != angles[1]).float().mean() > 0.95  # every scene, not a few
    images = [split.images(e) for e in (1, 2)]
    assert images[0].dtype == torch.uint8 and images[0].shape == (60, 3, 16, 16)
    assert (images[0] != images[1]).flatten(1).any(1).float().mean() > 0.9


def test_same_seed_and_epoch_give_the_same_images_and_epoch_one_is_the_fixed_split() -> None:
    a, b = RedrawnSplit(ROTATION, "train", 60, seed=4), RedrawnSplit(ROTATION, "train", 60, seed=4)
    assert torch.equal(a.images(3), b.images(3))  # not a replay: b never rendered epochs 1 and 2
    assert not torch.equal(a.images(3), RedrawnSplit(ROTATION, "train", 60, seed=5).images(3))
    fixed = build_split(ROTATION, "train", 60, 4, cache=False)
    assert np.array_equal(a.images(1).numpy(), fixed.images) and np.array_equal(a.labels.numpy(), fixed.labels)
    assert a.spec["transforms_drawn"] == DRAWN_EVERY_EPOCH and a.spec["split_seed"] == 4
    assert epoch_seed(4, 2) == epoch_seed(4, 2) != epoch_seed(4, 3) != epoch_seed(5, 2)


def test_a_direct_sum_redraws_each_class_group_with_its_own_transforms() -> None:
    ds = direct_sum(Transforms2D(objects=(0, 1, 2, 3), image_size=16),
                    [parse_transform("rotation"), parse_transform("scale")])
    split = RedrawnSplit(ds, "train", 40, seed=0)
    one, two = split.scenes(1), split.scenes(2)
    rotated = one.labels < 2  # classes 0-1: rotation only (step 0); classes 2-3: scale only (step 1)
    angle1, angle2 = one.transforms.params[0][:, 0], two.transforms.params[0][:, 0]
    assert (angle1[~rotated] == 0).all() and (angle2[~rotated] == 0).all()
    assert (angle1[rotated] != angle2[rotated]).all()
    assert (one.transforms.params[1][rotated] == 1).all() and (two.transforms.params[1][rotated] == 1).all()


def test_what_cannot_be_redrawn_is_refused_in_one_line() -> None:
    assert not redraws(Transforms2D(objects=(0, 1))) and redraws(ROTATION)
    with pytest.raises(InvalidParameterError, match="train on its fixed split"):
        RedrawnSplit(Transforms2D(objects=(0, 1)), "train", 10, seed=0)
    with pytest.raises(InvalidParameterError, match="'epoch' parameter must be an integer >= 1"):
        RedrawnSplit(ROTATION, "train", 10, seed=0).scenes(0)


def _weights(result: object) -> dict[str, torch.Tensor]:
    return result.model.state_dict()  # type: ignore[attr-defined]


def test_the_trainer_draws_every_epoch_and_one_epoch_is_the_fixed_split(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    config = TrainConfig.for_transforms2d(**{**TINY, "epochs": 1})
    redrawn = train(config, cache=cache)
    fixed = train(TrainConfig.for_transforms2d(**{**TINY, "epochs": 1}, redraw=False), cache=cache)
    for key, value in _weights(redrawn).items():  # epoch 1 trains on the fixed split's images
        assert torch.equal(value, _weights(fixed)[key]), key
    two = train(TrainConfig.for_transforms2d(**{**TINY, "epochs": 2}), cache=cache)
    two_fixed = train(TrainConfig.for_transforms2d(**{**TINY, "epochs": 2}, redraw=False), cache=cache)
    assert not torch.equal(two.model.linear.weight, two_fixed.model.linear.weight)
    out = train(config, out=tmp_path / "run", cache=cache)
    meta = json.loads((tmp_path / "run" / "model.json").read_text())
    assert out.checkpoint is not None and meta["dataset"]["train"]["transforms_drawn"] == DRAWN_EVERY_EPOCH
    assert "transforms_drawn" not in meta["dataset"]["val"] and meta["config"]["redraw"] is True


def test_resuming_mid_run_reproduces_the_uninterrupted_run(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    whole = train(TrainConfig.for_transforms2d(**TINY), cache=cache)  # epochs 2, 3 rendered ahead in a thread
    train(TrainConfig.for_transforms2d(**{**TINY, "epochs": 1}), out=tmp_path / "run", cache=cache)
    resumed = train(TrainConfig.for_transforms2d(**TINY), out=tmp_path / "run", resume=True, cache=cache)
    for key, value in _weights(whole).items():
        assert torch.equal(value, _weights(resumed)[key]), key
    assert [r["train_loss"] for r in resumed.history] == [r["train_loss"] for r in whole.history]


def test_the_last_layer_can_be_fit_on_several_draws_of_the_target(tmp_path: Path) -> None:
    model = train(TrainConfig.for_transforms2d(**{**TINY, "epochs": 1}), cache=tmp_path).handle
    target = Transforms2D(objects=(3, 4), transforms=parse_transform("rotation"), image_size=16)
    fixed, test = (build_split(target, split, 32, 1, cache=False) for split in ("train", "test"))
    redrawn = RedrawnSplit(target, "train", 32, 1)
    one = finetune_last_layer(model, redrawn, test, epochs=3, seed=0)
    assert one.test_accuracy == finetune_last_layer(model, fixed, test, epochs=3, seed=0).test_accuracy  # draw 1
    three = finetune_last_layer(model, redrawn, test, epochs=3, draws=3, seed=0)
    assert three.images_seen == 3 * 32 + 32 and not torch.equal(three.probe.coef_, one.probe.coef_)
    repeated = finetune_last_layer(model, fixed, test, epochs=3, draws=3, seed=0)  # a fixed split: its one draw x3
    assert repeated.images_seen == 32 + 32 and not torch.equal(repeated.probe.coef_, three.probe.coef_)
    with pytest.raises(InvalidParameterError, match="'draws' parameter must be an integer >= 1"):
        finetune_last_layer(model, redrawn, test, draws=0)


def test_figure2_seeds_are_the_papers_runs() -> None:
    trains = {c.meta["seed"]: c.deps["model"] for c in fig2.cells(fig2.SCALES["cpu"], Context())
              if c.meta["target"] == "all" and c.meta["arch"] == "cifar:resnet18"}
    assert sorted(trains) == [0, 2, 3]
    run0 = trains[0]  # the paper's run 0: pretrained on its disjoint transforms and the target's objects
    assert (run0.meta["T1"], run0.meta["T2"], run0.meta["config_seed"]) == (
        "rotation+posterize+erasing", "translation+invert+pixelate", 59832)
    assert tuple(run0.config["dataset"]["objects"]) == tvo_draw(59832).target_objects
    (run1,) = [c.deps["model"] for c in plan("fig2", preset="cpu", seeds=[1])["fig2"][1] if c.meta["target"] == "all"
               and c.meta["arch"] == "cifar:resnet18"]  # the paper's run 1 draws elastic, which invmeter renders
    assert (run1.meta["T1"], run1.meta["T2"]) == ("scale+hue+elastic", "translation+invert+pixelate")
    fixed, _ = plan("fig2", preset="cpu", fixed_split=True)["fig2"]
    assert fixed.seeds == (0, 1, 2)  # the earlier protocol keeps its seeds and draws (its committed cells)
    wide, cells = plan("fig2", preset="cpu", width=1)["fig2"]  # --width: every architecture, DenseNet's too
    assert (wide.width, wide.widths) == (1.0, {}) and {c.deps["model"].config["width"] for c in cells} == {1.0}


def test_a_preset_with_last_layer_draws_spreads_its_steps_over_them() -> None:
    scale = replace(fig2.SCALES["cpu"], ft_draws=3)
    (cell, *_) = [c for c in fig2.cells(scale, Context()) if c.task == "transfer"]
    assert cell.config["draws"] == 3 and cell.config["epochs"] == math.ceil(2450 / math.ceil(3 * 4500 / 512))
    assert cell.deps["model"].config["redraw"] is True
    fixed = [c for c in fig2.cells(replace(scale, redraw=False), Context()) if c.task == "transfer"]
    assert "draws" not in fixed[0].config and "redraw" not in fixed[0].deps["model"].config
    pasted = [c for c in fig3.cells(replace(fig3.SCALES["cpu"], ft_draws=3), Context()) if c.task == "transfer"]
    assert all("draws" not in c.config and "redraw" not in c.deps["model"].config for c in pasted)  # nothing to draw
