"""Every screen tidy, in Chromium on the bundled tiny model (Playwright + Debian's Chromium).

- Keyboard: Tab through the whole page at 1280x720 and 390x844 never lands on what nobody can see
  (the closed history list's New and Delete, anything off screen or hidden); opened, the list is reachable.
- Phone (390x844): the history toggle covers no letter of the title; Send is on screen on load under
  the English tiny-model banner; the share and delete links wrap inside their column (390 and 1400 px).
- A shared answer's replay is a page of its own: its heading and answer first, the demo below a
  separator, no Clear on the read-only chat, the seed the answer was drawn with, and at 1280x720
  the answer and its controls on screen.
- An export that fails says so and leaves both export buttons off; a lost connection is said in the
  status line and Send is disabled; Stop withdraws an answer still waiting in the queue (it never
  starts); a remote server's failure is told without its address; a Chinese page says "no limit"
  in Chinese in Compare and the sweep; a hovered Send looks unlike a disabled one.
Screenshots: tests/artifacts/screens-*.png.
"""
from __future__ import annotations

import io
import re

import pytest

from model.events import GenerationOptions, Status
from tests.conftest import free_port, slowed
from tests.test_browser import ARTIFACTS
from tests.test_layout_browser import in_browser, luminance, overlaps
from ui.page.handlers import ModelInfo
from ui.page.layout import build_app, serve
from ui.store.history import HistoryOptions

DESKTOP, PHONE, WIDE = (1280, 720), (390, 844), (1400, 1000)
NO_GPU = Status("No GPU was found, so the bundled tiny model is served.", "note.no_gpu")
DEFAULTS = GenerationOptions.validated(thinking_budget=24, answer_budget=32, max_tiles=4)
TOGGLE = "#history button.toggle-button"

# Where the focused element is once the browser has scrolled it into view, and whether anyone can see it.
FOCUSED_JS = """() => {
  const e = document.activeElement;
  if (!e || e === document.body) return null;
  const r = e.getBoundingClientRect();
  return {name: e.id || e.closest('[id]')?.id || e.tagName, text: (e.innerText || e.value || '').slice(0, 40),
          inClosedSidebar: !!e.closest('.sidebar:not(.open) .sidebar-content'),
          visible: e.checkVisibility({checkOpacity: true, checkVisibilityCSS: true}),
          onScreen: r.width > 0 && r.height > 0 && r.right > 0 && r.bottom > 0
                    && r.left < window.innerWidth && r.top < window.innerHeight};
}"""


def shoot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name))


@pytest.fixture(scope="module")
def history(tmp_path_factory) -> HistoryOptions:
    return HistoryOptions.from_env({"R1V_DATA_DIR": str(tmp_path_factory.mktemp("r1v-screens"))})


@pytest.fixture(scope="module")
def url(tiny_engine, launch, history):
    return launch(build_app(tiny_engine, ModelInfo("tiny", is_tiny=True, note=NO_GPU, defaults=DEFAULTS),
                            history=history))


@pytest.fixture()
def page(browser):
    context = browser.new_context(viewport={"width": DESKTOP[0], "height": DESKTOP[1]}, locale="en-US",
                                  extra_http_headers={"Accept-Language": "en-US,en;q=0.9"})
    page = context.new_page()
    page.set_default_timeout(30_000)
    yield page
    context.close()


def open_page(page, url: str, size=DESKTOP, ready: str = "ready"):
    page.set_viewport_size({"width": size[0], "height": size[1]})
    page.goto(url)
    page.wait_for_selector(f"#model-status:has-text('{ready}')")
    page.wait_for_selector("#examples button.gallery-item")
    page.wait_for_function("() => document.documentElement.style.getPropertyValue('--chat-height') !== ''")
    return page


