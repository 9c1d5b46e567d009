"""The files people bring: PDF documents (each chosen page an image), HEIC/HEIF phone photos and
AVIF images reach the model like any other image, through the engine's input stage and through
the server's /reason; formats are told by content; the tiles view names each PDF page.

Every file is made here: Pillow writes PDF and AVIF, pillow-heif writes HEIC, pypdfium2 writes the
odd-sized pages Pillow cannot.
"""
from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
import pypdfium2
import pytest
import torch
from gradio_client import Client, handle_file
from PIL import Image

from model.inputs.documents import RENDER_DPI, RENDER_MAX_SIDE, parse_pages, render_pdf, split_selection
from model.events import GenerationOptions, Request, Turn, UserFacingError
from model.inputs.images import IMAGENET_MEAN, IMAGENET_STD, ImageError, load_image
from model.inputs.assemble import load_sources, prepare_input
from model.limits import DEFAULT_MAX_PDF_PAGES, Limits
from tests.helpers import collect
from ui.page.handlers import ModelInfo
from ui.page.layout import build_app
from ui.render.tiles import LABEL_HEIGHT, DocumentTiling, tiling_overlay, tiling_settings

OPTIONS = GenerationOptions.validated(temperature=0, thinking_budget=0, answer_budget=16, max_tiles=6)
# Aspect 2:1 gives a 2×1 grid and 3:1 a 3×1 grid at up to 6 tiles, for any tile size; each adds a thumbnail.
WIDE_TILES, WIDER_TILES = 3, 4
BLUE, RED = (0, 0, 255), (255, 0, 0)


# ---- files ---------------------------------------------------------------------------------------

def encoded(image: Image.Image, fmt: str, **params) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def two_page_pdf() -> bytes:
    """Page 1: 200×100 points, blue; page 2: 300×100 points, red (Pillow writes 72 dpi: 1 px = 1 pt)."""
    return encoded(Image.new("RGB", (200, 100), BLUE), "PDF", save_all=True,
                   append_images=[Image.new("RGB", (300, 100), RED)])


def pages_pdf(sizes: list[tuple[float, float]]) -> bytes:
    """Blank pages of any size in points (pypdfium2 writes what Pillow cannot: forged, huge pages)."""
    document = pypdfium2.PdfDocument.new()
    for width, height in sizes:
        document.new_page(width, height)
    buffer = io.BytesIO()
    document.save(buffer)
    document.close()
    return buffer.getvalue()


