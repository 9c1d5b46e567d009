"""`python -m evaluation` on the bundled tiny model (not Skywork R1V): files, resume, accuracy, readers.

- 20 puzzles write results.jsonl (one line each, every field), summary.json (accuracy per scorer with
  its interval), the reports and the printed table; a second run redoes nothing.
- The built-in 100 puzzles score at least 85 % under the puzzles' grader.
- The first 40 of those puzzles written by this test in MathVista's and MMMU's published columns (multiple
  choice and free form, a unit and a precision) give the same answers item by item and the same
  verdicts under MathVista's rule; MMMU's rule agrees on its open questions and, on multiple
  choice, guesses (the tiny model names the option's text in five words or fewer, never a letter).
- A run killed (SIGKILL, SIGINT) halfway resumes without redoing or losing an item.
"""
from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from evaluation.__main__ import main
from evaluation.readers import SetError, puzzle_items, read_set
from evaluation.runner import ResultsFile
from model.tiny.puzzles import COLOURS, POSITIONS

REPO = Path(__file__).resolve().parent.parent
FIELDS = {"id", "question", "images", "gold", "prediction", "extracted", "scores", "thinking_tokens", "answer_tokens",
          "seconds", "finish_reason", "settings", "seed", "thinking"}


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_twenty_puzzles_write_every_file_and_a_second_run_redoes_nothing(tmp_path, capsys):
    assert main(["--set", "puzzles", "--limit", "20", "--out", str(tmp_path), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    records = lines(tmp_path / "results.jsonl")
    assert len(records) == 20 and len({r["id"] for r in records}) == 20
    assert all(FIELDS <= set(r) for r in records)
    assert all(r["images"][0].startswith("sha256:") and r["settings"]["temperature"] == 0.6 for r in records)
    summary = json.loads((tmp_path / "summary.json").read_text())
    puzzle = summary["accuracy"]["puzzle"]
    assert puzzle["n"] == 20 and puzzle["right"] == sum(r["scores"]["puzzle"]["right"] for r in records)
    assert puzzle["ci95"][0] <= puzzle["accuracy"] <= puzzle["ci95"][1]
    assert set(summary["accuracy"]) == {"puzzle", "boxed"}
    assert set(summary["by_subject"]) <= {"count", "tallest", "dice", "odd"}
    assert "puzzle grader" in printed and f"{puzzle['right']}/20" in printed
    for name in ("report.md", "report.html", "thinking.png"):
        assert (tmp_path / name).stat().st_size > 200
    before = (tmp_path / "results.jsonl").read_bytes()
    assert main(["--set", "puzzles", "--limit", "20", "--out", str(tmp_path), "--no-progress"]) == 0
    assert "0 answered, 20 already done" in capsys.readouterr().out
    assert (tmp_path / "results.jsonl").read_bytes() == before


@pytest.fixture(scope="module")
def hundred(tmp_path_factory) -> dict[str, dict]:
    out = tmp_path_factory.mktemp("puzzles")
    started = time.monotonic()
    assert main(["--set", "puzzles", "--out", str(out), "--no-progress"]) == 0
    print(f"100 puzzles took {time.monotonic() - started:.1f} s")
    return {record["id"]: record for record in lines(out / "results.jsonl")}


def test_the_hundred_built_in_puzzles_score_at_least_85_percent(hundred):
    assert len(hundred) == 100
    right = sum(record["scores"]["puzzle"]["right"] for record in hundred.values())
    assert right >= 85, f"{right} of 100"


def _choices(kind: str) -> list[str]:
    return list(POSITIONS) if kind == "odd" else list(COLOURS) if kind == "tallest" else []


def write_mathvista(folder: Path) -> Path:
    """MathVista's testmini.json shape ({pid: record}), images beside it; dice carry a unit and a precision."""
    (folder / "images").mkdir(parents=True)
    records = {}
    for item in puzzle_items():
        (folder / "images" / f"{item.id}.png").write_bytes(item.images[0])
        choices = _choices(item.subject)
        dice = item.subject == "dice"
        records[item.id] = {
            "pid": item.id, "question": item.prompt, "query": item.prompt, "image": f"images/{item.id}.png",
            "choices": choices or None, "answer": f"{float(item.gold):.1f}" if dice else item.gold,
            "question_type": "multi_choice" if choices else "free_form",
            "answer_type": "text" if choices else "float" if dice else "integer",
            "precision": 1.0 if dice else None, "unit": "pips" if dice else "",
            "metadata": {"task": item.subject, "category": "puzzle"},
        }
    path = folder / "testmini.json"
    path.write_text(json.dumps(records))
    return path


def write_mmmu(folder: Path) -> Path:
    """MMMU's columns as JSON Lines; images as the datasets library writes them ({"bytes": ...})."""
    folder.mkdir(parents=True)
    path = folder / "validation.jsonl"
    with path.open("w") as file:
        for item in puzzle_items():
            choices = _choices(item.subject)
            gold = chr(ord("A") + choices.index(item.gold)) if choices else item.gold
            file.write(json.dumps({
                "id": item.id, "question": item.prompt, "options": str(choices), "answer": gold,
                "question_type": "multiple-choice" if choices else "open", "subfield": item.subject,
                "image_1": {"bytes": base64.b64encode(item.images[0]).decode(), "path": None}, "image_2": None,
            }) + "\n")
    return path


LAYOUT_ITEMS = 40  # the first 40 of the 100 (all four kinds), to keep the three runs affordable on two cores


def run_layout(path: Path, out: Path, *extra: str) -> dict[str, dict]:
    assert main(["--set", str(path), "--out", str(out), "--no-progress", "--limit", str(LAYOUT_ITEMS), *extra]) == 0
    return {record["id"]: record for record in lines(out / "results.jsonl")}


def test_the_puzzles_in_mathvista_columns_score_the_same_item_by_item(hundred, tmp_path):
    records = run_layout(write_mathvista(tmp_path / "mathvista"), tmp_path / "out")
    assert set(records) == {f"puzzle-{i:05d}" for i in range(LAYOUT_ITEMS)}
    assert {r["subject"] for r in records.values()} == {"count", "tallest", "dice", "odd"}
    for item_id, record in records.items():
        assert record["prediction"] == hundred[item_id]["prediction"]
        assert record["scores"]["mathvista"]["right"] == hundred[item_id]["scores"]["puzzle"]["right"], record
    dice = [r for r in records.values() if r.get("unit") == "pips"]
    assert dice and all(r["precision"] == 1 and r["gold"].endswith(".0") for r in dice)
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert [row["model"] for row in summary["published"]] == ["r1v-38b", "r1v3-38b"]


def test_the_puzzles_in_mmmu_columns_agree_on_open_questions_and_guess_on_choices(hundred, tmp_path):
    records = run_layout(write_mmmu(tmp_path / "mmmu"), tmp_path / "out", "--prompt", "question")
    assert set(records) == {f"puzzle-{i:05d}" for i in range(LAYOUT_ITEMS)}
    for item_id, record in records.items():
        assert record["prediction"] == hundred[item_id]["prediction"]
        verdict = record["scores"]["mmmu"]
        if record["question_type"] == "open":
            assert verdict["right"] == hundred[item_id]["scores"]["puzzle"]["right"], record
        else:
            assert verdict["how"] == "guessed" and len(record["prediction"].split()) <= 5, record
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["mmmu_guessed"] == sum(r["question_type"] != "open" for r in records.values())


def test_the_mmmu_prompt_lists_the_options_and_mmmus_instruction(tmp_path):
    item = next(i for i in read_set(str(write_mmmu(tmp_path / "m"))) if i.choices)
    assert "(A) " in item.prompt and item.prompt.endswith("Answer with the option's letter from the given choices directly.")


def test_a_bad_set_is_named_with_its_line_and_what_is_missing(tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "How many?", "answer": "3"}\n{"question": "Which?"}\n')
    with pytest.raises(SetError, match=r"bad.jsonl:2: missing answer"):
        read_set(str(bad))
    assert main(["--set", str(tmp_path / "absent.jsonl"), "--out", str(tmp_path / "o")]) == 2
    assert "no such file" in capsys.readouterr().err
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"question": "x", "answer": "1", "image": "missing.png"}\n')
    with pytest.raises(SetError, match="missing.png"):
        read_set(str(broken))


def test_a_rerun_with_other_settings_is_refused_rather_than_mixed(tmp_path, capsys):
    assert main(["--set", "puzzles", "--limit", "2", "--out", str(tmp_path), "--no-progress"]) == 0
    assert main(["--set", "puzzles", "--limit", "2", "--out", str(tmp_path), "--temperature", "0"]) == 2
    assert "other settings" in capsys.readouterr().err


def test_a_line_cut_short_by_a_crash_is_dropped_when_the_file_is_opened(tmp_path):
    path = tmp_path / "results.jsonl"
    path.write_text(json.dumps({"id": "a", "scores": {}}) + "\n" + '{"id": "b", "sco')
    results = ResultsFile(path)
    assert results.done == {"a"} and path.read_text().endswith("}\n")


def start(out: Path, limit: int) -> subprocess.Popen:
    command = [sys.executable, "-m", "evaluation", "--set", "puzzles", "--limit", str(limit), "--out", str(out),
               "--no-progress"]
    return subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def wait_for_lines(path: Path, count: int, process: subprocess.Popen, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().count("\n") >= count:
            return
        assert process.poll() is None, process.stderr.read().decode()[-2000:]
        time.sleep(0.05)
    process.kill()
    raise AssertionError(f"fewer than {count} results after {timeout} s")


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGINT], ids=["SIGKILL", "SIGINT"])
def test_a_run_killed_halfway_resumes_without_redoing_or_losing_an_item(tmp_path, how):
    out, limit = tmp_path / "run", 30
    process = start(out, limit)
    wait_for_lines(out / "results.jsonl", 10, process)
    os.kill(process.pid, how)
    code = process.wait(timeout=60)
    assert code == (-signal.SIGKILL if how == signal.SIGKILL else 130)
    kept = (out / "results.jsonl").read_bytes()
    first = ResultsFile(out / "results.jsonl").records  # drops a line the kill may have cut
    assert 10 <= len(first) < limit
    assert main(["--set", "puzzles", "--limit", str(limit), "--out", str(out), "--no-progress"]) == 0
    after = lines(out / "results.jsonl")
    assert len(after) == limit and len({r["id"] for r in after}) == limit  # each item once: none redone
    assert {r["id"] for r in after} == {f"puzzle-{i:05d}" for i in range(limit)}  # none lost
    assert (out / "results.jsonl").read_bytes().startswith(kept[:kept.rfind(b"\n") + 1])


