"""The rules behind a watchable trace, a full conversation and the sweep gate, without a browser.

- `LiveTurn` with `min_open_s`: "pending" while thinking; once the answer has begun, open without a
  spinner (no status) until `min_open_s` after the first thinking text, then "done"; `keep_open`
  never folds; a finished record drawn `opened` has no status either.
- `check_conversation_room` / `ChatHandlers.full_note`: a follow-up leaving less than the answer budget
  plus THINKING_ROOM is full, on the page before it is asked and in the engine when it is.
- `SessionChoice` and the `--keep-thinking-open` flag (R1V_KEEP_THINKING_OPEN); `sweep_ready`.
"""
from __future__ import annotations

import math
import threading

import pytest

from app import parse_args
from model.events import AnswerDelta, Done, FinishReason, GenerationOptions, ThinkingDelta, UserFacingError
from model.inputs.assemble import check_conversation_room
from model.limits import THINKING_ROOM, turn_room
from tests.conftest import wait_until
from tests.helpers import chat_handlers
from ui.page.handlers import ModelInfo
from ui.i18n.words import EN
from ui.page.views import sweep_ready
from ui.render.messages import MIN_OPEN_S, LiveTurn, turn_messages
from ui.serving.sessions import SessionChoice


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def status_of(live: LiveTurn):
    return [m for m in live.messages() if "metadata" in m][-1]["metadata"].get("status")


def test_a_short_trace_stays_open_after_the_answer_begins_then_folds():
    clock = FakeClock()
    live = LiveTurn("q", [], clock=clock, min_open_s=MIN_OPEN_S)
    live.apply(ThinkingDelta("Row 1: two red.", 4))
    assert status_of(live) == "pending"
    clock.now += 0.2
    live.apply(AnswerDelta("2", 1))
    assert status_of(live) is None and live.open_for() == pytest.approx(MIN_OPEN_S - 0.2)
    live.apply(Done(FinishReason.ANSWERED))
    clock.now += MIN_OPEN_S
    assert live.open_for() == 0 and status_of(live) == "done"


def test_a_long_trace_folds_as_soon_as_the_answer_begins():
    clock = FakeClock()
    live = LiveTurn("q", [], clock=clock, min_open_s=MIN_OPEN_S)
    live.apply(ThinkingDelta("long thought", 300))
    clock.now += MIN_OPEN_S + 5
    live.apply(AnswerDelta("2", 1))
    assert status_of(live) == "done"


def test_keep_open_never_folds_and_records_can_be_drawn_open():
    clock = FakeClock()
    live = LiveTurn("q", [], clock=clock, keep_open=True)
    live.apply(ThinkingDelta("thought", 2))
    live.apply(AnswerDelta("2", 1))
    live.apply(Done(FinishReason.ANSWERED))
    clock.now += 3600
    assert live.open_for() == math.inf and status_of(live) is None
    record = live.record()
    assert turn_messages(record, opened=True)[-2]["metadata"].get("status") is None
    assert turn_messages(record)[-2]["metadata"]["status"] == "done"


def test_without_a_minimum_the_live_turn_folds_at_the_answer_as_before():
    live = LiveTurn("q", [], clock=FakeClock())
    live.apply(ThinkingDelta("t", 1))
    live.apply(AnswerDelta("a", 1))
    assert status_of(live) == "done"


def test_a_follow_up_without_room_to_answer_and_think_is_a_full_conversation():
    check_conversation_room(prompt_tokens=1024 - turn_room(32), answer_budget=32, context=1024)  # just fits
    with pytest.raises(UserFacingError) as full:
        check_conversation_room(prompt_tokens=1024 - turn_room(32) + 1, answer_budget=32, context=1024)
    assert full.value.key == "limit.conversation_full"
    assert full.value.params == {"prompt": 929, "context": 1024, "room": 95, "needed": 32 + THINKING_ROOM,
                                 "budget": 32, "thinking": THINKING_ROOM}
    assert "This conversation is full" in str(full.value) and "1,024 tokens of context" in str(full.value)
    check_conversation_room(prompt_tokens=10**6, answer_budget=32, context=0)  # context unknown: not judged here


def record_with(prompt_tokens: int, answer_tokens: int):
    live = LiveTurn("q", [], clock=FakeClock())
    live.apply(ThinkingDelta("t", 1))
    live.apply(AnswerDelta("a", answer_tokens))
    record = live.record()
    return type(record)(**{**record.__dict__, "stats": {"prompt_tokens": prompt_tokens,
                                                        "answer_tokens": answer_tokens}})


