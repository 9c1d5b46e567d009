"""The Compare tab's blind vote, through the page's own endpoints, on the bundled tiny model.

- Blind: until both answers are done no update shows an answer, a thought or which settings a column
  has (both columns carry one progress line); then both appear labelled A and B only. A vote before
  that is refused with a message; after it the vote is on disk, the reveal names the settings of A
  and B (matching the line's `shown_as_a`), the Results table counts it, and a second vote changes it.
- With --feedback off the vote endpoints refuse, nothing is written, and a blind request runs as an
  ordinary comparison.
- Over many comparisons both settings are shown as A (the draw is random, not fixed).
"""
from __future__ import annotations

import json

import pytest
from gradio_client import Client
from gradio_client.exceptions import AppError

from model.events import GenerationOptions
from tests.test_compare import answer_of, compare, thinking_of
from ui.page.handlers import ModelInfo
from ui.store.history import HistoryOptions
from ui.page.layout import build_app

ZERO, UNLIMITED = "tiny · thinking budget 0 · temperature 0", "tiny · thinking budget no limit · temperature 0"


def app(tiny_engine, folder, feedback: str):
    defaults = GenerationOptions.validated(thinking_budget=8, answer_budget=32, max_tiles=4)
    history = HistoryOptions(folder=folder, secret="s").with_feedback(feedback)
    return build_app(tiny_engine, ModelInfo("tiny", is_tiny=True, defaults=defaults), history=history)


@pytest.fixture(scope="module")
def voting(tiny_engine, launch, tmp_path_factory):
    folder = tmp_path_factory.mktemp("data")
    return Client(launch(app(tiny_engine, folder, "on")), verbose=False), folder


def vote_lines(folder) -> list[dict]:
    return [json.loads(line) for path in sorted((folder / "feedback").glob("votes-*.jsonl"))
            for line in path.read_text(encoding="utf-8").splitlines()]


def test_a_blind_comparison_hides_the_settings_until_the_vote(voting):
    client, folder = voting
    with pytest.raises(AppError, match="Nothing to vote on"):
        client.predict(api_name="/compare_vote_a")
    job = compare(client, budget_a="0", budget_b="no limit", blind=True)
    updates = list(job)
    chat_a, stats_a, chat_b, stats_b, agreement = job.result(timeout=120)
    progress = ["answers ready" in update[1] for update in updates]
    assert progress[0] and not progress[-1] and progress == sorted(progress, reverse=True)  # progress, then answers
    waiting = [update for update, shown in zip(updates, progress) if shown]
    for update in waiting:  # until both are done: the question and one shared progress line
        assert update[1] == update[3] and not any(m["role"] == "assistant" for m in update[0] + update[2])
    for message in chat_a + chat_b:  # a thought's title would tell its tokens and whether a budget fired
        assert (message.get("metadata") or {}).get("title") in (None, "Thought (tokens and time shown after the vote)")
    for line in (stats_a, stats_b, *(u[1] for u in updates), *(u[3] for u in updates)):
        assert "budget" not in line and "tiny" not in line
    assert stats_a.startswith("**A**") and stats_b.startswith("**B**") and "vote to see" in stats_a
    assert answer_of(chat_a).strip() and answer_of(chat_b).strip() and agreement
    assert not vote_lines(folder)  # nothing stored until a vote

    title_a, title_b, shown_a, shown_b, reveal, table = client.predict(api_name="/compare_vote_b")
    [line] = vote_lines(folder)
    assert line["sides"] == [ZERO, UNLIMITED] and line["outcome"] == "b" and "address" not in line
    a_side = line["sides"][line["shown_as_a"]]
    assert title_a == f"### A · {a_side}" and a_side in reveal and "B better" in reveal
    assert "thinking budget" in shown_a and "thinking budget" in shown_b  # the full stats lines now
    # The unlimited column thought; budget 0 did not: the stored tokens follow the sides, not the labels.
    assert line["thinking_tokens"][0] == 0 and line["thinking_tokens"][1] > 0
    chats = {a_side: chat_a, line["sides"][1 - line["shown_as_a"]]: chat_b}
    assert line["answers"] == [answer_of(chats[ZERO]), answer_of(chats[UNLIMITED])]
    assert bool(thinking_of(chats[UNLIMITED]))
    b_won = [0, 0]
    b_won[1 - line["shown_as_a"]] = 1
    assert f"| {ZERO} | {UNLIMITED} | 1 | {b_won[0]} / {b_won[1]} | 0 | 0 |" in table

    *_, table = client.predict(api_name="/compare_vote_both_wrong")  # the same comparison: the vote changes
    assert [line["vote_id"] for line in vote_lines(folder)] == [line["vote_id"]] * 2
    assert f"| {ZERO} | {UNLIMITED} | 1 | 0 / 0 | 0 | 1 |" in table


def test_both_settings_get_shown_as_a(voting):
    client, folder = voting
    shown = set()
    for _ in range(12):  # the chance that 12 fair draws all agree is 1 in 2048
        compare(client, budget_a="0", budget_b="8", blind=True).result(timeout=120)
        client.predict(api_name="/compare_vote_tie")
        shown.add(vote_lines(folder)[-1]["shown_as_a"])
        if len(shown) == 2:
            break
    assert shown == {0, 1}


def test_an_open_comparison_shows_its_settings_and_cannot_be_voted_on(voting):
    client, _ = voting
    _, stats_a, _, stats_b, _ = compare(client, budget_a="0", budget_b="8").result(timeout=120)
    assert "thinking budget 0" in stats_a and "thinking budget 8" in stats_b
    with pytest.raises(AppError, match="Nothing to vote on"):
        client.predict(api_name="/compare_vote_a")


def test_with_feedback_off_nothing_is_written_and_a_blind_request_is_an_open_one(tiny_engine, launch, tmp_path):
    client = Client(launch(app(tiny_engine, tmp_path, "off")), verbose=False)
    _, stats_a, _, stats_b, _ = compare(client, budget_a="0", budget_b="8", blind=True).result(timeout=120)
    assert "thinking budget 0" in stats_a and "thinking budget 8" in stats_b
    with pytest.raises(ValueError, match="compare_vote_a"):  # no such endpoint
        client.predict(api_name="/compare_vote_a")
    assert not (tmp_path / "feedback").exists()
