"""The thinking trace, a full conversation and the sweep in Chromium, on the bundled tiny model.

- The live trace has a body taller than 0 px with text while the model thinks (sampled in the page
  during streaming), is still open once the answer has begun, and folds afterwards; with "Keep
  thinking open" it stays open; its text is body-sized with a contrast of 4.5:1 or more, light and dark.
- After enough image turns the page says the conversation is full before any answer runs out of
  tokens, and the next question is refused with the same words; /reason says it for scripts.
- The sweep at 390 px: Run sweep is enabled only with a question; the forced closing has its own
  column; every header word sits on one line; the plot's label badge overlaps no part of the figure.
Screenshots: tests/artifacts/trace_live.png (1280x720), trace_open_light.png and trace_open_dark.png (kept
open), tests/artifacts/sweep_phone.png (390x844).
"""
from __future__ import annotations

from pathlib import Path

import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

from model.events import GenerationOptions
from model.limits import THINKING_ROOM
from tests.conftest import wait_until
from tests.test_browser import ARTIFACTS, CHROMIUM, EXAMPLE, pick_first_example
from tests.test_layout_browser import contrast
from ui.page.handlers import ModelInfo
from ui.page.layout import build_app
from ui.render.messages import MIN_OPEN_S

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                reason="Chromium is not installed (apt-get install -y chromium)")

PROJECTOR, PHONE = (1280, 720), (390, 844)
TRACE = "[data-testid=bot] .thought-group"
TRACE_TEXT = f"{TRACE} .content .md"
FULL_WORDS = "This conversation is full"
RAN_OUT = "Ran out of tokens"

# Samples the first trace every 20 ms from before Send until told to stop: body height, text, answer.
SAMPLER = """() => {
  window.traceSamples = [];
  window.traceTimer = setInterval(() => {
    const group = document.querySelector('%s');
    const body = group?.querySelector('.content');
    const bots = document.querySelectorAll('[data-testid=bot]');
    const answer = bots.length > 1 ? bots[bots.length - 1].innerText.trim() : '';
    window.traceSamples.push({height: body ? body.offsetHeight : 0, text: body ? body.innerText.trim().length : 0,
                              answer: answer.length});
  }, 20);
}""" % TRACE


@pytest.fixture(scope="module")
def url(tiny_engine, launch):
    defaults = GenerationOptions.validated(thinking_budget=24, answer_budget=32, max_tiles=4)
    return launch(build_app(tiny_engine, ModelInfo("tiny", is_tiny=True, defaults=defaults)))


@pytest.fixture(scope="module")
def roomy_url(tiny_engine, launch):
    """Answers that reserve most of the tiny model's 1,024-token context: it fills in a few image turns."""
    defaults = GenerationOptions.validated(thinking_budget=24, answer_budget=800, max_tiles=4, temperature=0)
    return launch(build_app(tiny_engine, ModelInfo("tiny", is_tiny=True, defaults=defaults)))


def open_page(browser, url: str, size=PROJECTOR, theme: str = "light"):
    page = browser.new_page(viewport={"width": size[0], "height": size[1]})
    page.set_default_timeout(30_000)
    page.goto(f"{url}?__theme={theme}")
    page.wait_for_selector("#model-status:has-text('ready')")
    return page


def shoot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name))
    print(f"screenshot: {ARTIFACTS / name}")


def expanded(page) -> bool:
    return "expanded" in (page.locator(f"{TRACE} .title").first.get_attribute("class") or "")


@pytest.mark.parametrize("size", [PROJECTOR, PHONE], ids=["1280x720", "390x844"])
def test_the_live_trace_shows_text_while_thinking_and_folds_after_the_answer(browser, url, size):
    page = open_page(browser, url, size)
    try:
        pick_first_example(page)
        page.evaluate(SAMPLER)
        page.click("#send-btn")
        page.wait_for_selector("#stats-line:has-text('tokens')", timeout=60_000)
        page.wait_for_function("() => document.querySelectorAll('[data-testid=bot]').length > 1")
        assert expanded(page), "the trace folded as soon as the answer came"
        if size == PROJECTOR:
            shoot(page, "trace_live.png")
        page.wait_for_function("() => !document.querySelector('%s .title').classList.contains('expanded')" % TRACE,
                               timeout=MIN_OPEN_S * 1000 + 15_000)
        samples = page.evaluate("() => { clearInterval(window.traceTimer); return window.traceSamples; }")
    finally:
        page.close()
    readable = [s for s in samples if s["height"] > 0 and s["text"] > 0]
    assert readable, f"the trace body never had height and text ({len(samples)} samples)"
    assert any(s["answer"] > 0 for s in readable), "the trace was not open any more once the answer had begun"


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_kept_open_the_trace_stays_open_and_reads_at_body_size_with_contrast(browser, url, theme):
    page = open_page(browser, url, PROJECTOR, theme)
    try:
        page.locator("#keep-thinking-open input").check()
        pick_first_example(page)
        page.click("#send-btn")
        page.wait_for_selector("#stats-line:has-text('tokens')", timeout=60_000)
        page.wait_for_timeout((MIN_OPEN_S + 1.5) * 1000)  # past the time the trace would have folded
        assert expanded(page), "with Keep thinking open ticked the trace folded"
        page.wait_for_selector(TRACE_TEXT)
        page.locator(TRACE).first.scroll_into_view_if_needed()
        shoot(page, f"trace_open_{theme}.png")  # docs/images/trace.png comes from the light one
        ratio = contrast(page, TRACE_TEXT)
        opacity = page.evaluate("""(sel) => { let o = 1;
            for (let e = document.querySelector(sel); e; e = e.parentElement) o *= parseFloat(getComputedStyle(e).opacity);
            return o; }""", TRACE_TEXT)
        sizes = page.evaluate("""(sel) => [parseFloat(getComputedStyle(document.querySelector(sel)).fontSize),
            parseFloat(getComputedStyle(document.querySelector('[data-testid=user] .md')).fontSize)]""", TRACE_TEXT)
    finally:
        page.close()
    assert ratio >= 4.5 and opacity == 1, f"trace text contrast {ratio:.2f} at opacity {opacity} in {theme} mode"
    assert sizes[0] >= sizes[1], f"trace text {sizes[0]} px is smaller than the question's {sizes[1]} px"


