"""Fault drills through the real server on 127.0.0.1 (the engine-level versions are in test_engine.py
and test_remote.py):

- Stop mid-thinking, a cancelled job and a closed tab free the model within one decoding step:
  of the model's lm_head forward passes (one per generated token), at most `ONE_STEP` end after
  the signal (the Stop flag set; the engine's stream closed by the app).
- A worker crash or an out-of-memory error mid-answer reaches the person as a plain message, and
  the same session's next question is answered.
- A client that never reads its event stream holds nobody up: its answer runs to its end and the
  next person in line is answered.
- With RemoteEngine, the model server killed mid-answer and started again: the answer in flight
  ends with a clear error, a question while it is down is told it is unreachable, and the same
  session is answered once it is back.

Each drill prints what it measured. Every wait is bounded.
"""
from __future__ import annotations

import functools
import threading

import httpx
import pytest
import torch
from gradio_client import Client
from gradio_client.exceptions import AppError

from model.events import FinishReason
from tests.app_drive import (ObservedEngine, PassCounter, QueueProtocol, chat_args, dice_puzzles, reason_kwargs,
                             solo_answer, sse_messages, warnings_of)
from tests.conftest import slowed, wait_until
from tests.load_scenario import chat_answers, chat_user_texts
from ui.page.handlers import ModelInfo
from ui.page.layout import build_app
from ui.render.messages import finish_words

ONE_STEP = 2  # forward passes after the signal: the one in flight, and the one that sees the signal
STEP_S = 0.1  # each decoding step lasts this long in the Stop drills, so a drill can act mid-thinking
MID_THINKING = 5  # forward passes before a drill acts: the model is well into its thinking
WAIT_S = 60


@pytest.fixture(scope="module")
def observed(tiny_engine) -> ObservedEngine:
    return ObservedEngine(tiny_engine)


@pytest.fixture(scope="module")
def app(observed, launch):
    demo = build_app(observed, ModelInfo("tiny", is_tiny=True, device="CPU"))
    return demo, launch(demo)


@pytest.fixture(scope="module")
def puzzle(tmp_path_factory):
    return dice_puzzles(tmp_path_factory.mktemp("dice"), 1)[0]


def thinking_shown(job, endpoint: str) -> bool:
    outputs = job.outputs()
    if not outputs:
        return False
    if endpoint == "reason":
        return bool(outputs[-1]["reasoning"])
    chatbot = outputs[-1][0]
    return bool(chatbot) and chatbot[-1].get("metadata") and bool(chatbot[-1]["content"][0]["text"])


def mid_thinking(job, passes: PassCounter) -> bool:
    return passes.total >= MID_THINKING and thinking_shown(job, "chat")


def assert_engine_free(engine) -> None:
    wait_until(lambda: engine.active_worker is None and engine.lock.queue_length == 0, WAIT_S,
               "the model to be free")


def assert_answers_next(client: Client, engine, puzzle) -> None:
    final = client.predict(**reason_kwargs(puzzle.question, [puzzle.path]), api_name="/reason")
    assert final["answer"] == solo_answer(engine, puzzle)
    assert final["stats"]["finish_reason"] not in (FinishReason.ERROR.value, FinishReason.STOPPED.value)


# -- Stop, cancel, closed tab: the model is free within one step


def long_chat_mid_thinking(client, observed, puzzle, passes):
    """A /chat with no thinking limit, once its thinking streams: (job, the engine run serving it)."""
    earlier = len(observed.runs)
    job = client.submit(*chat_args(puzzle.question, [puzzle.path], no_limit=True, answer_budget=256),
                        api_name="/chat")
    run = observed.wait_for_run(earlier + 1, WAIT_S)
    wait_until(lambda: mid_thinking(job, passes), WAIT_S, "the thinking to stream")
    return job, run


def test_stop_mid_thinking_frees_the_model_within_one_step(app, observed, tiny_engine, puzzle):
    _, url = app
    client = Client(url, verbose=False)
    with slowed(tiny_engine, STEP_S), PassCounter(tiny_engine.loaded.model) as passes:
        job, run = long_chat_mid_thinking(client, observed, puzzle, passes)
        pressed = threading.Event()
        passes.watch("Stop pressed", pressed)
        passes.watch("Stop flag set", run.request.stop)
        pressed.set()
        client.predict(api_name="/stop")
        chatbot, _, stats = job.result(timeout=WAIT_S)
    print(f"\nStop: {passes.after('Stop flag set')} forward passes after the flag was set, "
          f"{passes.after('Stop pressed')} after /stop was sent ({passes.total} in all)")
    assert passes.after("Stop flag set") <= ONE_STEP
    assert stats.startswith(finish_words(FinishReason.STOPPED))
    assert run.ended.is_set() and not run.closed_early.is_set()  # a graceful end: stats and all
    assert_engine_free(tiny_engine)
    assert_answers_next(client, tiny_engine, puzzle)


