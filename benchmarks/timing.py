"""What the timing scripts share: alternating repeats, the ratio they report, its line against a limit, and a
process's peak resident memory."""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Mapping


def alternating(runs: Mapping[str, Callable[[], float]], repeats: int) -> dict[str, list[float]]:
    """Seconds of each run (each callable returns its own) over ``repeats`` rounds; within a round the runs take
    turns, so that all of them see the same machine."""
    seconds: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            seconds[name].append(run())
    return seconds


def paired_ratio(timed: list[float], base: list[float]) -> float:
    """The median of the rounds' ratios ``timed / base``: each round's pair ran back to back, so the ratio cancels
    the shared machine's drift between rounds (the ratio of the two medians does not)."""
    return statistics.median(t / b for t, b in zip(timed, base, strict=True))


def against(value: float, limit: float, digits: int = 3) -> str:
    """``'1.031 <= limit 1.1'``: a measured value beside its upper limit."""
    return f"{value:.{digits}f} {'<=' if value <= limit else '>'} limit {limit}"


def vm_hwm_mib(pid: int | str = "self") -> float:
    """A process's peak resident memory so far (``VmHWM`` of ``/proc/PID/status``, MiB): its own address space,
    unlike ``ru_maxrss``, which carries the launching process's peak over fork and exec; NaN where it cannot be read
    (no ``/proc``, or the process has exited)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return math.nan
