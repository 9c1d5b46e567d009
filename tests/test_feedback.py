"""Verdicts on disk and what they add up to (ui/store/feedback.py), and the chat's side of them
(ui/page/verdicts.py: which turn a liked message belongs to, the verdict's id): no model.

- One line per verdict under feedback/verdicts-<UTC day>.jsonl, the same keys on every line (read as
  one table by pyarrow's JSON reader, which `datasets.load_dataset("json")` uses), no address;
  nothing written when feedback is off; images kept only with "with-images".
- A change keeps the verdict's id and counts once; a withdrawal removes it from what is read back.
- `--feedback-summary` prints the counts per day, verdict and reason, model and settings, and the
  blind-vote table, from the files alone.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest

from model.events import FinishReason
from ui.page.verdicts import turn_at, verdict_id
from ui.render.messages import turn_messages
from ui.store.feedback import (VERDICT_KEYS, VerdictStore, feedback_summary_lines, read_verdicts, verdict_line)
from ui.store.turns import TurnRecord
from ui.store.votes import SideResult, VoteStore, image_digest, vote_line

ROOT = Path(__file__).resolve().parent.parent
NOON = datetime(2026, 12, 3, 12, 0, tzinfo=timezone.utc)
STATS = {"prompt_tokens": 300, "image_tiles": [5], "thinking_tokens": 12, "answer_tokens": 3, "ttft_s": 0.1,
         "thinking_s": 0.5, "total_s": 0.7, "tokens_per_s": 20.0, "budget_fired": False,
         "finish_reason": "answered", "seed": 7}


def record(question: str = "What is shown?", answer: str = "A cat.", thinking: str = "Look at it.",
           images: tuple[str, ...] = ()) -> TurnRecord:
    return TurnRecord(question, images, thinking, answer, 12, 0.5, False, FinishReason.ANSWERED, dict(STATS))


def line(verdict_id_: str = "v1", verdict: str | None = "down", now: datetime = NOON, **extra) -> dict:
    fields = dict(source="chat", language="en", model="tiny", model_version="sha256:abc",
                  settings={"temperature": 0.6, "thinking_budget": 64}, image_digests=[], reason="wrong_answer",
                  comment="It is a dog.", now=now)
    fields.update(extra)
    return verdict_line(verdict_id_, verdict, record(), **fields)


def test_a_verdict_line_holds_what_a_model_team_needs_and_no_address():
    stored = line()
    assert tuple(stored) == VERDICT_KEYS
    assert stored["verdict"] == "down" and stored["kind"] == "verdict" and stored["reason"] == "wrong_answer"
    assert stored["question"] == "What is shown?" and stored["answer"] == "A cat." and stored["thinking"] == "Look at it."
    assert stored["seed"] == 7 and stored["tiles"] == [5] and stored["stats"]["total_s"] == 0.7
    assert stored["settings"]["temperature"] == 0.6 and stored["model_version"] == "sha256:abc"
    assert stored["time"] == "2026-12-03T12:00:00+00:00"
    assert not any(key in stored for key in ("address", "ip", "session"))


@pytest.mark.parametrize("bad, message", [(dict(verdict="meh"), "a verdict is one of"),
                                          (dict(reason="ugly"), "a reason is one of"),
                                          (dict(source="email"), "a source is one of")])
def test_unknown_values_are_refused(bad, message):
    verdict = bad.pop("verdict", "up")
    with pytest.raises(ValueError, match=message):
        line(verdict=verdict, **bad)


def test_a_withdrawal_keeps_no_reason_and_a_long_comment_is_cut():
    gone = line(verdict=None)
    assert gone["kind"] == "withdrawn" and gone["verdict"] is None and gone["reason"] == "" and gone["comment"] == ""
    assert len(line(comment="x" * 5_000)["comment"]) == 1_000


def test_the_store_writes_one_file_a_day_and_reads_back_the_standing_verdicts(tmp_path):
    store = VerdictStore(tmp_path, "on")
    path = store.write(line("v1", "down"))
    store.write(line("v1", "up", reason=""))  # changed: the same id
    store.write(line("v2", "down", now=NOON.replace(day=4)))
    store.write(line("v2", None, now=NOON.replace(day=4)))  # withdrawn
    store.write(line("v3", "up", now=NOON.replace(day=4)))
    assert path == tmp_path / "feedback" / "verdicts-2026-12-03.jsonl"
    assert sorted(p.name for p in (tmp_path / "feedback").glob("*.jsonl")) == ["verdicts-2026-12-03.jsonl",
                                                                                 "verdicts-2026-12-04.jsonl"]
    lines = [json.loads(text) for p in sorted((tmp_path / "feedback").glob("*.jsonl"))
             for text in p.read_text(encoding="utf-8").splitlines()]
    assert len(lines) == 5 and all(tuple(item) == VERDICT_KEYS for item in lines)
    assert [(item["verdict_id"], item["verdict"]) for item in read_verdicts(tmp_path)] == [("v1", "up"), ("v3", "up")]
    import pyarrow.json as arrow_json
    tables = [arrow_json.read_json(p) for p in sorted((tmp_path / "feedback").glob("verdicts-*.jsonl"))]
    assert [table.num_rows for table in tables] == [2, 3] and tables[0].column_names == list(VERDICT_KEYS)


def test_off_writes_nothing_and_images_are_kept_only_when_asked(tmp_path):
    assert VerdictStore(tmp_path / "off", "off").write(line()) is None
    assert not (tmp_path / "off").exists()
    image = tmp_path / "cat.PNG"
    image.write_bytes(b"\x89PNG not really")
    digest = image_digest(image)
    VerdictStore(tmp_path / "text", "on").write(line(image_digests=[digest]), [str(image)])
    assert not (tmp_path / "text" / "feedback" / "images").exists()
    VerdictStore(tmp_path / "all", "with-images").write(line(image_digests=[digest]), [str(image)])
    assert (tmp_path / "all" / "feedback" / "images" / f"{digest}.png").read_bytes() == image.read_bytes()


def test_a_torn_line_is_skipped_not_fatal(tmp_path):
    VerdictStore(tmp_path, "on").write(line("v1", "up"))
    with (tmp_path / "feedback" / "verdicts-2026-12-03.jsonl").open("a", encoding="utf-8") as out:
        out.write('{"verdict_id": "v2", "kind": "verd\n')
    assert [item["verdict_id"] for item in read_verdicts(tmp_path)] == ["v1"]


def write_some(folder: Path) -> None:
    store = VerdictStore(folder, "on")
    store.write(line("v1", "down"))
    store.write(line("v2", "down", reason="thinks_too_long"))
    store.write(line("v3", "up", reason="", settings={"temperature": 0.0}, now=NOON.replace(day=4)))
    store.write(line("v4", "up", reason="", now=NOON.replace(day=4)))
    store.write(line("v4", None, now=NOON.replace(day=4)))
    x = SideResult("tiny · thinking budget 0", "3", 0, 0.0, 0.4, 3)
    y = SideResult("tiny · thinking budget no limit", "2", 30, 1.5, 2.0, 3)
    VoteStore(folder, "on").write(vote_line("b1", "a", (x, y), "q", [], "en", now=NOON))


def test_the_summary_counts_per_day_verdict_reason_and_settings(tmp_path):
    write_some(tmp_path)
    text = "\n".join(feedback_summary_lines(tmp_path))
    assert "verdicts: 3 standing" in text
    assert "  2026-12-03: 2" in text and "  2026-12-04: 1" in text
    assert "  down · wrong_answer: 1" in text and "  down · thinks_too_long: 1" in text and "  up · no reason: 1" in text
    assert "  tiny · temperature=0.0: 1/0" in text and "  tiny · temperature=0.6, thinking_budget=64: 0/2" in text
    assert "blind votes:" in text and "tiny · thinking budget 0 vs tiny · thinking budget no limit | 1 |" in text


def test_the_summary_flag_prints_it_from_the_files_alone(tmp_path):
    write_some(tmp_path)
    done = subprocess.run([sys.executable, "app.py", "--feedback-summary"], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, env={**os.environ, "R1V_DATA_DIR": str(tmp_path)})
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == feedback_summary_lines(tmp_path)
    empty = subprocess.run([sys.executable, "app.py", "--feedback-summary"], cwd=ROOT, capture_output=True, text=True,
                           timeout=120, env={**os.environ, "R1V_DATA_DIR": str(tmp_path / "none")})
    assert "verdicts: 0 standing" in empty.stdout and "no votes yet" in empty.stdout


def test_a_liked_message_belongs_to_the_turn_that_drew_it():
    records = (record("first"), record("second", thinking=""), record("third"))
    sizes = [len(turn_messages(item)) for item in records]
    assert sizes == [3, 2, 3]  # question, thought, answer; a turn with no thinking has no thought
    assert [turn_at(records, index) for index in range(9)] == [0, 0, 0, 1, 1, 2, 2, 2, None]
    assert turn_at(records, -1) is None and turn_at(records, (1, 2)) is None and turn_at((), 0) is None


def test_a_turn_keeps_its_verdict_id_and_another_answer_gets_its_own():
    first = record()
    assert verdict_id("s", 0, first) == verdict_id("s", 0, record())
    assert len({verdict_id("s", 0, first), verdict_id("s", 1, first), verdict_id("t", 0, first),
                verdict_id("s", 0, record(answer="A dog."))}) == 4


class Request:
    """What Gradio hands a handler: the session and the browser's headers."""

    session_hash = "session-1"
    headers = {"accept-language": "zh-CN"}


