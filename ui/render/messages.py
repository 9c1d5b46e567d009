"""Events -> what the page shows: chat messages, thought titles, the stats line, transcript exports.

Contract:
- `LiveTurn.apply(event)` folds one engine event into the turn being answered; deltas are queued
  and joined only when the turn is drawn (`messages()`), so each drawing costs one join of what
  arrived since the last one, however long the trace already is.
- `frames(events, live, throttle)` yields the live turn at most `throttle`'s rate, at once on a
  phase change (first thought, answer starts, error, end), and always once more after the last event.
- Messages are Gradio 6 message dicts; text goes in `{"type": "text"}` blocks so the Chatbot shows
  it verbatim (a bare string would be dedented) and a growing text stays a prefix of its next
  version, which keeps Gradio's streamed diffs to the appended part.
- Every text in a message (the question, the thinking, the answer) passes through
  `ui.render.safe_text.shown`, the page's one rendering policy; the Chatbot showing them takes
  `CHATBOT_OPTIONS`. A turn with no thinking has no thought bubble once it is over; the bubble's
  title carries the duration (metadata "duration" is left out: Gradio would show it a second time).
- A finished turn (`ui.store.turns.TurnRecord`, data only) is drawn by `turn_messages`; exports are in
  `ui.render.exports`.
Words come from a `Words` table (English unless another is passed); the model's text is never translated.
Nothing here imports Gradio, torch or the engine; time comes from the `clock` passed in.
"""
from __future__ import annotations

import math
import re
import time
from typing import Callable, Iterable, Iterator, Sequence

from model.events import (AnswerDelta, BudgetReached, Done, Error, Event, FinishReason, Stats, Status,
                          ThinkingDelta)
from ui.i18n.words import EN, Words
from ui.store.turns import TurnRecord
from ui.render.safe_text import CHATBOT_OPTIONS, LATEX_DELIMITERS, markdown_to_html, shown  # noqa: F401 - the policy's home

__all__ = ["CHATBOT_OPTIONS", "LATEX_DELIMITERS", "TurnRecord", "markdown_to_html", "shown"]  # and what is defined here

Clock = Callable[[], float]
MAX_UPDATES_PER_S = 15.0
# The live trace stays open at least this long after its first text (and until the answer has
# begun), so a trace of a fraction of a second can still be read before it folds.
MIN_OPEN_S = 2.5

# Shown in the chat under an answer that did not end normally.
_ENDING_NOTES = {FinishReason.ANSWER_BUDGET, FinishReason.THINKING_UNFINISHED, FinishReason.STOPPED,
                 FinishReason.TIMEOUT}


# ---- words -------------------------------------------------------------------------------------

def seconds_text(seconds: float, words: Words = EN) -> str:
    return words("seconds.short" if seconds < 10 else "seconds.long", seconds=seconds)


def tokens_text(count: int, words: Words = EN) -> str:
    return words("tokens.one") if count == 1 else words("tokens.many", count=count)


def thinking_title(seconds: float, tokens: int, words: Words = EN) -> str:
    """Title of the bubble while the model thinks."""
    return words("title.thinking", seconds=seconds_text(seconds, words), tokens=tokens_text(tokens, words))


def thought_title(seconds: float, tokens: int, budget_fired: bool = False,
                  ended: FinishReason | None = None, words: Words = EN) -> str:
    """Title once thinking is over; says why when it was cut short."""
    title = words("title.thought", seconds=seconds_text(seconds, words), tokens=tokens_text(tokens, words))
    if budget_fired:
        title += words("title.budget_reached")
    if ended in (FinishReason.STOPPED, FinishReason.TIMEOUT, FinishReason.THINKING_UNFINISHED):
        title += f" · {finish_words(ended, words).lower()}"
    return title


def finish_words(reason: FinishReason | str, words: Words = EN) -> str:
    return words(f"finish.{FinishReason(reason).value}")


def stats_line(stats: Stats | dict, words: Words = EN) -> str:
    """One line under the chat: how the answer ended and what it cost."""
    data = stats.as_dict() if isinstance(stats, Stats) else stats
    parts = [finish_words(data["finish_reason"], words)]
    if data.get("ttft_s") is not None:
        parts.append(words("stats.first_token", seconds=data["ttft_s"]))
    parts.append(words("stats.thinking", tokens=tokens_text(data["thinking_tokens"], words)))
    parts.append(words("stats.answer", tokens=tokens_text(data["answer_tokens"], words)))
    parts.append(words("stats.speed", rate=data["tokens_per_s"]))
    parts.append(words("stats.total", seconds=seconds_text(data["total_s"], words)))
    if data.get("image_tiles"):
        parts.append(words("stats.tiles", tiles=", ".join(str(n) for n in data["image_tiles"])))
    if data.get("seed", -1) >= 0:
        parts.append(words("stats.seed", seed=data["seed"]))
    return " · ".join(parts)


