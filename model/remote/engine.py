"""RemoteEngine: LocalEngine's events, answered by an OpenAI-compatible server (vLLM, `transformers serve`).

`RemoteEngine(endpoint, model=None, api_key=None, ...).stream(request)` yields what `LocalEngine.stream`
yields (model/events.py): `ThinkingDelta`* -> `AnswerDelta`* -> `Stats` -> `Done`, with `BudgetReached`
when the thinking budget fires, `Error` -> `Stats` -> `Done(ERROR)` when the server fails, and
`Error(kind="input")` -> `Done(ERROR)` for a bad request, found before any network call. It never
raises and never hangs: every network wait is bounded by `timeout_s`, the whole answer by
`max_seconds` (checked between chunks, so it may run up to `timeout_s` past it). The engine keeps
working after any failure; it holds no lock, since the server queues requests itself.

- Messages: earlier turns (question with its images, then the answer without thinking), then the new
  question. Images are validated as LocalEngine validates them, re-encoded as PNG data URLs and put
  before the text. The server tiles them, so `Stats.image_tiles` is empty and `max_tiles` is not
  used; `min_thinking` cannot be enforced remotely either.
- Reasoning comes from the delta's `reasoning` (vLLM) or `reasoning_content` field; when the server
  sends neither, `content` is split at `</think>` here (R1V prompts end inside the thinking).
- Token counts come from the server's `usage` when it sends one (the chunk counts decide the split
  between thinking and answer); otherwise each streamed chunk counts as one token, as vLLM and
  transformers serve send one chunk per token (except for a character split across tokens). The
  forced hand-over is estimated at four characters a token; `prompt_tokens` is 0 when unknown (after
  a client-side cut, whose continuation prompt also holds the thinking).
- `budget_mode`: "server" sends vLLM's `thinking_token_budget` (the server needs a reasoning parser);
  "client" closes the stream when the thinking reaches the budget (so the server stops), then asks
  again with the answer prefilled with the thinking, the hand-over and `</think>\\n\\n`: as a raw
  `/v1/completions` prompt when the conversation is text-only and its template known (`template`,
  guessed from the model id for the R1V family), else as a chat request with `continue_final_message`
  (vLLM; transformers serve refuses it, and R1V's own chat templates drop what comes before `</think>`
  in an assistant message, so image questions on vLLM want the server's budget). "auto" uses the
  server's budget until the server refuses the field (HTTP 400/422) or lets the thinking run past it,
  then the client's. What a server refuses is remembered for the engine's lifetime and left out of
  later requests (`top_k`, `repetition_penalty`, `add_special_tokens` are optional).
- Stop: `request.stop` is checked between chunks; the HTTP stream is closed (the server stops too),
  then Stats and Done(STOPPED) follow. Closing the generator also closes the HTTP stream.
- The API key (argument, else env R1V_API_KEY) is sent as a bearer token and nowhere else: not in
  events, log lines or the repr.

The parts live by seam: model/remote/endpoint.py (URL, key redaction, failure messages),
model/remote/payload.py (messages, images, continuation prompt), model/remote/stream.py (an answer's
state, chunks -> events). This module keeps the requests and the budget continuation;
`RemoteEngine`, `normalise_endpoint` and `build_messages` are importable from here as before.
"""
from __future__ import annotations

import logging
import os
import time
from typing import Any, Callable, Iterator

import httpx2
import openai

from model.events import (THINKING_BUDGET_MAX, BudgetReached, Done, Error, Event, FinishReason, Request,
                          UserFacingError)
from model.limits import Limits
from model.reasoning import AFTER_MARKER, END_THINK, HAND_OVER, Phase, Piece
from model.remote.endpoint import ENV_API_KEY, describe_failure, normalise_endpoint, redact, without_credentials
from model.remote.payload import build_messages, has_images, known_template, raw_prompt
from model.remote.stream import Failed, Run, StreamReader, emit

__all__ = ["RemoteEngine", "normalise_endpoint", "build_messages", "ENV_API_KEY", "BUDGET_MODES", "BUDGET_FIELD",
           "CONTINUE_FIELDS", "HAND_OVER_TOKENS"]
log = logging.getLogger(__name__)
BUDGET_MODES = ("auto", "server", "client")
BUDGET_FIELD = "thinking_token_budget"
CONTINUE_FIELDS = {"continue_final_message": True, "add_generation_prompt": False}
REFUSED_STATUS = (400, 422)
SERVER_BUDGET_SLACK = 16  # auto mode: thinking this far past the budget means the server ignores it
# The hand-over (at about four characters a token: no tokenizer here) and `</think>`, counted as thinking.
HAND_OVER_TOKENS = round(len(HAND_OVER) / 4) + 1


