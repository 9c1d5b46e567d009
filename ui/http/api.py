"""The `/reason` endpoint (also the MCP tool `reason`): every setting the page has, with the served
model's defaults, and optional earlier turns.

`ReasonApi(serving, max_updates_per_s).endpoint()` returns the typed function `gr.api` publishes.
Its parameters are `images`, `question`, then `ui.serving.settings.API_SETTINGS` in order (the first five,
thinking_budget, max_new_tokens, temperature, top_p and seed, are the original ones, so old
positional callers keep working), then `history`. Defaults are the model's (`ModelInfo.defaults`,
the same values the page's sliders start at), so the API and the page answer alike.
It streams dicts {"reasoning", "answer", "status", "stats"}; "status" is set only while nothing
has streamed yet (waiting for the model to load, or for a place in line), "" once tokens flow;
the last dict is the result, with "stats" filled in. While the model loads, a call waits (at most
`ServingPolicy.load_wait_s`), streaming the load progress as its status; a failed load is a gr.Error.
Every refusal is a gr.Error in the caller's language naming what was wrong and the limit, worded
for the client that sent the call (`ui.http.checks`), and leaves its line in the request log. A null
setting (as @gradio/client pads positional calls) takes the served default, as a missing one does.
"""
from __future__ import annotations

import time
import uuid
from typing import Any, Callable, Iterator, Optional, Union

import gradio as gr
from gradio import FileData

from model.events import GenerationOptions, Request
from ui.http.checks import Refusal, caller_of, checked_question, earlier_turns, for_caller, images_of, options_of
from ui.i18n.words import Words
from ui.render.messages import LiveTurn
from ui.serving.shared import Engine, RunFacts, Serving, safe_frames
from ui.serving.sessions import session_of
from ui.serving.settings import API_SETTINGS, HISTORY_DESCRIPTION, api_defaults

LOAD_POLL_S = 0.5  # how often a call waiting for the model re-reads the load progress
HistoryItem = Union[list[str], dict[str, Any]]
PARAMETERS = ["images", "question", *(setting.name for setting in API_SETTINGS), "history"]  # in order

_DOC = """Answer a question about one or more images with a visible chain of thought.

The model thinks first, then answers; the reply streams as dicts with "reasoning" (the
thinking so far), "answer" (the answer so far), "status" (only before tokens flow: loading the
model, the place in line) and "stats" (tokens, tiles, seconds and the finish reason; filled in
the last dict, which is the final result). Settings left out take the served model's defaults.

Args:
    images: the images the question is about (PNG, JPEG, WebP, GIF, HEIC, AVIF, or a PDF's pages; may be empty).
    question: the question, in any language.
{settings}
    history: {history}
"""


def parameter_defaults(defaults: GenerationOptions) -> dict[str, Any]:
    """Each /reason parameter that has a default -> that default (images and question have none)."""
    return {**api_defaults(defaults), "history": None}


def endpoint_doc() -> str:
    """The endpoint's docstring: Gradio reads the parameter descriptions from it (API page, MCP)."""
    lines = "\n".join(f"    {setting.name}: {setting.description}" for setting in API_SETTINGS)
    return _DOC.format(settings=lines, history=HISTORY_DESCRIPTION)


class ReasonApi:
    def __init__(self, serving: Serving, max_updates_per_s: float = 15.0):
        self.serving, self.max_updates_per_s = serving, max_updates_per_s

    def endpoint(self) -> Callable[..., Iterator[dict]]:
        """The typed function for `gr.api` (it reads the signature, the defaults and the docstring)."""
        api, d = self, self.serving.slot.info.defaults

        def reason(images: list[FileData], question: str, thinking_budget: int = d.thinking_budget,
                   max_new_tokens: int = d.answer_budget, temperature: float = d.temperature,
                   top_p: float = d.top_p, seed: int = d.seed, top_k: int = d.top_k,
                   repetition_penalty: float = d.repetition_penalty, max_tiles: int = d.max_tiles,
                   min_thinking: int = d.min_thinking, history: Optional[list[HistoryItem]] = None,
                   request: gr.Request = None) -> Iterator[dict]:
            given = locals()  # the settings by name, as API_SETTINGS lists them (a test checks the signature)
            settings = {setting.name: given[setting.name] for setting in API_SETTINGS}
            yield from api.answer(images, question, settings, history, request)

        reason.__doc__ = endpoint_doc()
        return reason

    def answer(self, images: Any, question: Any, settings: dict[str, Any], history: Any,
               request: gr.Request | None = None) -> Iterator[dict]:
        words, caller, started = self.serving.languages.words(request), caller_of(request), time.monotonic()
        try:
            call = self._checked(images, question, settings, history, words, caller)
            engine = yield from self._engine_when_loaded(words)
        except Refusal as refusal:
            self.serving.log_refusal("reason", request, refusal.kind, question, started)
            raise
        refusal = self.serving.rate_refusal(request, "reason", call.question, call.images, words)
        if refusal:
            raise gr.Error(refusal, title=words("warn.please_wait"), print_exception=False)
        yield from self._stream(engine, call, request, words, caller)

    def _checked(self, images: Any, question: Any, settings: dict[str, Any], history: Any, words: Words,
                 caller: str) -> Request:
        """The call as the engine takes it; a `Refusal` naming the value, item or turn at fault."""
        options = options_of(settings, api_defaults(self.serving.slot.info.defaults), words)
        text = checked_question(question, words)
        turns = earlier_turns(history, words, caller)
        paths = images_of(images, words, caller)
        return Request(question=text, images=tuple(paths), history=turns, options=options,
                       request_id=uuid.uuid4().hex[:8])

    def _engine_when_loaded(self, words: Words) -> Iterator[dict]:
        """The engine; while it loads, dicts whose status is the load progress (at most load_wait_s)."""
        slot, shown = self.serving.slot, None
        deadline = time.monotonic() + self.serving.policy.load_wait_s
        while slot.engine is None and slot.error is None:
            if time.monotonic() >= deadline:
                raise Refusal(words("api.load_timeout", seconds=f"{self.serving.policy.load_wait_s:.0f}",
                                    progress=slot.progress_text(words)), "load_timeout")
            status = words("api.waiting_for_load", progress=slot.progress_text(words))
            if status != shown:
                shown = status
                yield {"reasoning": "", "answer": "", "status": status, "stats": {}}
            slot.wait(min(LOAD_POLL_S, max(0.0, deadline - time.monotonic())))
        if slot.engine is None:
            raise Refusal(slot.busy_message(words), "load_failed")
        return slot.engine

    def _stream(self, engine: Engine, call: Request, request: gr.Request | None, words: Words,
                caller: str) -> Iterator[dict]:
        live, facts = LiveTurn(call.question, [str(path) for path in call.images], words=words), RunFacts()
        started, stream = time.monotonic(), engine.stream(call)
        try:
            for frame in safe_frames(facts.tap(stream), live, self.max_updates_per_s):
                yield as_dict(frame)
        finally:
            stream.close()
            self.serving.log_run(call, "reason", session_of(request), live, started, facts)
        if live.error is not None:
            raise gr.Error(for_caller(live.error, words, caller), print_exception=False)


def as_dict(frame: LiveTurn) -> dict:
    """One streamed value; "status" only while nothing has streamed (no thinking and no answer yet)."""
    thinking, answer = frame.texts()
    waiting = frame.thinking_started is None and frame.thought_s is None
    return {"reasoning": thinking, "answer": answer, "status": frame.status if waiting else "",
            "stats": frame.stats.as_dict() if frame.stats else {}}
