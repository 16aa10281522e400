"""What a reproduction costs before it runs (``reproduce --dry-run``): cells, image passes, GPU-hours, peak disk.

GPU time is estimated from one throughput figure: training images per second of a width-1 CIFAR ResNet-18 at 32 px
(batch 512, float32), either measured (``benchmarks/gpu_check.sh`` prints it; pass it as ``throughput``) or the
stated assumption :data:`ASSUMED_THROUGHPUT`. Other architectures, widths and image sizes scale by their forward
FLOPs per image (counted on a meta-device model, so nothing is allocated), unless a throughput is given
for the architecture itself; inference passes (validation, feature extraction) run at :data:`INFERENCE_SPEEDUP`
times the training rate (a forward pass is about a third of a training step's FLOPs).
"""

from __future__ import annotations

import functools
import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from invmeter.errors import InvalidParameterError
from invmeter.runner import Cell

__all__ = ["ASSUMED_THROUGHPUT", "Budget", "FigureBudget", "budget", "format_budget", "parse_throughput"]

ASSUMED_THROUGHPUT = 15_000.0  # img/s, width-1 ResNet-18 training at 32 px, float32: NOT measured (see docs)
THROUGHPUT_SOURCE = ("assumed for one H200-class GPU, not measured: about 2x an A100's ~7,500 img/s for this model "
                     "in float32/TF32; measure it with benchmarks/gpu_check.sh and pass --throughput")
INFERENCE_SPEEDUP = 3.0
BYTES_PER_PARAMETER = 4  # float32 weights
STATE_COPIES = 3  # a resumable training state holds the weights and Adam's two moments
RECORD_BYTES = 8 * 1024  # a cell record (one 4 KiB block) plus its share of results.json, rounded up
GOAL_HOURS = 8.0  # the goal for the whole paper preset on one H200-class GPU


