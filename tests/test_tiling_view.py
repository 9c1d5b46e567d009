"""ui/render/tiles.py: the drawn tiles are the engine's own tiling, for every shape of image."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from model.events import GenerationOptions, Request, UserFacingError
from model.inputs.images import IMAGENET_MEAN, IMAGENET_STD, ImageError, load_image, tile_images
from model.inputs.assemble import load_sources
from model.limits import Limits
from tests.helpers import collect
from ui.render.tiles import (DISPLAY_MAX_SIDE, LINE_COLOUR, R1V_TILE_SIZE, R1V_TOKENS_PER_TILE,
                           THUMBNAIL_FRAME_COLOUR, TEXT, tiling_overlay, tiling_settings)

GREY = (120, 120, 120)
SIZES = {"wide": (1600, 400), "tall": (300, 1200), "square": (800, 800), "tiny": (1, 1),
         "strip": (16000, 20), "photo": (4000, 3000)}
MAX_TILES = (1, 6, 12, 24)


def grey(size: tuple[int, int]) -> Image.Image:
    return Image.new("RGB", size, GREY)


def saved(image: Image.Image, folder: Path, name: str, **params) -> Path:
    path = folder / name
    image.save(path, **params)
    return path


def gradient(size: tuple[int, int]) -> Image.Image:
    """Red grows left to right and green top to bottom, so a tile's mean colour says where it was cut."""
    width, height = size
    red = np.broadcast_to((np.arange(width) + 0.5) / width, (height, width))
    green = np.broadcast_to(((np.arange(height) + 0.5) / height)[:, None], (height, width))
    pixels = np.stack([red, green, np.full((height, width), 0.5)], axis=-1)
    return Image.fromarray(np.round(pixels * 255).astype(np.uint8), "RGB")


def tile_centres(pixel_values: torch.Tensor) -> list[tuple[float, float]]:
    """(x, y) of each engine tile's centre as a fraction of the image, read from its mean colour."""
    colours = pixel_values * torch.tensor(IMAGENET_STD).view(3, 1, 1) + torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
    return [(float(tile[0].mean()), float(tile[1].mean())) for tile in colours]


@pytest.mark.parametrize("max_tiles", MAX_TILES)
@pytest.mark.parametrize("shape", SIZES)
def test_tiles_are_the_engines_in_number_shape_and_order(shape, max_tiles):
    image = gradient(SIZES[shape])
    _, summary = tiling_overlay(image, max_tiles)
    tiled = tile_images([load_image(image)], R1V_TILE_SIZE, max_tiles)
    assert summary.tiles == tiled.tiles_per_image[0]
    assert summary.tiles == summary.columns * summary.rows + summary.has_thumbnail
    assert summary.image_tokens == summary.tiles * R1V_TOKENS_PER_TILE
    assert summary.image_size == SIZES[shape]
    width, height = summary.cells[-1][2], summary.cells[-1][3]
    drawn = [((left + right) / 2 / width, (top + bottom) / 2 / height) for left, top, right, bottom in summary.cells]
    cut = tile_centres(tiled.pixel_values[:len(drawn)])
    tolerance = 0.25 / max(summary.columns, summary.rows)  # a quarter of a tile
    assert all(abs(dx - cx) < tolerance and abs(dy - cy) < tolerance for (dx, dy), (cx, cy) in zip(drawn, cut))


def centre(box: tuple[int, int, int, int]) -> tuple[int, int]:
    return (box[0] + box[2]) // 2, (box[1] + box[3]) // 2


def test_tied_grids_resolve_as_the_engine_does_and_cells_follow_its_tile_order():
    # 5:2 at exactly 4 tiles: 2×2 and 4×1 fit equally well; the official rule picks by image size.
    image = Image.new("RGB", (2000, 800), (0, 0, 0))
    image.paste((255, 255, 255), (1000, 0, 2000, 800))  # right half white
    picture, summary = tiling_overlay(image, 4, min_tiles=4)
    tiles = tile_images([image], R1V_TILE_SIZE, 4, True, 4)
    assert summary.tiles == tiles.tiles_per_image[0]
    engine_white = [x > 0.5 for x, _ in tile_centres(tiles.pixel_values[:summary.columns * summary.rows])]
    drawn_white = [sum(picture.getpixel(centre(cell))) > 3 * 127 for cell in summary.cells]
    assert drawn_white == engine_white and len(set(engine_white)) == 2


