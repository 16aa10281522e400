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
from invmeter.runner.core import Cell, CellFailed, dispatch, run_cell, task_ref
from invmeter.runner.settings import RunSettings

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
    settings: RunSettings,
    address: str | None,
    gpus_per_cell: float,
    log: Callable[[str], None],
    on_record: Callable[[Cell, dict[str, Any]], None] | None = None,
) -> dict[str, dict[str, Any]]:
    """Run ``todo`` (dependencies first) on Ray, each cell with the run's ``settings``; ``records`` holds the
    finished cells. Returns the new records."""
    ray = _ray()
    if not ray.is_initialized():
        try:
            ray.init(address=address, include_dashboard=False, log_to_driver=False)
        except (ConnectionError, ValueError, RuntimeError) as exc:
            raise InvmeterError(f"Cannot connect to Ray at {address or 'a local instance'}: {exc}") from None
    task = ray.remote(num_cpus=1, num_gpus=gpus_per_cell, max_retries=MAX_RETRIES, retry_exceptions=False)(run_cell)

    def submit(cell: Cell, deps: dict[str, dict[str, Any]]) -> Any:
        return task.remote(str(out), cell.id, task_ref(cell.task), cell.config, cell.label, deps, settings)

    def next_finished(running: dict[Any, Cell]) -> tuple[Any, dict[str, Any]]:
        finished, _ = ray.wait(list(running), num_returns=1)
        cell = running[finished[0]]
        try:
            return finished[0], ray.get(finished[0])
        except ray.exceptions.RayTaskError as exc:
            cause = exc.cause if isinstance(getattr(exc, "cause", None), CellFailed) else exc
            raise CellFailed(str(cause).splitlines()[0]) from None
        except ray.exceptions.RayError as exc:  # the worker kept dying: report the cell, keep what finished
            raise CellFailed(f"Cell {cell.label or cell.id} was lost {MAX_RETRIES + 1} times on Ray: "
                             f"{exc.__class__.__name__}. Finished cells are cached; re-run to retry.") from None

    return dispatch(todo, records, submit, next_finished, log, " (ray)", on_record)
