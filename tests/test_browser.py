"""The page in a real browser (Playwright + Debian's Chromium) on the tiny model.

Clicks an example, sends it and watches the thought bubble open, close and the answer appear; then
stops a long run with the Stop button and expands its trace; opens the page in Chinese and switches
it to English; watches the tiles preview follow the max-tiles slider; runs a budget sweep.
Screenshots go to tests/artifacts/.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from model.events import GenerationOptions
from tests.conftest import slowed, wait_until
from ui.page.handlers import ModelInfo
from ui.page.layout import build_app

from tests.helpers import ARGS, CHROMIUM  # noqa: F401 (other browser tests import them from here too)

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
EXAMPLE = str(Path(__file__).resolve().parent.parent / "assets" / "examples" / "puzzle_count.png")
THOUGHT_TITLE = "[data-testid=bot] .thought-group .title"

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                reason="Chromium is not installed (apt-get install -y chromium)")


@pytest.fixture(scope="module")
def url(tiny_engine, launch):
    defaults = GenerationOptions.validated(thinking_budget=24, answer_budget=32, max_tiles=4)
    return launch(build_app(tiny_engine, ModelInfo("tiny", is_tiny=True, defaults=defaults)))


@pytest.fixture
def page(browser, url):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(30_000)
    page.goto(url)
    page.wait_for_selector("#model-status:has-text('ready')")
    yield page
    page.close()


def pick_first_example(page) -> None:
    page.locator("#examples button.gallery-item").first.click()
    page.wait_for_function("() => document.querySelector('#question textarea').value.length > 0")
    assert page.locator("#question img").count() == 1


def wait_for_title(page, pattern: str) -> None:
    """Wait until the first thought bubble's title matches the JavaScript regex `pattern`."""
    script = "([selector, pattern]) => new RegExp(pattern).test(document.querySelector(selector)?.innerText)"
    page.wait_for_function(script, arg=[THOUGHT_TITLE, pattern])


def shoot(page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path), full_page=True)
    print(f"screenshot: {path}")
    return path


def test_example_send_bubble_opens_closes_then_answer(page, tiny_engine):
    assert "not Skywork R1V" in page.locator("#tiny-banner").inner_text()
    pick_first_example(page)
    with slowed(tiny_engine, 0.1):  # slow enough to see the bubble open while it thinks, even under load
        page.click("#send-btn")
        title = page.locator(THOUGHT_TITLE).first
        title.wait_for()
        wait_for_title(page, "Thinking… .* tokens")
        assert "expanded" in title.get_attribute("class")  # open while thinking
        page.wait_for_selector("#stats-line:has-text('Answer cut off')", timeout=60_000)
    assert title.inner_text().startswith("Thought for ")
    assert "expanded" not in title.get_attribute("class")  # folded once the answer starts
    answer = page.locator("[data-testid=bot]").last
    assert answer.locator(".thought-group").count() == 0 and answer.inner_text().strip()
    assert page.locator("#question textarea").input_value() == ""
    shoot(page, "browser-answer.png")


def test_stop_a_long_run_then_expand_its_trace(page, tiny_engine):
    page.locator("#no-limit input").check()
    pick_first_example(page)
    # No stop tokens and no thinking limit; it thinks for some 50 tokens, so Stop lands while it thinks.
    with slowed(tiny_engine, 0.2):
        page.click("#send-btn")
        wait_for_title(page, "· ([2-9]\\d|\\d{3,}) tokens")  # at least 20 tokens into its thinking
        page.click("#stop-btn")
        page.wait_for_selector("#stats-line:has-text('Stopped')", timeout=30_000)
    wait_until(lambda: tiny_engine.active_worker is None, 10, "the engine to be free after Stop")
    title = page.locator(THOUGHT_TITLE).first
    assert "· stopped" in title.inner_text()
    assert "(stopped)" in page.locator("[data-testid=bot]").last.inner_text()
    title.click()
    trace = page.locator("[data-testid=bot] .thought-group .content").first
    trace.wait_for(state="visible")
    assert len(trace.inner_text()) > 20
    shoot(page, "browser-stopped.png")


def test_a_chinese_browser_gets_the_chinese_page_and_the_switch_turns_it_english(browser, url):
    context = browser.new_context(locale="zh-CN", viewport={"width": 1400, "height": 1000},
                                  extra_http_headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    page = context.new_page()
    page.set_default_timeout(30_000)
    page.goto(url)
    page.wait_for_selector("#model-status:has-text('就绪')")
    assert page.locator("#send-btn").inner_text().strip() == "发送"
    assert "不是 Skywork R1V" in page.locator("#tiny-banner").inner_text()
    assert page.locator("#language input[value=zh]").is_checked()
    shoot(page, "browser-chinese.png")
    page.locator("#language label:has-text('English')").click()
    page.wait_for_selector("#send-btn:has-text('Send')")
    page.wait_for_selector("#model-status:has-text('ready')")
    assert "not Skywork R1V" in page.locator("#tiny-banner").inner_text()
    context.close()


def test_the_tiles_show_before_sending_and_follow_the_max_tiles_slider(page):
    pick_first_example(page)
    page.wait_for_selector("#tiling-image img")
    page.wait_for_selector("#tiling-summary:has-text('image tokens')")
    assert "+ thumbnail" in page.locator("#tiling-summary").inner_text()
    shoot(page, "browser-tiles-grid.png")
    page.locator("#settings button:has-text('Advanced')").click()
    tiles = page.locator("#max-tiles input[type=number]")
    tiles.fill("1")
    tiles.press("Enter")
    tiles.blur()  # the slider commits its number box on Enter or on leaving it; do both
    page.wait_for_selector("#tiling-summary:has-text('1 tile')")
    assert "+ thumbnail" not in page.locator("#tiling-summary").inner_text()
    shoot(page, "browser-tiles.png")


def test_a_budget_sweep_fills_its_table_and_plot(page):
    page.locator("#views button[role=tab]:has-text('Budget sweep')").click()
    page.locator("#sweep-image input[type=file]").set_input_files(EXAMPLE)
    page.wait_for_selector("#sweep-image img")
    page.locator("#sweep-question textarea").fill("How many red shapes are there?")
    assert page.locator("#sweep-stop").is_disabled()  # nothing runs yet
    page.click("#sweep-run")
    page.wait_for_selector("#sweep-stop:not([disabled])")
    page.wait_for_selector("#sweep-progress:has-text('Done: 4 budgets answered.')", timeout=120_000)
    page.wait_for_selector("#sweep-stop[disabled]")
    assert page.locator("#sweep-run").is_enabled()
    assert page.locator("#sweep-table [role=row]").count() == 5  # the header and one row per budget
    table = page.locator("#sweep-table").inner_text()
    assert "no limit" in table and "reference (largest budget)" in table
    page.wait_for_selector("#sweep-plot img")
    shoot(page, "browser-sweep.png")
