"""Transforms-2D build speed: images/s of build_split on a 50k 32x32 split vs a per-image PIL/torchvision pipeline
doing the same composition (limit: >= 10x), plus the cold build time and the cache load time.

The dataset is the paper's setting: 30 procedural objects on the 867 procedural backgrounds, 32x32, under all 8
paper families composed in the paper's order (scale+hflip+vflip+rotation+translation+color_jitter+sharpen+blur,
flips and sharpen with p = 0.5). The per-image pipeline is the paper's code path: for each image, one torchvision
functional op per family on a 32x32 RGBA PIL image (colour ops on RGB with the alpha re-attached), then a paste on
the background. It renders the very same scenes with the very same sampled parameters, from the same pre-rendered
prototypes and backgrounds, so only the pipeline differs (the mean pixel difference is printed).

The rates are per core: build_split with one rendering thread vs the per-image pipeline in one process with one
torch thread (as a DataLoader worker runs it), timed in alternating rounds of a few seconds each (a whole --n split
vs --per-image-n images, so both see the same machine load). Both wall-clock and CPU-time rates are printed; the
ratio is on CPU time per image (the best round of each), which is what a core costs per image even when other jobs
share the machine. The first build (all cores, cached) and the cache load are timed once.

    python benchmarks/bench_data.py [--n 50000] [--rounds 3] [--per-image-n 5000]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch
import torchvision.transforms.functional as TF
from PIL import Image
from torchvision.transforms import InterpolationMode

from invmeter.data import SPLIT_SEED_OFFSETS, Transforms2D, build_split
from invmeter.data.design import in_paper_order
from invmeter.data.transforms2d import Scenes
from invmeter.transforms import PAPER_FAMILIES

LIMIT = 10.0
BILINEAR = InterpolationMode.BILINEAR


def _to_pil(prototypes: torch.Tensor, backgrounds: torch.Tensor) -> tuple[list[Image.Image], list[Image.Image]]:
    alpha = prototypes[:, 3:4]
    straight = torch.where(alpha > 0, prototypes[:, :3] / alpha.clamp_min(1e-8), torch.zeros_like(prototypes[:, :3]))
    rgba = (torch.cat([straight, alpha], 1) * 255).round().byte().permute(0, 2, 3, 1).numpy()
    rgb = (backgrounds * 255).round().byte().permute(0, 2, 3, 1).numpy()
    return [Image.fromarray(x, "RGBA") for x in rgba], [Image.fromarray(x, "RGB") for x in rgb]


def _colour(obj: Image.Image, op) -> Image.Image:  # noqa: ANN001 - the paper's "_with_transparency"
    alpha = obj.getchannel("A")
    out = op(obj.convert("RGB"))
    out.putalpha(alpha)
    return out


def _apply(obj: Image.Image, family: str, p: list[float], size: int) -> Image.Image:
    """One family with one image's parameters, as torchvision ops on a PIL RGBA image."""
    if family == "scale":
        return TF.affine(obj, angle=0.0, translate=[0, 0], scale=p[0], shear=[0.0, 0.0], interpolation=BILINEAR)
    if family == "translation":
        return TF.affine(obj, angle=0.0, translate=[round(p[0] * size), round(p[1] * size)], scale=1.0,
                         shear=[0.0, 0.0], interpolation=BILINEAR)
    if family == "rotation":
        return TF.rotate(obj, p[0], interpolation=BILINEAR)
    if family in ("hflip", "vflip"):
        return (TF.hflip if family == "hflip" else TF.vflip)(obj) if p[0] else obj
    if family == "color_jitter":
        def jitter(rgb: Image.Image) -> Image.Image:
            rgb = TF.adjust_contrast(TF.adjust_brightness(rgb, p[0]), p[1])
            return TF.adjust_hue(rgb, p[3])

        return _colour(obj, jitter)
    if family == "sharpen":
        return TF.adjust_sharpness(obj, p[0]) if p[0] != 1.0 else obj
    if family == "blur":
        return TF.gaussian_blur(obj, kernel_size=7, sigma=p[0])
    raise ValueError(f"no per-image baseline for {family!r}")


