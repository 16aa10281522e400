"""The optional integrations with the real packages: torchmetrics.Metric and a Lightning callback (CPU)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch
from dist_worker import stream
from test_guard import _assert_same, _model_with_grads, _snapshot
from test_streaming import _data, _fed, run_two_ranks
from torch import nn

from invmeter.errors import InvalidParameterError
from invmeter.streaming.metric import InvarianceMetric

tm = pytest.importorskip("torchmetrics")


def _as_floats(out: dict[str, torch.Tensor]) -> dict[str, float]:
    return {k: float(v) for k, v in out.items()}


def test_torchmetrics_metric_equals_the_streaming_metric() -> None:
    from invmeter.integrations.torchmetrics import Invariance

    data = _data()
    z, z_t, labels, logits, logits_t = data
    batches = list(torch.arange(3000).split(250))
    metric = Invariance(reservoir=400, seed=1)
    assert isinstance(metric, tm.Metric)
    for idx in batches:
        metric.update(z[idx], z_t[idx], labels[idx], logits=logits[idx], logits_t=logits_t[idx])
        assert sum(len(r) for r in metric.clean) <= 400  # bounded state
    assert _as_floats(metric.compute()) == _fed(batches, data, reservoir=400, seed=1).compute()
    metric.reset()
    batch = _as_floats(metric(z[:100], z_t[:100], labels[:100], logits=logits[:100], logits_t=logits_t[:100]))
    assert batch == _fed([torch.arange(100)], data, reservoir=400, seed=1).compute()  # forward: the batch's value
    metric(z[100:300], z_t[100:300], labels[100:300], logits=logits[100:300], logits_t=logits_t[100:300])
    assert _as_floats(metric.compute()) == _fed([torch.arange(100), torch.arange(100, 300)], data, reservoir=400,
                                                seed=1).compute()


def test_torchmetrics_model_path_leaves_the_model_untouched() -> None:
    from invmeter.integrations.torchmetrics import Invariance

    model = _model_with_grads()
    before = _snapshot(model)
    metric = Invariance("rotation")
    images = torch.rand(8, 3, 8, 8)
    metric.update(model, images, torch.arange(8) % 2)
    _assert_same(before, model)
    reference = InvarianceMetric("rotation")
    reference.update(model, images, torch.arange(8) % 2)
    assert _as_floats(metric.compute()) == reference.compute()


@pytest.mark.slow
def test_torchmetrics_syncs_across_two_gloo_processes(tmp_path: Path) -> None:
    got = run_two_ranks(tmp_path, "torchmetrics")
    z, z_t, labels, logits, logits_t = stream()
    single = InvarianceMetric(reservoir=256, seed=3)
    single.update(z, z_t, labels, logits=logits, logits_t=logits_t)
    for key, value in single.compute().items():
        assert got["result"][key] == pytest.approx(value, rel=1e-12, abs=0)  # type: ignore[index]


# --- Lightning ------------------------------------------------------------------------------------------------


def _lightning_run(tmp_path: Path, callbacks: list[object]) -> tuple[nn.Module, Path]:
    """One epoch of a tiny conv classifier (20 steps of 8 images, CPU), logged to CSV."""
    L = pytest.importorskip("lightning")

    class Tiny(L.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.net = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU(),
                                     nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Dropout(0.2), nn.Linear(24, 3))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.net(x)

        def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], _idx: int) -> torch.Tensor:
            x, y = batch
            return nn.functional.cross_entropy(self(x), y)

        def configure_optimizers(self) -> torch.optim.Optimizer:
            return torch.optim.Adam(self.parameters(), lr=1e-2)

    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(160, 3, 12, 12, generator=g), torch.randint(0, 3, (160,), generator=g)
    x[y == 1, 0] += 0.5  # something to learn
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=8, shuffle=True,
                                         generator=torch.Generator().manual_seed(1))
    L.seed_everything(0, verbose=False)
    model = Tiny()
    trainer = L.Trainer(max_epochs=1, accelerator="cpu", devices=1, logger=L.pytorch.loggers.CSVLogger(tmp_path),
                        callbacks=callbacks, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, log_every_n_steps=1, deterministic=True)
    trainer.fit(model, loader)
    return model, Path(trainer.logger.log_dir) / "metrics.csv"


@pytest.mark.filterwarnings("ignore::UserWarning", "ignore::FutureWarning")  # Lightning's advice; its torch pytree use
def test_lightning_callback_logs_through_the_trainers_logger_and_does_not_change_training(tmp_path: Path) -> None:
    from invmeter.integrations.lightning import InvarianceCallback

    g = torch.Generator().manual_seed(5)
    held_out, held_labels = torch.rand(24, 3, 12, 12, generator=g), torch.arange(24) % 3
    callback = InvarianceCallback(held_out, held_labels, transforms=["rotation", "hflip"], every_n_epochs=1,
                                  every_n_steps=5, mean=(0.5,) * 3, std=(0.5,) * 3)
    model, csv_path = _lightning_run(tmp_path / "with", [callback])
    plain, _ = _lightning_run(tmp_path / "without", [])
    for (name, p), q in zip(model.state_dict().items(), plain.state_dict().values()):
        assert torch.equal(p, q), name  # the callback changed nothing in training (eval mode, no RNG, no grads)
    assert model.training  # handed back in train mode

    rows = list(csv.DictReader(csv_path.open()))
    keys = {"invariance/rotation", "l2_ratio/rotation", "consistency/rotation", "invariance/hflip", "l2_ratio/hflip",
            "consistency/hflip"}
    assert keys <= set(rows[0])
    logged = [row for row in rows if row["invariance/rotation"]]
    assert [h["step"] for h in callback.history] == [5, 10, 15, 20, 20]  # every 5 steps, and the epoch's end
    assert len(logged) == 5  # each logged once
    for row, entry in zip(logged, callback.history):
        assert float(row["invariance/hflip"]) == pytest.approx(entry["invariance/hflip"], rel=1e-6)
    final = callback.measure(model)
    assert final == {k: v for k, v in callback.history[-1].items() if "/" in k}
    direct = InvarianceMetric("hflip", reservoir=24, mean=(0.5,) * 3, std=(0.5,) * 3)
    direct.update(model, held_out, held_labels)
    assert final["invariance/hflip"] == direct.compute()["invariance"]


def test_lightning_callback_errors() -> None:
    pytest.importorskip("lightning")
    from invmeter.integrations.lightning import InvarianceCallback

    with pytest.raises(InvalidParameterError, match="every_n_epochs or every_n_steps"):
        InvarianceCallback(torch.rand(4, 3, 8, 8), every_n_epochs=None)
    with pytest.raises(InvalidParameterError, match="one class per image"):
        InvarianceCallback(torch.rand(4, 3, 8, 8), torch.arange(3))
    with pytest.raises(Exception, match="Unknown transform"):
        InvarianceCallback(torch.rand(4, 3, 8, 8), transforms="rotaton")
