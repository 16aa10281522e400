"""Image files are read faithfully (16-bit, palette, CMYK, alpha, EXIF orientation, float) or refused in one line.

Every file is generated here; the expected pixels follow from the rules in ``invmeter.data._files``.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from invmeter.data import FolderImages, ImagePairs, load_background_source
from invmeter.data._files import check_images, displayed_size, read_rgb
from invmeter.errors import DataError
from invmeter.models.preprocessing import plain_preprocessing
from invmeter.transforms import parse_transform

SIXTEEN_BIT = np.array([[0, 255, 256, 32768, 0x80FF, 0xFF00, 65535]], dtype=np.uint16)
HIGH_BYTE = np.array([[0, 0, 1, 128, 128, 255, 255]], dtype=np.uint8)  # v >> 8, by hand


def _rgb(path: Path, **options: object) -> np.ndarray:
    """The decoded pixels as float32 in [0, 1], ``(H, W, 3)``."""
    img = read_rgb(path, **options)
    assert img.mode == ("RGBA" if options.get("keep_alpha") else "RGB")
    return np.asarray(img, dtype=np.float32) / 255.0


def _png(width: int, height: int, bit_depth: int, colour_type: int, rows: bytes = b"") -> bytes:
    """A PNG file written by hand (filter byte 0 per row is part of ``rows``); no IDAT when ``rows`` is empty."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0))
    body = chunk(b"IDAT", zlib.compress(rows)) if rows else b""
    return b"\x89PNG\r\n\x1a\n" + header + body + chunk(b"IEND", b"")


def _one_line_error(path: Path) -> str:
    with pytest.raises(DataError) as info:
        read_rgb(path)
    message = str(info.value)
    assert "\n" not in message and str(path) in message
    return message


# --- more than 8 bits -----------------------------------------------------------------------------------------


def test_16_bit_grayscale_png_is_its_high_byte_not_clipped_to_white(tmp_path: Path) -> None:
    Image.fromarray(SIXTEEN_BIT).save(tmp_path / "gray16.png")
    assert Image.open(tmp_path / "gray16.png").mode == "I;16"
    expected = np.repeat(HIGH_BYTE[..., None], 3, axis=2) / np.float32(255.0)
    assert np.array_equal(_rgb(tmp_path / "gray16.png"), expected)
    Image.frombytes("I;16B", (7, 1), SIXTEEN_BIT.astype(">u2").tobytes()).save(tmp_path / "gray16b.tif")
    assert Image.open(tmp_path / "gray16b.tif").mode == "I;16B"
    assert np.array_equal(_rgb(tmp_path / "gray16b.tif"), expected)
    Image.fromarray(SIXTEEN_BIT.astype(np.int32)).save(tmp_path / "int32.tif")
    assert Image.open(tmp_path / "int32.tif").mode == "I"
    assert np.array_equal(_rgb(tmp_path / "int32.tif"), expected)


def test_48_bit_rgb_png_matches_the_same_values_in_grayscale(tmp_path: Path) -> None:
    pixels = np.stack([SIXTEEN_BIT[0], SIXTEEN_BIT[0][::-1], np.full(7, 0x1234, np.uint16)], axis=1)[None]
    (tmp_path / "rgb48.png").write_bytes(_png(7, 1, 16, 2, b"\x00" + pixels.astype(">u2").tobytes()))
    expected = np.stack([HIGH_BYTE[0], HIGH_BYTE[0][::-1], np.full(7, 0x12, np.uint8)], axis=1)[None] / np.float32(255)
    assert np.array_equal(_rgb(tmp_path / "rgb48.png"), expected)


def test_16_bit_grayscale_transparency_is_kept(tmp_path: Path) -> None:
    Image.fromarray(SIXTEEN_BIT).save(tmp_path / "trns.png", transparency=256)  # the third pixel is transparent
    rgba = np.asarray(read_rgb(tmp_path / "trns.png", keep_alpha=True))
    assert rgba[0, :, 3].tolist() == [255, 255, 0, 255, 255, 255, 255] and rgba[0, 3].tolist() == [128] * 3 + [255]
    assert np.asarray(read_rgb(tmp_path / "trns.png"))[0, 2].tolist() == [255, 255, 255]  # flattened over white