def answer_one(page, question: str = "How many red shapes are there?") -> None:
    page.locator("#examples button.gallery-item").first.click()
    page.wait_for_function("() => document.querySelector('#question textarea').value.length > 0")
    page.locator("#question textarea").fill(question)
    page.click("#send-btn")
    page.wait_for_selector("#stats-line:has-text(' in all')", timeout=90_000)
    page.wait_for_function("(q) => [...document.querySelectorAll('#history-list label')].some("
                           "l => l.innerText.startsWith(q) && !l.innerText.includes('answering'))", arg=question)


def in_view(box: dict | None, size) -> bool:
    """Some of `box` lies inside the window."""
    return box is not None and box["x"] < size[0] and box["y"] < size[1] \
        and box["x"] + box["width"] > 0 and box["y"] + box["height"] > 0


def tab_stops(page, presses: int = 120) -> list[dict]:
    page.locator("body").focus()
    stops = []
    for _ in range(presses):
        page.keyboard.press("Tab")
        focused = page.evaluate(FOCUSED_JS)
        if focused is not None:
            stops.append(focused)
    return stops


# ---- 1. the keyboard -----------------------------------------------------------------------------

@in_browser
@pytest.mark.parametrize("size", [DESKTOP, PHONE], ids=["1280x720", "390x844"])
def test_tab_never_lands_on_what_nobody_can_see(page, url, size):
    open_page(page, url, size)
    stops = tab_stops(page)
    assert len({stop["name"] for stop in stops}) >= 15, stops  # the whole page was walked, more than once
    unseen = [stop for stop in stops if stop["inClosedSidebar"] or not stop["visible"] or not stop["onScreen"]]
    assert unseen == [], unseen
    assert not {"history-new", "history-delete"} & {stop["name"] for stop in stops}
    page.click(TOGGLE)
    page.wait_for_selector("#history.open")
    page.wait_for_function("() => !document.querySelector('#history .sidebar-content').inert")
    page.locator(TOGGLE).focus()
    reached = []
    for _ in range(4):
        page.keyboard.press("Tab")
        reached.append(page.evaluate(FOCUSED_JS)["name"])
    assert "history-new" in reached, reached  # the open list is in the tab order again
    shoot(page, f"screens-history-open-{size[0]}x{size[1]}.png")


# ---- 2. the phone --------------------------------------------------------------------------------

TITLE_TEXT_JS = """() => { const range = document.createRange();
  range.selectNodeContents(document.querySelector('#title h1'));
  const r = range.getClientRects()[0]; return {x: r.x, y: r.y, width: r.width, height: r.height}; }"""


@in_browser
@pytest.mark.parametrize("size", [PHONE, (1000, 800), DESKTOP], ids=["390", "1000", "1280"])
def test_nothing_covers_the_title_and_send_shows_on_load(page, url, size):
    open_page(page, url, size)
    title, toggle = page.evaluate(TITLE_TEXT_JS), page.locator(TOGGLE).bounding_box()
    assert not overlaps(title, toggle), (title, toggle)
    banner = page.locator("#tiny-banner")
    assert banner.is_visible() and "tiny demo model" in banner.inner_text()
    send = page.locator("#send-btn").bounding_box()
    assert send["y"] >= 0 and send["y"] + send["height"] <= size[1], send  # on screen, not scrolled to
    assert send["x"] >= 0 and send["x"] + send["width"] <= size[0]
    shoot(page, f"screens-load-{size[0]}x{size[1]}.png")


@pytest.fixture(scope="module")
def shared(browser, url):
    """(page link, delete link) of an answer shared from a fresh page."""
    context = browser.new_context(viewport={"width": PHONE[0], "height": PHONE[1]})
    page = context.new_page()
    page.set_default_timeout(30_000)
    open_page(page, url, PHONE)
    answer_one(page)
    page.click("#share-btn")
    page.locator("#share-result a").first.wait_for()
    links = page.locator("#share-result a").first.get_attribute("href"), page.locator("#share-result code").inner_text()
    context.close()
    return links