@functools.cache
def _model_size(arch: str, width: float, image_size: int, n_classes: int) -> tuple[int, float]:
    """(parameters, forward FLOPs per image) of ``arch`` at ``width``: the multiply-adds of its convolutions and
    linear layers, x 2 (what ``torch.utils.flop_counter`` counts, without importing the compiler it pulls in), on
    a meta-device model: nothing is allocated or computed."""
    import torch
    from torch import nn

    from invmeter.models.checkpoint import build_architecture

    flops = []

    def count(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        if isinstance(module, nn.Conv2d):
            kernel = module.in_channels // module.groups * module.kernel_size[0] * module.kernel_size[1]
            flops.append(2 * output.numel() * kernel)
        elif isinstance(module, nn.Linear):
            flops.append(2 * output.numel() * module.in_features)

    with torch.device("meta"):
        model = build_architecture(arch, num_classes=n_classes, width=width)
        hooks = [m.register_forward_hook(count) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
        model(torch.empty(1, 3, image_size, image_size))
    for hook in hooks:
        hook.remove()
    return sum(p.numel() for p in model.parameters()), float(sum(flops))


def parse_throughput(text: str | None) -> dict[str, float]:
    """``"15000"`` (a width-1 ResNet-18) or ``"resnet18=15000,vgg11=40000"`` (per architecture) -> ``{arch: img/s}``
    with bare architecture names; ``None`` -> the assumed figure."""
    if text is None:
        return {"resnet18": ASSUMED_THROUGHPUT}
    out = {}
    for item in filter(None, (i.strip() for i in text.split(","))):
        name, _, value = item.rpartition("=")
        try:
            rate = float(value)
        except ValueError:
            rate = float("nan")
        if not rate > 0:
            raise InvalidParameterError(f"--throughput takes images per second, e.g. 15000 or resnet18=15000,"
                                        f"vgg11=40000. Got {text!r}.")
        out[(name or "resnet18").removeprefix("cifar:")] = rate
    if "resnet18" not in out:
        raise InvalidParameterError("--throughput needs the ResNet-18 figure (the others scale from it), e.g. "
                                    "resnet18=15000,vgg11=40000.")
    return out


@dataclass
class FigureBudget:
    """One figure's cells and their cost. Image counts are images (not batches); ``gpu_seconds`` at the given
    throughputs; ``weights_bytes``: the final weights its training cells keep."""

    name: str
    cells: Counter = field(default_factory=Counter)
    train_images: int = 0
    inference_images: int = 0
    rendered_images: int = 0
    gpu_seconds: float = 0.0
    weights_bytes: int = 0
    state_bytes: int = 0  # the largest resumable training state of one of its cells
    splits: dict[str, int] = field(default_factory=dict)  # distinct rendered splits -> bytes, if they were cached


@dataclass
class Budget:
    """Every figure's budget and the run's totals."""

    figures: list[FigureBudget]
    throughput: dict[str, float]
    jobs: int
    data_cache: bool

    @property
    def gpu_hours(self) -> float:
        return sum(f.gpu_seconds for f in self.figures) / 3600

    @property
    def train_images(self) -> int:
        return sum(f.train_images for f in self.figures)

    @property
    def cache_bytes(self) -> int:
        splits: dict[str, int] = {}
        for f in self.figures:
            splits.update(f.splits)
        return sum(splits.values()) if self.data_cache else 0

    @property
    def peak_disk_bytes(self) -> int:
        """Final weights of every training cell, the resumable states of ``jobs`` training cells in flight, the
        data cache (if on) and the cell records: nothing is deleted that a later cell may need."""
        weights = sum(f.weights_bytes for f in self.figures)
        states = self.jobs * max((f.state_bytes for f in self.figures), default=0)
        records = RECORD_BYTES * sum(sum(f.cells.values()) for f in self.figures)
        return weights + states + self.cache_bytes + records


class _Costs:
    """Seconds per training and inference image of each (architecture, width, size, classes)."""

    def __init__(self, throughput: dict[str, float]) -> None:
        self.throughput = throughput
        self.reference = _model_size("cifar:resnet18", 1.0, 32, 10)[1]

    def seconds_per_image(self, arch: str, width: float, size: int, classes: int) -> float:
        flops = _model_size(arch, width, size, classes)[1]
        name = arch.removeprefix("cifar:")
        if name in self.throughput and width == 1.0 and size == 32:
            return 1.0 / self.throughput[name]
        return flops / self.reference / self.throughput["resnet18"]


def _model_of(cell: Cell) -> tuple[str, float, int, int]:
    """(arch, width, image size, classes) of the network a cell runs."""
    from invmeter.experiments.outputs import _n_classes

    train = cell.deps["model"].config if "model" in cell.deps else None
    if cell.task == "train":
        train = cell.config
    if train is not None:
        return train["arch"], train["width"], train["dataset"].get("image_size", 32), _n_classes(train["dataset"])
    target = cell.config["target"]
    return cell.config["arch"], cell.config["width"], target.get("image_size", 32), _n_classes(target)


def _add(fb: FigureBudget, cell: Cell, costs: _Costs) -> None:
    """Count ``cell``: training and inference image passes, images rendered, GPU time, weights and splits."""
    c, task = cell.config, cell.task
    fb.cells[task] += 1
    if task == "examples":
        fb.rendered_images += c["n"]
        return
    arch, width, size, classes = _model_of(cell)
    if task == "train":
        sizes = {"train": c["n_train"], "val": c["n_val"], "test": c["n_test"]}
        train, infer, dataset = c["n_train"] * c["epochs"], c["n_val"] * c["epochs"] + c["n_test"], c["dataset"]
        params = _model_size(arch, width, size, classes)[0] * BYTES_PER_PARAMETER
        fb.weights_bytes += params
        fb.state_bytes = max(fb.state_bytes, STATE_COPIES * params)
    elif task == "transfer":
        sizes, dataset = {"train": c["n_train"], "test": c["n_test"]}, c["target"]
        train, infer = 0, c["n_train"] + c["n_test"]
    elif task == "l2":
        sizes, dataset = {"test": c["n_test"]}, c["target"]
        train, infer = 0, c["n_test"]
    elif task == "estimate":  # invmeter.select on the target's training split: clean views and one per nuisance
        sizes, dataset = {"train": c["n_train"]}, c["target"]
        train, infer = 0, c["n_train"] * (1 + len(c["nuisances"]))
    elif task == "paired_distance":
        sizes, dataset = {}, c["target"]
        train, infer = 0, 2 * c["n"]
        fb.rendered_images += 2 * c["n"]
    else:
        raise InvalidParameterError(f"No cost model for cells of task {task!r}; this is a bug in the figure.")
    fb.train_images += train
    fb.inference_images += infer
    fb.rendered_images += sum(sizes.values())
    fb.gpu_seconds += costs.seconds_per_image(arch, width, size, classes) * (train + infer / INFERENCE_SPEEDUP)
    for split, n in sizes.items():
        key = json.dumps([dataset, split, n, c["seed"]], sort_keys=True)
        fb.splits[key] = n * (3 * size * size + 8)  # uint8 images + int64 labels


def budget(figures: dict[str, Sequence[Cell]], *, throughput: dict[str, float], jobs: int,
           data_cache: bool) -> Budget:
    """The cost of running ``{figure name: cells}``, ``jobs`` cells at a time."""
    costs = _Costs(throughput)
    out = []
    for name, cells in figures.items():
        fb = FigureBudget(name)
        for cell in _unique(cells):
            _add(fb, cell, costs)
        out.append(fb)
    return Budget(out, throughput, max(jobs, 1), data_cache)


def _unique(cells: Sequence[Cell]) -> list[Cell]:
    """Every cell and its dependencies, each once."""
    seen: dict[str, Cell] = {}
    stack = list(cells)
    while stack:
        cell = stack.pop()
        if cell.id not in seen:
            seen[cell.id] = cell
            stack.extend(cell.deps.values())
    return list(seen.values())


def _n(value: float) -> str:
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if value >= size:
            return f"{value / size:.2f} {unit}"
    return f"{value:.0f}"


def _gb(value: float) -> str:
    return f"{value / 1e9:.1f} GB"


def format_budget(b: Budget, *, measured: bool) -> str:
    """The dry run's report: a table per figure, the totals, the throughput it assumed and the peak disk."""
    tasks = ("train", "transfer", "l2", "paired_distance", "examples")
    if any(f.cells["estimate"] for f in b.figures):  # invmeter.select's cells (reproduce selection)
        tasks += ("estimate",)
    head = (f"| figure | cells ({' / '.join(t.removesuffix('_distance') for t in tasks)}) | training image passes | "
            "inference image passes | images rendered (CPU) | GPU-hours | final weights |")
    lines = [head, "| --- | --- | --- | --- | --- | --- | --- |"]
    for f in b.figures:
        lines.append(f"| {f.name} | {' / '.join(str(f.cells[t]) for t in tasks)} | {_n(f.train_images)} | "
                     f"{_n(f.inference_images)} | {_n(f.rendered_images)} | {f.gpu_seconds / 3600:.2f} | "
                     f"{_gb(f.weights_bytes)} |")
    total = FigureBudget("total")
    for f in b.figures:
        total.cells.update(f.cells)
        total.train_images += f.train_images
        total.inference_images += f.inference_images
        total.rendered_images += f.rendered_images
        total.gpu_seconds += f.gpu_seconds
        total.weights_bytes += f.weights_bytes
    lines.append(f"| **total** | {' / '.join(str(total.cells[t]) for t in tasks)} | {_n(total.train_images)} | "
                 f"{_n(total.inference_images)} | {_n(total.rendered_images)} | **{b.gpu_hours:.1f}** | "
                 f"{_gb(total.weights_bytes)} |")
    rates = ", ".join(f"{k} {v:,.0f} img/s" for k, v in b.throughput.items())
    source = "measured (--throughput)" if measured else THROUGHPUT_SOURCE
    factor = b.gpu_hours / GOAL_HOURS
    states = b.jobs * max((f.state_bytes for f in b.figures), default=0)
    cache = (f"{_gb(b.cache_bytes)} data cache" if b.data_cache else
             "no data cache (splits are rendered in memory by each cell: --no-data-cache)")
    lines += [
        "",
        (f"Throughput: {rates} (training, 32 px, float32; {source}). Other architectures and widths scale by forward "
         f"FLOPs per image; inference passes run at {INFERENCE_SPEEDUP:g}x. Cell start-up, rendering on the CPU and "
         "last-layer fits are not counted."),
        (f"GPU-hours: {b.gpu_hours:.1f} one cell at a time (--jobs {b.jobs} may overlap cells; the gain is not "
         f"estimated). The {GOAL_HOURS:g}-hour goal needs {factor:.1f}x this throughput: "
         f"{factor * b.throughput['resnet18']:,.0f} ResNet-18 training img/s or its equivalent."),
        (f"Peak disk: {_gb(b.peak_disk_bytes)} = {_gb(total.weights_bytes)} final weights (kept: later cells load "
         f"them) + {_gb(states)} resumable state of {b.jobs} training cell(s) in flight (deleted when a cell "
         f"finishes) + {cache} + cell records."),
    ]
    return "\n".join(lines)
