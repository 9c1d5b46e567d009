"""Driving a launched app the way people and scripts do, and watching the engine while it happens.

- `chat_args(...)` / `reason_kwargs(...)`: arguments of the `/chat` and `/reason` endpoints.
- `solo_answer(engine, puzzle)`: the answer the engine gives alone, with /reason's options
  (`reason_options()`) as `reason_kwargs` sets them.
- `dice_puzzles(folder, n)`: PNG files of dice puzzles with their questions and known answers.
- `ObservedEngine(engine)`: the real engine, unchanged, with a record of each stream it served:
  the request (and so its Stop flag), whether the app closed the stream before it ended (Stop
  excluded: a cancel or a closed tab), and whether it ran to its end.
- `PassCounter(model)`: counts the model's lm_head forward passes (one per generated token), in
  all and after each watched signal (a `threading.Event`) was set.
- `updates_of(job)`: every status update a finished gradio_client job received (queue places,
  toasts), in order.
- `QueueProtocol(url)`: Gradio's queue protocol by hand, for clients gradio_client cannot play:
  one that never reads its stream, one that vanishes mid-answer.
- `rss_mb()`: this process's resident memory after a full garbage collection.
"""
from __future__ import annotations

import asyncio
import gc
import json
import socket
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import urlsplit

import httpx
import psutil
from gradio_client import handle_file

from model.events import AnswerDelta, GenerationOptions, Request
from model.tiny.puzzles import puzzle_at

# Greedy, and small budgets: dice puzzles are answered right at this thinking budget.
THINKING_BUDGET = 24
ANSWER_BUDGET = 16


def chat_args(text: str, files=(), thinking_budget=THINKING_BUDGET, no_limit=False,
              answer_budget=ANSWER_BUDGET, temperature=0.0, seed=0) -> tuple:
    """Positional arguments of /chat: the message box, then every setting in the page's order."""
    message = {"text": text, "files": [handle_file(str(path)) for path in files]}
    return (message, thinking_budget, no_limit, answer_budget, temperature, 0.95, 0, 1.05, 12, seed)


def reason_kwargs(question: str, images=(), thinking_budget=THINKING_BUDGET,
                  max_new_tokens=ANSWER_BUDGET, temperature=0.0, seed=0) -> dict:
    return {"images": [handle_file(str(path)) for path in images], "question": question,
            "thinking_budget": thinking_budget, "max_new_tokens": max_new_tokens,
            "temperature": temperature, "seed": seed}


def reason_options() -> GenerationOptions:
    """The options /reason builds from `reason_kwargs`' defaults (top-k, penalty and tiles at theirs)."""
    return GenerationOptions.validated(thinking_budget=THINKING_BUDGET, answer_budget=ANSWER_BUDGET,
                                       temperature=0.0, top_p=0.95, seed=0)


def solo_answer(engine, puzzle: PuzzleFile) -> str:
    """The engine's answer to the puzzle when nobody else is asking (greedy, so always the same)."""
    request = Request(puzzle.question, (str(puzzle.path),), options=reason_options())
    return "".join(event.text for event in engine.stream(request) if isinstance(event, AnswerDelta))


@dataclass(frozen=True)
class PuzzleFile:
    path: Path
    question: str
    answer: str


def dice_puzzles(folder: Path, n: int, seed: int = 777) -> list[PuzzleFile]:
    """`n` dice puzzles saved as PNG files named by their index."""
    folder.mkdir(parents=True, exist_ok=True)
    puzzles = []
    for index in range(n):
        puzzle = puzzle_at(seed, index, kinds=["dice"])
        path = folder / f"dice-{seed}-{index:03d}.png"
        puzzle.image.save(path)
        puzzles.append(PuzzleFile(path, puzzle.question, puzzle.answer))
    return puzzles


@dataclass
class ObservedRun:
    request: Any
    closed_early: threading.Event = field(default_factory=threading.Event)
    ended: threading.Event = field(default_factory=threading.Event)