SHARE_EDGES_JS = """() => { const column = document.getElementById('share').getBoundingClientRect();
  return {column: column.right, window: document.documentElement.clientWidth,
          parts: [...document.querySelectorAll('#share-result a, #share-result code')].flatMap(e =>
                   [...e.getClientRects()].map(r => r.right))}; }"""


@in_browser
@pytest.mark.parametrize("size", [PHONE, WIDE], ids=["390", "1400"])
def test_the_share_and_delete_links_wrap_inside_their_column(page, url, size):
    open_page(page, url, size)
    answer_one(page, "Which bar is the tallest?")
    page.click("#share-btn")
    page.locator("#share-result code").wait_for()
    page.locator("#share-result").scroll_into_view_if_needed()
    edges = page.evaluate(SHARE_EDGES_JS)
    assert len(edges["parts"]) >= 2 and edges["column"] <= edges["window"]
    assert max(edges["parts"]) <= edges["column"] + 0.5, edges  # wrapped, not clipped or running past
    assert page.evaluate("() => document.documentElement.scrollWidth <= document.documentElement.clientWidth")
    shoot(page, f"screens-share-{size[0]}x{size[1]}.png")


# ---- 3. the replay of a shared answer ------------------------------------------------------------

@in_browser
def test_a_shared_answer_is_a_page_of_its_own(page, url, shared):
    link, _ = shared
    page.goto(link)
    page.wait_for_selector("#replay-stats:has-text(' in all')", timeout=60_000)
    heading = page.locator("#replay-head h3")
    assert heading.inner_text().strip() == "Shared answer"
    boxes = {name: page.locator(name).bounding_box()
             for name in ("#replay-head", "#replay-chat", "#replay-below", "#header", "#workspace")}
    order = sorted(boxes, key=lambda name: boxes[name]["y"])
    assert order == ["#replay-head", "#replay-chat", "#replay-below", "#header", "#workspace"], boxes
    assert page.locator("#replay-below").is_visible() and "demo" in page.locator("#replay-below").inner_text()
    rule = page.evaluate("() => parseFloat(getComputedStyle(document.getElementById('replay')).borderBottomWidth)")
    assert rule >= 2  # a visible separator between the answer and the demo
    copy_all = page.locator("#replay-chat button[aria-label='Copy conversation']")
    assert copy_all.is_visible()
    assert page.locator("#replay-chat button[aria-label='Clear']").is_hidden()  # read-only: nothing to clear
    seed = re.search(r"seed (\d+)", page.locator("#replay-stats").inner_text()).group(1)
    head = page.locator("#replay-head").inner_text()
    assert f"Seed {seed}" in head and "Seed -1" not in head, head
    answer = page.locator("#replay-chat [data-testid=bot]").last.bounding_box()
    for box in (answer, page.locator("#replay-again").bounding_box(), page.locator("#replay-at-once").bounding_box()):
        assert in_view(box, DESKTOP), box
    shoot(page, "screens-share-replay.png")  # docs/images/share-replay.png comes from this one


# ---- 4. an export that fails ---------------------------------------------------------------------

@in_browser
def test_an_export_that_fails_is_said_and_leaves_no_older_transcript(page, url, monkeypatch):
    import ui.page.handlers as handlers_module

    open_page(page, url)
    answer_one(page)
    page.wait_for_selector("#export-md:not([disabled])")

    def too_deep(*args, **kwargs):
        raise RecursionError("maximum recursion depth exceeded")  # Python-Markdown on very deep nesting

    monkeypatch.setattr(handlers_module, "transcript_html", too_deep)
    page.click("#regenerate-btn")
    page.get_by_text("This conversation could not be exported").first.wait_for(timeout=90_000)
    page.wait_for_selector("#export-md[disabled]")
    page.wait_for_selector("#export-html[disabled]")
    assert page.locator("#export-md a[href], #export-html a[href]").count() == 0


# ---- 5. a lost connection ------------------------------------------------------------------------

