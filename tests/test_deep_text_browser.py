"""Text built to exhaust the renderers leaves the page alive, whole and readable, before and after a reload.

A scripted OpenAI-compatible backend (tests/remote_server.FakeServer) streams, in the thinking and
in the answer, formulas of 400 nested `\\frac{1}{`, `x^{` and `\\sqrt{`, a `\\rule{5000em}{5000em}` and
a 5,000-deep blockquote; the formulas that fit the question's length limit are typed as the question too. Once answered (and again after the
page is reloaded and the conversation comes back from the browser's history) the tab must answer
scripts, the last words of the answer and of the question must be on screen, each formula must be
readable as its TeX source, and nothing drawn may be taller than the page could hold.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from model.remote.engine import RemoteEngine
from tests.helpers import ARGS, CHROMIUM
from tests.remote_server import FakeServer, streamed_reply
from ui.page.handlers import ModelInfo
from ui.page.history.listing import DRAWING_KEY
from ui.page.layout import build_app

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Chromium is not installed")]

DEPTH = 400
FORMULAS = {
    "frac": "$" + "\\frac{1}{" * DEPTH + "x" + "}" * DEPTH + "$",
    "power": "$" + "x^{" * DEPTH + "2" + "}" * DEPTH + "$",
    "sqrt": "$$" + "\\sqrt{" * DEPTH + "y" + "}" * DEPTH + "$$",
    "rule": "$\\rule{5000em}{5000em}$",
}
DEEP_QUOTE = "> " * 5000 + "quoted"


QUESTION_PARTS = ("frac", "rule")  # what fits the question's 8,000 characters, with a 1,000-deep quote


# A real formula in the same paragraph: KaTeX auto-render then reads that whole block's drawn text.
BESIDE_MATHS = "with $y^2$ beside it " + FORMULAS["frac"]


def hostile(last_words: str) -> str:
    return "\n\n".join([*FORMULAS.values(), BESIDE_MATHS, DEEP_QUOTE, last_words])


def hostile_question() -> str:
    return "\n\n".join([*(FORMULAS[name] for name in QUESTION_PARTS), "> " * 1000 + "quoted",
                         "END OF THE QUESTION"])


@pytest.fixture(scope="module")
def app_url(launch):
    with FakeServer(streamed_reply(hostile("end of the thinking"), hostile("END OF THE ANSWER"), 3000)) as fake:
        engine = RemoteEngine(fake.endpoint, model="fake", timeout_s=10)
        yield launch(build_app(engine, ModelInfo("deep text backend")))


@pytest.fixture(scope="module")
def page(app_url):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
        page.set_default_timeout(90_000)
        crashed = []
        page.on("crash", lambda _: crashed.append(True))
        page.goto(app_url)
        page.wait_for_selector("#model-status:has-text('ready')")
        yield page, crashed
        browser.close()


MEASURE = """() => {
  const chat = document.querySelector('#chat');
  const tallest = Math.max(0, ...[...chat.querySelectorAll('.message-content *')]
      .map(el => el.getBoundingClientRect().height));
  return {text: chat.innerText.replaceAll('\u2060', ''), tallest};
}"""


def assert_whole_and_readable(page, crashed) -> None:
    assert not crashed
    assert page.evaluate("() => new Promise(done => requestAnimationFrame(() => done(6 * 7)))") == 42
    drawn = page.evaluate(MEASURE)
    assert "END OF THE ANSWER" in drawn["text"] and "END OF THE QUESTION" in drawn["text"]
    assert drawn["text"].count("quoted") >= 2  # the deep quote's last word, in the question and the answer
    # A short trace stays open a moment after the answer (ui.render.messages.MIN_OPEN_S): open it once folded.
    page.wait_for_function("() => !document.querySelector('#chat .thought-group [role=button]')"
                           ".classList.contains('expanded')", timeout=30_000)
    page.locator("#chat .thought-group [role=button]").first.click()  # open the finished thought
    page.wait_for_function("() => document.querySelector('#chat .thought-group').innerText.includes('end of the thinking')")
    for name, tex in FORMULAS.items():  # each formula, in the answer and the question, as its source
        source = "\\(" + tex.strip("$") + "\\)" if tex.count("$") == 2 else "\\[" + tex.strip("$") + "\\]"
        assert drawn["text"].count(source) >= (2 if name in QUESTION_PARTS else 1), source[:40]
    assert drawn["tallest"] < 20_000, drawn["tallest"]  # 5000em would be 80,000 px


def test_deep_formulas_and_quotes_leave_the_page_alive_whole_and_readable_also_after_reload(page):
    page, crashed = page
    page.locator("#question textarea").fill(hostile_question())
    page.locator("#send-btn").click()
    page.wait_for_selector("#stats-line:has-text('token')", timeout=180_000)
    assert_whole_and_readable(page, crashed)

    page.reload()
    page.wait_for_selector("#model-status:has-text('ready')")
    page.wait_for_function("() => document.querySelector('#chat').innerText.includes('END OF THE ANSWER')",
                           timeout=120_000)
    assert_whole_and_readable(page, crashed)


def test_a_conversation_the_last_load_never_finished_drawing_comes_back_as_plain_text(page, app_url):
    page, crashed = page
    if "END OF THE ANSWER" not in page.locator("#chat").inner_text():  # (run alone: answer once first)
        page.locator("#question textarea").fill("what is drawn?")
        page.locator("#send-btn").click()
        page.wait_for_selector("#stats-line:has-text('token')", timeout=180_000)
    page.goto(app_url + "healthz")  # leaving clears the mark; then leave it as a tab that crashed while drawing
    page.evaluate(f"localStorage.setItem('{DRAWING_KEY}', '1')")
    page.goto(app_url)
    page.wait_for_selector("#model-status:has-text('ready')")
    page.wait_for_function("() => document.querySelector('#chat').innerText.includes('plain text')", timeout=120_000)
    assert page.locator("#chat .message-content .katex").count() == 0
    code = page.locator("#chat .message-content pre").all_inner_texts()
    assert any("END OF THE ANSWER" in text for text in code)  # the answer, as text
    assert any("\\frac{1}{\\frac{1}{" in text for text in code)  # the question's formula as typed
    page.wait_for_function(f"() => localStorage.getItem('{DRAWING_KEY}') === null", timeout=30_000)
    page.reload()  # drawn in full this time: the next load draws as usual
    page.wait_for_selector("#model-status:has-text('ready')")
    page.wait_for_function("() => document.querySelector('#chat').innerText.includes('END OF THE ANSWER')",
                           timeout=120_000)
    assert "plain text" not in page.locator("#chat").inner_text() and not crashed
