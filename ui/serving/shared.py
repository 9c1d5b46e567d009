"""What every entry point (chat, sweep, tiles preview, `/reason`, health routes) shares: the model
slot, the sessions' running answers and languages, the rate limit, the request log and admission.

- `ModelSlot` holds the engine; given a factory it loads it in a background thread and reports
  the loader's progress, so the page is served before the model is ready. `state` is "loading",
  "ready" or "failed"; `wait(timeout)` blocks until loading has ended (or the timeout passed).
- `Serving(slot, policy)`: `admit(...)` lets a run start (or warns why not), `stop(request)` stops the
  session's run, `refuse_if_running(request)` warns while one runs, `rate_refusal(...)`
  words a refusal over the per-address limit, `log_run(...)` writes the one request-log line of a
  run, with what was known when it ended (tiles and prompt tokens from `Prepared`, tokens so far)
  even when it was cancelled before its `Stats`; `log_refusal(...)` that of a call refused before it ran.
- `safe_frames(events, live, max_per_s)`: throttled frames; an unexpected failure becomes a short Error.
Nothing here imports torch or transformers; every handler of the page and `/reason` build on this module.
"""
from __future__ import annotations

import logging
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Optional, Protocol, Sequence, Union

import gradio as gr

from model.events import Error, Event, GenerationOptions, Prepared, Request, Status
from model.registry import checkpoint_version
from ui.i18n.words import EN, Words
from ui.serving.ratelimit import RateLimiter, client_address
from ui.render.messages import LiveTurn, Throttle, frames
from ui.serving.requestlog import RequestLog
from ui.serving.sessions import SessionLanguages, SessionRuns, session_of

log = logging.getLogger(__name__)
Progress = Callable[[Union[str, Status]], None]  # a Status names its message for translation


class Engine(Protocol):
    def stream(self, request: Request) -> Iterator[Event]: ...


EngineFactory = Callable[[Progress], Engine]


@dataclass
class ModelInfo:
    """What the status line, banner and info route say about the model being served."""

    name: str
    is_tiny: bool = False
    device: str = ""  # filled in once loaded when left empty
    note: Union[str, Status] = ""  # why this model was chosen, e.g. "no GPU found" (a Status is translated)
    defaults: GenerationOptions = field(default_factory=GenerationOptions)  # where the sliders start
    backend: str = "local"  # "local" or "openai"
    context_tokens: Optional[int] = None  # the model's context length, when known
    version: str = ""  # which weights: filled in once loaded (`model.registry.checkpoint_version`)


@dataclass(frozen=True)
class ServingPolicy:
    """How the app treats strangers: requests per minute per address (0 = no limit), whether to
    trust the proxy's X-Forwarded-For (on Spaces), whether request logs may hold question text;
    and how long an API call waits for the model to finish loading (the app's --max-seconds)."""

    rate_limit_per_minute: int = 0
    trust_forwarded: bool = False
    log_questions: bool = False
    load_wait_s: float = 600.0


class ModelSlot:
    """The engine, or what it is waiting for while it loads in the background."""

    def __init__(self, source: Union[Engine, EngineFactory], info: ModelInfo):
        self.info = info
        self.engine: Engine | None = None if _is_factory(source) else source
        self.error: str | None = None  # why loading failed, in the loader's words
        self.progress = Status("Starting…", "load.starting")
        self._factory = source if self.engine is None else None
        self._thread: threading.Thread | None = None
        self._settled = threading.Event()  # loading has ended, either way
        if self.engine is not None:
            self._describe(self.engine)
            self._settled.set()

    def start(self) -> None:
        if self._factory is not None and self._thread is None:
            self._thread = threading.Thread(target=self._load, name="model-loader", daemon=True)
            self._thread.start()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until loading has ended or `timeout` passed; True when the engine is there."""
        self._settled.wait(timeout)
        return self.engine is not None

    def _load(self) -> None:
        try:
            engine = self._factory(self._report)
            self._describe(engine)
            self.engine = engine
        except Exception as error:  # noqa: BLE001 - shown in the status line, the page keeps serving
            log.exception("loading the model failed")
            self.error = str(error)
            # The last step reached is no longer under way: /readyz and the page say the load failed.
            self.progress = Status(f"The model could not be loaded: {error}", "load.failed", {"error": self.error})
        finally:
            self._settled.set()

    def _report(self, message: Union[str, Status]) -> None:
        status = message if isinstance(message, Status) else Status(str(message))
        log.info("%s", status.message)
        self.progress = status

    def _describe(self, engine: Engine) -> None:
        loaded = getattr(engine, "loaded", None)
        if not self.info.device and loaded is not None:
            self.info.device = loaded.device_label
        if not self.info.version and getattr(loaded, "folder", None) is not None:
            self.info.version = checkpoint_version(loaded.folder)

    @property
    def ready(self) -> bool:
        return self.engine is not None

    @property
    def state(self) -> str:
        return "failed" if self.error else "ready" if self.ready else "loading"

    def status_markdown(self, words: Words = EN) -> str:
        where = words("status.where", device=self.info.device) if self.info.device else ""
        if self.error:
            return words("status.failed", name=self.info.name, error=words("load.failed", error=self.error))
        if not self.ready:
            return words("status.loading", name=self.info.name, progress=self.progress_text(words))
        return words("status.ready", name=self.info.name, where=where)

    def busy_message(self, words: Words = EN) -> str:
        if self.error:
            return words("load.failed", error=self.error)
        return words("model.still_loading", progress=self.progress_text(words))

    def progress_text(self, words: Words = EN) -> str:
        return words.message(self.progress)


def _is_factory(source: Any) -> bool:
    return callable(source) and not hasattr(source, "stream")


class RunFacts:
    """What the engine said about a run's prompt before generating (`Prepared`), kept for its log line."""

    def __init__(self) -> None:
        self.prepared: Prepared | None = None

    def tap(self, events: Iterator[Event]) -> Iterator[Event]:
        for event in events:
            if isinstance(event, Prepared):
                self.prepared = event
            yield event