class ObservedEngine:
    """Passes every call to `engine.stream`; remembers each run."""

    def __init__(self, engine):
        self.engine = engine
        self.loaded = getattr(engine, "loaded", None)
        self.runs: list[ObservedRun] = []

    def stream(self, request) -> Iterator:
        run = ObservedRun(request)
        self.runs.append(run)
        events = self.engine.stream(request)
        try:
            yield from _until_closed(events, run)
        finally:
            events.close()

    def wait_for_run(self, count: int, timeout: float) -> ObservedRun:
        from tests.conftest import wait_until

        wait_until(lambda: len(self.runs) >= count, timeout, f"run number {count} to reach the engine")
        return self.runs[count - 1]


def _until_closed(events: Iterator, run: ObservedRun) -> Iterator:
    finished = False
    try:
        for event in events:
            yield event
        finished = True
    finally:
        (run.ended if finished else run.closed_early).set()


class PassCounter:
    """Counts lm_head forward passes; `after(name)` counts those that ended after signal `name` was set."""

    def __init__(self, model):
        self.model = model
        self.total = 0
        self._signals: dict[str, threading.Event] = {}
        self._after: dict[str, int] = {}
        self._handle = None

    def watch(self, name: str, signal: threading.Event) -> None:
        self._signals[name], self._after[name] = signal, 0

    def after(self, name: str) -> int:
        return self._after[name]

    def _count(self, module, args, output) -> None:
        self.total += 1
        for name, signal in self._signals.items():
            if signal.is_set():
                self._after[name] += 1

    def __enter__(self) -> "PassCounter":
        self._handle = self.model.lm_head.register_forward_hook(self._count)
        return self

    def __exit__(self, *exc) -> None:
        self._handle.remove()


def updates_of(job) -> list:
    """All status updates the job received; call once the job is done (nothing else reads them)."""
    updates, queue = [], job.communicator.updates
    while True:
        try:
            updates.append(queue.get_nowait())
        except asyncio.QueueEmpty:
            return updates


def warnings_of(job) -> list[str]:
    return [update.log[0] for update in updates_of(job)
            if getattr(update, "log", None) and update.log[1] == "warning"]


def rss_mb() -> float:
    gc.collect()
    return psutil.Process().memory_info().rss / 2**20


class QueueProtocol:
    """Join Gradio's queue and open its event stream without gradio_client."""

    def __init__(self, url: str, demo):
        self.base = url.rstrip("/") + "/gradio_api"
        self.fn_index = {fn.api_name: index for index, fn in demo.fns.items() if fn.api_name}
        self.session = uuid.uuid4().hex

    def join(self, api_name: str, data: list) -> str:
        body = {"data": data, "fn_index": self.fn_index[api_name], "session_hash": self.session,
                "event_data": None, "trigger_id": None}
        reply = httpx.post(f"{self.base}/queue/join", json=body, timeout=30)
        reply.raise_for_status()
        return reply.json()["event_id"]

    def stream(self, client: httpx.Client) -> Any:
        """The session's event stream as an httpx streaming response (a context manager)."""
        return client.stream("GET", f"{self.base}/queue/data", params={"session_hash": self.session},
                             timeout=30)

    def open_unread(self, receive_buffer: int = 1024) -> socket.socket:
        """The event stream requested over a socket that is never read (a tiny receive buffer)."""
        parts = urlsplit(self.base)
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        sock.connect((parts.hostname, parts.port))
        sock.sendall(f"GET {parts.path}/queue/data?session_hash={self.session} HTTP/1.1\r\n"
                     f"Host: {parts.netloc}\r\nAccept: text/event-stream\r\n\r\n".encode())
        return sock


def sse_messages(response) -> Iterator[dict]:
    for line in response.iter_lines():
        if line.startswith("data:"):
            yield json.loads(line[len("data:"):])

