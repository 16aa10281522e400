"""Training curves (the ``plot`` extra): accuracy and tracked invariance per epoch (``invmeter train --plot``)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from invmeter.report.plots import save, subplots

__all__ = ["history_figure", "plot_history"]


def plot_history(history: Sequence[dict[str, float]], path: str | Path, *, title: str = "") -> Path:
    """Save :func:`history_figure` of ``history`` to ``path``."""
    return save(history_figure(history, title=title), path)


def history_figure(history: Sequence[dict[str, float]], *, title: str = "") -> Any:
    """The curves of a run's ``history`` (``TrainResult.history`` or ``model.json``'s), a figure a notebook shows:
    validation and training accuracy with the invariance of every tracked transform on the left, their
    ``l2_ratio`` on the right (one panel without tracking). An epoch that did not track a transform (a resumed run)
    leaves a gap."""
    tracked = list(dict.fromkeys(k.split("/", 1)[1] for row in history for k in row if k.startswith("invariance/")))
    fig, axes = subplots(1, 2 if tracked else 1, figsize=(11 if tracked else 6, 4), squeeze=False)
    left = axes[0][0]
    epochs = [row["epoch"] for row in history]

    def column(key: str) -> list[float]:
        return [row.get(key, float("nan")) for row in history]

    left.plot(epochs, column("val_accuracy"), marker="o", color="black", label="val accuracy")
    left.plot(epochs, column("train_accuracy"), ls="--", color="grey", label="train accuracy")
    for spec in tracked:
        left.plot(epochs, column(f"invariance/{spec}"), marker="o", label=f"invariance: {spec}")
    left.set_ylabel("accuracy / invariance" if tracked else "accuracy")
    if tracked:
        right = axes[0][1]
        for spec in tracked:
            right.plot(epochs, column(f"l2_ratio/{spec}"), marker="o", label=spec)
        right.set_ylabel("l2_ratio (between / within class)")
        right.set_title("class separation of transformed views", fontsize=10)
    from matplotlib.ticker import MaxNLocator

    for ax in axes[0]:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    left.set_title(title or "accuracy and invariance per epoch", fontsize=10)
    return fig
