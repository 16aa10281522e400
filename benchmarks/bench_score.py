"""score() wall time ÷ the bare forward passes of the same model on the same images (limit: 1.10).

For each model, the same controlled pairs are rendered once and kept in memory for the bare loop, which runs
``model(x)`` on exactly the batches score() uses (2 x batch_size images per call, same device, eval mode,
inference_mode, and the same channels-last memory format score() uses for convolutional models, so the
comparison isolates score()'s own overhead). score() is timed end to end (rendering, normalisation, hooks, every
metric with bootstrap CIs), with the model already loaded (a ModelHandle). Medians over repeats. The plain
(contiguous-format) bare loop is printed too, for reference.

    python benchmarks/bench_score.py [--repeats 3] [--device cpu]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

import invmeter
from invmeter.api import make_pairs
from invmeter.features import normalize, prepare_model
from invmeter.transforms import parse_transform

LIMIT = 1.10
CASES = [  # (model spec, transform, pairs, batch size)
    ("timm:resnet18", "rotation", 320, 32),
    ("cifar:resnet18", "rotation", 2000, 128),
]


def bare_forward_seconds(handle: invmeter.ModelHandle, batches: list[torch.Tensor]) -> float:
    model = handle.model
    model(batches[0][:2])  # warm-up for this memory format
    start = time.perf_counter()
    for x in batches:
        model(x)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, device {args.device}")
    worst = 0.0
    for spec, transform, n, batch in CASES:
        handle = invmeter.load_model(spec, weights="random")
        pairs = make_pairs("transforms2d", parse_transform(transform), image_size=handle.input_size[0], n_images=n,
                           n_classes=10, seed=0)
        batches = []
        for start in range(0, n, batch):
            clean, transformed = pairs.render(slice(start, min(start + batch, n)))
            batches.append(normalize(torch.cat([clean, transformed]), handle.mean, handle.std).to(args.device))
        handle.model.to(args.device)
        with torch.inference_mode():
            plain = bare_forward_seconds(handle, batches)
        memory_format = prepare_model(handle, torch.device(args.device))
        batches = [b.contiguous(memory_format=memory_format) for b in batches]
        bare, full = [], []
        for _ in range(args.repeats):
            with torch.inference_mode():
                bare.append(bare_forward_seconds(handle, batches))
            start = time.perf_counter()
            report = invmeter.score(handle, transform, n_images=n, batch_size=batch, device=args.device, seed=0)
            full.append(time.perf_counter() - start)
        ratio = statistics.median(full) / statistics.median(bare)
        worst = max(worst, ratio)
        t = report.provenance["timings"]
        print(f"{spec:<16} {n} pairs @ {handle.input_size[0]}px, batch {batch}: bare forward {statistics.median(bare):.2f} s "
              f"(contiguous format: {plain:.2f} s), "
              f"score {statistics.median(full):.2f} s (render {t['render_s']:.2f} s, forward {t['forward_s']:.2f} s, "
              f"metrics {t['metrics_s']:.2f} s) -> ratio {ratio:.3f} (limit {LIMIT})")
    print(f"worst ratio {worst:.3f} {'<=' if worst <= LIMIT else '>'} limit {LIMIT}")


if __name__ == "__main__":
    main()