def test_float_images_in_unit_range_and_refused_outside(tmp_path: Path) -> None:
    Image.fromarray(np.array([[0.0, 0.25, 0.5, 1.0]], np.float32)).save(tmp_path / "float.tif")
    assert Image.open(tmp_path / "float.tif").mode == "F"
    assert np.asarray(read_rgb(tmp_path / "float.tif"))[0, :, 0].tolist() == [0, 64, 128, 255]  # round(255 v)
    Image.fromarray(np.array([[0.0, 2.0]], np.float32)).save(tmp_path / "big.tif")
    assert "outside [0, 1] (min 0, max 2)" in _one_line_error(tmp_path / "big.tif")
    Image.fromarray(np.array([[np.nan, np.nan]], np.float32)).save(tmp_path / "nan.tif")
    assert "NaN or infinite" in _one_line_error(tmp_path / "nan.tif")
    Image.fromarray(np.array([[0, 70000]], np.int32)).save(tmp_path / "wide.tif")
    assert "outside [0, 65535]" in _one_line_error(tmp_path / "wide.tif")


# --- colour modes and alpha -----------------------------------------------------------------------------------


def test_grayscale_and_bilevel(tmp_path: Path) -> None:
    Image.fromarray(np.array([[0, 77, 255]], np.uint8), "L").save(tmp_path / "gray.png")
    assert np.asarray(read_rgb(tmp_path / "gray.png")).tolist() == [[[0] * 3, [77] * 3, [255] * 3]]
    bilevel = Image.new("1", (2, 1))
    bilevel.putpixel((1, 0), 1)
    bilevel.save(tmp_path / "bilevel.png")
    assert Image.open(tmp_path / "bilevel.png").mode == "1"
    assert np.asarray(read_rgb(tmp_path / "bilevel.png")).tolist() == [[[0] * 3, [255] * 3]]


@pytest.mark.parametrize("suffix", [".png", ".gif"])
def test_palette_with_and_without_transparency(tmp_path: Path, suffix: str) -> None:
    palette = Image.new("P", (3, 1))
    palette.putpalette([255, 0, 0, 0, 255, 0, 0, 0, 255])
    for x in range(3):
        palette.putpixel((x, 0), x)
    palette.save(tmp_path / f"opaque{suffix}")
    palette.save(tmp_path / f"clear{suffix}", transparency=1)  # green is the transparent entry
    assert Image.open(tmp_path / f"clear{suffix}").mode == "P"
    assert np.asarray(read_rgb(tmp_path / f"opaque{suffix}")).tolist() == [[[255, 0, 0], [0, 255, 0], [0, 0, 255]]]
    assert np.asarray(read_rgb(tmp_path / f"clear{suffix}")).tolist() == [[[255, 0, 0], [255] * 3, [0, 0, 255]]]
    assert np.asarray(read_rgb(tmp_path / f"clear{suffix}", keep_alpha=True))[0, :, 3].tolist() == [255, 0, 255]


def test_alpha_is_flattened_over_white_or_kept(tmp_path: Path) -> None:
    la = Image.new("LA", (2, 1))
    la.putpixel((0, 0), (100, 128))
    la.putpixel((1, 0), (100, 255))
    la.save(tmp_path / "la.png")
    # round((100 * 128 + 255 * 127) / 255) = round(177.196) = 177
    assert np.asarray(read_rgb(tmp_path / "la.png")).tolist() == [[[177] * 3, [100] * 3]]
    kept = np.asarray(read_rgb(tmp_path / "la.png", keep_alpha=True))
    assert kept.tolist() == [[[100, 100, 100, 128], [100, 100, 100, 255]]]
    rgba = Image.new("RGBA", (2, 1))
    rgba.putpixel((0, 0), (200, 50, 0, 64))
    rgba.putpixel((1, 0), (10, 20, 30, 0))  # fully transparent: the hidden colour does not show
    rgba.save(tmp_path / "rgba.png")
    # (200 * 64 + 255 * 191) / 255 = 241.2, (50 * 64 + 255 * 191) / 255 = 203.5, (0 + 255 * 191) / 255 = 191
    assert np.asarray(read_rgb(tmp_path / "rgba.png")).tolist() == [[[241, 204, 191], [255, 255, 255]]]
    kept = np.asarray(read_rgb(tmp_path / "rgba.png", keep_alpha=True))
    assert kept.tolist() == [[[200, 50, 0, 64], [10, 20, 30, 0]]]


