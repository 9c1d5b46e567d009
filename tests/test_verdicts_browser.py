"""Verdicts in Chromium (Playwright), on the bundled tiny model, app served as `python app.py` does.

- Answer, thumbs down, pick a reason and a comment, save: the record is on disk with the question,
  answer, thinking, model, settings, seed and stats, and no address. The other thumb changes it
  (the same verdict_id), the same thumb again withdraws it. Screenshot: tests/artifacts/verdict.png.
- In Compare, a thumb on column B's answer is stored with source "compare", column B and B's own
  settings (no limit), one on A with A's (budget 0); the other thumb changes it, the same again
  withdraws it; a new comparison cannot be judged until it is done.
- With `--feedback off` the chat and Compare have no thumbs and nothing is written.
"""
from __future__ import annotations

import json

import pytest

from model.events import GenerationOptions
from model.events import NO_LIMIT
from tests.test_browser import ARTIFACTS, pick_first_example
from tests.test_compare_blind_browser import open_compare
from tests.test_layout_browser import in_browser
from ui.page.handlers import ModelInfo
from ui.page.layout import build_app
from ui.store.history import HistoryOptions

QUESTION = "How many red shapes are there?"
DEFAULTS = GenerationOptions.validated(thinking_budget=16, answer_budget=24, max_tiles=4)


@pytest.fixture(scope="module")
def served(tiny_engine, launch, tmp_path_factory):
    folders = {mode: tmp_path_factory.mktemp(f"data-{mode}") for mode in ("on", "off")}
    urls = {mode: launch(build_app(tiny_engine, ModelInfo("tiny", is_tiny=True, defaults=DEFAULTS),
                                   history=HistoryOptions(folder=folder, secret="s").with_feedback(mode)))
            for mode, folder in folders.items()}
    return urls, folders


def answered_page(browser, url: str):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.set_default_timeout(30_000)
    page.goto(url)
    page.wait_for_selector("#model-status:has-text('ready')")
    pick_first_example(page)
    page.locator("#question textarea").fill(QUESTION)
    page.click("#send-btn")
    page.wait_for_selector("#stats-line:has-text(' in all')", timeout=90_000)
    return page


def lines(folder) -> list[dict]:
    return [json.loads(text) for path in sorted((folder / "feedback").glob("verdicts-*.jsonl"))
            for text in path.read_text(encoding="utf-8").splitlines()]


def wait_for_lines(page, folder, count: int) -> list[dict]:
    for _ in range(100):
        if len(lines(folder)) >= count:
            break
        page.wait_for_timeout(100)
    return lines(folder)


@in_browser
def test_thumbs_down_with_a_reason_is_stored_then_changed_then_withdrawn(served, browser):
    urls, folders = served
    folder = folders["on"]
    page = answered_page(browser, urls["on"])
    answer = page.locator("#chat [data-testid=bot]").last.inner_text().strip()
    page.locator("#chat button[aria-label='Dislike']").last.click()
    page.wait_for_selector("#verdict-panel:visible")
    [first] = wait_for_lines(page, folder, 1)
    assert first["verdict"] == "down" and first["source"] == "chat" and first["question"] == QUESTION
    assert first["model"] == "tiny" and first["language"] == "en" and first["settings"]["thinking_budget"] == 16
    assert first["answer"] and first["answer"] in answer and first["stats"]["finish_reason"] == first["finish_reason"]
    assert first["image_digests"] and len(first["image_digests"][0]) == 64 and first["tiles"]
    assert first["model_version"]

    page.locator("#verdict-reason label:has-text('Wrong answer')").click()
    page.locator("#verdict-comment textarea").fill("There are three.")
    page.click("#verdict-save")
    page.wait_for_selector("#verdict-note:has-text('Wrong answer')")
    ARTIFACTS.mkdir(exist_ok=True)
    page.locator("#main-column").screenshot(path=str(ARTIFACTS / "verdict.png"))
    explained = wait_for_lines(page, folder, 2)[-1]
    assert explained["verdict_id"] == first["verdict_id"]
    assert (explained["verdict"], explained["reason"], explained["comment"]) == ("down", "wrong_answer", "There are three.")

    page.locator("#chat button[aria-label='Like']").last.click()
    changed = wait_for_lines(page, folder, 3)[-1]
    assert changed["verdict_id"] == first["verdict_id"] and changed["verdict"] == "up"
    page.locator("#chat button[aria-label='Liked']").last.click()  # the same thumb again
    withdrawn = wait_for_lines(page, folder, 4)[-1]
    assert withdrawn["verdict_id"] == first["verdict_id"] and withdrawn["kind"] == "withdrawn"
    page.wait_for_selector("#verdict-panel", state="hidden")
    text = (folder / "feedback").joinpath(sorted(p.name for p in (folder / "feedback").glob("*.jsonl"))[0]).read_text()
    assert "127.0.0.1" not in text and "session" not in text
    page.close()