@in_browser
def test_a_lost_connection_is_said_and_send_is_disabled(page, tiny_engine):
    demo = build_app(tiny_engine, ModelInfo("tiny", is_tiny=True, note=NO_GPU, defaults=DEFAULTS))
    _, url, _ = serve(demo, prevent_thread_lock=True, server_name="127.0.0.1", server_port=free_port(), quiet=True)
    try:
        open_page(page, url)
        assert page.locator("#send-btn").is_enabled()
    finally:
        demo.close()
    status = page.locator("#model-status")
    status.locator("text=connection to the server is lost").wait_for(timeout=60_000)  # the 15 s liveness check
    assert "ready" not in status.inner_text()
    assert page.locator("#send-btn").is_disabled()
    page.locator("#question textarea").fill("Are you there?")
    page.locator("#question textarea").press("Enter")  # Gradio's own "connection lost" toast: below the header
    toast = page.locator(".toast-body").first
    toast.wait_for(timeout=30_000)
    page.evaluate("() => Promise.all(document.getAnimations().map(a => a.finished.catch(() => null)))")
    header = page.locator("#header").bounding_box()
    assert not overlaps(toast.bounding_box(), header), (toast.bounding_box(), header)
    shoot(page, "screens-connection-lost.png")


# ---- 6. Stop on an answer still waiting in the queue ---------------------------------------------

@in_browser
def test_stop_withdraws_an_answer_still_waiting_in_the_queue(browser, launch, tiny_engine, monkeypatch):
    url = launch(build_app(tiny_engine, ModelInfo("tiny", is_tiny=True, defaults=DEFAULTS), max_concurrency=1))
    asked = []
    stream = tiny_engine.stream
    monkeypatch.setattr(tiny_engine, "stream", lambda request: (asked.append(request.question), stream(request))[1])
    pages = []
    for _ in range(2):
        context = browser.new_context(viewport={"width": DESKTOP[0], "height": DESKTOP[1]})
        pages.append(open_page(context.new_page(), url))
    a, b = pages
    with slowed(tiny_engine, 0.25):  # A answers until it is stopped (no stop token: the budgets end it)
        answer_question(a, "A: how many red shapes?")
        a.wait_for_selector("#stats-line:has-text('Thinking')")
        answer_question(b, "B: how many blue shapes?")
        b.wait_for_selector("#stop-btn:not([disabled])")
        b.click("#stop-btn")
        b.wait_for_selector("#send-btn:not([disabled])")  # B is idle again while A still answers
        assert b.locator("#stop-btn").is_disabled()
        assert b.locator("#question textarea").input_value() == "B: how many blue shapes?"  # its question kept
        assert a.locator("#stop-btn").is_enabled()
        a.click("#stop-btn")
        a.wait_for_selector("#stats-line:has-text('Stopped')", timeout=60_000)  # in-progress Stop: stats kept
    a.wait_for_selector("#send-btn:not([disabled])")
    answer_question(a, "A again: which bar is tallest?")  # queued after B's, had B's still been waiting
    a.wait_for_function("() => document.querySelectorAll('#chat [data-testid=user]').length === 2")
    a.wait_for_function("() => { const line = document.getElementById('stats-line').innerText;"
                        " return line.includes(' in all') && !line.includes('Stopped'); }", timeout=90_000)
    assert asked == ["A: how many red shapes?", "A again: which bar is tallest?"]
    assert b.locator("#chat [data-testid=user]").count() == 0
    for each in pages:
        each.context.close()


def answer_question(page, question: str) -> None:
    page.locator("#examples button.gallery-item").first.click()
    page.wait_for_function("() => document.querySelector('#question textarea').value.length > 0")
    page.locator("#question textarea").fill(question)
    page.click("#send-btn")


# ---- 7. a remote server's failure ----------------------------------------------------------------

