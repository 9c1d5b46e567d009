"""The page's second wall in Chromium (ui/http/csp.py), on the app as `python app.py` serves it.

- Under the Content-Security-Policy the page, every tab, the tiles view, maths, the sweep plot and a
  share link's replay work, and the browser reports no violation.
- Markup injected past the rendering policy is held by the browser: a remote image is not fetched, a
  form does not post elsewhere (a local leak server counts every request it gets: none).
- A shared link whose question and answer hold hostile markup, opened in a fresh context, shows it
  as text and fetches nothing; with the rendering policy switched off (`rendering_policy_bypassed`,
  a test-only switch) the browser's policy still blocks the image.
- The delete token of a share link appears in no request line of the server's access log.
"""
from __future__ import annotations

import logging
import re
import time
from pathlib import Path

import pytest

from model.events import AnswerDelta, Done, FinishReason, Stats, ThinkingDelta
from tests.remote_server import CountingServer
from tests.test_history import STATS
from ui.page.handlers import ModelInfo
from ui.store.history import HistoryOptions, turn_to_dict
from ui.page.layout import build_app
from ui.render.messages import TurnRecord
from ui.store.share import ShareStore

pytestmark = [pytest.mark.browser]
EXAMPLE = Path(__file__).resolve().parent.parent / "assets" / "examples" / "puzzle_count.png"
ANSWER = "The half is $\\frac{1}{2}$, and so $x^2 = \\sqrt{4}$."
# Every securitypolicyviolation the page sees, kept where a test can read it after a navigation.
WATCH = """document.addEventListener('securitypolicyviolation', (e) => {
    const seen = JSON.parse(sessionStorage.getItem('r1v-csp') || '[]');
    seen.push({directive: e.effectiveDirective, blocked: e.blockedURI, sample: e.sample});
    sessionStorage.setItem('r1v-csp', JSON.stringify(seen));
});"""


class ScriptedEngine:
    """Thinks a line, answers with maths (or `answer`), at once. No model."""

    answer = ANSWER

    def stream(self, request):
        yield ThinkingDelta("Half of one is one half.", 6)
        yield AnswerDelta(self.answer, 12)
        yield Stats(10, (), 6, 12, 0.1, 0.2, 0.3, 60.0, False, FinishReason.ANSWERED, 0)
        yield Done(FinishReason.ANSWERED)



class AccessLog(logging.Handler):
    def __init__(self):
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record):
        self.lines.append(record.getMessage())


@pytest.fixture(scope="module")
def leak():
    server = CountingServer()
    yield server
    server.httpd.shutdown()


@pytest.fixture(scope="module")
def app(launch, tmp_path_factory):
    folder = tmp_path_factory.mktemp("r1v-data")
    options = HistoryOptions.from_env({"R1V_DATA_DIR": str(folder)})
    access, logger = AccessLog(), logging.getLogger("uvicorn.access")
    url = launch(build_app(ScriptedEngine(), ModelInfo("scripted"), history=options))
    level = logger.level
    logger.setLevel(logging.INFO)  # Gradio starts uvicorn at "warning"; its access lines are INFO
    logger.addHandler(access)
    yield url, options, access
    logger.removeHandler(access)
    logger.setLevel(level)


def new_page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})  # no cookies, no storage
    context.add_init_script(WATCH)
    page = context.new_page()
    page.set_default_timeout(60_000)
    return context, page


def violations(page) -> list[dict]:
    return page.evaluate("JSON.parse(sessionStorage.getItem('r1v-csp') || '[]')")


@pytest.fixture
def rendering_policy_bypassed(monkeypatch):
    """Test-only switch: messages reach the Chatbot as written, without ui.render.safe_text's policy."""
    import ui.render.messages

    monkeypatch.setattr(ui.render.messages, "shown", lambda text: text)


def shared_link(url: str, options: HistoryOptions, question: str, answer: str) -> str:
    """A snapshot as the Share button writes it, of a turn with this question and answer."""
    record = TurnRecord(question=question, images=(), thinking="Thinking it over.", answer=answer, thinking_tokens=3,
                        thought_s=0.3, budget_fired=False, finish_reason=FinishReason.ANSWERED, stats=dict(STATS))
    snapshot = {"model": "scripted", "settings": {}, "record": turn_to_dict(record),
                "timeline": {"first_token_s": 0.1, "thought_s": 0.3, "total_s": 0.6}}
    share_id, _ = ShareStore(options.folder / "shares").create(snapshot, [], visitor="test")
    return f"{url}?share={share_id}"


def open_replay(page, link: str) -> None:
    page.goto(link)
    page.wait_for_selector("#replay-stats:has-text(' in all')")


def test_every_view_works_under_the_policy_with_no_violation(browser, app):
    url, _, _ = app
    context, page = new_page(browser)
    page.goto(url)
    page.wait_for_selector("#model-status:has-text('ready')")
    page.locator("#examples button.gallery-item").first.click()
    page.wait_for_selector("#tiling-image img")  # the tiles view drew its grid
    page.locator("#question textarea").fill("What is half of one?")
    page.click("#send-btn")
    page.wait_for_selector("#stats-line:has-text(' in all')")
    assert page.locator("#chat [data-testid=bot] .katex").count() >= 2  # KaTeX drew the maths
    page.get_by_role("tab", name="Budget sweep").click()
    page.set_input_files("#sweep-image input[type=file]", str(EXAMPLE))
    page.locator("#sweep-question textarea").fill("Count them.")
    page.click("#sweep-run")
    page.wait_for_selector("#sweep-plot img", timeout=90_000)  # matplotlib's plot, as a data: image
    page.get_by_role("tab", name="Compare").click()
    page.wait_for_selector("#compare-tab", state="visible")
    page.get_by_role("tab", name="Chat").click()
    page.click("#share-btn")
    link = page.locator("#share-result a").first.get_attribute("href")
    assert violations(page) == []
    viewer_context, viewer = new_page(browser)
    open_replay(viewer, link)
    assert viewer.locator("#replay-chat .katex").count() >= 2 and violations(viewer) == []
    viewer_context.close()
    context.close()


