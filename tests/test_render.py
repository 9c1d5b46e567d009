"""ui/render/messages.py: titles, the stats line, the live turn, throttling (fake clock) and the exports."""
from __future__ import annotations

import itertools
import re

import pytest

from model.events import (AnswerDelta, BudgetReached, Done, Error, FinishReason, Stats, Status,
                          ThinkingDelta)
from ui.render.messages import (LiveTurn, Throttle, TurnRecord, frames, history_messages, stats_line, thinking_title,
                                thought_title, turn_messages)


class FakeClock:
    def __init__(self, now: float = 100.0):
        self.now = now

    def __call__(self) -> float:
        return self.now

    def tick(self, seconds: float) -> None:
        self.now += seconds


def make_stats(reason=FinishReason.ANSWERED, **changes) -> Stats:
    values = dict(prompt_tokens=300, image_tiles=(7,), thinking_tokens=512, answer_tokens=128, ttft_s=0.42,
                  thinking_s=14.2, total_s=20.0, tokens_per_s=23.51, budget_fired=False,
                  finish_reason=reason, seed=1234)
    return Stats(**{**values, **changes})


# ---- titles and words --------------------------------------------------------------------------

def test_titles_while_thinking_and_after():
    assert thinking_title(14.2, 512) == "Thinking… 14 s · 512 tokens"
    assert thinking_title(3.25, 1) == "Thinking… 3.2 s · 1 token"
    assert thought_title(14.2, 512) == "Thought for 14 s · 512 tokens"
    assert thought_title(61, 16_000) == "Thought for 61 s · 16,000 tokens"


def test_budget_and_cut_short_are_named_in_the_title():
    assert thought_title(14, 512, budget_fired=True) == "Thought for 14 s · 512 tokens · thinking budget reached"
    assert thought_title(5, 40, ended=FinishReason.STOPPED).endswith("· stopped")
    assert "time limit" in thought_title(5, 40, ended=FinishReason.TIMEOUT)
    assert thought_title(5, 40, ended=FinishReason.ANSWERED) == "Thought for 5.0 s · 40 tokens"


def test_stats_line_says_how_it_ended_and_what_it_cost():
    line = stats_line(make_stats())
    assert line.startswith("Answered · first token after 0.42 s")
    for part in ("thinking 512 tokens", "answer 128 tokens", "23.5 tokens/s", "20 s in all",
                 "tiles per image 7", "seed 1234"):
        assert part in line
    assert stats_line(make_stats(FinishReason.STOPPED).as_dict()).startswith("Stopped ·")
    assert "budget" in stats_line(make_stats(FinishReason.BUDGET_THEN_ANSWERED))
    assert "first token" not in stats_line(make_stats(ttft_s=None))


@pytest.mark.parametrize("reason", list(FinishReason))
def test_every_finish_reason_has_words(reason):
    assert stats_line(make_stats(reason)).split(" · ")[0].strip()


# ---- the live turn -----------------------------------------------------------------------------

def test_live_turn_bubble_pending_then_done_with_its_duration_once():
    clock = FakeClock()
    live = LiveTurn("Sum of the dice?", ["/tmp/dice.png"], clock=clock)
    live.apply(Status("Preparing images…"))
    assert live.messages()[-1]["metadata"] == {"title": "Preparing images…", "status": "pending"}
    live.apply(ThinkingDelta("Two dice", 1))
    clock.tick(14.2)
    live.apply(ThinkingDelta(": 4 and 6.", 512))
    bubble = live.messages()[-1]
    assert bubble["metadata"] == {"title": "Thinking… 14 s · 512 tokens", "status": "pending"}
    assert bubble["content"] == {"type": "text", "text": "Two dice: 4 and 6."}
    live.apply(AnswerDelta("The sum is $10$.", 5))
    messages = live.messages()
    assert [m["role"] for m in messages] == ["user", "user", "assistant", "assistant"]
    assert messages[0]["content"] == {"path": "/tmp/dice.png"}
    # no "duration": Gradio would add "(14.2s)" after a title that already says it
    assert messages[2]["metadata"] == {"title": "Thought for 14 s · 512 tokens", "status": "done"}
    assert messages[3]["content"]["text"] == "The sum is \\(10\\)."  # maths handed over as \(…\)


def test_no_thought_bubble_once_over_when_there_was_no_thinking():
    live = LiveTurn("Say hi <b>now</b>", [], clock=FakeClock())
    live.apply(Status("Waiting for the model…"))
    assert live.messages()[-1]["metadata"]["status"] == "pending"  # the bubble carries the status
    live.apply(AnswerDelta("Hi.", 1))
    assert [m.get("metadata") for m in live.messages()] == [None, None]
    live.apply(Done(FinishReason.ANSWERED))
    record = live.record()
    assert [m["content"]["text"] for m in turn_messages(record)] == ["Say hi &lt;b>now&lt;/b>", "Hi."]
    assert all("metadata" not in m for m in history_messages([record]))


