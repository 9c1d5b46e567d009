"""The Evaluate tab in a browser, on the bundled tiny model (not Skywork R1V), app built as app.py
builds it (`build_app` with the model's served defaults): upload 20 puzzles, run, Stop halfway,
open a wrong item's trace. Two golds in the file are wrong on purpose, so wrong rows come early.
"""
from __future__ import annotations

import base64
import contextlib
import json
import time

import pytest

from evaluation.readers import puzzle_items
from model.registry import by_name
from ui.page.handlers import ModelInfo
from ui.page.layout import build_app
from ui.serving.settings import served_defaults

ITEMS = 20
WRONG_GOLD = {1: "purple", 2: "99"}  # answers no puzzle has: these two rows must be wrong


def write_set(path) -> None:
    with path.open("w") as file:
        for index, item in enumerate(puzzle_items()[:ITEMS]):
            file.write(json.dumps({"id": item.id, "question": item.prompt, "subject": item.subject,
                                   "answer": WRONG_GOLD.get(index, item.gold),
                                   "image": {"bytes": base64.b64encode(item.images[0]).decode()}}) + "\n")


def done(page) -> int:
    """Items done, as the progress line says ("N of 20 done")."""
    return int(page.locator("#eval-progress").inner_text().split(" of ")[0])


@contextlib.contextmanager
def slower(engine, step_s: float):
    """Test-only: each decoding step of the real model sleeps `step_s`, so Stop lands halfway."""
    handle = engine.loaded.model.lm_head.register_forward_hook(lambda *args: time.sleep(step_s))
    try:
        yield
    finally:
        handle.remove()


@pytest.mark.browser
def test_run_twenty_items_stop_halfway_and_open_a_wrong_items_trace(tiny_engine, launch, browser, tmp_path):
    from tests.test_browser import shoot

    questions = tmp_path / "set.jsonl"
    write_set(questions)
    info = ModelInfo("tiny", is_tiny=True, defaults=served_defaults(by_name("tiny")))
    page = browser.new_page(viewport={"width": 1400, "height": 1300})
    page.set_default_timeout(60_000)
    page.goto(launch(build_app(tiny_engine, info)))
    page.wait_for_selector("#model-status:has-text('ready')")
    page.locator("#views button[role=tab]:has-text('Evaluate')").click()
    page.locator("#eval-file input[type=file]").set_input_files(str(questions))
    page.wait_for_selector("#eval-file :text('set.jsonl')")
    page.locator("#eval-items input").fill(str(ITEMS))
    with slower(tiny_engine, 0.02):
        page.click("#eval-run")
        page.wait_for_selector("#eval-progress:has-text('4 of 20 done')")
        page.click("#eval-stop")
        time.sleep(3)  # long enough for more answers, had Stop not stopped the run
        kept = done(page)
        time.sleep(2)
    assert 4 <= kept < ITEMS and done(page) == kept
    assert page.locator("#eval-table [role=row].virtual-row").count() == kept
    wrong = page.locator("#eval-table [role=row]").filter(has_text="puzzle-00001")
    assert "✗" in wrong.inner_text() and "Gold" in page.locator("#eval-table").inner_text()
    page.locator("#eval-table [data-testid=cell-1-0]").click()
    trace = page.locator("#eval-trace")
    trace.locator(".thought-group").wait_for()
    assert trace.locator("img").count() >= 1
    assert puzzle_items()[1].prompt in trace.inner_text()
    assert "✗ purple" in trace.locator("[data-testid=bot]").last.inner_text()
    shoot(page, "browser-evaluate.png")
    page.locator("#eval-items input").fill("6")  # a second run on the same items, to compare
    page.click("#eval-run")
    page.wait_for_selector("#eval-progress:has-text('6 of 6 done')")
    line = page.locator("#eval-compare").inner_text()
    assert f"on the {min(kept, 6)} items both answered" in line and "same settings" in line
    page.close()


def test_the_comparison_line_names_what_changed_between_two_runs():
    from ui.page.evaluate import comparison_line
    from ui.i18n.words import EN

    def record(item_id: str, right: bool, budget: int) -> dict:
        return {"id": item_id, "rule": "puzzle", "scores": {"puzzle": {"right": right}},
                "settings": {"thinking_budget": budget, "temperature": 0.6}}

    before = [record("a", True, -1), record("b", False, -1), record("c", True, -1)]
    after = [record("a", True, 1024), record("b", True, 1024), record("d", False, 1024)]
    line = comparison_line(before, after, EN)
    assert "on the 2 items both answered: 50.0 % then, 100.0 % now; 1 verdicts changed" in line
    assert "thinking_budget -1 → 1024" in line and "temperature" not in line
    assert comparison_line([], after, EN) == ""
