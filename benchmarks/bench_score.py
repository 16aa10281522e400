"""score() wall time ÷ the bare forward passes of the same model on the same images (limit: 1.10).

For each case the controlled pairs are rendered once and kept in memory for the bare loop, which runs ``model(x)``
on exactly the batches score() uses (2 x batch_size images per call, same device, eval mode, inference_mode,
channels-last for convolutional models as score() runs them), so the comparison isolates score()'s own overhead:
rendering (Transforms-2D) or reading, resizing and cropping the files with the model's own eval preprocessing
(an image folder), normalisation, hooks, every metric with bootstrap CIs. score() is timed end to end with the
model already loaded (a ModelHandle). Each repeat times both back to back; the ratio is the median of the repeats'
paired ratios.

    python benchmarks/bench_score.py [--repeats 3] [--device cpu]   # --smoke: 8 photos, to check it runs
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from timing import against, paired_ratio

import invmeter
from invmeter.api import ScoreSettings
from invmeter.pipeline.measure import make_pairs
from invmeter.pipeline.prepare import prepare

LIMIT = 1.10
CASES = [  # (model spec, transform, data, pairs, batch size)
    ("timm:resnet18", "rotation", "transforms2d", 320, 32),
    ("cifar:resnet18", "rotation", "transforms2d", 2000, 128),
    ("timm:resnet18.a1_in1k", "rotation", "photos", 128, 32),  # JPEG photos, timm's resize 235 bicubic + crop 224
]
SMOKE_CASES = [("timm:resnet18.a1_in1k", "rotation", "photos", 8, 4)]  # --smoke: seconds, to check it runs


def photo_folder(root: Path, per_class: int = 32) -> Path:
    """4 classes of real photos (scikit-image), seeded crops saved as ~500x375 JPEGs, as a user's folder would be."""
    from skimage import data

    rng = np.random.default_rng(0)
    for name, photo in (("astronaut", data.astronaut()), ("coffee", data.coffee()), ("chelsea", data.chelsea()),
                        ("rocket", data.rocket())):
        (root / name).mkdir(parents=True)
        h, w = photo.shape[:2]
        for k in range(per_class):
            ch, cw = int(h * rng.uniform(0.6, 1.0)), int(w * rng.uniform(0.6, 1.0))
            top, left = rng.integers(0, h - ch + 1), rng.integers(0, w - cw + 1)
            crop = Image.fromarray(photo[top : top + ch, left : left + cw, :3]).resize((500, 375), Image.BICUBIC)
            crop.save(root / name / f"{k}.jpg", quality=90)
    return root


def bare_forward_seconds(model: torch.nn.Module, batches: list[torch.Tensor]) -> float:
    model(batches[0][:2])  # warm-up for this memory format
    start = time.perf_counter()
    for x in batches:
        model(x)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--smoke", action="store_true", help="8 photos, one repeat: checks it runs (figures meaningless)")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, device {args.device}")
    worst = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for spec, transform, data, n, batch in SMOKE_CASES if args.smoke else CASES:
            source = str(photo_folder(Path(tmp) / "photos", n // 4)) if data == "photos" else data
            settings = ScoreSettings(n_images=n, batch_size=batch, device=args.device, weights="random")
            plan = next(prepare(spec, transform, data=source, settings=settings).plans())
            handle = plan.handle
            pairs = make_pairs(plan, plan.transforms[0].transform, 0)
            batches = []
            cpu0 = time.process_time()
            for index, _ in pairs.batches(batch):
                clean, transformed = pairs.render(index)
                batches.append(handle.preprocessing.normalize(torch.cat([clean, transformed])).to(args.device))
            render_cpu = time.process_time() - cpu0  # CPU seconds (all threads) to read or render every pair once
            model = handle.model.to(args.device).eval()
            model.to(memory_format=torch.channels_last)
            batches = [b.contiguous(memory_format=torch.channels_last) for b in batches]
            bare, full = [], []
            for _ in range(args.repeats):
                with torch.inference_mode():
                    bare.append(bare_forward_seconds(model, batches))
                start = time.perf_counter()
                report = invmeter.score(handle, transform, data=source, settings=settings)
                full.append(time.perf_counter() - start)
            ratio = paired_ratio(full, bare)  # the ratio of the two medians is printed beside it
            worst = max(worst, ratio)
            t = report.provenance["timings"]
            print(f"{spec:<22} {data:<12} {n} pairs @ {handle.input_size[0]}px, batch {batch}: bare forward "
                  f"{statistics.median(bare):.2f} s, score {statistics.median(full):.2f} s (render {t['render_s']:.2f} s "
                  f"not hidden, forward {t['forward_s']:.2f} s, metrics {t['metrics_s']:.2f} s) -> ratio {ratio:.3f} "
                  f"(limit {LIMIT}; paired ratios {', '.join(f'{f / b:.3f}' for f, b in zip(full, bare))}; ratio of "
                  f"the medians {statistics.median(full) / statistics.median(bare):.3f}); rendering every pair once: {render_cpu:.2f} s of CPU ({1e3 * render_cpu / n:.1f} ms "
                  "per pair)")
    print(f"worst ratio {against(worst, LIMIT)}")


if __name__ == "__main__":
    main()
