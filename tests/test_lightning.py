"""Lightning with the real package (CPU): the scalar torchmetrics metrics logged from a LightningModule, a
MetricCollection with torchmetrics' accuracy from one forward pass, and InvarianceCallback on the validation loop
(cadence, sanity check, trainer.validate, resume from a checkpoint, training unchanged)."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from invmeter.errors import InvalidParameterError
from invmeter.streaming.metric import InvarianceMetric

L = pytest.importorskip("lightning")
tm = pytest.importorskip("torchmetrics")
from invmeter.integrations.lightning import InvarianceCallback  # after the extras' checks
from invmeter.integrations.torchmetrics import Invariance

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore::FutureWarning")  # Lightning's advice

G = torch.Generator().manual_seed(0)
X, Y = torch.rand(96, 3, 12, 12, generator=G), torch.randint(0, 3, (96,), generator=G)
X[Y == 1, 0] += 0.5  # something to learn
X = X.clamp(0, 1)
VAL_X, VAL_Y = X[:32], Y[:32]


class Tiny(L.LightningModule):
    """A tiny conv classifier with a validation loss; ``body`` gives the representation, ``head`` the logits."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU(), nn.AdaptiveAvgPool2d(2),
                                  nn.Flatten())
        self.head = nn.Linear(24, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], _idx: int) -> torch.Tensor:
        x, y = batch
        return nn.functional.cross_entropy(self(x), y)

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], _idx: int) -> None:
        x, y = batch
        self.log("val_loss", nn.functional.cross_entropy(self(x), y))

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.parameters(), lr=1e-2)


def _loader(x: torch.Tensor, y: torch.Tensor) -> torch.utils.data.DataLoader:
    return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=16)


def _trainer(root: Path, callbacks: list[Any], **options: Any) -> Any:
    settings = {"max_epochs": 1, "accelerator": "cpu", "devices": 1, "logger": L.pytorch.loggers.CSVLogger(root),
                "enable_checkpointing": False, "enable_progress_bar": False, "enable_model_summary": False,
                "log_every_n_steps": 1, "deterministic": True, **options}
    return L.Trainer(callbacks=callbacks, **settings)


def _rows(trainer: Any) -> list[dict[str, str]]:
    return list(csv.DictReader((Path(trainer.logger.log_dir) / "metrics.csv").open()))


# --- torchmetrics in a LightningModule ------------------------------------------------------------------------


class WithMetrics(Tiny):
    """The torchmetrics idioms: self.log of a metric object, and a MetricCollection with accuracy fed from one
    forward pass of both views (the representation and the logits read from the same pass)."""

    def __init__(self) -> None:
        super().__init__()
        self.invariance = Invariance()
        self.val_metrics = tm.MetricCollection({"accuracy": tm.classification.MulticlassAccuracy(num_classes=3),
                                                "invariance": Invariance()}, prefix="val/")
        self.passes = 0
        self.body.register_forward_hook(lambda *_: setattr(self, "passes", self.passes + 1))

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], _idx: int) -> None:
        x, y = batch
        b = len(x)
        z = self.body(torch.cat([x, x.flip(-1)]))  # one forward pass: the clean and the flipped views
        logits = self.head(z)
        self.invariance.update(z[:b], z[b:], y)
        self.log("val/invariance_alone", self.invariance)
        self.val_metrics.update(preds=logits[:b], target=y, z=z[:b], z_t=z[b:], labels=y)
        self.log_dict(self.val_metrics)


def test_a_lightning_module_logs_the_metrics_and_a_collection_from_one_forward_pass(tmp_path: Path) -> None:
    L.seed_everything(0, verbose=False)
    model = WithMetrics()
    trainer = _trainer(tmp_path, [], num_sanity_val_steps=0)
    trainer.fit(model, _loader(X, Y), _loader(VAL_X, VAL_Y))
    model.passes = 0
    (results,) = trainer.validate(model, _loader(VAL_X, VAL_Y), verbose=False)
    assert model.passes == 2  # two validation batches, one forward pass each for every metric
    model.eval()
    with torch.no_grad():
        z, z_t, logits = model.body(VAL_X), model.body(VAL_X.flip(-1)), model(VAL_X)
    direct = InvarianceMetric()
    direct.update(z, z_t, VAL_Y)
    assert results["val/invariance"] == pytest.approx(direct.compute()["invariance"], rel=1e-5)
    assert results["val/invariance_alone"] == results["val/invariance"]
    accuracy = tm.functional.classification.multiclass_accuracy(logits, VAL_Y, num_classes=3)
    assert results["val/accuracy"] == pytest.approx(float(accuracy), rel=1e-6)
    logged = [float(row["val/invariance"]) for row in _rows(trainer) if row.get("val/invariance")]
    assert logged == [pytest.approx(results["val/invariance"])] * 2  # fit's validation epoch, then validate()


# --- the callback ---------------------------------------------------------------------------------------------


