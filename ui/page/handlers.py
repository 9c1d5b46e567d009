"""Thin handlers between the page and the engine: build a Request, stream its events, draw them.

- `ChatHandlers(services)`: the model slot, sessions, languages, rate limit, request log and
  admission are the services' `Serving` (`ui.page.services`), shared with every other view and `/reason`.
- `ChatHandlers.send` / `regenerate` are generators: they stream one answer into the chat, throttled
  by `render.frames`; the finished turn is added to the session's records (a `gr.State` of
  `TurnRecord`s, the only source of the history sent to the model). A failed turn is not added,
  its question goes back into the box and the person sees the engine's short message in a toast.
- While an answer streams the box stays editable (the next question can be drafted: no later
  update of the run overwrites it); `busy_buttons` / `idle_buttons` enable only the buttons that
  can act (Stop while something runs; Regenerate and Undo once there is a turn).
- A trace shorter than `render.MIN_OPEN_S` stays open after the answer, then one more frame folds it
  (unless "Keep thinking open"); the session is free meanwhile, and a newer answer cancels the fold.
- `pdf_line(message, records, words)`: the line under the box naming each PDF in it with its page count
  and the pages that will be read (`ui.render.tiles.pdf_box_line`); hidden while the box holds none.
- Stop sets the running request's `stop` Event (the engine ends within one step and still reports
  its stats); pressed while the answer still waits in Gradio's queue, it withdraws it (`withdrawal`:
  the request never starts); a cancelled event or a closed tab closes the generator, whose `finally` closes the
  engine stream, which frees the model within one step.
Every request that reaches a handler leaves one structured line (`ui.serving.requestlog`).
Nothing here imports torch or transformers.
"""
from __future__ import annotations

import logging
import math
import shutil
import tempfile
import threading
import time
import uuid
from collections import deque
from pathlib import Path
from typing import Any, Iterator

import gradio as gr

from model.events import Done, Event, FinishReason, GenerationOptions, Request, Status
from ui.page.controls import options_from_controls
from ui.i18n.words import Words
from ui.render.exports import transcript_html, transcript_zip
from model.limits import turn_room
from ui.http.health import context_tokens
from ui.render.messages import (MIN_OPEN_S, LiveTurn, TurnRecord, finish_words, history_messages, stats_line,
                                tokens_text, turn_messages)
# ModelInfo, ModelSlot and ServingPolicy are re-exported: app.py and the tests import them from here.
from ui.serving.shared import Engine, ModelInfo, ModelSlot, RunFacts, ServingPolicy, safe_frames  # noqa: F401
from ui.serving.sessions import session_of
from ui.store.branches import Node, counts, grown
from ui.render.tiles import pdf_box_line
from ui.store.uploads import file_path, image_path, readable
from ui.page.services import Services

log = logging.getLogger(__name__)
NEXT_QUESTION_TOKENS = 16  # a short follow-up and its role tokens, added to the next prompt
MAX_EXPORT_DIRS = 64  # transcripts are rewritten after every answer; older folders are removed
Records = tuple[TurnRecord, ...]  # the session's finished turns (the gr.State value)


def _until_stopped(stream: Iterator[Event], stop: threading.Event) -> Iterator[Event]:
    """The engine's events; Stop pressed while still waiting in line ends the run there."""
    for event in stream:
        if stop.is_set() and isinstance(event, Status):
            yield Done(FinishReason.STOPPED)
            return
        yield event


def turn_line(record: TurnRecord, words: Words) -> str:
    """The line under the chat once a turn is over: its stats, else how it ended."""
    return stats_line(record.stats, words) if record.stats else finish_words(record.finish_reason, words)


def live_status(live: LiveTurn) -> str:
    """The line under the chat while answering: the phase, tokens so far and the speed."""
    if live.thinking_started is None and live.thought_s is None:  # nothing streamed yet
        return f"*{live.status}*"
    words, speed = live.words, live.speed()
    rate = words("live.rate", rate=speed) if speed is not None else ""
    if live.thought_s is None:
        return words("live.thinking", tokens=tokens_text(live.thinking_tokens, words), rate=rate)
    return words("live.answering", tokens=tokens_text(live.answer_tokens, words), rate=rate)


