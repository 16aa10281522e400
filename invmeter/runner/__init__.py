"""Experiment cells: units of work cached on disk by a hash of their full config, run by a local executor (in this
process, or in worker processes) or by Ray (:mod:`invmeter.runner.ray_executor`). See :mod:`invmeter.runner.core`."""

from invmeter.runner.core import (
    EXECUTORS as EXECUTORS,
    adopt_cells as adopt_cells,
    Cell as Cell,
    CellFailed as CellFailed,
    available_cores as available_cores,
    cell_task as cell_task,
    cell_threads as cell_threads,
    dispatch as dispatch,
    load_result as load_result,
    resolve_jobs as resolve_jobs,
    run_cell as run_cell,
    run_cells as run_cells,
    task_ref as task_ref,
    worker_pool as worker_pool,
)

__all__ = ["EXECUTORS", "Cell", "adopt_cells", "CellFailed", "available_cores", "cell_task", "cell_threads", "dispatch",
           "load_result", "resolve_jobs", "run_cell", "run_cells", "task_ref", "worker_pool"]