def test_markup_injected_past_the_policy_is_held_by_the_browser(browser, app, leak):
    url, _, _ = app
    context, page = new_page(browser)
    page.goto(url)
    page.wait_for_selector("#model-status:has-text('ready')")
    page.wait_for_selector("#chat", state="attached")  # "ready" can show before the chat is mounted
    page.evaluate("""(port) => {
        const box = document.createElement('div');
        box.innerHTML = `<img id=leak-img src="http://127.0.0.1:${port}/img">` +
            `<form id=leak-form action="http://127.0.0.1:${port}/form" method=post><button>go</button></form>`;
        document.querySelector('#chat').appendChild(box);
        document.querySelector('#leak-form').requestSubmit();
    }""", leak.port)
    page.wait_for_function("() => JSON.parse(sessionStorage.getItem('r1v-csp') || '[]').length >= 2")
    seen = {(v["directive"], v["blocked"].rstrip("/")) for v in violations(page)}
    assert ("img-src", f"http://127.0.0.1:{leak.port}/img") in seen
    assert any(directive == "form-action" for directive, _ in seen)
    time.sleep(0.5)
    assert leak.hits == []
    context.close()


def hostile(port: int) -> str:
    return (f"see\n\u00a0\n    <img src=http://127.0.0.1:{port}/x>\n"
            f"<form action=http://127.0.0.1:{port}/f><button>go</button></form>")


def plain_hostile(port: int) -> str:
    return f"see <img src=http://127.0.0.1:{port}/x>\n\n<form action=http://127.0.0.1:{port}/f><button>go</button></form>"


def assert_shown_as_text(viewer, port: int) -> None:
    text = viewer.locator("#replay-chat").inner_text()
    assert f"<img src=http://127.0.0.1:{port}/x>" in text and f"<form action=http://127.0.0.1:{port}/f>" in text
    assert viewer.locator("#replay-chat img[src*='127.0.0.1']").count() == 0
    assert viewer.locator("#replay-chat form, #replay-chat button:text('go')").count() == 0


@pytest.mark.parametrize("payload", [
    plain_hostile,
    hostile,
], ids=["inline", "nbsp line before an indented line"])
def test_a_hostile_shared_link_shows_text_and_fetches_nothing(browser, app, leak, payload):
    url, options, _ = app
    link = shared_link(url, options, payload(leak.port), payload(leak.port))
    context, viewer = new_page(browser)
    open_replay(viewer, link)
    time.sleep(0.5)
    assert leak.hits == []
    assert_shown_as_text(viewer, leak.port)
    assert violations(viewer) == []  # nothing even tried to load
    context.close()


def test_with_the_rendering_policy_bypassed_the_browser_blocks_the_image(browser, app, leak,
                                                                      rendering_policy_bypassed):
    url, options, _ = app
    link = shared_link(url, options, plain_hostile(leak.port), hostile(leak.port))
    context, viewer = new_page(browser)
    open_replay(viewer, link)
    assert viewer.locator("#replay-chat img[src*='127.0.0.1']").count() >= 1  # the markup is live now
    viewer.wait_for_function("() => JSON.parse(sessionStorage.getItem('r1v-csp') || '[]').length > 0")
    blocked = {(v["directive"], v["blocked"]) for v in violations(viewer)}
    assert ("img-src", f"http://127.0.0.1:{leak.port}/x") in blocked
    time.sleep(0.5)
    assert leak.hits == []
    context.close()


def test_the_delete_token_is_in_no_request_line_of_the_server(browser, app):
    url, _, access = app
    context, page = new_page(browser)
    page.goto(url)
    page.wait_for_selector("#model-status:has-text('ready')")
    page.locator("#question textarea").fill("What is half of one?")
    page.click("#send-btn")
    page.wait_for_selector("#stats-line:has-text(' in all')")
    page.click("#share-btn")
    delete_link = page.locator("#share-result code").inner_text()
    link, token = re.fullmatch(r"(.+\?share=[A-Za-z0-9_-]{22})#delete=([A-Za-z0-9_-]{22})", delete_link).groups()
    viewer_context, viewer = new_page(browser)
    viewer.goto(delete_link)
    viewer.wait_for_selector("#replay-delete", state="visible")
    assert "#" not in viewer.url  # the page took the token out of the address bar
    viewer.click("#replay-delete")
    viewer.wait_for_selector("#replay-head:has-text('Shared answer deleted')")
    viewer.goto(link)
    viewer.wait_for_selector("#replay-head:has-text('Shared answer not found')")
    share_id = link.rsplit("=", 1)[1]
    lines = list(access.lines)
    assert any(f"GET /?share={share_id}" in line for line in lines)  # the log does hold request lines
    assert not [line for line in lines if token in line]
    viewer_context.close()
    context.close()
