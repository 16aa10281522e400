"""invmeter against what a user would run instead, on the same model, images and transforms, in one run.

1. **timm's own evaluation loop** (limit: invmeter <= 1.0x): ``timm.data.create_dataset`` + ``create_loader`` with
   the model's data config (resize, crop, interpolation), the same number of workers as invmeter uses (0: it reads
   in its own process), run once for the clean views and once per transform (the transform applied to each batch
   of [0, 1] images before normalisation, as invmeter does: the loop rotates a batch by 30°, invmeter each image by
   its own θ ~ U[-30°, 30°], the same work per image), the model's penultimate representation under
   ``inference_mode``: the same (1 + T)·N forward passes. invmeter: ``score_many(handle, transforms, data=folder)``
   (invmeter.api) with its default metric set and intervals, end to end. Images: JPEG photos (``bench_score.photo_folder``).
2. **A plain** ``torch.func.jvp`` **loop** for the Lie derivative (limit: invmeter <= 1.1x): per batch,
   ``jvp(forward, (x,), (path_tangent("rotation", x),))`` and the per-image mean square of the output tangent,
   against ``invmeter.metrics.lie.lie_derivative(forward, x, "rotation")``, same forward, same batches.

Not here: tmeasures on every leaf module (benchmarks/bench_tmeasures.py and bench_measures.py time tmeasures and
invmeter's unit measures; a ``>= 5x faster than tmeasures on every leaf`` line is not measured by this script).

Times are medians over ``--repeats`` alternating runs (wall seconds: run it on a quiet machine; the load average is
printed at the start and the end).

    python benchmarks/peers.py                     # 128 photos, ResNet-18 (a1 config), rotation + hflip, 3 repeats
    python benchmarks/peers.py --smoke             # 8 photos, 1 repeat: checks it runs (figures meaningless)
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import timm
import torch
import torchvision.transforms.v2.functional as TF
from bench_score import photo_folder
from torch import Tensor

import invmeter
from invmeter.api import score_many
from invmeter.metrics.lie import lie_derivative
from invmeter.transforms.generators import path_tangent

TIMM_LIMIT = 1.0
JVP_LIMIT = 1.1
MODEL = "timm:resnet18.a1_in1k"
PEER_TRANSFORMS: dict[str, Callable[[Tensor], Tensor]] = {  # what the user's loop applies: same work per image
    "rotation:30": lambda x: TF.rotate(x, 30.0, interpolation=TF.InterpolationMode.BILINEAR),
    "hflip": TF.horizontal_flip,
}


def median_seconds(run: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def timm_loop(model: torch.nn.Module, folder: Path, batch: int, workers: int) -> int:
    """timm's evaluation loop over the folder once for the clean views and once per transform: forward passes."""
    config = timm.data.resolve_data_config({}, model=model)
    dataset = timm.data.create_dataset("", root=str(folder))
    loader = timm.data.create_loader(dataset, input_size=config["input_size"], batch_size=batch, use_prefetcher=False,
                                     interpolation=config["interpolation"], mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0),
                                     crop_pct=config["crop_pct"], crop_mode=config.get("crop_mode", "center"),
                                     num_workers=workers)
    mean = torch.tensor(config["mean"]).view(1, 3, 1, 1)
    std = torch.tensor(config["std"]).view(1, 3, 1, 1)
    passes = 0
    with torch.inference_mode():
        for view in (None, *PEER_TRANSFORMS.values()):
            for x, _ in loader:
                x = view(x) if view is not None else x
                model.forward_head(model.forward_features((x - mean) / std), pre_logits=True)
                passes += len(x)
    return passes


def jvp_case(handle: invmeter.ModelHandle, images: Tensor, batch: int, repeats: int) -> tuple[float, float]:
    """Median seconds of invmeter's lie_derivative and of the plain torch.func.jvp loop on the same batches."""
    model = handle.model

    def forward(x: Tensor) -> Tensor:
        return model.forward_head(model.forward_features(handle.preprocessing.normalize(x)), pre_logits=True)

    batches = [images[s : s + batch] for s in range(0, len(images), batch)]

    def ours() -> list[Tensor]:
        return [lie_derivative(forward, x, "rotation")["output"] for x in batches]

    def plain() -> list[Tensor]:
        out = []
        for x in batches:
            _, tangent = torch.func.jvp(forward, (x,), (path_tangent("rotation", x),))
            out.append(tangent.flatten(1).pow(2).mean(dim=1))
        return out

    torch.testing.assert_close(torch.cat(ours()).double(), torch.cat(plain()).double(), rtol=1e-3, atol=1e-9)  # same
    ours(), plain()  # warm-up
    ours_s, plain_s = [], []
    for _ in range(repeats):  # alternating, so both see the same machine
        ours_s.append(median_seconds(ours, 1))
        plain_s.append(median_seconds(plain, 1))
    return statistics.median(ours_s), statistics.median(plain_s)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=128, help="photos (4 classes)")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--lee-images", type=int, default=32)
    parser.add_argument("--smoke", action="store_true", help="8 photos, 1 repeat, 2 LEE images: checks it runs")
    args = parser.parse_args()
    if args.smoke:
        args.n, args.batch, args.repeats, args.lee_images = 8, 4, 1, 2
    print(f"torch {torch.__version__}, timm {timm.__version__}, {torch.get_num_threads()} threads, "
          f"load average {os.getloadavg()[0]:.2f} at start")
    handle = invmeter.load_model(MODEL, weights="random")
    model = handle.model.eval()
    transforms = list(PEER_TRANSFORMS)
    with tempfile.TemporaryDirectory() as tmp:
        folder = photo_folder(Path(tmp) / "photos", args.n // 4)
        n = sum(1 for _ in folder.rglob("*.jpg"))

        def ours() -> None:
            score_many(handle, transforms, data=str(folder), n_images=n, batch_size=args.batch)

        def peer() -> None:
            assert timm_loop(model, folder, 2 * args.batch, 0) == (1 + len(transforms)) * n

        ours(), peer()  # warm-up: imports, kernels, the page cache
        ours_s, peer_s = [], []
        for _ in range(args.repeats):
            ours_s.append(median_seconds(ours, 1))
            peer_s.append(median_seconds(peer, 1))
    ratio = statistics.median(ours_s) / statistics.median(peer_s)
    print(f"{MODEL} on {n} JPEG photos, transforms {', '.join(transforms)}: invmeter score {statistics.median(ours_s):.2f} s"
          f", timm's loop {statistics.median(peer_s):.2f} s ((1 + {len(transforms)})·{n} forward passes, 0 workers) -> "
          f"ratio {ratio:.3f} {'<=' if ratio <= TIMM_LIMIT else '>'} limit {TIMM_LIMIT}")
    images = torch.rand(args.lee_images, 3, *handle.input_size, generator=torch.Generator().manual_seed(0))
    ours_lee, plain_lee = jvp_case(handle, images, min(args.batch, args.lee_images), args.repeats)
    ratio = ours_lee / plain_lee
    print(f"{MODEL} Lie derivative (rotation), {args.lee_images} images: invmeter {ours_lee:.2f} s, plain "
          f"torch.func.jvp loop {plain_lee:.2f} s -> ratio {ratio:.3f} {'<=' if ratio <= JVP_LIMIT else '>'} limit "
          f"{JVP_LIMIT}")
    print(f"load average {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main()