def _box(value: dict | None = None) -> Any:
    """The question box holding `value` (empty by default); it stays editable while an answer streams,
    so the next question can be drafted, and no later update of a run overwrites that draft."""
    return gr.MultimodalTextbox(value=value or {"text": "", "files": []}, interactive=True)


def pdf_line(message: dict | None, records: Records, words: Words) -> Any:
    """The line under the box naming its PDFs, their page counts and the pages read; hidden without one.
    Only uploads and bundled examples are opened (`ui.store.uploads.readable`)."""
    paths = [path for path in map(file_path, (message or {}).get("files") or []) if path and readable(Path(path))]
    earlier = [image for record in records or () for image in record.images]
    line = pdf_box_line(paths, earlier, words) if paths else ""
    return gr.Markdown(value=line, visible=bool(line))


# The buttons whose state follows the session's runs, in this order (ui/page/layout.py wires them).
BUTTONS = ("send", "stop", "regenerate", "undo", "clear", "sweep_run", "sweep_stop")


def button_states(busy: bool, turns: bool) -> tuple:
    """One update per name in BUTTONS: each is enabled only when pressing it can act now."""
    enabled = {"send": not busy, "stop": busy, "regenerate": turns and not busy, "undo": turns and not busy,
               "clear": turns or busy, "sweep_run": not busy, "sweep_stop": busy}
    return tuple(gr.Button(interactive=enabled[name]) for name in BUTTONS)


def _sweep_left_to_gate(states: tuple) -> tuple:
    """Idle states, Run sweep left as it is: the page enables it only with a question (ui.page.layout.sweep_ready)."""
    at = BUTTONS.index("sweep_run")
    return states[:at] + (gr.skip(),) + states[at + 1:]