def red_over_blue(size: tuple[int, int] = (128, 64)) -> Image.Image:
    image = Image.new("RGB", size, BLUE)
    image.paste(RED, (0, 0, size[0], size[1] // 2))
    return image


def orientation_exif(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif.tobytes()


def heic_photo(orientation: int = 6) -> bytes:
    """What a phone saves: 128×64 stored, red over blue, turned 90° clockwise by the orientation
    (pillow-heif writes EXIF orientation 6 as the container's rotation, as phones do)."""
    return encoded(red_over_blue(), "HEIF", quality=95, exif=orientation_exif(orientation))


def avif_image(size: tuple[int, int] = (300, 100), orientation: int = 1) -> bytes:
    return encoded(red_over_blue(size), "AVIF", quality=95, exif=orientation_exif(orientation))


def colour_of(tile: torch.Tensor) -> tuple[float, float, float]:
    """Mean RGB (0..1) of one normalised tile [3, t, t]."""
    pixels = tile * torch.tensor(IMAGENET_STD).view(3, 1, 1) + torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
    return tuple(float(channel.mean()) for channel in pixels)


@pytest.fixture
def files(tmp_path) -> dict[str, str]:
    made = {"doc.pdf": two_page_pdf(), "photo.heic": heic_photo(), "wide.avif": avif_image(),
            "pdf-named.png": two_page_pdf(), "heic-named.jpg": heic_photo(), "avif-named.heic": avif_image()}
    for name, data in made.items():
        (tmp_path / name).write_bytes(data)
    return {name: str(tmp_path / name) for name in made}


def prepared(loaded, images, history=(), limits: Limits | None = None):
    return prepare_input(loaded, Request("What is this?", tuple(images), tuple(history), OPTIONS), limits or Limits())


# ---- PDF: pages through the engine's input stage ---------------------------------------------------

def test_a_two_page_pdf_reaches_the_model_as_two_images_with_their_tiles(tiny_loaded, files):
    result = prepared(tiny_loaded, [files["doc.pdf"]])
    assert result.tiles_per_image == [WIDE_TILES, WIDER_TILES]
    assert result.pixel_values.shape[0] == WIDE_TILES + WIDER_TILES
    assert result.prompt_text.count("<img>") == 2
    first, second = colour_of(result.pixel_values[0]), colour_of(result.pixel_values[WIDE_TILES])
    assert first[2] > 0.9 and first[0] < 0.1  # page 1 is blue
    assert second[0] > 0.9 and second[2] < 0.1  # page 2 is red


def test_pages_are_rendered_at_the_render_dpi(files):
    pages = render_pdf(Path(files["doc.pdf"]).read_bytes(), "doc.pdf", None, 4, 8)
    scale = RENDER_DPI / 72
    assert [(page.number, page.count) for page in pages] == [(1, 2), (2, 2)]
    assert [page.image.size for page in pages] == [(200 * scale, 100 * scale), (300 * scale, 100 * scale)]
    assert all(page.image.mode == "RGB" for page in pages)


def test_a_pdf_is_told_by_its_content_not_its_name(tiny_loaded, files):
    assert prepared(tiny_loaded, [files["pdf-named.png"]]).tiles_per_image == [WIDE_TILES, WIDER_TILES]


def test_pages_chosen_after_the_name_are_the_ones_read(tiny_loaded, files):
    assert prepared(tiny_loaded, [files["doc.pdf"] + "#pages=2"]).tiles_per_image == [WIDER_TILES]
    assert prepared(tiny_loaded, [files["doc.pdf"] + "#page=1"]).tiles_per_image == [WIDE_TILES]
    assert prepared(tiny_loaded, [files["doc.pdf"] + "#pages=2,1"]).tiles_per_image == [WIDER_TILES, WIDE_TILES]


@pytest.mark.parametrize("text, count, pages", [("1-3", 5, [1, 2, 3]), ("2", 5, [2]), ("1,4-5", 5, [1, 4, 5]),
                                                ("3-1", 5, [3, 2, 1]), (" 2 , 2,3 ", 5, [2, 3])])
def test_page_choices(text, count, pages):
    assert parse_pages(text, count, "doc.pdf") == pages


@pytest.mark.parametrize("text, words", [("9", ("doc.pdf has 5 pages", "no page 9")), ("0", ("no page 0",)),
                                         ("a-b", ('"a-b" is not a page choice', "1-3")), ("", ("not a page choice",))])
def test_a_bad_page_choice_says_what_is_wrong(text, words):
    with pytest.raises(ImageError) as caught:
        parse_pages(text, 5, "doc.pdf")
    assert all(word in str(caught.value) for word in words), caught.value


def test_the_choice_is_split_from_the_path_only_when_written_as_one():
    assert split_selection("/up/doc.pdf#pages=2-4") == ("/up/doc.pdf", "2-4")
    assert split_selection("/up/doc.pdf#page=3") == ("/up/doc.pdf", "3")
    assert split_selection("/up/my#notes.png") == ("/up/my#notes.png", None)


def test_by_default_the_first_pages_within_the_pdf_limit_are_read(tmp_path):
    path = tmp_path / "long.pdf"
    path.write_bytes(pages_pdf([(200, 100)] * (DEFAULT_MAX_PDF_PAGES + 3)))
    assert len(load_sources([str(path)], Limits())[0]) == DEFAULT_MAX_PDF_PAGES
    assert len(load_sources([str(path)], Limits(max_pdf_pages=2))[0]) == 2


def test_by_default_a_pdf_takes_only_the_room_left_in_the_conversation(tmp_path, files):
    path = tmp_path / "long.pdf"
    path.write_bytes(pages_pdf([(200, 100)] * 6))
    loaded = load_sources([files["wide.avif"], files["wide.avif"], str(path)], Limits(max_images=5, max_pdf_pages=6))
    assert [len(images) for images in loaded] == [1, 1, 3]
    with pytest.raises(UserFacingError, match="already holds 5 images; the limit is 5"):
        load_sources([files["wide.avif"]] * 5 + [str(path)], Limits(max_images=5))


def test_chosen_pages_beyond_the_limits_are_refused_with_the_limit(files):
    with pytest.raises(UserFacingError, match="2 pages of doc.pdf were chosen; the limit is 1 pages per PDF"):
        load_sources([files["doc.pdf"] + "#pages=1-2"], Limits(max_pdf_pages=1))
    with pytest.raises(UserFacingError, match=r"would hold 3 images \(each PDF page is one\); the limit is 2"):
        load_sources([files["wide.avif"], files["doc.pdf"] + "#pages=1-2"], Limits(max_images=2))


def test_a_pdf_over_the_pdf_size_limit_is_refused_before_it_is_opened(tmp_path):
    path = tmp_path / "big.pdf"
    path.write_bytes(two_page_pdf() + b"%" * (2**20 + 10))  # comments after %%EOF: still a valid PDF
    assert len(load_sources([str(path)], Limits(max_pdf_mb=2))[0]) == 2
    with pytest.raises(UserFacingError, match=r"big.pdf is a 1.0 MiB PDF; the limit is 1 MiB per PDF"):
        load_sources([str(path)], Limits(max_pdf_mb=1))


def test_a_huge_page_is_rendered_at_a_bounded_scale(tmp_path):
    """A page whose size at the render dpi would be 10 gigapixels is drawn at RENDER_MAX_SIDE instead,
    and within a lower pixel limit when one is set."""
    data = pages_pdf([(200_000, 100_000), (200, 200)])
    pages = render_pdf(data, "poster.pdf", None, 4, 8)
    assert pages[0].image.size == (RENDER_MAX_SIDE, RENDER_MAX_SIDE // 2)
    assert pages[1].image.size == (400, 400)  # an ordinary page keeps the render dpi
    small = load_sources([data], Limits(max_pixels=500_000))[0][0]
    assert small.width * small.height <= 500_000 and abs(small.width / small.height - 2) < 0.01


def test_a_rotated_page_is_rendered_as_it_is_shown():
    document = pypdfium2.PdfDocument.new()
    document.new_page(200, 100).set_rotation(90)  # a landscape page turned to portrait by /Rotate
    buffer = io.BytesIO()
    document.save(buffer)
    assert render_pdf(buffer.getvalue(), "turned.pdf", None, 4, 8)[0].image.size == (200, 400)


def test_a_pdf_in_an_earlier_turn_keeps_its_pages_in_that_turn(tiny_loaded, files):
    earlier = Turn("What is on these pages?", "Colours.", (files["doc.pdf"],))
    result = prepared(tiny_loaded, [files["wide.avif"]], history=[earlier])
    assert result.tiles_per_image == [WIDE_TILES, WIDER_TILES, WIDER_TILES]
    first_turn, second_turn = result.prompt_text.split("Colours.")
    assert first_turn.count("<img>") == 2 and second_turn.count("<img>") == 1


# ---- phone photos ----------------------------------------------------------------------------------

def test_a_heic_photo_is_decoded_upright(files):
    photo = load_image(files["photo.heic"])
    assert photo.size == (64, 128)  # stored 128×64, turned 90° clockwise
    pixels = np.asarray(photo).astype(int)
    left, right = pixels[:, :32].mean(axis=(0, 1)), pixels[:, 32:].mean(axis=(0, 1))
    assert right[0] > 200 > left[0] and left[2] > 200 > right[2]  # red came round to the right


def test_a_heic_photo_reaches_the_model_upright_with_its_tiles(tiny_loaded, files):
    result = prepared(tiny_loaded, [files["photo.heic"]])
    assert result.tiles_per_image == [3]  # 1×2 (upright, tall) + thumbnail
    top = result.pixel_values[0]
    half = top.shape[2] // 2
    assert top[0, :, half:].mean() > top[0, :, :half].mean() + 2.0  # red channel: right half


def test_an_avif_image_reaches_the_model_with_its_tiles(tiny_loaded, files):
    assert prepared(tiny_loaded, [files["wide.avif"]]).tiles_per_image == [WIDER_TILES]


def test_the_exif_orientation_of_an_avif_image_is_applied(tmp_path):
    image = load_image(avif_image((128, 64), orientation=6))
    assert image.size == (64, 128)
    pixels = np.asarray(image).astype(int)
    assert pixels[:, 40:, 0].mean() > 200 > pixels[:, :24, 0].mean()


def test_photo_formats_are_told_by_their_content_not_their_name(tiny_loaded, files):
    assert load_image(files["heic-named.jpg"]).size == (64, 128)
    assert load_image(files["avif-named.heic"]).size == (300, 100)
    assert prepared(tiny_loaded, [files["heic-named.jpg"], files["avif-named.heic"]]).tiles_per_image == [3, 4]


def test_the_refusal_for_an_unknown_file_names_the_new_formats():
    with pytest.raises(ImageError) as caught:
        load_image(b"just some text", name="notes.txt")
    assert all(name in str(caught.value) for name in ("HEIC", "AVIF", "PDF"))


# ---- through the engine and the server ---------------------------------------------------------------

def test_the_engine_answers_about_a_pdf_and_reports_each_pages_tiles(tiny_engine, files):
    run = collect(tiny_engine.stream(Request("What is this?", (files["doc.pdf"],), options=OPTIONS)))
    assert not run["errors"] and run["stats"].image_tiles == (WIDE_TILES, WIDER_TILES)


@pytest.fixture(scope="module")
def app(tiny_engine, launch):
    defaults = GenerationOptions.validated(thinking_budget=8, answer_budget=16, max_tiles=6)
    demo = build_app(tiny_engine, ModelInfo("tiny", is_tiny=True, device="CPU", defaults=defaults))
    return Client(launch(demo), verbose=False)


@pytest.mark.parametrize("names, images", [(["doc.pdf"], 2), (["photo.heic"], 1), (["wide.avif"], 1),
                                           (["doc.pdf", "photo.heic", "wide.avif"], 4)])
def test_new_formats_reach_the_model_through_reason(app, tiny_engine, files, names, images):
    """/reason cuts with the served max tiles (the app's default, 6 here), as the input stage does."""
    final = app.predict(images=[handle_file(files[name]) for name in names], question="What is this?",
                        thinking_budget=0, max_new_tokens=16, temperature=0, seed=1, api_name="/reason")
    default = GenerationOptions.validated(temperature=0, thinking_budget=0, answer_budget=16, max_tiles=6)
    expected = prepare_input(tiny_engine.loaded, Request("What is this?", tuple(files[name] for name in names),
                                                         options=default), Limits()).tiles_per_image
    assert len(expected) == images and final["stats"]["image_tiles"] == expected
    assert final["answer"].strip()


# ---- the tiles view ------------------------------------------------------------------------------------

def test_the_tiles_view_draws_each_pdf_page_with_its_number(tiny_engine, files):
    picture, summary = tiling_overlay(files["doc.pdf"], 6, **tiling_settings(tiny_engine))
    assert isinstance(summary, DocumentTiling)
    assert [number for number, _ in summary.pages] == [1, 2]
    assert [page.tiles for _, page in summary.pages] == [WIDE_TILES, WIDER_TILES]
    text = summary.markdown
    assert text.startswith("doc.pdf: pages 1–2 of 2")
    assert re.search(r"- page 1: .*\*\*3 tiles\*\*", text) and re.search(r"- page 2: .*\*\*4 tiles\*\*", text)
    band = np.asarray(picture)[:LABEL_HEIGHT]
    assert (band < 128).any(), "the page-number band has no text drawn in it"
    # The drawn counts are what the engine cut.
    assert [page.tiles for _, page in summary.pages] == prepared(tiny_engine.loaded, [files["doc.pdf"]]).tiles_per_image


def test_the_tiles_view_reads_the_new_photo_formats_as_the_engine_does(tiny_engine, files):
    settings = tiling_settings(tiny_engine)
    for name in ("photo.heic", "wide.avif", "heic-named.jpg"):
        _, summary = tiling_overlay(files[name], 6, **settings)
        assert [summary.tiles] == prepared(tiny_engine.loaded, [files[name]]).tiles_per_image


def test_the_tiles_view_in_chinese_names_the_pages(files):
    from ui.i18n.words import Words

    _, summary = tiling_overlay(files["doc.pdf"], 6, words=Words("zh"))
    assert "第 1 页" in summary.describe(Words("zh")) and "共 2 页" in summary.describe(Words("zh"))



def test_the_tiles_summary_shows_a_pdfs_name_as_text_not_markdown(files, tmp_path):
    import html

    import markdown

    name = "2024. my_*draft*_[v2](x) $5$ #1.pdf"
    path = tmp_path / name
    path.write_bytes(Path(files["doc.pdf"]).read_bytes())
    _, summary = tiling_overlay(str(path), 6)
    head = summary.markdown.splitlines()[0]
    assert not set("*_[]()$#") & set(re.sub(r"&#\d+;", "", head)), head  # no raw mark left to be read as Markdown
    rendered = markdown.markdown(head)
    assert html.unescape(re.sub(r"<[^>]+>", "", rendered)).startswith(name + ": pages 1–2 of 2"), rendered
    assert "<em>" not in rendered and "<a " not in rendered and "<ol" not in rendered

# ---- in a browser ------------------------------------------------------------------------------------

@pytest.mark.browser
def test_a_pdf_in_the_question_box_shows_its_pages_then_is_answered(app, tmp_path, browser):
    """The upload box takes a PDF; the tiles view names its pages before anything is sent."""
    from tests.test_browser import CHROMIUM, shoot

    if not Path(CHROMIUM).exists():
        pytest.skip("Chromium is not installed (apt-get install -y chromium)")
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(two_page_pdf())
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(30_000)
    page.goto(app.src)
    page.wait_for_selector("#model-status:has-text('ready')")
    accepted = page.locator("#question input[type=file]").get_attribute("accept") or ""
    assert all(kind in accepted for kind in (".pdf", ".heic", ".heif", ".avif")), accepted
    page.locator("#question input[type=file]").set_input_files(str(pdf))
    page.wait_for_selector("#tiling-summary:has-text('report.pdf: pages 1–2 of 2')")
    summary = page.locator("#tiling-summary").inner_text()
    assert "page 1:" in summary and "page 2:" in summary
    page.wait_for_selector("#tiling-image img")
    shoot(page, "browser-pdf-tiles.png")
    page.locator("#question textarea").fill("What colour is each page?")
    page.click("#send-btn")
    page.wait_for_selector("#stats-line:has-text('tiles per image')", timeout=60_000)
    tiles = re.search(r"tiles per image ([\d, ]+)", page.locator("#stats-line").inner_text()).group(1)
    assert len(tiles.split(",")) == 2  # one entry per page
    page.close()


def test_a_remote_server_gets_each_pdf_page_in_the_turn_that_showed_it(files):
    from model.remote.engine import build_messages

    earlier = Turn("What is on these pages?", "Colours.", (files["doc.pdf"],))
    messages = build_messages(Request("And this one?", (files["wide.avif"],), (earlier,), OPTIONS), Limits())
    images = [[part for part in message["content"] if part["type"] == "image_url"]
              for message in messages if message["role"] == "user"]
    assert [len(shown) for shown in images] == [2, 1]
    assert all(part["image_url"]["url"].startswith("data:image/png;base64,") for shown in images for part in shown)
