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
- `transcript_markdown` / `transcript_html` export finished turns; the HTML is one self-contained
  file (CSS and images inline, no scripts), with raw HTML in any text shown as text and TeX kept
  with its delimiters.
Words come from a `Words` table (English unless another is passed); the model's text is never translated.
Nothing here imports Gradio, torch or the engine; time comes from the `clock` passed in.
"""
from __future__ import annotations

import base64
import html
import mimetypes
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

import markdown
from markdown.treeprocessors import Treeprocessor

from model.events import (AnswerDelta, BudgetReached, Done, Error, Event, FinishReason, Stats, Status,
                          ThinkingDelta, Turn)
from ui.i18n import EN, Words

Clock = Callable[[], float]
MAX_UPDATES_PER_S = 15.0

LATEX_DELIMITERS = [
    {"left": "$$", "right": "$$", "display": True},
    {"left": "\\[", "right": "\\]", "display": True},
    {"left": "\\(", "right": "\\)", "display": False},
    {"left": "$", "right": "$", "display": False},
]

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
    return {"type": "text", "text": text}


def user_messages(question: str, images: Sequence[str]) -> list[dict]:
    messages = [{"role": "user", "content": {"path": path}} for path in images]
    if question:
        messages.append({"role": "user", "content": text_block(question)})
    return messages


def thought_message(thinking: str, title: str, done: bool, duration: float | None = None) -> dict:
    metadata: dict = {"title": title, "status": "done" if done else "pending"}
    if done and duration is not None:
        metadata["duration"] = round(duration, 1)
    return {"role": "assistant", "content": text_block(thinking), "metadata": metadata}


def answer_message(answer: str, ending: FinishReason | None = None, words: Words = EN) -> dict:
    note = words(f"note.{ending.value}") if ending in _ENDING_NOTES else None
    text = f"{answer}\n\n{note}" if note and answer else (note or answer)
    return {"role": "assistant", "content": text_block(text)}


@dataclass(frozen=True)
class TurnRecord:
    """A finished turn as the session keeps it (and the exports show it)."""

    question: str
    images: tuple[str, ...]
    thinking: str
    answer: str
    thinking_tokens: int
    thought_s: float
    budget_fired: bool
    finish_reason: FinishReason
    stats: dict = field(default_factory=dict)

    def as_turn(self) -> Turn:
        return Turn(question=self.question, answer=self.answer, images=self.images)

    def title(self, words: Words = EN) -> str:
        ended = self.finish_reason if not self.answer else None
        return thought_title(self.thought_s, self.thinking_tokens, self.budget_fired, ended, words)

    def messages(self, words: Words = EN) -> list[dict]:
        out = user_messages(self.question, self.images)
        out.append(thought_message(self.thinking, self.title(words), True, self.thought_s))
        if self.answer or self.finish_reason in _ENDING_NOTES:
            out.append(answer_message(self.answer, self.finish_reason, words))
        return out


def history_messages(records: Iterable[TurnRecord], words: Words = EN) -> list[dict]:
    return [message for record in records for message in record.messages(words)]


# ---- the turn being answered -------------------------------------------------------------------

class LiveTurn:
    """Accumulates one answer's events; `messages()` draws it."""

    def __init__(self, question: str, images: Sequence[str], clock: Clock = time.monotonic, words: Words = EN):
        self.question, self.images, self.clock, self.words = question, tuple(images), clock, words
        self.status = words("status.waiting")
        self.thinking, self.answer = "", ""
        self._thinking_queue: list[str] = []
        self._answer_queue: list[str] = []
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
            self.thinking_tokens = event.tokens
            return first
        if isinstance(event, AnswerDelta):
            first = self.thought_s is None
            if first:
                self.thought_s = self._thinking_elapsed()
            self._answer_queue.append(event.text)
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
        out.append(thought_message(self.thinking, self.title, done, self.thought_s))
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


class Throttle:
    """Allows one update per `1 / max_per_s` seconds of `clock`."""

    def __init__(self, max_per_s: float = MAX_UPDATES_PER_S, clock: Clock = time.monotonic):
        self.interval, self.clock = 1.0 / max_per_s, clock
        self.last: float | None = None

    def due(self) -> bool:
        now = self.clock()
        return self.last is None or now - self.last >= self.interval

    def mark(self) -> None:
        self.last = self.clock()


def frames(events: Iterable[Event], live: LiveTurn, throttle: Throttle) -> Iterator[LiveTurn]:
    """`live` after the events, coalesced to the throttle's pace; the final state always comes."""
    unshown = False
    for event in events:
        urgent = live.apply(event)
        unshown = True
        if urgent or throttle.due():
            throttle.mark()
            unshown = False
            yield live
    if unshown:
        yield live


# ---- transcript export -------------------------------------------------------------------------

_MATH = re.compile(r"\$\$.+?\$\$|\\\[.+?\\\]|\\\(.+?\\\)|(?<![\\$])\$[^$\n]+?\$", re.S)
_SAFE_SCHEMES = ("http://", "https://", "mailto:", "#")


