"""Editing an earlier question and regenerating as versions, in Chromium (Playwright) on the tiny model,
the app served as `python app.py` does.

In order, on one page (1280x900): ask two questions; edit the first (its question and image come back
in the box, with a cancelable note) and send: turn 1 shows "2 / 2" and only the new branch; switch
back with the keyboard: the first branch is there with its follow-up; reload: the shown branch and
the switcher are still there; show version 2 and share: the replay shows it and says which version;
both exports hold it and say "version 2 of 2". Back on version 1, Regenerate on the last turn gives
"2 / 2" there and the first answer is still one click away. Screenshot: tests/artifacts/branches.png.
"""
from __future__ import annotations

import re
import zipfile

import pytest

from model.events import GenerationOptions
from tests.test_browser import ARTIFACTS, pick_first_example
from tests.test_layout_browser import in_browser
from ui.page.handlers import ModelInfo
from ui.page.layout import build_app
from ui.store.history import HistoryOptions

FIRST, SECOND, EDITED = "How many red shapes are there?", "And how many blue ones?", "How many shapes are there?"
DEFAULTS = GenerationOptions.validated(thinking_budget=16, answer_budget=24, max_tiles=4)
ANSWERED_JS = """(question) => {
    const asked = [...document.querySelectorAll('#chat [data-testid=user]')].some(m => m.innerText.includes(question));
    const line = document.querySelector('#stats-line')?.innerText || '';
    return asked && line.includes(' in all') && document.querySelector('#stop-btn')?.disabled;
}"""


@pytest.fixture(scope="module")
def url(tiny_engine, launch, tmp_path_factory):
    options = HistoryOptions(folder=tmp_path_factory.mktemp("branch-data"), secret="s")
    return launch(build_app(tiny_engine, ModelInfo("tiny", is_tiny=True, defaults=DEFAULTS), history=options))


@pytest.fixture(scope="module")
def page(browser, url):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(30_000)
    page.goto(url)
    page.wait_for_selector("#model-status:has-text('ready')")
    yield page
    context.close()


def send(page, question: str) -> None:
    page.locator("#question textarea").fill(question)
    page.click("#send-btn")
    page.wait_for_function(ANSWERED_JS, arg=question, timeout=90_000)


def user_texts(page) -> str:
    return " | ".join(page.locator("#chat [data-testid=user]").all_inner_texts())


def count(page, slot: int = 0) -> str:
    return page.locator(f"#branch-{slot} .prose.branch-count").inner_text().strip()


def wait_count(page, text: str, slot: int = 0) -> None:
    page.wait_for_function("([slot, text]) => (document.querySelector(`#branch-${slot} .branch-count`)?.innerText"
                           " || '').includes(text)", arg=[slot, text])


def pick_turn_to_edit(page, turn: int) -> None:
    page.locator("#branch-edit input").click()
    page.get_by_role("option", name=re.compile(f"^Turn {turn}:")).click()


def downloaded(page, button: str, tmp_path, name: str):
    with page.expect_download() as download:
        page.locator(button).click()
    target = tmp_path / name
    download.value.save_as(target)
    return target


def exports_text(page, tmp_path) -> tuple[str, str]:
    markdown_zip = downloaded(page, "#export-md", tmp_path, "export.zip")
    with zipfile.ZipFile(markdown_zip) as bundle:
        markdown = bundle.read("transcript.md").decode("utf-8")
    return markdown, downloaded(page, "#export-html", tmp_path, "export.html").read_text(encoding="utf-8")


