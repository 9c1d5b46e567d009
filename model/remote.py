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
"""
from __future__ import annotations

import base64
import io
import logging
import os
import re
import time
from contextlib import closing
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator
from urllib.parse import urlsplit

import httpx2
import openai
from PIL import Image

from model import registry
from model.events import (THINKING_BUDGET_MAX, AnswerDelta, BudgetReached, Done, Error, Event, FinishReason,
                          GenerationOptions, Request, Stats, ThinkingDelta, UserFacingError, decide_finish)
from model.inputs import check_request, load_images
from model.limits import Limits
from model.prompt import PromptTurn, prompt_parts
from model.reasoning import AFTER_MARKER, END_THINK, HAND_OVER, Phase, Piece, Splitter

log = logging.getLogger(__name__)
ENV_API_KEY = "R1V_API_KEY"
BUDGET_MODES = ("auto", "server", "client")
BUDGET_FIELD = "thinking_token_budget"
CONTINUE_FIELDS = {"continue_final_message": True, "add_generation_prompt": False}
REFUSED_STATUS = (400, 422)
SERVER_BUDGET_SLACK = 16  # auto mode: thinking this far past the budget means the server ignores it
# The hand-over (at about four characters a token: no tokenizer here) and `</think>`, counted as thinking.
HAND_OVER_TOKENS = round(len(HAND_OVER) / 4) + 1


class _Failed(Exception):
    def __init__(self, message: str, kind: str = "backend"):
        super().__init__(message)
        self.error = Error(message, kind)


class _Refused(Exception):
    """The server refused fields this request cannot do without."""


def build_messages(request: Request, limits: Limits) -> list[dict[str, Any]]:
    """Chat messages for `request`; raises UserFacingError (LocalEngine's messages) for bad input."""
    check_request(request, limits)
    sources = [image for turn in request.history for image in turn.images] + list(request.images)
    urls = [png_data_url(image) for image in load_images(sources, limits)]
    messages: list[dict[str, Any]] = []
    used = 0
    for turn in request.history:
        messages.append(_user(turn.question, urls[used:used + len(turn.images)]))
        messages.append({"role": "assistant", "content": turn.answer})
        used += len(turn.images)
    messages.append(_user(request.question, urls[used:]))
    return messages


def png_data_url(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _user(question: str, urls: list[str]) -> dict[str, Any]:
    if not urls:
        return {"role": "user", "content": question}
    parts: list[dict[str, Any]] = [{"type": "image_url", "image_url": {"url": url}} for url in urls]
    return {"role": "user", "content": parts + [{"type": "text", "text": question}]}


@dataclass
class _Run:
    """The state of one answer, across the one or two HTTP streams it takes."""

    request: Request
    started: float
    deadline: float
    splitter: Splitter = field(default_factory=lambda: Splitter([], END_THINK))
    thinking: list[str] = field(default_factory=list)  # the thinking text, for a continuation
    thinking_tokens: int = 0
    answer_tokens: int = 0
    prompt_tokens: int = 0
    first_token_at: float | None = None
    answer_started_at: float | None = None
    usage: Any = None  # the current stream's usage, when the server sends one
    finish: str | None = None  # the current stream's finish_reason
    connected: bool = False
    server_budget: bool = False  # the budget was sent to the server and accepted
    prefilled: bool = False
    budget_fired: bool = False
    answer_begun: bool = False
    stopped: bool = False
    timed_out: bool = False

    @property
    def options(self) -> GenerationOptions:
        return self.request.options

    @property
    def phase(self) -> Phase:
        return self.splitter.phase

    def count_usage(self, before: tuple[int, int]) -> None:
        """Tokens the server counted but did not stream (an end token) go to the phase it ended in."""
        if self.usage is None:
            return
        if not self.prefilled:  # a continuation's prompt also holds the thinking: the question's size is unknown
            self.prompt_tokens = self.usage.prompt_tokens or 0
        streamed = self.thinking_tokens + self.answer_tokens - sum(before)
        missing = max(0, (self.usage.completion_tokens or 0) - streamed)
        if self.phase is Phase.THINKING:
            self.thinking_tokens += missing
        else:
            self.answer_tokens += missing

    def finish_reason(self, error: Error | None) -> FinishReason:
        exhausted = self.answer_tokens >= self.options.answer_budget or (
            self.finish == "length" and self.phase is Phase.ANSWER)
        return decide_finish(failed=error is not None, stopped=self.stopped, timed_out=self.timed_out,
                             answer_exhausted=exhausted, still_thinking=self.phase is Phase.THINKING,
                             budget_fired=self.budget_fired)

    def stats(self, reason: FinishReason) -> Stats:
        now = time.monotonic()
        generated = self.thinking_tokens + self.answer_tokens
        decode_s = now - self.first_token_at if self.first_token_at else 0.0
        ttft_s = self.first_token_at - self.started if self.first_token_at else None
        return Stats(
            prompt_tokens=self.prompt_tokens, image_tiles=(), thinking_tokens=self.thinking_tokens,
            answer_tokens=self.answer_tokens, ttft_s=ttft_s,
            thinking_s=(self.answer_started_at or now) - self.started, total_s=now - self.started,
            tokens_per_s=(generated - 1) / decode_s if decode_s > 0 and generated > 1 else 0.0,
            budget_fired=self.budget_fired, finish_reason=reason, seed=self.options.seed,
        )


class RemoteEngine:
    def __init__(self, endpoint: str, model: str | None = None, api_key: str | None = None, timeout_s: float = 60,
                 max_seconds: float = 600, budget_mode: str = "auto", template: str | None = None,
                 limits: Limits | None = None):
        if budget_mode not in BUDGET_MODES:
            raise ValueError(f"budget_mode must be one of {', '.join(BUDGET_MODES)}; got {budget_mode!r}")
        url = normalise_endpoint(endpoint)
        self.endpoint = _without_credentials(url)  # for messages: a password in the URL stays out of them
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
        self._server_splits = False  # the server has sent a reasoning field: its content is the answer

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
        run = _Run(request, started, started + self.max_seconds)
        error: Error | None = None
        try:
            yield from self._answer(run, messages)
        except _Failed as failure:
            error = failure.error
        except Exception as exc:  # noqa: BLE001 - every failure becomes a short message; the engine keeps serving
            error = self._describe(exc, run)
        if error is not None:
            log.warning("remote answer failed: %s", self._redact(error.message))
            yield Error(self._redact(error.message), error.kind)
        reason = run.finish_reason(error)
        yield run.stats(reason)
        yield Done(reason)

    # 1. the answer: one stream, or two when the client cuts the thinking

    def _answer(self, run: _Run, messages: list[dict[str, Any]]) -> Iterator[Event]:
        if run.options.thinking_budget == 0 and self._client_budget():
            yield from self._continue(run, messages)
            return
        stream = self._open_chat(run, messages)
        outcome = yield from self._consume(run, stream, self._budget_at(run))
        if outcome == "budget":
            if run.server_budget:
                log.warning("the model server let the thinking run past %s; the budget is kept here from now on",
                            BUDGET_FIELD)
                self._refused.add(BUDGET_FIELD)
            yield from self._continue(run, messages)

    def _client_budget(self) -> bool:
        return self.budget_mode == "client" or (self.budget_mode == "auto" and BUDGET_FIELD in self._refused)

    def _budget_at(self, run: _Run) -> int | None:
        budget = run.options.thinking_budget
        if budget < 0:
            return None
        if run.server_budget:
            return budget + SERVER_BUDGET_SLACK if self.budget_mode == "auto" else None
        return budget

    def _continue(self, run: _Run, messages: list[dict[str, Any]]) -> Iterator[Event]:
        """The thinking reached its budget: hand over, close the thinking, and ask for the answer."""
        run.budget_fired, run.prefilled = True, True
        run.answer_started_at = time.monotonic()
        yield BudgetReached(run.thinking_tokens)
        if run.options.thinking_budget > 0:
            run.thinking_tokens += HAND_OVER_TOKENS
            yield from self._emit(run, [Piece(Phase.THINKING, HAND_OVER)])
        else:
            run.thinking_tokens += 1  # the forced `</think>`
        run.splitter.phase = Phase.ANSWER
        prefill = "".join(run.thinking) + END_THINK + AFTER_MARKER
        stream = self._open_continuation(run, messages, prefill)
        yield from self._consume(run, stream, None)

    # 2. requests

    def _open_chat(self, run: _Run, messages: list[dict[str, Any]]):
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
            raise _Failed(f"The model server at {self.endpoint} does not accept a thinking budget ({BUDGET_FIELD}); "
                          "start vLLM with a --reasoning-parser, or keep the budget on this side "
                          "(budget mode client or auto).") from None
        run.server_budget = wants_server and BUDGET_FIELD not in self._refused
        return stream

    def _open_continuation(self, run: _Run, messages: list[dict[str, Any]], prefill: str):
        params = self._params(run, run.options.answer_budget)
        extra = self._sampling_extras(run)
        prompt = self._raw_prompt(run.request, prefill)
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
        why = "with images" if _has_images(run.request) else "without knowing the model's chat template"
        raise _Failed(f"The thinking reached its budget, but the model server at {self.endpoint} cannot continue "
                      f"a cut-off thinking {why}. Raise the thinking budget, or serve the model with vLLM "
                      "and its reasoning parser.")

    def _params(self, run: _Run, max_tokens: int) -> dict[str, Any]:
        options = run.options
        params = {"model": self._model_id(), "stream": True, "stream_options": {"include_usage": True},
                  "temperature": options.temperature, "top_p": options.top_p, "max_tokens": max_tokens}
        if options.seed >= 0:
            params["seed"] = options.seed
        return params

    @staticmethod
    def _sampling_extras(run: _Run) -> dict[str, Any]:
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
                raise _Failed(f"The model server at {self.endpoint} lists no models; name one with --model.")
            self.model = ids[0]
        return self.model

    def _raw_prompt(self, request: Request, prefill: str) -> str | None:
        template = self.template or _known_template(self.model)
        if template is None or _has_images(request):
            return None
        turns = [PromptTurn(turn.question, (), turn.answer) for turn in request.history]
        parts = prompt_parts(template, turns + [PromptTurn(request.question)], tokens_per_tile=0)
        return "".join(text for text, _ in parts) + prefill

    # 3. streams -> events

    def _consume(self, run: _Run, stream, budget_at: int | None) -> Iterator[Event]:
        """Events of one HTTP stream; returns how it ended: done, budget, answer_budget, stopped, timeout."""
        run.connected, run.usage, run.finish = True, None, None
        before = (run.thinking_tokens, run.answer_tokens)
        with closing(stream):
            chunks = iter(stream)
            outcome = self._interrupt(run, budget_at)
            while outcome is None and (chunk := next(chunks, None)) is not None:
                yield from self._chunk(run, chunk)
                outcome = self._interrupt(run, budget_at)
        yield from self._emit(run, run.splitter.flush())
        if outcome is not None:
            return outcome
        if run.finish is None:
            raise _Failed(f"The model server at {self.endpoint} ended the answer without finishing it. "
                          "Please try again.")
        run.count_usage(before)
        return "done"

    @staticmethod
    def _interrupt(run: _Run, budget_at: int | None) -> str | None:
        if run.request.stop is not None and run.request.stop.is_set():
            run.stopped = True
            return "stopped"
        if time.monotonic() > run.deadline:
            run.timed_out = True
            return "timeout"
        if run.answer_tokens >= run.options.answer_budget:
            return "answer_budget"
        if budget_at is not None and run.phase is Phase.THINKING and run.thinking_tokens >= budget_at:
            return "budget"
        return None

    def _chunk(self, run: _Run, chunk) -> Iterator[Event]:
        run.usage = getattr(chunk, "usage", None) or run.usage
        if not chunk.choices:
            return
        run.finish = chunk.choices[0].finish_reason or run.finish
        reasoning, content = _texts(chunk.choices[0])
        if not (reasoning or content):
            return
        self._server_splits = self._server_splits or bool(reasoning)
        run.first_token_at = run.first_token_at or time.monotonic()
        was_thinking = run.phase is Phase.THINKING
        pieces = [Piece(run.phase, reasoning)] if reasoning else []
        if content and self._server_splits:
            run.splitter.phase = Phase.ANSWER  # the server's reasoning is over; a marker it left is dropped
        if content:
            pieces += run.splitter.feed(-1, content)
        if was_thinking and (reasoning or not self._server_splits):  # the chunk holding `</think>` is thinking
            run.thinking_tokens += 1
        else:
            run.answer_tokens += 1
        yield from self._emit(run, [piece for piece in pieces if piece.phase is Phase.THINKING])
        if was_thinking and run.phase is Phase.ANSWER:
            yield from self._answer_began(run)
        yield from self._emit(run, [piece for piece in pieces if piece.phase is Phase.ANSWER])

    @staticmethod
    def _answer_began(run: _Run) -> Iterator[Event]:
        run.answer_started_at = time.monotonic()
        budget = run.options.thinking_budget
        if run.server_budget and 0 <= budget <= run.thinking_tokens:
            run.budget_fired = True
            yield BudgetReached(run.thinking_tokens)

    @staticmethod
    def _emit(run: _Run, pieces: list[Piece]) -> Iterator[Event]:
        for piece in pieces:
            if piece.phase is Phase.THINKING:
                run.thinking.append(piece.text)
                yield ThinkingDelta(piece.text, run.thinking_tokens)
                continue
            text = piece.text if run.answer_begun else piece.text.lstrip()
            if text:
                run.answer_begun = True
                yield AnswerDelta(text, run.answer_tokens)

    # 4. failures

    def _describe(self, exc: Exception, run: _Run) -> Error:
        where = f"The model server at {self.endpoint}"
        if isinstance(exc, openai.APITimeoutError):
            return Error(f"{where} did not answer within {self.timeout_s:g} s; it may be busy. Please try again.",
                         "timeout", "remote.timeout", {"endpoint": self.endpoint, "seconds": f"{self.timeout_s:g}"})
        if isinstance(exc, openai.APIConnectionError):
            cause = _short(str(exc.__cause__ or exc))
            if run.connected:
                return Error(f"{where} closed the connection in the middle of the answer ({cause}). "
                             "Please try again.", "backend", "remote.dropped", {"endpoint": self.endpoint, "cause": cause})
            return Error(f"{where} is not reachable ({cause}). Is it running, and is the endpoint right?", "backend",
                         "remote.unreachable", {"endpoint": self.endpoint, "cause": cause})
        if isinstance(exc, openai.APIStatusError):
            return Error(_status_message(where, exc), "backend")
        if isinstance(exc, openai.APIError):
            return Error(f"{where} reported an error: {_short(exc.message)}", "backend")
        if isinstance(exc, ValueError):  # invalid JSON, or JSON that is not an OpenAI reply
            log.warning("malformed reply from %s", self.endpoint, exc_info=True)
            return Error(f"{where} sent a reply that is not OpenAI-compatible JSON. Is the endpoint right?", "backend")
        log.exception("remote answer failed")
        return Error(f"Answering through {self.endpoint} failed ({type(exc).__name__}). The demo is still running; "
                     "please try again.", "internal")

    def _redact(self, text: str) -> str:
        return text.replace(self._secret, "***") if len(self._secret) >= 4 else text


def _texts(choice) -> tuple[str, str]:
    """(reasoning, content) of a chat chunk's delta, or ("", text) of a completions chunk."""
    delta = getattr(choice, "delta", None)
    if delta is None:
        return "", getattr(choice, "text", None) or ""
    extra = delta.model_extra or {}
    return extra.get("reasoning") or extra.get("reasoning_content") or "", delta.content or ""


def _status_message(where: str, exc: openai.APIStatusError) -> str:
    detail = _short(_detail(exc))
    if exc.status_code in (401, 403):
        return f"{where} refused the request (HTTP {exc.status_code}): check the API key ({ENV_API_KEY})."
    if exc.status_code == 404:
        return f"{where} answered HTTP 404 ({detail}): check the endpoint (it usually ends in /v1) and the model name."
    return f"{where} answered HTTP {exc.status_code}: {detail}"


def _detail(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        for key in ("detail", "message", "error"):
            if isinstance(body.get(key), str):
                return body[key]
    return "no details" if exc.message.startswith("Error code") else exc.message


def _short(text: str, limit: int = 160) -> str:
    text = re.sub(r"\s+", " ", text).strip()
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _has_images(request: Request) -> bool:
    return bool(request.images) or any(turn.images for turn in request.history)


def _known_template(model: str | None) -> str | None:
    spec = registry.by_name(model) if model else None
    return spec.template if spec is not None and spec.template != "auto" else None


def normalise_endpoint(endpoint: str) -> str:
    """`http://host:8000` -> `http://host:8000/v1`; an endpoint with a path is kept as it is."""
    endpoint = endpoint.strip().rstrip("/")
    parts = urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"The endpoint must be an http(s) URL such as http://127.0.0.1:8000/v1; got {endpoint!r}.")
    return endpoint if parts.path else endpoint + "/v1"


def _without_credentials(url: str) -> str:
    parts = urlsplit(url)
    return parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()