def test_a_cancelled_job_frees_the_model_within_one_step(app, observed, tiny_engine, puzzle):
    _, url = app
    client = Client(url, verbose=False)
    with slowed(tiny_engine, STEP_S), PassCounter(tiny_engine.loaded.model) as passes:
        job, run = long_chat_mid_thinking(client, observed, puzzle, passes)
        cancelled = threading.Event()
        passes.watch("cancel sent", cancelled)
        passes.watch("stream closed", run.closed_early)
        worker = tiny_engine.active_worker
        cancelled.set()
        job.cancel()
        wait_until(run.closed_early.is_set, WAIT_S, "the app to close the engine's stream")
        wait_until(lambda: not worker.is_alive(), WAIT_S, "the generation thread to end")
    print(f"\ncancel: {passes.after('stream closed')} forward passes after the app closed the stream, "
          f"{passes.after('cancel sent')} after the client's cancel was sent ({passes.total} in all)")
    assert passes.after("stream closed") <= ONE_STEP
    assert_engine_free(tiny_engine)
    assert_answers_next(client, tiny_engine, puzzle)


def test_a_closed_tab_frees_the_model_within_one_step(app, observed, tiny_engine, puzzle):
    demo, url = app
    tab, earlier = QueueProtocol(url, demo), len(observed.runs)
    with slowed(tiny_engine, STEP_S), PassCounter(tiny_engine.loaded.model) as passes, httpx.Client() as http:
        tab.join("reason", [[], puzzle.question, -1, 256, 0.0, 0.95, 0])
        with tab.stream(http) as response:
            messages = sse_messages(response)  # kept: dropping the iterator would close the connection
            next(m for m in messages if m.get("msg") == "process_generating")  # thinking streams
            wait_until(lambda: passes.total >= MID_THINKING, WAIT_S, "a few thinking steps")
            run, worker = observed.wait_for_run(earlier + 1, WAIT_S), tiny_engine.active_worker
            closed = threading.Event()
            passes.watch("tab closed", closed)
            passes.watch("stream closed", run.closed_early)
            closed.set()
        wait_until(run.closed_early.is_set, WAIT_S, "the app to close the engine's stream")
        wait_until(lambda: not worker.is_alive(), WAIT_S, "the generation thread to end")
    print(f"\nclosed tab: {passes.after('stream closed')} forward passes after the app closed the stream, "
          f"{passes.after('tab closed')} after the connection closed ({passes.total} in all)")
    assert passes.after("stream closed") <= ONE_STEP
    assert_engine_free(tiny_engine)
    assert_answers_next(Client(url, verbose=False), tiny_engine, puzzle)


# -- failures mid-answer


