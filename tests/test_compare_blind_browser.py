"""The Compare tab in Chromium (Playwright), on the bundled tiny model, app served as `python app.py` does.

- Blind: the columns are labelled A and B only while answering and until the vote (no settings, no
  budget, no model name in them), the votes are off until both answers are done; "A better" reveals
  which settings were A and B, the vote is on disk, and the Results view counts it. Screenshots:
  tests/artifacts/compare_blind.png (before the vote), compare_results.png (after it).
- Where the eyes are, at 1280x720 and 390x844: after "Answer both" the columns are in the viewport;
  the page's own settings panel is hidden while Compare is open and back with the Chat tab.
- The two Stops: disabled when idle, at one height, each enabled only while its own column runs.
"""
from __future__ import annotations

import json

import pytest

from model.events import GenerationOptions
from tests.conftest import slowed
from tests.test_browser import shoot
from tests.test_compare import EXAMPLE, QUESTION
from tests.test_layout_browser import in_browser
from tests.test_trace_browser import WORDS_ON_ONE_LINE
from ui.page.handlers import ModelInfo
from ui.store.history import HistoryOptions
from ui.page.layout import build_app

IN_VIEW_JS = """(selector) => { const r = document.querySelector(selector).getBoundingClientRect();
  return r.height > 0 && r.top < window.innerHeight && r.bottom > 0; }"""


@pytest.fixture(scope="module")
def served(tiny_engine, launch, tmp_path_factory):
    folder = tmp_path_factory.mktemp("data")
    defaults = GenerationOptions.validated(thinking_budget=8, answer_budget=32, max_tiles=4)
    history = HistoryOptions(folder=folder, secret="s").with_feedback("on")
    return launch(build_app(tiny_engine, ModelInfo("tiny", is_tiny=True, defaults=defaults), history=history)), folder


def open_compare(browser, url: str, width: int, height: int):
    page = browser.new_page(viewport={"width": width, "height": height})
    page.set_default_timeout(30_000)
    page.goto(url)
    page.wait_for_selector("#model-status:has-text('ready')")
    tab = page.locator("#views button[role=tab]:has-text('Compare')")
    if not tab.is_visible():  # a phone: the tabs that do not fit are under "More tabs"
        page.click("#views button[aria-label='More tabs']")
        tab = page.locator("#views button:has-text('Compare'):visible").last
    tab.click()
    page.locator("#compare-image input[type=file]").set_input_files(EXAMPLE)
    page.wait_for_selector("#compare-image img")
    page.locator("#compare-question textarea").fill(QUESTION)
    return page


def column_texts(page) -> str:
    return page.locator("#compare-a").inner_text() + page.locator("#compare-b").inner_text()


