"""Benchmark (not a test): preprocessing one 4000×3000 photo into 448-px tiles, max 12 + thumbnail.

Compares `model.inputs.images.tile_images` with the straightforward path of the official inference
scripts (resize the whole image to the grid with bicubic, crop each tile, and for each tile
convert to a tensor and normalise separately, then stack), and with transformers'
GotOcr2ImageProcessorPil, in the same process, alternating.
Prints median times over several repetitions and their ratio; exits 0.

    python bench/bench_tiling.py [--repeats 7]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from model.inputs.images import IMAGENET_MEAN, IMAGENET_STD, official_grid, tile_images  # noqa: E402

TILE, MAX_TILES, WIDTH, HEIGHT = 448, 12, 4000, 3000


def photo_like(width: int, height: int) -> Image.Image:
    """Smooth gradients plus noise, so resizing has real detail to work on."""
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    base = np.stack([x / width, y / height, (x + y) / (width + height)], axis=-1) * 200
    pixels = base + rng.normal(0, 25, (height, width, 3)).astype(np.float32)
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")


def per_tile_path(image: Image.Image) -> torch.Tensor:
    cols, rows = official_grid(image.width, image.height, TILE, MAX_TILES)
    resized = image.resize((TILE * cols, TILE * rows), Image.Resampling.BICUBIC)
    tiles = [resized.crop(((i % cols) * TILE, (i // cols) * TILE, (i % cols + 1) * TILE, (i // cols + 1) * TILE))
             for i in range(cols * rows)]
    if len(tiles) != 1:
        tiles.append(image.resize((TILE, TILE), Image.Resampling.BICUBIC))
    mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(3, 1, 1)
    tensors = []
    for tile in tiles:
        tensor = torch.from_numpy(np.array(tile)).permute(2, 0, 1).float().div(255)
        tensors.append((tensor - mean) / std)
    return torch.stack(tensors)


def processor_path():
    """transformers' GotOcr2ImageProcessorPil, for reference (see the note in model/inputs/images.py)."""
    from transformers import GotOcr2ImageProcessorPil

    processor = GotOcr2ImageProcessorPil(
        crop_to_patches=True, min_patches=1, max_patches=MAX_TILES, size={"height": TILE, "width": TILE},
        resample=Image.Resampling.BICUBIC, image_mean=list(IMAGENET_MEAN), image_std=list(IMAGENET_STD))
    return lambda image: processor(images=[image], return_tensors="pt")["pixel_values"]


def timed(function) -> tuple[float, torch.Tensor]:
    start = time.perf_counter()
    result = function()
    return time.perf_counter() - start, result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    repeats = parser.parse_args().repeats
    image = photo_like(WIDTH, HEIGHT)
    paths = {"ours": lambda: tile_images([image], TILE, MAX_TILES).pixel_values,
             "naive": lambda: per_tile_path(image),
             "processor": lambda: run_processor(image)}
    run_processor = processor_path()
    results = {name: path() for name, path in paths.items()}  # warm-up, not timed
    times = {name: [] for name in paths}
    for _ in range(repeats):  # alternating, so load from other processes hits both alike
        for name, path in paths.items():
            seconds, results[name] = timed(path)
            times[name].append(seconds)
    ours, naive = results["ours"], results["naive"]
    ours_s, naive_s = statistics.median(times["ours"]), statistics.median(times["naive"])
    assert ours.shape[0] == naive.shape[0] == results["processor"].shape[0]
    max_diff = (ours - naive).abs().max().item()
    print(f"{WIDTH}×{HEIGHT} RGB, tile {TILE}, max {MAX_TILES} tiles + thumbnail; "
          f"median of {repeats}, torch threads {torch.get_num_threads()}")
    print(f"{'path':<34}{'tiles':>6}{'median ms':>11}")
    print(f"{'tile_images':<34}{ours.shape[0]:>6}{ours_s * 1000:>11.1f}")
    print(f"{'per-tile Pillow + normalise':<34}{naive.shape[0]:>6}{naive_s * 1000:>11.1f}")
    print(f"{'GotOcr2ImageProcessorPil':<34}{results['processor'].shape[0]:>6}"
          f"{statistics.median(times['processor']) * 1000:>11.1f}")
    print(f"ratio per-tile / tile_images: {naive_s / ours_s:.2f}×; same tile count: "
          f"{ours.shape[0] == naive.shape[0]}; max |difference|: {max_diff:.3g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
