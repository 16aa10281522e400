"""Exact l2_ratio at N = 5k, 10k, 20k (512-d): time and peak memory, each N in a fresh process.

The limit is linear memory: the extra peak memory at N, divided by the extra peak at the smallest N, is printed
next to N / N_smallest (a quadratic method would grow with its square; the full N x N float64 distance matrix is
printed for comparison).

    python benchmarks/bench_l2.py [--sizes 5000,10000,20000] [--dim 512]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time


def child(n: int, dim: int) -> None:
    import torch

    from invmeter.metrics.distances import class_distance_sums, l2_ratio_from_sums

    g = torch.Generator().manual_seed(0)
    labels = torch.arange(n) % 30
    z = torch.randn(30, dim, generator=g)[labels] + torch.randn(n, dim, generator=g)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    start = time.perf_counter()
    ratio = l2_ratio_from_sums(class_distance_sums(z, labels))
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"n": n, "seconds": seconds, "extra_mib": (peak - before) / 1024, "ratio": ratio}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="5000,10000,20000")
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        child(args.child, args.dim)
        return
    rows = []
    for n in (int(s) for s in args.sizes.split(",")):
        out = subprocess.run([sys.executable, __file__, "--child", str(n), "--dim", str(args.dim)],
                             check=True, capture_output=True, text=True).stdout
        rows.append(json.loads(out.strip().splitlines()[-1]))
    base = rows[0]
    print(f"{'N':>7} {'time s':>8} {'extra peak MiB':>15} {'mem / mem(N0)':>14} {'N / N0':>7} {'N x N float64 MiB':>18}")
    for r in rows:
        print(f"{r['n']:>7} {r['seconds']:>8.2f} {r['extra_mib']:>15.0f} {r['extra_mib'] / base['extra_mib']:>14.2f} "
              f"{r['n'] / base['n']:>7.1f} {r['n'] ** 2 * 8 / 2**20:>18.0f}")
    growth = rows[-1]["extra_mib"] / base["extra_mib"]
    linear = rows[-1]["n"] / base["n"]
    print(f"memory growth {growth:.2f}x for {linear:.0f}x the images (linear: {linear:.0f}x, quadratic: {linear ** 2:.0f}x)"
          f" -> {'linear' if growth <= 1.25 * linear else 'SUPERLINEAR'}")


if __name__ == "__main__":
    main()
