"""What the timing scripts share: alternating repeats, the ratio they report, and its line against a limit."""

from __future__ import annotations

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
