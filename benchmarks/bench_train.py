"""Trainer throughput ÷ a bare training loop (same model, batch size, images), measured in one run (limit: 0.90).

The bare loop is the least any trainer must do: the training images already in memory as normalised float32, a
seeded order per epoch, forward, cross-entropy, backward, an Adam step. ``invmeter.training.loop`` is timed on its training
steps (its own per-epoch ``images_per_s``: uint8 -> float and normalisation per batch, loss and accuracy
bookkeeping) and end to end (the whole ``train()`` call with the splits already cached: loading them, validation
after every epoch, resumable-state writes, the test pass and the checkpoint). After a warm-up of each, runs
alternate (bare, trainer, bare, ...) so that load from other processes hits both. Reported: the median over repeats
of each (bare, trainer) pair's ratio, robust to a machine whose load changes between pairs, and the ratio of the
medians. Exits 1 when the median paired training-step ratio is below the limit.

    python benchmarks/bench_train.py [--repeats 3] [--epochs 2] [--n-train 2560] [--width 0.25] [--batch-size 128]
                                     [--threads 0]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from invmeter.data.build import build_split
from invmeter.models.checkpoint import build_architecture
from invmeter.models.cifar import CIFAR_MEAN, CIFAR_STD
from invmeter.models.preprocessing import normalize
from invmeter.training.loop import TrainConfig, train

LIMIT = 0.90


def bare_images_per_s(config: TrainConfig, images: torch.Tensor, labels: torch.Tensor) -> float:
    """The bare loop on in-memory normalised float32 images; images per second over all epochs."""
    torch.manual_seed(config.seed)
    model = build_architecture(config.arch, num_classes=config.data.n_classes, width=config.width).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    steps, bs = config.n_train // config.batch_size, config.batch_size
    start = time.perf_counter()
    for epoch in range(config.epochs):
        order = torch.randperm(config.n_train, generator=torch.Generator().manual_seed(epoch))
        for step in range(steps):
            idx = order[step * bs : (step + 1) * bs]
            loss = F.cross_entropy(model(images[idx]), labels[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    return config.epochs * steps * bs / (time.perf_counter() - start)


def trainer_images_per_s(config: TrainConfig, cache: Path, out: Path) -> tuple[float, float]:
    """``invmeter.training.loop``: (training-step images/s, end-to-end images/s)."""
    start = time.perf_counter()
    result = train(config, out=out, cache=cache)
    wall = time.perf_counter() - start
    per_epoch = (config.n_train // config.batch_size) * config.batch_size
    step_seconds = sum(per_epoch / row["images_per_s"] for row in result.history)
    return config.epochs * per_epoch / step_seconds, config.epochs * per_epoch / wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--n-train", type=int, default=2560)
    parser.add_argument("--width", type=float, default=0.25)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--threads", type=int, default=0, help="CPU threads for both loops (0 = PyTorch's default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)  # as train() does; both loops run in this process
    config = TrainConfig.for_transforms2d(transforms="rotation", classes=10, arch="cifar:resnet18", width=args.width,
                                          n_train=args.n_train, n_val=256, n_test=256, epochs=args.epochs,
                                          batch_size=args.batch_size, device="cpu", threads=args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, cifar:resnet18 width {args.width}, "
          f"batch {args.batch_size}, {args.n_train} images x {args.epochs} epochs per run")
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp) / "cache"
        split = build_split(config.data, "train", config.n_train, config.seed, cache=cache)
        images = normalize(torch.from_numpy(np.array(split.images)).float() / 255, CIFAR_MEAN, CIFAR_STD)
        labels = torch.from_numpy(np.array(split.labels))
        bare, steps, end_to_end = [], [], []
        for run in range(args.repeats + 1):  # run 0 warms up both and is not counted
            b = bare_images_per_s(config, images, labels)
            s, e = trainer_images_per_s(config, cache, Path(tmp) / f"run{run}")
            print(f"{'warm-up' if run == 0 else f'repeat {run}'}: bare {b:.0f} img/s, trainer {s:.0f} img/s "
                  f"(training steps), {e:.0f} img/s (end to end)")
            if run:
                bare.append(b)
                steps.append(s)
                end_to_end.append(e)
    ratio = statistics.median(s / b for s, b in zip(steps, bare))
    ratio_e2e = statistics.median(e / b for e, b in zip(end_to_end, bare))
    print(f"median: bare {statistics.median(bare):.0f} img/s, trainer {statistics.median(steps):.0f} img/s "
          f"(training steps), {statistics.median(end_to_end):.0f} img/s (end to end); ratio of medians "
          f"{statistics.median(steps) / statistics.median(bare):.3f} (training steps)")
    print(f"trainer / bare, median of paired ratios: {ratio:.3f} (training steps), {ratio_e2e:.3f} (end to end); "
          f"limit {LIMIT:.2f}: {'PASS' if ratio >= LIMIT else 'FAIL'}")
    sys.exit(0 if ratio >= LIMIT else 1)


if __name__ == "__main__":
    main()