def test_a_thumb_on_a_shared_replay_is_stored_as_such_and_a_second_click_withdraws_it(tmp_path):
    from types import SimpleNamespace

    from model.registry import checkpoint_version
    from ui.page.verdicts import Verdicts
    from ui.serving.sessions import SessionLanguages
    from ui.store.history import turn_to_dict

    snapshot = {"model": "tiny", "settings": {"temperature": 0.0}, "record": turn_to_dict(record()), "image_paths": []}
    slot = SimpleNamespace(info=SimpleNamespace(name="tiny", version=checkpoint_version(ROOT / "assets" / "tiny-r1v"),
                                                backend="local"))
    verdicts = Verdicts(VerdictStore(tmp_path, "on"), slot, SessionLanguages())
    load = {"abc": snapshot}.get
    verdicts.liked_replay(("abc", ""), SimpleNamespace(liked=False, index=0), Request(), load)
    verdicts.liked_replay(("abc", ""), SimpleNamespace(liked="", index=0), Request(), load)
    verdicts.liked_replay(("gone", ""), SimpleNamespace(liked=True, index=0), Request(), load)  # nothing to judge
    first, second = [json.loads(text) for text in next((tmp_path / "feedback").glob("*.jsonl")).read_text().splitlines()]
    assert (first["source"], first["verdict"], first["language"]) == ("replay", "down", "zh")
    assert first["settings"] == {"temperature": 0.0} and first["answer"] == "A cat." and first["seed"] == 7
    assert first["model_version"].startswith("sha256:") and len(first["model_version"]) == len("sha256:") + 12
    assert second["verdict_id"] == first["verdict_id"] and second["kind"] == "withdrawn"
    assert read_verdicts(tmp_path) == []


