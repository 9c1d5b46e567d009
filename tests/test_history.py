"""ui/store/history.py: TurnRecords round-trip through JSON, the store keeps its bounds (count and bytes,
oldest first), a malformed store is dropped piece by piece, missing images become a note, the
secret is made once with mode 0600; ui/render/replay.py: the replay keeps the recorded pace and ends as
the turn ended."""
from __future__ import annotations

import json
import stat

import pytest

from model.events import FinishReason
from ui.store.history import (bounded, empty_store, find, listing, merged_turns, parsed, restored, saved,
                              size_of, state_secret, title_of, turn_from_dict, turn_to_dict, with_pending)
from ui.i18n.words import Words
from ui.render.messages import turn_messages
from ui.store.turns import RestoredTurn, TurnRecord
from ui.render.replay import phase_times, replay_frames

STATS = {"prompt_tokens": 40, "image_tiles": [5], "thinking_tokens": 30, "answer_tokens": 6, "ttft_s": 0.5,
         "thinking_s": 3.0, "total_s": 4.0, "tokens_per_s": 9.0, "budget_fired": False,
         "finish_reason": "answered", "seed": 7}


def record(question="How many red shapes?", answer="3", thinking="I count them one by one.", images=()):
    return TurnRecord(question=question, images=tuple(images), thinking=thinking, answer=answer,
                      thinking_tokens=30, thought_s=3.0, budget_fired=False,
                      finish_reason=FinishReason.ANSWERED, stats=dict(STATS))


def test_a_turn_survives_json_with_its_settings(tmp_path):
    image = tmp_path / "a.png"
    image.write_bytes(b"png")
    original = record(images=[str(image)])
    data = json.loads(json.dumps(turn_to_dict(original, {"temperature": 0.3})))
    assert data["settings"] == {"temperature": 0.3} and data["finish_reason"] == "answered"
    back = turn_from_dict(data, lambda path: True)
    assert back == original and type(back) is TurnRecord


def test_a_missing_image_becomes_a_note_and_is_never_sent_to_the_model(tmp_path):
    kept = tmp_path / "kept.png"
    kept.write_bytes(b"png")
    data = turn_to_dict(record(images=[str(kept), str(tmp_path / "gone.png")]))
    back = turn_from_dict(data, lambda path: path == str(kept))
    assert isinstance(back, RestoredTurn)
    assert back.images == (str(kept),) and back.as_turn().images == (str(kept),)
    messages = turn_messages(back)
    assert messages[0]["content"]["text"] == "🖼️ *image no longer available*"
    assert messages[1]["content"] == {"path": str(kept)}
    assert messages[2]["content"]["text"] == "How many red shapes?"  # the text stays
    assert "图片已不可用" in turn_messages(back, Words("zh"))[0]["content"]["text"]
    assert turn_to_dict(back)["images"] == [str(kept), str(tmp_path / "gone.png")]  # still noted when saved again


@pytest.mark.parametrize("bad", [None, "text", {"question": 3}, {"images": "/etc/passwd"},
                                 {"question": "q", "finish_reason": "exploded"}, {"thinking_tokens": "many"}])
def test_a_malformed_turn_is_refused(bad):
    with pytest.raises((ValueError, TypeError)):
        turn_from_dict(bad, lambda path: True)


def test_broken_stats_are_dropped_not_drawn():
    data = {**turn_to_dict(record()), "stats": {"finish_reason": "answered"}}  # the stats line needs more
    assert turn_from_dict(data, lambda path: True).stats == {}


def test_parsed_keeps_well_formed_conversations_newest_first():
    good_old = {"id": "a", "title": "old", "updated": 1.0, "turns": []}
    good_new = {"id": "b", "title": "new", "updated": 2.0, "turns": []}
    value = {"version": 1, "conversations": [good_old, {"id": 5}, "junk", good_new, {"id": "c", "turns": {}}]}
    assert [conv["id"] for conv in parsed(value)["conversations"]] == ["b", "a"]
    assert parsed("not a store") == empty_store() and parsed({"version": 99}) == empty_store()


def test_saving_puts_the_conversation_first_and_an_empty_one_is_removed():
    store = saved(empty_store(), "a", [turn_to_dict(record("first question"))], now=1.0)
    store = saved(store, "b", [turn_to_dict(record("second"))], now=2.0)
    store = saved(store, "a", [turn_to_dict(record("first question")), turn_to_dict(record("more"))], now=3.0)
    assert [conv["id"] for conv in store["conversations"]] == ["a", "b"]
    assert find(store, "a")["created"] == 1.0 and find(store, "a")["title"] == "first question"
    assert [conv["id"] for conv in saved(store, "a", [], now=4.0)["conversations"]] == ["b"]


