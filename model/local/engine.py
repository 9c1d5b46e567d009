"""LocalEngine: a resident model that streams typed events for one request at a time.

`LocalEngine.stream(request)` is a generator of events (see model/events.py). Its phases:
  1. wait for the model in arrival order (FairLock), yielding `Status` with the place in line;
  2. validate and tile the images, build the prompt (errors -> `Error(kind="input")`);
  3. run one `model.generate` on the engine's one generation thread (model/local/generation_thread.py:
     the thread that warmed the fast path up runs every answer, as CUDA graphs are kept per
     thread), on the fast path of model/local/fastpath.py when one is given (static caches that follow
     the trace, compiled step); a streamer of ours receives token ids, decodes them incrementally,
     splits thinking from answer and feeds the budget processor;
  4. yield deltas as they arrive, then `Stats` and `Done`.
Closing the generator (Stop, a closed tab, a client's cancel) sets the cancel flag that a
StoppingCriteria checks every step, and joins the worker: the model is free within one step.
A failure in the worker (out of memory included) becomes an `Error` event; the engine stays usable.
The repetition penalty counts only generated tokens, as the official InternVL/Skywork `chat` does
(it hands `generate` the prompt as embeddings, so `generate` sees no prompt ids to penalise).
"""
from __future__ import annotations

import gc
import logging
import queue
import random
import threading
import time
from dataclasses import dataclass
from typing import Iterator

import torch
from transformers import LogitsProcessorList, RepetitionPenaltyLogitsProcessor, StoppingCriteria, StoppingCriteriaList
from transformers.generation.streamers import BaseStreamer

from model.events import (THINKING_BUDGET_MAX, AnswerDelta, BudgetReached, Done, Error, Event, FinishReason,
                          Prepared, Request, Stats, Status, ThinkingDelta, UserFacingError, decide_finish)
from model.local.fairlock import FairLock
from model.local.fastpath import FastPath
from model.local.generation_thread import GenerationThread, Job
from model.inputs.assemble import PreparedInput, prepare_input
from model.local.loader import LoadedModel
from model.reasoning import (BudgetProcessor, IncrementalDecoder, Phase, ReasoningTracker, Splitter,
                             make_tracker)

log = logging.getLogger(__name__)
DEFAULT_MAX_SECONDS = 600.0
QUEUE_POLL_S = 0.25
# Events are handed to the consumer in batches at most this often: waking the consumer thread per
# token makes it fight the generating thread for the GIL (measured: 2.4x slower on a tiny model).
FLUSH_S = 0.03
_END = object()


class _Cancelled(Exception):
    pass


@dataclass
class _Run:
    """The mutable state of one generation, shared by the worker and the consumer."""

    tracker: ReasoningTracker
    splitter: Splitter
    decoder: IncrementalDecoder
    events: "queue.Queue[object]"
    cancel: threading.Event
    deadline: float
    answer_budget: int
    first_token_at: float | None = None
    answer_started_at: float | None = None
    stop_request: threading.Event | None = None  # the person's Stop (graceful: stats follow)
    timed_out: bool = False
    stopped: bool = False
    answer_begun: bool = False


class _EventStreamer(BaseStreamer):
    """Receives token ids from generate(); turns each into events on the run's queue."""

    def __init__(self, run: _Run):
        self.run = run
        self._prompt_seen = False
        self._budget_reported = False
        self.thinking_tokens = 0
        self.answer_tokens = 0
        self._pending: list = []
        self._flushed_at = 0.0

    def send(self, event) -> None:
        self._pending.append(event)
        now = time.monotonic()
        if now - self._flushed_at >= FLUSH_S or isinstance(event, BudgetReached):
            self.flush(now)

    def flush(self, now: float | None = None) -> None:
        if self._pending:
            self.run.events.put(self._pending)
            self._pending = []
        self._flushed_at = now or time.monotonic()

    def put(self, value: torch.Tensor) -> None:
        if not self._prompt_seen:  # generate() first sends the prompt
            self._prompt_seen = True
            return
        for token_id in value.reshape(-1).tolist():
            self._one(int(token_id))

    def _one(self, token_id: int) -> None:
        run = self.run
        run.first_token_at = run.first_token_at or time.monotonic()
        was_thinking = run.splitter.phase is Phase.THINKING
        if was_thinking:
            self.thinking_tokens += 1
        else:
            self.answer_tokens += 1
        pieces = run.splitter.feed(token_id, run.decoder.push(token_id))
        if run.tracker.budget_fired and not self._budget_reported:
            self._budget_reported = True
            self.send(BudgetReached(run.tracker.fired_at))
        if was_thinking and run.splitter.phase is Phase.ANSWER:
            run.answer_started_at = time.monotonic()
            run.tracker.answer_seen_in_text = True
        self._emit(pieces)

    def _emit(self, pieces) -> None:
        run = self.run
        for piece in pieces:
            if piece.phase is Phase.THINKING:
                self.send(ThinkingDelta(piece.text, self.thinking_tokens))
                continue
            text = piece.text if run.answer_begun else piece.text.lstrip()
            if text:
                run.answer_begun = True
                self.send(AnswerDelta(text, self.answer_tokens))

    def end(self) -> None:
        self._emit(self.run.splitter.flush())
        self.flush()


