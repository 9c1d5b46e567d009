"""`python -m evaluation --backend openai` against two OpenAI-compatible servers on 127.0.0.1.

One scripted server (tests/remote_server.py's FakeServer) plays the model: it thinks in vLLM's
`reasoning` field and answers in `content`; its first eight requests wait for each other, so the
run only finishes if `--concurrency 8` really keeps eight questions in flight. The other plays the
judge and says CORRECT when the reference answer's number is in the student's answer. Each item
then carries three columns (MMMU's rule, strict boxed, judge) that disagree where they should.
"""
from __future__ import annotations

import io
import json
import re
import threading

from PIL import Image

from evaluation.__main__ import main
from tests.remote_server import FakeServer, chat_chunk

ITEMS, CONCURRENCY = 24, 8


def write_set(path) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (32, 32), (200, 30, 30)).save(buffer, format="PNG")
    (path.parent / "red.png").write_bytes(buffer.getvalue())
    with path.open("w") as file:
        for n in range(1, ITEMS + 1):
            file.write(json.dumps({"id": f"q{n}", "image": "red.png", "question": f"What is {n} plus {n}?",
                                   "answer": str(2 * n), "subject": "even" if n % 2 == 0 else "odd"}) + "\n")


def model_answer(n: int) -> str:
    """Most answers boxed and right; every fifth wrong; every seventh right but without a box."""
    if n % 5 == 0:
        return f"The answer is \\boxed{{{2 * n + 1}}}."
    if n % 7 == 0:
        return f"The answer is {2 * n}."
    return f"The answer is \\boxed{{{2 * n}}}."


class ModelServer:
    def __init__(self):
        self.lock = threading.Lock()
        self.in_flight = self.most_in_flight = self.started = 0
        self.first_wave = threading.Barrier(CONCURRENCY, timeout=30)

    def reply(self, path, body):
        text = next(part["text"] for part in body["messages"][-1]["content"] if part["type"] == "text")
        n = int(re.search(r"What is (\d+)", text).group(1))
        with self.lock:
            self.in_flight += 1
            self.started += 1
            wave = self.started <= CONCURRENCY
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            if wave:
                self.first_wave.wait()  # breaks (and the run fails) unless eight are in flight at once
        finally:
            with self.lock:
                self.in_flight -= 1
        chunks = [chat_chunk(reasoning=f"{n} and {n} make {2 * n}. "), chat_chunk(content=model_answer(n))]
        return 200, [*chunks, chat_chunk(finish="stop"), "[DONE]"]


def judge_reply(path, body):
    prompt = body["messages"][-1]["content"]
    reference = re.search(r"Reference answer:\n(.+)", prompt).group(1).strip()
    student = prompt.split("Student's answer:\n", 1)[1]
    verdict = "CORRECT" if re.search(rf"\b{re.escape(reference)}\b", student) else "INCORRECT"
    return 200, [chat_chunk(content=verdict), chat_chunk(finish="stop"), "[DONE]"]


def test_a_remote_run_keeps_eight_in_flight_and_scores_with_rules_and_a_judge(tmp_path, capsys):
    questions = tmp_path / "set.jsonl"
    write_set(questions)
    model = ModelServer()
    with FakeServer(model.reply) as served, FakeServer(judge_reply) as judge:
        code = main(["--set", str(questions), "--out", str(tmp_path / "out"), "--backend", "openai",
                     "--endpoint", served.endpoint, "--model", "fake", "--concurrency", str(CONCURRENCY),
                     "--judge-endpoint", judge.endpoint, "--no-progress"])
        judged = [body for path, _, body in judge.requests if path.endswith("/chat/completions")]
    assert code == 0
    assert model.most_in_flight == CONCURRENCY and not model.first_wave.broken
    records = {r["id"]: r for r in map(json.loads, (tmp_path / "out" / "results.jsonl").read_text().splitlines())}
    assert len(records) == ITEMS and len(judged) == ITEMS
    for n in range(1, ITEMS + 1):
        record = records[f"q{n}"]
        right = n % 5 != 0
        assert record["thinking"] == f"{n} and {n} make {2 * n}. " and record["prediction"] == model_answer(n)
        assert record["scores"]["mmmu"]["right"] is right
        assert record["scores"]["judge"]["right"] is right
        assert record["scores"]["boxed"]["right"] is (right and n % 7 != 0)
        assert record["backend"] == "openai" and record["finish_reason"] == "answered"
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    wrong, unboxed = ITEMS // 5, sum(1 for n in range(1, ITEMS + 1) if n % 7 == 0 and n % 5 != 0)
    assert summary["accuracy"]["judge"]["right"] == summary["accuracy"]["mmmu"]["right"] == ITEMS - wrong
    assert summary["accuracy"]["boxed"]["right"] == ITEMS - wrong - unboxed
    assert summary["judge_errors"] == 0
    assert "LLM judge" in capsys.readouterr().out


def test_a_judge_that_is_down_is_counted_not_fatal(tmp_path):
    questions = tmp_path / "set.jsonl"
    write_set(questions)
    model = ModelServer()
    model.first_wave = threading.Barrier(1)
    with FakeServer(model.reply) as served:
        code = main(["--set", str(questions), "--out", str(tmp_path / "out"), "--backend", "openai", "--limit", "3",
                     "--endpoint", served.endpoint, "--model", "fake", "--judge-endpoint", "http://127.0.0.1:9/v1",
                     "--timeout", "5", "--no-progress"])
    assert code == 0
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["judge_errors"] == 3 and summary["accuracy"]["mmmu"]["right"] == 3
