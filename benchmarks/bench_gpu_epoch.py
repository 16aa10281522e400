"""Rendered-and-trained throughput of the paper preset's models on one GPU, as the paper preset trains them: a
paper-size Transforms-2D training split (50,000 scenes, 32 px, 30 classes, batch 512, width 1) whose transform
parameters are drawn again every epoch and rendered on the GPU itself.

    python benchmarks/bench_gpu_epoch.py [--archs resnet18,vgg11,densenet121] [--jobs 4] [--out gpu_epoch.json]
    python benchmarks/bench_gpu_epoch.py --device cpu --n-train 512 --width 0.125 --archs resnet18 --jobs 2  # a check

Per architecture: float32 (the default) and bfloat16 autocast with channels-last (``--amp``); ResNet-18 also with
``torch.compile`` (bfloat16), and as ``--jobs`` cells at once (processes sharing the GPU, each bounded to its
share of memory, bfloat16). Each run trains 3 epochs and reports the mean of epochs 2 and 3 (the first includes CUDA
start-up, kernel selection and compilation) in images per second as the trainer counts them: the epoch's rendering on
the device plus its training steps (validation excluded). It also times rendering alone. Writes everything as JSON to
``--out``; ``invmeter reproduce --dry-run`` reads that file (``--throughput FILE``, or
benchmarks/results/gpu_check/gpu_epoch.json when it exists) and uses the measured rates.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

CLASSES = 30
TRANSFORMS = "rotation+brightness+blur"  # one geometric, photometric and corruption family, as the paper's sets


def _config(arch: str, args: argparse.Namespace, amp: bool, compile: bool):  # returns a TrainConfig
    from invmeter.data.transforms2d import Transforms2D
    from invmeter.training.loop import TrainConfig
    from invmeter.transforms import parse_transform

    data = Transforms2D(objects=tuple(range(CLASSES)), transforms=parse_transform(TRANSFORMS))
    return TrainConfig(arch=f"cifar:{arch}", width=args.width, data=data, n_train=args.n_train, n_val=CLASSES,
                       n_test=CLASSES, epochs=args.epochs, batch_size=min(args.batch, args.n_train),
                       device=args.device, amp=amp, compile=compile, redraw=True)


def one_run(arch: str, args: argparse.Namespace, amp: bool, compile: bool, memory: float | None) -> dict:
    """Train ``arch`` for ``args.epochs`` epochs in this process; the mean rate of the epochs after the first."""
    import torch

    from invmeter.training.loop import train

    if memory is not None and torch.cuda.is_available():
        torch.cuda.set_per_process_memory_fraction(memory)
    result = train(_config(arch, args, amp, compile), cache=False)
    later = [row["images_per_s"] for row in result.history[1:]] or [result.history[0]["images_per_s"]]
    peak = torch.cuda.max_memory_allocated() / 1e9 if torch.cuda.is_available() else None
    return {"arch": arch, "amp": amp, "compile": compile, "images_per_s": sum(later) / len(later),
            "first_epoch_images_per_s": result.history[0]["images_per_s"], "seconds": result.seconds,
            "peak_gpu_memory_gb": peak}


def render_rate(args: argparse.Namespace) -> float:
    """Images per second of rendering alone: one redrawn epoch of the training split, on the device."""
    import torch

    from invmeter.data.redraw import RedrawnSplit

    split = RedrawnSplit(_config("resnet18", args, False, False).data, "train", args.n_train, 0, device=args.device)
    split.images(2)  # warm-up (kernels, caches)
    if args.device.startswith("cuda"):
        torch.cuda.synchronize()
    start = time.perf_counter()
    split.images(3)
    if args.device.startswith("cuda"):
        torch.cuda.synchronize()
    return args.n_train / (time.perf_counter() - start)


def concurrent(args: argparse.Namespace) -> dict:
    """``args.jobs`` processes training ResNet-18 (bfloat16) at once, each bounded to 90% / jobs of the GPU's memory.
    They start together and do the same work, so their later epochs overlap: the aggregate rate is the sum of theirs."""
    command = [sys.executable, __file__, "--single", "resnet18", "--memory", str(0.9 / args.jobs), "--device",
               args.device, "--n-train", str(args.n_train), "--width", str(args.width), "--epochs", str(args.epochs),
               "--batch", str(args.batch)]
    start = time.perf_counter()
    procs = [subprocess.Popen(command, stdout=subprocess.PIPE, text=True) for _ in range(args.jobs)]
    runs = []
    for proc in procs:
        out, _ = proc.communicate(timeout=900)
        if proc.returncode != 0:
            raise SystemExit(f"a concurrent run failed (exit {proc.returncode})")
        runs.append(json.loads(out.strip().splitlines()[-1]))
    rates = [r["images_per_s"] for r in runs]
    return {"jobs": args.jobs, "precision": "bfloat16", "aggregate_images_per_s": sum(rates),
            "per_process_images_per_s": rates, "wall_s": time.perf_counter() - start}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archs", default="resnet18,vgg11,densenet121")
    parser.add_argument("--jobs", type=int, default=4, help="Concurrent ResNet-18 runs (0 or 1: skip).")
    parser.add_argument("--out", default=None, help="Write the results as JSON here.")
    parser.add_argument("--device", default="cuda", help="cuda (the measurement) or cpu (a check of this script).")
    parser.add_argument("--n-train", type=int, default=50_000, help="Training scenes (the paper: 50,000).")
    parser.add_argument("--width", type=float, default=1.0, help="Channel width multiplier (the paper: 1).")
    parser.add_argument("--epochs", type=int, default=3, help="Epochs per run (the first is not counted).")
    parser.add_argument("--batch", type=int, default=512, help="Batch size (the paper: 512).")
    parser.add_argument("--no-compile", action="store_true", help="Skip the torch.compile runs.")
    parser.add_argument("--single", default=None, help=argparse.SUPPRESS)  # one run, as a child process
    parser.add_argument("--memory", type=float, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.single:
        print(json.dumps(one_run(args.single, args, amp=True, compile=False, memory=args.memory)), flush=True)
        return

    import torch

    cuda = args.device.startswith("cuda")
    if cuda and not torch.cuda.is_available():
        raise SystemExit("bench_gpu_epoch.py needs a CUDA GPU (or --device cpu to check the script).")
    report: dict = {
        "gpu": torch.cuda.get_device_name() if cuda else None, "device": args.device, "torch": torch.__version__,
        "cuda": torch.version.cuda, "cpu_cores": os.cpu_count(), "n_train": args.n_train, "batch_size": args.batch,
        "width": args.width, "classes": CLASSES, "transforms": TRANSFORMS, "rendering": "redrawn every epoch, on the "
        "training device", "rates": {"float32": {}, "bfloat16": {}, "bfloat16+compile": {}},
    }
    runs = [(arch, amp, False) for arch in args.archs.split(",") for amp in (False, True)]
    if not args.no_compile:
        runs.append(("resnet18", True, True))
    for arch, amp, compile in runs:
        run = one_run(arch, args, amp=amp, compile=compile, memory=None)
        mode = ("bfloat16" if amp else "float32") + ("+compile" if compile else "")
        report["rates"][mode][arch] = run["images_per_s"]
        memory = f"; peak GPU memory {run['peak_gpu_memory_gb']:.1f} GB" if cuda else ""
        print(f"{arch:12s} {mode:17s} {run['images_per_s']:9,.0f} img/s rendered and trained "
              f"(first epoch {run['first_epoch_images_per_s']:,.0f}{memory})", flush=True)
    report["render_images_per_s"] = render_rate(args)
    print(f"rendering alone on {args.device}: {report['render_images_per_s']:,.0f} img/s", flush=True)
    if args.jobs > 1:
        report["concurrent"] = c = concurrent(args)
        print(f"resnet18     bfloat16, {args.jobs} processes at once: {c['aggregate_images_per_s']:9,.0f} img/s in all "
              f"({', '.join(f'{v:,.0f}' for v in c['per_process_images_per_s'])} each; {c['wall_s']:.0f} s wall)",
              flush=True)
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(report, fh, indent=1)
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