def test_the_page_says_full_when_the_next_turn_could_not_fit():
    handlers = chat_handlers(object(), ModelInfo("tiny", context_tokens=1024))
    options = GenerationOptions.validated(answer_budget=800)
    assert handlers.full_note(record_with(100, 20), options, EN) == ""
    note = handlers.full_note(record_with(150, 20), options, EN)
    assert "This conversation is full" in note and "864" in note and "1,024" in note and "Clear" in note
    unknown = chat_handlers(object(), ModelInfo("remote"))
    assert unknown.full_note(record_with(10**6, 20), options, EN) == ""


class Session:
    def __init__(self, session_hash: str) -> None:
        self.session_hash = session_hash


def test_each_session_keeps_its_own_choice_and_the_oldest_are_forgotten():
    choice = SessionChoice(default=False, max_sessions=2)
    choice.choose(Session("a"), True)
    assert choice.get(Session("a")) is True and choice.get(Session("b")) is False and choice.get(None) is False
    choice.choose(Session("b"), True)
    choice.choose(Session("c"), True)
    assert choice.get(Session("a")) is False  # forgotten: back to the default


def test_the_keep_thinking_open_flag_and_its_variable(monkeypatch):
    monkeypatch.delenv("R1V_KEEP_THINKING_OPEN", raising=False)
    assert parse_args([]).keep_thinking_open is False
    assert parse_args(["--keep-thinking-open"]).keep_thinking_open is True
    monkeypatch.setenv("R1V_KEEP_THINKING_OPEN", "1")
    assert parse_args([]).keep_thinking_open is True
    monkeypatch.setenv("R1V_KEEP_THINKING_OPEN", "0")
    assert parse_args([]).keep_thinking_open is False


@pytest.mark.parametrize("question, ready", [(None, False), ("", False), ("   ", False), ("How many?", True)])
def test_run_sweep_is_ready_only_with_a_question(question, ready):
    assert sweep_ready(None, question).interactive is ready


class Scripted:
    """Thinks a line and answers at once, as the tiny model nearly does."""

    def stream(self, request):
        from model.events import Stats

        yield ThinkingDelta("Row 1: two red.", 4)
        yield AnswerDelta("2", 1)
        yield Stats(10, (), 4, 1, 0.1, 0.1, 0.2, 25.0, False, FinishReason.ANSWERED, 0)
        yield Done(FinishReason.ANSWERED)


class FakeRequest:
    headers = {"accept-language": "en"}

    def __init__(self, session: str) -> None:
        self.session_hash = session


CONTROLS = (24, False, 32, 0.0, 0.95, 0, 1.0, 4, 1)


def thought_status(frame):
    return [m for m in frame[0] if "metadata" in m][-1]["metadata"].get("status")


def until_finished(run) -> tuple:
    for frame in run:
        if isinstance(frame[2], tuple):  # the finished turn
            return frame
    raise AssertionError("the answer never finished")


def drive_rest(run) -> tuple[threading.Thread, list]:
    """The rest of `run` in a thread, as Gradio resumes a generator at once after each frame."""
    rest: list = []
    thread = threading.Thread(target=lambda: rest.extend(run))
    thread.start()
    return thread, rest


def test_a_short_trace_is_drawn_open_then_folded_while_the_session_is_already_free():
    handlers = chat_handlers(Scripted(), ModelInfo("scripted"))
    run = handlers.send({"text": "How many?", "files": []}, (), FakeRequest("s1"), *CONTROLS)
    finished = until_finished(run)
    assert thought_status(finished) is None  # open, no spinner
    thread, rest = drive_rest(run)
    wait_until(lambda: not handlers.serving.runs.running("s1"), 5, "the session to be free")
    assert thread.is_alive()  # still holding the trace open
    thread.join()
    assert len(rest) == 1 and thought_status(rest[0]) == "done" and rest[0][3] == finished[3]


def test_a_newer_answer_of_the_session_cancels_the_older_ones_fold():
    handlers = chat_handlers(Scripted(), ModelInfo("scripted"))
    older = handlers.send({"text": "How many?", "files": []}, (), FakeRequest("s1"), *CONTROLS)
    until_finished(older)
    thread, rest = drive_rest(older)
    wait_until(lambda: not handlers.serving.runs.running("s1"), 5, "the session to be free")
    newer = handlers.send({"text": "And blue?", "files": []}, (), FakeRequest("s1"), *CONTROLS)
    until_finished(newer)
    thread.join()
    assert rest == []  # its fold would have drawn the chat without the newer turn
    assert thought_status(next(newer)) == "done"


def test_kept_open_there_is_no_fold_frame():
    handlers = chat_handlers(Scripted(), ModelInfo("scripted"), keep_thinking_open=True)
    frames = list(handlers.send({"text": "How many?", "files": []}, (), FakeRequest("s2"), *CONTROLS))
    assert isinstance(frames[-1][2], tuple) and thought_status(frames[-1]) is None
