"""bench/bench_gpu.py end to end: `--shape tiny` measured on CPU, `--shape r1v3-38b` as a dry run on
the meta device (the 38B model itself needs a GPU of about 80 GB); and both GPU-facing benches
(bench_gpu.py, bench_overhead.py) failing by name, with a non-zero exit, over a real engine whose
`generate` raises (out of memory), instead of printing a speed."""
from __future__ import annotations

import functools
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent
NUMBER = r"(-?\d+(?:\.\d+)?)"
DECODE_ROWS = ("decode bare generate (dynamic)", "decode bare generate (fast)", "decode LocalEngine.stream (fast)")
DEFAULT_ROWS = ("default request: bare generate (fast)", "default request: LocalEngine.stream")


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
    table = bench("--shape", "tiny", "--decode-tokens", "32", "--default-tokens", "200", "--first-cache", "128")
    header = next(line for line in table.splitlines() if line.split()[:2] == ["measure", "value"])
    assert header.split()[1:] == ["value", "unit", "of", "limit", "/", "bare", "fast"]
    bandwidth, limit = map(float, re.search(rf"copy bandwidth {NUMBER} GB/s .* limit {NUMBER} tokens/s", table).groups())
    assert bandwidth > 0 and limit > 0
    for label in ("prefill 12 tiles + thumbnail (TTFT)", "engine time to first token (13 tiles)",
                  "compile at load (warm-up)", "peak memory"):
        value, = row(table, label)
        assert value > 0, label
    for label in DECODE_ROWS + DEFAULT_ROWS:
        speed, of_limit, ratio = row(table, label)
        assert speed > 0 and ratio > 0
        assert abs(of_limit - speed / limit) < 1e-3 + 0.01 * of_limit  # a fraction of the printed limit
    assert row(table, "decode bare generate (fast)")[2] == 1.0
    assert "tiles [13]" in table  # 12 tiles + the thumbnail
    # The default request: no thinking limit, at least the tokens asked, across cache sizes.
    assert row(table, "default request: tokens generated")[0] >= 200
    assert row(table, "default request: cache size changes, 2 runs")[0] >= 2  # 111 + 200 tokens pass 128 and 256
    assert row(table, "graph recordings during answers")[0] == 0 and row(table, "compiles during answers")[0] == 0
    assert "graph recordings: 0 on CPU, where there are no CUDA graphs" in table


def test_r1v3_38b_dry_run_builds_the_real_configuration_without_allocating():
    text = bench("--shape", "r1v3-38b", "--dry-run")
    params, read_gb = map(float, re.search(rf"{NUMBER} B parameters; bf16 weights read per token {NUMBER} GB", text).groups())
    assert 38.0 < params < 38.8
    assert 60 < read_gb < 70  # the language model's layers and lm_head in bf16
    assert "tiles [13]" in text and re.search(r"prompt 3\d{3} tokens", text)  # 13 x 256 image tokens + question
    limit, goal = map(float, re.search(rf"limit is {NUMBER} tokens/s; the goal \(60 %\) is {NUMBER}", text).groups())
    assert abs(goal - 0.6 * limit) < 0.1


def fail_the_engines_generate(model: torch.nn.Module, monkeypatch) -> None:
    """The engine's `generate` (the one call given stopping criteria) runs out of memory; bare
    `generate` and the warm-up still work."""
    original = model.generate

    @functools.wraps(original)
    def failing(*args, **kwargs):
        if "stopping_criteria" in kwargs:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 8.00 GiB")
        return original(*args, **kwargs)

    monkeypatch.setattr(model, "generate", failing)


def test_an_engine_run_ending_in_an_error_is_a_failure_named_by_its_event(monkeypatch):
    from bench import bench_gpu
    from bench.measured import FailedRun
    from model.local.engine import LocalEngine
    from model.local.fastpath import FastPath

    loaded = bench_gpu.make_loaded("tiny", torch.device("cpu"))
    engine = LocalEngine(loaded, fast=FastPath(compile=False))
    args = SimpleNamespace(decode_tokens=16, default_tokens=40, question_tokens=10)
    assert bench_gpu.engine_stats(engine, loaded, args).thinking_tokens >= 16  # it measures when all is well
    fail_the_engines_generate(loaded.model, monkeypatch)
    for limited in (True, False):
        with pytest.raises(FailedRun, match=r"LocalEngine.stream \((budgeted|default)\): the run ended in "
                                            r"Error\(kind='oom'\)"):
            bench_gpu.engine_stats(engine, loaded, args, limited=limited)


def test_bench_gpu_exits_non_zero_naming_the_event(monkeypatch, capsys):
    from bench import bench_gpu

    original = bench_gpu.make_loaded

    def failing_loaded(*args, **kwargs):
        loaded = original(*args, **kwargs)
        fail_the_engines_generate(loaded.model, monkeypatch)
        return loaded

    monkeypatch.setattr(bench_gpu, "make_loaded", failing_loaded)
    with pytest.raises(SystemExit) as exit:
        bench_gpu.main(["--shape", "tiny", "--decode-tokens", "8", "--default-tokens", "0", "--repeats", "1"])
    out = capsys.readouterr().out
    assert exit.value.code == 1
    assert "FAILED: LocalEngine.stream (budgeted): the run ended in Error(kind='oom')" in out
    assert "tok/s  " not in out.split("FAILED")[1]  # no table after the failure


def test_bench_overhead_exits_non_zero_on_an_error_and_on_too_few_tokens(monkeypatch, capsys):
    from bench import bench_overhead
    from bench.measured import FailedRun

    original = bench_overhead.cut_model
    loaded = {}

    def failing_cut(*args):
        loaded["model"] = original(*args)
        fail_the_engines_generate(loaded["model"].model, monkeypatch)
        return loaded["model"]

    monkeypatch.setattr(bench_overhead, "cut_model", failing_cut)
    with pytest.raises(SystemExit) as exit:
        bench_overhead.main(["--reps", "1", "--budget", "8", "--answer", "16"])
    assert exit.value.code == 1
    assert "FAILED: LocalEngine.stream: the run ended in Error(kind='oom')" in capsys.readouterr().out
    monkeypatch.undo()
    engine, _ = bench_overhead.make_engine(original(loaded["model"]), fast=True)
    request = bench_overhead.Request("How many?", options=bench_overhead.GenerationOptions.validated(
        temperature=0, thinking_budget=8, answer_budget=16))
    assert bench_overhead.engine_run(engine, request, asked=8)[1] >= 8
    with pytest.raises(FailedRun, match="tokens generated, 10000 asked"):
        bench_overhead.engine_run(engine, request, asked=10_000)
