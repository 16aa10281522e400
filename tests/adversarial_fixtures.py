"""Every fixture of the adversarial suite, generated (nothing downloaded): image folders good, odd and bad, a tiny
trained checkpoint and damaged copies of it, weights of another architecture, a malicious pickle, files in the way of
outputs, and a finished smoke run with damaged cell records."""

from __future__ import annotations

import json
import os
import shutil
import struct
import zlib
from pathlib import Path

import numpy as np
import torch
from PIL import Image

__all__ = ["build_fixtures"]

SIDE = 24  # pixels of the generated photos


def _scene(rng: np.random.Generator, label: int, size: int = SIDE) -> np.ndarray:
    """A seeded RGB picture: noise plus a bright square whose place depends on the class."""
    img = rng.integers(0, 120, (size, size, 3))
    corner = 2 if label == 0 else size // 2
    img[corner : corner + size // 3, corner : corner + size // 3] += 120
    return img.astype(np.uint8)


def _folder(root: Path, per_class: dict[str, list[np.ndarray]], suffix: str = ".png") -> Path:
    for name, images in per_class.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        for k, img in enumerate(images):
            Image.fromarray(img).save(root / name / f"{k}{suffix}")
    return root


def _palette_scene(rng: np.random.Generator, gray: bool) -> np.ndarray:
    """At most 16 distinct colours (or gray levels): every mode below stores it exactly."""
    colours = rng.integers(0, 256, (16, 1 if gray else 3))
    img = colours[rng.integers(0, 16, (SIDE, SIDE))]
    return np.repeat(img, 3, axis=2).astype(np.uint8) if gray else img.astype(np.uint8)


def _modes(root: Path) -> tuple[Path, Path]:
    """The same 8 pictures stored as plain RGB PNGs, and in other modes: palette, CMYK (TIFF), opaque RGBA, EXIF
    rotated (class ``colour``); grayscale L, LA, bilevel and 16-bit (class ``gray``). Read faithfully, both folders
    hold identical pixels."""
    rng = np.random.default_rng(5)
    rgb, mixed = root / "modes_rgb", root / "modes_mixed"
    colour = [_palette_scene(rng, gray=False) for _ in range(4)]
    gray = [_palette_scene(rng, gray=True) for _ in range(3)]
    gray.append(np.repeat((rng.integers(0, 2, (SIDE, SIDE, 1)) * 255), 3, axis=2).astype(np.uint8))  # bilevel
    _folder(rgb, {"colour": colour, "gray": gray})
    for d in ("colour", "gray"):
        (mixed / d).mkdir(parents=True)
    Image.fromarray(colour[0]).quantize(colors=256, method=Image.Quantize.MAXCOVERAGE).save(mixed / "colour" / "0.png")
    Image.fromarray(colour[1]).convert("CMYK").save(mixed / "colour" / "1.tif")
    Image.fromarray(colour[2]).convert("RGBA").save(mixed / "colour" / "2.png")
    exif = Image.Exif()
    exif[0x0112] = 6  # displayed after a 90-degree clockwise turn: store it turned the other way
    Image.fromarray(colour[3]).transpose(Image.Transpose.ROTATE_90).save(mixed / "colour" / "3.png", exif=exif)
    Image.fromarray(gray[0][..., 0]).save(mixed / "gray" / "0.png")
    Image.fromarray(gray[1][..., 0]).convert("LA").save(mixed / "gray" / "1.png")
    Image.fromarray(gray[2][..., 0].astype(np.uint16) * 257).save(mixed / "gray" / "2.png")  # 16-bit: v >> 8 = level
    Image.fromarray(gray[3][..., 0]).convert("1").save(mixed / "gray" / "3.png")
    return rgb, mixed


def _sixteen_bit(root: Path) -> tuple[Path, Path]:
    """16-bit grayscale PNGs with the full range in use, and their 8-bit equivalent (the high byte)."""
    rng = np.random.default_rng(6)
    deep, shallow = root / "png16", root / "png16_as_8bit"
    for name in ("a", "b"):
        for d in (deep, shallow):
            (d / name).mkdir(parents=True)
        for k in range(4):
            v = rng.integers(0, 65536, (SIDE, SIDE)).astype(np.uint16)
            Image.fromarray(v).save(deep / name / f"{k}.png")
            Image.fromarray((v >> 8).astype(np.uint8)).save(shallow / name / f"{k}.png")
    return deep, shallow


def _png_claiming(path: Path, width: int, height: int) -> Path:
    """A PNG whose header claims ``width x height`` pixels (a decompression bomb: Pillow refuses it on opening)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 16)) + chunk(b"IEND", b"")
    )
    return path


def _image_folders(root: Path, rng: np.random.Generator) -> dict[str, Path]:
    p: dict[str, Path] = {}
    p["labelled"] = _folder(root / "labelled", {c: [_scene(rng, i) for _ in range(4)] for i, c in enumerate("ab")})
    flat = root / "flat"
    flat.mkdir()
    for k in range(6):
        Image.fromarray(_scene(rng, k % 2)).save(flat / f"{k}.png")
    p["flat"] = flat
    p["single_class"] = _folder(root / "single_class", {"only": [_scene(rng, 0) for _ in range(4)]})
    p["png16"], p["png16_as_8bit"] = _sixteen_bit(root)
    p["modes_rgb"], p["modes_mixed"] = _modes(root)
    bad = _folder(root / "unreadable", {c: [_scene(rng, i) for _ in range(3)] for i, c in enumerate("ab")})
    good = (bad / "a" / "0.png").read_bytes()
    (bad / "a" / "3.png").write_bytes(good[: len(good) // 2])  # truncated
    (bad / "b" / "3.png").write_text("not an image")
    p["unreadable"] = bad
    bomb = _folder(root / "bomb", {c: [_scene(rng, i) for _ in range(2)] for i, c in enumerate("ab")})
    _png_claiming(bomb / "a" / "2.png", 20000, 20000)
    p["bomb"] = bomb
    empty_file = _folder(root / "zero_bytes", {c: [_scene(rng, i) for _ in range(2)] for i, c in enumerate("ab")})
    (empty_file / "b" / "2.png").write_bytes(b"")
    p["zero_bytes"] = empty_file
    p["one_pixel"] = _folder(
        root / "one_pixel", {c: [rng.integers(0, 256, (1, 1, 3), dtype=np.uint8) for _ in range(4)] for c in "ab"}
    )
    p["slivers"] = _folder(
        root / "slivers",
        {"a": [_scene(rng, 0, 300)[:1] for _ in range(3)], "b": [_scene(rng, 1, 300)[:, :1] for _ in range(3)]},
    )
    hidden = root / "hidden_only"
    (hidden / ".cache").mkdir(parents=True)
    Image.fromarray(_scene(rng, 0)).save(hidden / ".h.png")
    Image.fromarray(_scene(rng, 0)).save(hidden / ".cache" / "x.png")
    p["hidden_only"] = hidden
    text = root / "text_only"
    (text / "a").mkdir(parents=True)
    (text / "a" / "readme.txt").write_text("no images here")
    p["text_only"] = text
    (root / "empty").mkdir()
    p["empty"] = root / "empty"
    objects = root / "objects"
    objects.mkdir()
    for k in range(2):
        rgba = np.dstack([_scene(rng, k, 20), np.full((20, 20), 255, np.uint8)])
        rgba[:3, :, 3] = 0
        Image.fromarray(rgba, "RGBA").save(objects / f"obj{k}.png")
    p["objects"] = objects
    backgrounds = root / "backgrounds"
    backgrounds.mkdir()
    for k in range(2):
        Image.fromarray(_scene(rng, k, 40)).save(backgrounds / f"bg{k}.jpg")
    p["backgrounds"] = backgrounds
    return p


def _checkpoints(root: Path) -> dict[str, Path]:
    """A tiny trained checkpoint (2 classes, 8 pixels), weights of another architecture, and damaged copies."""
    from invmeter.models.cifar import create_cifar_model
    from invmeter.training.loop import TrainConfig, train

    p: dict[str, Path] = {}
    config = TrainConfig.for_transforms2d(
        transforms="none",
        classes=2,
        image_size=8,
        width=0.05,
        n_train=8,
        n_val=4,
        n_test=4,
        epochs=1,
        batch_size=4,
        threads=1,
    )
    run = root / "run"
    p["ckpt"] = train(config, out=run, verbose=False).checkpoint
    p["run"] = run
    from safetensors.torch import save_file

    p["vgg_weights"] = root / "vgg11.safetensors"
    save_file(create_cifar_model("vgg11", num_classes=2, width=0.125).state_dict(), str(p["vgg_weights"]))
    p["garbage_weights"] = root / "garbage.safetensors"
    p["garbage_weights"].write_bytes(np.random.default_rng(0).bytes(4096))
    for name, change in (
        ("ckpt_corrupt", "bytes"),
        ("ckpt_no_sidecar", "nosidecar"),
        ("ckpt_bad_sidecar", "json"),
        ("ckpt_unknown_arch", "arch"),
    ):
        folder = root / name
        folder.mkdir()
        target = folder / "model.safetensors"
        data = bytearray(p["ckpt"].read_bytes())
        if change == "bytes":
            data[8:64] = b"\xff" * 56  # inside the safetensors header: the same size, unreadable
        target.write_bytes(bytes(data))
        sidecar = json.loads(p["ckpt"].with_suffix(".json").read_text())
        if change == "arch":
            sidecar["arch"] = "cifar:resnet99"
        if change == "json":
            (folder / "model.json").write_text("{not json")
        elif change != "nosidecar":
            (folder / "model.json").write_text(json.dumps(sidecar))
        p[name] = target
    return p


class _Payload:
    """Unpickling it calls ``call(*args)``: what a malicious weights file does."""

    def __init__(self, call: object, *args: object) -> None:
        self.call, self.args = call, args

    def __reduce__(self) -> tuple[object, tuple[object, ...]]:
        return self.call, self.args


def _smoke_runs(root: Path) -> dict[str, Path]:
    """A finished fig7 smoke run and copies whose first cell record is ``{}``, or not JSON."""
    from click.testing import CliRunner

    from invmeter.cli import cli

    done = root / "fig7_done"
    result = CliRunner().invoke(cli, ["reproduce", "fig7", "--preset", "smoke", "--out", str(done), "-j", "1"])
    assert result.exit_code == 0, result.output
    p = {"fig7_done": done}
    for name, text in (("fig7_empty_record", "{}"), ("fig7_garbage_record", "\0\0 not json")):
        shutil.copytree(done, root / name)
        min((root / name / "cells").glob("*.json")).write_text(text)
        p[name] = root / name
    return p


def _corrupt_cache(cache: Path) -> Path:
    """A data cache whose one split (train, 4 images of 2 classes, 8 pixels, seed 0) has one byte of its images
    flipped: the file keeps its size, only its checksum can tell."""
    from invmeter.data import Transforms2D, build_split

    built = build_split(Transforms2D(objects=(0, 1), image_size=8), "train", 4, 0, cache=cache)
    images = built.path / "images.npy"
    data = bytearray(images.read_bytes())
    data[-1] ^= 0xFF
    images.write_bytes(bytes(data))
    return cache


ZOO_MODELS_FILES = {
    "zoo_models": '[[model]]\nname = "feat"\nspec = "adversarial_models:features"\n\n'
                  '[[model]]\nname = "feat at random init"\nspec = "adversarial_models:features"\nweights = "random"\n',
    "zoo_models_bad_toml": "[[model]\nname = 'x'\n",
    "zoo_models_unknown_key": '[[model]]\nspec = "adversarial_models:features"\nwieghts = "random"\n',
    "zoo_models_arch_no_weights": '[[model]]\nname = "mine"\narch = "timm:test_resnet"\n',
    "zoo_models_missing_weights": '[[model]]\nname = "mine"\narch = "timm:test_resnet"\nweights = "nowhere.pt"\n',
    "zoo_models_name_clash": '[[model]]\nname = "a"\nspec = "adversarial_models:features"\n\n'
                             '[[model]]\nname = "a"\nspec = "adversarial_models:classifier"\n',
    "zoo_models_empty": "",
}


def _zoo_models_files(root: Path) -> dict[str, Path]:
    """The zoo's models files (TOML), good and bad."""
    out = {}
    for name, text in ZOO_MODELS_FILES.items():
        out[name] = root / f"{name}.toml"
        out[name].write_text(text)
    return out


def build_fixtures(root: Path) -> dict[str, Path]:
    """Write every fixture under ``root``; returns their paths by name."""
    rng = np.random.default_rng(0)
    p = _image_folders(root, rng)
    p.update(_checkpoints(root))
    p.update(_smoke_runs(root))
    p["afile"] = root / "afile.txt"
    p["afile"].write_text("a file, not a folder")
    p["other_csv"] = root / "other.csv"
    p["other_csv"].write_text("name,score\nx,1\n")
    p["pwned"] = root / "pwned"
    p["evil"] = root / "evil.pt"
    torch.save({"conv1.weight": torch.zeros(1), "x": _Payload(os.system, f"touch '{p['pwned']}'")}, p["evil"])
    p["damaged_state_run"] = root / "damaged_state_run"
    shutil.copytree(p["run"], p["damaged_state_run"])
    (p["damaged_state_run"] / "train_state.pt").write_bytes(b"PK\x03\x04 damaged")
    p["evil_state_run"] = root / "evil_state_run"
    p["evil_state_run"].mkdir()
    torch.save({"epoch": 1, "x": _Payload(os.system, f"touch '{p['pwned']}'")}, p["evil_state_run"] / "train_state.pt")
    p["corrupt_cache"] = _corrupt_cache(root / "corrupt_cache")
    p.update(_zoo_models_files(root))
    readonly = root / "readonly"
    readonly.mkdir()
    readonly.chmod(0o500)
    p["readonly"] = readonly
    return p
