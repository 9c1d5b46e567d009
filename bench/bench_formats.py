"""What each file format costs before the model sees it: `model.inputs.assemble.load_sources` on the same
photo saved as PNG, JPEG, WebP, AVIF and HEIC, and as a one-page and a four-page PDF (pages
rendered by PDFium at 144 dpi), in one process. Prints the median milliseconds per file and the
ratio to PNG; exits 0.

    python bench/bench_formats.py [--size 1600x1200] [--rounds 5]
"""
from __future__ import annotations

import argparse
import io
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from model.inputs.images import pillow_heif  # noqa: E402,F401 (registers HEIF with Pillow)
from model.inputs.assemble import load_sources  # noqa: E402
from model.limits import Limits  # noqa: E402


def photo(width: int, height: int) -> Image.Image:
    """Smooth gradients with noise: compresses like a photo, not like a flat drawing."""
    rng = np.random.default_rng(0)
    x, y = np.meshgrid(np.linspace(0, 1, width), np.linspace(0, 1, height))
    pixels = np.stack([x, y, (x + y) / 2], axis=-1) * 200 + rng.normal(0, 12, (height, width, 3))
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")


def encoded(image: Image.Image, fmt: str, **params) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def files(image: Image.Image) -> dict[str, bytes]:
    page = image.resize((image.width // 2, image.height // 2))  # at 72 dpi: rendered back at full size
    return {"PNG": encoded(image, "PNG"), "JPEG": encoded(image, "JPEG", quality=90),
            "WebP": encoded(image, "WEBP", quality=90), "AVIF": encoded(image, "AVIF", quality=80),
            "HEIC": encoded(image, "HEIF", quality=80),
            "PDF, 1 page": encoded(page, "PDF", resolution=72),
            "PDF, 4 pages": encoded(page, "PDF", resolution=72, save_all=True, append_images=[page] * 3)}


def median_ms(data: bytes, rounds: int) -> tuple[float, int]:
    times, images = [], 0
    for _ in range(rounds):
        started = time.perf_counter()
        images = len(load_sources([data], Limits())[0])
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), images


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="1600x1200")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    width, height = (int(side) for side in args.size.split("x"))
    made = files(photo(width, height))
    rows = {name: (len(data), *median_ms(data, args.rounds)) for name, data in made.items()}
    png_ms = rows["PNG"][1]
    print(f"{'format':<14}{'kB':>8}{'images':>8}{'ms':>9}{'× PNG':>8}")
    for name, (size, ms, images) in rows.items():
        print(f"{name:<14}{size / 1024:>8.0f}{images:>8}{ms:>9.1f}{ms / png_ms:>8.2f}")


if __name__ == "__main__":
    main()
