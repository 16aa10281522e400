"""What a reproduction costs before it runs (``--dry-run``): cells, image passes, images rendered, GPU-hours, peak disk.

GPU time comes from rendered-and-trained images per second of a width-1 CIFAR ResNet-18 at 32 px (batch 512): the
rate at which a GPU renders a redrawn training split on the device and trains on it, in the run's precision (float32,
or bfloat16 autocast with ``--amp``). The rates are measured by ``benchmarks/gpu_check.sh`` (its ``gpu_epoch.json``:
per architecture, per precision, compiled, and several cells sharing the GPU), read from ``--throughput FILE`` or from
:data:`GPU_CHECK_FILE` when it exists; or given as numbers (``--throughput 15000``); or else the stated, unmeasured
assumption :data:`ASSUMED_RATES`. Architectures without a rate of their own scale by their forward FLOPs per image
(counted on a meta-device model, so nothing is allocated); inference passes (validation, feature extraction) run at
:data:`INFERENCE_SPEEDUP` times the training rate (a forward pass is about a third of a training step's FLOPs).
"""

from __future__ import annotations

import functools
import json
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from invmeter.errors import InvalidParameterError
from invmeter.runner import Cell

__all__ = [
    "ASSUMED_RATES", "GPU_CHECK_FILE", "Budget", "FigureBudget", "Rates", "budget", "format_budget", "parse_throughput",
    "resolve_rates",
]

ASSUMED_RATES = {"float32": 15_000.0, "bfloat16": 30_000.0}  # img/s, width-1 ResNet-18, 32 px: NOT measured
ASSUMED_SOURCE = ("assumed for one H100, not measured: about 2x and 2.5x an A100's ~7,500 (float32/TF32) and "
                  "~12,000 (bf16 autocast, channels-last) img/s for this model, i.e. 10% and 12% of the H100's dense "
                  "TF32 and bf16 peaks at 3.3 GFLOP per training image; rendering on the GPU assumed free beside it; "
                  "measure both with benchmarks/gpu_check.sh")
