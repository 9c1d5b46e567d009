"""A PDF in the question box is named with its page count, in Chromium on the bundled tiny model.

At 1280x720 and 390x844: a 3-page PDF put in the box (its file input, as a person's upload) shows
"📄 paper.pdf · 3 pages (all are read)" right under the box, above the chat buttons and inside the
window; removing the file hides the line, and so does sending it (the box is emptied). On a phone
a long name wraps inside the column; the language switch rewrites the line.
Screenshots: tests/artifacts/pdf-box-*.png.
"""
from __future__ import annotations

import io

import pytest
from PIL import Image

from model.events import GenerationOptions
from tests.test_browser import ARTIFACTS
from tests.test_layout_browser import in_browser
from tests.test_screens_browser import DESKTOP, PHONE, page  # noqa: F401 - page: an English page at 1280x720
from ui.page.handlers import ModelInfo
from ui.page.layout import build_app

LINE = "#pdf-line"
DEFAULTS = GenerationOptions.validated(thinking_budget=24, answer_budget=32, max_tiles=4)  # fits the tiny context


def three_page_pdf() -> bytes:
    pages = [Image.new("RGB", (120, 160), colour) for colour in ((255, 0, 0), (0, 160, 0), (0, 0, 255))]
    buffer = io.BytesIO()
    pages[0].save(buffer, "PDF", save_all=True, append_images=pages[1:])
    return buffer.getvalue()


@pytest.fixture(scope="module")
def url(tiny_engine, launch):
    return launch(build_app(tiny_engine, ModelInfo("tiny", is_tiny=True, defaults=DEFAULTS)))


@pytest.fixture()
def paper(tmp_path):
    path = tmp_path / "paper.pdf"
    path.write_bytes(three_page_pdf())
    return str(path)


def open_page(page, url: str, size) -> None:
    page.set_viewport_size({"width": size[0], "height": size[1]})
    page.goto(url)
    page.wait_for_selector("#model-status:has-text('ready')")


def attach(page, path: str) -> str:
    page.locator("#question input[type=file]").set_input_files(path)
    page.wait_for_selector(f"{LINE}:has-text('3 pages')")
    return page.locator(LINE).inner_text()


def assert_under_the_box(page, size) -> None:
    box, line = page.locator("#question").bounding_box(), page.locator(LINE).bounding_box()
    buttons = page.locator("#chat-buttons").bounding_box()
    assert box["y"] + box["height"] <= line["y"] + 1 and line["y"] + line["height"] <= buttons["y"] + 1, (box, line)
    assert line["x"] >= 0 and line["x"] + line["width"] <= size[0], line


@in_browser
@pytest.mark.parametrize("size", [DESKTOP, PHONE], ids=["1280x720", "390x844"])
def test_a_pdf_in_the_box_is_named_with_its_page_count_until_it_is_removed(page, url, paper, size):
    open_page(page, url, size)
    assert page.locator(f"{LINE}:visible").count() == 0  # nothing in the box: no line
    text = attach(page, paper)
    assert "paper.pdf" in text and "3 pages" in text and "all are read" in text, text
    assert_under_the_box(page, size)
    page.locator(LINE).scroll_into_view_if_needed()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"pdf-box-{size[0]}x{size[1]}.png"))
    page.locator("#question button[aria-label='Remove file']").click()
    page.wait_for_selector(LINE, state="hidden")


@in_browser
@pytest.mark.parametrize("size", [DESKTOP, PHONE], ids=["1280x720", "390x844"])
def test_the_line_goes_when_the_box_is_emptied_by_sending(page, url, paper, size):
    open_page(page, url, size)
    attach(page, paper)
    page.locator("#question textarea").fill("What colour is each page?")
    page.click("#send-btn")
    page.wait_for_selector(LINE, state="hidden")
    page.wait_for_selector("#stats-line:has-text(' in all')", timeout=90_000)
    assert page.locator(f"{LINE}:visible").count() == 0  # the finished answer does not bring it back


@in_browser
def test_a_long_name_wraps_inside_the_phone_column(page, url, tmp_path):
    path = tmp_path / ("a_very_long_report_name_without_any_space_" * 3 + ".pdf")
    path.write_bytes(three_page_pdf())
    open_page(page, url, PHONE)
    attach(page, str(path))
    assert_under_the_box(page, PHONE)
    spill = page.evaluate("() => { const e = document.querySelector('#pdf-line'); return e.scrollWidth - e.clientWidth; }")
    assert spill <= 1, spill


@in_browser
def test_the_line_follows_the_language_switch(page, url, paper):
    open_page(page, url, DESKTOP)
    attach(page, paper)
    page.locator("#language label:has-text('中文')").click()
    page.wait_for_selector(f"{LINE}:has-text('共 3 页（全部读取）')")
    assert "paper.pdf" in page.locator(LINE).inner_text()
