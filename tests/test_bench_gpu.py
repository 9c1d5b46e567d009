"""bench/bench_gpu.py end to end: `--shape tiny` measured on CPU, `--shape r1v3-38b` as a dry run on
the meta device (the 38B model itself needs a GPU of about 80 GB)."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NUMBER = r"(-?\d+(?:\.\d+)?)"
DECODE_ROWS = ("decode bare generate (dynamic)", "decode bare generate (fast)", "decode LocalEngine.stream (fast)")


def bench(*flags: str) -> str:
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "bench_gpu.py"), *flags], cwd=ROOT,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def row(table: str, label: str) -> list[float]:
    line = next((line for line in table.splitlines() if line.startswith(label)), None)
    assert line is not None, f"no row {label!r} in:\n{table}"
    return [float(value) for value in re.findall(NUMBER, line[len(label):])]


def test_tiny_shape_measures_every_row_on_cpu():
    table = bench("--shape", "tiny", "--decode-tokens", "32")
    header = next(line for line in table.splitlines() if line.split()[:2] == ["measure", "value"])
    assert header.split()[1:] == ["value", "unit", "of", "limit", "/", "bare", "fast"]
    bandwidth, limit = map(float, re.search(rf"copy bandwidth {NUMBER} GB/s .* limit {NUMBER} tokens/s", table).groups())
    assert bandwidth > 0 and limit > 0
    for label in ("prefill 12 tiles + thumbnail (TTFT)", "engine time to first token", "peak memory"):
        value, = row(table, label)
        assert value > 0, label
    for label in DECODE_ROWS:
        speed, of_limit, ratio = row(table, label)
        assert speed > 0 and ratio > 0
        assert abs(of_limit - speed / limit) < 1e-3 + 0.01 * of_limit  # a fraction of the printed limit
    assert row(table, "decode bare generate (fast)")[2] == 1.0
    assert "tiles [13]" in table  # 12 tiles + the thumbnail


def test_r1v3_38b_dry_run_builds_the_real_configuration_without_allocating():
    text = bench("--shape", "r1v3-38b", "--dry-run")
    params, read_gb = map(float, re.search(rf"{NUMBER} B parameters; bf16 weights read per token {NUMBER} GB", text).groups())
    assert 38.0 < params < 38.8
    assert 60 < read_gb < 70  # the language model's layers and lm_head in bf16
    assert "tiles [13]" in text and re.search(r"prompt 3\d{3} tokens", text)  # 13 x 256 image tokens + question
    limit, goal = map(float, re.search(rf"limit is {NUMBER} tokens/s; the goal \(60 %\) is {NUMBER}", text).groups())
    assert abs(goal - 0.6 * limit) < 0.1
