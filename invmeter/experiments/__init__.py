"""The paper's experiments as cells (one module per figure) and ``reproduce``, which runs and reports them."""

from __future__ import annotations

import shlex
import sys
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from pathlib import Path

from invmeter._utils.validation import unknown_name
from invmeter.errors import InvalidParameterError
from invmeter.experiments import (
    cells as _cells,  # noqa: F401 - registers the cell tasks
    fig2,
    fig3,
    fig4,
    fig5,
    fig6,
    fig7,
    fig8,
    pairs as _pairs,  # noqa: F401 - registers the paired-distance task
    selection,
)
from invmeter.experiments.budget import budget, format_budget, resolve_rates
from invmeter.experiments.claims import Claim
from invmeter.experiments.common import PRESETS, Context, Figure, Scale, scale_for
from invmeter.experiments.outputs import data_sources, deviations, write_outputs
from invmeter.runner import Cell, adopt_cells, cell_threads, resolve_jobs, run_cells, worker_pool
from invmeter.runner.settings import RunSettings

__all__ = ["EXPERIMENTS", "FIGURES", "PRESETS", "dry_run", "plan", "reproduce", "standin_problems"]

FIGURES: dict[str, Figure] = {  # type: ignore[dict-item]
    "fig2": fig2, "fig3": fig3, "fig4": fig4, "fig5": fig5, "fig6": fig6, "fig7": fig7, "fig8": fig8,
}
# invmeter's own experiments, run like the figures by name but not by "all" (which reproduces the paper)
EXPERIMENTS: dict[str, Figure] = {"selection": selection}  # type: ignore[dict-item]


def _names(figure: str) -> list[str]:
    names = list(FIGURES) if figure == "all" else [figure]
    for name in names:
        if name not in FIGURES and name not in EXPERIMENTS:
            raise unknown_name("figure", name, [*FIGURES, *EXPERIMENTS, "all"])
    return names


def plan(figure: str, *, preset: str, seeds: Sequence[int] | None = None, archs: Sequence[str] | None = None,
         context: Context | None = None, amp: bool = False, compile: bool = False,
         fixed_split: bool = False, width: float | None = None) -> dict[str, tuple[Scale, list[Cell]]]:
    """``{figure name: (scale, cells)}`` for one figure or ``"all"``, without running anything (``fixed_split``:
    the fixed-split protocol instead of transforms drawn again every epoch, see :class:`Scale`; ``width``: every
    CIFAR architecture at this channel width multiplier instead of the preset's)."""
    context = context or Context()
    out = {}
    for name in _names(figure):
        fig = FIGURES.get(name) or EXPERIMENTS[name]
        scale = scale_for(fig, preset, seeds, archs, amp, compile=compile, fixed_split=fixed_split, width=width)
        out[name] = (scale, fig.cells(scale, context))
    return out


def standin_problems(names: Sequence[str], context: Context) -> list[str]:
    """Which of the paper's data sources the figures ``names`` would replace by invmeter's stand-ins."""
    missing = {"objects": context.objects_dir is None, "backgrounds": context.backgrounds_dir is None,
               "cifar": context.cifar_root is None}
    what = {"objects": "procedural objects (no --objects)", "backgrounds": "procedural backgrounds (no --backgrounds)",
            "cifar": "the CIFAR-10 stand-in (no --cifar-root)"}
    out = []
    for name in names:
        used = [what[d] for d in (FIGURES.get(name) or EXPERIMENTS[name]).DATA if missing[d]]
        if used:
            out.append(f"{name}: {', '.join(used)}")
    return out


def _check_data(names: Sequence[str], preset: str, context: Context, allow_standin: bool) -> None:
    problems = standin_problems(names, context)
    if preset == "paper" and problems and not allow_standin:
        raise InvalidParameterError(
            "The paper preset needs the paper's data, but would use " + "; ".join(problems) + ". Pass --objects DIR "
            "--backgrounds DIR (e.g. SI-score) and --cifar-root DIR, or --allow-standin to run on the stand-ins.")


