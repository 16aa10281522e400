"""Run-wide settings of the cells of an experiment run: what every cell's process applies before it runs and records
in its provenance. None of them is part of a cell's id: they change how a cell runs, not what it computes (the
numerical precision, which does change results, is the ``amp`` key of a training cell's config instead).
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from typing import Any

import torch

from invmeter._utils.validation import check_positive_int, check_range

__all__ = ["CUBLAS_WORKSPACE", "RunSettings", "use_deterministic"]

CUBLAS_WORKSPACE = ":4096:8"  # what cuBLAS needs to be deterministic (CUDA docs: "Results reproducibility")


def use_deterministic(enabled: bool) -> None:
    """Deterministic GPU kernels (or PyTorch's defaults again): cuDNN's deterministic algorithms without autotuning,
    PyTorch's deterministic implementations where they exist (a warning names any op that has none), and a fixed
    cuBLAS workspace (``CUBLAS_WORKSPACE_CONFIG``, read when cuBLAS starts: set it before the first CUDA matmul)."""
    if enabled:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", CUBLAS_WORKSPACE)
    torch.backends.cudnn.deterministic = enabled
    torch.backends.cudnn.benchmark = False
    torch.use_deterministic_algorithms(enabled, warn_only=True)


@dataclass(frozen=True)
class RunSettings:
    """How the cells of a run execute.

    Attributes:
        threads: CPU threads per cell (PyTorch's CPU results depend on it, so every executor uses the same count).
        deterministic: Deterministic cuDNN/cuBLAS kernels on a GPU (:func:`use_deterministic`); no effect on a CPU,
            where invmeter's kernels are deterministic for a given thread count.
        gpu_memory: Fraction of the GPU's memory one cell's process may allocate, when several cells share a GPU
            (``None``: no bound).
        data_cache: Keep rendered splits in the on-disk cache (``False``: render them in memory for each cell; they
            are a pure function of their spec, so the numbers are the same).
        amp: The run trains with bfloat16 autocast on a GPU (``--amp``). Recorded here for every cell; training
            cells also carry it in their config, so AMP and float32 models never share a cell id.
    """

    threads: int = 1
    deterministic: bool = False
    gpu_memory: float | None = None
    data_cache: bool = True
    amp: bool = False

    def __post_init__(self) -> None:
        check_positive_int("threads", self.threads)
        if self.gpu_memory is not None:
            check_range("gpu_memory", self.gpu_memory, 0.01, 1.0, "RunSettings")

    @classmethod
    def for_jobs(cls, jobs: int, threads: int, **options: Any) -> RunSettings:
        """Settings for ``jobs`` cells at once: on a machine with a GPU they share it, each bounded to 90% / jobs of
        its memory (the rest is CUDA's own per-process overhead and slack). ``options``: the other fields."""
        share = 0.9 / jobs if jobs > 1 and torch.cuda.is_available() else None
        return cls(threads=threads, gpu_memory=share, **options)

    def apply(self) -> None:
        """Apply to this process (a cell's worker, or the run itself with one job)."""
        torch.set_num_threads(self.threads)
        if torch.cuda.is_available():
            use_deterministic(self.deterministic)
            if self.gpu_memory is not None:
                torch.cuda.set_per_process_memory_fraction(self.gpu_memory)

    def provenance(self) -> dict[str, Any]:
        """The settings and the device a cell ran on, for its record."""
        device = f"cuda ({torch.cuda.get_device_name()})" if torch.cuda.is_available() else "cpu"
        return {**asdict(self), "device": device}
