"""The complete training-loop examples of docs/streaming.md run as written (plain PyTorch, Lightning)."""

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


@pytest.fixture(autouse=True)
def _restore_threads_and_seed() -> object:
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.mark.slow
def test_plain_pytorch_loop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    (plain,) = [b for b in _examples() if "lightning" not in b]
    monkeypatch.chdir(tmp_path)
    scope: dict[str, object] = {}
    exec(compile(plain, str(DOC), "exec"), scope)  # noqa: S102 - the documentation's own example
    assert capsys.readouterr().out.count("rotation invariance") == 3
    assert scope["best"][1] in (0, 1, 2)  # type: ignore[index]


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::UserWarning", "ignore::FutureWarning")  # Lightning's advice; its pytree use
def test_lightning_loop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("lightning")
    (example,) = [b for b in _examples() if "lightning" in b]
    monkeypatch.chdir(tmp_path)
    scope: dict[str, object] = {}
    exec(compile(example, str(DOC), "exec"), scope)  # noqa: S102 - the documentation's own example
    history = scope["invariance"].history  # type: ignore[attr-defined]
    assert 1 <= len(history) <= 3 and {"invariance/rotation", "consistency/hflip"} <= history[-1].keys()
    assert list(tmp_path.glob("lightning_logs/**/metrics.csv"))
