"""Blind votes on disk and the table they add up to (ui/store/votes.py): no Gradio, no model.

- The Wilson score interval against values worked out by hand, and its edges.
- Pairs: (X vs Y) and (Y vs X) are one pair; outcomes "A better"/"B better" land on the side that was
  shown as A or B; ties count as half, "both wrong" is left out; a changed vote counts once.
- The store: one line per vote under feedback/votes-<UTC day>.jsonl with the same keys on every line
  (read as one table by pyarrow's JSON reader, which `datasets.load_dataset("json")` uses), nothing
  written when feedback is off, no address, images kept only with "with-images".
"""
from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from ui.store.votes import (VOTE_KEYS, SideResult, VoteStore, image_digest, pair_key, read_votes, results_table,
                            table_jsonl, vote_line, vote_summary_lines, wilson_interval)

X = SideResult("tiny · thinking budget 0 · temperature 0", "3", 0, 0.0, 0.4, 3)
Y = SideResult("tiny · thinking budget no limit · temperature 0", "2", 30, 1.5, 2.0, 3)
NOON = datetime(2026, 12, 3, 12, 0, tzinfo=timezone.utc)


def test_wilson_interval_of_7_in_10_worked_by_hand():
    # p = 0.7, z = 1.96, z² = 3.8416, z²/n = 0.38416, 1 + z²/n = 1.38416
    # centre = (0.7 + 3.8416/20) / 1.38416 = 0.89208 / 1.38416 = 0.644492
    # half = 1.96 / 1.38416 * sqrt(0.7*0.3/10 + 3.8416/400) = 1.416021 * sqrt(0.030604) = 1.416021 * 0.174940
    #      = 0.247718  ->  (0.396774, 0.892210)
    low, high = wilson_interval(7, 10, z=1.96)
    assert low == pytest.approx(0.3968, abs=5e-5) and high == pytest.approx(0.8922, abs=5e-5)


def test_wilson_interval_edges():
    # 0 of 5, z = 1.959964: centre = (z²/10) / (1 + z²/5) = 0.384146 / 1.768292 = 0.217240 = half, so (0, 0.434482)
    low, high = wilson_interval(0, 5)
    assert low == pytest.approx(0.0, abs=1e-12) and high == pytest.approx(0.434482, abs=5e-6)
    assert wilson_interval(5, 5) == pytest.approx((1 - 0.434482, 1.0), abs=5e-6)  # symmetric
    assert wilson_interval(0, 0) == (0.0, 1.0)  # no votes: nothing known
    with pytest.raises(ValueError, match="between 0 and n"):
        wilson_interval(11, 10)


def vote(outcome: str, a: SideResult, b: SideResult, vote_id: str) -> dict:
    return vote_line(vote_id, outcome, (a, b), "How many?", ["d" * 64], "en", now=NOON)


def test_a_pair_is_the_same_whichever_side_was_shown_first():
    assert pair_key(X.description, Y.description) == pair_key(Y.description, X.description)
    first, second = vote("a", X, Y, "1"), vote("a", Y, X, "2")
    assert first["sides"] == second["sides"] == sorted([X.description, Y.description])
    # The pair's first side is the budget-0 one ("0" < "n"): shown as A in the first vote, as B in the second.
    assert (first["shown_as_a"], second["shown_as_a"]) == (0, 1)
    assert first["answers"] == second["answers"] == ["3", "2"]
    assert first["thinking_tokens"] == second["thinking_tokens"] == [0, 30]


def test_the_table_counts_wins_ties_and_both_wrong_per_pair():
    votes = [vote("a", X, Y, "1"), vote("b", Y, X, "2"), vote("a", Y, X, "3"), vote("tie", X, Y, "4"),
             vote("both_wrong", Y, X, "5")]
    [row] = results_table(votes)
    # X won votes 1 (shown as A, "A better") and 2 (shown as B, "B better"); Y won vote 3.
    assert row["wins"] == [2, 1] and row["ties"] == 1 and row["both_wrong"] == 1 and row["votes"] == 5
    # X's win rate: (2 + 0.5) / (2 + 1 + 1) = 0.625; "both wrong" is left out of n
    assert row["win_rate"] == 0.625
    assert row["interval_95"] == [round(v, 4) for v in wilson_interval(2.5, 4)]
    assert row["mean_thinking_tokens"] == [0, 30] and row["mean_thinking_s"] == [0, 1.5]


