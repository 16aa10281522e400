"""Training throughput of the paper preset's models on one GPU: one paper-size epoch (50,000 Transforms-2D images,
32 px, 30 classes, batch 512, width 1) per architecture in float32, ResNet-18 with bfloat16 autocast, and ResNet-18
run as several cells at once (processes sharing the GPU, each bounded to its share of memory).

    python benchmarks/bench_gpu_epoch.py [--archs resnet18,vgg11,densenet121] [--jobs 4] [--out gpu_epoch.json]

Each run trains 2 epochs and reports the second (the first includes CUDA start-up and kernel selection), in training
images per second (the trainer's own ``images_per_s``: training steps only, validation excluded). Prints the
``--throughput`` argument for ``invmeter reproduce --dry-run`` and writes everything as JSON to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

N_TRAIN = 50_000  # the paper's training split
BATCH = 512  # the paper's batch (fig2, fig5, fig6; fig8: 256)
CLASSES = 30


def one_run(arch: str, amp: bool, memory: float | None) -> dict:
    """Train ``arch`` for 2 paper-size epochs in this process; the second epoch's training throughput."""
    import torch

    from invmeter.data.transforms2d import Transforms2D
    from invmeter.training.loop import TrainConfig, train
    from invmeter.transforms import parse_transform

    if memory is not None:
        torch.cuda.set_per_process_memory_fraction(memory)
    data = Transforms2D(objects=tuple(range(CLASSES)), transforms=parse_transform("scale+rotation+color_jitter"))
    cfg = TrainConfig(arch=f"cifar:{arch}", data=data, n_train=N_TRAIN, n_val=1000, n_test=1000, epochs=2,
                      batch_size=BATCH, device="cuda", amp=amp)
    result = train(cfg, cache=False)
    return {"arch": arch, "amp": amp, "images_per_s": result.history[1]["images_per_s"],
            "first_epoch_images_per_s": result.history[0]["images_per_s"], "seconds": result.seconds,
            "peak_gpu_memory_gb": torch.cuda.max_memory_allocated() / 1e9}


def concurrent(jobs: int) -> dict:
    """``jobs`` processes training ResNet-18 at once, each bounded to 90% / jobs of the GPU's memory. They start
    together and do the same work, so their second epochs overlap: the aggregate rate is the sum of theirs (the
    whole span is reported beside it)."""
    command = [sys.executable, __file__, "--single", "resnet18", "--memory", str(0.9 / jobs)]
    start = time.perf_counter()
    procs = [subprocess.Popen(command, stdout=subprocess.PIPE, text=True) for _ in range(jobs)]
    runs = []
    for proc in procs:
        out, _ = proc.communicate(timeout=600)
        if proc.returncode != 0:
            raise SystemExit(f"a concurrent run failed (exit {proc.returncode})")
        runs.append(json.loads(out.strip().splitlines()[-1]))
    rates = [r["images_per_s"] for r in runs]
    return {"jobs": jobs, "aggregate_images_per_s": sum(rates), "per_process_images_per_s": rates,
            "wall_s": time.perf_counter() - start}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archs", default="resnet18,vgg11,densenet121")
    parser.add_argument("--jobs", type=int, default=4, help="Concurrent ResNet-18 runs (0: skip).")
    parser.add_argument("--out", default=None, help="Write the results as JSON here.")
    parser.add_argument("--single", default=None, help=argparse.SUPPRESS)  # one run, as a child process
    parser.add_argument("--memory", type=float, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.single:
        print(json.dumps(one_run(args.single, amp=False, memory=args.memory)), flush=True)
        return

    import torch

    if not torch.cuda.is_available():
        raise SystemExit("bench_gpu_epoch.py needs a CUDA GPU.")
    report: dict = {"gpu": torch.cuda.get_device_name(), "torch": torch.__version__, "cuda": torch.version.cuda,
                    "n_train": N_TRAIN, "batch_size": BATCH, "float32": {}, "cpu_cores": os.cpu_count()}
    for arch in args.archs.split(","):
        run = one_run(arch, amp=False, memory=None)
        report["float32"][arch] = run["images_per_s"]
        print(f"{arch:12s} float32: {run['images_per_s']:8,.0f} img/s (first epoch {run['first_epoch_images_per_s']:,.0f}; "
              f"peak GPU memory {run['peak_gpu_memory_gb']:.1f} GB)", flush=True)
    amp = one_run("resnet18", amp=True, memory=None)
    report["bfloat16_autocast"] = {"resnet18": amp["images_per_s"]}
    print(f"resnet18     bf16 autocast + channels-last: {amp['images_per_s']:8,.0f} img/s", flush=True)
    if args.jobs > 1:
        report["concurrent"] = concurrent(args.jobs)
        c = report["concurrent"]
        print(f"resnet18     float32, {args.jobs} processes at once: {c['aggregate_images_per_s']:8,.0f} img/s in all "
              f"({', '.join(f'{v:,.0f}' for v in c['per_process_images_per_s'])} each; {c['wall_s']:.0f} s wall)",
              flush=True)
    report["throughput_arg"] = ",".join(f"{a}={v:.0f}" for a, v in report["float32"].items())
    print(f"--throughput {report['throughput_arg']}")
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(report, fh, indent=1)


if __name__ == "__main__":
    main()
