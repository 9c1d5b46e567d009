"""The two views through the real server and the page's handlers: the budget sweep and the tiles
the model sees (drawn before anything is sent, following the max-tiles slider)."""
from __future__ import annotations

from pathlib import Path

import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from model.events import GenerationOptions
from model.inputs.images import load_image, tile_images
from tests.test_sweep import hand_over_tokens
from ui.page.handlers import ModelInfo, ModelSlot
from ui.page.views import ViewHandlers
from ui.serving.shared import Serving
from ui.page.layout import build_app
from ui.render.tiles import PANEL_GAP

EXAMPLE = str(Path(__file__).resolve().parent.parent / "assets" / "examples" / "puzzle_count.png")
QUESTION = "How many red shapes are there?"
# thinking, no_limit, answer, temperature, top_p, top_k, penalty, max_tiles, seed
CONTROLS = (24, False, 16, 0.0, 0.95, 0, 1.05, 2, 5)


@pytest.fixture(scope="module")
def client(tiny_engine, launch):
    defaults = GenerationOptions.validated(answer_budget=16, max_tiles=2)
    return Client(launch(build_app(tiny_engine, ModelInfo("tiny", is_tiny=True, defaults=defaults))), verbose=False)


def test_a_sweep_of_three_budgets_gives_three_rows_within_budget_and_a_plot(client, tiny_engine):
    job = client.submit(handle_file(EXAMPLE), QUESTION, "32, 0, 8", *CONTROLS, api_name="/sweep")
    progress, table, plot = job.result(timeout=180)
    assert len(job.outputs()) >= 4  # a start and an end for each budget at least
    assert "3" in progress and "sweep-progress" in progress
    table = table.get("value", table)  # a component update carries the frame in "value"
    rows = table["data"]
    assert [row[0] for row in rows] == ["0", "8", "32"]
    for row in rows:
        assert row[1] <= int(row[0]) + hand_over_tokens(tiny_engine)
    assert table["headers"][0] == "Thinking budget"
    assert plot and plot.get("type") == "matplotlib" and plot.get("plot", "").startswith("data:image/")


def test_a_bad_budget_list_is_refused_with_the_entry_and_the_range(client):
    with pytest.raises(AppError, match="“lots” is not a thinking budget.*0 to 32,768"):
        client.predict(handle_file(EXAMPLE), QUESTION, "8, lots", *CONTROLS, api_name="/sweep")
    progress, table, _ = client.predict(handle_file(EXAMPLE), QUESTION, "0", *CONTROLS, api_name="/sweep")
    assert len(table["value"]["data"]) == 1  # the next sweep runs


@pytest.fixture(scope="module")
def handlers(tiny_engine):
    return ViewHandlers(Serving(ModelSlot(tiny_engine, ModelInfo("tiny", is_tiny=True))))


@pytest.mark.parametrize("size", [(64, 64), (1200, 300), (300, 1400), (2000, 800)])
@pytest.mark.parametrize("max_tiles", [1, 4, 12])
def test_the_preview_counts_the_tiles_the_engine_will_cut(handlers, tiny_engine, tmp_path, size, max_tiles):
    path = tmp_path / f"{size[0]}x{size[1]}.png"
    Image.new("RGB", size, (200, 80, 40)).save(path)
    picture, summary = handlers.tiling_preview({"text": "", "files": [str(path), EXAMPLE]}, max_tiles)
    loaded = tiny_engine.loaded
    expected = tile_images([load_image(str(path)), load_image(EXAMPLE)], loaded.tile_size, max_tiles,
                           loaded.use_thumbnail).tiles_per_image
    first, _ = handlers.tiling_preview({"files": [str(path)]}, max_tiles)
    second, _ = handlers.tiling_preview({"files": [EXAMPLE]}, max_tiles)
    assert picture.width == first.width + second.width + PANEL_GAP  # both overlays, side by side
    lines = summary.splitlines()
    assert len(lines) == 2
    for line, tiles in zip(lines, expected):
        words = f"**{tiles} tiles**" if tiles > 1 else "**1 tile**"
        assert words in line and f"**{tiles * loaded.tokens_per_tile:,} image tokens**" in line


def test_the_preview_names_a_bad_image_and_still_draws_the_good_one(handlers, tmp_path):
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a picture")
    picture, summary = handlers.tiling_preview({"files": [str(broken), EXAMPLE]}, 4)
    alone, _ = handlers.tiling_preview({"files": [EXAMPLE]}, 4)
    assert picture is not None and picture.size == alone.size  # only the good image is drawn
    assert summary.splitlines()[0].startswith("1. ⚠️") and "broken.png" in summary.splitlines()[0]
    assert handlers.tiling_preview({"files": []}, 4) == (None, "Add an image to see the tiles the model will cut it into.")