class ChatHandlers:
    """The chat's event handlers, on the page's shared services."""

    def __init__(self, services: Services):
        self.serving, self.keep_open = services.serving, services.keep_open
        self.max_updates_per_s = services.max_updates_per_s
        self._export_dirs: deque[Path] = deque()
        self._latest: dict[str, threading.Event] = {}  # per session: the Stop flag of its newest answer

    # ---- chat -----------------------------------------------------------------------------

    # `request` comes before `*controls`: Gradio injects gr.Request only into positional parameters.
    def send(self, message: dict | None, records: Records, request: gr.Request, *controls: Any):
        message = message or {}
        question = (message.get("text") or "").strip()
        words = self.serving.languages.words(request)
        images = [image_path(item, words) for item in message.get("files") or []]
        engine = self.serving.engine_or_warn(words)
        if engine is None or not self.serving.has_question(question, words):
            yield gr.skip(), gr.skip(), gr.skip(), gr.skip()
            return
        options = options_from_controls(controls, words)
        yield from self._answer(engine, question, images, tuple(records), options, request, words,
                                restore=(tuple(records), _box(message)))

    def regenerate(self, records: Records, request: gr.Request, *controls: Any):
        words = self.serving.languages.words(request)
        engine = self.serving.engine_or_warn(words)
        if engine is None or not records:
            if engine is not None:
                gr.Warning(words("warn.nothing_to_regenerate"))
            yield gr.skip(), gr.skip(), gr.skip(), gr.skip()
            return
        last, earlier = records[-1], tuple(records[:-1])
        options = options_from_controls(controls, words)
        yield from self._answer(engine, last.question, list(last.images), earlier, options, request, words,
                                restore=(tuple(records), gr.skip()))

    def _answer(self, engine: Engine, question: str, images: list[str], earlier: Records,
                options: GenerationOptions, request: gr.Request | None, words: Words, restore: tuple):
        admitted = self.serving.admit(request, "chat", question, images, words)
        if admitted is None:
            yield gr.skip(), gr.skip(), gr.skip(), gr.skip()
            return
        session, stop = admitted
        self._latest[session] = stop  # this session's newest answer: only it may fold the chat later
        try:
            try:
                fold = yield from self._stream(engine, question, images, earlier, options, stop, restore, session,
                                               words, self.keep_open.get(request))
            finally:
                self.serving.runs.end(session, stop)  # the session is free while a short trace stays open
            if fold is not None:
                time.sleep(fold[0])
                if self._latest.get(session) is stop:  # no newer answer drew the chat meanwhile
                    yield fold[1]
        finally:
            if self._latest.get(session) is stop:
                del self._latest[session]

    def _stream(self, engine, question, images, earlier, options, stop, restore, session, words, keep_open=False):
        """Streams one answer; returns (seconds, frame) when its trace must stay open that long, then
        fold with that frame (None otherwise)."""
        history = history_messages(earlier, words, opened=keep_open)
        live = LiveTurn(question, images, words=words, keep_open=keep_open, min_open_s=MIN_OPEN_S)
        yield history + live.messages(), _box(), gr.skip(), live_status(live)  # sent: the box is free again
        request = Request(question=question, images=tuple(images), history=tuple(r.as_turn() for r in earlier),
                          options=options, request_id=uuid.uuid4().hex[:8], stop=stop)
        facts = RunFacts()
        started, stream = time.monotonic(), engine.stream(request)
        try:
            for frame in self._frames(_until_stopped(facts.tap(stream), stop), live):
                yield history + frame.messages(), gr.skip(), gr.skip(), live_status(frame)
        finally:
            stream.close()
            self.serving.log_run(request, "chat", session, live, started, facts)
        if live.error is not None:  # a toast, not gr.Error: that would also stamp "Error" over the chat
            gr.Warning(words.message(live.error), title=words("warn.could_not_answer"))
            records, box = restore
            full = live.error.key == "limit.conversation_full"  # said under the chat too, not only in a toast
            yield history_messages(records, words), box, records, words(live.error.key, **live.error.params) if full else ""
            return None
        record = live.record()
        line = " \n".join(filter(None, [turn_line(record, words), self.full_note(record, options, words)]))
        hold = live.open_for()  # a short trace stays open to be read, then folds
        yield history + turn_messages(record, words, opened=hold > 0), gr.skip(), earlier + (record,), line
        # The records are not sent again: a newer answer may have added its turn by then.
        return (hold, (history + turn_messages(record, words), gr.skip(), gr.skip(), line)) if 0 < hold < math.inf else None

    def full_note(self, record: TurnRecord, options: GenerationOptions, words: Words) -> str:
        """The "conversation is full" line once a next turn could not fit: this prompt and answer, a
        short question, an answer budget and room to think, against the served model's context."""
        context = self.serving.slot.info.context_tokens or context_tokens(self.serving.slot.engine)
        prompt = record.stats.get("prompt_tokens")
        if not context or prompt is None:
            return ""
        next_prompt = prompt + record.stats.get("answer_tokens", 0) + NEXT_QUESTION_TOKENS
        needed = turn_room(options.answer_budget)
        return words("chat.full", needed=needed, context=context) if context - next_prompt < needed else ""

    def _frames(self, events: Iterator[Event], live: LiveTurn) -> Iterator[LiveTurn]:
        return safe_frames(events, live, self.max_updates_per_s)

    def pdf_line(self, message: dict | None, records: Records, request: gr.Request = None) -> Any:
        """`pdf_line` in the person's language: the box's PDFs named with their pages."""
        return pdf_line(message, records, self.serving.languages.words(request))

    # ---- which buttons can act ------------------------------------------------------------

    @staticmethod
    def busy_buttons():
        """While a run starts and goes: only Stop (and Clear) can act."""
        return button_states(busy=True, turns=False)

    def idle_buttons(self, records: Records, request: gr.Request = None):
        """After an event: idle states, unless this session still runs something (a second Enter
        refused while answering ends before the answer it was refused for)."""
        if self.serving.runs.running(session_of(request) or ""):
            return tuple(gr.skip() for _ in BUTTONS)
        return _sweep_left_to_gate(button_states(busy=False, turns=bool(records)))

    def last_stats(self, records: Records, request: gr.Request = None) -> str:
        """The stats line of the conversation's last turn ("" without one, or when it kept none)."""
        stats = records[-1].stats if records else {}
        return stats_line(stats, self.serving.languages.words(request)) if stats.get("finish_reason") else ""

    @staticmethod
    def cleared_buttons():
        """After Clear, which cancels any run: nothing to regenerate, undo or clear."""
        return _sweep_left_to_gate(button_states(busy=False, turns=False))

    def choose_keep_open(self, keep: bool, request: gr.Request = None) -> None:
        self.keep_open.choose(request, keep)

    def withdrawal(self, request: gr.Request = None) -> Any:
        """Stop pressed while this session's answer still waits in Gradio's queue (it has not reached
        `send`, so no Stop flag exists yet): a new token, on which the page withdraws it (`cancels=`,
        `ChatView.wire`). While it runs, a skip: Stop's flag ends it, stats and all."""
        session = session_of(request)
        if not session or self.serving.runs.running(session):
            return gr.skip()
        return uuid.uuid4().hex

    def undo(self, records: Records, request: gr.Request = None):
        if self.serving.refuse_if_running(request) or not records:
            return gr.skip(), gr.skip(), gr.skip(), gr.skip()
        last, earlier = records[-1], tuple(records[:-1])
        box = _box({"text": last.question, "files": list(last.images)})
        return history_messages(earlier, self.serving.languages.words(request)), box, earlier, ""

    def clear(self):
        return [], _box(), (), ""

    # ---- status and export ----------------------------------------------------------------

    def status(self, request: gr.Request = None):
        """Status line; the polling timer switches itself off once loading is over."""
        words = self.serving.languages.words(request)
        return self.serving.slot.status_markdown(words), gr.Timer(active=not (self.serving.slot.ready or self.serving.slot.error))

    def exports(self, records: Records, tree: Node | None = None, request: gr.Request = None):
        """Both transcripts of the shown path; with the versions' `tree`, each turn says which version
        it is. When they cannot be written, a warning and both buttons emptied and off (never an
        older transcript)."""
        off = gr.DownloadButton(value=None, interactive=False), gr.DownloadButton(value=None, interactive=False)
        if not records:
            return off
        try:
            return self._write_exports(records, tree)
        except Exception:  # e.g. RecursionError from the Markdown library on deep nesting
            log.exception("exporting a conversation of %d turns failed", len(records))
            gr.Warning(self.serving.languages.words(request)("export.failed"))
            return off

    def _write_exports(self, records: Records, tree: Node | None):
        folder = self._new_export_dir()
        exported = time.strftime("%Y-%m-%d %H:%M")
        # The Markdown travels with its images, so that button serves a zip (transcript.md, images/).
        md_path, html_path = folder / "r1v-transcript.zip", folder / "r1v-transcript.html"
        versions = counts(grown(tree, records), len(records)) if tree is not None else None
        name = self.serving.slot.info.name
        transcript_zip(records, name, exported, md_path, versions)
        html_path.write_text(transcript_html(records, name, exported, versions=versions), encoding="utf-8")
        return (gr.DownloadButton(value=str(md_path), interactive=True),
                gr.DownloadButton(value=str(html_path), interactive=True))

    def _new_export_dir(self) -> Path:
        """A fresh folder; the oldest ones go (Gradio has copied their files into its cache by then)."""
        while len(self._export_dirs) >= MAX_EXPORT_DIRS:
            shutil.rmtree(self._export_dirs.popleft(), ignore_errors=True)
        folder = Path(tempfile.mkdtemp(prefix="r1v-export-"))
        self._export_dirs.append(folder)
        return folder