def test_premultiplied_gray_alpha_tiff(tmp_path: Path) -> None:
    la = Image.new("LA", (2, 1))
    la.putpixel((0, 0), (100, 128))
    la.putpixel((1, 0), (50, 255))
    la.save(tmp_path / "la.tif")
    # mark the alpha as associated (premultiplied): ExtraSamples (tag 338, SHORT, count 1) 2 -> 1
    unassociated = struct.pack("<HHII", 338, 3, 1, 2)
    data = (tmp_path / "la.tif").read_bytes()
    assert data.startswith(b"II") and data.count(unassociated) == 1
    (tmp_path / "la.tif").write_bytes(data.replace(unassociated, struct.pack("<HHII", 338, 3, 1, 1)))
    assert Image.open(tmp_path / "la.tif").mode == "La"
    # premultiplied 100 at alpha 128 over white: 100 + (255 - 128) = 227; opaque 50 stays 50
    assert np.asarray(read_rgb(tmp_path / "la.tif")).tolist() == [[[227] * 3, [50] * 3]]


def test_cmyk_jpeg(tmp_path: Path) -> None:
    cmyk = Image.new("CMYK", (32, 8))
    for k, ink in enumerate([(255, 0, 0, 0), (0, 255, 0, 0), (0, 0, 255, 0), (0, 0, 0, 255)]):
        cmyk.paste(ink, (8 * k, 0, 8 * k + 8, 8))
    cmyk.save(tmp_path / "cmyk.jpg", quality=100)
    assert Image.open(tmp_path / "cmyk.jpg").mode == "CMYK"
    centres = np.asarray(read_rgb(tmp_path / "cmyk.jpg"))[4, 4::8].astype(int)
    expected = [[0, 255, 255], [255, 0, 255], [255, 255, 0], [0, 0, 0]]  # cyan, magenta, yellow, black
    assert np.abs(centres - expected).max() <= 3  # JPEG rounding only


# --- EXIF orientation -----------------------------------------------------------------------------------------

RED, BLUE = (255, 0, 0), (0, 0, 255)


def _oriented_jpeg(path: Path, orientation: int, size: tuple[int, int] = (32, 16)) -> None:
    """A blue JPEG (stored ``size``) with a red 8x8 block at its stored top-left corner, tagged ``orientation``."""
    img = Image.new("RGB", size, BLUE)
    img.paste(RED, (0, 0, 8, 8))
    exif = Image.Exif()
    exif[0x0112] = orientation
    img.save(path, quality=100, subsampling=0, exif=exif)


@pytest.mark.parametrize(("orientation", "shown", "red_at", "blue_at"), [
    (6, (16, 32), (12, 4), (4, 28)),  # rotate 90 degrees clockwise to view: stored top-left -> top-right
    (8, (16, 32), (4, 28), (12, 4)),  # rotate 90 degrees counter-clockwise: stored top-left -> bottom-left
    (3, (32, 16), (28, 12), (4, 4)),  # rotate 180 degrees: stored top-left -> bottom-right
])
def test_exif_orientation_is_applied(
    tmp_path: Path, orientation: int, shown: tuple[int, int], red_at: tuple[int, int], blue_at: tuple[int, int]
) -> None:
    path = tmp_path / f"o{orientation}.jpg"
    _oriented_jpeg(path, orientation)
    img = read_rgb(path)
    assert img.size == shown == displayed_size(path)
    assert np.abs(np.subtract(img.getpixel(red_at), RED)).max() <= 3
    assert np.abs(np.subtract(img.getpixel(blue_at), BLUE)).max() <= 3


def test_reduced_decoding_counts_displayed_pixels(tmp_path: Path) -> None:
    _oriented_jpeg(tmp_path / "big.jpg", 6, size=(256, 128))  # shown as 128 x 256
    assert read_rgb(tmp_path / "big.jpg").size == (128, 256)
    assert read_rgb(tmp_path / "big.jpg", min_size=(32, 64)).size == (32, 64)  # 1/4 scale, not 1/2


