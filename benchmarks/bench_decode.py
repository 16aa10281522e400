"""torchvision.io's libjpeg-turbo JPEG decoder against Pillow's: the same pixels? less CPU per image?

Decides how invmeter reads JPEG files (``invmeter.data._files.read_rgb``): torchvision's decoder would be used only
if it gives Pillow's pixels on every file and the whole read is cheaper. A model's own eval preprocessing (timm's,
torchvision's) resizes and crops a PIL image, so a tensor decoder must hand its pixels over as a PIL image
(``Image.fromarray``, one copy) after the same header checks (format, mode, EXIF orientation, decompression-bomb
limit); that path is timed against ``read_rgb`` as it is, beside the bare decodes and the model's resize and crop
(timm ``resnet18.a1_in1k``: 235 px bicubic, centre crop 224) for scale.

Files: ``bench_score.photo_folder``'s JPEG photos (500 x 375, quality 90, Pillow's default 4:2:0) and the same
photos re-saved 4:4:4, 4:2:2, 4:2:0, progressive (4:2:0 and 4:4:4), grayscale, CMYK and at odd sizes. Identity:
``uint8`` arrays equal to ``np.asarray(Image.open(f).convert("RGB"))``. CPU per image: ``time.process_time`` over
every photo, one torch thread, the median of ``--repeats`` interleaved rounds.

    python benchmarks/bench_decode.py            # 128 photos, 5 rounds: about 10 s
    python benchmarks/bench_decode.py --smoke    # 8 photos, 1 round: checks it runs
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from bench_score import photo_folder  # benchmarks/ is on sys.path when a script runs
from PIL import Image
from timing import alternating
from torchvision.io import ImageReadMode, decode_image, decode_jpeg

from invmeter.data._files import open_image, read_rgb

VARIANTS: dict[str, dict] = {  # Pillow save options of the re-saved copies
    "4:4:4": {"subsampling": 0}, "4:2:2": {"subsampling": 1}, "4:2:0": {"subsampling": 2},
    "progressive 4:2:0": {"progressive": True, "subsampling": 2},
    "progressive 4:4:4": {"progressive": True, "subsampling": 0}, "quality 50": {"quality": 50},
}
ORIENTATION = 274  # EXIF tag


def pil(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def tv_jpeg(path: Path) -> torch.Tensor:
    return decode_jpeg(torch.frombuffer(bytearray(path.read_bytes()), dtype=torch.uint8), mode=ImageReadMode.RGB)


def tv_image(path: Path) -> torch.Tensor:
    return decode_image(torch.frombuffer(bytearray(path.read_bytes()), dtype=torch.uint8), mode=ImageReadMode.RGB)


def pil_load(path: Path) -> None:
    with Image.open(path) as img:
        img.load()


def tv_as_pil(path: Path) -> Image.Image:
    """What invmeter would run to read a JPEG with torchvision: the header checks ``read_rgb`` makes (Pillow,
    lazily), torchvision's decode, then a PIL image for the model's own resize and crop."""
    with open_image(path) as img:
        plain = img.format == "JPEG" and img.mode == "RGB" and img.getexif().get(ORIENTATION) in (None, 1)
    if not plain:
        return read_rgb(path)
    return Image.fromarray(tv_jpeg(path).permute(1, 2, 0).numpy())  # HWC in memory: permute is a view


def write_variants(photos: list[Path], root: Path) -> dict[str, list[Path]]:
    out: dict[str, list[Path]] = {"photo_folder (4:2:0, quality 90)": photos}
    root.mkdir()
    for i, path in enumerate(photos[:: max(1, len(photos) // 8)]):
        image = Image.open(path).convert("RGB")
        for name, options in VARIANTS.items():
            target = root / f"{name.replace(' ', '_').replace(':', '')}_{i}.jpg"
            image.save(target, **{"quality": 90, **options})
            out.setdefault(name, []).append(target)
        for name, copy in (("grayscale", image.convert("L")), ("CMYK", image.convert("CMYK")),
                           ("odd size 333 x 217", image.crop((3, 5, 336, 222)))):
            target = root / f"{name.split()[0]}_{i}.jpg"
            copy.save(target, quality=85)
            out.setdefault(name, []).append(target)
    return out


def identity(files: dict[str, list[Path]]) -> bool:
    everywhere = True
    print("pixel identity with Image.open(f).convert('RGB') (uint8 arrays equal):")
    for name, paths in files.items():
        want = [pil(p) for p in paths]
        counts = []
        for decode in (tv_jpeg, tv_image):
            got = [decode(p).permute(1, 2, 0).numpy() for p in paths]
            counts.append(sum(a.shape == b.shape and np.array_equal(a, b) for a, b in zip(want, got)))
        everywhere &= counts == [len(paths)] * 2
        print(f"  {name:<34} {len(paths):>4} files: decode_jpeg {counts[0]}, decode_image {counts[1]} identical")
    return everywhere


def cpu_ms(paths: list[Path], steps: dict[str, Callable[[Path], object]], repeats: int) -> dict[str, float]:
    """Median CPU milliseconds per image of each step, rounds interleaved (a shared machine drifts)."""
    for step in steps.values():  # warm-up: imports, allocator
        step(paths[0])

    def per_image(step: Callable[[Path], object]) -> Callable[[], float]:
        def run() -> float:
            start = time.process_time()
            for path in paths:
                step(path)
            return 1e3 * (time.process_time() - start) / len(paths)
        return run

    rounds = alternating({name: per_image(step) for name, step in steps.items()}, repeats)
    return {name: statistics.median(values) for name, values in rounds.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-class", type=int, default=32, help="photos per class (4 classes)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--smoke", action="store_true", help="8 photos, 1 round: checks it runs (figures meaningless)")
    args = parser.parse_args()
    per_class, repeats = (2, 1) if args.smoke else (args.per_class, args.repeats)
    import timm

    from invmeter.models.preprocessing import timm_preprocessing

    torch.set_num_threads(1)  # this script's own process: decoders are single-threaded, so is the comparison
    resize_crop = timm_preprocessing(timm.create_model("resnet18.a1_in1k", pretrained=False)).ops or ()

    def model_ops(path: Path) -> object:
        image = read_rgb(path)
        for op in resize_crop:
            image = op(image)
        return image

    with tempfile.TemporaryDirectory() as tmp:
        photos = sorted(photo_folder(Path(tmp) / "photos", per_class).rglob("*.jpg"))
        identical = identity(write_variants(photos, Path(tmp) / "variants"))
        ms = cpu_ms(photos, {"read_rgb (Pillow, invmeter's reader)": read_rgb, "decode_jpeg alone": tv_jpeg,
                             "Pillow decode alone (Image.open + load)": pil_load,
                             "decode_jpeg path to a PIL image": tv_as_pil,
                             "read_rgb + the model's resize and crop": model_ops}, repeats)
    print(f"CPU per image ({len(photos)} photos, 500 x 375, median of {repeats} rounds, 1 thread):")
    for name, value in ms.items():
        print(f"  {name:<40} {value:.3f} ms")
    ratio = ms["decode_jpeg path to a PIL image"] / ms["read_rgb (Pillow, invmeter's reader)"]
    share = ms["read_rgb (Pillow, invmeter's reader)"] / ms["read_rgb + the model's resize and crop"]
    print(f"torchvision's path ÷ read_rgb: {ratio:.3f}; pixels identical on every file: {identical}")
    print("invmeter reads JPEGs with Pillow (read_rgb); torchvision's decoder would pay only with identical pixels "
          f"and this ratio < 1 ({'met' if identical and ratio < 1.0 else 'not met'} here), and could save at most "
          f"{share:.0%} of the CPU of reading, resizing and cropping a photo (the resize must stay Pillow's)")

if __name__ == "__main__":
    main()
