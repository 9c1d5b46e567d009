"""Thin handlers between the page and the engine: build a Request, stream its events, draw them.

- `ModelSlot` holds the engine; given a factory it loads it in a background thread and reports
  the loader's progress, so the page is served before the model is ready.
- `Handlers.send` / `regenerate` are generators: they stream one answer into the chat, throttled
  by `render.frames`; the finished turn is added to the session's records (a `gr.State` of
  `TurnRecord`s, the only source of the history sent to the model). A failed turn is not added,
  its question goes back into the box and the person sees the engine's short message in a toast.
- Stop sets the running request's `stop` Event (the engine ends within one step and still reports
  its stats); a cancelled event or a closed tab closes the generator, whose `finally` closes the
  engine stream, which frees the model within one step.
- `Handlers.reason` is the `/reason` API endpoint: dicts of reasoning, answer and stats.
- `Handlers.views`: the tiles preview and the budget sweep (`ui.views`), sharing sessions and limits.
- `ServingPolicy`: the per-IP rate limit (off unless set) and what the request log may hold;
  every request that reaches a handler leaves one structured line (`ui.requestlog`).
Nothing here imports torch or transformers.
"""
from __future__ import annotations

import logging
import shutil
import tempfile
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Protocol, Sequence, Union

import gradio as gr
from gradio import FileData

from model.events import Done, Error, Event, FinishReason, GenerationOptions, Request, Status
from ui.exports import transcript_html, transcript_zip
from ui.i18n import EN, Words
from ui.ratelimit import RateLimiter, client_address
from ui.render import (LiveTurn, Throttle, TurnRecord, finish_words, frames, history_messages,
                       stats_line, tokens_text)
from ui.requestlog import RequestLog
from ui.views import ViewHandlers
from ui.controls import options_from_controls, validated_options
from ui.sessions import SessionLanguages, SessionRuns, session_of
from ui.uploads import image_path

log = logging.getLogger(__name__)
Progress = Callable[[Union[str, Status]], None]  # a Status names its message for translation
MAX_EXPORT_DIRS = 64  # transcripts are rewritten after every answer; older folders are removed


class Engine(Protocol):
    def stream(self, request: Request) -> Iterator[Event]: ...


EngineFactory = Callable[[Progress], Engine]
Records = tuple[TurnRecord, ...]  # the session's finished turns (the gr.State value)


@dataclass
class ModelInfo:
    """What the status line and banner say about the model being served."""

    name: str
    is_tiny: bool = False
    device: str = ""  # filled in once loaded when left empty
    note: str = ""  # why this model was chosen, e.g. "no GPU found"
    defaults: GenerationOptions = field(default_factory=GenerationOptions)  # where the sliders start


@dataclass(frozen=True)
class ServingPolicy:
    """How the app treats strangers: requests per minute per address (0 = no limit), whether to
    trust the proxy's X-Forwarded-For (on Spaces), whether request logs may hold question text."""

    rate_limit_per_minute: int = 0
    trust_forwarded: bool = False
    log_questions: bool = False


class ModelSlot:
    """The engine, or what it is waiting for while it loads in the background."""

    def __init__(self, source: Union[Engine, EngineFactory], info: ModelInfo):
        self.info = info
        self.engine: Engine | None = None if _is_factory(source) else source
        self.error: str | None = None  # why loading failed, in the loader's words
        self.progress = Status("Starting…", "load.starting")
        self._factory = source if self.engine is None else None
        self._thread: threading.Thread | None = None
        if self.engine is not None:
            self._describe(self.engine)

    def start(self) -> None:
        if self._factory is not None and self._thread is None:
            self._thread = threading.Thread(target=self._load, name="model-loader", daemon=True)
            self._thread.start()

    def wait(self, timeout: float | None = None) -> bool:
        if self._thread is not None:
            self._thread.join(timeout)
        return self.engine is not None

    def _load(self) -> None:
        try:
            engine = self._factory(self._report)
            self._describe(engine)
            self.engine = engine
        except Exception as error:  # noqa: BLE001 - shown in the status line, the page keeps serving
            log.exception("loading the model failed")
            self.error = str(error)

    def _report(self, message: Union[str, Status]) -> None:
        status = message if isinstance(message, Status) else Status(str(message))
        log.info("%s", status.message)
        self.progress = status

    def _describe(self, engine: Engine) -> None:
        loaded = getattr(engine, "loaded", None)
        if not self.info.device and loaded is not None:
            self.info.device = loaded.device_label

    @property
    def ready(self) -> bool:
        return self.engine is not None

    def status_markdown(self, words: Words = EN) -> str:
        where = words("status.where", device=self.info.device) if self.info.device else ""
        if self.error:
            return words("status.failed", name=self.info.name, error=words("load.failed", error=self.error))
        if not self.ready:
            return words("status.loading", name=self.info.name, progress=self._progress_text(words))
        return words("status.ready", name=self.info.name, where=where)

    def busy_message(self, words: Words = EN) -> str:
        if self.error:
            return words("load.failed", error=self.error)
        return words("model.still_loading", progress=self._progress_text(words))

    def _progress_text(self, words: Words) -> str:
        return words.message(self.progress)


