"""Images in, model tiles out: validation, decoding to correct RGB, and InternVL dynamic tiling.

Contract:

* `load_image(source, limits, name)` turns a file path, raw bytes or a PIL image into an RGB
  `PIL.Image.Image`, or raises `ImageError` (a `ValueError` whose message names the file, says
  what is wrong and, for a limit, what the limit is). Nothing is decoded before the size declared
  in the file's header has been checked against `ImageLimits`, so decompression bombs are cheap to
  refuse. Only PNG, JPEG, WebP, GIF, BMP, TIFF, AVIF (Pillow's own plugin) and HEIC/HEIF
  (pillow-heif) are opened, told apart by their content, never by the file's name (no EPS/SVG, no
  Ghostscript; PDF documents are `model.inputs.documents`' part). EXIF orientation is applied, whatever
  the format (HEIF's own rotation and mirroring are applied by libheif, which then marks the EXIF
  orientation as 1 so it is not applied twice), animations and image sequences give their first
  (for HEIF: primary) image, transparency is composited onto white, and CMYK, palette, 1-bit,
  16-bit and float images are converted to 8-bit RGB.
* `tile_images(images, tile_size, max_tiles, use_thumbnail, min_tiles)` is the dynamic tiling of
  InternVL / Skywork R1V: each image is resized to the grid of `tile_size` tiles (1..max_tiles)
  whose aspect ratio is closest to its own, cut into tiles row-major, and followed by a thumbnail
  of the whole image when it has more than one tile; bicubic resampling (Pillow), ImageNet
  mean/std. The result equals the official inference scripts' `dynamic_preprocess` + per-tile
  ToTensor/Normalize bit for bit (see the note above `_tiles_uint8` on transformers' processor).
* `official_grid` and `count_tiles` give the grid and tile count from a size alone (for drawing
  the tiling over an image and counting prompt tokens without tiling).
"""
from __future__ import annotations

import io
import struct
import zlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pillow_heif
from PIL import Image, ImageOps

from model.events import UserFacingError

from model.limits import DEFAULT_MAX_PIXELS  # 40 MP, the same setting as Limits.max_pixels

if TYPE_CHECKING:  # torch is imported where tiles are made: the page (validation, grids) never needs it
    import torch

# Larger sides are nearly always a mistake or a strip that a grid of at most max_tiles tiles
# would squash beyond legibility; 16384 is also the largest side WebP can store.
DEFAULT_MAX_SIDE = 16_384
# A 1×1 image is valid: it becomes a single (upscaled) tile.
DEFAULT_MIN_SIDE = 1

# Tried in this order: AVIF before HEIF, so an AVIF file whose major brand is the generic "mif1"
# is read by Pillow's AVIF plugin (pillow-heif's wheel has no AVIF decoder).
SUPPORTED_FORMATS = ("PNG", "JPEG", "WEBP", "GIF", "BMP", "TIFF", "AVIF", "HEIF")
SUPPORTED_FORMATS_TEXT = "PNG, JPEG, WebP, GIF, BMP, TIFF, HEIC/HEIF, AVIF, and PDF documents"
# Registers the "HEIF" format with Pillow; thumbnails, depth and auxiliary images are never read.
pillow_heif.register_heif_opener(thumbnails=False, depth_images=False, aux_images=False)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# What Pillow's parsers and decoders raise for a damaged file (UnidentifiedImageError is an OSError).
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError, KeyError,
                  struct.error, zlib.error)

# Leading bytes (lower-cased) of common non-image uploads, to say what the file looks like instead.
_SNIFFS = (
    (b"%pdf", "a PDF document"),
    (b"<svg", "an SVG drawing"),
    (b"<!doctype html", "an HTML page"),
    (b"<html", "an HTML page"),
    (b"<?xml", "an XML/SVG document"),
)


# ISO base media files name their kind in the "ftyp" box at byte 4: HEIF and AVIF photos.
_FTYP_BRANDS = {b"heic": "HEIC", b"heix": "HEIC", b"heim": "HEIC", b"heis": "HEIC", b"hevc": "HEIC",
                b"mif1": "HEIF", b"msf1": "HEIF", b"avif": "AVIF", b"avis": "AVIF"}