@in_browser
def test_edit_the_first_question_and_switch_between_its_versions(page):
    pick_first_example(page)
    send(page, FIRST)
    first_answer = page.locator("#chat [data-testid=bot]").last.inner_text()
    send(page, SECOND)
    assert page.locator("#branches .branch-slot:visible").count() == 0  # one version each: no switcher

    pick_turn_to_edit(page, 1)
    page.wait_for_selector("#editing-note:has-text('Editing turn 1')")
    assert page.locator("#question textarea").input_value() == FIRST
    assert page.locator("#question img").count() == 1  # its image came back too, to keep or change
    assert page.locator("#chat [data-testid=user]").count() == 0  # the chat shows what came before it
    page.click("#editing-cancel")  # cancel: the conversation is back as it was
    page.wait_for_function("(q) => document.querySelector('#chat').innerText.includes(q)", arg=SECOND)
    page.wait_for_selector("#editing", state="hidden")

    pick_turn_to_edit(page, 1)
    page.wait_for_selector("#editing-note:has-text('version 2 of turn 1')")
    send(page, EDITED)
    wait_count(page, "2 / 2")
    assert count(page).startswith("Turn 1") and SECOND not in user_texts(page) and FIRST not in user_texts(page)
    page.wait_for_selector("#editing", state="hidden")
    assert page.locator("#branch-0 .branch-next").is_disabled()
    ARTIFACTS.mkdir(exist_ok=True)
    page.locator("#main-column").screenshot(path=str(ARTIFACTS / "branches.png"))

    page.locator("#branch-0 .branch-previous").focus()
    page.keyboard.press("Enter")  # the switcher works from the keyboard
    wait_count(page, "1 / 2")
    texts = user_texts(page)
    assert FIRST in texts and SECOND in texts and EDITED not in texts
    assert first_answer in page.locator("#chat").inner_text()
    name = page.locator("#branch-0 .branch-previous").get_attribute("aria-label") or ""
    assert name.startswith("Previous version") and "Turn 1" in name


@in_browser
def test_a_reload_keeps_the_shown_branch_and_its_switcher(page):
    page.reload()
    page.wait_for_selector("#model-status:has-text('ready')")
    wait_count(page, "1 / 2")
    texts = user_texts(page)
    assert FIRST in texts and SECOND in texts and EDITED not in texts
    page.locator("#branch-0 .branch-next").click()
    wait_count(page, "2 / 2")
    assert EDITED in user_texts(page) and SECOND not in user_texts(page)
    page.reload()
    page.wait_for_selector("#model-status:has-text('ready')")
    wait_count(page, "2 / 2")
    assert EDITED in user_texts(page)


@in_browser
def test_share_and_both_exports_hold_the_shown_branch(page, browser, tmp_path):
    page.click("#share-btn")
    page.locator("#share-result a").first.wait_for()
    link = page.locator("#share-result a").first.get_attribute("href")
    fresh = browser.new_context(viewport={"width": 1280, "height": 900})
    viewer = fresh.new_page()
    viewer.set_default_timeout(30_000)
    viewer.goto(link)
    viewer.wait_for_selector("#replay-stats:has-text(' in all')", timeout=40_000)
    assert EDITED in viewer.locator("#replay-chat").inner_text()
    assert "version 2 of 2" in viewer.locator("#replay-head").inner_text()
    fresh.close()

    page.wait_for_selector("#export-md:not([disabled])")
    for _ in range(50):  # the exports are rewritten after the switch; wait for the shown branch
        markdown, html_page = exports_text(page, tmp_path)
        if EDITED in markdown:
            break
        page.wait_for_timeout(200)
    assert "Turn 1: version 2 of 2" in markdown and EDITED in markdown and SECOND not in markdown
    assert "Turn 1: version 2 of 2" in html_page and EDITED in html_page and SECOND not in html_page


@in_browser
def test_regenerate_adds_a_version_of_the_last_turn(page):
    page.locator("#branch-0 .branch-previous").click()
    wait_count(page, "1 / 2")
    before = page.locator("#chat [data-testid=bot]").last.inner_text()
    page.click("#regenerate-btn")
    wait_count(page, "2 / 2", slot=1)
    assert count(page, 1).startswith("Turn 2") and count(page, 0).startswith("Turn 1")
    assert SECOND in user_texts(page)
    page.locator("#branch-1 .branch-previous").click()
    wait_count(page, "1 / 2", slot=1)
    assert page.locator("#chat [data-testid=bot]").last.inner_text() == before  # the first answer, still there
