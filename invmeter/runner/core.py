"""Experiment cells: units of work cached on disk by a hash of their full config, run by a local executor (in this
process, or in ``jobs`` worker processes at once) or by Ray.

A cell is a named task (a function registered with :func:`cell_task`) plus a JSON config and the ids of the cells
whose results it needs. Its id is a hash of (task, config, invmeter version), so a re-run reuses every finished
cell, whatever else changed; results are written atomically to ``OUT/cells/<id>.json``, so an interrupted run
(kill -9 included) loses at most the cells in flight. Training cells keep their own resumable state under
``OUT/work/<id>/`` and continue from their last finished epoch.

A record that cannot be read or lacks its result is recomputed, and so is a finished cell whose files a cell still
to run needs but which fail the task's check (e.g. a damaged checkpoint); each says so in the log.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import time
import traceback
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import torch

from invmeter._utils.cores import available_cores
from invmeter._utils.io import atomic_write
from invmeter._utils.schemas import CELL_RECORD_SCHEMA_VERSION
from invmeter._utils.validation import check_output_folder, unknown_name
from invmeter._utils.versions import versions
from invmeter._version import __version__
from invmeter.errors import InvalidParameterError, InvmeterError
from invmeter.runner.settings import RunSettings

__all__ = ["Cell", "CellFailed", "cell_task", "run_cells", "load_result", "dispatch", "resolve_jobs", "worker_pool",
           "EXECUTORS", "available_cores", "task_ref", "run_cell", "cell_threads"]

EXECUTORS = ("local", "ray")
Task = Callable[[dict[str, Any], dict[str, dict[str, Any]], Path, RunSettings], dict[str, Any]]
FilesCheck = Callable[[dict[str, Any], Path], "str | None"]
OnRecord = Callable[["Cell", dict[str, Any]], None]
_TASKS: dict[str, Task] = {}
_MODULES: dict[str, str] = {}  # task name -> the module that registers it (imported by a fresh worker process)
_CHECKS: dict[str, FilesCheck] = {}


class CellFailed(InvmeterError):
    """A cell raised an error; the message names the cell and the error (its traceback is in the cell's log)."""


def cell_task(name: str, check: FilesCheck | None = None) -> Callable[[Task], Task]:
    """Register ``fn(config, deps, workdir, settings) -> result`` as the task ``name`` (results must be JSON-able).
    ``check(record, workdir)``: what is wrong with a finished cell's files (``None`` if nothing), asked before a
    cell that depends on it runs; a finished cell that fails it is run again."""

    def register(fn: Task) -> Task:
        _TASKS[name] = fn
        _MODULES[name] = fn.__module__
        if check is not None:
            _CHECKS[name] = check
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
    """The cached result record of ``cell`` under ``out`` (``None`` if it has not finished, or if its record cannot be
    read or lacks its result)."""
    record, _ = _read_record(_result_path(out, cell.id))
    return record


def _read_record(path: Path) -> tuple[dict[str, Any] | None, str | None]:
    """``(record, None)``, ``(None, None)`` if there is no file, or ``(None, what is wrong with it)``. Atomic writes
    never leave a partial record, but a hand-edited or damaged file must not crash a run."""
    if not path.is_file():
        return None, None
    try:
        record = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None, "is not valid JSON"
    if not isinstance(record, dict) or not isinstance(record.get("result"), dict):
        return None, "has no result"
    return record, None


def resolve_jobs(jobs: int) -> int:
    """Cells run at once by the local executor: ``jobs``, or for 0 (auto) one per core on a CPU-only machine and one
    with a GPU (a cell then uses the GPU, not the cores)."""
    if jobs < 0:
        raise InvalidParameterError(f"The 'jobs' parameter must be >= 0 (0 = auto). Got {jobs}.")
    if jobs:
        return jobs
    return 1 if torch.cuda.is_available() else available_cores()


def cell_threads(jobs: int) -> int:
    """CPU threads per cell: ``$INVMETER_THREADS``, else this process's cores shared among ``jobs`` cells. Every
    executor uses it, so a cell gives the same numbers wherever it runs (PyTorch's CPU results depend on the
    thread count)."""
    return int(os.environ.get("INVMETER_THREADS", 0)) or max(1, available_cores() // jobs)


def task_ref(name: str) -> str:
    """``module:task``: what an executor ships, so that a fresh worker process imports the module that registers
    the task (the runner knows no task module itself)."""
    if name not in _TASKS:
        raise unknown_name("cell task", name, _TASKS)
    return f"{_MODULES[name]}:{name}"


def run_cell(out: str, cell_id: str, task: str, config: dict[str, Any], label: str, deps: dict[str, dict[str, Any]],
             settings: RunSettings) -> dict[str, Any]:
    """Run one cell in this process with the run's ``settings`` and store its record; the unit an executor ships
    (plain arguments only)."""
    out_path = Path(out)
    settings.apply()
    module, _, task = task.rpartition(":")
    if task not in _TASKS and module:
        importlib.import_module(module)  # a fresh worker process: the module registers its tasks on import
    if task not in _TASKS:
        raise unknown_name("cell task", task, _TASKS)
    workdir = out_path / "work" / cell_id
    workdir.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    try:
        result = _TASKS[task](config, deps, workdir, settings)
    except Exception as exc:  # noqa: BLE001 - recorded in the cell log, re-raised as one line for the user
        (workdir / "error.log").write_text(traceback.format_exc())
        raise CellFailed(f"Cell {label or cell_id} ({task}) failed: {exc.__class__.__name__}: {exc} "
                         f"(traceback in {workdir / 'error.log'})") from None
    record = {
        "schema_version": CELL_RECORD_SCHEMA_VERSION,
        "id": cell_id,
        "task": task,
        "label": label,
        "config": config,
        "result": result,
        "provenance": {"versions": versions(), "seconds": round(time.perf_counter() - start, 2),
                       **settings.provenance(), "finished": time.strftime("%Y-%m-%dT%H:%M:%S")},
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


def dispatch(
    todo: Sequence[Cell],
    records: dict[str, dict[str, Any]],
    submit: Callable[[Cell, dict[str, dict[str, Any]]], Any],
    next_finished: Callable[[dict[Any, Cell]], tuple[Any, dict[str, Any]]],
    log: Callable[[str], None],
    where: str = "",
    on_record: OnRecord | None = None,
) -> dict[str, dict[str, Any]]:
    """Start each cell of ``todo`` as soon as its dependencies have records; returns the new records.

    ``submit(cell, deps)`` starts a cell and returns a handle; ``next_finished(running)`` waits for one of the
    running ``{handle: cell}`` and returns ``(handle, record)``, raising :class:`CellFailed` if it failed;
    ``on_record(cell, record)`` is called as each cell finishes.
    """
    done = dict(records)
    waiting = list(todo)
    running: dict[Any, Cell] = {}
    new: dict[str, dict[str, Any]] = {}
    while waiting or running:
        for cell in [c for c in waiting if all(d.id in done for d in c.deps.values())]:
            running[submit(cell, {role: done[dep.id] for role, dep in cell.deps.items()})] = cell
            waiting.remove(cell)
        if not running:
            raise InvmeterError("Some cells depend on cells that are not in the run; this is a bug in the figure.")
        handle, record = next_finished(running)
        cell = running.pop(handle)
        done[cell.id] = new[cell.id] = record
        log(f"[{len(new)}/{len(todo)}] {cell.label or cell.id}: {record['provenance']['seconds']:.0f} s{where}")
        if on_record is not None:
            on_record(cell, record)
    return new


def _start_worker(parent: int) -> None:
    """In a worker process: be killed when the run that started it (pid ``parent``) dies, so a killed run leaves no
    worker training on in the background (Linux)."""
    try:
        import ctypes

        ctypes.CDLL(None).prctl(1, 9)  # PR_SET_PDEATHSIG, SIGKILL
    except (OSError, AttributeError):  # not Linux: workers finish their cell, whose record is atomic anyway
        pass
    if os.getppid() != parent:  # the run died while this worker was starting, before the signal was armed
        os._exit(1)


def worker_pool(jobs: int) -> ProcessPoolExecutor:
    """``jobs`` worker processes for the local executor; give one to several :func:`run_cells` calls to start the
    workers (and import PyTorch in them) once. Shut it down when done (it is a context manager)."""
    import multiprocessing

    return ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn"), initializer=_start_worker,
                               initargs=(os.getpid(),))


def _run_in_processes(
    todo: Sequence[Cell], records: dict[str, dict[str, Any]], out: Path, pool: ProcessPoolExecutor, jobs: int,
    settings: RunSettings, log: Callable[[str], None], on_record: OnRecord | None = None,
) -> dict[str, dict[str, Any]]:
    """Run ``todo`` in the ``pool``'s ``jobs`` worker processes, each cell with the run's ``settings``."""
    from concurrent.futures import FIRST_COMPLETED, wait
    from concurrent.futures.process import BrokenProcessPool

    submitted: list[Future] = []

    def submit(cell: Cell, deps: dict[str, dict[str, Any]]) -> Future:
        submitted.append(pool.submit(run_cell, str(out), cell.id, task_ref(cell.task), cell.config, cell.label, deps,
                                     settings))
        return submitted[-1]

    def next_finished(running: dict[Any, Cell]) -> tuple[Any, dict[str, Any]]:
        future = next(iter(wait(list(running), return_when=FIRST_COMPLETED).done))
        try:
            return future, future.result()
        except BrokenProcessPool:
            cell = running[future]
            raise CellFailed(f"A worker process died running cell {cell.label or cell.id}. Finished cells are "
                             f"cached; re-run to resume.") from None

    try:
        return dispatch(todo, records, submit, next_finished, log, f" ({jobs} jobs)", on_record)
    except BaseException:
        for future in submitted:  # cells not started yet are dropped; those in flight finish and are recorded
            future.cancel()
        raise


def run_cells(
    cells: Sequence[Cell],
    out: str | Path,
    *,
    executor: str = "local",
    jobs: int = 1,
    pool: ProcessPoolExecutor | None = None,
    address: str | None = None,
    gpus_per_cell: float = 0.0,
    settings: RunSettings | None = None,
    cached_only: bool = False,
    log: Callable[[str], None] | None = None,
    on_record: OnRecord | None = None,
) -> dict[str, dict[str, Any]]:
    """Run every cell not already finished under ``out``; returns ``{cell id: record}`` for all of them
    (``on_record(cell, record)`` is called as each new cell finishes).

    Args:
        executor: ``local`` (on this machine) or ``ray`` (one Ray task per cell; see
            :mod:`invmeter.experiments.ray_executor`).
        jobs: Cells the local executor runs at once, each in its own worker process (1: in this process;
            0: auto, see :func:`resolve_jobs`). With a GPU they share it, each bounded to a share of its memory.
        pool: Worker processes to run them in (:func:`worker_pool`, ``jobs`` of them); default: started for this
            call.
        address: Ray cluster address (``ray`` only; default: start or join a local instance).
        gpus_per_cell: GPUs each Ray task requests.
        settings: How every cell runs (default: :meth:`RunSettings.for_jobs` with :func:`cell_threads` threads, the
            same on either executor).
        cached_only: Run nothing: return the finished cells' records only.
        log: Called with one line per finished cell, and for every record that is recomputed and why.
    """
    if executor not in EXECUTORS:
        raise unknown_name("executor", executor, EXECUTORS)
    jobs = resolve_jobs(jobs)
    settings = settings or RunSettings.for_jobs(jobs, cell_threads(jobs))
    out = check_output_folder(out)
    say = log or (lambda line: None)
    order = _ordered(cells)
    records = _finished(order, out, say, check_files=not cached_only)
    todo = [c for c in order if c.id not in records]
    if cached_only:
        say(f"{len(order)} cells: {len(records)} cached, {len(todo)} not run (cached only)")
        return records
    say(f"{len(order)} cells: {len(records)} cached, {len(todo)} to run")
    if executor == "ray":
        from invmeter.runner.ray_executor import run_with_ray

        records.update(run_with_ray(todo, records, out, settings=settings, address=address,
                                    gpus_per_cell=gpus_per_cell, log=say, on_record=on_record))
    elif jobs > 1 and len(todo) > 1:
        with nullcontext(pool) if pool is not None else worker_pool(jobs) as workers:
            records.update(_run_in_processes(todo, records, out, workers, jobs, settings, say, on_record))
    else:  # in this process, one cell at a time: a "submitted" cell runs when it is waited for
        def submit(cell: Cell, deps: dict[str, dict[str, Any]]) -> Callable[[], dict[str, Any]]:
            return partial(run_cell, str(out), cell.id, task_ref(cell.task), cell.config, cell.label, deps, settings)

        def next_finished(running: dict[Any, Cell]) -> tuple[Any, dict[str, Any]]:
            first = next(iter(running))
            return first, first()

        records.update(dispatch(todo, records, submit, next_finished, say, on_record=on_record))
    return records


def _finished(order: Sequence[Cell], out: Path, log: Callable[[str], None],
              check_files: bool = True) -> dict[str, dict[str, Any]]:
    """The usable records of ``order`` (dependencies first): an unreadable or result-less record is dropped, and so is
    (with ``check_files``) a finished cell whose files a cell still to run needs but which fail its task's check;
    each is logged."""
    records: dict[str, dict[str, Any]] = {}
    for cell in order:
        record, problem = _read_record(_result_path(out, cell.id))
        if problem:
            log(f"{cell.label or cell.id}: its record {_result_path(out, cell.id)} {problem}; recomputing the cell")
        elif record is not None:
            records[cell.id] = record
    needed = {dep.id: dep for cell in order if cell.id not in records for dep in cell.deps.values()}
    for dep in needed.values() if check_files else ():  # each once, however many cells need it
        check = _CHECKS.get(dep.task)
        if dep.id in records and check is not None and (problem := check(records[dep.id], out / "work" / dep.id)):
            log(f"{dep.label or dep.id}: {problem}; re-running the cell")
            del records[dep.id]
    return records


def adopt_cells(cells: Sequence[Cell], source: str | Path, out: str | Path) -> list[str]:
    """The cells (and dependencies) that another run finished under ``source`` made finished under ``out`` where it has
    no record of them: the record copied, the work folder linked file by file (copied where links fail). The id hashes
    the task, config and version, so an adopted cell is the one ``out`` would run; one whose files fail its task's
    check (a damaged checkpoint) is left to run. Returns the adopted cells' labels."""
    import shutil

    source, out = Path(source), Path(out)
    adopted = []
    for cell in _ordered(cells):
        record, _ = _read_record(_result_path(source, cell.id))
        check, work = _CHECKS.get(cell.task), source / "work" / cell.id
        if record is None or _result_path(out, cell.id).exists() or (check is not None and check(record, work)):
            continue
        for path in sorted(p for p in work.rglob("*") if p.is_file()):
            target = out / "work" / cell.id / path.relative_to(work)
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(path, target)
            except OSError:
                shutil.copy2(path, target)
        atomic_write(_result_path(out, cell.id), lambda tmp, r=record: tmp.write_text(json.dumps(r, indent=1, default=str)))
        adopted.append(cell.label or cell.id)
    return adopted