@in_browser
def test_a_remote_failure_is_told_without_the_servers_address(page, launch):
    from model.remote.engine import RemoteEngine

    port = free_port()
    remote = RemoteEngine(f"http://127.0.0.1:{port}/v1", model="m", timeout_s=5)
    url = launch(build_app(remote, ModelInfo("remote model")))
    page.goto(url)
    page.wait_for_selector("#model-status:has-text('ready')")
    page.locator("#question textarea").fill("Hello?")
    page.click("#send-btn")
    toast = page.locator(".toast-body").filter(has_text="not reachable").first
    toast.wait_for(timeout=60_000)
    text = toast.inner_text()
    assert "The model server is not reachable" in text
    assert "127.0.0.1" not in text and str(port) not in text and "http" not in text, text


# ---- 8. every word in Chinese ----------------------------------------------------------------------

@in_browser
def test_a_chinese_page_says_no_limit_in_chinese_in_compare_and_the_sweep(page, url):
    open_page(page, url)
    page.locator("#language label:has-text('中文')").click()  # the switch, not the browser's language
    page.wait_for_selector("#model-status:has-text('就绪')")
    page.locator("button[role=tab]:has-text('对比')").first.click()
    page.wait_for_selector("#compare-budget-b input")
    assert page.locator("#compare-budget-b input").input_value() == "不限"
    page.locator("#compare-budget-b input").click()
    options = page.locator("ul[role=listbox] li").all_inner_texts()
    assert any("不限" in option for option in options) and not any("no limit" in o for o in options), options
    page.keyboard.press("Escape")
    assert "no limit" not in page.locator("#compare-tab").inner_text().lower()
    page.locator("button[role=tab]:has-text('预算扫描')").first.click()
    budgets = page.locator("#sweep-budgets textarea")
    assert budgets.input_value() == "0, 8, 32, 不限"
    page.locator("#sweep-question textarea").fill("图中有几个红色形状？")
    page.wait_for_selector("#sweep-run:not([disabled])")
    page.click("#sweep-run")
    page.wait_for_selector("#sweep-progress:has-text('完成')", timeout=120_000)
    page.wait_for_selector("#sweep-plot img")
    page.wait_for_selector("#sweep-run:not([disabled])", timeout=120_000)
    view = page.locator("#sweep-tab").inner_text()
    assert "不限" in view and "no limit" not in view.lower() and "no limit" not in budgets.input_value()
    shoot(page, "screens-sweep-zh.png")


# ---- 10. hovered and disabled Send ---------------------------------------------------------------

def painted(page, selector: str) -> tuple:
    """The colour drawn a few pixels inside `selector`'s top-left corner (filters and opacity included)."""
    from PIL import Image

    box = page.locator(selector).bounding_box()
    shot = page.screenshot(clip={"x": box["x"] + 6, "y": box["y"] + 6, "width": 4, "height": 4})
    return Image.open(io.BytesIO(shot)).convert("RGB").getpixel((1, 1))


@in_browser
def test_a_hovered_send_looks_unlike_a_disabled_one(page, url):
    open_page(page, url)
    page.mouse.move(2, DESKTOP[1] - 2)
    rest = painted(page, "#send-btn")
    page.hover("#send-btn")
    page.wait_for_function("() => document.querySelector('#send-btn:hover') !== null")
    page.evaluate("() => Promise.all(document.getAnimations().map(a => a.finished.catch(() => null)))")
    hovered = painted(page, "#send-btn")
    page.mouse.move(2, DESKTOP[1] - 2)
    page.evaluate("() => { document.getElementById('send-btn').disabled = true; }")  # as while answering
    page.evaluate("() => Promise.all(document.getAnimations().map(a => a.finished.catch(() => null)))")
    disabled = painted(page, "#send-btn")
    # Hover darkens; disabled fades: the three are told apart by their lightness, in that order.
    assert luminance(hovered) < luminance(rest) < luminance(disabled), (hovered, rest, disabled)
    assert luminance(disabled) - luminance(hovered) > 0.3, (hovered, disabled)
