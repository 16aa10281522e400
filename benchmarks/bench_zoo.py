"""The zoo's cost: zoo time ÷ the bare forward passes of the same (1 + T)·N images per model (limit 1.10), and
peak memory for 1 model vs 8 models (flat: one model resident at a time).

Time: for each model, the bare loop runs ``model(x)`` on exactly the (1 + T)·N images the zoo feeds it (the clean
views once, each transform's views once), rendered beforehand and normalised, in the zoo's batches and memory format;
the zoo's cell is timed end to end per model (building the model, rendering, the forward passes, every metric with
its intervals), in a zoo of that model alone, after a warm-up zoo (imports, the data) and an untimed bare loop of
that model (oneDNN creates its kernels on a shape's first call); the median of alternating repeats' paired
ratios. Peak memory: the
high-water mark (``VmHWM``) of a fresh process running a zoo of 1 and of 8 models, jobs = 1, measured first.

    python benchmarks/bench_zoo.py [--n-images 320] [--image-size 224] [--repeats 2]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from timing import against, alternating, paired_ratio

LIMIT = 1.10
MODELS = ["timm:resnet18", "timm:resnet34", "timm:mobilenetv3_large_100", "timm:efficientnet_b0"]
TRANSFORMS = ["rotation", "hflip"]


def bare_seconds(spec: str, n: int, size: int, batch: int) -> float:
    """Seconds of the bare forward passes of the (1 + T)·N images the zoo feeds ``spec``."""
    import torch

    from invmeter.api import ScoreSettings
    from invmeter.pipeline.measure import make_pairs
    from invmeter.pipeline.prepare import prepare

    settings = ScoreSettings(n_images=n, image_size=size, weights="random", batch_size=batch)
    plan = next(prepare(spec, TRANSFORMS, settings=settings).plans())
    handle = plan.handle
    batches = []
    for k, planned in enumerate(plan.transforms):
        pairs = make_pairs(plan, planned.transform, 0)
        for index, _ in pairs.batches(batch):
            clean, transformed = pairs.render(index)
            views = torch.cat([clean, transformed]) if k == 0 else transformed
            batches.append(handle.preprocessing.normalize(views).contiguous(memory_format=torch.channels_last))
    model = handle.model.eval().to(memory_format=torch.channels_last)
    with torch.inference_mode():
        model(batches[0][:2])
        start = time.perf_counter()
        for x in batches:
            model(x)
        return time.perf_counter() - start


def zoo_cell_seconds(spec: str, options: dict) -> float:
    """Seconds of ``spec``'s cell (its record's) in a zoo of that model alone."""
    import invmeter

    with tempfile.TemporaryDirectory() as out:
        invmeter.zoo([spec], TRANSFORMS, out=out, **options)
        return json.loads(next(Path(out, "cells").glob("*.json")).read_text())["provenance"]["seconds"]


RESNET18_TAGS = ["timm:resnet18", "timm:resnet18.a1_in1k", "timm:resnet18.a2_in1k", "timm:resnet18.a3_in1k",
                 "timm:resnet18.fb_ssl_yfcc100m_ft_in1k", "timm:resnet18.fb_swsl_ig1b_ft_in1k", "timm:resnet18.gluon_in1k",
                 "timm:resnet18.tv_in1k"]  # 8 models of one size: memory can only grow by keeping models


def peak_rss_mib(n_models: int, n: int, size: int) -> float:
    """Peak resident memory (MiB) of a fresh process running a zoo of the first ``n_models`` RESNET18_TAGS: the
    kernel's high-water mark of its own address space (:func:`timing.vm_hwm_mib`, read by the process itself; NaN
    where there is no ``/proc``)."""
    with tempfile.TemporaryDirectory() as out:
        code = (f"import sys\nsys.path.insert(0, {str(Path(__file__).parent)!r})\nimport invmeter\n"
                "from timing import vm_hwm_mib\n"
                f"invmeter.zoo({RESNET18_TAGS[:n_models]!r}, {TRANSFORMS!r}, out={out!r}, "
                f"weights='random', n_images={n}, image_size={size}, n_boot=200)\n"
                "print(vm_hwm_mib())\n")
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        return float(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-images", type=int, default=320)
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    one, eight = peak_rss_mib(1, 48, 64), peak_rss_mib(8, 48, 64)  # first: this process is still small
    print(f"peak memory: 1 model {one:.0f} MiB, 8 models {eight:.0f} MiB -> ratio {eight / one:.2f} (flat: about 1)")
    import torch

    import invmeter

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; {len(TRANSFORMS)} transforms, "
          f"{args.n_images} images at {args.image_size} px: (1 + T)·N = {(1 + len(TRANSFORMS)) * args.n_images} images "
          "per model")
    options = dict(weights="random", n_images=args.n_images, image_size=args.image_size, batch_size=args.batch_size)
    with tempfile.TemporaryDirectory() as out:  # warm-up: imports, the dataset's first build, first kernel calls
        invmeter.zoo(["timm:resnet18"], TRANSFORMS, out=out, **{**options, "n_images": 20})
    worst = 0.0
    for spec in MODELS:
        bare_seconds(spec, args.n_images, args.image_size, args.batch_size)  # untimed: the kernels' first calls
        runs = alternating({"zoo": lambda: zoo_cell_seconds(spec, options),
                            "bare": lambda: bare_seconds(spec, args.n_images, args.image_size, args.batch_size)},
                           args.repeats)
        cell, bare = runs["zoo"], runs["bare"]
        ratio = paired_ratio(cell, bare)
        worst = max(worst, ratio)
        print(f"{spec:<30} zoo {statistics.median(cell):7.2f} s, bare forward {statistics.median(bare):7.2f} s "
              f"-> ratio {ratio:.3f} (limit {LIMIT}); repeats: zoo {cell}, bare {[round(b, 2) for b in bare]}")
    print(f"worst ratio {against(worst, LIMIT)}")


if __name__ == "__main__":
    main()
