"""Cost of checking a cached split's checksums on load: a 50k x 3 x 32 x 32 Transforms-2D split (the paper's size).

Times (best of --rounds, files in the page cache, as on any reuse right after a build): the SHA-256 of the entry's
two arrays (what every load now checks), BLAKE2b over the same bytes for comparison, the bare memory-mapped load
without any check, and the whole ``build_split`` load from the cache. Limit: the whole load <= 2 s (the data-build
section's cache-load limit).

    python benchmarks/bench_cache.py [--n 50000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from invmeter._utils.io import sha256_file
from invmeter.data import Transforms2D, build_split

LIMIT_S = 2.0


def _best(func: Callable[[], object], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return min(times)


def _blake2b(path: Path) -> str:
    digest = hashlib.blake2b()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=50_000, help="images in the split")
    parser.add_argument("--rounds", type=int, default=5, help="timing rounds (best is reported)")
    args = parser.parse_args()
    dataset = Transforms2D(objects=tuple(range(10)))
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory() as cache:
        entry = build_split(dataset, "train", args.n, 0, cache=cache).path
        files = [entry / "images.npy", entry / "labels.npy"]
        megabytes = sum(f.stat().st_size for f in files) / 1e6
        sha = _best(lambda: [sha256_file(f) for f in files], args.rounds)
        blake = _best(lambda: [_blake2b(f) for f in files], args.rounds)
        bare = _best(lambda: (np.load(files[0], mmap_mode="r"), np.load(files[1])), args.rounds)
        load = _best(lambda: build_split(dataset, "train", args.n, 0, cache=cache), args.rounds)
    print(f"split: {args.n} x 3 x {dataset.image_size} x {dataset.image_size} uint8 + labels = {megabytes:.1f} MB")
    print(f"SHA-256 of both arrays (checked on every load): {sha:.3f} s = {megabytes / 1e3 / sha:.2f} GB/s")
    print(f"BLAKE2b of both arrays (for comparison):        {blake:.3f} s = {megabytes / 1e3 / blake:.2f} GB/s")
    print(f"bare memory-mapped load, no check:               {bare:.4f} s")
    print(f"build_split load from the cache (with the check): {load:.3f} s (limit {LIMIT_S:.0f} s: "
          f"{'PASS' if load <= LIMIT_S else 'FAIL'}; {load / LIMIT_S:.2f} of the limit)")


if __name__ == "__main__":
    main()
