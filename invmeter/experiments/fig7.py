"""Figure 7: example test images of the irrelevant-feature analysis (Figures 3 and 4): from top to bottom CIFAR-10
only (X = C), CIFAR-10 with pasted objects (X = C + O) and objects only (X = O).

One cell renders the first test images of each dataset (the first seed's objects, as Figure 3 draws them) into a
grid per dataset; the figure stitches them into ``fig7.png`` with one labelled row each and writes the grids beside
it (``fig7_C.png``, ``fig7_C+O.png``, ``fig7_O.png``). There is nothing to train and no claim to check.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from invmeter.data.build import build_split
from invmeter.experiments.cells import dataset_from_config
from invmeter.experiments.common import Context, Scale
from invmeter.experiments.fig3 import background_name, core_datasets, notes, seed_objects
from invmeter.runner import Cell, cell_task
from invmeter.runner.settings import RunSettings

__all__ = ["NAME", "SCALES", "TITLE", "cells", "claims", "notes", "plot"]

NAME = "fig7"
TITLE = "Example test images: CIFAR-10 (C), CIFAR-10 with pasted objects (C + O), objects only (O)"
ROWS = {"C": "C", "C+O": "C+O|C", "O": "O"}  # the row's name: its dataset in Figure 3 (data|labels)
LABELS = {"C": "X = C (CIFAR-10 only)", "C+O": "X = C + O (pasted objects)", "O": "X = O (objects only)"}
ZOOM = 3  # each image pixel drawn as ZOOM x ZOOM pixels
GAP = 2  # pixels between images
LABEL_WIDTH = 170


def _scale(image_size: int, n: int) -> Scale:
    """Only ``n_test`` (images per row), ``n_classes`` (objects drawn), ``image_size`` and ``seeds`` are used."""
    return Scale(n_classes=10, n_train=n, n_val=n, n_test=n, n_ft_train=n, n_ft_test=n, epochs=1, batch_size=2,
                 width=1.0, seeds=(0,), archs=(), image_size=image_size)


SCALES = {"smoke": _scale(16, 10), "cpu": _scale(32, 10), "paper": _scale(32, 10)}  # n >= classes: balanced
DATA = ("objects", "cifar")
NEEDS_MATPLOTLIB = False  # the grids are drawn with Pillow
COMPARED = ("n_test", "image_size")  # the settings a summary compares with the paper preset's


def cells(scale: Scale, context: Context) -> list[Cell]:
    seed = scale.seeds[0]
    datasets = core_datasets(context, seed_objects(scale, context, seed), scale.image_size)
    return [Cell("examples", {"dataset": context.dataset(datasets[key]), "n": scale.n_test, "seed": seed},
                 label=f"seed {seed} examples of {row}",
                 meta={"seed": seed, "row": True, "dataset": row,
                       "backgrounds": "black" if row == "O" else background_name(context)})
            for row, key in ROWS.items()]


def _grid(images: np.ndarray, zoom: int = ZOOM) -> Image.Image:
    """uint8 images ``(N, 3, S, S)`` side by side, each enlarged ``zoom`` times (nearest neighbour)."""
    side = images.shape[-1] * zoom
    grid = Image.new("RGB", (len(images) * (side + GAP) - GAP, side), "white")
    for i, image in enumerate(images):
        tile = Image.fromarray(np.ascontiguousarray(image.transpose(1, 2, 0))).resize((side, side), Image.NEAREST)
        grid.paste(tile, (i * (side + GAP), 0))
    return grid


@cell_task("examples")
def examples_cell(config: dict[str, Any], deps: dict[str, dict[str, Any]], workdir: Path,
                  settings: RunSettings) -> dict[str, Any]:
    """The first ``config["n"]`` test images of ``config["dataset"]`` as one grid, ``examples.png`` in the cell's
    folder; returns its path (relative to the run's output folder) and the images' labels."""
    dataset = dataset_from_config(config["dataset"])
    split = build_split(dataset, "test", config["n"], config["seed"], cache=False)
    _grid(np.asarray(split.images)).save(workdir / "examples.png")
    names = dataset.class_names
    return {"grid": str((workdir / "examples.png").relative_to(workdir.parent.parent)),
            "labels": [names[int(k)] for k in split.labels]}


def claims(rows: list[dict[str, Any]], preset: str) -> list[Any]:
    """Figure 7 shows examples; it makes no claim."""
    return []


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    """``fig7.png``: the grids one above the other, each row labelled; and each grid as ``fig7_<row>.png``."""
    grids = {r["dataset"]: Image.open(path.parent / r["grid"]).convert("RGB") for r in rows}
    for name, grid in grids.items():
        grid.save(path.parent / f"{NAME}_{name}.png")
    width = LABEL_WIDTH + max(g.width for g in grids.values())
    figure = Image.new("RGB", (width, sum(g.height + GAP for g in grids.values()) + GAP), "white")
    draw, font = ImageDraw.Draw(figure), ImageFont.load_default()
    top = GAP
    for name, grid in grids.items():
        draw.text((4, top + grid.height // 2), LABELS[name], fill="black", font=font, anchor="lm")
        figure.paste(grid, (LABEL_WIDTH, top))
        top += grid.height + GAP
    figure.save(path)
