"""History and share links in a real browser (Playwright + Debian's Chromium) on the tiny model.

In order, on one page: ask, reload, the conversation is still there; start a second conversation
and open the first from the side list; restart the server (a new app on the same port, data folder
and secret), reload, still there; reload while an answer streams, and see the finished turns and
the interrupted note. Then share the last answer, open the link in a fresh browser context (no
cookies, no storage) and watch the replay; a random id says "not found"; the delete link removes it.
Screenshots go to tests/artifacts/.
"""
from __future__ import annotations

import re

import pytest

from model.events import GenerationOptions
from tests.conftest import free_port, slowed, wait_until
from tests.test_browser import CHROMIUM, pick_first_example, shoot, wait_for_title
from ui.page.handlers import ModelInfo
from ui.store.history import HistoryOptions
from ui.page.layout import build_app, serve

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not CHROMIUM or not __import__("os").path.exists(CHROMIUM),
                                 reason="Chromium is not installed (apt-get install -y chromium)")]
FIRST = "How many red shapes are there?"
SECOND = "Which bar is the tallest?"
CHAT = "#chat"


class Server:
    """The app on one fixed port; `restart()` closes it and serves a new one with the same data folder."""

    def __init__(self, engine, options: HistoryOptions):
        self.engine, self.options, self.port, self.demo = engine, options, free_port(), None
        self.start()

    def start(self) -> None:
        defaults = GenerationOptions.validated(thinking_budget=24, answer_budget=32, max_tiles=4)
        self.demo = build_app(self.engine, ModelInfo("tiny", is_tiny=True, defaults=defaults), history=self.options)
        _, self.url, _ = serve(self.demo, prevent_thread_lock=True, server_name="127.0.0.1", server_port=self.port,
                               quiet=True, max_file_size="5mb")

    def restart(self) -> None:
        self.demo.close()
        self.start()


@pytest.fixture(scope="module")
def server(tiny_engine, tmp_path_factory):
    folder = tmp_path_factory.mktemp("r1v-data")
    options = HistoryOptions.from_env({"R1V_DATA_DIR": str(folder)})
    server = Server(tiny_engine, options)
    yield server
    server.demo.close()


@pytest.fixture(scope="module")
def page(browser, server):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(30_000)
    open_page(page, server.url)
    yield page
    context.close()


def open_page(page, url: str) -> None:
    page.goto(url)
    page.wait_for_selector("#model-status:has-text('ready')")


def ask(page, question: str) -> None:
    pick_first_example(page)
    page.locator("#question textarea").fill(question)
    page.click("#send-btn")
    page.wait_for_selector("#stats-line:has-text(' in all')", timeout=90_000)  # the final stats line
    # saved once the answer is in: the side list names it, no longer answering
    page.wait_for_function("(q) => [...document.querySelectorAll('#history-list label')].some("
                           "l => l.innerText.startsWith(q) && !l.innerText.includes('answering'))", arg=question)


def open_sidebar(page) -> None:
    if page.locator("#history.open").count() == 0:  # Gradio's sidebar slides in; closed it sits off screen
        page.click("#history button[aria-label='Toggle Sidebar']")
    page.wait_for_selector("#history.open")


def listed(page) -> list[str]:
    return [label.strip() for label in page.locator("#history-list label").all_inner_texts()]


def chat_text(page) -> str:
    return page.locator(CHAT).inner_text()


def test_ask_reload_and_the_conversation_is_still_there(page, server):
    ask(page, FIRST)
    answer = page.locator(f"{CHAT} [data-testid=bot]").last.inner_text().strip()
    assert answer
    page.reload()
    page.wait_for_selector(f"{CHAT} [data-testid=user]:has-text('{FIRST}')")
    assert answer in chat_text(page)
    assert page.locator(f"{CHAT} [data-testid=user] img").count() == 1  # the image is still shown
    for button in ("#regenerate-btn", "#undo-btn", "#clear-btn", "#export-md", "#export-html"):
        page.wait_for_selector(f"{button}:not([disabled])", timeout=20_000)  # a restored page is a working page
    page.wait_for_selector("#stats-line:has-text('token')")  # the last turn's stats
    open_sidebar(page)
    (label,) = listed(page)
    assert label.startswith(FIRST) and re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d$", label)