@in_browser
def test_a_blind_vote_hides_the_settings_until_it_is_cast_and_is_counted(served, browser):
    url, folder = served
    page = open_compare(browser, url, 1280, 720)
    page.locator("#compare-blind input[type=checkbox]").check()
    page.click("#compare-run")
    page.wait_for_selector("#compare-stats-a:has-text('answers ready')")
    assert page.locator("#compare-vote-a").is_disabled()  # nothing to vote on while answering
    page.wait_for_selector("#compare-vote-a:not([disabled])", timeout=120_000)
    texts = column_texts(page)
    assert "thinking budget" not in texts and "tiny" not in texts and "budget reached" not in texts
    assert page.locator("#compare-settings-a").is_hidden() and page.locator("#compare-settings-b").is_hidden()
    assert "**" not in page.locator("#compare-title-a").inner_text()
    assert page.locator("#compare-title-a").inner_text().strip() == "A"
    assert not list((folder / "feedback").glob("votes-*.jsonl"))
    shoot(page, "compare_blind.png")

    page.click("#compare-vote-a")
    page.wait_for_selector("#compare-reveal:has-text('A was')")
    [line] = [json.loads(text) for path in (folder / "feedback").glob("votes-*.jsonl")
              for text in path.read_text(encoding="utf-8").splitlines()]
    a_side = line["sides"][line["shown_as_a"]]
    assert line["outcome"] == "a" and a_side in page.locator("#compare-title-a").inner_text()
    assert "thinking budget" in page.locator("#compare-stats-a").inner_text()
    # The settings boxes come back only when they sit above the column that used them.
    assert page.locator("#compare-settings-a").is_visible() == (a_side == line["sides"][0])  # budget 0: the left box
    page.locator("#compare-blind input[type=checkbox]").uncheck()
    page.wait_for_selector("#compare-settings-a", state="visible")
    page.locator("#compare-results button").first.click()  # open the Results view
    table = page.locator("#compare-results-table")
    table.locator("table").wait_for()
    first_wins = "1 / 0" if line["shown_as_a"] == 0 else "0 / 1"
    row = table.locator("tbody tr").first.inner_text()
    assert line["sides"][0] in row and line["sides"][1] in row and first_wins in row
    assert "ties count as half" in table.inner_text()
    headers = page.evaluate(WORDS_ON_ONE_LINE, "#compare-results-table thead th")
    assert len(headers) >= 8 and not [h for h in headers if h["broken"]], headers  # "Votes", never "Vo/tes"
    page.locator("#compare-results-export").click()
    page.wait_for_selector("#compare-results-file a")
    table.scroll_into_view_if_needed()
    shoot(page, "compare_results.png")
    page.close()


@in_browser
@pytest.mark.parametrize("size", [(1280, 720), (390, 844)])
def test_after_answer_both_the_columns_are_in_view_and_the_pages_settings_are_not(served, browser, size):
    url, _ = served
    page = open_compare(browser, url, *size)
    assert page.locator("#settings").is_hidden()  # the page's settings do not act on Compare
    page.evaluate("window.scrollTo(0, 0)")
    page.click("#compare-run")
    page.wait_for_function(f"() => ({IN_VIEW_JS})('#compare-a')", timeout=10_000)
    if size[0] > 600:  # side by side: both columns; on a phone they stack and A comes first
        assert page.evaluate(IN_VIEW_JS, "#compare-b")
    page.wait_for_selector("#compare-agreement:has-text('answers')", timeout=120_000)
    page.locator("#views button[role=tab]:has-text('Chat')").click()
    page.wait_for_selector("#settings", state="visible")
    page.close()


@in_browser
def test_each_stop_is_enabled_only_while_its_column_runs_and_both_sit_at_one_height(served, browser, tiny_engine):
    url, _ = served
    page = open_compare(browser, url, 1280, 720)
    stop_a, stop_b = page.locator("#compare-stop-a"), page.locator("#compare-stop-b")
    assert stop_a.is_disabled() and stop_b.is_disabled()
    assert stop_a.bounding_box()["y"] == stop_b.bounding_box()["y"]
    budget_a = page.locator("#compare-budget-a input")
    budget_a.fill("no limit")  # A must still be running when its Stop is pressed
    budget_a.press("Enter")
    with slowed(tiny_engine, 0.05):
        page.click("#compare-run")
        page.wait_for_selector("#compare-stop-a:not([disabled])")
        page.wait_for_selector("#compare-stats-a:has-text('Thinking')")
        assert stop_b.is_enabled()  # B waits for A: stopping it then means it never runs
        stop_a.click()  # one local model: B waits, then runs
        page.wait_for_selector("#compare-stats-a:has-text('Stopped')")
        page.wait_for_selector("#compare-stop-a[disabled]")
        page.wait_for_selector("#compare-stats-b:has-text('Thinking')")
        assert stop_b.is_enabled()
        stop_b.click()
        page.wait_for_selector("#compare-stats-b:has-text('Stopped')")
    page.wait_for_selector("#compare-stop-b[disabled]")
    assert stop_a.is_disabled() and stop_a.bounding_box()["y"] == stop_b.bounding_box()["y"]
    assert "thinking budget no limit" in page.locator("#compare-stats-a").inner_text()
    page.close()