class _SafeLinks(Treeprocessor):
    """Drops links to unsafe schemes and replaces images by their alt text (no remote loads)."""

    def run(self, root):
        for element in root.iter():
            if element.tag == "img":
                alt = element.get("alt") or "image"
                element.tag, element.text = "span", f"[{alt}]"
                element.attrib.clear()
            elif element.tag == "a" and not element.get("href", "").lower().startswith(_SAFE_SCHEMES):
                element.attrib.pop("href", None)


def markdown_to_html(text: str) -> str:
    """Markdown -> HTML with raw HTML shown as text, TeX kept verbatim with its delimiters."""
    stash: list[str] = []

    def keep(match: re.Match) -> str:
        stash.append(match.group(0))
        return f"R1VMATH{len(stash) - 1}X"

    converter = markdown.Markdown(extensions=["fenced_code", "tables", "sane_lists"])
    converter.preprocessors.deregister("html_block")
    converter.inlinePatterns.deregister("html")
    converter.treeprocessors.register(_SafeLinks(converter), "r1v_safe_links", 0)
    body = converter.convert(_MATH.sub(keep, text))
    return re.sub(r"R1VMATH(\d+)X",
                  lambda m: f'<span class="math">{html.escape(stash[int(m.group(1))])}</span>', body)


def image_data_uri(path: str) -> str:
    mime = mimetypes.guess_type(path)[0] or "image/png"
    return f"data:{mime};base64,{base64.b64encode(Path(path).read_bytes()).decode('ascii')}"


def transcript_markdown(records: Sequence[TurnRecord], model_name: str, exported: str) -> str:
    out = [f"# R1V demo transcript\n\nModel: {model_name} · exported {exported}\n"]
    for number, record in enumerate(records, 1):
        out.append(f"## Turn {number}\n")
        out += [f"![image {i}]({Path(path).name})\n" for i, path in enumerate(record.images, 1)]
        out.append(f"**Question:** {record.question}\n")
        out.append(f"<details><summary>{html.escape(record.title())}</summary>\n\n{record.thinking}\n\n</details>\n")
        out.append(f"**Answer:**\n\n{record.answer or '*(no answer)*'}\n")
        if record.stats:
            out.append(f"*{stats_line(record.stats)}*\n")
    return "\n".join(out)


def transcript_html(records: Sequence[TurnRecord], model_name: str, exported: str,
                    image_src: Callable[[str], str] = image_data_uri) -> str:
    turns = "\n".join(_turn_html(n, record, image_src) for n, record in enumerate(records, 1))
    title = html.escape(f"R1V demo transcript · {model_name}")
    return (f"<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{title}</title><style>{EXPORT_CSS}</style></head>\n<body><main>"
            f"<h1>R1V demo transcript</h1><p class=\"meta\">Model: {html.escape(model_name)} · "
            f"exported {html.escape(exported)}</p>\n{turns}\n</main></body></html>\n")


def _turn_html(number: int, record: TurnRecord, image_src: Callable[[str], str]) -> str:
    images = "".join(f'<img src="{html.escape(image_src(path))}" alt="{html.escape(Path(path).name)}">'
                     for path in record.images)
    stats = f'<p class="stats">{html.escape(stats_line(record.stats))}</p>' if record.stats else ""
    answer = markdown_to_html(record.answer) if record.answer else "<p><em>(no answer)</em></p>"
    return (f'<section class="turn"><h2>Turn {number}</h2>'
            f'<div class="question"><div class="images">{images}</div>{markdown_to_html(record.question)}</div>'
            f'<details><summary>{html.escape(record.title())}</summary>'
            f'<div class="thinking">{markdown_to_html(record.thinking)}</div></details>'
            f'<div class="answer">{answer}</div>{stats}</section>')


EXPORT_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;background:#f7f7f8;color:#1f2328;margin:0}
main{max-width:860px;margin:0 auto;padding:24px}
h1{font-size:1.5rem;margin:0 0 4px} .meta,.stats{color:#667085;font-size:.875rem}
.turn{background:#fff;border:1px solid #e4e7ec;border-radius:12px;padding:16px 20px;margin:16px 0}
.turn h2{font-size:1rem;color:#667085;margin:0 0 8px}
.question{background:#eef4ff;border-radius:10px;padding:8px 14px}
.images img{max-width:240px;max-height:240px;margin:6px 8px 6px 0;border-radius:6px;border:1px solid #d0d5dd}
details{margin:12px 0;border-left:3px solid #d0d5dd;padding-left:12px}
summary{cursor:pointer;color:#475467;font-weight:600}
.thinking{color:#475467;font-size:.92rem}
.math{font-family:"Latin Modern Math","STIX Two Math",serif;background:#f2f4f7;padding:0 3px;border-radius:3px}
pre{background:#f2f4f7;padding:10px;border-radius:8px;overflow:auto}
table{border-collapse:collapse} td,th{border:1px solid #d0d5dd;padding:4px 8px}
"""