GPU_CHECK_FILE = Path("benchmarks") / "results" / "gpu_check" / "gpu_epoch.json"  # relative to the working folder
INFERENCE_SPEEDUP = 3.0
BYTES_PER_PARAMETER = 4  # float32 weights
STATE_COPIES = 3  # a resumable training state holds the weights and Adam's two moments
RECORD_BYTES = 8 * 1024  # a cell record (one 4 KiB block) plus its share of results.json, rounded up
GOAL_HOURS = 8.0  # the goal for the whole paper preset on one H100


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
        model = build_architecture(arch, num_classes=n_classes, width=width).eval()  # batch norm takes one image
        hooks = [m.register_forward_hook(count) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
        model(torch.empty(1, 3, image_size, image_size))
    for hook in hooks:
        hook.remove()
    return sum(p.numel() for p in model.parameters()), float(sum(flops))


def parse_throughput(text: str | None) -> dict[str, float]:
    """``"15000"`` (a width-1 ResNet-18) or ``"resnet18=15000,vgg11=40000"`` (per architecture) -> ``{arch: img/s}``
    with bare architecture names; ``None`` -> the assumed float32 figure."""
    if text is None:
        return {"resnet18": ASSUMED_RATES["float32"]}
    out = {}
    for item in filter(None, (i.strip() for i in text.split(","))):
        name, _, value = item.rpartition("=")
        try:
            rate = float(value)
        except ValueError:
            rate = float("nan")
        if not rate > 0:
            raise InvalidParameterError(f"--throughput takes images per second, e.g. 15000 or resnet18=15000,"
                                        f"vgg11=40000, or the gpu_epoch.json of benchmarks/gpu_check.sh. Got {text!r}.")
        out[(name or "resnet18").removeprefix("cifar:")] = rate
    if "resnet18" not in out:
        raise InvalidParameterError("--throughput needs the ResNet-18 figure (the others scale from it), e.g. "
                                    "resnet18=15000,vgg11=40000.")
    return out


@dataclass(frozen=True)
class Rates:
    """The rates a dry run prices GPU time at.

    Attributes:
        throughput: ``{bare arch: rendered-and-trained img/s}`` at width 1 and 32 px (``resnet18`` always).
        mode: ``float32`` or ``bfloat16``, with ``+compile`` when the models are compiled.
        source: Where the rates come from (the gpu_check file and its GPU, ``--throughput``, or the assumption).
        measured: Whether they were measured.
        packing: Measured aggregate rate of ``packing_jobs`` cells sharing the GPU over one cell's (1: not counted).
        render_per_s: Measured rate of rendering alone on the GPU (``None``: not measured).
    """

    throughput: dict[str, float]
    mode: str
    source: str
    measured: bool
    packing: float = 1.0
    packing_jobs: int = 1
    render_per_s: float | None = None


def _read_gpu_check(path: Path, mode: str, jobs: int) -> Rates:
    """The rates of ``mode`` in a gpu_check ``gpu_epoch.json`` (a compiled mode it did not measure falls back to the
    eager one, and says so)."""
    try:
        report = json.loads(path.read_text())
        rates = report["rates"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InvalidParameterError(f"Cannot read the gpu_check results {str(path)!r} ({exc}); re-run "
                                    "benchmarks/gpu_check.sh or pass --throughput IMG_S.") from None
    if report.get("width", 1.0) != 1.0 or report.get("n_train", 50_000) != 50_000:
        raise InvalidParameterError(f"{str(path)!r} was measured at width {report.get('width')} on "
                                    f"{report.get('n_train')} scenes (a check of the script), not on the paper's "
                                    "models; run benchmarks/gpu_check.sh on the GPU.")
    used = mode if rates.get(mode, {}).get("resnet18") else mode.replace("+compile", "")
    if not rates.get(used, {}).get("resnet18"):
        raise InvalidParameterError(f"{str(path)!r} has no ResNet-18 rate for {used}; re-run benchmarks/gpu_check.sh.")
    source = f"measured by benchmarks/gpu_check.sh on {report.get('gpu') or report.get('device')} ({path})"
    if used != mode:
        source += f"; {mode} was not measured, so the {used} rates are used"
    packing, packing_jobs = 1.0, 1
    together = report.get("concurrent")
    if together and used.startswith(together.get("precision", "")) and jobs >= together["jobs"] > 1:
        packing, packing_jobs = together["aggregate_images_per_s"] / rates[together["precision"]]["resnet18"], \
            together["jobs"]
    return Rates({k: float(v) for k, v in rates[used].items()}, used, source, True, packing, packing_jobs,
                 report.get("render_images_per_s"))


def resolve_rates(throughput: str | None, *, amp: bool = False, compile: bool = False, jobs: int = 1) -> Rates:
    """The dry run's rates: ``throughput`` as a gpu_check file or as numbers, else :data:`GPU_CHECK_FILE` if it
    exists, else the assumption :data:`ASSUMED_RATES` for the precision (``amp``: bfloat16)."""
    mode = ("bfloat16" if amp else "float32") + ("+compile" if compile else "")
    if throughput is not None and (throughput.endswith(".json") or Path(throughput).is_file()):
        if not Path(throughput).is_file():
            raise InvalidParameterError(f"--throughput {throughput!r}: no such file; run benchmarks/gpu_check.sh.")
        return _read_gpu_check(Path(throughput), mode, jobs)
    if throughput is not None:
        return Rates(parse_throughput(throughput), mode, "measured (--throughput)", True)
    if GPU_CHECK_FILE.is_file():
        return _read_gpu_check(GPU_CHECK_FILE, mode, jobs)
    precision = mode.split("+")[0]
    return Rates({"resnet18": ASSUMED_RATES[precision]}, mode, ASSUMED_SOURCE, False)


@dataclass
class FigureBudget:
    """One figure's cells and their cost. Image counts are images (not batches); ``gpu_seconds`` at the given
    throughputs; ``rendered_images`` counts every image rendered, of which ``redrawn_images`` are drawn again on the
    device (training epochs and last-layer draws of redrawn splits); ``weights_bytes``: the final weights its
    training cells keep."""

    name: str
    cells: Counter = field(default_factory=Counter)
    train_images: int = 0
    inference_images: int = 0
    rendered_images: int = 0
    redrawn_images: int = 0
    gpu_seconds: float = 0.0
    weights_bytes: int = 0
    state_bytes: int = 0  # the largest resumable training state of one of its cells
    splits: dict[str, int] = field(default_factory=dict)  # distinct rendered splits -> bytes, if they were cached
    shared: int = 0  # cells an earlier figure of the run already ran (reused, not counted again)


@dataclass
class Budget:
    """Every figure's budget and the run's totals; ``packing``: the measured gain of cells sharing the GPU (1: none
    counted), which divides the GPU-hours."""

    figures: list[FigureBudget]
    throughput: dict[str, float]
    jobs: int
    data_cache: bool
    packing: float = 1.0

    @property
    def gpu_hours(self) -> float:
        return sum(f.gpu_seconds for f in self.figures) / 3600 / self.packing

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
    """Count ``cell``: training and inference image passes, images rendered (and drawn again on the device), GPU
    time, weights and the splits a data cache would keep."""
    c, task = cell.config, cell.task
    fb.cells[task] += 1
    if task == "examples":
        fb.rendered_images += c["n"]
        return
    arch, width, size, classes = _model_of(cell)
    redrawn = 0
    if task == "train":
        sizes = {"train": c["n_train"], "val": c["n_val"], "test": c["n_test"]}
        train, infer, dataset = c["n_train"] * c["epochs"], c["n_val"] * c["epochs"] + c["n_test"], c["dataset"]
        if c.get("redraw"):
            redrawn = sizes.pop("train") * c["epochs"]
        params = _model_size(arch, width, size, classes)[0] * BYTES_PER_PARAMETER
        fb.weights_bytes += params
        fb.state_bytes = max(fb.state_bytes, STATE_COPIES * params)
    elif task == "transfer":
        sizes, dataset = {"train": c["n_train"], "test": c["n_test"]}, c["target"]
        draws = c.get("draws", 1)
        train, infer = 0, draws * c["n_train"] + c["n_test"]
        if draws > 1:
            redrawn = sizes.pop("train") * draws
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
    fb.redrawn_images += redrawn
    fb.rendered_images += sum(sizes.values()) + redrawn
    fb.gpu_seconds += costs.seconds_per_image(arch, width, size, classes) * (train + infer / INFERENCE_SPEEDUP)
    for split, n in sizes.items():
        key = json.dumps([dataset, split, n, c["seed"]], sort_keys=True)
        fb.splits[key] = n * (3 * size * size + 8)  # uint8 images + int64 labels


def budget(figures: dict[str, Sequence[Cell]], *, throughput: dict[str, float], jobs: int, data_cache: bool,
           packing: float = 1.0) -> Budget:
    """The cost of running ``{figure name: cells}``, ``jobs`` cells at a time (``packing``: the measured gain of
    sharing the GPU, 1 = none counted). A cell an earlier figure already runs is reused, not counted again (``reproduce
    all`` shares them: Figure 4's reference models are Figure 3's)."""
    costs = _Costs(throughput)
    out = []
    seen: set[str] = set()
    for name, cells in figures.items():
        fb = FigureBudget(name)
        for cell in _unique(cells):
            if cell.id in seen:
                fb.shared += 1
                continue
            seen.add(cell.id)
            _add(fb, cell, costs)
        out.append(fb)
    return Budget(out, throughput, max(jobs, 1), data_cache, packing)


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


def _total(figures: Sequence[FigureBudget]) -> FigureBudget:
    total = FigureBudget("total")
    for f in figures:
        total.cells.update(f.cells)
        total.shared += f.shared
        for name in ("train_images", "inference_images", "rendered_images", "redrawn_images", "gpu_seconds", "weights_bytes"):
            setattr(total, name, getattr(total, name) + getattr(f, name))
    return total


def _goal(b: Budget, rates: Rates, seeds: Sequence[int]) -> str:
    """What the goal of :data:`GOAL_HOURS` GPU-hours needs, and how many of ``seeds`` fit it."""
    factor = b.gpu_hours / GOAL_HOURS
    line = (f"The {GOAL_HOURS:g}-hour goal needs {factor:.1f}x these rates: {factor * rates.throughput['resnet18']:,.0f} "
            "ResNet-18 img/s rendered and trained, or the equivalent")
    if factor <= 1.0:
        return line + f"; it is met ({b.gpu_hours:.1f} of {GOAL_HOURS:g} GPU-hours)."
    fit = math.floor(GOAL_HOURS / (b.gpu_hours / len(seeds))) if seeds else 0
    if fit >= 1:
        line += (f". At these rates {GOAL_HOURS:g} GPU-hours fit {fit} of the {len(seeds)} seeds (--seeds "
                 f"{','.join(map(str, seeds[:fit]))}: "
                 f"{b.gpu_hours * fit / len(seeds):.1f} GPU-hours)")
    return line + "."


def format_budget(b: Budget, *, rates: Rates | None = None, seeds: Sequence[int] = ()) -> str:
    """The dry run's report (figures, totals, rates, goal, rendering, peak disk); ``seeds``: the most any figure
    runs."""
    rates = rates or Rates(b.throughput, "float32", ASSUMED_SOURCE, False)
    tasks = ("train", "transfer", "l2", "paired_distance", "examples")
    if any(f.cells["estimate"] for f in b.figures):  # invmeter.select's cells (reproduce selection)
        tasks += ("estimate",)
    head = (f"| figure | cells run ({' / '.join(t.removesuffix('_distance') for t in tasks)}) | training image passes "
            "| inference image passes | images rendered (of which drawn again on the device) | GPU-hours | final weights |")
    lines = [head, "| --- | --- | --- | --- | --- | --- | --- |"]
    total = _total(b.figures)
    for f in [*b.figures, total]:
        bold = "**" if f is total else ""
        shared = f" (+{f.shared} shared)" if f.shared else ""
        lines.append(f"| {bold}{f.name}{bold} | {' / '.join(str(f.cells[t]) for t in tasks)}{shared} | "
                     f"{_n(f.train_images)} | {_n(f.inference_images)} | {_n(f.rendered_images)} ({_n(f.redrawn_images)}) | "
                     f"{bold}{f.gpu_seconds / 3600 / b.packing:.{1 if bold else 2}f}{bold} | {_gb(f.weights_bytes)} |")
    shown = ", ".join(f"{k} {v:,.0f} img/s" for k, v in rates.throughput.items())
    packing = (f"{rates.packing_jobs} cells sharing the GPU measured at {rates.packing:.2f}x one cell's rate, counted"
               if rates.packing != 1.0 else f"--jobs {b.jobs}: any gain of cells sharing the GPU is not counted")
    states = b.jobs * max((f.state_bytes for f in b.figures), default=0)
    cache = (f"{_gb(b.cache_bytes)} data cache" if b.data_cache else
             "no data cache (splits are rendered in memory by each cell: --no-data-cache)")
    hours = b.gpu_hours * 3600
    render = (f"measured {rates.render_per_s:,.0f} img/s for rendering alone, included in the rates above"
              if rates.render_per_s else "rendering on the GPU is not measured: the rates assume it costs nothing "
              "beside training")
    lines += [
        "",
        (f"Rates ({rates.mode}): {shown}, rendered and trained at width 1, 32 px, batch 512 ({rates.source}). "
         f"Other architectures and widths scale by forward FLOPs per image; inference passes run at "
         f"{INFERENCE_SPEEDUP:g}x. Cell start-up and last-layer fits are not counted."),
        f"GPU-hours: {b.gpu_hours:.1f} on one GPU ({packing}). {_goal(b, rates, seeds)}",
        (f"Rendering: {_n(total.redrawn_images)} images drawn again on the device (each training epoch's transforms, "
         f"and the last layer's draws), {_n(total.rendered_images - total.redrawn_images)} rendered once (fixed "
         f"splits, pairs); to keep pace the device renders {total.redrawn_images / max(hours, 1):,.0f} img/s on "
         f"average over these GPU-hours ({total.redrawn_images / GOAL_HOURS / 3600:,.0f} img/s within "
         f"{GOAL_HOURS:g} hours); {render}."),
        (f"Peak disk: {_gb(b.peak_disk_bytes)} = {_gb(total.weights_bytes)} final weights (kept: later cells load "
         f"them) + {_gb(states)} resumable state of {b.jobs} training cell(s) in flight (deleted when a cell "
         f"finishes) + {cache} + cell records."),
    ]
    return "\n".join(lines)
