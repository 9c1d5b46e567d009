"""The app end to end through gradio_client, on the tiny model: streaming, /reason, cancel, errors."""
from __future__ import annotations

import re
from pathlib import Path

import gradio as gr
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

from model.events import GenerationOptions
from tests.conftest import slowed, wait_until
from tests.helpers import chat_handlers, reason_endpoint
from ui.page.handlers import ChatHandlers, ModelInfo
from ui.page.services import Services
from ui.page.layout import build_app

EXAMPLE = str(Path(__file__).resolve().parent.parent / "assets" / "examples" / "puzzle_count.png")
STATS_KEYS = {"thinking_tokens", "answer_tokens", "prompt_tokens", "image_tiles", "ttft_s", "finish_reason"}


@pytest.fixture(scope="module")
def app(tiny_engine, launch):
    defaults = GenerationOptions.validated(answer_budget=64, max_tiles=4)
    demo = build_app(tiny_engine, ModelInfo("tiny", is_tiny=True, device="CPU", defaults=defaults))
    return demo, Client(launch(demo), verbose=False)


def chat_args(text: str, files=(), thinking_budget=24, no_limit=False, answer_budget=32, seed=7):
    message = {"text": text, "files": [handle_file(path) for path in files]}
    return (message, thinking_budget, no_limit, answer_budget, 0.6, 0.95, 0, 1.05, 4, seed)


def reason_kwargs(**changes):
    return {"images": [handle_file(EXAMPLE)], "question": "How many red shapes are there?",
            "thinking_budget": 24, "max_new_tokens": 32, "seed": 3, **changes}


def test_chat_streams_in_several_updates_and_ends_with_stats(app, tiny_engine):
    _, client = app
    with slowed(tiny_engine, 0.0):  # no stop tokens: the thinking budget is reached, then an answer
        job = client.submit(*chat_args("How many red shapes are there?", [EXAMPLE]), api_name="/chat")
        chatbot, box, stats = job.result(timeout=120)
    assert len(job.outputs()) >= 3
    thought, answer = chatbot[-2], chatbot[-1]
    assert thought["metadata"]["status"] == "done"
    assert thought["metadata"]["title"].startswith("Thought for ")
    assert "thinking budget reached" in thought["metadata"]["title"]
    assert answer["metadata"] is None and answer["content"][0]["text"].strip()
    assert [m["role"] for m in chatbot[:2]] == ["user", "user"]  # the image, then the question
    assert stats.startswith("Answer cut off")
    # 33: the engine's answer budget currently lets one token past (stop check runs before the streamer)
    assert re.search(r"· answer 3[23] tokens ·", stats)
    sent = job.outputs()[0][1]  # the first update empties the box and leaves it editable (to draft the next)
    assert sent["value"] == {"text": "", "files": []} and sent["interactive"] is True
    assert "value" not in box  # the last one leaves it alone: a question drafted while answering stays


def test_reason_endpoint_streams_dicts_and_ends_with_stats(app):
    _, client = app
    job = client.submit(**reason_kwargs(), api_name="/reason")
    final = job.result(timeout=120)
    assert STATS_KEYS <= set(final["stats"])
    assert final["stats"]["image_tiles"] and isinstance(final["stats"]["image_tiles"], list)
    assert final["stats"]["prompt_tokens"] > 0
    assert final["reasoning"]
    assert all(set(update) == {"reasoning", "answer", "status", "stats"} for update in job.outputs())


def test_cancel_mid_stream_frees_the_engine(app, tiny_engine):
    _, client = app
    with slowed(tiny_engine, 0.02):
        job = client.submit(**reason_kwargs(thinking_budget=-1, max_new_tokens=64), api_name="/reason")
        wait_until(lambda: len(job.outputs()) >= 2, 60, "the first streamed updates")
        worker = tiny_engine.active_worker
        assert worker is not None and worker.is_alive()
        job.cancel()
        wait_until(lambda: tiny_engine.active_worker is None and not worker.is_alive(), 15,
                   "the generation thread to end after cancel")
    final = client.predict(**reason_kwargs(), api_name="/reason")
    assert final["stats"]["finish_reason"] != "error"