def line_runs(pixels: list[tuple[int, int, int]]) -> int:
    """Stretches of the grid's line colour along a scan line."""
    runs, inside = 0, False
    for pixel in pixels:
        on_line = pixel == LINE_COLOUR
        runs += on_line and not inside
        inside = on_line
    return runs


@pytest.mark.parametrize("max_tiles", (1, 6, 24))
@pytest.mark.parametrize("shape", SIZES)
def test_drawn_grid_has_one_cell_per_tile(shape, max_tiles):
    picture, summary = tiling_overlay(grey(SIZES[shape]), max_tiles)
    cells = summary.cells
    assert len(cells) == summary.columns * summary.rows
    width, height = max(c[2] for c in cells), max(c[3] for c in cells)
    assert max(width, height) <= DISPLAY_MAX_SIDE
    assert sum((c[2] - c[0]) * (c[3] - c[1]) for c in cells) == width * height  # they tile the image
    assert len({c[0] for c in cells}) == summary.columns and len({c[1] for c in cells}) == summary.rows
    for left, top, right, bottom in cells[::summary.columns]:  # one scan line through each row of cells
        assert line_runs([picture.getpixel((x, top + 3)) for x in range(width)]) == summary.columns + 1
    for left, top, right, bottom in cells[:summary.columns]:  # and one down each column
        assert line_runs([picture.getpixel((left + 3, y)) for y in range(height)]) == summary.rows + 1