class ImageError(UserFacingError, ValueError):
    """An image that cannot be used; the message is meant for the person who uploaded it."""


@dataclass(frozen=True)
class ImageLimits:
    """Bounds checked on the size declared in the file header, before any pixel is decoded."""

    max_pixels: int = DEFAULT_MAX_PIXELS
    max_side: int = DEFAULT_MAX_SIDE
    min_side: int = DEFAULT_MIN_SIDE


@dataclass
class TiledImages:
    pixel_values: torch.Tensor  # [total_tiles, 3, tile, tile] float32, normalised
    tiles_per_image: list[int]  # per input image, in order; sums to pixel_values.shape[0]


# ---------------------------------------------------------------------------------------------
# Loading and validation


def load_image(source: str | Path | bytes | Image.Image, limits: ImageLimits = ImageLimits(),
               name: str | None = None) -> Image.Image:
    """Decode `source` (a path, the file's bytes, or a PIL image) into a new RGB image.

    Raises `ImageError` for an unreadable file or one outside `limits`.
    """
    if isinstance(source, Image.Image):
        return _decode(source, limits, name or "the image")
    if isinstance(source, (bytes, bytearray, memoryview)):
        return _decode_bytes(bytes(source), limits, name or "the uploaded image")
    path = Path(source)
    name = name or path.name
    try:
        data = path.read_bytes()
    except OSError as error:
        reason = error.strerror or str(error)
        raise ImageError(f"{name} could not be read ({reason}).", "image.unreadable_file", name=name,
                         reason=reason) from None
    return _decode_bytes(data, limits, name)


def _decode_bytes(data: bytes, limits: ImageLimits, name: str) -> Image.Image:
    try:
        img = Image.open(io.BytesIO(data), formats=SUPPORTED_FORMATS)
    except Image.DecompressionBombError:
        declared = f"{Image.MAX_IMAGE_PIXELS * 2 / 1e6:.0f}"
        raise ImageError(f"{name} declares more than {declared} megapixels (a possible decompression bomb); "
                         f"{_pixel_limit_text(limits)}", "image.bomb", name=name, declared=declared,
                         limit=f"{limits.max_pixels / 1e6:g}") from None
    except _DECODE_ERRORS:
        container = _FTYP_BRANDS.get(data[8:12]) if data[4:8] == b"ftyp" else None
        if container:  # a HEIF/AVIF file its decoder cannot parse: cut short or damaged
            raise ImageError(f"{name} is not a readable image: its {container} data is damaged or cut short.",
                             "image.damaged_container", name=name, kind=container) from None
        raise ImageError(_unreadable_message(name, data), "image.empty" if not data else "image.unreadable",
                         name=name, formats=SUPPORTED_FORMATS_TEXT) from None
    return _decode(img, limits, name)


def _unreadable_message(name: str, data: bytes) -> str:
    if not data:
        return f"{name} is not a readable image: the file is empty (0 bytes)."
    head = data[:512].lstrip().lower()
    what = next((kind for magic, kind in _SNIFFS if head.startswith(magic)), None)
    looks = f": it looks like {what}." if what else "."
    return f"{name} is not a readable image{looks} Supported formats: {SUPPORTED_FORMATS_TEXT}."


def _decode(img: Image.Image, limits: ImageLimits, name: str) -> Image.Image:
    check_size(img.width, img.height, limits, name)
    try:
        if getattr(img, "n_frames", 1) > 1 and img.format != "HEIF":
            img.seek(0)  # animated GIF/WebP/AVIF, multi-page TIFF: the first frame (HEIF opens at its primary)
        img.load()
        # A tag other than 1 means the camera stored the pixels rotated or mirrored.
        if img.getexif().get(0x0112, 1) != 1:
            img = ImageOps.exif_transpose(img)
        return to_rgb(img)
    except Image.DecompressionBombError:
        raise ImageError(f"{name} is too large to decode safely; {_pixel_limit_text(limits)}", "image.bomb_decoded",
                         name=name, limit=f"{limits.max_pixels / 1e6:g}") from None
    except _DECODE_ERRORS as error:
        raise ImageError(f"{name} is not a readable image: its data is damaged or cut short "
                         f"({error}).", "image.damaged", name=name) from None