def test_the_callback_measures_at_validation_epochs_only_and_keeps_its_history_across_a_resume(tmp_path: Path) -> None:
    held_out, held_labels = X[64:88], Y[64:88]

    def run(root: Path, max_epochs: int, resume: Path | None = None) -> tuple[InvarianceCallback, Any]:
        callback = InvarianceCallback(held_out, held_labels, transforms=["rotation", "hflip"], mean=(0.5,) * 3,
                                      std=(0.5,) * 3)
        saver = L.pytorch.callbacks.ModelCheckpoint(dirpath=tmp_path / "ckpt", save_top_k=-1, every_n_epochs=1)
        trainer = _trainer(root, [callback, saver], max_epochs=max_epochs, check_val_every_n_epoch=2,
                           enable_checkpointing=True)
        L.seed_everything(0, verbose=False)
        trainer.fit(Tiny(), _loader(X, Y), _loader(VAL_X, VAL_Y), ckpt_path=resume)
        return callback, trainer

    whole, whole_trainer = run(tmp_path / "whole", 4)
    assert [h["epoch"] for h in whole.history] == [1, 3]  # validation epochs only; not the sanity check
    rows = _rows(whole_trainer)
    assert sorted({int(r["epoch"]) for r in rows if r["invariance/rotation"]}) == [1, 3]
    assert all(r["invariance/rotation"] == "" for r in rows if not r["val_loss"])  # on the validation rows only
    checkpoint = next((tmp_path / "ckpt").glob("epoch=1-*.ckpt"))
    resumed, resumed_trainer = run(tmp_path / "resumed", 4, resume=checkpoint)
    assert resumed.history == whole.history  # the first measurement from the checkpoint, the second re-run alike
    assert sorted({int(r["epoch"]) for r in _rows(resumed_trainer) if r["invariance/rotation"]}) == [3]
    direct = InvarianceMetric("hflip", reservoir=24, mean=(0.5,) * 3, std=(0.5,) * 3)
    direct.update(resumed_trainer.lightning_module, held_out, held_labels)
    assert whole.history[-1]["invariance/hflip"] == pytest.approx(direct.compute()["invariance"], rel=1e-6)


def test_the_callback_on_the_validation_batches_skips_the_sanity_check_and_runs_under_validate(tmp_path: Path) -> None:
    callback = InvarianceCallback(transforms="hflip")
    trainer = _trainer(tmp_path, [callback], num_sanity_val_steps=2)
    L.seed_everything(0, verbose=False)
    model = Tiny()
    trainer.fit(model, _loader(X, Y), _loader(VAL_X, VAL_Y))
    assert [h["epoch"] for h in callback.history] == [0]  # the sanity check measured nothing
    (results,) = trainer.validate(model, _loader(VAL_X, VAL_Y), verbose=False)
    first, second = callback.history
    assert {**second, "epoch": 0} == first  # the same model on the same batches (validate() runs after the epoch)
    direct = InvarianceMetric("hflip")
    direct.update(model, VAL_X, VAL_Y)  # the same samples in the same order: the same ids and draws
    assert results["invariance/hflip"] == pytest.approx(direct.compute()["invariance"], rel=1e-6)
    assert results["l2_ratio/hflip"] == pytest.approx(direct.compute()["l2_ratio"], rel=1e-6)


def test_the_callback_does_not_change_training(tmp_path: Path) -> None:
    callback = InvarianceCallback(X[64:88], Y[64:88], transforms=["rotation", "hflip"], every_n_steps=2,
                                  mean=(0.5,) * 3, std=(0.5,) * 3)

    def fit(root: Path, callbacks: list[Any]) -> nn.Module:
        L.seed_everything(0, verbose=False)
        model = Tiny()
        _trainer(root, callbacks).fit(model, _loader(X, Y), _loader(VAL_X, VAL_Y))
        return model

    model, plain = fit(tmp_path / "with", [callback]), fit(tmp_path / "without", [])
    for (name, p), q in zip(model.state_dict().items(), plain.state_dict().values()):
        assert torch.equal(p, q), name  # eval mode, no RNG, no grads: training is unchanged
    assert model.training
    assert [h["step"] for h in callback.history] == [2, 4, 6, 6]  # every 2 steps, and the validation epoch


def test_callback_errors(tmp_path: Path) -> None:
    with pytest.raises(InvalidParameterError, match="one class per image"):
        InvarianceCallback(torch.rand(4, 3, 8, 8), torch.arange(3))
    with pytest.raises(InvalidParameterError, match="describe a held-out set"):
        InvarianceCallback(every_n_steps=5)
    with pytest.raises(Exception, match="Unknown transform"):
        InvarianceCallback(torch.rand(4, 3, 8, 8), transforms="rotaton")
    callback = InvarianceCallback(transforms="hflip")
    trainer = _trainer(tmp_path, [callback], limit_val_batches=0)
    with pytest.warns(UserWarning, match="measured nothing"):
        trainer.fit(Tiny(), _loader(X, Y))

    class DictBatches(Tiny):
        def validation_step(self, batch: dict[str, torch.Tensor], _idx: int) -> None:
            self(batch["image"])

    bad = InvarianceCallback(transforms="hflip")
    with pytest.raises(InvalidParameterError, match="cannot find images in a validation batch of type dict"):
        _trainer(tmp_path, [bad]).validate(DictBatches(), torch.utils.data.DataLoader([{"image": x} for x in VAL_X],
                                                                                      batch_size=16))
    found = InvarianceCallback(transforms="hflip", batch_images=lambda batch: (batch["image"], None))
    (results,) = _trainer(tmp_path, [found]).validate(DictBatches(), torch.utils.data.DataLoader(
        [{"image": x} for x in VAL_X], batch_size=16), verbose=False)
    assert set(results) == {"invariance/hflip", "consistency/hflip"}
