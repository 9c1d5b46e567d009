"""The engine's own cost per token, over a model whose forward pass costs almost nothing.

The bundled checkpoint's tokenizer and real classes (native InternVL with a Qwen2 language model),
with the layers cut to one and the widths to a few units, random weights: a forward pass takes
well under a millisecond, so what is left per token is generation's own loop and, on the engine
path, the streamer, splitter, budget processor, stopping criteria and the thread hand-off.

Each repetition runs `LocalEngine.stream` (thinking budget, so the budget processor fires and both
phases are streamed), then bare `model.generate` for exactly as many new tokens from the same
prompt ids and pixels (no streamer, no processor, no criteria). The order alternates between
repetitions. Prints the median and spread of ms/token for each path, the engine/bare ratio and the
engine's share of the time per token; exits 0. Exits 1, naming the event, when an engine run ends
in an `Error` or gives another count of tokens than the first run (bench/measured.py).

    python bench/bench_overhead.py [--reps 15] [--budget 384] [--answer 64] [--fast]
"""
from __future__ import annotations

import argparse
import copy
import dataclasses
import functools
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.measured import FailedRun, measured_stats  # noqa: E402
from model.local.checkpoint import SkyworkR1VForConditionalGeneration  # noqa: E402
from model.local.engine import LocalEngine  # noqa: E402
from model.events import GenerationOptions, Request  # noqa: E402
from model.inputs.assemble import prepare_input  # noqa: E402
from model.local.loader import LoadedModel, load  # noqa: E402
from model.registry import by_name  # noqa: E402
from model.tiny.evaluate import _png  # noqa: E402
from model.tiny.puzzles import puzzle_at  # noqa: E402

CONTEXT = 4096  # room for long runs; the cut model has no trained context anyway


def cut_model(loaded: LoadedModel) -> LoadedModel:
    """The same classes, tokenizer and tiling with one layer of a few units per tower."""
    config = copy.deepcopy(loaded.model.config)
    text, vision = config.text_config, config.vision_config
    text.num_hidden_layers, text.hidden_size, text.intermediate_size = 1, 16, 32
    text.num_attention_heads, text.num_key_value_heads, text.head_dim = 2, 1, 8
    text.max_position_embeddings = CONTEXT
    text.layer_types = ["full_attention"]
    vision.num_hidden_layers, vision.hidden_size, vision.intermediate_size, vision.num_attention_heads = 1, 16, 32, 2
    torch.manual_seed(0)
    model = SkyworkR1VForConditionalGeneration(config).eval().to(loaded.device)
    return dataclasses.replace(loaded, model=model)


def clocks() -> tuple[float, float]:
    """Wall time, and CPU time of the whole process (every thread): the second is what other
    programs on a shared machine cannot inflate much."""
    return time.perf_counter(), time.process_time()


def since(start: tuple[float, float]) -> tuple[float, float]:
    now = clocks()
    return now[0] - start[0], now[1] - start[1]


def engine_run(engine: LocalEngine, request: Request, asked: int = 1) -> tuple[tuple[float, float], int]:
    """Clocks and tokens of one engine run; FailedRun when it errs or makes fewer than `asked`."""
    started = clocks()
    stats = measured_stats(engine.stream(request), asked, "LocalEngine.stream")
    return since(started), stats.thinking_tokens + stats.answer_tokens


def bare_run(engine: LocalEngine, request: Request, tokens: int, generate: Callable) -> tuple[float, float]:
    """Clocks of bare `generate` (the engine's path: `model.generate` or the fast path's) for `tokens`."""
    started = clocks()
    prepared = prepare_input(engine.loaded, request)
    try:
        with torch.inference_mode():
            out = generate(input_ids=prepared.input_ids, attention_mask=torch.ones_like(prepared.input_ids),
                           pixel_values=prepared.pixel_values, do_sample=False, max_new_tokens=tokens,
                           min_new_tokens=tokens, pad_token_id=engine.loaded.tokenizer.pad_token_id)
    except Exception as error:  # noqa: BLE001 - a broken run is reported by name, not as a speed
        raise FailedRun(f"bare generate: raised {type(error).__name__}: {error}") from error
    if out.shape[1] - prepared.input_ids.shape[1] < tokens:
        raise FailedRun(f"bare generate: {out.shape[1] - prepared.input_ids.shape[1]} tokens generated, {tokens} asked")
    return since(started)