class _StopWhen(StoppingCriteria):
    """Checked after every token: Stop pressed, wall clock spent, or answer budget used."""

    def __init__(self, run: _Run):
        self.run = run
        self._answers: dict[bool, torch.BoolTensor] = {}  # made once: generate() only reads them

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **kwargs) -> torch.BoolTensor:
        run = self.run
        run.tracker.observe(input_ids[0])  # exact even when the streamer runs a step behind
        if time.monotonic() > run.deadline:
            run.timed_out = True
        if run.stop_request is not None and run.stop_request.is_set():
            run.stopped = True
        stop = (run.cancel.is_set() or run.stopped or run.timed_out
                or run.tracker.answer_tokens >= run.answer_budget)
        answer = self._answers.get(stop)
        if answer is None:
            answer = self._answers[stop] = torch.full((input_ids.shape[0],), stop, dtype=torch.bool,
                                                      device=input_ids.device)
        return answer


class LocalEngine:
    """`fast`: the static-cache (and compiled) decode path of model/local/fastpath.py; None: dynamic cache."""

    def __init__(self, loaded: LoadedModel, max_seconds: float = DEFAULT_MAX_SECONDS, fast: FastPath | None = None):
        self.loaded = loaded
        self.max_seconds = max_seconds
        self.fast = fast
        self.lock = FairLock()
        self.stop_ids = [i for i in (loaded.tokenizer.convert_tokens_to_ids(t) for t in loaded.spec.stop_tokens)
                         if i is not None and i != loaded.tokenizer.unk_token_id]
        if not self.stop_ids:
            self.stop_ids = [loaded.tokenizer.eos_token_id]
        # The fast path's thread when there is one: its warm-up recorded the CUDA graphs there.
        self.runner = fast.runner if fast is not None else GenerationThread()
        self.active_worker: Job | None = None  # the answer running now: join() / is_alive() like a thread

    @property
    def name(self) -> str:
        return self.loaded.spec.name

    def stream(self, request: Request) -> Iterator[Event]:
        ticket = self.lock.take_ticket()
        try:
            while not self.lock.wait_turn(ticket, QUEUE_POLL_S):
                ahead = self.lock.ahead_of(ticket)
                yield Status(f"The model is busy: you are number {ahead} in the queue.", key="status.queue",
                             params={"ahead": ahead})
            yield from self._serve(request)
        finally:
            self.lock.release(ticket)

    def _serve(self, request: Request) -> Iterator[Event]:
        started = time.monotonic()
        try:
            prepared = prepare_input(self.loaded, request)
        except UserFacingError as error:
            yield Error(str(error), kind="input", key=error.key, params=error.params)
            yield Done(FinishReason.ERROR)
            return
        yield Prepared(prompt_tokens=int(prepared.input_ids.shape[1]), image_tiles=tuple(prepared.tiles_per_image))
        yield from self._generate(request, prepared, started)

    def _generate(self, request: Request, prepared: PreparedInput, started: float) -> Iterator[Event]:
        options = request.options
        seed = options.seed if options.seed >= 0 else random.randrange(2**31)
        tokenizer = self.loaded.tokenizer
        run = _Run(
            tracker=make_tracker(tokenizer, options.thinking_budget, options.min_thinking,
                                 prompt_len=int(prepared.input_ids.shape[1]), stop_ids=self.stop_ids),
            splitter=None, decoder=IncrementalDecoder(tokenizer), events=queue.Queue(),
            cancel=threading.Event(), deadline=started + self.max_seconds,
            answer_budget=options.answer_budget, stop_request=request.stop,
        )
        run.splitter = Splitter(run.tracker.marker_ids)
        error: Error | None = None
        try:
            worker = self.active_worker = self.runner.submit(self._work, run, prepared, options, seed)
            for event in self._drain(run, worker):
                if isinstance(event, Error):
                    error = event
                yield event
        finally:
            run.cancel.set()
            if self.active_worker is not None:
                self.active_worker.join()
            self.active_worker = None
        reason = self._finish_reason(run, error)
        yield self._stats(run, prepared, started, reason, seed)
        yield Done(reason)

    def _drain(self, run: _Run, worker: Job) -> Iterator[Event]:
        while True:
            try:
                item = run.events.get(timeout=1.0)
            except queue.Empty:
                if not worker.is_alive() and run.events.empty():
                    yield Error("The generation ended unexpectedly.", kind="internal", key="engine.ended")
                    return
                continue
            if item is _END:
                return
            yield from item

    def _work(self, run: _Run, prepared: PreparedInput, options, seed: int) -> None:
        streamer = _EventStreamer(run)
        try:
            torch.manual_seed(seed)
            kwargs = self._generate_kwargs(run, prepared, options, streamer)
            with torch.inference_mode():  # generate() alone is only no_grad: every op then tracks versions
                if self.fast is not None:
                    self.fast.generate(self.loaded.model, **kwargs)
                else:
                    self.loaded.model.generate(**kwargs)
        except torch.OutOfMemoryError:
            log.warning("out of memory", exc_info=True)
            if self.fast is not None:
                self.fast.release()
            _release_memory()  # only here: a full gc.collect() costs ~0.2 s per request
            streamer.send(Error(_oom_message(options.max_tiles), kind="oom", key="engine.oom",
                                params={"max_tiles": options.max_tiles}))
        except Exception as exc:  # noqa: BLE001 - any failure must reach the person, not hang them
            log.exception("generation failed")
            streamer.send(Error(f"The model failed while answering ({type(exc).__name__}). "
                                "The demo is still running; please try again.", kind="internal",
                                key="engine.failed", params={"error": type(exc).__name__}))
        finally:
            streamer.flush()
            run.events.put(_END)

    def _generate_kwargs(self, run: _Run, prepared: PreparedInput, options, streamer: _EventStreamer) -> dict:
        thinking_cap = options.thinking_budget if options.thinking_budget >= 0 else THINKING_BUDGET_MAX
        forced = len(run.tracker.hand_over_ids) + len(run.tracker.marker_ids) + len(run.tracker.after_marker_ids)
        sampling = {"do_sample": False} if options.greedy else {
            "do_sample": True, "temperature": options.temperature, "top_p": options.top_p,
            "top_k": options.top_k or None,
        }
        prompt_tokens = prepared.input_ids.shape[1]
        max_new_tokens = min(thinking_cap + forced + options.answer_budget + 1, self._context_room(prompt_tokens))
        kwargs = dict(
            input_ids=prepared.input_ids, attention_mask=torch.ones_like(prepared.input_ids),
            max_new_tokens=max_new_tokens,
            repetition_penalty=options.repetition_penalty, eos_token_id=self.stop_ids,
            pad_token_id=self.loaded.tokenizer.pad_token_id or self.stop_ids[0],
            logits_processor=LogitsProcessorList(_penalty(options.repetition_penalty, prompt_tokens)
                                                 + [BudgetProcessor(run.tracker)]),
            stopping_criteria=StoppingCriteriaList([_StopWhen(run)]),
            streamer=streamer, **sampling,
        )
        if prepared.pixel_values is not None:
            kwargs["pixel_values"] = prepared.pixel_values  # all tiles of all images: one vision batch
        return kwargs

    def _context_room(self, prompt_tokens: int) -> int:
        context = getattr(self.loaded.model.config.text_config, "max_position_embeddings", None)
        return max(1, int(context) - prompt_tokens) if context else 1 << 30

    @staticmethod
    def _finish_reason(run: _Run, error: Error | None) -> FinishReason:
        return decide_finish(
            failed=error is not None, stopped=run.stopped, timed_out=run.timed_out,
            answer_exhausted=run.tracker.answer_tokens >= run.answer_budget,
            still_thinking=run.tracker.phase is Phase.THINKING, budget_fired=run.tracker.budget_fired)

    @staticmethod
    def _stats(run: _Run, prepared: PreparedInput, started: float, reason: FinishReason, seed: int) -> Stats:
        now = time.monotonic()
        generated = run.tracker.thinking_tokens + run.tracker.answer_tokens
        decode_s = now - run.first_token_at if run.first_token_at else 0.0
        return Stats(
            prompt_tokens=int(prepared.input_ids.shape[1]), image_tiles=tuple(prepared.tiles_per_image),
            thinking_tokens=run.tracker.thinking_tokens, answer_tokens=run.tracker.answer_tokens,
            ttft_s=(run.first_token_at - started) if run.first_token_at else None,
            thinking_s=((run.answer_started_at or now) - started),
            total_s=now - started, tokens_per_s=(generated - 1) / decode_s if decode_s > 0 and generated > 1 else 0.0,
            budget_fired=run.tracker.budget_fired, finish_reason=reason, seed=seed,
        )


def _penalty(penalty: float, prompt_tokens: int) -> list:
    """transformers' repetition penalty over the generated tokens only. `generate` builds its own
    from `repetition_penalty` (which counts the prompt too) and lets one of the same type passed in
    take its place, first in the list, before temperature and top-p, as in the official chat."""
    if penalty == 1.0:
        return []
    return [RepetitionPenaltyLogitsProcessor(float(penalty), prompt_ignore_length=int(prompt_tokens))]


def _oom_message(max_tiles: int) -> str:
    return ("The GPU ran out of memory for this question. Try fewer tiles per image "
            f"(now up to {max_tiles}), fewer images, or smaller thinking and answer budgets.")


def _release_memory() -> None:
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