def fail_mid_generation(monkeypatch, model, failure: Exception) -> None:
    """The model's third forward call (after the prefill and one decoding step) raises `failure`."""
    original, calls = model.forward, {"n": 0}

    @functools.wraps(original)  # generate() checks its arguments against forward's signature
    def failing_forward(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise failure
        return original(*args, **kwargs)

    monkeypatch.setattr(model, "forward", failing_forward)


@pytest.mark.parametrize("failure, words", [
    (RuntimeError("internal detail 7f3a"), "RuntimeError"),
    (torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"), "out of memory"),
], ids=["crash", "out-of-memory"])
def test_a_failure_mid_answer_is_a_plain_message_and_the_chat_goes_on(app, tiny_engine, puzzle, monkeypatch,
                                                                       failure, words):
    _, url = app
    client = Client(url, verbose=False)
    fail_mid_generation(monkeypatch, tiny_engine.loaded.model, failure)
    job = client.submit(*chat_args(puzzle.question, [puzzle.path]), api_name="/chat")
    chatbot, box, _ = job.result(timeout=WAIT_S)
    monkeypatch.undo()
    toasts = warnings_of(job)
    print(f"\n{failure.__class__.__name__} in the chat: {toasts}")
    assert len(toasts) == 1 and words in toasts[0]
    assert "7f3a" not in toasts[0] and "Tried to allocate" not in toasts[0] and "Traceback" not in toasts[0]
    assert chatbot == [] and box.get("value", box)["text"] == puzzle.question  # the question is given back
    chatbot, _, _ = client.predict(*chat_args(puzzle.question, [puzzle.path]), api_name="/chat")
    assert chat_user_texts(chatbot) == [puzzle.question]
    assert chat_answers(chatbot) == [solo_answer(tiny_engine, puzzle)]


@pytest.mark.parametrize("failure, words", [
    (RuntimeError("internal detail 7f3a"), "RuntimeError"),
    (torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"), "out of memory"),
], ids=["crash", "out-of-memory"])
def test_a_failure_mid_answer_on_the_api_is_a_plain_error(app, tiny_engine, puzzle, monkeypatch, failure, words):
    _, url = app
    client = Client(url, verbose=False)
    fail_mid_generation(monkeypatch, tiny_engine.loaded.model, failure)
    with pytest.raises(AppError) as caught:
        client.predict(**reason_kwargs(puzzle.question, [puzzle.path]), api_name="/reason")
    monkeypatch.undo()
    message = str(caught.value)
    print(f"\n{failure.__class__.__name__} on /reason: {message}")
    assert words in message and "7f3a" not in message and "Traceback" not in message
    assert_engine_free(tiny_engine)
    assert_answers_next(client, tiny_engine, puzzle)


# -- a client that never reads


def test_a_client_that_never_reads_its_stream_holds_nobody_up(app, observed, tiny_engine, puzzle):
    demo, url = app
    idle, earlier = QueueProtocol(url, demo), len(observed.runs)
    idle.join("reason", [[], "Tell me about the two dice.", 64, 64, 0.0, 0.95, 0])
    unread = idle.open_unread()
    try:
        idle_run = observed.wait_for_run(earlier + 1, WAIT_S)
        other = Client(url, verbose=False).predict(**reason_kwargs(puzzle.question, [puzzle.path]),
                                                   api_name="/reason")
        wait_until(idle_run.ended.is_set, WAIT_S, "the unread answer to run to its end")
    finally:
        unread.close()
    print(f"\nunread stream: its answer ran to its end; the next client got {other['answer']!r}")
    assert other["answer"] == solo_answer(tiny_engine, puzzle)
    assert not idle_run.closed_early.is_set()
    assert_engine_free(tiny_engine)


# -- the model server dies mid-answer and comes back (RemoteEngine)


@pytest.fixture(scope="module")
def ponderer(tiny_folder, tmp_path_factory):
    """A scripted copy of the tiny model that thinks until stopped; it answers only through a budget."""
    from model.local.loader import load
    from model.registry import ModelSpec, by_name
    from tests.remote_server import script_model

    spec = ModelSpec(**{**by_name("tiny").__dict__, "source": str(tiny_folder)})
    return script_model(load(spec, device="cpu"), tmp_path_factory.mktemp("served") / "ponderer", cycle=True)


@pytest.fixture(scope="module")
def model_server(ponderer, tmp_path_factory):
    from tests.remote_server import Server

    server = Server(tmp_path_factory.mktemp("server")).start()
    try:
        yield server
    finally:
        server.stop()


def test_model_server_killed_mid_answer_then_restarted(model_server, ponderer, launch):
    from model.remote.engine import RemoteEngine

    remote = RemoteEngine(model_server.endpoint, model=str(ponderer.folder), timeout_s=20, template="deepseek_r1")
    url = launch(build_app(remote, ModelInfo("scripted ponderer", device="remote")))
    client = Client(url, verbose=False)
    first = "What is the answer?"
    chatbot, _, _ = client.predict(*chat_args(first, thinking_budget=3), api_name="/chat")
    assert chat_answers(chatbot) == [ponderer.answer]

    job = client.submit(*chat_args("And the next one?", no_limit=True), api_name="/chat")
    wait_until(lambda: thinking_shown(job, "chat"), WAIT_S, "the thinking to stream")
    model_server.kill()
    chatbot, box, _ = job.result(timeout=WAIT_S)
    toasts = warnings_of(job)
    print(f"\nserver killed mid-answer: {toasts}")
    assert len(toasts) == 1 and "closed the connection in the middle of the answer" in toasts[0]
    assert chat_user_texts(chatbot) == [first] and box.get("value", box)["text"] == "And the next one?"

    with pytest.raises(AppError, match="is not reachable") as caught:
        client.predict(**reason_kwargs(first, thinking_budget=3), api_name="/reason")
    print(f"while it is down: {caught.value}")

    model_server.start()
    chatbot, _, _ = client.predict(*chat_args("And the next one?", thinking_budget=3), api_name="/chat")
    assert chat_user_texts(chatbot) == [first, "And the next one?"]
    assert chat_answers(chatbot) == [ponderer.answer, ponderer.answer]