# ---- messages ----------------------------------------------------------------------------------

def text_block(text: str) -> dict:
    """A message's text as the Chatbot must get it: under the rendering policy."""
    return {"type": "text", "text": shown(text)}


def plain_block(text: str) -> dict:
    """A message's text as plain text: one code block (nothing in it is Markdown or maths), for a
    conversation the page failed to draw."""
    fence = "`" * max(3, 1 + max((len(run) for run in re.findall(r"`+", text)), default=0))
    return {"type": "text", "text": f"{fence}text\n{text}\n{fence}"}


Block = Callable[[str], dict]


def user_messages(question: str, images: Sequence[str], block: Block = text_block) -> list[dict]:
    messages = [{"role": "user", "content": {"path": path}} for path in images]
    if question:
        messages.append({"role": "user", "content": block(question)})
    return messages


def thought_message(thinking: str, title: str, done: bool, block: Block = text_block, opened: bool = False) -> dict:
    """A thought bubble: "pending" (open, spinner) while thinking; once done, "done" folds it, and
    `opened` leaves the status out, which Gradio shows open without a spinner."""
    metadata = {"title": title}
    if not (done and opened):
        metadata["status"] = "done" if done else "pending"
    return {"role": "assistant", "content": block(thinking), "metadata": metadata}


def thought_shown(thinking: str, done: bool) -> bool:
    """A bubble until the answer starts (it carries the status), and after only if there was thinking
    (a forced `</think>` alone, as with a budget of 0, is no thinking to show)."""
    return not done or bool(thinking.strip())


def answer_message(answer: str, ending: FinishReason | None = None, words: Words = EN,
                   block: Block = text_block) -> dict:
    note = words(f"note.{ending.value}") if ending in _ENDING_NOTES else None
    text = f"{answer}\n\n{note}" if note and answer else (note or answer)
    return {"role": "assistant", "content": block(text)}


def turn_title(record: TurnRecord, words: Words = EN) -> str:
    """The finished thought's title: how long it thought, how many tokens, how it ended."""
    ended = record.finish_reason if not record.answer else None
    return thought_title(record.thought_s, record.thinking_tokens, record.budget_fired, ended, words)


def turn_messages(record: TurnRecord, words: Words = EN, block: Block = text_block,
                  opened: bool = False) -> list[dict]:
    """The chat messages of a finished turn (a note first for each image the server no longer has)."""
    gone = [{"role": "user", "content": block(words("history.image_gone"))}
            for _ in getattr(record, "missing_images", ())]
    out = gone + user_messages(record.question, record.images, block)
    if thought_shown(record.thinking, True):
        out.append(thought_message(record.thinking, turn_title(record, words), True, block, opened))
    if record.answer or record.finish_reason in _ENDING_NOTES:
        out.append(answer_message(record.answer, record.finish_reason, words, block))
    return out


def history_messages(records: Iterable[TurnRecord], words: Words = EN, block: Block = text_block,
                     opened: bool = False) -> list[dict]:
    return [message for record in records for message in turn_messages(record, words, block, opened)]


# ---- the turn being answered -------------------------------------------------------------------