def per_image_pipeline(
    dataset: Transforms2D, scenes: Scenes, objects: list[Image.Image], bank: list[Image.Image]
) -> np.ndarray:
    """Render ``scenes`` one image at a time with PIL/torchvision; returns ``(N, S, S, 3)`` uint8."""
    steps = [(s.family, p.tolist()) for s, p in zip(scenes.transforms.spec.steps, scenes.transforms.params)]
    out = np.empty((len(scenes), dataset.image_size, dataset.image_size, 3), dtype=np.uint8)
    for i in range(len(scenes)):
        obj = objects[int(scenes.labels[i])]
        for family, params in steps:
            obj = _apply(obj, family, params[i], dataset.image_size)
        canvas = bank[int(scenes.backgrounds[i])].copy()
        canvas.paste(obj, (0, 0), obj)
        out[i] = np.asarray(canvas)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=50_000, help="images in the built split")
    parser.add_argument("--rounds", type=int, default=3, help="alternating timing rounds for the rates")
    parser.add_argument("--per-image-n", type=int, default=5000, help="images per per-image round")
    args = parser.parse_args()
    dataset = Transforms2D(objects=tuple(range(30)), transforms=in_paper_order(PAPER_FAMILIES))
    print(f"dataset: 30 classes, {dataset.image_size}x{dataset.image_size}, transforms {dataset.transforms}")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} torch threads, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}")

    with tempfile.TemporaryDirectory() as cache:
        start = time.perf_counter()
        built = build_split(dataset, "train", args.n, 0, cache=cache)
        cold = time.perf_counter() - start
        start = time.perf_counter()
        loaded = build_split(dataset, "train", args.n, 0, cache=cache)
        load = time.perf_counter() - start
        images = np.array(loaded.images[: args.per_image_n * args.rounds])
        assert np.array_equal(images, np.asarray(built.images[: len(images)]))

    # The per-image pipeline renders the same scenes as the built split, from the same prototypes and backgrounds.
    scenes = dataset.sample_scenes(args.n, torch.Generator().manual_seed(SPLIT_SEED_OFFSETS["train"]), balanced=True)
    objects, bank = _to_pil(dataset.prototypes(), dataset.background_source.render(
        torch.arange(dataset.background_source.count), dataset.image_size))
    threads = torch.get_num_threads()
    batched: list[tuple[float, float]] = []  # (wall, CPU) images per second
    per_image: list[tuple[float, float]] = []
    diffs = []
    for r in range(args.rounds):  # alternate, so both pipelines see the same machine load
        with _timed(batched, args.n):
            build_split(dataset, "train", args.n, r, cache=False, workers=1)
        part = slice(r * args.per_image_n, (r + 1) * args.per_image_n)
        torch.set_num_threads(1)  # as in a DataLoader worker; tiny torch ops on contended threads are far slower
        with _timed(per_image, args.per_image_n):
            reference = per_image_pipeline(dataset, scenes[part], objects, bank)
        torch.set_num_threads(threads)
        diffs.append(np.abs(reference.astype(np.int16) - images[part].transpose(0, 2, 3, 1)).mean())

    print(f"first build of the {args.n}-image split (cached, all cores): {cold:6.2f} s = {args.n / cold:6.0f} img/s "
          f"(limit 60 s: {'PASS' if cold <= 60 else 'FAIL'})")
    print(f"load from the cache (memory-mapped): {load:.3f} s (limit 2 s: {'PASS' if load <= 2 else 'FAIL'})")
    for name, rates in ((f"build_split, 1 thread, {args.n} images/round", batched),
                        (f"per-image PIL/torchvision, 1 process, {args.per_image_n} images/round", per_image)):
        wall, cpu = [w for w, _ in rates], [c for _, c in rates]
        print(f"{name}: wall best {max(wall):5.0f}, median {statistics.median(wall):5.0f} img/s; "
              f"CPU time best {max(cpu):5.0f}, median {statistics.median(cpu):5.0f} img/s")
    print(f"same images? mean |batched - per-image| = {np.mean(diffs):.1f} / 255 (per-image: integer shifts, uint8 "
          "after every op, contrast mean over the whole canvas)")
    ratio = max(c for _, c in batched) / max(c for _, c in per_image)
    wall_ratio = max(w for w, _ in batched) / max(w for w, _ in per_image)
    print(f"ratio per core (CPU time, best rounds): {ratio:.1f}x (limit >= {LIMIT:.0f}x: "
          f"{'PASS' if ratio >= LIMIT else 'FAIL'}); wall clock: {wall_ratio:.1f}x; first build on all cores vs "
          f"the per-image pipeline's best wall rate: {args.n / cold / max(w for w, _ in per_image):.1f}x")


@contextmanager
def _timed(rates: list[tuple[float, float]], n: int) -> Iterator[None]:
    """Append (wall-clock, CPU-time) images per second of the block (CPU time: this process, all threads)."""
    wall, cpu = time.perf_counter(), time.process_time()
    yield
    rates.append((n / (time.perf_counter() - wall), n / (time.process_time() - cpu)))


if __name__ == "__main__":
    main()
