"""model/inputs/images.py: refusing bad files, decoding to correct RGB, and the InternVL dynamic tiling.

The reference tiling below is the official `dynamic_preprocess` of the InternVL / Skywork R1V
inference scripts, written out again here (including its set-then-sort candidate order), plus its
per-tile transform (ToTensor then Normalize with ImageNet mean/std). transformers'
GotOcr2ImageProcessorPil is a third opinion, compared where it is meant to agree (min_tiles=1).

Pixel tolerance: atol 1e-6, rtol 0, after normalisation. Both `tile_images` and the processor
resize with Pillow's bicubic and normalise in float32, so the measured difference to the reference
is exactly 0.0; the tolerance only allows for the same arithmetic rounded in another order.
"""
from __future__ import annotations

import io
import struct
import zlib
from functools import lru_cache

import numpy as np
import pytest
import torch
from PIL import Image, ImageFile

from model.inputs.images import (
                                 ImageError,
                                 ImageLimits,
                                 count_tiles,
                                 load_image,
                                 official_grid,
                                 tile_images,
                                 )

MEAN = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)
ATOL = 1e-6


# --- reference: the official algorithm --------------------------------------------------------

def reference_grid(width, height, image_size, min_num, max_num):
    aspect_ratio = width / height
    target_ratios = set(
        (i, j) for n in range(min_num, max_num + 1) for i in range(1, n + 1) for j in range(1, n + 1)
        if min_num <= i * j <= max_num)
    target_ratios = sorted(target_ratios, key=lambda x: x[0] * x[1])
    best_ratio_diff, best_ratio, area = float("inf"), (1, 1), width * height
    for ratio in target_ratios:
        ratio_diff = abs(aspect_ratio - ratio[0] / ratio[1])
        if ratio_diff < best_ratio_diff:
            best_ratio_diff, best_ratio = ratio_diff, ratio
        elif ratio_diff == best_ratio_diff:
            if area > 0.5 * image_size * image_size * ratio[0] * ratio[1]:
                best_ratio = ratio
    return best_ratio


def reference_count(width, height, image_size, max_num, use_thumbnail=True, min_num=1):
    cols, rows = reference_grid(width, height, image_size, min_num, max_num)
    return cols * rows + (1 if use_thumbnail and cols * rows != 1 else 0)


def reference_pixels(image, image_size, max_num, use_thumbnail=True, min_num=1):
    cols, rows = reference_grid(image.width, image.height, image_size, min_num, max_num)
    resized = image.resize((image_size * cols, image_size * rows), Image.Resampling.BICUBIC)
    tiles = []
    for i in range(cols * rows):
        x, y = (i % cols) * image_size, (i // cols) * image_size
        tiles.append(resized.crop((x, y, x + image_size, y + image_size)))
    if use_thumbnail and len(tiles) != 1:
        tiles.append(image.resize((image_size, image_size), Image.Resampling.BICUBIC))
    as_tensors = [torch.from_numpy(np.array(t, dtype=np.uint8)).permute(2, 0, 1).float().div(255) for t in tiles]
    return torch.stack([(t - MEAN) / STD for t in as_tensors])


@lru_cache(maxsize=None)
def processor(tile):
    from transformers import GotOcr2ImageProcessorPil

    return GotOcr2ImageProcessorPil(
        crop_to_patches=True, min_patches=1, size={"height": tile, "width": tile},
        resample=Image.Resampling.BICUBIC, image_mean=MEAN.flatten().tolist(), image_std=STD.flatten().tolist())


def noise(width, height, seed=0):
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8), "RGB")


# --- grid choice --------------------------------------------------------------------------------

SIZES = [
    (1, 1), (5, 7), (7, 5), (2, 2), (3, 1000), (1000, 3),
    (100, 4000), (4000, 100), (20000, 20), (1, 16384),
    (4000, 3000), (3000, 4000), (12000, 9000), (16384, 16384),
    (448, 448), (1000, 1000), (2000, 2000),
    (600, 400), (400, 600), (3000, 2000), (300, 200),  # 3:2, 2:3
    (1920, 1080), (1080, 1920), (1170, 2532), (2048, 1536),
    (500, 200), (2500, 1000), (250, 200), (2500, 2000),  # exact ties: 2.5 and 1.25
    (700, 600), (7000, 6000), (4481, 4480), (4480, 4481),  # near ties, not exact
]
MAX_TILES = [1, 6, 12, 24]


