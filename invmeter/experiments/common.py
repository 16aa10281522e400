"""What every figure shares: preset scales, run context, the cells figures are built from, and row averages."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from invmeter._utils.validation import check_range, check_seeds
from invmeter.data.pasted import PastedObjects
from invmeter.data.transforms2d import Transforms2D
from invmeter.errors import InvalidParameterError
from invmeter.experiments.cells import dataset_config
from invmeter.models.cifar import CIFAR_ARCHS
from invmeter.runner import Cell
from invmeter.training.finetune import FT_BATCH, PAPER_FT_STEPS
from invmeter.training.loop import resolve_arch
from invmeter.transforms import PAPER_FAMILIES

__all__ = [
    "PAPER_FT_STEPS", "PRESETS", "Context", "Figure", "Scale", "l2_cell", "mean_by", "pair_cell", "redrawn",
    "scale_for", "train_cell", "transfer_cell",
]

PRESETS = ("smoke", "cpu", "paper")


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
        amp: Train with bfloat16 autocast on a GPU (``--amp``; the paper trained in float32). Part of a training
            cell's config only when on, so float32 cells keep their ids.
        compile: ``torch.compile`` the model of every training cell on a GPU (``--compile``); like ``amp``, in a
            training cell's config only when on.
        redraw: The paper's protocol: Transforms-2D training data draw their transform parameters again every epoch,
            and the last layer is fit on ``ft_draws`` draws of the target's training scenes
            (:mod:`invmeter.data.redraw`). ``False`` (``--fixed-split``): fixed splits, drawn once (invmeter's
            earlier protocol; its cells keep their ids, so its committed results reproduce).
        ft_draws: Draws of the target's training scenes the last layer is fit on (with ``redraw``); the last-layer
            steps (``ft_steps``, or ``ft_epochs`` passes) are spread over all of them.
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
    amp: bool = False
    compile: bool = False
    redraw: bool = True
    ft_draws: int = 1

    def width_of(self, arch: str) -> float:
        """The channel multiplier ``arch`` trains at."""
        return self.widths.get(arch, self.width)


@dataclass(frozen=True)
class Context:
    """Run-wide options that shape the cells: data sources and the CIFAR-10 folder."""

    objects_dir: str | None = None
    backgrounds_dir: str | None = None
    cifar_root: str | None = None

    def dataset(self, ds: Transforms2D | PastedObjects) -> dict[str, Any]:
        return dataset_config(ds, objects_dir=self.objects_dir, backgrounds_dir=self.backgrounds_dir)


class Figure(Protocol):
    """A figure module: its presets, its cells, its table rows, its claims (checked on any set of rows: one seed's or
    all of them; see :mod:`invmeter.experiments.claims`) and its plot. ``DATA`` names the sources its images come
    from (``objects``, ``backgrounds``, ``cifar``); optional: ``DEVIATIONS`` (``{preset: [notes]}``, how a preset
    departs from the paper beyond its sizes), ``COMPARED`` (the :class:`Scale` fields its summary compares with the
    paper preset's), ``notes(context)`` and ``NEEDS_MATPLOTLIB``."""

    NAME: str
    TITLE: str
    SCALES: dict[str, Scale]
    DATA: tuple[str, ...]

    def cells(self, scale: Scale, context: Context) -> list[Cell]: ...

    def claims(self, rows: list[dict[str, Any]], preset: str) -> list[Any]: ...

    def plot(self, rows: list[dict[str, Any]], path: Path) -> None: ...


def redrawn(dataset: dict[str, Any]) -> bool:
    """Whether a dataset config has transform parameters to draw again (Transforms-2D with transforms)."""
    return dataset.get("kind") != "pasted" and bool(dataset.get("transforms") or any(dataset.get("class_transforms")
                                                                                      or ()))


def train_cell(scale: Scale, arch: str, dataset: dict[str, Any], seed: int, label: str, **meta: Any) -> Cell:
    """Pretrain ``arch`` on ``dataset`` at the preset's sizes. Switches that change the numbers (``amp``,
    ``compile``, ``redraw``) are part of the config only when on, so cells without them keep their ids."""
    config = {
        "arch": arch, "width": scale.width_of(arch), "dataset": dataset, "n_train": scale.n_train, "n_val": scale.n_val,
        "n_test": scale.n_test, "epochs": scale.epochs, "batch_size": scale.batch_size, "lr": scale.lr, "seed": seed,
    }
    for switch, on in (("amp", scale.amp), ("compile", scale.compile), ("redraw", scale.redraw and redrawn(dataset))):
        if on:
            config[switch] = True
    return Cell("train", config, label=label, meta={"seed": seed, "arch": arch, **meta})


def transfer_cell(scale: Scale, model: Cell, dataset: dict[str, Any], seed: int, label: str, **meta: Any) -> Cell:
    """Fit ``model``'s last layer on ``dataset`` (on ``ft_draws`` draws of its training scenes when the preset
    redraws) and score it (the row of a transfer table)."""
    draws = scale.ft_draws if scale.redraw and redrawn(dataset) else 1
    epochs = math.ceil(scale.ft_epochs / draws)
    if scale.ft_steps is not None:
        epochs = math.ceil(scale.ft_steps / math.ceil(draws * scale.n_ft_train / FT_BATCH))
    config = {"target": dataset, "n_train": scale.n_ft_train, "n_test": scale.n_ft_test, "epochs": epochs, "seed": seed}
    if draws > 1:
        config["draws"] = draws
    return Cell("transfer", config, deps={"model": model}, label=label, meta={**model.meta, **meta, "row": True})


def l2_cell(scale: Scale, model: Cell | None, arch: str, dataset: dict[str, Any], seed: int, label: str,
            **meta: Any) -> Cell:
    """The l2 between/within-class ratio of ``model`` (or of ``arch`` at random init) on ``dataset``'s test split."""
    config = {"target": dataset, "n_test": scale.n_ft_test, "seed": seed, "arch": arch, "width": scale.width_of(arch)}
    deps = {"model": model} if model is not None else {}
    base = model.meta if model is not None else {"seed": seed, "arch": arch}
    return Cell("l2", config, deps=deps, label=label, meta={**base, **meta, "row": True})


def pair_cell(scale: Scale, model: Cell | None, arch: str, dataset: dict[str, Any], seed: int, label: str,
              **meta: Any) -> Cell:
    """The paired-distance ratio of ``model`` (or of ``arch`` at random init) on ``dataset``'s test scenes
    (:mod:`invmeter.experiments.pairs`), on as many pairs as the preset scores transfers on."""
    config = {"target": dataset, "n": scale.n_ft_test, "seed": seed, "arch": arch, "width": scale.width_of(arch)}
    deps = {"model": model} if model is not None else {}
    base = model.meta if model is not None else {"seed": seed, "arch": arch}
    return Cell("paired_distance", config, deps=deps, label=label, meta={**base, **meta, "row": True})


def mean_by(rows: Sequence[dict[str, Any]], keys: Sequence[str], value: str = "accuracy") -> dict[tuple, tuple[float, float, int]]:
    """``{(row[k] for k in keys): (mean, std, n)}`` of ``value`` over the rows."""
    groups: dict[tuple, list[float]] = {}
    for row in rows:
        groups.setdefault(tuple(row[k] for k in keys), []).append(float(row[value]))
    return {k: (float(np.mean(v)), float(np.std(v, ddof=1)) if len(v) > 1 else 0.0, len(v)) for k, v in groups.items()}


def scale_for(figure: Figure, preset: str, seeds: Sequence[int] | None, archs: Sequence[str] | None,
              amp: bool = False, *, compile: bool = False, fixed_split: bool = False,
              width: float | None = None) -> Scale:
    """The figure's preset, with ``seeds``/``archs``/``width`` overridden when given (distinct non-negative seeds;
    CIFAR architectures that can run on the preset's image size; one width multiplier for every architecture), ``amp``
    and ``compile`` switched on when asked, and with ``fixed_split`` the fixed-split protocol instead of transforms
    drawn again every epoch."""
    if preset not in figure.SCALES:
        raise InvalidParameterError(f"Unknown preset {preset!r}; use one of {', '.join(figure.SCALES)}.")
    scale = figure.SCALES[preset]
    if seeds is not None:
        scale = replace(scale, seeds=check_seeds(seeds))
    if width is not None:
        check_range("width", width, 0.03, 4.0, "reproduce")  # as TrainConfig's
        scale = replace(scale, width=float(width), widths={})
    if fixed_split:  # the earlier protocol, with the families, seeds and width it ran (a figure's FIXED_SPLIT_*)
        scale = replace(scale, redraw=False, families=getattr(figure, "FIXED_SPLIT_FAMILIES", scale.families))
        if seeds is None:
            scale = replace(scale, seeds=getattr(figure, "FIXED_SPLIT_SEEDS", {}).get(preset, scale.seeds))
        if width is None:
            scale = replace(scale, width=getattr(figure, "FIXED_SPLIT_WIDTHS", {}).get(preset, scale.width))
    if archs:
        scale = replace(scale, archs=tuple(resolve_arch(a if ":" in a else f"cifar:{a}") for a in archs))
    for arch in scale.archs:
        if not arch.startswith("cifar:") and scale.width_of(arch) != 1.0:  # timm builds a model at its own width
            raise InvalidParameterError(f"{arch} has no channel multiplier but the {preset} preset of {figure.NAME} "
                                        f"trains at width {scale.width_of(arch):g}; add --width 1 (every "
                                        "architecture at the paper's width) or choose a CIFAR architecture.")
        minimum = getattr(CIFAR_ARCHS.get(arch.removeprefix("cifar:")), "MIN_SIZE", 1) if arch.startswith("cifar:") else 1
        if scale.image_size < minimum:
            raise InvalidParameterError(f"{arch} needs images of at least {minimum} pixels; the {preset} preset of "
                                        f"{figure.NAME} renders {scale.image_size}. Choose another architecture or preset.")
    return replace(scale, amp=scale.amp or amp, compile=scale.compile or compile)
