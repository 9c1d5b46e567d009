"""The versions of a conversation's turns (ui/store/branches.py) and how the store keeps them
(ui/store/history.py): growing on answers, editing an earlier turn, regenerating, undo, switching,
and the JSON round trip, including what a tampered store reads back as."""
from __future__ import annotations

import json

import pytest

from model.events import FinishReason
from ui.store.branches import (ON_PATH, Node, branching, counts, from_data, grown, path, pruned, switched, to_data,
                               tree_of)
from ui.store.history import branches_of, find, saved, stored_turns, turn_from_dict, turn_to_dict
from ui.store.turns import TurnRecord


def record(question: str, answer: str = "an answer") -> TurnRecord:
    return TurnRecord(question=question, images=(), thinking="hmm", answer=answer, thinking_tokens=3,
                      thought_s=0.5, budget_fired=False, finish_reason=FinishReason.ANSWERED)


@pytest.fixture
def talk():
    """Two questions, then the first edited and asked again: (tree, q1, q2, q1 edited)."""
    q1, q2, edited = record("one"), record("two"), record("one, edited")
    tree = grown(grown(None, (q1,)), (q1, q2))
    tree = grown(tree, (edited,))  # the page shows turns before the edited one, then the new answer
    return tree, q1, q2, edited


def test_an_edited_first_turn_is_a_second_version_and_the_first_keeps_its_follow_up(talk):
    tree, q1, q2, edited = talk
    assert path(tree) == (edited,)
    assert counts(tree, 1) == [(2, 2)] and branching(tree, 1) == [(0, 2, 2)]
    back = switched(tree, 0, 0)
    assert path(back) == (q1, q2) and branching(back, 2) == [(0, 1, 2)]
    assert path(switched(back, 0, 1)) == (edited,)


def test_a_version_remembers_which_follow_up_was_shown(talk):
    tree, q1, q2, edited = talk
    again = record("two")  # the same text: still a version of its own (identity, not equality)
    tree = grown(switched(tree, 0, 0), (q1, again))
    assert counts(tree, 2) == [(1, 2), (2, 2)]
    tree = switched(tree, 1, 0)
    tree = switched(switched(tree, 0, 1), 0, 0)  # away to the edited version and back
    assert path(tree) == (q1, q2)


def test_regenerate_adds_a_version_at_the_last_turn(talk):
    tree, q1, q2, edited = talk
    tree = switched(tree, 0, 0)
    regenerated = record("two", "another answer")
    tree = grown(tree, (q1, regenerated))
    assert path(tree) == (q1, regenerated) and counts(tree, 2) == [(1, 2), (2, 2)]
    assert path(switched(tree, 1, 0)) == (q1, q2)


def test_growing_is_idempotent_and_a_shorter_path_leaves_the_tree_as_it_was(talk):
    tree, q1, q2, edited = talk
    back = switched(tree, 0, 0)
    assert grown(grown(back, (q1, q2)), (q1, q2)) == back
    assert grown(back, (q1,)) == back  # a question being edited: its later turns are kept
    assert grown(back, ()) == back


def test_undo_drops_the_last_turn_but_keeps_its_other_versions(talk):
    tree, q1, q2, edited = talk
    assert path(pruned(switched(tree, 0, 0), 1)) == (q1,)
    assert pruned(tree, 0).versions == (tree.versions[0],)  # the edited one went, the first stayed
    assert pruned(switched(tree, 0, 0), 0) == switched(tree, 0, 0)  # a turn with follow-ups is never dropped


def test_switching_is_clamped_to_the_versions_there_are(talk):
    tree, q1, q2, edited = talk
    assert path(switched(tree, 0, 9)) == (edited,) and path(switched(tree, 0, -3)) == (q1, q2)
    assert switched(tree, 5, 0) == tree


def encode(item: TurnRecord) -> dict:
    return turn_to_dict(item)


def decode(data: dict) -> TurnRecord:
    return turn_from_dict(data, lambda image: True)


def test_the_tree_round_trips_through_json_with_the_shown_path_as_a_reference(talk):
    tree, q1, q2, edited = talk
    back = switched(tree, 0, 0)
    data = json.loads(json.dumps(to_data(back, (q1, q2), encode)))
    assert data["shown"] == 0 and data["versions"][0]["turn"] == ON_PATH
    assert data["versions"][1]["turn"]["question"] == "one, edited"
    restored = (decode(encode(q1)), decode(encode(q2)))
    again = from_data(data, restored, decode)
    assert path(again) == restored and all(a is b for a, b in zip(path(again), restored))
    assert [item.question for item in path(switched(again, 0, 1))] == ["one, edited"]
    assert to_data(tree_of((q1, q2)), (q1, q2), encode) is None  # nothing beyond the path: nothing kept


@pytest.mark.parametrize("data", [
    "nonsense", {"versions": "x"}, {"shown": 5, "versions": [{"turn": "path", "next": {"versions": []}}]},
    {"shown": 0, "versions": [{"turn": {"question": 3}, "next": {"versions": []}}]},
    {"shown": 0, "versions": [{"turn": "path"}]},
    {"shown": 1, "versions": [{"turn": "path", "next": {"versions": []}}, {"turn": {"question": "x"}, "next": {}}]},
    {"shown": True, "versions": []},
])
def test_a_malformed_tree_reads_back_as_the_shown_path_alone(data):
    shown = (record("one"),)
    tree = from_data(data, shown, decode)
    assert path(tree) == shown and counts(tree, 1) == [(1, 1)]


def test_a_tree_too_deep_to_read_is_the_shown_path_alone():
    level: dict = {"shown": 0, "versions": []}
    for _ in range(5_000):
        level = {"shown": 0, "versions": [{"turn": {"question": "q"}, "next": level}]}
    shown = (record("one"),)
    assert path(from_data(level, shown, decode)) == shown


def test_the_store_keeps_the_branches_and_reads_them_back(talk):
    tree, q1, q2, edited = talk
    back = switched(tree, 0, 0)
    turns = [turn_to_dict(q1), turn_to_dict(q2)]
    store = saved({"version": 1, "conversations": []}, "c", turns, branches=to_data(back, (q1, q2), encode))
    conv = json.loads(json.dumps(find(store, "c")))
    restored = tuple(decode(turn) for turn in conv["turns"])
    again = branches_of(conv, restored, lambda image: True)
    assert counts(again, 2) == [(1, 2), (1, 1)]
    assert [turn["question"] for turn in stored_turns(conv)] == ["one", "two", "one, edited"]
    assert isinstance(Node(), Node)