def test_open_an_older_conversation_from_the_list(page, server):
    open_sidebar(page)
    page.click("#history-new")
    page.wait_for_function("() => !document.querySelector('#chat [data-testid=user]')")
    ask(page, SECOND)
    wait_until(lambda: len(listed(page)) == 2, 15, "two conversations in the list")
    assert listed(page)[0].startswith(SECOND) and listed(page)[1].startswith(FIRST)
    page.locator("#history-list label").nth(1).click()
    page.wait_for_selector(f"{CHAT} [data-testid=user]:has-text('{FIRST}')")
    assert SECOND not in chat_text(page)
    shoot(page, "history-list.png")


def test_restart_the_server_reload_and_it_is_still_there(page, server):
    server.restart()
    open_page(page, server.url)
    page.wait_for_selector(f"{CHAT} [data-testid=user]:has-text('{FIRST}')")  # the newest opened: the first, reopened
    open_sidebar(page)
    assert [label.split(" · ")[0] for label in listed(page)] == [SECOND, FIRST]


def test_a_reload_mid_answer_keeps_the_finished_turns_and_says_it_was_interrupted(page, server, tiny_engine):
    page.locator("#no-limit input").check()
    pick_first_example(page)
    page.locator("#question textarea").fill("Count every shape, slowly.")
    with slowed(tiny_engine, 0.03):  # no stop tokens and no thinking limit: it runs until the page goes
        page.click("#send-btn")
        wait_for_title(page, "· ([2-9]\\d|\\d{3,}) tokens")
        page.reload()
        page.wait_for_selector("#model-status:has-text('ready')")
        page.wait_for_selector(f"{CHAT} :text('This answer was interrupted')")
        wait_until(lambda: tiny_engine.active_worker is None, 20, "the engine to be free after the reload")
    text = chat_text(page)
    assert FIRST in text and "Count every shape, slowly." in text
    assert page.locator("#question textarea").input_value() == "Count every shape, slowly."
    page.locator("#question textarea").fill("")
    page.reload()  # said once: the next reload shows the finished turns alone
    page.wait_for_selector(f"{CHAT} [data-testid=user]:has-text('{FIRST}')")
    assert "interrupted" not in chat_text(page)


def test_share_the_last_answer_and_replay_it_in_a_fresh_browser(page, server, browser):
    page.click("#share-btn")
    result = page.locator("#share-result")
    result.locator("a").first.wait_for()
    link = result.locator("a").first.get_attribute("href")
    delete_link = result.locator("code").inner_text()
    assert re.fullmatch(re.escape(server.url.rstrip("/")) + r"/?\?share=[A-Za-z0-9_-]{22}", link)
    assert delete_link.startswith(link + "#delete=")  # in the fragment: never sent to a server

    fresh = browser.new_context(viewport={"width": 1400, "height": 1000})  # no cookies, no storage
    viewer = fresh.new_page()
    viewer.set_default_timeout(30_000)
    viewer.goto(link)
    viewer.locator("#replay-head").wait_for()
    assert "Shared answer" in viewer.locator("#replay-head").inner_text()
    assert "Model: tiny" in viewer.locator("#replay-head").inner_text()
    viewer.wait_for_selector("#replay-chat .thought-group")
    viewer.wait_for_selector("#replay-stats:has-text(' in all')", timeout=40_000)  # played to the end
    assert FIRST in viewer.locator("#replay-chat").inner_text()
    assert viewer.locator("#replay-chat [data-testid=user] img").count() == 1
    title = viewer.locator("#replay-chat .thought-group .title").first.inner_text()
    assert title.startswith("Thought for ")
    viewer.locator("#replay-chat .thought-group .title").first.click()
    trace = viewer.locator("#replay-chat .thought-group .content").first
    trace.wait_for(state="visible")
    assert len(trace.inner_text()) > 10
    assert viewer.locator("#replay-delete").is_hidden()  # only the delete link shows Delete
    shoot(viewer, "share-replay.png")

    viewer.locator("#replay-at-once input").check()
    viewer.click("#replay-again")
    viewer.wait_for_selector("#replay-stats:has-text(' in all')")

    viewer.goto(server.url.rstrip("/") + "/?share=" + "x" * 22)
    viewer.wait_for_selector("#replay-head:has-text('Shared answer not found')")
    assert viewer.locator("#replay-chat").is_hidden()

    viewer.goto(delete_link)
    viewer.click("#replay-delete")
    viewer.wait_for_selector("#replay-head:has-text('Shared answer deleted')")
    viewer.goto(link)
    viewer.wait_for_selector("#replay-head:has-text('Shared answer not found')")
    fresh.close()