class LiveTurn:
    """Accumulates one answer's events; `messages()` draws it.

    The bubble stays open while thinking and, once the answer has begun, until `min_open_s` after
    the first thinking text (`open_for()` says how much longer; the chat passes MIN_OPEN_S); with
    `keep_open`, for good."""

    def __init__(self, question: str, images: Sequence[str], clock: Clock = time.monotonic, words: Words = EN,
                 keep_open: bool = False, min_open_s: float = 0.0):
        self.question, self.images, self.clock, self.words = question, tuple(images), clock, words
        self.keep_open, self.min_open_s = keep_open, min_open_s
        self.status = words("status.waiting")
        self.thinking, self.answer = "", ""
        self._thinking_queue: list[str] = []
        self._answer_queue: list[str] = []
        self.size = 0  # characters of thinking and answer so far
        self.thinking_tokens = self.answer_tokens = 0
        self.thinking_started: float | None = None
        self.thought_s: float | None = None  # set when the answer starts (or the run ends)
        self.budget_fired = False
        self.stats: Stats | None = None
        self.error: Error | None = None
        self.finish: FinishReason | None = None

    def apply(self, event: Event) -> bool:
        """Fold in one event; True when it changes the phase (draw it without waiting)."""
        if isinstance(event, ThinkingDelta):
            first = self.thinking_started is None
            if first:
                self.thinking_started = self.clock()
            self._thinking_queue.append(event.text)
            self.size += len(event.text)
            self.thinking_tokens = event.tokens
            return first
        if isinstance(event, AnswerDelta):
            first = self.thought_s is None
            if first:
                self.thought_s = self._thinking_elapsed()
            self._answer_queue.append(event.text)
            self.size += len(event.text)
            self.answer_tokens = event.tokens
            return first
        return self._apply_control(event)

    def _apply_control(self, event: Event) -> bool:
        if isinstance(event, BudgetReached):
            self.budget_fired = True
            return False
        if isinstance(event, Status):
            status = self.words.message(event)
            changed = status != self.status
            self.status = status
            return changed
        if isinstance(event, Stats):
            self.stats = event
            self.budget_fired = self.budget_fired or event.budget_fired
        elif isinstance(event, Error):
            self.error = event
        elif isinstance(event, Done):
            self.finish = event.finish_reason
            if self.thought_s is None:
                self.thought_s = self._thinking_elapsed()
        return True

    def speed(self) -> float | None:
        """Tokens per second since the first token (thinking and answer together), once measurable."""
        if self.thinking_started is None:
            return None
        elapsed = self.clock() - self.thinking_started
        tokens = self.thinking_tokens + self.answer_tokens
        return (tokens - 1) / elapsed if elapsed > 0 and tokens > 1 else None

    def open_for(self) -> float:
        """Seconds the trace must still stay open: inf with keep-open, 0 once it may fold."""
        if self.keep_open:
            return math.inf
        if self.thinking_started is None:
            return 0.0
        return max(0.0, self.thinking_started + self.min_open_s - self.clock())

    def _thinking_elapsed(self) -> float:
        return self.clock() - self.thinking_started if self.thinking_started is not None else 0.0

    def _flush(self) -> None:
        if self._thinking_queue:
            self.thinking += "".join(self._thinking_queue)
            self._thinking_queue.clear()
        if self._answer_queue:
            self.answer += "".join(self._answer_queue)
            self._answer_queue.clear()

    def texts(self) -> tuple[str, str]:
        """(thinking, answer) so far."""
        self._flush()
        return self.thinking, self.answer

    @property
    def title(self) -> str:
        if self.thought_s is not None:
            ended = self.finish if not self.answer_tokens else None
            return thought_title(self.thought_s, self.thinking_tokens, self.budget_fired, ended, self.words)
        if self.thinking_started is None:
            return self.status
        return thinking_title(self._thinking_elapsed(), self.thinking_tokens, self.words)

    def messages(self) -> list[dict]:
        self._flush()
        done = self.thought_s is not None
        out = user_messages(self.question, self.images)
        if thought_shown(self.thinking, done):
            out.append(thought_message(self.thinking, self.title, done, opened=done and self.open_for() > 0))
        if self.answer or (self.finish in _ENDING_NOTES):
            out.append(answer_message(self.answer, self.finish, self.words))
        return out

    def record(self) -> TurnRecord:
        self._flush()
        return TurnRecord(
            question=self.question, images=self.images, thinking=self.thinking, answer=self.answer,
            thinking_tokens=self.thinking_tokens, thought_s=self.thought_s or 0.0,
            budget_fired=self.budget_fired, finish_reason=self.finish or FinishReason.ERROR,
            stats=self.stats.as_dict() if self.stats else {},
        )


# The browser re-reads a whole message on every frame (marked's lexer, the maths regex), so a long
# text gets fewer frames: at most one per `size / DRAWN_CHARS_PER_S` seconds, else a page that draws
# slower than the frames arrive falls behind and shows the end of a 2 s answer ~30 s late.
DRAWN_CHARS_PER_S = 200_000


class Throttle:
    """Allows one update per `1 / max_per_s` seconds of `clock`, fewer for a long text."""

    def __init__(self, max_per_s: float = MAX_UPDATES_PER_S, clock: Clock = time.monotonic):
        self.interval, self.clock = 1.0 / max_per_s, clock
        self.last: float | None = None

    def due(self, size: int = 0) -> bool:
        now = self.clock()
        return self.last is None or now - self.last >= max(self.interval, size / DRAWN_CHARS_PER_S)

    def mark(self) -> None:
        self.last = self.clock()


def frames(events: Iterable[Event], live: LiveTurn, throttle: Throttle) -> Iterator[LiveTurn]:
    """`live` after the events, coalesced to the throttle's pace; the final state always comes."""
    unshown = False
    for event in events:
        urgent = live.apply(event)
        unshown = True
        if urgent or throttle.due(live.size):
            throttle.mark()
            unshown = False
            yield live
    if unshown:
        yield live