def spread(values: list[float]) -> str:
    quartiles = statistics.quantiles(values, n=4)
    return f"{quartiles[0]:.3f}-{quartiles[2]:.3f}"


def measure(engine: LocalEngine, request: Request, reps: int, generate: Callable) -> tuple[dict, dict, int]:
    """ms/token per path: {"wall": [...], "cpu": [...]}, one value per repetition."""
    engine_ms, bare_ms = {"wall": [], "cpu": []}, {"wall": [], "cpu": []}
    count = engine_run(engine, request)[1]  # warm-up; the count is the same every time (greedy)
    bare_run(engine, request, count, generate)
    for rep in range(reps):
        order = ("engine", "bare") if rep % 2 == 0 else ("bare", "engine")
        for path in order:
            if path == "engine":
                seconds, got = engine_run(engine, request, count)
                if got != count:
                    raise FailedRun(f"LocalEngine.stream: greedy runs gave {got} and {count} tokens")
                add(engine_ms, seconds, count)
            else:
                add(bare_ms, bare_run(engine, request, count, generate), count)
    return engine_ms, bare_ms, count


def add(into: dict, seconds: tuple[float, float], count: int) -> None:
    into["wall"].append(seconds[0] / count * 1e3)
    into["cpu"].append(seconds[1] / count * 1e3)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=15)
    parser.add_argument("--budget", type=int, default=384, help="thinking budget (tokens) of each run")
    parser.add_argument("--answer", type=int, default=64, help="answer budget (tokens) of each run")
    parser.add_argument("--fast", action="store_true", help="both paths on the static-cache fast path")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)  # a forward this small gains nothing from threads; one keeps runs steady
    loaded = cut_model(load(by_name("tiny"), device="cpu"))
    engine, generate = make_engine(loaded, args.fast)
    puzzle = puzzle_at(777, 0)
    options = GenerationOptions.validated(temperature=0, repetition_penalty=1.0, max_tiles=4,
                                          thinking_budget=args.budget, answer_budget=args.answer)
    request = Request(puzzle.question, (_png(puzzle.image),), options=options)
    try:
        engine_ms, bare_ms, count = measure(engine, request, args.reps, generate)
    except FailedRun as failure:
        print(f"FAILED: {failure}", flush=True)
        raise SystemExit(1) from failure
    print_table(engine_ms, bare_ms, count, args)


def make_engine(loaded: LoadedModel, fast: bool) -> tuple[LocalEngine, Callable]:
    """The engine and its bare twin's generate: the same path (plain, or the fast path's climbing caches)."""
    if not fast:
        return LocalEngine(loaded), loaded.model.generate
    from model.local.fastpath import FastPath

    fast_path = FastPath(compile=False)
    return LocalEngine(loaded, fast=fast_path), functools.partial(fast_path.generate, loaded.model)


def print_table(engine_ms: dict, bare_ms: dict, count: int, args) -> None:
    """Per path: the fastest and the median repetition. Ratios are paired: each repetition's engine
    run over the bare run next to it, so drift in the machine's load cancels; then their median."""
    print(f"cut tiny model (1 layer, width 16) on CPU, 1 thread; {count} tokens per run, {args.reps} reps, "
          f"{'static-cache fast path' if args.fast else 'dynamic cache'}")
    print(f"{'ms/token':<22}{'wall min':>10}{'wall median':>13}{'CPU min':>10}{'CPU median':>12}")
    for name, values in (("bare model.generate", bare_ms), ("LocalEngine.stream", engine_ms)):
        print(f"{name:<22}{min(values['wall']):>10.3f}{statistics.median(values['wall']):>13.3f}"
              f"{min(values['cpu']):>10.3f}{statistics.median(values['cpu']):>12.3f}")
    for clock in ("wall", "cpu"):
        ratios = [e / b for e, b in zip(engine_ms[clock], bare_ms[clock])]
        ratio, extra_us = statistics.median(ratios), (min(engine_ms[clock]) - min(bare_ms[clock])) * 1e3
        print(f"{clock:>4}: engine/bare paired median {ratio:.3f} (IQR {spread(ratios)}); engine's share of its "
              f"time per token {1 - 1 / ratio:.1%}; min-to-min {extra_us:.0f} us/token")


if __name__ == "__main__":
    main()