@pytest.mark.parametrize("tile", [448, 64, 28])
@pytest.mark.parametrize("max_tiles", MAX_TILES)
def test_grid_and_count_match_official_on_size_table(tile, max_tiles):
    for width, height in SIZES:
        expected = reference_grid(width, height, tile, 1, max_tiles)
        assert official_grid(width, height, tile, max_tiles) == expected, (width, height)
        count = reference_count(width, height, tile, max_tiles)
        assert count_tiles(width, height, tile, max_tiles) == count, (width, height)
        # The processor's own count, from sizes alone (nothing allocated).
        kwargs = {"crop_to_patches": True, "min_patches": 1, "max_patches": max_tiles}
        assert processor(tile).get_number_of_image_patches(height, width, kwargs) == count, (width, height)


@pytest.mark.parametrize("width, height, tile, max_tiles, grid", [
    (1, 1, 448, 12, (1, 1)),
    (4000, 3000, 448, 12, (4, 3)),
    (12000, 9000, 448, 24, (4, 3)),  # (8, 6) would need 48 tiles
    (100, 4000, 448, 12, (1, 12)),
    (4000, 100, 448, 24, (24, 1)),
    (448, 448, 448, 12, (1, 1)),  # tie with 2×2 lost: 448² is not over half of 4 tiles
    (1000, 1000, 448, 12, (3, 3)),  # ties with 2×2 and 3×3 won: 1e6 > 0.5·448²·9
    (1000, 1000, 448, 24, (3, 3)),  # tie with 4×4 lost: 1e6 < 0.5·448²·16
    (500, 200, 448, 6, (2, 1)),  # aspect 2.5: 2×1 and 3×1 tie, image too small for 3 tiles
    (2500, 1000, 448, 6, (3, 1)),  # same tie, large image: 3×1
    (300, 200, 448, 4, (1, 1)),  # aspect 1.5, 3×2 not allowed: 1×1, 2×1 and 2×2 all tie (0.5)
    (600, 400, 448, 4, (2, 1)),  # 240000 px: over half of 2 tiles, not of 4
    (3000, 2000, 448, 4, (2, 2)),  # over half of 4 tiles
    (3000, 2000, 448, 6, (3, 2)),
    (1920, 1080, 448, 12, (4, 2)),  # 2×1 and 4×2 tie (same ratio); 4×2 wins on area
    (4, 4, 2, 12, (2, 2)),  # the tie rule scales with the tile size
])
def test_grid_hand_checked(width, height, tile, max_tiles, grid):
    assert official_grid(width, height, tile, max_tiles) == grid
    assert reference_grid(width, height, tile, 1, max_tiles) == grid


@pytest.mark.parametrize("width, height, grid", [(5, 2, (4, 1)), (2000, 800, (2, 2))])
def test_same_count_tie_follows_official_candidate_order(width, height, grid):
    # 4..4 tiles, aspect 2.5: 2×2 and 4×1 tie; the official order tries 4×1 first.
    assert official_grid(width, height, 448, 4, min_tiles=4) == grid


@pytest.mark.parametrize("tile, scale", [(28, 1), (448, 16)])
def test_grid_matches_official_on_every_small_size(tile, scale):
    mismatches = []
    for max_tiles in MAX_TILES:
        for width in range(1, 61):
            for height in range(1, 61):
                w, h = width * scale, height * scale
                if official_grid(w, h, tile, max_tiles) != reference_grid(w, h, tile, 1, max_tiles):
                    mismatches.append((w, h, max_tiles))
    assert mismatches == []