def test_a_full_conversation_is_announced_before_any_answer_runs_out(browser, roomy_url):
    page = open_page(browser, roomy_url, PROJECTOR)
    lines = []
    try:
        for _ in range(6):
            pick_first_example(page)
            page.click("#send-btn")
            page.wait_for_function("""() => { const s = document.querySelector('#stats-line').innerText;
                return / tokens|full/.test(s) && !document.querySelector('#stop-btn').matches(':enabled'); }""",
                                   timeout=60_000)
            lines.append(page.locator("#stats-line").inner_text())
            if FULL_WORDS in lines[-1]:
                break
        assert FULL_WORDS in lines[-1], lines
        assert not any(RAN_OUT in line for line in lines), "\n".join(lines)
        assert "Clear" in lines[-1]
        pick_first_example(page)  # one more turn is refused with the same words, the question kept
        page.click("#send-btn")
        page.wait_for_function("() => document.querySelector('#stats-line').innerText.includes('%s')"
                               % "This conversation is full: its prompt", timeout=60_000)
        assert page.locator("#question textarea").input_value()
        assert RAN_OUT not in page.locator("#chat").inner_text()
    finally:
        page.close()


def test_the_api_says_a_conversation_is_full_for_scripts(roomy_url):
    turns = [{"question": "How many red shapes are there?", "answer": "3", "images": [handle_file(EXAMPLE)]}] * 4
    with pytest.raises(AppError) as refused:
        Client(roomy_url, verbose=False).predict([handle_file(EXAMPLE)], "And now?", max_tiles=4, history=turns,
                                                 api_name="/reason")
    message = str(refused.value)
    assert "conversation is full" in message and "1,024-token context" in message
    assert f"needs {800 + THINKING_ROOM:,}" in message and "answer_budget" in message and "history" in message


# For each header cell matched by the selector: its text and the words that break over two lines.
WORDS_ON_ONE_LINE = """(selector) => [...document.querySelectorAll(selector)].map((th) => {
  const walker = document.createTreeWalker(th, NodeFilter.SHOW_TEXT);
  const broken = [];
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    for (const match of node.textContent.matchAll(/\\S+/g)) {
      const range = document.createRange();
      range.setStart(node, match.index);
      range.setEnd(node, match.index + match[0].length);
      const tops = new Set([...range.getClientRects()].filter((r) => r.width > 0).map((r) => Math.round(r.top)));
      if (tops.size > 1) broken.push(match[0]);
    }
  }
  return {text: th.innerText.trim(), broken};
})"""


def test_the_sweep_on_a_phone_reads_right(browser, url):
    page = open_page(browser, url, PHONE)
    try:
        page.click("#sweep-tab-button, button[role=tab]:has-text('Budget sweep')")
        run = page.locator("#sweep-run")
        assert run.is_disabled(), "Run sweep is enabled with no question"
        page.fill("#sweep-question textarea", "How many red shapes are there?")
        page.wait_for_function("() => !document.querySelector('#sweep-run').disabled")
        page.fill("#sweep-question textarea", "   ")
        page.wait_for_function("() => document.querySelector('#sweep-run').disabled")
        page.fill("#sweep-question textarea", "How many red shapes are there?")
        page.set_input_files("#sweep-image input[type=file]", EXAMPLE)
        page.fill("#sweep-budgets textarea", "0, 8, 32")
        page.wait_for_function("() => !document.querySelector('#sweep-run').disabled")
        run.click()
        page.wait_for_selector("#sweep-progress:has-text('Done')", timeout=120_000)
        page.wait_for_selector("#sweep-plot img")
        headers = page.evaluate(WORDS_ON_ONE_LINE, "#sweep-table thead th")
        badge, figure = (page.locator(sel).first.bounding_box() for sel in
                         ("#sweep-plot [data-testid=block-label]", "#sweep-plot img"))
        page.locator("#sweep-plot").scroll_into_view_if_needed()
        shoot(page, "sweep_phone.png")
        page.wait_for_function("() => !document.querySelector('#sweep-run').disabled")  # idle again, question kept
    finally:
        page.close()
    assert any("Forced closing" in header["text"] for header in headers), headers
    assert all(not header["broken"] for header in headers), headers
    assert badge["y"] + badge["height"] <= figure["y"] + 1, (badge, figure)