def test_a_pending_answer_is_reported_once_restored_and_cleared_by_the_next_save():
    store = saved(empty_store(), "a", [turn_to_dict(record("one"))], now=1.0)
    store = with_pending(store, "a", "two?", now=2.0)
    records, pending = restored(find(store, "a"), lambda path: True)
    assert [r.question for r in records] == ["one"] and pending == "two?"
    store = saved(store, "a", [turn_to_dict(record("one")), turn_to_dict(record("two?"))], now=3.0)
    assert restored(find(store, "a"), lambda path: True)[1] is None


def test_the_store_keeps_at_most_the_count_dropping_the_oldest():
    store = empty_store()
    for n in range(8):
        store = saved(store, f"c{n}", [turn_to_dict(record(f"question {n}"))], now=float(n))
    kept = bounded(store, max_conversations=5, max_bytes=10**7)
    assert [conv["id"] for conv in kept["conversations"]] == ["c7", "c6", "c5", "c4", "c3"]


def test_the_store_keeps_within_its_bytes_dropping_the_oldest():
    store = empty_store()
    for n in range(10):
        store = saved(store, f"c{n}", [turn_to_dict(record(thinking="x" * 10_000))], now=float(n))
    kept = bounded(store, max_conversations=50, max_bytes=35_000)
    assert size_of(kept) <= 35_000
    assert [conv["id"] for conv in kept["conversations"]] == ["c9", "c8", "c7"]


def test_one_conversation_too_large_loses_old_turns_then_its_trace_is_cut():
    turns = [turn_to_dict(record(f"q{n}", thinking="y" * 20_000)) for n in range(3)]
    store = saved(empty_store(), "big", turns, now=1.0)
    kept = bounded(store, max_bytes=15_000)
    conv = kept["conversations"][0]
    assert size_of(kept) <= 15_000
    assert [turn["question"] for turn in conv["turns"]] == ["q2"]  # the newest turn stays, shortened
    assert conv["turns"][0]["thinking"].endswith(" …") and conv["turns"][0]["answer"] == "3"


def test_settings_follow_the_turn_they_were_answered_with():
    first, second = record("q1"), record("q2")
    stored = merged_turns((first,), [], {"temperature": 0.1})
    turns = merged_turns((first, second), stored, {"temperature": 0.9})
    assert [turn["settings"] for turn in turns] == [{"temperature": 0.1}, {"temperature": 0.9}]
    regenerated = record("q2", answer="4")
    assert merged_turns((first, regenerated), turns, {"temperature": 0.5})[1]["settings"] == {"temperature": 0.5}


def test_titles_and_the_listing():
    assert title_of("  How many\n red   shapes? ") == "How many red shapes?"
    long = title_of("word " * 40)
    assert len(long) == 60 and long.endswith("…")
    store = saved(empty_store(), "a", [turn_to_dict(record(""))], now=0.0)
    (label, conv_id), = listing(store)
    assert conv_id == "a" and label.startswith("(images only) · ") and "answering" not in label
    assert listing(with_pending(store, "a", "more?"))[0][0].endswith(" · answering…")


def test_the_secret_is_made_once_readable_by_its_owner_alone(tmp_path):
    folder = tmp_path / "data"
    first = state_secret(folder, environ={})
    assert len(first) >= 40 and state_secret(folder, environ={}) == first
    assert stat.S_IMODE((folder / "state-secret").stat().st_mode) == 0o600
    assert state_secret(folder, environ={"R1V_STATE_SECRET": "from-env"}) == "from-env"


def test_the_replay_keeps_the_recorded_pace_and_ends_as_the_turn_ended():
    turn = record(thinking="abcdefghij" * 5, answer="The answer is 3.")
    times = phase_times(turn)
    assert (times.first_token_s, times.thought_s, times.total_s) == (0.5, 3.0, 4.0)
    frames = [(at, live.messages(), live.title) for at, live in replay_frames(turn, fps=10)]
    ats = [at for at, _, _ in frames]
    assert ats == sorted(ats) and ats[-1] == pytest.approx(4.0)
    halfway = next(messages for at, messages, _ in frames if at >= 2.0)  # thinking half done at 2 s
    assert 15 <= len(halfway[-1]["content"]["text"]) <= 35 and halfway[-1]["metadata"]["status"] == "pending"
    final_at, final, title = frames[-1]
    assert final[-1]["content"]["text"] == "The answer is 3." and final[-2]["content"]["text"] == turn.thinking
    assert title.startswith("Thought for 3.0 s")


def test_a_long_recording_is_played_within_the_cap():
    turn = TurnRecord("q", (), "t" * 100, "a" * 50, 400, 90.0, False, FinishReason.ANSWERED,
                      {**STATS, "ttft_s": 1.0, "total_s": 120.0})
    ats = [at for at, _ in replay_frames(turn, cap_s=20.0, fps=5)]
    assert ats[-1] == pytest.approx(20.0) and len(ats) == 101


def test_an_unwritable_data_folder_still_gives_a_secret(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    secret = state_secret(blocker / "data", environ={})
    assert len(secret) >= 40 and secret != state_secret(blocker / "data", environ={})  # for this run only