def test_a_checkpoint_version_names_a_hub_snapshot_by_its_commit_and_a_folder_by_its_files(tmp_path):
    from model.registry import checkpoint_version

    snapshot = tmp_path / "models--Skywork--R1V" / "snapshots" / "0123abcd"
    snapshot.mkdir(parents=True)
    assert checkpoint_version(snapshot) == "0123abcd"
    (tmp_path / "config.json").write_text("{}")
    before = checkpoint_version(tmp_path)
    (tmp_path / "model.safetensors").write_bytes(b"12345")
    assert checkpoint_version(tmp_path) != before and checkpoint_version(tmp_path) == checkpoint_version(tmp_path)


def test_a_compare_verdict_names_its_column_and_settings_and_a_new_comparison_cannot_be_judged_yet(tmp_path):
    from types import SimpleNamespace

    from ui.page.verdicts import CompareVerdicts, JudgedSide, Verdicts
    from ui.serving.sessions import SessionLanguages

    slot = SimpleNamespace(info=SimpleNamespace(name="tiny", version="v1", backend="local"))
    judged = CompareVerdicts(Verdicts(VerdictStore(tmp_path, "on"), slot, SessionLanguages()))
    sides = [JudgedSide("tiny", {"thinking_budget": 0, "compare_column": "A", "blind": True}, record()),
             JudgedSide("server B", {"thinking_budget": -1, "compare_column": "B", "blind": True}, record())]
    judged.keep("session-1", sides)
    judged.judge(1, False, Request())
    judged.judge(0, True, Request())
    judged.forget("session-1")  # a new comparison starts: nothing to judge until it is done
    with pytest.warns(UserWarning):
        judged.judge(1, True, Request())
    judged.keep("session-1", sides)  # the same answers compared again are another comparison
    judged.judge(1, False, Request())
    b, a, again = [json.loads(text) for text in next((tmp_path / "feedback").glob("*.jsonl")).read_text().splitlines()]
    assert (b["source"], b["verdict"], b["settings"]["compare_column"], b["model"]) == ("compare", "down", "B", "server B")
    assert b["model_version"] == "" and a["model_version"] == "v1"  # only the page's own model has its version
    assert a["settings"] == {"thinking_budget": 0, "compare_column": "A", "blind": True} and a["verdict"] == "up"
    assert len({a["verdict_id"], b["verdict_id"], again["verdict_id"]}) == 3