def check_size(width: int, height: int, limits: ImageLimits, name: str) -> None:
    """Raise `ImageError` when a `width`×`height` image is outside `limits`."""
    size = f"{name} is {width}×{height} pixels"
    params = {"name": name, "width": width, "height": height}
    if width * height > limits.max_pixels:
        raise ImageError(f"{size} ({width * height / 1e6:.0f} megapixels); {_pixel_limit_text(limits)}",
                         "image.too_many_pixels", megapixels=f"{width * height / 1e6:.0f}",
                         limit=f"{limits.max_pixels / 1e6:g}", **params)
    if max(width, height) > limits.max_side:
        raise ImageError(f"{size}; the limit is {limits.max_side} pixels on the longer side.", "image.too_long",
                         limit=limits.max_side, **params)
    if min(width, height) < limits.min_side:
        raise ImageError(f"{size}; the shorter side must be at least {limits.min_side} pixels.", "image.too_thin",
                         limit=limits.min_side, **params)


def _pixel_limit_text(limits: ImageLimits) -> str:
    return f"the limit is {limits.max_pixels / 1e6:g} megapixels."


# ---------------------------------------------------------------------------------------------
# Colour modes


def to_rgb(img: Image.Image) -> Image.Image:
    """A new 8-bit RGB image; transparency becomes white, high bit depths are scaled, not clipped."""
    if img.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        # "I" is how older Pillow versions (and some TIFFs) give 16-bit greyscale: read as 0..65535.
        values = np.clip(np.asarray(img), 0, 65535).astype(np.uint32)
        img = Image.fromarray(((values * 255 + 32767) // 65535).astype(np.uint8), "L")
    elif img.mode == "F":
        img = Image.fromarray(_float_to_uint8(np.asarray(img, dtype=np.float32)), "L")
    if img.mode in ("RGBA", "LA", "PA") or "transparency" in img.info:
        return _on_white(img.convert("RGBA"))
    return img.convert("RGB")


def _float_to_uint8(values: np.ndarray) -> np.ndarray:
    """0..1 data is scaled by 255; anything else is stretched from its own minimum to maximum."""
    values = np.nan_to_num(values, nan=0.0, posinf=0.0, neginf=0.0)
    low, high = float(values.min()), float(values.max())
    if low < 0.0 or high > 1.0:
        values = (values - low) / (high - low) if high > low else np.zeros_like(values)
    return np.round(values * 255).astype(np.uint8)


def _on_white(rgba: Image.Image) -> Image.Image:
    background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(background, rgba).convert("RGB")


# ---------------------------------------------------------------------------------------------
# Dynamic tiling


@lru_cache(maxsize=64)
def _candidate_grids(min_tiles: int, max_tiles: int) -> tuple[tuple[int, int], ...]:
    # Built exactly as the official script builds it (a set, then a stable sort by tile count):
    # grids with the same tile count keep the set's iteration order, which decides exact ties
    # between them (possible only when min_tiles > 1, e.g. 2×2 vs 4×1 for a 5:2 image at 4..4
    # tiles: 4×1 comes first, so a small image keeps 4×1 and a large one moves on to 2×2).
    grids = set((cols, rows) for n in range(min_tiles, max_tiles + 1) for cols in range(1, n + 1)
                for rows in range(1, n + 1) if min_tiles <= cols * rows <= max_tiles)
    return tuple(sorted(grids, key=lambda grid: grid[0] * grid[1]))


def official_grid(width: int, height: int, tile_size: int, max_tiles: int,
                  min_tiles: int = 1) -> tuple[int, int]:
    """(columns, rows) of the official InternVL grid for a `width`×`height` image.

    The grid whose columns/rows is closest to width/height, trying grids in order of tile count;
    on an exact tie the later grid wins only while the image has more than half its pixels.
    """
    _check_tiling_args(tile_size, max_tiles, min_tiles)
    if width < 1 or height < 1:
        raise ValueError(f"image size must be positive, got {width}×{height}")
    aspect, area = width / height, width * height
    best, best_diff = (1, 1), float("inf")
    for cols, rows in _candidate_grids(min_tiles, max_tiles):
        diff = abs(aspect - cols / rows)
        if diff < best_diff:
            best, best_diff = (cols, rows), diff
        elif diff == best_diff and area > 0.5 * tile_size * tile_size * cols * rows:
            best = (cols, rows)
    return best


def count_tiles(width: int, height: int, tile_size: int, max_tiles: int,
                use_thumbnail: bool = True, min_tiles: int = 1) -> int:
    """How many tiles `tile_images` gives a `width`×`height` image (thumbnail included)."""
    cols, rows = official_grid(width, height, tile_size, max_tiles, min_tiles)
    return cols * rows + (1 if use_thumbnail and cols * rows > 1 else 0)


def _check_tiling_args(tile_size: int, max_tiles: int, min_tiles: int) -> None:
    if tile_size < 1 or not 1 <= min_tiles <= max_tiles:
        raise ValueError(f"need tile_size >= 1 and 1 <= min_tiles <= max_tiles, got "
                         f"tile_size={tile_size}, min_tiles={min_tiles}, max_tiles={max_tiles}")


# Why not transformers' GotOcr2ImageProcessor (its Pillow backend, GotOcr2ImageProcessorPil, since
# the default class needs torchvision)? With min_tiles=1 its grids and pixels equal the official
# ones exactly (checked in the tests and in sweeps of tile 448/64/28, max 1..40), but it orders
# same-count grids differently, so with min_tiles > 1 it can pick another grid of the same tile
# count (a 2000×800 image at 4..4 tiles: 4×1 where the official script gives 2×2), and its API
# only reports counts, so the difference cannot be caught from outside. Below is the official path.
def _tiles_uint8(img: Image.Image, tile: int, cols: int, rows: int, use_thumbnail: bool) -> torch.Tensor:
    """[cols*rows (+1), 3, tile, tile] uint8: the grid tiles row-major, then the thumbnail."""
    import torch

    resized = np.array(img.resize((tile * cols, tile * rows), Image.Resampling.BICUBIC))
    grid = torch.from_numpy(resized).view(rows, tile, cols, tile, 3)
    tiles = grid.permute(0, 2, 4, 1, 3).reshape(rows * cols, 3, tile, tile)
    if use_thumbnail and cols * rows > 1:
        thumbnail = torch.from_numpy(np.array(img.resize((tile, tile), Image.Resampling.BICUBIC)))
        tiles = torch.cat([tiles, thumbnail.permute(2, 0, 1)[None]])
    return tiles


def _normalise(tiles: torch.Tensor) -> torch.Tensor:
    # The same float32 operations, in the same order, as ToTensor then Normalize.
    import torch

    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return (tiles.to(torch.float32).div(255) - mean) / std


def tile_images(images: list[Image.Image], tile_size: int, max_tiles: int, use_thumbnail: bool = True,
                min_tiles: int = 1) -> TiledImages:
    """Tile each image (converted to RGB if it is not) and concatenate the tiles in image order."""
    import torch

    _check_tiling_args(tile_size, max_tiles, min_tiles)
    pieces = []
    for img in images:
        img = img if img.mode == "RGB" else to_rgb(img)
        cols, rows = official_grid(img.width, img.height, tile_size, max_tiles, min_tiles)
        pieces.append(_tiles_uint8(img, tile_size, cols, rows, use_thumbnail))
    if not pieces:
        return TiledImages(torch.empty(0, 3, tile_size, tile_size), [])
    return TiledImages(_normalise(torch.cat(pieces)), [piece.shape[0] for piece in pieces])