def test_live_turn_budget_and_stop_while_thinking():
    clock = FakeClock()
    live = LiveTurn("q", [], clock=clock)
    live.apply(ThinkingDelta("hmm", 20))
    live.apply(BudgetReached(20))
    clock.tick(2)
    live.apply(AnswerDelta("42", 1))
    assert "thinking budget reached" in live.messages()[-2]["metadata"]["title"]

    stopped = LiveTurn("q", [], clock=clock)
    stopped.apply(ThinkingDelta("hmm", 3))
    stopped.apply(Stats(**{**make_stats(FinishReason.STOPPED).__dict__, "answer_tokens": 0}))
    stopped.apply(Done(FinishReason.STOPPED))
    messages = stopped.messages()
    assert messages[-2]["metadata"]["status"] == "done"
    assert messages[-2]["metadata"]["title"].endswith("stopped")
    assert messages[-1]["content"]["text"] == "*(stopped)*"
    record = stopped.record()
    assert record.answer == "" and record.finish_reason is FinishReason.STOPPED
    assert turn_messages(record) == messages


def test_growing_text_stays_a_prefix_so_streamed_diffs_only_append():
    live = LiveTurn("q", [])
    seen = []
    for i in range(50):
        live.apply(ThinkingDelta(f"word{i} ", i + 1))
        seen.append(live.messages()[-1]["content"]["text"])
    assert all(later.startswith(earlier) for earlier, later in zip(seen, seen[1:]))


def test_error_is_kept_apart_from_the_text():
    live = LiveTurn("q", [])
    live.apply(ThinkingDelta("a", 1))
    live.apply(Error("The GPU ran out of memory.", kind="oom"))
    assert live.error.kind == "oom" and "out of memory" not in live.texts()[0]


# ---- throttling --------------------------------------------------------------------------------

def _deltas(count: int, clock: FakeClock, every: float):
    """Thinking deltas that arrive `every` seconds apart on `clock`."""
    for i in range(count):
        clock.tick(every)
        yield ThinkingDelta(f"t{i} ", i + 1)


def test_frames_coalesce_a_fast_stream_to_the_throttle_rate():
    clock = FakeClock()
    live = LiveTurn("q", [], clock=clock)
    events = itertools.chain(_deltas(1000, clock, 0.001), [AnswerDelta("done", 1), Done(FinishReason.ANSWERED)])
    shown = [frame.texts()[0] for frame in frames(events, live, Throttle(15, clock=clock))]
    # one second of deltas at 15 per second, plus the phase changes (answer starts, end)
    assert 14 <= len(shown) <= 15 + 3
    assert shown[-1] == "".join(f"t{i} " for i in range(1000))


def test_frames_pass_every_event_of_a_slow_stream():
    clock = FakeClock()
    live = LiveTurn("q", [], clock=clock)
    assert len(list(frames(_deltas(5, clock, 0.2), live, Throttle(15, clock=clock)))) == 5


def test_frames_always_show_the_last_state_of_a_burst():
    clock = FakeClock()
    burst = LiveTurn("q", [], clock=clock)
    count = len(list(frames(_deltas(6, clock, 0.0), burst, Throttle(15, clock=clock))))
    assert count == 2  # the first delta opens the bubble; the rest come once, at the end
    assert burst.texts()[0] == "t0 t1 t2 t3 t4 t5 "


# ---- history -----------------------------------------------------------------------------------

def _record(question: str, answer: str, thinking: str = "Let me see.") -> TurnRecord:
    return TurnRecord(question=question, images=("/tmp/x/dice.png",), thinking=thinking, answer=answer,
                      thinking_tokens=512, thought_s=14.0, budget_fired=True,
                      finish_reason=FinishReason.BUDGET_THEN_ANSWERED, stats=make_stats().as_dict())


def test_history_messages_rebuild_every_turn():
    records = [_record("one", "1"), _record("two", "2")]
    messages = history_messages(records)
    assert len(messages) == 8
    assert [m["content"]["text"] for m in messages if m["role"] == "assistant" and "metadata" not in m] == ["1", "2"]
    assert records[0].as_turn().images == ("/tmp/x/dice.png",)


def test_live_speed_counts_tokens_per_second_since_the_first_token():
    from ui.page.handlers import live_status

    clock = FakeClock()
    live = LiveTurn("q", [], clock=clock)
    assert live.speed() is None and live_status(live).startswith("*Waiting")
    live.apply(ThinkingDelta("a", 1))
    assert live.speed() is None  # one token has no rate yet
    clock.tick(2.0)
    live.apply(ThinkingDelta("bcde", 41))
    assert live.speed() == pytest.approx(20.0)
    assert live_status(live) == "*Thinking · 41 tokens · 20.0 tokens/s*"
    clock.tick(1.0)
    live.apply(AnswerDelta("x", 20))
    assert live_status(live) == "*Answering · 20 tokens · 20.0 tokens/s*"


def test_a_long_text_gets_fewer_frames_so_the_page_keeps_up():
    from ui.render.messages import DRAWN_CHARS_PER_S

    clock = FakeClock()
    throttle = Throttle(15, clock=clock)
    throttle.mark()
    clock.tick(0.1)
    assert throttle.due(size=1_000)  # short text: 15 frames a second
    assert not throttle.due(size=100_000)  # 100 KB: one frame per half second at most
    clock.tick(100_000 / DRAWN_CHARS_PER_S)
    assert throttle.due(size=100_000)
    live = LiveTurn("q", [], clock=clock)
    live.apply(ThinkingDelta("ab", 1))
    live.apply(AnswerDelta("cde", 1))
    assert live.size == 5
