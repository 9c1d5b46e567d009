"""What the benches count as a measured run, and what makes one a failure.

- `measured_stats(events, asked, label)`: reads a whole engine stream and returns its `Stats`; raises
  `FailedRun` naming the event when the run ended in an `Error` (an out-of-memory, say), had no
  `Stats`, or generated fewer tokens than `asked`. A broken run is never printed as a speed.
- `GraphEvents`: while open, counts CUDA graph recordings (inductor's cudagraph trees announce each
  one through torch._dynamo's compilation callbacks, trigger CUDAGRAPH_RECORDING) and dynamo
  compiles (the same callbacks, trigger DYNAMO). Zero of both during answers is the goal: it means
  the graphs made at load are the ones replayed. Without CUDA there are no graphs: the count is 0.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from torch._dynamo.callback import CallbackArgs, CallbackTrigger, callback_handler

from model.events import Error, Event, Stats


class FailedRun(Exception):
    """A measured run that did not do what was asked; its message names what happened."""


def measured_stats(events: Iterable[Event], asked: int, label: str) -> Stats:
    stats: Stats | None = None
    for event in events:
        if isinstance(event, Error):
            raise FailedRun(f"{label}: the run ended in Error(kind={event.kind!r}): {event.message}")
        if isinstance(event, Stats):
            stats = event
    if stats is None:
        raise FailedRun(f"{label}: the stream ended without Stats")
    generated = stats.thinking_tokens + stats.answer_tokens
    if generated < asked:
        raise FailedRun(f"{label}: {generated} tokens generated, {asked} asked "
                        f"(finish reason {stats.finish_reason.value})")
    return stats


@dataclass
class GraphEvents:
    recordings: int = 0
    compiles: int = 0

    def _seen(self, args: CallbackArgs) -> None:
        if args.callback_trigger is CallbackTrigger.CUDAGRAPH_RECORDING:
            self.recordings += 1
        elif args.callback_trigger is CallbackTrigger.DYNAMO:
            self.compiles += 1

    def __enter__(self) -> "GraphEvents":
        callback_handler.register_start_callback(self._seen)
        return self

    def __exit__(self, *exc) -> None:
        callback_handler.remove_start_callback(self._seen)
