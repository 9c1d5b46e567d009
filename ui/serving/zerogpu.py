"""Running the engine on Hugging Face ZeroGPU, where a GPU is lent per call.

`enabled()` is true only when the `spaces` package is importable and `SPACES_ZERO_GPU` is set;
otherwise nothing here runs. `ZeroGPUEngine(engine, spaces)` wraps an engine whose model was put on
CUDA at import time (ZeroGPU's rule): each answer runs inside `@spaces.GPU` with a duration
computed from the request's budgets. ZeroGPU runs the decorated generator in a forked process, so
its argument and its yields must pickle: the request goes without its Stop flag, and Stop is
honoured here, in the parent, by closing the stream (which ends the child) and reporting the end.
"""
from __future__ import annotations

import dataclasses
import importlib.util
import os
from typing import Any, Iterator

from model.events import THINKING_BUDGET_MAX, Done, Event, FinishReason, Request

BASE_SECONDS = 20  # vision encoding, prefill and hand-over
TOKENS_PER_SECOND = 20  # a 38B model on a ZeroGPU slice, a cautious figure
MAX_SECONDS = 300  # ZeroGPU refuses longer reservations for most accounts


def enabled(environ: dict[str, str] | None = None) -> bool:
    environ = os.environ if environ is None else environ
    return bool(environ.get("SPACES_ZERO_GPU")) and importlib.util.find_spec("spaces") is not None


def gpu_seconds(request: Request) -> int:
    """How long to reserve the GPU for this request."""
    options = request.options
    thinking = options.thinking_budget if options.thinking_budget >= 0 else THINKING_BUDGET_MAX
    tokens = thinking + options.answer_budget
    return int(min(MAX_SECONDS, BASE_SECONDS + tokens / TOKENS_PER_SECOND))


class ZeroGPUEngine:
    def __init__(self, engine: Any, spaces: Any):
        self.engine = engine
        self.loaded = getattr(engine, "loaded", None)
        self._on_gpu = spaces.GPU(duration=gpu_seconds)(self._stream_on_gpu)

    @property
    def name(self) -> str:
        return self.engine.name

    def _stream_on_gpu(self, request: Request) -> Iterator[Event]:
        yield from self.engine.stream(request)

    def stream(self, request: Request) -> Iterator[Event]:
        stop = request.stop
        events = self._on_gpu(dataclasses.replace(request, stop=None))
        try:
            for event in events:
                yield event
                if stop is not None and stop.is_set():
                    break
            else:
                return
        finally:
            events.close()
        yield Done(FinishReason.STOPPED)  # the cut-off child cannot send its stats
