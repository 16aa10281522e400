"""Training throughput of one cell on every core vs one cell per core at once (what ``reproduce --jobs`` chooses).

Each measurement is a fresh process running Adam steps of a CIFAR architecture on random 32x32 images: first one
process with all N cores as threads, then N processes with one thread each, started together. Printed: images/s of
each and the ratio (N single-thread processes together ÷ one N-thread process; above 1, cells one per core win).

    python benchmarks/bench_jobs.py [--arch densenet121] [--width 0.5] [--batch-size 64] [--steps 10]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys


def child(arch: str, width: float, batch_size: int, steps: int, threads: int) -> None:
    import time

    import torch
    import torch.nn.functional as F

    from invmeter.models.cifar import create_cifar_model

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    x, y = torch.randn(batch_size, 3, 32, 32), torch.randint(30, (batch_size,))
    model = create_cifar_model(arch, num_classes=30, width=width)
    optimizer = torch.optim.Adam(model.parameters(), 1e-3)
    for step in range(steps + 3):  # 3 warm-up steps
        if step == 3:
            start = time.perf_counter()
        loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    print(json.dumps({"images_per_s": steps * batch_size / (time.perf_counter() - start)}))


def run(args: argparse.Namespace, threads: int, copies: int) -> list[float]:
    command = [sys.executable, __file__, "--child", str(threads), "--arch", args.arch, "--width", str(args.width),
               "--batch-size", str(args.batch_size), "--steps", str(args.steps)]
    procs = [subprocess.Popen(command, stdout=subprocess.PIPE, text=True) for _ in range(copies)]
    return [json.loads(p.communicate()[0])["images_per_s"] for p in procs]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default="densenet121")
    parser.add_argument("--width", type=float, default=0.5)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        child(args.arch, args.width, args.batch_size, args.steps, args.child)
        return
    from invmeter.runner import available_cores

    cores = available_cores()
    together = run(args, 1, cores)
    (alone,) = run(args, cores, 1)
    print(f"cifar:{args.arch} width {args.width}, batch {args.batch_size}, {cores} cores")
    print(f"one process, {cores} threads: {alone:.0f} img/s")
    print(f"{cores} processes, 1 thread each: {' + '.join(f'{v:.0f}' for v in together)} = {sum(together):.0f} img/s")
    print(f"ratio (one cell per core ÷ one cell on every core): {sum(together) / alone:.2f}")


if __name__ == "__main__":
    main()