# --- refusals -------------------------------------------------------------------------------------------------


def test_decompression_bombs_are_refused_without_decoding(tmp_path: Path) -> None:
    (tmp_path / "bomb.png").write_bytes(_png(20000, 20000, 8, 2))  # a 400-megapixel header, no pixel data
    assert "too large to decode safely" in _one_line_error(tmp_path / "bomb.png")
    (tmp_path / "large.png").write_bytes(_png(10000, 10000, 8, 2))  # above Pillow's warning limit (89 MP)
    assert "MAX_IMAGE_PIXELS" in _one_line_error(tmp_path / "large.png")


def test_broken_files_are_one_line_errors(tmp_path: Path) -> None:
    noise = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    for name in ("cut.png", "cut.jpg"):
        Image.fromarray(noise).save(tmp_path / name)
        data = (tmp_path / name).read_bytes()
        (tmp_path / name).write_bytes(data[: len(data) // 2])
        assert "Cannot read image" in _one_line_error(tmp_path / name)
    (tmp_path / "empty.png").write_bytes(b"")
    assert "UnidentifiedImageError" in _one_line_error(tmp_path / "empty.png")
    (tmp_path / "notes.jpg").write_text("not an image\n")
    assert "UnidentifiedImageError" in _one_line_error(tmp_path / "notes.jpg")


def test_check_images_counts_bad_files_and_names_the_first(tmp_path: Path) -> None:
    good = [tmp_path / f"{k}.png" for k in range(3)]
    for path in good:
        Image.new("RGB", (4, 4)).save(path)
    Image.new("RGB", (64, 64)).save(tmp_path / "b.jpg")
    (tmp_path / "b.jpg").write_bytes((tmp_path / "b.jpg").read_bytes()[:300])
    (tmp_path / "a.png").write_bytes(b"")
    check_images(good)
    with pytest.raises(DataError) as info:
        check_images(sorted(tmp_path.iterdir()))
    message = str(info.value)
    first = f"Cannot read image {str(tmp_path / 'a.png')!r}"
    assert message.startswith(f"2 of 5 image files cannot be read; the first: {first}")
    assert "\n" not in message and "b.jpg" not in message


# --- the readers that use it ----------------------------------------------------------------------------------


def test_a_folder_of_16_bit_images_is_not_white(tmp_path: Path) -> None:
    for name, value in (("dark", 0x2000), ("mid", 0x8000)):
        (tmp_path / name).mkdir()
        Image.fromarray(np.full((12, 12), value, np.uint16)).save(tmp_path / name / "0.png")
    prepare = plain_preprocessing(8, source="test").prepare
    clean, _ = ImagePairs(FolderImages(tmp_path), parse_transform("hflip"), prepare).render(slice(0, 2))
    assert torch.allclose(clean[0], torch.full_like(clean[0], 0x20 / 255), atol=1e-6)  # not clipped to 1
    assert torch.allclose(clean[1], torch.full_like(clean[1], 0x80 / 255), atol=1e-6)


def test_background_photos_are_cropped_as_displayed(tmp_path: Path) -> None:
    shown = np.add.outer(np.arange(32) * 6, np.arange(48) * 3).astype(np.uint8)  # a smooth 48 x 32 gradient
    shown = np.stack([shown, shown[::-1], 255 - shown], axis=2)
    (tmp_path / "upright").mkdir()
    (tmp_path / "rotated").mkdir()
    Image.fromarray(shown).save(tmp_path / "upright" / "a.jpg", quality=100, subsampling=0)
    exif = Image.Exif()
    exif[0x0112] = 6  # stored rotated 90 degrees counter-clockwise; shown upright
    Image.fromarray(np.rot90(shown)).save(tmp_path / "rotated" / "a.jpg", quality=100, subsampling=0, exif=exif)
    a = load_background_source(tmp_path / "upright", crop="top-left").render(torch.zeros(1, dtype=torch.int64), 16)
    b = load_background_source(tmp_path / "rotated", crop="top-left").render(torch.zeros(1, dtype=torch.int64), 16)
    assert (a - b).abs().max() <= 3 / 255
