"""What every figure shares: preset scales, claims, and the outputs (results.json/csv, plot, summary.md)."""

from __future__ import annotations

import csv
import io
import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from invmeter._io import atomic_write
from invmeter._versions import versions
from invmeter.data.pasted import PastedObjects
from invmeter.data.transforms2d import Transforms2D
from invmeter.errors import InvalidParameterError
from invmeter.experiments.cells import dataset_config
from invmeter.runner import Cell
from invmeter.transforms import PAPER_FAMILIES

__all__ = ["PAPER_FT_STEPS", "PRESETS", "Claim", "Context", "Figure", "Scale", "l2_cell", "mean_by", "train_cell", "transfer_cell", "write_outputs"]

PRESETS = ("smoke", "cpu", "paper")
FT_BATCH = 512  # the paper's last-layer batch size
PAPER_FT_STEPS = 25 * math.ceil(50_000 / FT_BATCH)  # the paper's last-layer fit: 25 epochs of 50k images = 2,450 steps


@dataclass(frozen=True)
class Scale:
    """The sizes of one preset of one figure.

    Attributes:
        n_classes: Objects (classes) per object set.
        n_train: Pretraining images (the validation and test splits are ``n_val``/``n_test``).
        n_ft_train: Target images the last layer is fit on; ``n_ft_test`` are scored.
        epochs: Pretraining epochs; ``ft_epochs``: last-layer epochs (the paper: 25).
        ft_steps: Instead of ``ft_epochs``: the number of last-layer Adam steps (batch 512), spread over as many
            epochs as it takes. Presets on fewer images use the paper's own count, :data:`PAPER_FT_STEPS`, so the
            last layer is as well fit as in the paper (25 epochs of 2 steps would leave it at chance).
        width: Channel multiplier of the CIFAR architectures (1 = the paper's).
        widths: Per-architecture multipliers that replace ``width``, e.g. ``{"cifar:densenet121": 0.5}``.
        seeds: Repetitions (each re-samples objects, transforms, data and initialisation).
        archs: Architectures, e.g. ``("cifar:resnet18",)``.
        families: Transform families the figure draws from (default: the paper's 8).
    """

    n_classes: int
    n_train: int
    n_val: int
    n_test: int
    n_ft_train: int
    n_ft_test: int
    epochs: int
    batch_size: int
    width: float
    seeds: tuple[int, ...]
    archs: tuple[str, ...]
    ft_epochs: int = 25
    ft_steps: int | None = None
    lr: float = 1e-3
    image_size: int = 32
    families: tuple[str, ...] = PAPER_FAMILIES
    widths: dict[str, float] = field(default_factory=dict)

    def width_of(self, arch: str) -> float:
        """The channel multiplier ``arch`` trains at."""
        return self.widths.get(arch, self.width)


@dataclass(frozen=True)
class Claim:
    """One of the paper's claims, checked on the measured numbers."""

    id: str
    text: str
    measured: dict[str, Any]
    holds: bool


@dataclass(frozen=True)
class Context:
    """Run-wide options that shape the cells: data sources and the CIFAR-10 folder."""

    objects_dir: str | None = None
    backgrounds_dir: str | None = None
    cifar_root: str | None = None

    def dataset(self, ds: Transforms2D | PastedObjects) -> dict[str, Any]:
        return dataset_config(ds, objects_dir=self.objects_dir, backgrounds_dir=self.backgrounds_dir)


class Figure(Protocol):
    """A figure module: its presets, its cells, its table rows, its claims and its plot."""

    NAME: str
    TITLE: str
    SCALES: dict[str, Scale]

    def cells(self, scale: Scale, context: Context) -> list[Cell]: ...

    def claims(self, rows: list[dict[str, Any]], preset: str) -> list[Claim]: ...

    def plot(self, rows: list[dict[str, Any]], path: Path) -> None: ...


def train_cell(scale: Scale, arch: str, dataset: dict[str, Any], seed: int, label: str, **meta: Any) -> Cell:
    """Pretrain ``arch`` on ``dataset`` at the preset's sizes."""
    config = {
        "arch": arch, "width": scale.width_of(arch), "dataset": dataset, "n_train": scale.n_train, "n_val": scale.n_val,
        "n_test": scale.n_test, "epochs": scale.epochs, "batch_size": scale.batch_size, "lr": scale.lr, "seed": seed,
    }
    return Cell("train", config, label=label, meta={"seed": seed, "arch": arch, **meta})


def transfer_cell(scale: Scale, model: Cell, dataset: dict[str, Any], seed: int, label: str, **meta: Any) -> Cell:
    """Fit ``model``'s last layer on ``dataset`` and score it (the row of a transfer table)."""
    epochs = scale.ft_epochs
    if scale.ft_steps is not None:
        epochs = math.ceil(scale.ft_steps / math.ceil(scale.n_ft_train / FT_BATCH))
    config = {"target": dataset, "n_train": scale.n_ft_train, "n_test": scale.n_ft_test, "epochs": epochs, "seed": seed}
    return Cell("transfer", config, deps={"model": model}, label=label, meta={**model.meta, **meta, "row": True})