def test_a_text_file_named_png_gives_a_readable_error(app, tmp_path):
    _, client = app
    fake = tmp_path / "notes.png"
    fake.write_text("these are my notes, not a picture")
    with pytest.raises(AppError) as caught:
        client.predict(**reason_kwargs(images=[handle_file(str(fake))]), api_name="/reason")
    message = str(caught.value)
    print("error shown:", message)
    assert "notes.png" in message and "Traceback" not in message
    # In the chat the message is a toast; the conversation is kept and the question goes back in the box.
    client = Client(client.src, verbose=False)  # a new session: an empty conversation
    chatbot, box, stats = client.predict(*chat_args("How many?", [str(fake)]), api_name="/chat")
    box = box.get("value", box)
    assert chatbot == [] and stats == ""
    assert box["text"] == "How many?" and box["files"][0].endswith("notes.png")
    chatbot, _, stats = client.predict(*chat_args("How many red shapes are there?", [EXAMPLE]), api_name="/chat")
    assert stats and not stats.startswith("Failed")


@pytest.mark.parametrize("changes, words", [
    ({"temperature": 5.0}, "Temperature must be between 0.0 and 2.0"),
    ({"max_new_tokens": 99_999}, "Answer budget must be between 16 and 8192"),
    ({"thinking_budget": -7}, "Thinking budget must be between 0 and 32768"),
])
def test_out_of_range_values_via_the_api_are_named(app, changes, words):
    _, client = app
    with pytest.raises(AppError, match=words):
        client.predict(**reason_kwargs(**changes), api_name="/reason")


def test_out_of_range_slider_on_the_chat_endpoint_is_refused(app):
    _, client = app
    args = list(chat_args("How many red shapes are there?", [EXAMPLE]))
    args[3] = 99_999  # answer budget
    with pytest.raises(AppError, match="99999"):
        client.predict(*args, api_name="/chat")


def test_send_while_loading_waits_and_says_what_for():
    services = Services.create(lambda progress: progress("Loading weights…") or None, ModelInfo("r1v3-38b"))
    slot = services.slot
    slot._report("Downloading Skywork/Skywork-R1V3-38B (first run only; cached afterwards)…")
    assert "loading — Downloading Skywork" in slot.status_markdown()
    handlers = ChatHandlers(services)
    with pytest.warns(UserWarning, match="still loading \\(Downloading Skywork"):
        updates = list(handlers.send({"text": "hi", "files": []}, (), None, 24, False, 32, 0.6, 0.95, 0, 1.05, 4, 0))
    assert updates == [tuple(gr.skip() for _ in range(4))]  # nothing changes: the question stays in the box


def test_follow_up_keeps_earlier_turns_and_regenerate_replaces_the_last(tiny_engine, launch):
    demo = build_app(tiny_engine, ModelInfo("tiny", is_tiny=True, device="CPU"))
    client = Client(launch(demo), verbose=False)  # one client: one session, so one conversation
    with slowed(tiny_engine, 0.0):
        first, _, _ = client.predict(*chat_args("How many red shapes are there?", [EXAMPLE]), api_name="/chat")
        second, _, _ = client.predict(*chat_args("And how many blue ones?"), api_name="/chat")
        again, _, stats = client.predict(24, False, 32, 0.6, 0.95, 0, 1.05, 4, 11, api_name="/regenerate")
    assert len(first) == 4  # image + question + thought + answer
    assert second[:4] == first
    assert second[4]["content"][0]["text"] == "And how many blue ones?"
    # then a thought bubble only if there was thinking to show (none for a blank trace), and the answer
    for turn in (second, again):
        assert len(turn) in (6, 7) and turn[-1]["metadata"] is None
        assert all(m["content"][0]["text"].strip() for m in turn[5:-1])
    assert again[:5] == second[:5] and "seed 11" in stats


