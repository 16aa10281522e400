"""Experiment cells: units of work cached on disk by a hash of their full config, run by a local or Ray executor.

A cell is a named task (a function registered with :func:`cell_task`) plus a JSON config and the ids of the cells
whose results it needs. Its id is a hash of (task, config, invmeter version), so a re-run reuses every finished
cell, whatever else changed; results are written atomically to ``OUT/cells/<id>.json``, so an interrupted run
(kill -9 included) loses at most the cells in flight. Training cells keep their own resumable state under
``OUT/work/<id>/`` and continue from their last finished epoch.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from invmeter import __version__
from invmeter._io import atomic_write
from invmeter._validation import unknown_name
from invmeter._versions import versions
from invmeter.errors import InvmeterError

__all__ = ["Cell", "CellFailed", "cell_task", "run_cells", "load_result", "EXECUTORS"]

EXECUTORS = ("local", "ray")
_TASKS: dict[str, Callable[[dict[str, Any], dict[str, dict[str, Any]], Path], dict[str, Any]]] = {}


class CellFailed(InvmeterError):
    """A cell raised an error; the message names the cell and the error (its traceback is in the cell's log)."""


def cell_task(name: str) -> Callable[[Callable[..., dict[str, Any]]], Callable[..., dict[str, Any]]]:
    """Register ``fn(config, deps, workdir) -> result`` as the task ``name`` (results must be JSON-able)."""

    def register(fn: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
        _TASKS[name] = fn
        return fn

    return register


@dataclass(frozen=True)
class Cell:
    """One unit of work.

    Attributes:
        task: Registered task name, e.g. ``"train"``.
        config: Everything that determines the result (JSON-able); part of the id.
        deps: Cells whose results this one reads, by role: ``{"model": cell}``.
        label: Short human-readable description for logs.
        meta: What the cell means in its figure (seed, arch, target, ...); not part of the id.
    """

    task: str
    config: dict[str, Any]
    deps: dict[str, Cell] = field(default_factory=dict)
    label: str = ""
    meta: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def id(self) -> str:
        payload = {"task": self.task, "config": self.config, "deps": {k: v.id for k, v in sorted(self.deps.items())},
                   "version": __version__}
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:20]


def _result_path(out: Path, cell_id: str) -> Path:
    return out / "cells" / f"{cell_id}.json"


def load_result(out: Path, cell: Cell) -> dict[str, Any] | None:
    """The cached result record of ``cell`` under ``out`` (``None`` if it has not finished)."""
    path = _result_path(out, cell.id)
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError:  # cannot happen with atomic writes, but a hand-edited file must not crash a run
        return None


def run_cell(out: str, cell_id: str, task: str, config: dict[str, Any], label: str, deps: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Run one cell in this process and store its record; the unit an executor ships (plain arguments only)."""
    out_path = Path(out)
    # The same thread count on every executor, so a cell gives the same numbers wherever it runs.
    torch.set_num_threads(int(os.environ.get("INVMETER_THREADS", 0)) or len(os.sched_getaffinity(0)))
    if task not in _TASKS:
        import invmeter.experiments  # noqa: F401 - registers the experiment tasks in a fresh worker process

    if task not in _TASKS:
        raise unknown_name("cell task", task, _TASKS)
    workdir = out_path / "work" / cell_id
    workdir.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    try:
        result = _TASKS[task](config, deps, workdir)
    except Exception as exc:  # noqa: BLE001 - recorded in the cell log, re-raised as one line for the user
        (workdir / "error.log").write_text(traceback.format_exc())
        raise CellFailed(f"Cell {label or cell_id} ({task}) failed: {exc.__class__.__name__}: {exc} "
                         f"(traceback in {workdir / 'error.log'})") from None
    record = {
        "id": cell_id,
        "task": task,
        "label": label,
        "config": config,
        "result": result,
        "provenance": {"versions": versions(), "seconds": round(time.perf_counter() - start, 2),
                       "finished": time.strftime("%Y-%m-%dT%H:%M:%S")},
    }
    path = _result_path(out_path, cell_id)
    atomic_write(path, lambda tmp: tmp.write_text(json.dumps(record, indent=1, default=str)))
    return record


def _ordered(cells: Sequence[Cell]) -> list[Cell]:
    """Every cell and its dependencies, each once, dependencies first."""
    seen: dict[str, Cell] = {}

    def visit(cell: Cell) -> None:
        for dep in cell.deps.values():
            visit(dep)
        seen.setdefault(cell.id, cell)

    for cell in cells:
        visit(cell)
    return list(seen.values())


def run_cells(
    cells: Sequence[Cell],
    out: str | Path,
    *,
    executor: str = "local",
    address: str | None = None,
    gpus_per_cell: float = 0.0,
    log: Callable[[str], None] | None = None,
) -> dict[str, dict[str, Any]]:
    """Run every cell not already finished under ``out``; returns ``{cell id: record}`` for all of them.

    Args:
        executor: ``local`` (this process, one cell at a time) or ``ray`` (one Ray task per cell; see
            :mod:`invmeter.experiments.ray_executor`).
        address: Ray cluster address (``ray`` only; default: start or join a local instance).
        gpus_per_cell: GPUs each Ray task requests.
        log: Called with one line per finished cell.
    """
    if executor not in EXECUTORS:
        raise unknown_name("executor", executor, EXECUTORS)
    out = Path(out)
    order = _ordered(cells)
    records = {c.id: r for c in order if (r := load_result(out, c)) is not None}
    todo = [c for c in order if c.id not in records]
    say = log or (lambda line: None)
    say(f"{len(order)} cells: {len(records)} cached, {len(todo)} to run")
    if executor == "ray":
        from invmeter.experiments.ray_executor import run_with_ray

        records.update(run_with_ray(todo, records, out, address=address, gpus_per_cell=gpus_per_cell, log=say))
        return records
    for i, cell in enumerate(todo, 1):
        deps = {role: records[dep.id] for role, dep in cell.deps.items()}
        start = time.perf_counter()
        records[cell.id] = run_cell(str(out), cell.id, cell.task, cell.config, cell.label, deps)
        say(f"[{i}/{len(todo)}] {cell.label or cell.id}: {time.perf_counter() - start:.0f} s")
    return records
