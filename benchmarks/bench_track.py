"""The cost of ``invmeter train --track``: a tracked epoch ÷ an untracked epoch, same config (limit: 1.05).

Runs alternate (untracked, tracked, untracked, ...), each ``--epochs`` epochs of ``invmeter.training.loop`` with the splits
already cached, so that load from other processes hits both. Every epoch's ``seconds`` (training steps, validation
and, when tracked, tracking) comes from the run's history. Two ratios are printed:

- within an epoch: a tracked epoch's seconds ÷ the same epoch's seconds without its tracking part
  (``seconds − track_seconds``; tracking is the only work a tracked epoch adds). Measured in the same epoch, it is
  robust to the machine's load changing between runs; the median over tracked epochs is held against the limit.
- across runs: the median tracked epoch ÷ the median untracked epoch, the direct comparison (noisier on a busy
  machine).

Defaults: ``invmeter train``'s own (6000 training and 1000 validation images, batch 128, 10 classes at 32 px, the
default ``--track-images`` 256) with ``--track rotation,hflip``, at width 0.25 (the CPU presets'; width 1 takes
minutes per epoch on a CPU, and the ratio of one forward pass to a training step does not depend on the width).
Exits 1 when the within-epoch ratio exceeds the limit.

    python benchmarks/bench_track.py [--repeats 2] [--epochs 2] [--width 0.25] [--track rotation,hflip] [--threads 0]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import torch

from invmeter.data.build import build_split
from invmeter.training.loop import TrainConfig, train

LIMIT = 1.05


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--width", type=float, default=0.25)
    parser.add_argument("--n-train", type=int, default=TrainConfig.n_train)
    parser.add_argument("--track", default="rotation,hflip")
    parser.add_argument("--track-images", type=int, default=TrainConfig.track_images)
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (0 = PyTorch's default)")
    args = parser.parse_args()
    common = {"transforms": "rotation", "classes": 10, "arch": "cifar:resnet18", "width": args.width,
              "n_train": args.n_train, "epochs": args.epochs, "device": "cpu", "threads": args.threads}
    plain = TrainConfig.for_transforms2d(**common)
    tracked = TrainConfig.for_transforms2d(**common, track=args.track, track_images=args.track_images)
    print(f"torch {torch.__version__}, {torch.get_num_threads() if not args.threads else args.threads} threads, "
          f"cifar:resnet18 width {args.width}, {plain.n_train} train / {plain.n_val} val images, batch "
          f"{plain.batch_size}; --track {args.track} on {args.track_images} pairs; load {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp)
        for split, n in (("train", plain.n_train), ("val", plain.n_val), ("test", plain.n_test)):
            build_split(plain.data, split, n, plain.seed, cache=cache)
        train(replace(plain, epochs=1), cache=cache)  # warm-up
        untracked_s, tracked_s, within = [], [], []
        for r in range(args.repeats):
            rows_plain = train(plain, cache=cache).history
            rows_tracked = train(tracked, cache=cache).history
            untracked_s += [row["seconds"] for row in rows_plain]
            tracked_s += [row["seconds"] for row in rows_tracked]
            within += [row["seconds"] / (row["seconds"] - row["track_seconds"]) for row in rows_tracked]
            print(f"repeat {r + 1}: untracked epochs {[round(row['seconds'], 1) for row in rows_plain]} s, tracked "
                  f"{[round(row['seconds'], 1) for row in rows_tracked]} s (tracking "
                  f"{[round(row['track_seconds'], 2) for row in rows_tracked]} s)", flush=True)
    ratio = statistics.median(within)
    across = statistics.median(tracked_s) / statistics.median(untracked_s)
    print(f"tracked epoch / untracked epoch: {ratio:.3f} within an epoch (median of {len(within)}), "
          f"{across:.3f} across runs (medians); limit {LIMIT}; load {os.getloadavg()[0]:.2f}")
    sys.exit(0 if ratio <= LIMIT else 1)


if __name__ == "__main__":
    main()
