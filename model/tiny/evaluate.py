"""Accuracy of a tiny checkpoint on fresh puzzles, through the app's own engine.

Each puzzle's PNG bytes go through `LocalEngine.stream` exactly as an upload would (validation,
tiling, template, generation, splitter), greedy; the answer part is graded with `answer_matches`.
`python -m model.tiny.evaluate --model assets/tiny-r1v --seed 12345 --n 200` prints the numbers.
"""
from __future__ import annotations

import argparse
import io
import json
import time
from pathlib import Path

import torch

from model.local.engine import LocalEngine
from model.events import AnswerDelta, GenerationOptions, Request, Stats
from model.local.loader import LoadedModel, load
from model.registry import by_name, resolve
from model.tiny import build
from model.tiny.puzzles import answer_matches, generate


def _png(image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def run_puzzles(engine: LocalEngine, seed: int, n: int, thinking_budget: int = -1) -> dict:
    options = GenerationOptions.validated(temperature=0, thinking_budget=thinking_budget,
                                          answer_budget=64, max_tiles=build.MAX_TILES, repetition_penalty=1.0)
    correct, thinking, started = 0, 0, time.monotonic()
    by_kind: dict[str, list[int]] = {}
    for puzzle in generate(seed, n):
        answer, stats = "", None
        for event in engine.stream(Request(puzzle.question, (_png(puzzle.image),), options=options)):
            if isinstance(event, AnswerDelta):
                answer += event.text
            elif isinstance(event, Stats):
                stats = event
        right = answer_matches(puzzle.answer, answer)
        correct += right
        by_kind.setdefault(puzzle.kind, []).append(right)
        thinking += stats.thinking_tokens if stats else 0
    return {"accuracy": correct / n, "n": n, "seed": seed, "thinking_budget": thinking_budget,
            "mean_thinking_tokens": thinking / n, "seconds": round(time.monotonic() - started, 1),
            "by_kind": {kind: round(sum(hits) / len(hits), 3) for kind, hits in sorted(by_kind.items())}}


def accuracy_in_memory(model, tokenizer, seed: int, n: int, thinking_budget: int = -1) -> dict:
    config = model.config
    loaded = LoadedModel(
        spec=by_name("tiny"), model=model, tokenizer=tokenizer, folder=Path("."), layout="native",
        template=build.TEMPLATE_NAME, tile_size=build.TILE, max_tiles=build.MAX_TILES, use_thumbnail=True,
        tokens_per_tile=config.image_seq_length, device=torch.device("cpu"),
    )
    return run_puzzles(LocalEngine(loaded), seed, n, thinking_budget)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="tiny")
    parser.add_argument("--seed", type=int, default=12345)
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--thinking-budget", type=int, default=-1)
    args = parser.parse_args()
    engine = LocalEngine(load(resolve(args.model), device="cpu"))
    print(json.dumps(run_puzzles(engine, args.seed, args.n, args.thinking_budget)))


if __name__ == "__main__":
    main()
