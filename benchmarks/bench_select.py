"""``invmeter select`` against ``invmeter zoo`` on the same models, transforms and images: select time ÷ zoo time per
model (limit 1.10).

Both feed each model the same (1 + T)·N images (the clean views once, each transform's views once) from the same
labelled folder, at the same settings; the zoo computes its default metrics with their intervals on every
transform, select its estimators (LogME, LEEP, NCE, H-score, kNN, probe) on the clean views and invariance and the
accuracy delta under every transform, with the same intervals. Per model: the zoo's cell time (from its record)
and select's time for that model (``seconds`` of its row), each from building the model to its last number,
the median of alternating repeats' paired ratios after a warm-up of both (imports, first kernel calls).

    python benchmarks/bench_select.py [--n-images 320] [--image-size 224] [--repeats 2]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path

from timing import against, alternating, paired_ratio

LIMIT = 1.10
MODELS = ["timm:resnet18", "timm:resnet34", "timm:mobilenetv3_large_100", "timm:efficientnet_b0"]
TRANSFORMS = ["rotation", "hflip"]


def labelled_folder(root: Path, n_classes: int, per_class: int, size: int) -> Path:
    """A folder of Transforms-2D images (rendered, one subfolder per class): ``per_class`` PNGs per class."""
    import numpy as np
    from PIL import Image

    from invmeter.data import build_split
    from invmeter.pipeline.resolve import make_transforms2d

    split = build_split(make_transforms2d(n_classes=n_classes, image_size=size, transforms="rotation+scale"), "test",
                        n_classes * per_class, 0, cache=False)
    for i, (image, label) in enumerate(zip(split.images, split.labels)):
        folder = root / f"class{int(label):02d}"
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.transpose(np.asarray(image), (1, 2, 0))).save(folder / f"{i}.png")
    return root


def zoo_seconds(spec: str, data: Path, options: dict) -> float:
    import invmeter

    with tempfile.TemporaryDirectory() as out:
        invmeter.zoo([spec], TRANSFORMS, out=out, data=str(data), **options)
        return json.loads(next(Path(out, "cells").glob("*.json")).read_text())["provenance"]["seconds"]


def select_seconds(spec: str, data: Path, options: dict) -> float:
    import invmeter

    (row,) = invmeter.select([spec], str(data), TRANSFORMS, **options).candidates
    assert row["status"] == "ok", row["reason"]
    return row["seconds"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-images", type=int, default=320)
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--models", nargs="+", default=MODELS)
    args = parser.parse_args()
    import torch

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; {len(TRANSFORMS)} transforms, "
          f"{args.n_images} images at {args.image_size} px: (1 + T)·N = {(1 + len(TRANSFORMS)) * args.n_images} "
          "images per model, in both")
    options = dict(weights="random", n_images=args.n_images, image_size=args.image_size, batch_size=args.batch_size)
    with tempfile.TemporaryDirectory() as folder:
        data = labelled_folder(Path(folder) / "data", 10, max(2, -(-args.n_images // 10)), 64)
        warm_data = labelled_folder(Path(folder) / "warm-up", 10, 2, 64)  # all 20 images: 2 per class, as select needs
        warm = {**options, "n_images": 20}
        zoo_seconds(args.models[0], warm_data, warm), select_seconds(args.models[0], warm_data, warm)
        worst = 0.0
        for spec in args.models:
            runs = alternating({"zoo": lambda: zoo_seconds(spec, data, options),
                                "select": lambda: select_seconds(spec, data, options)}, args.repeats)
            zoo, sel = runs["zoo"], runs["select"]
            ratio = paired_ratio(sel, zoo)
            worst = max(worst, ratio)
            print(f"{spec:<30} select {statistics.median(sel):7.2f} s, zoo {statistics.median(zoo):7.2f} s -> ratio "
                  f"{ratio:.3f} (limit {LIMIT}); repeats: select {sel}, zoo {zoo}")
    print(f"worst ratio {against(worst, LIMIT)}")


if __name__ == "__main__":
    main()