def test_exports_write_markdown_and_a_self_contained_html_file():
    import zipfile

    from model.events import FinishReason
    from ui.render.messages import TurnRecord

    record = TurnRecord("Area of <b>this</b>?", (EXAMPLE,), "Half of 6·8.", "$24$", 10, 1.5, False,
                        FinishReason.ANSWERED, {})
    handlers = chat_handlers(object(), ModelInfo("tiny"))
    md_button, html_button = handlers.exports((record,))
    with zipfile.ZipFile(md_button.value["path"]) as bundle:  # the Markdown travels with its images
        markdown_text = bundle.read("transcript.md").decode("utf-8")
        assert any(name.startswith("images/1-1 ") for name in bundle.namelist())
    page = Path(html_button.value["path"]).read_text(encoding="utf-8")
    assert "**Question:** Area of &lt;b>this&lt;/b>?" in markdown_text and "\\(24\\)" in markdown_text
    assert "Area of &lt;b&gt;this&lt;/b&gt;?" in page and re.search(r"data:image/(jpeg|png);base64,", page)
    empty_md, _ = handlers.exports(())
    assert empty_md.value is None


def test_stop_while_waiting_in_line_ends_the_run_there():
    import threading

    from model.events import Done, FinishReason, Status, ThinkingDelta
    from ui.page.handlers import _until_stopped

    stop = threading.Event()
    waiting = (Status("The model is busy: you are number 1 in the queue."), Status("…"), ThinkingDelta("x", 1))
    assert list(_until_stopped(iter(waiting), stop)) == list(waiting)
    stop.set()
    assert list(_until_stopped(iter(waiting), stop)) == [Done(FinishReason.STOPPED)]


class BrokenEngine:
    """Thinks a little, then fails the way a bug would (not through an Error event)."""

    def stream(self, request):
        from model.events import ThinkingDelta

        yield ThinkingDelta("Let me look", 3)
        raise RuntimeError("internal detail that must not reach the page")


def test_an_engine_crash_is_a_short_message_and_the_question_stays():
    handlers = chat_handlers(BrokenEngine(), ModelInfo("broken"))
    message = {"text": "How many?", "files": []}
    with pytest.warns(UserWarning, match="Something went wrong while answering") as caught:
        updates = list(handlers.send(message, (), None, 24, False, 32, 0.6, 0.95, 0, 1.05, 4, 0))
    chatbot, box, records, stats = updates[-1]
    assert chatbot == [] and records == () and stats == ""
    assert box.value["text"] == "How many?"
    assert not any("internal detail" in str(w.message) for w in caught)
    with pytest.raises(gr.Error, match="Something went wrong"):
        list(reason_endpoint(BrokenEngine(), ModelInfo("broken"))([], "How many?"))


def test_the_thinking_budget_shows_one_state_no_limit_hides_the_slider():
    def controls(defaults):
        demo = build_app(object(), ModelInfo("tiny", defaults=defaults), start_loading=False)
        by_id = {getattr(block, "elem_id", None): block for block in demo.blocks.values()}
        toggle = next(fn for fn in demo.fns.values() if [b.elem_id for b in fn.inputs] == ["no-limit"])
        return by_id["thinking-budget"], by_id["no-limit"], toggle.fn

    slider, no_limit, toggle = controls(GenerationOptions.validated(answer_budget=256))  # no limit by default
    assert no_limit.value is True and slider.visible is False  # no greyed number on show
    assert toggle(False).visible is True and toggle(True).visible is False
    slider, no_limit, _ = controls(GenerationOptions.validated(thinking_budget=1024))
    assert no_limit.value is False and slider.visible is True and slider.value == 1024


@pytest.mark.browser
def test_in_the_browser_the_thinking_slider_appears_only_when_no_limit_is_unticked(tiny_engine, launch):
    from playwright.sync_api import sync_playwright

    from tests.test_browser import ARGS, CHROMIUM

    if not Path(CHROMIUM).exists():
        pytest.skip("Chromium is not installed (apt-get install -y chromium)")
    url = launch(build_app(tiny_engine, ModelInfo("tiny", defaults=GenerationOptions.validated(answer_budget=256))))
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page()
        page.goto(url)
        page.wait_for_selector("#no-limit input:checked")
        assert page.locator("#thinking-budget").count() == 0 or not page.locator("#thinking-budget").is_visible()
        page.locator("#no-limit input").uncheck()
        page.wait_for_selector("#thinking-budget", state="visible")
        assert page.locator("#thinking-budget input[type=number]").input_value() == "512"
        page.locator("#no-limit input").check()
        page.wait_for_selector("#thinking-budget", state="hidden")
        browser.close()
