"""One answer's state across its HTTP streams, and streamed chunks turned into LocalEngine's events.

Contract:
- `Run` holds what one answer has gathered (thinking text, token counts, timings, how it ended) and
  makes its closing `Stats` and `FinishReason`. Token counts come from the server's `usage` when it
  sends one (the streamed chunks decide the split between thinking and answer); otherwise each
  streamed chunk counts as one token, as vLLM and transformers serve send one chunk per token.
- `StreamReader.consume(run, stream, budget_at)` yields `ThinkingDelta`/`AnswerDelta`/`BudgetReached`
  for one stream and returns how it ended: "done", "budget" (the thinking reached `budget_at`),
  "answer_budget", "stopped" (`request.stop` set) or "timeout" (past `run.deadline`); these are
  checked between chunks, and the HTTP stream is closed on every way out. A stream that ends without
  a finish_reason raises `Failed`.
- Reasoning comes from the delta's `reasoning` (vLLM) or `reasoning_content` field; when the server
  sends neither, `content` is split at `</think>` here. Once a server has sent a reasoning field, the
  reader treats its `content` as answer for the reader's lifetime (one per engine).
- The answer text never starts with whitespace (the model's blank line after `</think>` is dropped).
"""
from __future__ import annotations

import time
from contextlib import closing
from dataclasses import dataclass, field
from typing import Any, Iterator

from model.events import (AnswerDelta, BudgetReached, Error, Event, FinishReason, GenerationOptions, Request,
                          Stats, ThinkingDelta, decide_finish)
from model.reasoning import END_THINK, Phase, Piece, Splitter


class Failed(Exception):
    """The answer cannot go on; `error` is what the person sees."""

    def __init__(self, message: str, kind: str = "backend"):
        super().__init__(message)
        self.error = Error(message, kind)


@dataclass
class Run:
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


class StreamReader:
    def __init__(self, endpoint: str):
        self.endpoint = endpoint
        self.server_splits = False  # the server has sent a reasoning field: its content is the answer

    def consume(self, run: Run, stream, budget_at: int | None) -> Iterator[Event]:
        """Events of one HTTP stream; returns how it ended: done, budget, answer_budget, stopped, timeout."""
        run.connected, run.usage, run.finish = True, None, None
        before = (run.thinking_tokens, run.answer_tokens)
        with closing(stream):
            chunks = iter(stream)
            outcome = _interrupt(run, budget_at)
            while outcome is None and (chunk := next(chunks, None)) is not None:
                yield from self._chunk(run, chunk)
                outcome = _interrupt(run, budget_at)
        yield from emit(run, run.splitter.flush())
        if outcome is not None:
            return outcome
        if run.finish is None:
            raise Failed("The model server ended the answer without finishing it. "
                         "Please try again.")
        run.count_usage(before)
        return "done"

    def _chunk(self, run: Run, chunk) -> Iterator[Event]:
        run.usage = getattr(chunk, "usage", None) or run.usage
        if not chunk.choices:
            return
        run.finish = chunk.choices[0].finish_reason or run.finish
        reasoning, content = chunk_texts(chunk.choices[0])
        if not (reasoning or content):
            return
        self.server_splits = self.server_splits or bool(reasoning)
        run.first_token_at = run.first_token_at or time.monotonic()
        was_thinking = run.phase is Phase.THINKING
        pieces = [Piece(run.phase, reasoning)] if reasoning else []
        if content and self.server_splits:
            run.splitter.phase = Phase.ANSWER  # the server's reasoning is over; a marker it left is dropped
        if content:
            pieces += run.splitter.feed(-1, content)
        if was_thinking and (reasoning or not self.server_splits):  # the chunk holding `</think>` is thinking
            run.thinking_tokens += 1
        else:
            run.answer_tokens += 1
        yield from emit(run, [piece for piece in pieces if piece.phase is Phase.THINKING])
        if was_thinking and run.phase is Phase.ANSWER:
            yield from _answer_began(run)
        yield from emit(run, [piece for piece in pieces if piece.phase is Phase.ANSWER])


def _interrupt(run: Run, budget_at: int | None) -> str | None:
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


def _answer_began(run: Run) -> Iterator[Event]:
    run.answer_started_at = time.monotonic()
    budget = run.options.thinking_budget
    if run.server_budget and 0 <= budget <= run.thinking_tokens:
        run.budget_fired = True
        yield BudgetReached(run.thinking_tokens)


def emit(run: Run, pieces: list[Piece]) -> Iterator[Event]:
    """Thinking and answer pieces as events; the thinking is also kept for a continuation."""
    for piece in pieces:
        if piece.phase is Phase.THINKING:
            run.thinking.append(piece.text)
            yield ThinkingDelta(piece.text, run.thinking_tokens)
            continue
        text = piece.text if run.answer_begun else piece.text.lstrip()
        if text:
            run.answer_begun = True
            yield AnswerDelta(text, run.answer_tokens)


def chunk_texts(choice) -> tuple[str, str]:
    """(reasoning, content) of a chat chunk's delta, or ("", text) of a completions chunk."""
    delta = getattr(choice, "delta", None)
    if delta is None:
        return "", getattr(choice, "text", None) or ""
    extra = delta.model_extra or {}
    return extra.get("reasoning") or extra.get("reasoning_content") or "", delta.content or ""
