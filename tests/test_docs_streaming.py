"""The complete programs of docs/streaming.md run as written: the plain PyTorch loop, torchmetrics in a
LightningModule and on its own, and the Lightning callback."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

DOC = Path(__file__).parents[1] / "docs" / "streaming.md"


def _examples() -> list[str]:
    """The doc's complete programs: its python blocks that start with an import."""
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.DOTALL)
    return [b for b in blocks if b.startswith("import")]


def _example(marker: str) -> str:
    """The one complete program that uses ``marker``."""
    (block,) = [b for b in _examples() if marker in b]
    return block


def _run(block: str) -> dict[str, object]:
    scope: dict[str, object] = {}
    exec(compile(block, str(DOC), "exec"), scope)  # noqa: S102 - the documentation's own example
    return scope


@pytest.fixture(autouse=True)
def _restore_threads_and_seed() -> object:
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.mark.slow
def test_plain_pytorch_loop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    (plain,) = [b for b in _examples() if "lightning" not in b and "torchmetrics" not in b]
    monkeypatch.chdir(tmp_path)
    scope = _run(plain)
    assert capsys.readouterr().out.count("rotation invariance") == 3
    assert scope["best"][1] in (0, 1, 2)  # type: ignore[index]


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::UserWarning", "ignore::FutureWarning")  # Lightning's advice; its pytree use
def test_lightning_callback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("lightning")
    monkeypatch.chdir(tmp_path)
    history = _run(_example("InvarianceCallback"))["invariance"].history  # type: ignore[attr-defined]
    assert [h["epoch"] for h in history] == [1, 3]  # check_val_every_n_epoch=2
    assert {"invariance/rotation", "consistency/hflip"} <= history[-1].keys()
    assert list(tmp_path.glob("lightning_logs/**/metrics.csv"))


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::UserWarning", "ignore::FutureWarning")
def test_torchmetrics_in_a_lightning_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("lightning")
    pytest.importorskip("torchmetrics")
    monkeypatch.chdir(tmp_path)
    logged = _run(_example("MulticlassAccuracy"))["trainer"].callback_metrics  # type: ignore[attr-defined]
    assert {"val/accuracy", "val/invariance", "val/l2_ratio", "val/consistency"} <= set(logged)
    assert all(logged[k].shape == () for k in ("val/invariance", "val/consistency"))


def test_torchmetrics_on_its_own(capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("torchmetrics")
    scope = _run(_example("merge_state"))
    groups = scope["metrics"].compute_groups  # type: ignore[attr-defined]
    assert list(groups.values()) == [["invariance", "ratio", "l2_ratio", "consistency"]]  # one pass for the four
    assert "torch.float64 torch.float16" in capsys.readouterr().out