def test_pairs_are_kept_apart_and_the_most_voted_comes_first():
    other = SideResult("second backend · thinking budget 0 · temperature 0", "3", 4, 0.2, 0.5, 3)
    rows = results_table([vote("a", X, other, "1"), vote("a", X, Y, "2"), vote("b", X, Y, "3")])
    assert [row["votes"] for row in rows] == [2, 1]
    assert rows[0]["sides"] == sorted([X.description, Y.description])
    assert rows[1]["wins"] == [0, 1]  # "second backend" sorts before "tiny": X is the second side
    assert [json.loads(line)["votes"] for line in table_jsonl(rows).splitlines()] == [2, 1]


def test_a_bad_outcome_is_refused_with_the_choices():
    with pytest.raises(ValueError, match="a vote is one of a, b, tie, both_wrong; got 'maybe'"):
        vote("maybe", X, Y, "1")


# ---- the store -------------------------------------------------------------------------------------

def test_votes_go_to_one_file_per_utc_day_with_the_same_keys(tmp_path):
    store = VoteStore(tmp_path, "on")
    path = store.write(vote("a", X, Y, "1"))
    store.write(vote("tie", Y, X, "2"))
    assert path == tmp_path / "feedback" / "votes-2026-12-03.jsonl"
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert [list(line) for line in lines] == [list(VOTE_KEYS)] * 2
    assert lines[0]["kind"] == "vote" and lines[0]["time"] == "2026-12-03T12:00:00+00:00"
    text = path.read_text(encoding="utf-8")
    assert "127.0.0.1" not in text and "address" not in text and "client" not in text


def test_the_files_read_as_one_table(tmp_path):
    from pyarrow import json as arrow_json  # what datasets' "json" builder parses lines with

    store = VoteStore(tmp_path, "on")
    store.write(vote("a", X, Y, "1"))
    store.write(vote_line("2", "b", (Y, X), "Q", [], "zh", now=datetime(2026, 12, 4, 1, tzinfo=timezone.utc)))
    tables = [arrow_json.read_json(path) for path in sorted((tmp_path / "feedback").glob("votes-*.jsonl"))]
    assert len(tables) == 2 and tables[0].column_names == tables[1].column_names == list(VOTE_KEYS)


def test_feedback_off_writes_nothing(tmp_path):
    store = VoteStore(tmp_path, "off")
    assert not store.enabled and store.write(vote("a", X, Y, "1")) is None
    assert not (tmp_path / "feedback").exists()


def test_a_changed_vote_counts_once_with_its_last_outcome(tmp_path):
    store = VoteStore(tmp_path, "on")
    store.write(vote("a", X, Y, "same"))
    store.write(vote("both_wrong", X, Y, "same"))
    assert [v["outcome"] for v in read_votes(tmp_path)] == ["both_wrong"]
    lines = vote_summary_lines(tmp_path)
    assert len(lines) == 2 and lines[1].startswith(f"{X.description} vs {Y.description} | 1 | 0/0 | 0 | 1 | –")


def test_with_images_keeps_each_image_once_by_its_digest(tmp_path):
    image = tmp_path / "shapes.PNG"
    image.write_bytes(b"\x89PNG not really")
    digest = image_digest(image)
    store = VoteStore(tmp_path / "data", "with-images")
    line = vote_line("1", "a", (X, Y), "Q", [digest], "en", now=NOON)
    store.write(line, [str(image)])
    store.write({**line, "vote_id": "2"}, [str(image)])
    assert [p.name for p in (tmp_path / "data" / "feedback" / "images").iterdir()] == [f"{digest}.png"]
    VoteStore(tmp_path / "text", "on").write(line, [str(image)])
    assert not (tmp_path / "text" / "feedback" / "images").exists()


def test_lines_that_are_not_votes_are_skipped(tmp_path):
    store = VoteStore(tmp_path, "on")
    path = store.write(vote("a", X, Y, "1"))
    with path.open("a", encoding="utf-8") as out:
        out.write("not json\n" + json.dumps({"kind": "verdict"}) + "\n")
    assert [v["vote_id"] for v in read_votes(tmp_path)] == ["1"]
    assert vote_summary_lines(tmp_path / "empty") == ["no votes yet"]