@pytest.mark.parametrize("min_tiles, max_tiles", [(2, 6), (3, 12), (4, 4)])
def test_min_tiles(min_tiles, max_tiles):
    for width, height in SIZES:
        assert official_grid(width, height, 64, max_tiles, min_tiles) == \
            reference_grid(width, height, 64, min_tiles, max_tiles), (width, height)
    tiles = tile_images([noise(40, 30)], 28, max_tiles, min_tiles=min_tiles)
    assert torch.allclose(tiles.pixel_values, reference_pixels(noise(40, 30), 28, max_tiles, min_num=min_tiles),
                          atol=ATOL, rtol=0)


@pytest.mark.parametrize("bad", [(0, 6, 1), (448, 0, 1), (448, 6, 7), (448, 6, 0)])
def test_bad_tiling_arguments(bad):
    tile, max_tiles, min_tiles = bad
    with pytest.raises(ValueError):
        official_grid(10, 10, tile, max_tiles, min_tiles)


# --- pixels -------------------------------------------------------------------------------------

PIXEL_CASES = [  # (width, height, tile, max_tiles): proportional small stand-ins for the table
    (1, 1, 28, 12), (5, 7, 28, 12), (2, 2, 28, 6),
    (7, 280, 28, 12), (280, 7, 28, 24),  # tall, wide
    (250, 188, 28, 12), (750, 562, 28, 24),  # 4000×3000 and 12000×9000 at tile 28
    (56, 56, 28, 12), (84, 56, 28, 6), (56, 84, 28, 6), (160, 90, 28, 12),
    (31, 12, 28, 6), (156, 62, 28, 6),  # aspect-2.5 tie, both sides of the area rule
    (100, 100, 64, 1), (300, 200, 64, 24), (130, 129, 64, 12),
    (1200, 900, 448, 12), (1000, 300, 448, 6),
]


@pytest.mark.parametrize("width, height, tile, max_tiles", PIXEL_CASES)
def test_pixels_equal_reference_pipeline(width, height, tile, max_tiles):
    image = noise(width, height, seed=width * 7 + height)
    out = tile_images([image], tile, max_tiles)
    expected = reference_pixels(image, tile, max_tiles)
    assert out.pixel_values.dtype == torch.float32
    assert out.tiles_per_image == [expected.shape[0]] == [reference_count(width, height, tile, max_tiles)]
    assert out.pixel_values.shape == expected.shape
    torch.testing.assert_close(out.pixel_values, expected, atol=ATOL, rtol=0)
    by_processor = processor(tile)(images=[image], max_patches=max_tiles, return_tensors="pt")
    assert by_processor["num_patches"].tolist() == out.tiles_per_image
    torch.testing.assert_close(by_processor["pixel_values"], expected, atol=ATOL, rtol=0)


def _colour_of(tile: torch.Tensor) -> tuple[int, int, int]:
    rgb = (tile * STD + MEAN).mul(255).mean(dim=(1, 2))
    return tuple(int(round(v)) for v in rgb.tolist())