def safe_frames(events: Iterator[Event], live: LiveTurn, max_per_s: float) -> Iterator[LiveTurn]:
    """Throttled frames until the run ends or fails; an unexpected failure becomes a short Error."""
    try:
        for frame in frames(events, live, Throttle(max_per_s)):
            if frame.error is not None:
                return
            yield frame
    except Exception:  # noqa: BLE001 - logged with its traceback; the person gets a short message
        log.exception("answering failed")
        live.error = Error(EN("error.internal"), key="error.internal")


class Serving:
    """The pieces shared by every handler of one app: slot, sessions, languages, limiter, request log."""

    def __init__(self, slot: ModelSlot, policy: ServingPolicy | None = None):
        self.slot, self.policy = slot, policy or ServingPolicy()
        self.runs, self.languages = SessionRuns(), SessionLanguages()
        self.limiter = RateLimiter(self.policy.rate_limit_per_minute)
        self.request_log = RequestLog(self.policy.log_questions)

    def engine_or_warn(self, words: Words) -> Engine | None:
        if self.slot.engine is None:
            gr.Warning(self.slot.busy_message(words))
        return self.slot.engine

    @staticmethod
    def has_question(question: str, words: Words) -> bool:
        if not question:
            gr.Warning(words("warn.no_question"))
        return bool(question)

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

    def stop(self, request: gr.Request | None = None) -> None:
        """Stop whatever this session is running (an answer, a sweep, a comparison, an evaluation)."""
        session = session_of(request)
        if session:
            self.runs.stop(session)

    def refuse_if_running(self, request: gr.Request | None) -> bool:
        """True (and a warning shown) while this session is answering: what changes the chat waits."""
        session = session_of(request) or uuid.uuid4().hex
        stop = self.runs.begin(session)
        if stop is None:
            gr.Warning(self.languages.words(request)("warn.still_answering"))
            return True
        self.runs.end(session, stop)
        return False

    def rate_refusal(self, request: gr.Request | None, endpoint: str, question: str, images: Sequence[Any],
                     words: Words) -> str:
        """The message for a request over the per-address limit (it is logged), else ""."""
        wait_s = self.limiter.check(client_address(request, self.policy.trust_forwarded))
        if not wait_s:
            return ""
        self.request_log.write(request_id=uuid.uuid4().hex[:8], endpoint=endpoint, session=session_of(request),
                               question=question, images=images, stats=None, finish="rate_limited", seconds=0.0)
        return words("error.rate_limited", limit=self.limiter.per_minute, wait=f"{wait_s:.0f}")

    def log_refusal(self, endpoint: str, request: gr.Request | None, kind: str, question: Any,
                    started: float) -> None:
        """The request-log line of a call refused before the engine ran (`kind` says why)."""
        self.request_log.write(request_id=uuid.uuid4().hex[:8], endpoint=endpoint, session=session_of(request),
                               question=question if isinstance(question, str) else "", images=(), stats=None,
                               finish="refused", seconds=time.monotonic() - started, error_kind=kind)

    def log_run(self, request: Request, endpoint: str, session: str | None, live: LiveTurn, started: float,
                facts: RunFacts | None = None) -> None:
        finish = live.finish.value if live.finish else ("error" if live.error else "closed")
        self.request_log.write(request_id=request.request_id, endpoint=endpoint, session=session,
                               question=request.question, images=request.images,
                               stats=live.stats.as_dict() if live.stats else _known_so_far(live, facts),
                               finish=finish, seconds=time.monotonic() - started,
                               error_kind=live.error.kind if live.error else None)


def _known_so_far(live: LiveTurn, facts: RunFacts | None) -> dict[str, Any]:
    """A run that ended without Stats (cancelled, tab closed): the prompt facts and tokens so far."""
    prepared = facts.prepared if facts else None
    return {"image_tiles": list(prepared.image_tiles) if prepared else [],
            "prompt_tokens": prepared.prompt_tokens if prepared else None,
            "thinking_tokens": live.thinking_tokens, "answer_tokens": live.answer_tokens}
