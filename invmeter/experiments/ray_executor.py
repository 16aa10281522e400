"""Run cells as Ray tasks (``--executor ray``): one task per cell, submitted as soon as its dependencies finish.

Every task writes its record to the same cell cache as the local executor (``OUT/cells/<id>.json``, atomically),
so local and cluster runs mix and resume freely; on a cluster ``OUT`` must be on a filesystem every node sees.
A task whose worker dies (killed, out of memory, node lost) is retried by Ray (``max_retries``); a training cell
then resumes from its last finished epoch. A cell that raises is reported and stops the run; the cells that
finished stay cached, and no cell is ever recorded twice (its record is one file, replaced atomically).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from invmeter.errors import InvmeterError
from invmeter.runner import Cell, CellFailed, run_cell

__all__ = ["run_with_ray", "MAX_RETRIES"]

MAX_RETRIES = 3  # re-runs of a task whose worker process died


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise InvmeterError("--executor ray needs Ray: pip install 'invmeter[ray]' (or use --executor local).") from None
    return ray


def run_with_ray(
    todo: Sequence[Cell],
    records: dict[str, dict[str, Any]],
    out: Path,
    *,
    address: str | None,
    gpus_per_cell: float,
    log: Callable[[str], None],
) -> dict[str, dict[str, Any]]:
    """Run ``todo`` (dependencies first) on Ray; ``records`` holds the finished cells. Returns the new records."""
    ray = _ray()
    if not ray.is_initialized():
        try:
            ray.init(address=address, include_dashboard=False, log_to_driver=False)
        except (ConnectionError, ValueError, RuntimeError) as exc:
            raise InvmeterError(f"Cannot connect to Ray at {address or 'a local instance'}: {exc}") from None
    task = ray.remote(num_cpus=1, num_gpus=gpus_per_cell, max_retries=MAX_RETRIES, retry_exceptions=False)(run_cell)
    done = dict(records)
    waiting = list(todo)
    running: dict[Any, Cell] = {}
    new: dict[str, dict[str, Any]] = {}
    while waiting or running:
        for cell in [c for c in waiting if all(d.id in done for d in c.deps.values())]:
            deps = {role: done[dep.id] for role, dep in cell.deps.items()}
            running[task.remote(str(out), cell.id, cell.task, cell.config, cell.label, deps)] = cell
            waiting.remove(cell)
        if not running:
            raise InvmeterError("Some cells depend on cells that are not in the run; this is a bug in the figure.")
        finished, _ = ray.wait(list(running), num_returns=1)
        cell = running.pop(finished[0])
        try:
            record = ray.get(finished[0])
        except ray.exceptions.RayTaskError as exc:
            cause = exc.cause if isinstance(getattr(exc, "cause", None), CellFailed) else exc
            raise CellFailed(str(cause).splitlines()[0]) from None
        except ray.exceptions.RayError as exc:  # the worker kept dying: report the cell, keep what finished
            raise CellFailed(f"Cell {cell.label or cell.id} was lost {MAX_RETRIES + 1} times on Ray: "
                             f"{exc.__class__.__name__}. Finished cells are cached; re-run to retry.") from None
        done[cell.id] = new[cell.id] = record
        log(f"[{len(new)}/{len(todo)}] {cell.label or cell.id}: {record['provenance']['seconds']:.0f} s (ray)")
    return new