class _Refused(Exception):
    """The server refused fields this request cannot do without."""


class RemoteEngine:
    def __init__(self, endpoint: str, model: str | None = None, api_key: str | None = None, timeout_s: float = 60,
                 max_seconds: float = 600, budget_mode: str = "auto", template: str | None = None,
                 limits: Limits | None = None):
        if budget_mode not in BUDGET_MODES:
            raise ValueError(f"budget_mode must be one of {', '.join(BUDGET_MODES)}; got {budget_mode!r}")
        url = normalise_endpoint(endpoint)
        self.endpoint = without_credentials(url)  # for messages: a password in the URL stays out of them
        self.model = model
        self.template = template
        self.timeout_s, self.max_seconds, self.budget_mode = timeout_s, max_seconds, budget_mode
        self.limits = limits or Limits.from_env()
        self._secret = api_key or os.environ.get(ENV_API_KEY) or ""
        # No retries (a failure is reported at once) and no kept-alive connections: a pooled connection that
        # the server closed (after an error, or a restart) would fail the next request.
        http = openai.DefaultHttpxClient(limits=httpx2.Limits(max_keepalive_connections=0))
        self._client = openai.OpenAI(base_url=url, api_key=self._secret or "EMPTY", max_retries=0,
                                     timeout=openai.Timeout(timeout_s, connect=min(timeout_s, 10.0)), http_client=http)
        self._refused: set[str] = set()  # request fields this server refuses
        self._reader = StreamReader(self.endpoint)

    def __repr__(self) -> str:
        return f"RemoteEngine(endpoint={self.endpoint!r}, model={self.model!r}, budget_mode={self.budget_mode!r})"

    @property
    def name(self) -> str:
        return self.model or self.endpoint

    @property
    def refused_fields(self) -> frozenset[str]:
        """Request fields this server has refused so far (left out of later requests)."""
        return frozenset(self._refused)

    def close(self) -> None:
        self._client.close()

    def stream(self, request: Request) -> Iterator[Event]:
        started = time.monotonic()
        try:
            messages = build_messages(request, self.limits)
        except UserFacingError as error:
            yield Error(str(error), kind="input")
            yield Done(FinishReason.ERROR)
            return
        run = Run(request, started, started + self.max_seconds)
        error: Error | None = None
        try:
            yield from self._answer(run, messages)
        except Failed as failure:
            error = failure.error
        except Exception as exc:  # noqa: BLE001 - every failure becomes a short message; the engine keeps serving
            error = describe_failure(exc, self.endpoint, self.timeout_s, run.connected)
        if error is not None:
            log.warning("remote answer from %s failed: %s", self.endpoint, redact(error.message, self._secret))
            yield Error(redact(error.message, self._secret), error.kind)
        reason = run.finish_reason(error)
        yield run.stats(reason)
        yield Done(reason)

    # 1. the answer: one stream, or two when the client cuts the thinking

    def _answer(self, run: Run, messages: list[dict[str, Any]]) -> Iterator[Event]:
        if run.options.thinking_budget == 0 and self._client_budget():
            yield from self._continue(run, messages)
            return
        stream = self._open_chat(run, messages)
        outcome = yield from self._reader.consume(run, stream, self._budget_at(run))
        if outcome == "budget":
            if run.server_budget:
                log.warning("the model server let the thinking run past %s; the budget is kept here from now on",
                            BUDGET_FIELD)
                self._refused.add(BUDGET_FIELD)
            yield from self._continue(run, messages)

    def _client_budget(self) -> bool:
        return self.budget_mode == "client" or (self.budget_mode == "auto" and BUDGET_FIELD in self._refused)

    def _budget_at(self, run: Run) -> int | None:
        budget = run.options.thinking_budget
        if budget < 0:
            return None
        if run.server_budget:
            return budget + SERVER_BUDGET_SLACK if self.budget_mode == "auto" else None
        return budget

    def _continue(self, run: Run, messages: list[dict[str, Any]]) -> Iterator[Event]:
        """The thinking reached its budget: hand over, close the thinking, and ask for the answer."""
        run.budget_fired, run.prefilled = True, True
        run.answer_started_at = time.monotonic()
        yield BudgetReached(run.thinking_tokens)
        if run.options.thinking_budget > 0:
            run.thinking_tokens += HAND_OVER_TOKENS
            yield from emit(run, [Piece(Phase.THINKING, HAND_OVER)])
        else:
            run.thinking_tokens += 1  # the forced `</think>`
        run.splitter.phase = Phase.ANSWER
        prefill = "".join(run.thinking) + END_THINK + AFTER_MARKER
        stream = self._open_continuation(run, messages, prefill)
        yield from self._reader.consume(run, stream, None)

    # 2. requests

    def _open_chat(self, run: Run, messages: list[dict[str, Any]]):
        budget = run.options.thinking_budget
        extra = self._sampling_extras(run)
        wants_server = budget >= 0 and (self.budget_mode == "server" or not self._client_budget())
        if wants_server:
            extra[BUDGET_FIELD] = budget
        cap = budget if budget >= 0 else THINKING_BUDGET_MAX
        params = {**self._params(run, cap + run.options.answer_budget), "messages": messages}
        required = {BUDGET_FIELD} if self.budget_mode == "server" else set()
        try:
            stream = self._create(self._client.chat.completions.create, params, extra, required)
        except _Refused:
            raise Failed(f"The model server does not accept a thinking budget ({BUDGET_FIELD}); "
                          "start vLLM with a --reasoning-parser, or keep the budget on this side "
                          "(budget mode client or auto).") from None
        run.server_budget = wants_server and BUDGET_FIELD not in self._refused
        return stream

    def _open_continuation(self, run: Run, messages: list[dict[str, Any]], prefill: str):
        params = self._params(run, run.options.answer_budget)
        extra = self._sampling_extras(run)
        prompt = raw_prompt(run.request, self.template or known_template(self.model), prefill)
        if prompt is not None:  # exact, whatever the server's chat template does with a prefilled answer
            completion = {**params, "prompt": prompt}
            return self._create(self._client.completions.create, completion, {**extra, "add_special_tokens": False})
        if not self._refused & CONTINUE_FIELDS.keys():
            chat = {**params, "messages": messages + [{"role": "assistant", "content": prefill}]}
            try:
                return self._create(self._client.chat.completions.create, chat, {**extra, **CONTINUE_FIELDS},
                                    set(CONTINUE_FIELDS))
            except _Refused:
                pass
        why = "with images" if has_images(run.request) else "without knowing the model's chat template"
        raise Failed("The thinking reached its budget, but the model server cannot continue "
                      f"a cut-off thinking {why}. Raise the thinking budget, or serve the model with vLLM "
                      "and its reasoning parser.")

    def _params(self, run: Run, max_tokens: int) -> dict[str, Any]:
        options = run.options
        params = {"model": self._model_id(), "stream": True, "stream_options": {"include_usage": True},
                  "temperature": options.temperature, "top_p": options.top_p, "max_tokens": max_tokens}
        if options.seed >= 0:
            params["seed"] = options.seed
        return params

    @staticmethod
    def _sampling_extras(run: Run) -> dict[str, Any]:
        extra: dict[str, Any] = {}
        if run.options.top_k > 0:
            extra["top_k"] = run.options.top_k
        if run.options.repetition_penalty != 1.0:
            extra["repetition_penalty"] = run.options.repetition_penalty
        return extra

    def _create(self, create: Callable, params: dict[str, Any], extra: dict[str, Any],
                required: frozenset[str] | set[str] = frozenset()):
        """`create(...)` without the extra fields this server refuses, learning refusals as they come."""
        while True:
            sent = {name: value for name, value in extra.items() if name in required or name not in self._refused}
            try:
                return create(**params, extra_body=sent or None)
            except openai.APIStatusError as error:
                refused = self._refused_fields(error, sent)
                if not refused:
                    raise
                log.info("the model server refuses %s; leaving it out from now on", ", ".join(sorted(refused)))
                self._refused |= refused
                if refused & required:
                    raise _Refused() from None

    def _refused_fields(self, error: openai.APIStatusError, sent: dict[str, Any]) -> set[str]:
        if error.status_code not in REFUSED_STATUS or not sent:
            return set()
        text = f"{error.message} {error.body}"
        named = {name for name in sent if name in text}
        if not named and BUDGET_FIELD in sent and self.budget_mode == "auto":
            named = {BUDGET_FIELD}  # vLLM without a reasoning parser may not name it
        if named & CONTINUE_FIELDS.keys():
            named |= CONTINUE_FIELDS.keys()
        return named

    def _model_id(self) -> str:
        if self.model is None:
            ids = [entry.id for entry in self._client.models.list().data]
            if not ids:
                raise Failed("The model server lists no models; name one with --model.")
            self.model = ids[0]
        return self.model
