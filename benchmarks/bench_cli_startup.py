"""``invmeter --help`` time ÷ ``python -c "import torch"`` time (limit: 1/3): the command line loads no PyTorch
for help and shell completion. Best of several runs of each, in fresh processes.

    python benchmarks/bench_cli_startup.py [--repeats 7]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

LIMIT = 1 / 3


def best_seconds(command: list[str], repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    torch_s = best_seconds([sys.executable, "-c", "import torch"], args.repeats)
    help_s = best_seconds([sys.executable, "-m", "invmeter", "--help"], args.repeats)
    score_help_s = best_seconds([sys.executable, "-m", "invmeter", "score", "--help"], args.repeats)
    ratio = help_s / torch_s
    print(f"python -c 'import torch': {torch_s:.3f} s; invmeter --help: {help_s:.3f} s; "
          f"invmeter score --help: {score_help_s:.3f} s (best of {args.repeats})")
    print(f"ratio {ratio:.3f} {'<=' if ratio <= LIMIT else '>'} limit {LIMIT:.3f}")


if __name__ == "__main__":
    main()
