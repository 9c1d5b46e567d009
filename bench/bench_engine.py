"""Overhead of LocalEngine.stream over bare model.generate, same tokens, one process.

For each puzzle the engine answers greedily; then bare `generate` produces exactly as many
tokens (min_new_tokens = max_new_tokens) from the same prompt ids and pixels, with no streamer,
no splitter and no budget processor. Rounds alternate the order to spread drift. Prints a table
and the ratio; exits 0.

    python bench/bench_engine.py [--model tiny] [--n 6] [--rounds 3]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from model.local.engine import LocalEngine  # noqa: E402
from model.events import GenerationOptions, Request, Stats  # noqa: E402
from model.inputs.assemble import prepare_input  # noqa: E402
from model.local.loader import load  # noqa: E402
from model.registry import resolve  # noqa: E402
from model.tiny.evaluate import _png  # noqa: E402
from model.tiny.puzzles import generate  # noqa: E402


def engine_run(engine: LocalEngine, request: Request) -> tuple[float, int]:
    started = time.perf_counter()
    stats = next(e for e in engine.stream(request) if isinstance(e, Stats))
    return time.perf_counter() - started, stats.thinking_tokens + stats.answer_tokens


def bare_run(engine: LocalEngine, request: Request, tokens: int) -> float:
    started = time.perf_counter()
    prepared = prepare_input(engine.loaded, request)
    with torch.inference_mode():
        engine.loaded.model.generate(
            input_ids=prepared.input_ids, attention_mask=torch.ones_like(prepared.input_ids),
            pixel_values=prepared.pixel_values, do_sample=False, max_new_tokens=tokens,
            min_new_tokens=tokens, pad_token_id=engine.loaded.tokenizer.pad_token_id)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="tiny")
    parser.add_argument("--n", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    engine = LocalEngine(load(resolve(args.model), device="auto"))
    options = GenerationOptions.validated(temperature=0, repetition_penalty=1.0, max_tiles=4, answer_budget=256)
    requests = [Request(p.question, (_png(p.image),), options=options) for p in generate(777, args.n)]
    engine_run(engine, requests[0])  # warm-up
    engine_s, bare_s, tokens = [], [], 0
    for round_index in range(args.rounds):
        for request in requests:
            if round_index % 2 == 0:
                seconds, count = engine_run(engine, request)
                bare = bare_run(engine, request, count)
            else:
                count = engine_run(engine, request)[1]
                bare = bare_run(engine, request, count)
                seconds = engine_run(engine, request)[0]
            engine_s.append(seconds / count)
            bare_s.append(bare / count)
            tokens += count
    engine_ms, bare_ms = statistics.median(engine_s) * 1e3, statistics.median(bare_s) * 1e3
    print(f"model {engine.name} on {engine.loaded.device_label}; {tokens} tokens per path")
    print(f"{'path':<28}{'median ms/token':>16}")
    print(f"{'bare model.generate':<28}{bare_ms:>16.2f}")
    print(f"{'LocalEngine.stream':<28}{engine_ms:>16.2f}")
    print(f"ratio engine/bare: {engine_ms / bare_ms:.3f} (goal: within 1.03)")


if __name__ == "__main__":
    main()