def l2_cell(scale: Scale, model: Cell | None, arch: str, dataset: dict[str, Any], seed: int, label: str,
            **meta: Any) -> Cell:
    """The l2 between/within-class ratio of ``model`` (or of ``arch`` at random init) on ``dataset``'s test split."""
    config = {"target": dataset, "n_test": scale.n_ft_test, "seed": seed, "arch": arch, "width": scale.width_of(arch)}
    deps = {"model": model} if model is not None else {}
    base = model.meta if model is not None else {"seed": seed, "arch": arch}
    return Cell("l2", config, deps=deps, label=label, meta={**base, **meta, "row": True})


def mean_by(rows: Sequence[dict[str, Any]], keys: Sequence[str], value: str = "accuracy") -> dict[tuple, tuple[float, float, int]]:
    """``{(row[k] for k in keys): (mean, std, n)}`` of ``value`` over the rows."""
    groups: dict[tuple, list[float]] = {}
    for row in rows:
        groups.setdefault(tuple(row[k] for k in keys), []).append(float(row[value]))
    return {k: (float(np.mean(v)), float(np.std(v, ddof=1)) if len(v) > 1 else 0.0, len(v)) for k, v in groups.items()}


def scale_for(figure: Figure, preset: str, seeds: Sequence[int] | None, archs: Sequence[str] | None) -> Scale:
    """The figure's preset, with ``seeds``/``archs`` overridden when given."""
    if preset not in figure.SCALES:
        raise InvalidParameterError(f"Unknown preset {preset!r}; use one of {', '.join(figure.SCALES)}.")
    scale = figure.SCALES[preset]
    if seeds:
        scale = replace(scale, seeds=tuple(int(s) for s in seeds))
    if archs:
        scale = replace(scale, archs=tuple(a if ":" in a else f"cifar:{a}" for a in archs))
    return scale


def _csv(rows: list[dict[str, Any]]) -> str:
    columns = list(dict.fromkeys(k for row in rows for k in row))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def _summary(figure: Figure, preset: str, scale: Scale, claims: list[Claim], command: str, notes: list[str]) -> str:
    lines = [f"# {figure.NAME}: {figure.TITLE}", "", f"Preset `{preset}`: {json.dumps(asdict(scale))}", "",
             f"Command: `{command}`", ""]
    lines += [f"> {note}" for note in notes] + ([""] if notes else [])
    lines += ["| claim | measured | holds |", "| --- | --- | --- |"]
    for claim in claims:
        measured = "; ".join(f"{k}: {_fmt(v)}" for k, v in claim.measured.items())
        lines.append(f"| **{claim.id}** {claim.text} | {measured} | {'✔' if claim.holds else '✘'} |")
    held = sum(c.holds for c in claims)
    lines += ["", f"{held} of {len(claims)} claims hold.", "",
              "Every number is in `results.json` (with each cell's config and provenance) and `results.csv`."]
    return "\n".join(lines) + "\n"


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    if isinstance(value, dict):
        return ", ".join(f"{k}={_fmt(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_fmt(v) for v in value) + "]"
    return str(value)


def write_outputs(
    out: Path,
    figure: Figure,
    preset: str,
    scale: Scale,
    cells: list[Cell],
    records: dict[str, dict[str, Any]],
    command: str,
    notes: list[str],
    log: Callable[[str], None],
) -> list[Claim]:
    """Write results.json, results.csv, summary.md and (with matplotlib) the figure; return the claims."""
    rows = [{**c.meta, **records[c.id]["result"], "cell": c.id} for c in cells if c.meta.get("row")]
    for row in rows:
        row.pop("row", None)
    claims = figure.claims(rows, preset)
    payload = {
        "figure": figure.NAME, "title": figure.TITLE, "preset": preset, "scale": asdict(scale), "command": command,
        "notes": notes, "claims": [asdict(c) for c in claims], "rows": rows,
        "cells": list(records.values()), "provenance": {"versions": versions(), "written": time.strftime("%Y-%m-%dT%H:%M:%S")},
    }
    atomic_write(out / "results.json", lambda tmp: tmp.write_text(json.dumps(payload, indent=1, default=str)))
    atomic_write(out / "results.csv", lambda tmp: tmp.write_text(_csv(rows)))
    atomic_write(out / "summary.md", lambda tmp: tmp.write_text(_summary(figure, preset, scale, claims, command, notes)))
    try:
        import matplotlib  # noqa: F401 - the plot extra is optional
    except ImportError:
        log("matplotlib is not installed: no plot (pip install 'invmeter[plot]')")
    else:
        figure.plot(rows, out / f"{figure.NAME}.png")
    return claims