def _is_factory(source: Any) -> bool:
    return callable(source) and not hasattr(source, "stream")


def _until_stopped(stream: Iterator[Event], stop: threading.Event) -> Iterator[Event]:
    """The engine's events; Stop pressed while still waiting in line ends the run there."""
    for event in stream:
        if stop.is_set() and isinstance(event, Status):
            yield Done(FinishReason.STOPPED)
            return
        yield event


def live_status(live: LiveTurn) -> str:
    """The line under the chat while answering: the phase, tokens so far and the speed."""
    if live.thinking_started is None:
        return f"*{live.status}*"
    words, speed = live.words, live.speed()
    rate = words("live.rate", rate=speed) if speed is not None else ""
    if live.thought_s is None:
        return words("live.thinking", tokens=tokens_text(live.thinking_tokens, words), rate=rate)
    return words("live.answering", tokens=tokens_text(live.answer_tokens, words), rate=rate)


def _box(value: dict | None = None, interactive: bool = True) -> Any:
    return gr.MultimodalTextbox(value=value or {"text": "", "files": []}, interactive=interactive)


class Handlers:
    """The page's event handlers, bound to one model slot."""

    def __init__(self, slot: ModelSlot, max_updates_per_s: float = 15.0, policy: ServingPolicy | None = None):
        self.slot, self.runs, self.max_updates_per_s = slot, SessionRuns(), max_updates_per_s
        self.policy = policy or ServingPolicy()
        self.limiter = RateLimiter(self.policy.rate_limit_per_minute)
        self.request_log = RequestLog(self.policy.log_questions)
        self.languages = SessionLanguages()
        self.views = ViewHandlers(self)
        self._export_dirs: deque[Path] = deque()

    # ---- chat -----------------------------------------------------------------------------

    # `request` comes before `*controls`: Gradio injects gr.Request only into positional parameters.
    def send(self, message: dict | None, records: Records, request: gr.Request, *controls: Any):
        message = message or {}
        question = (message.get("text") or "").strip()
        words = self.languages.words(request)
        images = [image_path(item, words) for item in message.get("files") or []]
        engine = self.engine_or_warn(words)
        if engine is None or not self.has_question(question, words):
            yield gr.skip(), gr.skip(), gr.skip(), gr.skip()
            return
        options = options_from_controls(controls, words)
        yield from self._answer(engine, question, images, tuple(records), options, request, words,
                                restore=(tuple(records), _box(message)))

    def regenerate(self, records: Records, request: gr.Request, *controls: Any):
        words = self.languages.words(request)
        engine = self.engine_or_warn(words)
        if engine is None or not records:
            if engine is not None:
                gr.Warning(words("warn.nothing_to_regenerate"))
            yield gr.skip(), gr.skip(), gr.skip(), gr.skip()
            return
        last, earlier = records[-1], tuple(records[:-1])
        options = options_from_controls(controls, words)
        yield from self._answer(engine, last.question, list(last.images), earlier, options, request, words,
                                restore=(tuple(records), _box()))

    def _answer(self, engine: Engine, question: str, images: list[str], earlier: Records,
                options: GenerationOptions, request: gr.Request | None, words: Words, restore: tuple):
        admitted = self.admit(request, "chat", question, images, words)
        if admitted is None:
            yield gr.skip(), gr.skip(), gr.skip(), gr.skip()
            return
        session, stop = admitted
        try:
            yield from self._stream(engine, question, images, earlier, options, stop, restore, session, words)
        finally:
            self.runs.end(session, stop)

    def _stream(self, engine, question, images, earlier, options, stop, restore, session, words):
        history = history_messages(earlier, words)
        live = LiveTurn(question, images, words=words)
        yield history + live.messages(), _box(interactive=False), gr.skip(), live_status(live)
        request = Request(question=question, images=tuple(images), history=tuple(r.as_turn() for r in earlier),
                          options=options, request_id=uuid.uuid4().hex[:8], stop=stop)
        started, stream = time.monotonic(), engine.stream(request)
        try:
            for frame in self._frames(_until_stopped(stream, stop), live):
                yield history + frame.messages(), gr.skip(), gr.skip(), live_status(frame)
        finally:
            stream.close()
            self._log(request, "chat", session, live, started)
        if live.error is not None:  # a toast, not gr.Error: that would also stamp "Error" over the chat
            gr.Warning(words.message(live.error), title=words("warn.could_not_answer"))
            records, box = restore
            yield history_messages(records, words), box, records, ""
            return
        record = live.record()
        line = stats_line(record.stats, words) if record.stats else finish_words(record.finish_reason, words)
        yield history + record.messages(words), _box(), earlier + (record,), line

    def _frames(self, events: Iterator[Event], live: LiveTurn) -> Iterator[LiveTurn]:
        """Throttled frames until the run ends or fails; an unexpected failure becomes a short Error."""
        try:
            for frame in frames(events, live, Throttle(self.max_updates_per_s)):
                if frame.error is not None:
                    return
                yield frame
        except Exception:  # noqa: BLE001 - logged with its traceback; the person gets a short message
            log.exception("answering failed")
            live.error = Error(EN("error.internal"), key="error.internal")

    def stop(self, request: gr.Request = None) -> None:
        session = session_of(request)
        if session:
            self.runs.stop(session)

    def undo(self, records: Records, request: gr.Request = None):
        if self._running(request) or not records:
            return gr.skip(), gr.skip(), gr.skip(), gr.skip()
        last, earlier = records[-1], tuple(records[:-1])
        box = _box({"text": last.question, "files": list(last.images)})
        return history_messages(earlier, self.languages.words(request)), box, earlier, ""

    def clear(self):
        return [], _box(), (), ""

    def _running(self, request: gr.Request | None) -> bool:
        session = session_of(request) or uuid.uuid4().hex
        stop = self.runs.begin(session)
        if stop is None:
            gr.Warning(self.languages.words(request)("warn.still_answering"))
            return True
        self.runs.end(session, stop)
        return False

    def engine_or_warn(self, words: Words) -> Engine | None:
        if self.slot.engine is None:
            gr.Warning(self.slot.busy_message(words))
        return self.slot.engine

    @staticmethod
    def has_question(question: str, words: Words) -> bool:
        if not question:
            gr.Warning(words("warn.no_question"))
        return bool(question)

    # ---- limits and logs ------------------------------------------------------------------

    def admit(self, request: gr.Request | None, endpoint: str, question: str, images: Sequence[Any],
              words: Words) -> tuple[str, threading.Event] | None:
        """(session, its Stop flag) for a run that may start; else None, after a warning saying why
        (over the rate limit, or this session is still answering). Pair with `runs.end`."""
        refusal = self.rate_refusal(request, endpoint, question, images, words)
        if refusal:
            gr.Warning(refusal, title=words("warn.please_wait"))
            return None
        session = session_of(request) or uuid.uuid4().hex  # without a session nothing can stop it but a cancel
        stop = self.runs.begin(session)
        if stop is None:
            gr.Warning(words("warn.still_answering_last"))
            return None
        return session, stop

    def rate_refusal(self, request: gr.Request | None, endpoint: str, question: str, images: Sequence[Any],
                      words: Words) -> str:
        """The message for a request over the per-address limit (it is logged), else ""."""
        wait_s = self.limiter.check(client_address(request, self.policy.trust_forwarded))
        if not wait_s:
            return ""
        self.request_log.write(request_id=uuid.uuid4().hex[:8], endpoint=endpoint, session=session_of(request),
                               question=question, images=images, stats=None, finish="rate_limited", seconds=0.0)
        return words("error.rate_limited", limit=self.limiter.per_minute, wait=f"{wait_s:.0f}")

    def _log(self, request: Request, endpoint: str, session: str | None, live: LiveTurn, started: float) -> None:
        finish = live.finish.value if live.finish else ("error" if live.error else "closed")
        self.request_log.write(request_id=request.request_id, endpoint=endpoint, session=session,
                               question=request.question, images=request.images,
                               stats=live.stats.as_dict() if live.stats else None, finish=finish,
                               seconds=time.monotonic() - started, error_kind=live.error.kind if live.error else None)

    # ---- status and export ----------------------------------------------------------------

    def status(self, request: gr.Request = None):
        """Status line; the polling timer switches itself off once loading is over."""
        words = self.languages.words(request)
        return self.slot.status_markdown(words), gr.Timer(active=not (self.slot.ready or self.slot.error))

    def exports(self, records: Records):
        if not records:
            return gr.DownloadButton(value=None, interactive=False), gr.DownloadButton(value=None, interactive=False)
        folder = self._new_export_dir()
        exported = time.strftime("%Y-%m-%d %H:%M")
        # The Markdown travels with its images, so that button serves a zip (transcript.md, images/).
        md_path, html_path = folder / "r1v-transcript.zip", folder / "r1v-transcript.html"
        transcript_zip(records, self.slot.info.name, exported, md_path)
        html_path.write_text(transcript_html(records, self.slot.info.name, exported), encoding="utf-8")
        return (gr.DownloadButton(value=str(md_path), interactive=True),
                gr.DownloadButton(value=str(html_path), interactive=True))

    def _new_export_dir(self) -> Path:
        """A fresh folder; the oldest ones go (Gradio has copied their files into its cache by then)."""
        while len(self._export_dirs) >= MAX_EXPORT_DIRS:
            shutil.rmtree(self._export_dirs.popleft(), ignore_errors=True)
        folder = Path(tempfile.mkdtemp(prefix="r1v-export-"))
        self._export_dirs.append(folder)
        return folder

    # ---- API ------------------------------------------------------------------------------

    def reason_api(self) -> Callable[..., Iterator[dict]]:
        """The `/reason` endpoint as a typed function (gr.api reads its signature)."""
        handlers = self

        defaults = self.slot.info.defaults

        def reason(images: list[FileData], question: str, thinking_budget: int = -1,
                   max_new_tokens: int = defaults.answer_budget, temperature: float = defaults.temperature,
                   top_p: float = defaults.top_p, seed: int = -1, request: gr.Request = None) -> Iterator[dict]:
            """Answer a question about one or more images with a visible chain of thought.

            The model thinks first, then answers; the reply streams as dicts with "reasoning" (the
            thinking so far), "answer" (the answer so far), "status" (while waiting: the place in
            line) and "stats" (tokens, tiles, seconds and the finish reason; filled in the last dict,
            which is the final result).

            Args:
                images: the images the question is about (PNG, JPEG, WebP, GIF; may be empty).
                question: the question, in any language.
                thinking_budget: most tokens the model may think before it must answer; -1 = no limit.
                max_new_tokens: most tokens of the answer itself (16 to 8192, within the model's context).
                temperature: sampling temperature, 0 = greedy (0 to 2).
                top_p: nucleus sampling mass (0.01 to 1).
                seed: random seed for a reproducible answer; -1 = random.
            """
            options = validated_options(handlers.languages.words(request), thinking_budget=thinking_budget,
                                 answer_budget=max_new_tokens,
                                 temperature=temperature, top_p=top_p, seed=seed)
            yield from handlers._reason(images or [], question, options, request)

        return reason

    def _reason(self, images: Iterable[Any], question: str, options: GenerationOptions,
                request: gr.Request | None = None) -> Iterator[dict]:
        engine, words = self.slot.engine, self.languages.words(request)
        if engine is None:
            raise gr.Error(self.slot.busy_message(words), print_exception=False)
        paths = [image_path(item, words) for item in images]
        refusal = self.rate_refusal(request, "reason", question or "", paths, words)
        if refusal:
            raise gr.Error(refusal, title=words("warn.please_wait"), print_exception=False)
        live = LiveTurn(question, paths)
        call = Request(question=question or "", images=tuple(paths), options=options, request_id=uuid.uuid4().hex[:8])
        started, stream = time.monotonic(), engine.stream(call)
        try:
            for frame in self._frames(stream, live):
                thinking, answer = frame.texts()
                waiting = frame.status if frame.thinking_started is None else ""
                yield {"reasoning": thinking, "answer": answer, "status": waiting,
                       "stats": frame.stats.as_dict() if frame.stats else {}}
        finally:
            stream.close()
            self._log(call, "reason", session_of(request), live, started)
        if live.error is not None:
            raise gr.Error(words.message(live.error), print_exception=False)