def test_the_readme_commands_are_ones_the_cli_accepts():
    from evaluation.__main__ import parse_args

    section = (REPO / "README.md").read_text(encoding="utf-8").split("## Evaluation", 1)[1].split("\n## ", 1)[0]
    commands = [c.split() for c in section.replace("\\\n", " ").splitlines() if c.startswith("python -m evaluation")]
    assert len(commands) == 3
    for command in commands:
        args = parse_args(command[3:command.index("#")] if "#" in command else command[3:])
        assert args.out and args.set


def test_mmmu_columns_in_parquet_as_the_hub_ships_them_read_as_the_same_items(tmp_path):
    """MMMU's and MathVista's files on the Hub are Parquet, images as {"bytes": <raw>, "path": ...} structs."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = lines(write_mmmu(tmp_path / "json"))[:12]
    for row in rows:
        row["image_1"] = {"bytes": base64.b64decode(row["image_1"]["bytes"]), "path": f"{row['id']}.png"}
    (tmp_path / "parquet").mkdir()
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "parquet" / "validation-00000-of-00001.parquet")
    from_json = read_set(str(tmp_path / "json"))[:12]
    from_parquet = read_set(str(tmp_path / "parquet"))
    assert [(i.id, i.prompt, i.gold, i.choices, i.images, i.rule) for i in from_parquet] == \
        [(i.id, i.prompt, i.gold, i.choices, i.images, i.rule) for i in from_json]
