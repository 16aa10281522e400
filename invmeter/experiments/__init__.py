"""The paper's experiments as cells (one module per figure) and ``reproduce``, which runs and reports them."""

from __future__ import annotations

import shlex
import sys
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from pathlib import Path

from invmeter._validation import unknown_name
from invmeter.experiments import cells as _cells  # noqa: F401 - registers the cell tasks
from invmeter.experiments import fig2, fig3, fig4, fig5, fig6, fig8
from invmeter.experiments.common import PRESETS, Claim, Context, Figure, scale_for, write_outputs
from invmeter.runner import resolve_jobs, run_cells, worker_pool

__all__ = ["FIGURES", "PRESETS", "reproduce"]

FIGURES: dict[str, Figure] = {  # type: ignore[dict-item]
    "fig2": fig2, "fig3": fig3, "fig4": fig4, "fig5": fig5, "fig6": fig6, "fig8": fig8,
}


def reproduce(
    figure: str,
    *,
    preset: str = "cpu",
    out: str | Path,
    seeds: Sequence[int] | None = None,
    archs: Sequence[str] | None = None,
    context: Context | None = None,
    executor: str = "local",
    jobs: int = 0,
    address: str | None = None,
    gpus_per_cell: float = 0.0,
    log: Callable[[str], None] = lambda line: None,
) -> dict[str, list[Claim]]:
    """Run one figure (or ``"all"``) at a preset, writing each figure's outputs under ``out`` (``out/<fig>`` for
    ``"all"``); finished cells are reused, so an interrupted run resumes. ``jobs``: cells run at once by the local
    executor (0 = auto: one per core on a CPU-only machine; see :func:`invmeter.runner.run_cells`). Returns the
    claims per figure."""
    names = list(FIGURES) if figure == "all" else [figure]
    for name in names:
        if name not in FIGURES:
            raise unknown_name("figure", name, [*FIGURES, "all"])
    context = context or Context()
    command = "invmeter " + " ".join(shlex.quote(a) for a in sys.argv[1:]) if sys.argv[0].endswith("invmeter") else ""
    jobs = resolve_jobs(jobs)  # also sets every cell's thread count, on either executor
    results = {}
    with worker_pool(jobs) if jobs > 1 and executor == "local" else nullcontext() as pool:  # started once for all
        for name in names:
            fig = FIGURES[name]
            scale = scale_for(fig, preset, seeds, archs)
            fig_out = Path(out) / name if figure == "all" else Path(out)
            cells = fig.cells(scale, context)
            log(f"{name} ({preset}): {fig.TITLE}")
            records = run_cells(cells, fig_out, executor=executor, jobs=jobs, pool=pool, address=address,
                                gpus_per_cell=gpus_per_cell, log=log)
            notes = getattr(fig, "notes", lambda ctx: [])(context)
            results[name] = write_outputs(fig_out, fig, preset, scale, cells, records, command, notes, log)
    return results
