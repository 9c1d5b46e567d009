"""Sixteen clients at once through the real server: each request is served or plainly refused, the
queue stays within its bound, waiting people are told their place, nobody gets another's answer,
and memory comes back.

Each client is its own gradio_client session on 127.0.0.1 and asks three questions about its own
dice puzzle (even clients as one conversation on /chat, odd clients on /reason) of the tiny model,
greedy with small budgets. An image's answer is the one the engine gives when asked alone, checked
to be right before the load starts, so an answer that went to the wrong client shows. Two queues:
one with room for everyone, one smaller than the crowd (Gradio refuses what does not fit). The
memory baseline is taken after a first round (every client asking once), so that what the load
adds on top of a warm server is what is measured. Every wait is bounded (`REQUEST_TIMEOUT_S` per
request and per client).
"""
from __future__ import annotations

from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest

from model.tiny.puzzles import answer_matches
from tests.app_drive import PuzzleFile, dice_puzzles, rss_mb, solo_answer
from tests.load_scenario import (Outcome, QueueWatch, chat_answers, chat_user_files, chat_user_texts, crowd,
                                 run_load)
from ui.page.handlers import ModelInfo
from ui.page.layout import build_app

CLIENTS, QUESTIONS = 16, 3
REQUEST_TIMEOUT_S = 120
MAX_RSS_GROWTH_MB = 300
VARIANTS = {
    "room for everyone": {"max_concurrency": 4, "max_queue": 64},
    "queue smaller than the crowd": {"max_concurrency": 3, "max_queue": 3},
}


@pytest.fixture(scope="module")
def puzzles(tiny_engine, tmp_path_factory) -> list[tuple[PuzzleFile, str]]:
    """One dice puzzle per client with the engine's answer alone, which is right; varied answers first."""
    candidates = dice_puzzles(tmp_path_factory.mktemp("dice"), CLIENTS + 4)
    known = [(puzzle, answer) for puzzle in candidates
             if answer_matches(puzzle.answer, answer := solo_answer(tiny_engine, puzzle))]
    assert len(known) >= CLIENTS, f"the tiny model answers only {len(known)} of {len(candidates)} dice puzzles right"
    return _varied_first(known)[:CLIENTS]


def _varied_first(known: list[tuple[PuzzleFile, str]]) -> list[tuple[PuzzleFile, str]]:
    """Round-robin over the expected answers, so that neighbours in the crowd expect different ones."""
    groups: dict[str, list] = {}
    for item in known:
        groups.setdefault(item[0].answer, []).append(item)
    ordered = []
    while any(groups.values()):
        ordered += [group.pop(0) for group in groups.values() if group]
    return ordered


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_sixteen_clients_are_served_or_refused_and_never_mixed_up(variant, tiny_engine, launch, puzzles):
    limits = VARIANTS[variant]
    demo = build_app(tiny_engine, ModelInfo("tiny", is_tiny=True, device="CPU"), **limits)
    url = launch(demo)
    plans = crowd([puzzle for puzzle, _ in puzzles], QUESTIONS)
    run_load(url, [replace(plan, questions=plan.questions[:1]) for plan in plans], REQUEST_TIMEOUT_S)
    baseline_mb = rss_mb()  # after a first round: threads, sessions and allocator arenas exist already
    with QueueWatch(demo) as watch:
        outcomes = run_load(url, plans, REQUEST_TIMEOUT_S)
    growth_mb = rss_mb() - baseline_mb
    print(f"\n{variant}: {dict(Counter(o.status for o in outcomes))}, longest queue {watch.longest}, "
          f"places shown {sorted({p for o in outcomes for p in o.places})}, RSS growth {growth_mb:.0f} MB")
    assert_served_or_refused(outcomes, refusals_possible=limits["max_queue"] < CLIENTS)
    assert_queue_bounded(outcomes, watch.longest, limits["max_queue"])
    assert_told_their_place(outcomes, in_engine_at_most=2 * limits["max_concurrency"])
    assert_nobody_mixed_up(outcomes, puzzles)
    assert growth_mb < MAX_RSS_GROWTH_MB


def assert_served_or_refused(outcomes: list[Outcome], refusals_possible: bool) -> None:
    assert len(outcomes) == CLIENTS * QUESTIONS
    errors = [(o.client, o.turn, o.message) for o in outcomes if o.status not in ("completed", "refused")]
    assert not errors
    refused = [o for o in outcomes if o.status == "refused"]
    assert all("Queue is full" in o.message for o in refused)
    assert any(o.status == "completed" for o in outcomes)
    assert bool(refused) == refusals_possible


def assert_queue_bounded(outcomes: list[Outcome], longest_seen: int, max_queue: int) -> None:
    assert longest_seen <= max_queue
    for outcome in outcomes:
        assert all(0 <= rank < size <= max_queue for rank, size in outcome.queue_ranks)


def assert_told_their_place(outcomes: list[Outcome], in_engine_at_most: int) -> None:
    """Gradio tells each accepted request its rank; a chat waiting for the model is shown its number.

    With at least three chats let in at once, one of them waits two whole answers, longer than the
    engine's first report of its place (`model.local.engine.QUEUE_POLL_S`).
    """
    completed = [o for o in outcomes if o.status == "completed"]
    assert all(o.queue_ranks for o in completed)
    places = [o.places for o in completed if o.places]
    assert places, "no chat was told its place in line while waiting for the model"
    for shown in places:
        assert all(1 <= place < in_engine_at_most for place in shown)
        assert shown == sorted(shown, reverse=True)  # first come, first served: a place only improves


def assert_nobody_mixed_up(outcomes: list[Outcome], puzzles: list[tuple[PuzzleFile, str]]) -> None:
    for outcome in outcomes:
        if outcome.status != "completed":
            continue
        puzzle, expected = puzzles[outcome.client]
        if outcome.endpoint == "reason":
            assert outcome.final["answer"] == expected, (outcome.client, outcome.final["answer"], expected)
            assert answer_matches(puzzle.answer, outcome.final["answer"])
        else:
            assert_own_conversation(outcome, outcomes, puzzle.path, expected)


def assert_own_conversation(outcome: Outcome, outcomes: list[Outcome], image: Path, expected: str) -> None:
    """The chat holds this client's answered questions in order, its own image, and its own first answer."""
    mine = [o for o in outcomes if o.client == outcome.client and o.turn <= outcome.turn and o.status == "completed"]
    chatbot = outcome.final[0]
    assert chat_user_texts(chatbot) == [o.question for o in mine]
    files = chat_user_files(chatbot)
    first_answered = mine[0].turn == 0
    assert len(files) == int(first_answered) and all(Path(f).name == image.name for f in files)
    if first_answered:
        first = chat_answers(chatbot)[0]
        assert first == expected or first.startswith(expected + "\n\n"), (outcome.client, first, expected)