def test_tile_order_is_row_major_with_thumbnail_last():
    image = Image.new("RGB", (128, 128))
    quads = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255)]  # TL, TR, BL, BR
    for index, colour in enumerate(quads):
        x, y = (index % 2) * 64, (index // 2) * 64
        image.paste(colour, (x, y, x + 64, y + 64))
    out = tile_images([image], 64, 6)
    assert out.tiles_per_image == [5]
    colours = [_colour_of(t) for t in out.pixel_values]
    for got, want in zip(colours[:4], quads):
        assert all(abs(g - w) <= 1 for g, w in zip(got, want)), (got, want)
    assert all(abs(g - 128) <= 2 for g in colours[4]), colours[4]  # thumbnail: average of all four


def test_no_thumbnail_and_several_images_concatenated_in_order():
    images = [noise(120, 60, 1), noise(30, 30, 2), noise(60, 180, 3)]
    with_thumb = tile_images(images, 28, 6)
    without = tile_images(images, 28, 6, use_thumbnail=False)
    assert with_thumb.tiles_per_image == [reference_count(i.width, i.height, 28, 6) for i in images]
    assert without.tiles_per_image == [reference_count(i.width, i.height, 28, 6, False) for i in images]
    assert with_thumb.pixel_values.shape[0] == sum(with_thumb.tiles_per_image)
    expected = torch.cat([reference_pixels(i, 28, 6, use_thumbnail=False) for i in images])
    torch.testing.assert_close(without.pixel_values, expected, atol=ATOL, rtol=0)


def test_empty_list_and_non_rgb_input():
    empty = tile_images([], 64, 6)
    assert empty.pixel_values.shape == (0, 3, 64, 64) and empty.tiles_per_image == []
    grey = Image.new("L", (64, 64), 200)
    out = tile_images([grey], 64, 6)
    assert _colour_of(out.pixel_values[0]) == (200, 200, 200)


# --- refusing bad files -------------------------------------------------------------------------

def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def constant_png(width: int, height: int, header_only: bool = False) -> bytes:
    """A valid 8-bit greyscale PNG of zeros, compressed row by row (small on disk and in memory)."""
    compressor, row = zlib.compressobj(9), b"\0" * (width + 1)
    body = b"" if header_only else b"".join(compressor.compress(row) for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + _png_chunk(b"IDAT", body + compressor.flush()) + _png_chunk(b"IEND", b""))


def encoded(image: Image.Image, fmt: str, **params) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def corrupt_jpeg_scan() -> bytes:
    data = bytearray(encoded(noise(64, 64), "JPEG"))
    for k in range(len(data) // 3, len(data) - 10, 7):
        data[k] = 0xFF
    return bytes(data)


BAD_FILES = [  # (label, bytes, file name, fragments the message must contain)
    ("zero-byte", lambda: b"", "empty.png", ["empty.png", "not a readable image", "empty (0 bytes)"]),
    ("truncated PNG", lambda: encoded(noise(64, 64), "PNG")[:3000], "cut.png",
     ["cut.png", "not a readable image", "damaged or cut short"]),
    ("truncated JPEG", lambda: encoded(noise(64, 64), "JPEG")[:2000], "cut.jpg", ["cut.jpg", "cut short"]),
    ("corrupt JPEG scan", corrupt_jpeg_scan, "broken.jpg", ["broken.jpg", "damaged"]),
    ("JPEG header then garbage", lambda: encoded(noise(8, 8), "JPEG")[:20] + bytes(range(256)) * 8, "junk.jpg",
     ["junk.jpg", "not a readable image", "PNG, JPEG, WebP, GIF, BMP, TIFF"]),
    ("text named .png", lambda: b"just some notes\nnot a picture\n", "notes.png",
     ["notes.png", "not a readable image", "Supported formats: PNG, JPEG, WebP, GIF, BMP, TIFF"]),
    ("SVG", lambda: b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>', "logo.svg",
     ["logo.svg", "not a readable image", "SVG drawing"]),
    ("HTML", lambda: b"<!DOCTYPE html><html><body>404</body></html>", "photo.jpg", ["photo.jpg", "HTML page"]),
    ("PDF", lambda: b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog >>\nendobj\n", "scan.png", ["scan.png", "PDF document"]),
    ("PPM (Pillow reads it, not allowed)", lambda: encoded(noise(4, 4), "PPM"), "x.ppm", ["not a readable image"]),
    ("bomb header 30000x30000", lambda: constant_png(30000, 30000, header_only=True), "bomb.png",
     ["bomb.png", "decompression bomb", "the limit is 40 megapixels"]),
    ("20000x20 strip", lambda: encoded(Image.new("L", (20000, 20)), "PNG"), "strip.png",
     ["strip.png is 20000×20 pixels", "16384 pixels on the longer side"]),
]


@pytest.mark.parametrize("label, make, name, fragments", BAD_FILES, ids=[case[0] for case in BAD_FILES])
def test_bad_files_are_refused_with_a_message(label, make, name, fragments, tmp_path):
    path = tmp_path / name
    path.write_bytes(make())
    for source in (path, str(path)):
        with pytest.raises(ImageError) as caught:
            load_image(source)
        for fragment in fragments:
            assert fragment in str(caught.value), (fragment, str(caught.value))
    with pytest.raises(ImageError, match="the uploaded image"):
        load_image(path.read_bytes())


def test_large_compressed_png_refused_from_header_without_decoding(monkeypatch):
    data = constant_png(8000, 6000)  # 48 megapixels, about 50 kB on disk
    assert len(data) < 200_000

    def no_decoding(self):
        raise AssertionError("pixels were decoded before the size check")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    with pytest.raises(ImageError) as caught:
        load_image(data, name="big.png")
    assert str(caught.value) == "big.png is 8000×6000 pixels (48 megapixels); the limit is 40 megapixels."


@pytest.mark.parametrize("size, limits, allowed", [
    ((20000, 20), ImageLimits(), False),
    ((20000, 20), ImageLimits(max_side=20000), True),
    ((16000, 20), ImageLimits(), True),
    ((1, 1), ImageLimits(), True),
    ((1, 1), ImageLimits(min_side=2), False),
    ((200, 100), ImageLimits(max_pixels=19_999), False),
    ((200, 100), ImageLimits(max_pixels=20_000), True),
])
def test_limits(size, limits, allowed):
    image = Image.new("RGB", size, (9, 9, 9))
    if allowed:
        assert load_image(encoded(image, "PNG"), limits).size == size
        assert load_image(image, limits).size == size
    else:
        with pytest.raises(ImageError, match="the limit is|must be at least"):
            load_image(encoded(image, "PNG"), limits)


def test_one_pixel_image_tiles_to_one_tile():
    image = load_image(encoded(Image.new("RGB", (1, 1), (0, 128, 255)), "PNG"))
    out = tile_images([image], 448, 12)
    assert out.tiles_per_image == [1] and out.pixel_values.shape == (1, 3, 448, 448)
    assert _colour_of(out.pixel_values[0]) == (0, 128, 255)


def test_missing_file(tmp_path):
    with pytest.raises(ImageError, match="nowhere.png could not be read"):
        load_image(tmp_path / "nowhere.png")


# --- correct RGB --------------------------------------------------------------------------------

def exif_rotated_jpeg() -> bytes:
    image = Image.new("RGB", (40, 20), (0, 0, 255))
    image.paste((255, 0, 0), (0, 0, 20, 20))  # red left half
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    return encoded(image, "JPEG", exif=exif, quality=95)


def palette_with_transparency(fmt: str) -> bytes:
    image = Image.new("P", (8, 8), 0)
    image.putpalette([0, 255, 0, 255, 0, 0] + [0, 0, 0] * 254)  # index 0 green (transparent), 1 red
    image.paste(1, (0, 0, 8, 4))
    return encoded(image, fmt, transparency=0)


def sixteen_bit_png() -> bytes:
    values = np.zeros((4, 3), dtype=np.uint16)
    values[:, 0], values[:, 1], values[:, 2] = 65535, 32768, 0
    return encoded(Image.fromarray(values), "PNG")


def animated(fmt: str) -> bytes:
    frames = [Image.new("RGB", (10, 10), colour) for colour in [(255, 0, 0), (0, 255, 0), (0, 0, 255)]]
    return encoded(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100, loop=0)


def mode_image(mode: str, data: bytes, size=(3, 1)) -> Image.Image:
    return Image.frombytes(mode, size, data)


# (label, source, [(x, y), expected RGB], tolerance per channel, expected size or None)
RGB_CASES = [
    ("EXIF orientation 6", exif_rotated_jpeg, [((10, 5), (255, 0, 0)), ((10, 35), (0, 0, 255))], 40, (20, 40)),
    ("RGBA transparent -> white", lambda: encoded(Image.new("RGBA", (4, 4), (255, 0, 0, 0)), "PNG"),
     [((1, 1), (255, 255, 255))], 0, None),
    ("RGBA half transparent red", lambda: encoded(Image.new("RGBA", (4, 4), (255, 0, 0, 128)), "PNG"),
     [((1, 1), (255, 127, 127))], 1, None),
    ("RGBA opaque", lambda: encoded(Image.new("RGBA", (4, 4), (10, 20, 30, 255)), "PNG"),
     [((1, 1), (10, 20, 30))], 0, None),
    ("LA transparent", lambda: encoded(Image.new("LA", (4, 4), (0, 0)), "PNG"), [((0, 0), (255, 255, 255))], 0, None),
    ("LA opaque", lambda: encoded(Image.new("LA", (4, 4), (60, 255)), "PNG"), [((0, 0), (60, 60, 60))], 0, None),
    ("P with transparency (PNG)", lambda: palette_with_transparency("PNG"),
     [((2, 1), (255, 0, 0)), ((2, 6), (255, 255, 255))], 0, None),
    ("P with transparency (GIF)", lambda: palette_with_transparency("GIF"),
     [((2, 1), (255, 0, 0)), ((2, 6), (255, 255, 255))], 0, None),
    ("P without transparency", lambda: encoded(Image.new("RGB", (4, 4), (200, 30, 90)).quantize(4), "PNG"),
     [((0, 0), (200, 30, 90))], 0, None),
    ("CMYK JPEG", lambda: encoded(Image.new("CMYK", (16, 16), (0, 255, 255, 0)), "JPEG", quality=95),
     [((8, 8), (255, 0, 0))], 8, None),
    ("16-bit greyscale PNG", sixteen_bit_png, [((0, 0), (255,) * 3), ((1, 0), (128,) * 3), ((2, 0), (0,) * 3)], 0,
     (3, 4)),
    ("I;16B", lambda: mode_image("I;16B", struct.pack(">HHH", 65535, 32768, 257)),
     [((0, 0), (255,) * 3), ((1, 0), (128,) * 3), ((2, 0), (1,) * 3)], 0, None),
    ("I (32-bit)", lambda: mode_image("I", struct.pack("<iii", 65535, 32768, -5)),
     [((0, 0), (255,) * 3), ((1, 0), (128,) * 3), ((2, 0), (0,) * 3)], 0, None),
    ("F in 0..1", lambda: mode_image("F", struct.pack("<fff", 1.0, 0.5, 0.0)),
     [((0, 0), (255,) * 3), ((1, 0), (128,) * 3), ((2, 0), (0,) * 3)], 0, None),
    ("F any range", lambda: mode_image("F", struct.pack("<fff", 1000.0, 0.0, -1000.0)),
     [((0, 0), (255,) * 3), ((1, 0), (128,) * 3), ((2, 0), (0,) * 3)], 0, None),
    ("F from its own minimum", lambda: mode_image("F", struct.pack("<fff", 300.0, 200.0, 100.0)),
     [((0, 0), (255,) * 3), ((1, 0), (128,) * 3), ((2, 0), (0,) * 3)], 0, None),
    ("greyscale L", lambda: encoded(Image.new("L", (4, 4), 100), "PNG"), [((0, 0), (100, 100, 100))], 0, None),
    ("mode 1", lambda: encoded(Image.new("1", (8, 1), 1).crop((0, 0, 8, 1)), "PNG"), [((3, 0), (255,) * 3)], 0, None),
    ("mode 1 black", lambda: encoded(Image.new("1", (8, 1), 0), "BMP"), [((3, 0), (0,) * 3)], 0, None),
    ("animated GIF: first frame", lambda: animated("GIF"), [((5, 5), (255, 0, 0))], 4, None),
    ("animated WebP: first frame", lambda: animated("WEBP"), [((5, 5), (255, 0, 0))], 12, None),
    ("TIFF", lambda: encoded(Image.new("RGB", (4, 4), (1, 2, 3)), "TIFF"), [((0, 0), (1, 2, 3))], 0, None),
]


@pytest.mark.parametrize("label, make, pixels, tolerance, size", RGB_CASES, ids=[case[0] for case in RGB_CASES])
def test_decodes_to_correct_rgb(label, make, pixels, tolerance, size):
    source = make()
    image = load_image(source, name=label)
    assert image.mode == "RGB"
    if size is not None:
        assert image.size == size
    for (x, y), want in pixels:
        got = image.getpixel((x, y))
        assert all(abs(g - w) <= tolerance for g, w in zip(got, want)), (label, (x, y), got, want)


def test_pil_input_is_not_returned_as_the_same_object():
    original = Image.new("RGB", (4, 4), (1, 2, 3))
    loaded = load_image(original)
    assert loaded is not original and loaded.getpixel((0, 0)) == (1, 2, 3)