def dry_run(figure: str, *, preset: str, seeds: Sequence[int] | None = None, archs: Sequence[str] | None = None,
            context: Context | None = None, amp: bool = False, compile: bool = False, fixed_split: bool = False,
            jobs: int = 1, data_cache: bool | None = None, throughput: str | None = None,
            width: float | None = None) -> str:
    """The report ``reproduce --dry-run`` prints: every figure's cells, image passes, GPU-hours and the peak disk,
    the data it would use; nothing runs. ``throughput``: measured rates, a gpu_check file or numbers (see
    :func:`invmeter.experiments.budget.resolve_rates`; default: the gpu_check file if there is one, else the stated
    assumption)."""
    context = context or Context()
    rates = resolve_rates(throughput, amp=amp, compile=compile, jobs=max(jobs, 1))
    planned = plan(figure, preset=preset, seeds=seeds, archs=archs, context=context, amp=amp, compile=compile,
                   fixed_split=fixed_split, width=width)
    cache = preset != "paper" if data_cache is None else data_cache
    b = budget({name: cells for name, (_, cells) in planned.items()}, throughput=rates.throughput, jobs=max(jobs, 1),
               data_cache=cache, packing=rates.packing)
    problems = standin_problems(list(planned), context)
    data = ("Data: the paper's sources are given." if not problems else
            "Data: " + "; ".join(problems) + (". The paper preset refuses to run on them without --allow-standin."
                                              if preset == "paper" else "."))
    flags = "".join(f" --{name.replace('_', '-')}" for name, on in (("amp", amp), ("compile", compile),
                                                                    ("fixed_split", fixed_split)) if on)
    flags += f" --width {width:g}" if width is not None else ""
    head = f"Dry run of `invmeter reproduce {figure} --preset {preset}{flags} --jobs {max(jobs, 1)}`: nothing was run."
    seeds = max((scale.seeds for scale, _ in planned.values()), key=len)
    return "\n\n".join([head, format_budget(b, rates=rates, seeds=seeds), data])


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
    amp: bool = False,
    compile: bool = False,
    fixed_split: bool = False,
    deterministic: bool = False,
    data_cache: bool | None = None,
    allow_standin: bool = False,
    cached_only: bool = False,
    width: float | None = None,
    log: Callable[[str], None] = lambda line: None,
) -> dict[str, list[Claim]]:
    """Run one figure (or ``"all"``) at a preset, writing each figure's outputs under ``out`` (``out/<fig>`` for
    ``"all"``); finished cells are reused, so an interrupted run resumes. Returns the judged claims per figure.

    Args:
        jobs: Cells run at once by the local executor (0 = auto: one per core on a CPU-only machine, one with a
            GPU; with a GPU, N > 1 share it, each bounded to 90% / N of its memory).
        amp: Train with bfloat16 autocast on a GPU (the paper: float32); recorded in every cell's provenance.
        compile: ``torch.compile`` every trained model on a GPU.
        fixed_split: Train and fit last layers on fixed splits, drawn once (the earlier protocol, whose committed
            results this reproduces) instead of drawing the transform parameters again every epoch (the paper's).
        deterministic: Deterministic cuDNN/cuBLAS kernels (see :mod:`invmeter.runner.settings`).
        data_cache: Keep rendered splits on disk (default: yes, except at the ``paper`` preset, whose splits would
            take about 80 GB; they are rendered in memory instead, the same bytes).
        allow_standin: Run the ``paper`` preset on procedural objects/backgrounds or the CIFAR-10 stand-in.
        cached_only: Run no cell: judge the claims and rewrite the outputs from the finished cells alone (a claim
            whose cells are missing is inconclusive). Re-judges an old run under new rules in seconds.
        width: Every CIFAR architecture at this channel width multiplier (1 = the paper's) instead of the preset's.
    """
    names = _names(figure)
    context = context or Context()
    planned = plan(figure, preset=preset, seeds=seeds, archs=archs, context=context, amp=amp, compile=compile,
                   fixed_split=fixed_split, width=width)  # checks every option
    if not cached_only:
        _check_data(names, preset, context, allow_standin)
    command = ("invmeter " + " ".join(shlex.quote(a) for a in sys.argv[1:])
               if sys.argv[0].endswith(("invmeter", "invmeter/__main__.py")) else "")
    jobs = resolve_jobs(jobs)
    settings = RunSettings.for_jobs(jobs, cell_threads(jobs), deterministic=deterministic, amp=amp,
                                    data_cache=preset != "paper" if data_cache is None else data_cache)
    results = {}
    finished: list[Path] = []  # the folders of this run's finished figures: their cells are shared (fig3's in fig4)
    with worker_pool(jobs) if jobs > 1 and executor == "local" else nullcontext() as pool:  # started once for all
        for name, (scale, cells) in planned.items():
            fig = FIGURES.get(name) or EXPERIMENTS[name]
            fig_out = Path(out) / name if figure == "all" else Path(out)
            log(f"{name} ({preset}): {fig.TITLE}")
            for source in [*finished, *_siblings(fig, name, fig_out)]:  # cells another figure finished: reused
                if source.is_dir() and source.resolve() != fig_out.resolve() and (
                        reused := adopt_cells(cells, source, fig_out)):
                    log(f"{name}: reusing {len(reused)} finished cells of {source}")
            records = run_cells(cells, fig_out, executor=executor, jobs=jobs, pool=pool, address=address,
                                gpus_per_cell=gpus_per_cell, settings=settings, cached_only=cached_only, log=log)
            notes = [*getattr(fig, "notes", lambda ctx: [])(context), data_sources(fig, context),
                     deviations(fig, preset, scale)]
            results[name] = write_outputs(fig_out, fig, preset, scale, cells, records, command, notes, log)
            finished.append(fig_out)
    return results


def _siblings(fig: Figure, name: str, fig_out: Path) -> list[Path]:
    """The folders beside ``fig_out`` of the figures whose cells ``fig`` shares (its ``REUSES``): ``<other>`` as
    ``reproduce all`` names them, and ``<other><suffix>`` when ``fig_out`` is ``<name><suffix>`` (``fig3-cpu``
    beside ``fig4-cpu``)."""
    suffix = fig_out.name[len(name):] if fig_out.name.startswith(name) else ""
    ends = dict.fromkeys(("", suffix))
    return [fig_out.parent / f"{other}{end}" for other in getattr(fig, "REUSES", ()) for end in ends]
