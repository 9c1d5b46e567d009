"""The load scenario: many clients, each its own session, asking a few questions at the same time.

`crowd(puzzles, questions)` plans one client per puzzle; `run_load(url, plans, timeout_s)` gives
each `ClientPlan` a thread and its own gradio_client
`Client` (so its own session); all clients submit their first question together, then each asks
its next one when the previous has ended. Every request ends as one `Outcome`: "completed",
"refused" (Gradio's queue was full) or "error", with what the client was shown on the way (its
place in Gradio's queue, the engine's "you are number N in the queue" line, toasts) and when, in seconds after
submitting. `QueueWatch(demo)` samples the length of Gradio's queue while a load runs.
Nothing here asserts: tests/test_load.py judges the outcomes, bench/bench_load.py summarises them.
"""
from __future__ import annotations

import re
import threading
import time
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gradio_client import Client
from gradio_client.exceptions import AppError
from gradio_client.utils import QueueError, Status

from tests.app_drive import PuzzleFile, chat_args, reason_kwargs, updates_of
from ui.i18n.words import EN

_NUMBER = "9999999"
# The engine's "you are number N in the queue" line as the English page shows it, N captured.
PLACE = re.compile(re.escape(EN("status.queue", ahead=_NUMBER)).replace(_NUMBER, r"(\d+)"))


@dataclass(frozen=True)
class ClientPlan:
    index: int
    endpoint: str  # "chat": one conversation, the image in its first turn; "reason": the image every time
    image: Path
    questions: tuple[str, ...]


@dataclass
class Outcome:
    client: int
    turn: int
    endpoint: str
    question: str
    status: str = "error"  # "completed", "refused" or "error"
    message: str = ""
    wait_s: float | None = None  # submit -> the app's first output (a status or a token)
    first_token_s: float | None = None
    total_s: float | None = None
    final: Any = None
    places: list[int] = field(default_factory=list)  # "you are number N in the queue", in the order shown
    queue_ranks: list[tuple[int, int]] = field(default_factory=list)  # (rank, queue size) from Gradio
    warnings: list[str] = field(default_factory=list)


def crowd(puzzles: list[PuzzleFile], questions: int) -> list[ClientPlan]:
    """One client per puzzle: even ones hold a conversation on /chat, odd ones ask /reason each time."""
    plans = []
    for index, puzzle in enumerate(puzzles):
        if index % 2:
            plans.append(ClientPlan(index, "reason", puzzle.path, (puzzle.question,) * questions))
            continue
        follow_ups = tuple(f"Client {index}, follow-up {turn}: and the left die?" for turn in range(1, questions))
        plans.append(ClientPlan(index, "chat", puzzle.path, (puzzle.question, *follow_ups)))
    return plans


def run_load(url: str, plans: list[ClientPlan], timeout_s: float) -> list[Outcome]:
    """Every plan's outcomes, in plan order; a client that did not finish in time gets error outcomes."""
    barrier = threading.Barrier(len(plans))
    results: dict[int, list[Outcome]] = {}
    threads = [threading.Thread(target=_client_thread, args=(url, plan, barrier, timeout_s, results),
                                name=f"load-client-{plan.index}", daemon=True) for plan in plans]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + timeout_s
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    return [outcome for plan in plans for outcome in results.get(plan.index) or _unfinished(plan)]


def _unfinished(plan: ClientPlan) -> list[Outcome]:
    return [Outcome(plan.index, turn, plan.endpoint, question, message="the client did not finish in time")
            for turn, question in enumerate(plan.questions)]


def _client_thread(url: str, plan: ClientPlan, barrier: threading.Barrier, timeout_s: float,
                   results: dict[int, list[Outcome]]) -> None:
    client = Client(url, verbose=False)
    try:
        barrier.wait(timeout_s)
        results[plan.index] = [ask(client, plan, turn, timeout_s) for turn in range(len(plan.questions))]
    finally:
        client.close()


def ask(client: Client, plan: ClientPlan, turn: int, timeout_s: float) -> Outcome:
    question = plan.questions[turn]
    outcome = Outcome(plan.index, turn, plan.endpoint, question)
    submitted = time.time()
    if plan.endpoint == "chat":
        job = client.submit(*chat_args(question, [plan.image] if turn == 0 else []), api_name="/chat")
    else:
        job = client.submit(**reason_kwargs(question, [plan.image]), api_name="/reason")
    try:
        outcome.final = job.result(timeout=timeout_s)
        outcome.status = "completed"
    except QueueError as error:
        outcome.status, outcome.message = "refused", str(error)
    except AppError as error:
        outcome.message = str(error)
    except FutureTimeout:
        job.cancel()
        outcome.message = f"no answer within {timeout_s:g} s"
    except Exception as error:  # noqa: BLE001 - whatever else a client meets is an error outcome, not a dead thread
        outcome.message = f"{type(error).__name__}: {error}"
    outcome.total_s = time.time() - submitted
    if job.done():
        _read_updates(outcome, updates_of(job), submitted)
    return outcome


def _read_updates(outcome: Outcome, updates: list, submitted: float) -> None:
    """Fill in places, ranks, toasts and the times of the first output and the first token."""
    shown = None  # an output waits for the status update that carries its arrival time
    for update in updates:
        if update.type == "output":
            shown = update.outputs
            continue
        if update.code == Status.IN_QUEUE and update.rank is not None:
            outcome.queue_ranks.append((update.rank, update.queue_size))
        if update.log and update.log[1] == "warning":
            outcome.warnings.append(update.log[0])
        if shown is not None and update.time is not None:
            _note_output(outcome, shown, update.time.timestamp() - submitted)
            shown = None


def _note_output(outcome: Outcome, output: Any, at_s: float) -> None:
    if outcome.wait_s is None:
        outcome.wait_s = at_s
    if outcome.endpoint == "chat":
        chatbot, _, status_line = output
        outcome.places += [int(n) for n in PLACE.findall(status_line or "")]
        has_token = bool(chatbot) and _has_text(chatbot[-1])  # the live turn's thought or answer
    else:
        has_token = isinstance(output, dict) and bool(output.get("reasoning") or output.get("answer"))
    if has_token and outcome.first_token_s is None:
        outcome.first_token_s = at_s


def _has_text(message: dict) -> bool:
    return message["role"] == "assistant" and any(block.get("text") for block in _blocks(message))


def chat_user_texts(chatbot: list[dict]) -> list[str]:
    return [block["text"] for message in chatbot if message["role"] == "user"
            for block in _blocks(message) if block.get("type") == "text"]


def chat_user_files(chatbot: list[dict]) -> list[str]:
    files = [block["file"] for message in chatbot if message["role"] == "user"
             for block in _blocks(message) if block.get("type") == "file"]
    return [file["path"] if isinstance(file, dict) else file for file in files]


def chat_answers(chatbot: list[dict]) -> list[str]:
    """The answer of each turn (assistant messages that are not thoughts)."""
    return ["".join(block.get("text", "") for block in _blocks(message)) for message in chatbot
            if message["role"] == "assistant" and not message.get("metadata")]


def _blocks(message: dict) -> list[dict]:
    content = message["content"]
    return content if isinstance(content, list) else [content]


class QueueWatch:
    """Samples the number of events waiting in Gradio's queue (a context manager); `.longest` is the most seen."""

    def __init__(self, demo, every_s: float = 0.01):
        self.demo, self.every_s = demo, every_s
        self.longest = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="queue-watch", daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.longest = max(self.longest, len(self.demo._queue))
            self._stop.wait(self.every_s)

    def __enter__(self) -> "QueueWatch":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(5)