@pytest.mark.parametrize("shape", SIZES)
def test_thumbnail_panel_appears_exactly_when_the_model_adds_one(shape):
    picture, summary = tiling_overlay(grey(SIZES[shape]), 12)
    image_width = max(c[2] for c in summary.cells)
    if not summary.has_thumbnail:
        assert summary.thumbnail_box is None and picture.width == image_width
        return
    left, top, right, bottom = summary.thumbnail_box
    assert left > image_width and right == picture.width and bottom <= picture.height
    assert right - left == bottom - top  # the model's thumbnail is one square tile
    assert picture.getpixel((left, (top + bottom) // 2)) == THUMBNAIL_FRAME_COLOUR
    assert picture.getpixel(((left + right) // 2, (top + bottom) // 2)) == GREY


def test_exif_rotation_is_applied_as_the_engine_does(tmp_path):
    wide = Image.new("RGB", (300, 100), GREY)
    exif = wide.getexif()
    exif[0x0112] = 6  # stored rotated: shown (and tiled) 100 wide, 300 tall
    path = saved(wide, tmp_path, "rotated.jpg", exif=exif)
    picture, summary = tiling_overlay(path, 6)
    assert summary.image_size == load_image(path).size == (100, 300)
    assert summary.rows > summary.columns and picture.height > max(c[2] for c in summary.cells)


def test_transparent_pixels_are_shown_on_white_as_the_model_sees_them():
    picture, summary = tiling_overlay(Image.new("RGBA", (200, 200), (0, 0, 0, 0)), 1)
    assert picture.mode == "RGB" and picture.getpixel(centre(summary.cells[0])) == (255, 255, 255)


def bad_files(folder: Path) -> dict[str, Path]:
    png = io.BytesIO()
    grey((64, 64)).save(png, format="PNG")
    files = {"pdf.png": b"%PDF-1.4\n1 0 obj", "empty.png": b"", "cut.png": png.getvalue()[:60]}
    paths = {name: folder / name for name in files}
    for name, data in files.items():
        paths[name].write_bytes(data)
    paths["strip.png"] = saved(grey((20000, 20)), folder, "strip.png")  # longer than any side allowed
    paths["missing.png"] = folder / "missing.png"
    return paths


@pytest.mark.parametrize("name", ["pdf.png", "empty.png", "cut.png", "strip.png", "missing.png"])
def test_a_bad_file_gives_the_engines_message(tmp_path, name):
    """The engine's message is the one its input stage gives (a PDF, whatever its name, is read as one)."""
    path = bad_files(tmp_path)[name]
    with pytest.raises(UserFacingError) as engine_error:
        load_sources([str(path)], Limits())
    with pytest.raises(UserFacingError) as shown:
        tiling_overlay(path, 12)
    assert str(shown.value) == str(engine_error.value) and name in str(shown.value)


def ask_tiny(engine, path: Path, max_tiles: int) -> dict:
    options = GenerationOptions.validated(temperature=0, thinking_budget=0, answer_budget=16, max_tiles=max_tiles)
    return collect(engine.stream(Request("What is this?", (str(path),), options=options)))


def test_counts_and_image_tokens_match_what_the_engine_reports(tiny_engine, tmp_path):
    settings = tiling_settings(tiny_engine)
    runs = {}
    for name, size, max_tiles in (("wide", (300, 100), 6), ("dot", (1, 1), 6), ("square", (130, 128), 4)):
        path = saved(grey(size), tmp_path, f"{name}.png")
        _, summary = tiling_overlay(path, max_tiles, **settings)
        stats = ask_tiny(tiny_engine, path, max_tiles)["stats"]
        assert stats.image_tiles == (summary.tiles,)
        runs[name] = (summary.image_tokens, stats.prompt_tokens)
    # The prompt grows by exactly the image tokens the summary counts.
    for name in ("wide", "square"):
        assert runs[name][1] - runs["dot"][1] == runs[name][0] - runs["dot"][0] > 0


def test_a_file_the_engine_refuses_is_refused_with_the_same_words(tiny_engine, tmp_path):
    path = bad_files(tmp_path)["strip.png"]
    with pytest.raises(UserFacingError) as shown:
        tiling_overlay(path, 6, **tiling_settings(tiny_engine))
    errors = ask_tiny(tiny_engine, path, 6)["errors"]
    assert [error.message for error in errors] == [str(shown.value)]


def test_the_engines_pixel_limit_setting_applies_here_too(tiny_engine, tmp_path, monkeypatch):
    path = saved(grey((100, 100)), tmp_path, "ten-thousand-pixels.png")
    monkeypatch.setenv("R1V_MAX_PIXELS", "5000")
    with pytest.raises(UserFacingError) as shown:
        tiling_overlay(path, 6, **tiling_settings(tiny_engine))
    errors = ask_tiny(tiny_engine, path, 6)["errors"]
    assert [error.message for error in errors] == [str(shown.value)] and "megapixels" in str(shown.value)


def test_settings_come_from_the_loaded_model_or_default_to_r1v(tiny_engine):
    loaded = tiny_engine.loaded
    assert tiling_settings(tiny_engine) == {"tile_size": loaded.tile_size, "use_thumbnail": loaded.use_thumbnail,
                                            "tokens_per_tile": loaded.tokens_per_tile}
    assert tiling_settings(object()) == {"tile_size": R1V_TILE_SIZE, "use_thumbnail": True,
                                         "tokens_per_tile": R1V_TOKENS_PER_TILE}


def test_summary_line_states_grid_tiles_and_tokens():
    _, summary = tiling_overlay(grey((1600, 900)), 12, tokens_per_tile=100)
    line = summary.markdown
    assert f"{summary.columns} × {summary.rows}" in line and TEXT["plus_thumbnail"] in line
    assert TEXT["tiles"].format(count=summary.tiles) in line
    assert f"{summary.tiles * 100:,} image tokens" in line and "1600×900" in line
    _, single = tiling_overlay(grey((10, 10)), 1)
    assert TEXT["one_tile"] in single.markdown and TEXT["plus_thumbnail"] not in single.markdown
