"""``invmeter score`` on a folder of 5,000 and 50,000 JPEGs: wall time and peak memory, which must grow only by the
representations kept.

Writes N small JPEGs (48 x 48 px, smooth seeded noise, quality 90) in 10 class subfolders, then runs
``invmeter score --data FOLDER`` in a fresh child process per N, with a small model at a small input size
(``cifar:resnet18?width=0.25 --weights random --image-size 32``, rotation, the default metrics with 1,000-resample
intervals, all N images), and prints its wall seconds and its peak resident memory (``VmHWM`` from
``/proc/<pid>/status``, read until it exits, and the kernel's ``ru_maxrss`` of that child from ``wait4``, the
larger of the two).

Bounded memory: everything ``score`` holds per image beyond the representations (file lists aside) would grow with
N. What must grow is the representations kept: N x (D + C) x 4 bytes x 2 views (float32 features of D dimensions
and C logits, clean and transformed), printed as the expected growth. Limit: the peak grows from the smallest N to
the largest by at most 3x that (the batches as kept, their concatenation, and one working copy in the metrics)
plus 64 MiB (the allocator, per-image metric values and bootstrap blocks); the memory ratio is printed beside it.

    python benchmarks/bench_folder_scale.py                # N = 5,000 and 50,000; quiet machine: minutes
    python benchmarks/bench_folder_scale.py --smoke        # N = 200 and 400: checks it runs (figures meaningless)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from PIL import Image
from timing import against, vm_hwm_mib

MODEL = "cifar:resnet18?width=0.25"
IMAGE_SIZE = 32
CLASSES = 10
SIDE = 48
GROWTH_FACTOR = 3.0  # the representations' growth allowed: kept batches + their concatenation + one working copy
SLACK_MIB = 64.0


def write_folder(root: Path, n: int) -> Path:
    """``n`` seeded 48 x 48 JPEGs, image i in class folder ``i % 10``."""
    rng = np.random.default_rng(n)
    for c in range(CLASSES):
        (root / f"class{c}").mkdir(parents=True)
    for i in range(n):
        coarse = rng.integers(0, 256, (6, 6, 3), dtype=np.uint8)
        image = Image.fromarray(coarse).resize((SIDE, SIDE), Image.BICUBIC)
        image.save(root / f"class{i % CLASSES}" / f"{i:06d}.jpg", quality=90)
    return root


def run_child(folder: Path, n: int, out: Path) -> tuple[float, float, dict]:
    """``invmeter score`` on ``folder`` in a child process: (wall seconds, peak RSS MiB, its JSON report)."""
    command = [sys.executable, "-m", "invmeter", "score", "-m", MODEL, "--weights", "random", "--image-size",
               str(IMAGE_SIZE), "-t", "rotation", "--data", str(folder), "--n-images", str(n), "--json", str(out)]
    start = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    errors: list[str] = []
    reader = threading.Thread(target=lambda: errors.append(child.stderr.read()))  # type: ignore[union-attr]
    reader.start()
    peak, status = 0.0, 0
    while True:  # VmHWM only grows: read until the child exits, then its own ru_maxrss (the same peak, exact)
        pid, status, usage = os.wait4(child.pid, os.WNOHANG)
        if pid:
            break
        peak = max(peak, vm_hwm_mib(child.pid))  # NaN once it has exited: max keeps the peak so far
        time.sleep(0.05)
    wall = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
    reader.join()
    peak = max(peak, usage.ru_maxrss / 1024)
    if child.returncode != 0:
        raise SystemExit(f"invmeter score on {n} images failed (exit {child.returncode}): {''.join(errors)[-2000:]}")
    return wall, peak, json.loads(out.read_text())


def representation_width() -> tuple[int, int]:
    """(D, C): the model's representation width and its logits, read from one forward pass."""
    import torch

    from invmeter.api import ScoreSettings, resolve_model
    from invmeter.models.representation import representation

    handle = resolve_model(MODEL, ScoreSettings(weights="random", image_size=IMAGE_SIZE))
    with torch.inference_mode():
        width = representation(handle, torch.zeros(1, 3, IMAGE_SIZE, IMAGE_SIZE)).shape[1]
    return int(width), int(handle.num_classes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="5000,50000", help="comma-separated N, increasing")
    parser.add_argument("--smoke", action="store_true", help="N = 200 and 400: checks it runs (figures meaningless)")
    args = parser.parse_args()
    sizes = [200, 400] if args.smoke else [int(s) for s in args.sizes.split(",")]
    if sizes != sorted(sizes) or len(sizes) < 2:
        raise SystemExit("--sizes: give at least two sizes, in increasing order, e.g. 5000,50000")
    width, logits = representation_width()
    per_image = (width + logits) * 4 * 2  # bytes: float32 features and logits, clean and transformed views
    print(f"{MODEL} at {IMAGE_SIZE} px, random weights, rotation, default metrics; {os.cpu_count()} CPUs; "
          f"representations kept: (D = {width} + C = {logits}) x 4 bytes x 2 views = {per_image} bytes per image")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            start = time.perf_counter()
            folder = write_folder(Path(tmp) / f"n{n}", n)
            written = time.perf_counter() - start
            wall, peak, report = run_child(folder, n, Path(tmp) / f"n{n}.json")
            images = report["data"]["n_images"]
            if images != n:
                raise SystemExit(f"the report covers {images} images, not {n}")
            t = report["provenance"]["timings"]
            rows.append((n, wall, peak))
            print(f"N = {n:>6}: wrote the folder in {written:.1f} s; score {wall:.1f} s wall (render not hidden "
                  f"{t['render_s']:.1f} s, forward {t['forward_s']:.1f} s, metrics {t['metrics_s']:.1f} s; "
                  f"{1e3 * wall / n:.2f} ms per image), peak RSS {peak:.0f} MiB")
    (n0, _, peak0), (n1, _, peak1) = rows[0], rows[-1]
    expected = (n1 - n0) * per_image / 2**20
    limit = GROWTH_FACTOR * expected + SLACK_MIB
    growth = peak1 - peak0
    ok = growth <= limit
    print(f"memory N = {n1} / N = {n0}: x{peak1 / peak0:.3f} for x{n1 / n0:g} images (a peak under the limit: "
          f"x{(peak0 + limit) / peak0:.3f}); growth {growth:.0f} MiB, of which the representations kept: "
          f"{expected:.0f} MiB; growth {against(growth, round(limit), 0)} MiB ({GROWTH_FACTOR:g} x {expected:.0f} + "
          f"{SLACK_MIB:.0f}): {'PASS' if ok else 'FAIL'}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