def compared_page(browser, url: str):
    page = open_compare(browser, url, 1280, 900)
    page.click("#compare-run")
    page.wait_for_function("() => ['a', 'b'].every((side) => document.querySelector(`#compare-stats-${side}`)"
                           ".innerText.includes(' in all') && document.querySelector(`#compare-stop-${side}`).disabled)",
                           timeout=120_000)
    return page


@in_browser
def test_a_thumb_on_a_compare_column_is_stored_with_that_columns_settings(served, browser):
    urls, folders = served
    folder = folders["on"]
    before = len(lines(folder))
    page = compared_page(browser, urls["on"])
    answer_b = page.locator("#compare-chat-b [data-testid=bot]").last.inner_text().strip()
    page.locator("#compare-chat-b button[aria-label='Dislike']").last.click()
    page.wait_for_selector("text=column B saved for the model team")
    [judged] = wait_for_lines(page, folder, before + 1)[before:]
    assert (judged["source"], judged["verdict"], judged["settings"]["compare_column"]) == ("compare", "down", "B")
    assert judged["settings"]["thinking_budget"] == NO_LIMIT and judged["settings"]["blind"] is False
    assert judged["answer"] and judged["answer"] in answer_b and judged["model"] == "tiny"
    assert judged["question"] and judged["image_digests"] and judged["stats"]["seed"] == judged["seed"] >= 0

    page.locator("#compare-chat-b button[aria-label='Like']").last.click()
    changed = wait_for_lines(page, folder, before + 2)[-1]
    assert changed["verdict_id"] == judged["verdict_id"] and changed["verdict"] == "up"
    page.locator("#compare-chat-b button[aria-label='Liked']").last.click()  # the same thumb again
    withdrawn = wait_for_lines(page, folder, before + 3)[-1]
    assert withdrawn["verdict_id"] == judged["verdict_id"] and withdrawn["kind"] == "withdrawn"

    page.locator("#compare-chat-a button[aria-label='Like']").last.click()
    on_a = wait_for_lines(page, folder, before + 4)[-1]
    assert on_a["settings"]["compare_column"] == "A" and on_a["settings"]["thinking_budget"] == 0
    assert on_a["verdict_id"] != judged["verdict_id"] and on_a["seed"] == judged["seed"]  # one seed for both
    text = "".join(path.read_text() for path in (folder / "feedback").glob("verdicts-*.jsonl"))
    assert "127.0.0.1" not in text and "session" not in text
    page.close()


@in_browser
def test_with_feedback_off_there_are_no_thumbs_and_nothing_is_written(served, browser):
    urls, folders = served
    page = answered_page(browser, urls["off"])
    assert page.locator("#chat button[aria-label='Dislike']").count() == 0
    assert page.locator("#chat button[aria-label='Like']").count() == 0
    page.close()
    page = compared_page(browser, urls["off"])
    assert page.locator("#compare-columns button[aria-label='Dislike']").count() == 0
    assert page.locator("#compare-columns button[aria-label='Like']").count() == 0
    assert page.locator("#verdict-panel").count() == 0
    assert not (folders["off"] / "feedback").exists()
    page.close()
