"""Cost of the new measures as ratios to forward passes measured in the same run (limits: LEE 3.0, unit stats 1.2).

1. **LEE, one generator** ÷ a forward pass of the same images: ``lie_derivative(forward, images, "rotation")``
   (one forward-mode JVP: the model runs once on dual tensors) against ``forward(images)`` under
   ``inference_mode``, the same N images in the same batches, the same ``forward`` (normalisation, channels-last
   for convolutional models, the penultimate representation), random init. Also with per-layer LEEs of the
   model's blocks (``--layers blocks``), which adds forward hooks only, and with PyTorch's own forward-AD formulas
   for convolution, linear and batch-norm layers instead of ``lie._LinearTangents`` (for reference).
2. **tmeasures' measures per layer** ÷ one forward pass of the pairs: the bare loop runs ``model(x)`` on
   ``x = [clean views; transformed views]`` of each batch (invmeter's extraction order); the measured loop is the
   same loop with ``feed_pairs`` feeding a ``UnitStats`` per layer (TV, SV, NV and ANOVA sums, Goodfellow
   thresholds from the first batch and firing counts after it: everything for every measure, in that one pass),
   plus reading every measure at the end. Layers: the blocks (``--layers blocks``: the profile's layers), and
   every leaf module (tmeasures' default).

Each line alternates the loops over repeats and keeps the fastest of each, in process CPU time (the least
disturbed by other jobs on a shared machine); every repeat is printed with its wall time and the load average.

    python benchmarks/bench_measures.py [--repeats 3] [--threads 2] [--lee-images 32] [--pairs 64] [--batch 32]
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable

import torch
from tmeasures_compat import feed_pairs, goodfellow_tmeasures
from torch import Tensor, nn
from torch.overrides import TorchFunctionMode

import invmeter
from invmeter.api import make_transforms2d
from invmeter.data import Transforms2DPairs
from invmeter.metrics import lie
from invmeter.metrics.lie import lie_derivative
from invmeter.metrics.unit_measures import UnitStats
from invmeter.models.layers import block_names
from invmeter.models.representation import is_convolutional
from invmeter.transforms import parse_transform

LEE_LIMIT = 3.0
UNIT_LIMIT = 1.2
VIT = "timm:vit_tiny_patch16_224"


class PassThrough(TorchFunctionMode):
    def __torch_function__(self, func, types, args=(), kwargs=None):  # noqa: ANN001, ANN204
        return func(*args, **(kwargs or {}))


def fastest(runs: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Process CPU seconds (all threads) of each run, the fastest repeat; wall seconds are printed beside them.

    CPU time counts this process's own work only, so it is less disturbed than wall time by other jobs on a
    shared machine (memory-bandwidth contention still slows it)."""
    for run in runs.values():  # warm-up: lazy initialisation, kernel selection
        run()
    best = {name: float("inf") for name in runs}
    for r in range(repeats):
        for name in (list(runs) if r % 2 == 0 else list(runs)[::-1]):
            wall, cpu = time.perf_counter(), time.process_time()
            runs[name]()
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            best[name] = min(best[name], cpu)
            print(f"    repeat {r + 1}: {name:<28} {cpu:7.3f} s CPU, {wall:7.3f} s wall, load {os.getloadavg()[0]:.2f}", flush=True)
    return best


def images_for(handle: invmeter.ModelHandle, n: int) -> tuple[Tensor, Tensor]:
    pairs = Transforms2DPairs(make_transforms2d(n_classes=10, image_size=handle.input_size[0]),
                              parse_transform("rotation"), n, seed=0)
    return pairs.render(slice(0, n))


def prepare_model(handle: invmeter.ModelHandle) -> torch.memory_format:
    """Eval mode, and channels-last for a convolutional model (as extraction runs it): the memory format used."""
    fmt = torch.channels_last if is_convolutional(handle.model) else torch.contiguous_format
    handle.model.eval().to(memory_format=fmt)
    return fmt


