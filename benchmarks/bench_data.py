"""Transforms-2D build speed: images/s of build_split on a 50k 32x32 split vs a per-image PIL/torchvision pipeline
doing the same composition (limit: >= 10x), plus the cold build time and the cache load time.

The dataset is the paper's setting: 30 procedural objects on the 867 procedural backgrounds, 32x32, under all 8
paper families composed in the paper's order (scale+hflip+vflip+rotation+translation+color_jitter+sharpen+blur,
flips and sharpen with p = 0.5). The per-image pipeline is the paper's code path: for each image, one torchvision
functional op per family on a 32x32 RGBA PIL image (colour ops on RGB with the alpha re-attached), then a paste on
the background. It renders the very same scenes with the very same sampled parameters, from the same pre-rendered
prototypes and backgrounds, so only the pipeline differs. Its rate is measured on the first --baseline-n images.

The ratio compares one rendering thread with one per-image process with one torch thread (per core, as a DataLoader
worker runs it); the default build (all cores) is reported beside it.

    python benchmarks/bench_data.py [--n 50000] [--baseline-n 2000]
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np
import torch
import torchvision.transforms.functional as TF
from PIL import Image
from torchvision.transforms import InterpolationMode

from invmeter.data import SPLIT_SEED_OFFSETS, Transforms2D, build_split
from invmeter.data.design import in_paper_order
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


def per_image_pipeline(dataset: Transforms2D, n_split: int, n: int, seed: int) -> np.ndarray:
    """The first ``n`` images of the ``n_split``-image split with seed ``seed``, one image at a time."""
    scenes = dataset.sample_scenes(n_split, torch.Generator().manual_seed(seed), balanced=True)  # as build_split
    objects, bank = _to_pil(dataset.prototypes(), dataset.background_source.render(torch.arange(
        dataset.background_source.count), dataset.image_size))
    steps = [(s.family, p.tolist()) for s, p in zip(scenes.transforms.spec.steps, scenes.transforms.params)]
    out = np.empty((n, dataset.image_size, dataset.image_size, 3), dtype=np.uint8)
    for i in range(n):
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
    parser.add_argument("--baseline-n", type=int, default=2000, help="images for the per-image pipeline's rate")
    args = parser.parse_args()
    dataset = Transforms2D(objects=tuple(range(30)), transforms=in_paper_order(PAPER_FAMILIES))
    print(f"dataset: 30 classes, {dataset.image_size}x{dataset.image_size}, transforms {dataset.transforms}")
    print(f"torch threads {torch.get_num_threads()}, torch {torch.__version__}")

    with tempfile.TemporaryDirectory() as cache:
        start = time.perf_counter()
        built = build_split(dataset, "train", args.n, 0, cache=cache)
        cold = time.perf_counter() - start
        start = time.perf_counter()
        loaded = build_split(dataset, "train", args.n, 0, cache=cache)
        load = time.perf_counter() - start
        assert np.array_equal(np.asarray(loaded.images[-100:]), np.asarray(built.images[-100:]))
        start = time.perf_counter()
        one = build_split(dataset, "train", args.n, 0, cache=False, workers=1)
        single = time.perf_counter() - start
        assert np.array_equal(one.images, np.asarray(built.images)), "the bytes must not depend on the workers"

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as in a DataLoader worker; tiny torch ops on contended threads are far slower
    start = time.perf_counter()
    reference = per_image_pipeline(dataset, args.n, args.baseline_n, SPLIT_SEED_OFFSETS["train"])
    per_image = time.perf_counter() - start
    torch.set_num_threads(threads)
    diff = np.abs(reference.astype(np.int16) - one.images[: args.baseline_n].transpose(0, 2, 3, 1)).mean()

    rate_cold, rate_one, rate_pil = args.n / cold, args.n / single, args.baseline_n / per_image
    print(f"build_split, cold, cached, all cores : {cold:6.2f} s for {args.n} images  {rate_cold:8.0f} img/s")
    print(f"build_split, 1 rendering thread      : {single:6.2f} s for {args.n} images  {rate_one:8.0f} img/s")
    print(f"load from cache (memory-mapped)      : {load:6.3f} s")
    print(f"per-image PIL/torchvision pipeline   : {per_image:6.2f} s for {args.baseline_n} images  {rate_pil:8.0f} img/s")
    print(f"same images? mean |batched - per-image| = {diff:.1f} / 255 (per-image: integer shifts, uint8 after "
          "every op, contrast mean over the whole canvas)")
    ratio = rate_one / rate_pil
    print(f"ratio (1 thread vs 1 process): {ratio:.1f}x  (limit >= {LIMIT:.0f}x: {'PASS' if ratio >= LIMIT else 'FAIL'}); "
          f"all cores: {rate_cold / rate_pil:.1f}x")


if __name__ == "__main__":
    main()
