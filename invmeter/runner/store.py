"""Cells shared between run folders: a cell is a pure function of its id, so one that another folder of the same run
has finished (Figure 3's models, which Figure 4 needs too) is reused rather than run again."""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from pathlib import Path

from invmeter.runner.core import Cell, _ordered, _read_record, _result_path

__all__ = ["adopt_finished"]


def adopt_finished(cells: Sequence[Cell], out: str | Path, sources: Sequence[str | Path]) -> list[Cell]:
    """Reuse in ``out`` the cells of ``cells`` (and their dependencies) that another run folder in ``sources`` has
    finished: its record is copied and its work folder hard-linked (copied across file systems). A cell is a pure
    function of its id, so a model one figure trained is not trained again for another. Returns the cells adopted."""
    out = Path(out)
    adopted = []
    for cell in _ordered(cells):
        if _result_path(out, cell.id).exists():
            continue
        for source in map(Path, sources):
            record, _ = _read_record(_result_path(source, cell.id))
            if record is None:
                continue
            if (source / "work" / cell.id).is_dir():
                shutil.copytree(source / "work" / cell.id, out / "work" / cell.id, copy_function=_link_or_copy,
                                dirs_exist_ok=True)
            _result_path(out, cell.id).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(_result_path(source, cell.id), _result_path(out, cell.id))
            adopted.append(cell)
            break
    return adopted


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)