def lee_case(spec: str, n: int, batch: int, repeats: int) -> float:
    handle = invmeter.load_model(spec, weights="random")
    memory_format = prepare_model(handle)
    model = handle.model
    images, _ = images_for(handle, n)
    batches = [images[s : s + batch] for s in range(0, n, batch)]
    modules = dict(model.named_modules())
    blocks = {name: modules[name] for name in block_names(handle)}

    def forward(x: Tensor) -> Tensor:
        x = handle.preprocessing.normalize(x).contiguous(memory_format=memory_format)
        return model.forward_head(model.forward_features(x), pre_logits=True)

    def bare() -> None:
        with torch.inference_mode():
            for x in batches:
                forward(x)

    def lee(layers: dict[str, nn.Module]) -> Callable[[], None]:
        def run() -> None:
            for x in batches:
                lie_derivative(forward, x, "rotation", layers=layers)
        return run

    def generic() -> None:  # the same JVP with PyTorch's own forward-AD formulas for conv, linear and batch norm
        fast, lie._LinearTangents = lie._LinearTangents, PassThrough
        try:
            lee({})()
        finally:
            lie._LinearTangents = fast

    print(f"  {spec}, {n} images of {handle.input_size[0]} px in batches of {batch}; blocks: {', '.join(blocks)}")
    names = ("LEE (representation)", "LEE (+ per-block)", "LEE, PyTorch's formulas")
    t = fastest({"forward": bare, names[0]: lee({}), names[1]: lee(blocks), names[2]: generic}, repeats)
    for name in names:
        print(f"  {spec}: {name} {t[name]:.3f} s CPU / forward {t['forward']:.3f} s CPU = {t[name] / t['forward']:.2f}")
    return t["LEE (representation)"] / t["forward"]


def unit_case(spec: str, n: int, batch: int, repeats: int) -> dict[str, float]:
    handle = invmeter.load_model(spec, weights="random")
    memory_format = prepare_model(handle)
    model = handle.model
    clean, transformed = images_for(handle, n)
    batches = [handle.preprocessing.normalize(torch.cat([clean[s : s + batch], transformed[s : s + batch]]))
               .contiguous(memory_format=memory_format) for s in range(0, n, batch)]
    layer_sets = {
        "blocks": block_names(handle),
        "every leaf": [name for name, m in model.named_modules() if name and not list(m.children())],
    }

    def bare() -> None:
        with torch.inference_mode():
            for x in batches:
                model(x)

    def measured(names: list[str]) -> Callable[[], None]:
        def run() -> None:
            stats = {name: UnitStats(calibration=batch) for name in names}
            with torch.inference_mode(), feed_pairs(model, stats):
                for x in batches:
                    model(x)
            for s in stats.values():  # every measure, read once
                s.normalized_variance(), s.anova_variant(), s.goodfellow(), goodfellow_tmeasures(s)
        return run

    with torch.inference_mode():
        probe = {name: UnitStats() for name in {*layer_sets["blocks"], *layer_sets["every leaf"]}}
        with feed_pairs(model, probe):
            model(batches[0][:2])
        units = {key: sum(probe[name].units for name in names) for key, names in layer_sets.items()}
    print(f"  {spec}, {n} pairs of {handle.input_size[0]} px, {batch} pairs per forward call")
    runs = {"forward of the pairs": bare, **{f"+ UnitStats, {k}": measured(v) for k, v in layer_sets.items()}}
    t = fastest(runs, repeats)
    ratios = {}
    for key, names in layer_sets.items():
        ratios[key] = t[f"+ UnitStats, {key}"] / t["forward of the pairs"]
        print(f"  {spec}: UnitStats on {len(names)} layers ({key}, {units[key]:,} units): "
              f"{t[f'+ UnitStats, {key}']:.3f} s CPU / {t['forward of the pairs']:.3f} s CPU = {ratios[key]:.3f}")
    return ratios


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--lee-images", type=int, default=32)
    parser.add_argument("--pairs", type=int, default=64)
    parser.add_argument("--batch", type=int, default=32, help="images per LEE batch; pairs per unit-stats batch")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} threads, load average {os.getloadavg()[0]:.2f} at start")
    print("1. LEE, one generator (rotation), ÷ a forward pass of the same images")
    lee = {spec: lee_case(spec, args.lee_images, args.batch, args.repeats) for spec in ("timm:resnet18", VIT)}
    print("2. tmeasures' measures (UnitStats, one pass) ÷ one forward pass of the pairs")
    unit = {spec: unit_case(spec, args.pairs, args.batch, args.repeats) for spec in ("timm:resnet18", "cifar:resnet18")}
    print(f"load average {os.getloadavg()[0]:.2f} at the end")
    for spec, r in lee.items():
        print(f"ratio LEE {spec} {r:.2f} {'<=' if r <= LEE_LIMIT else '>'} limit {LEE_LIMIT}")
    for spec, ratios in unit.items():
        for key, r in ratios.items():
            print(f"ratio UnitStats {spec} ({key}) {r:.3f} {'<=' if r <= UNIT_LIMIT else '>'} limit {UNIT_LIMIT}")


if __name__ == "__main__":
    main()
