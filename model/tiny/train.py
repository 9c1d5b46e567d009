"""Train the bundled tiny visual reasoner on generated puzzles, on CPU, and save it in the official
Skywork format.

Every example goes through the code the app uses: `tile_images` for pixels, `build_prompt` for the
R1V (DeepSeek-R1) template ending in `<think>\\n`, and the native InternVL classes. Targets are
`{reasoning}\\n</think>\\n\\n{answer}<eos>`; a share of examples teaches the two budget shapes the
engine can force: no thinking at all (`</think>` straight away) and thinking cut short by the
hand-over sentence. Loss is on generated tokens only (never on the prompt or forced text).

`python -m model.tiny.train --out assets/tiny-r1v` reproduces the bundled checkpoint from its seed;
it prints progress and held-out accuracy (greedy, through the real engine) as it goes.
"""
from __future__ import annotations

import argparse
import json
import math
import random
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import InternVLForConditionalGeneration

from model.inputs.images import tile_images
from model.inputs.prompt import PromptTurn, build_prompt
from model.reasoning import AFTER_MARKER, END_THINK, HAND_OVER
from model.tiny import build
from model.tiny.puzzles import POSITIONS, puzzle_at

IGNORE = -100
EVAL_SEED_OFFSET = 1_000_003  # held-out puzzles come from a seed the trainer never uses


@dataclass
class Recipe:
    seed: int = 0
    steps: int = 2000
    batch: int = 32
    lr: float = 2e-3
    warmup: int = 100
    vocab: int = 640
    no_think_share: float = 0.08
    cut_short_share: float = 0.08
    eval_every: int = 1000
    eval_n: int = 40
    size: str = "small"
    log_every: int = 50
    # Training mix (kind:weight). Dice and bars are learned early; counting and the odd one out,
    # which need several steps of looking back at the trace, get more of the steps.
    mix: str = "count:2,odd:4,dice:1,tallest:1"


def mix_kinds(mix: str) -> tuple[str, ...]:
    """"count:3,odd:1" -> ("count", "count", "count", "odd"): a weighted list for puzzle_at."""
    kinds: list[str] = []
    for part in mix.split(","):
        kind, _, weight = part.partition(":")
        kinds += [kind.strip()] * int(weight or 1)
    return tuple(kinds)


def answer_text(answer: str) -> str:
    return f"The answer is {answer}."


def training_corpus(seed: int, n: int = 3000) -> list[str]:
    texts = [HAND_OVER, AFTER_MARKER, "Let me think step by step."]
    for index in range(n):
        puzzle = puzzle_at(seed, index)  # all kinds, evenly: the vocabulary must cover each
        texts += [puzzle.question, puzzle.reasoning, answer_text(puzzle.answer)]
    return texts


def target_pieces(puzzle, rng: random.Random, recipe: Recipe, tokenizer) -> list[tuple[str, bool]]:
    """(text, learn) pieces after the prompt; text the engine forces is not learned."""
    answer = [(answer_text(puzzle.answer), True), (tokenizer.eos_token, True)]
    draw = rng.random()
    if draw < recipe.no_think_share:
        return [(END_THINK + AFTER_MARKER, False)] + answer
    if draw < recipe.no_think_share + recipe.cut_short_share:
        words = puzzle.reasoning.split(" ")
        cut = " ".join(words[:rng.randrange(1, max(2, len(words)))])
        return [(cut, True), (HAND_OVER + END_THINK + AFTER_MARKER, False)] + answer
    return [(puzzle.reasoning + "\n" + END_THINK + AFTER_MARKER, True)] + answer


def encode_example(puzzle, rng, recipe, tokenizer, tokens_per_tile) -> tuple[list[int], list[int], torch.Tensor]:
    tiles = tile_images([puzzle.image], build.TILE, build.MAX_TILES)
    prompt = build_prompt(tokenizer, build.TEMPLATE_NAME,
                          [PromptTurn(puzzle.question, tuple(tiles.tiles_per_image), None)], tokens_per_tile)
    ids, labels = list(prompt.input_ids), [IGNORE] * len(prompt.input_ids)
    for text, learn in target_pieces(puzzle, rng, recipe, tokenizer):
        piece = tokenizer.encode(text, add_special_tokens=False)
        ids += piece
        labels += piece if learn else [IGNORE] * len(piece)
    return ids, labels, tiles.pixel_values


def make_batch(step: int, recipe: Recipe, tokenizer, tokens_per_tile: int) -> dict[str, torch.Tensor]:
    rng = random.Random(recipe.seed * 1_000_000 + step)
    kinds = mix_kinds(recipe.mix)
    examples = [encode_example(puzzle_at(recipe.seed, step * recipe.batch + i, kinds), rng, recipe, tokenizer,
                               tokens_per_tile) for i in range(recipe.batch)]
    width = max(len(ids) for ids, _, _ in examples)
    pad = tokenizer.pad_token_id
    input_ids = torch.tensor([ids + [pad] * (width - len(ids)) for ids, _, _ in examples])
    labels = torch.tensor([lab + [IGNORE] * (width - len(lab)) for _, lab, _ in examples])
    mask = torch.tensor([[1] * len(ids) + [0] * (width - len(ids)) for ids, _, _ in examples])
    return {"input_ids": input_ids, "labels": labels, "attention_mask": mask,
            "pixel_values": torch.cat([pv for _, _, pv in examples])}


def learning_rate(step: int, recipe: Recipe) -> float:
    if step < recipe.warmup:
        return recipe.lr * (step + 1) / recipe.warmup
    progress = (step - recipe.warmup) / max(1, recipe.steps - recipe.warmup)
    return recipe.lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress)))


EVAL_THINKING_CAP = 160  # trained traces are under 100 tokens; an untrained model never stops


def evaluate(model, tokenizer, recipe: Recipe, n: int, thinking_budget: int = EVAL_THINKING_CAP) -> float:
    """Held-out accuracy, greedy, through the real engine on the in-memory model."""
    from model.tiny.evaluate import accuracy_in_memory

    return accuracy_in_memory(model, tokenizer, recipe.seed + EVAL_SEED_OFFSET, n, thinking_budget)["accuracy"]


def train(recipe: Recipe, out: Path) -> dict:
    torch.manual_seed(recipe.seed)
    # A position is one token, so naming the odd one's place is a single look-up in the trace
    # ("blue circle at" -> "bottom right") rather than two, of which the second is ambiguous.
    tokenizer = build.build_tokenizer(training_corpus(recipe.seed), recipe.vocab, phrases=POSITIONS)
    config = build.tiny_native_config(tokenizer, recipe.size)
    model = InternVLForConditionalGeneration(config)
    tokens_per_tile = config.image_seq_length
    optimizer = torch.optim.AdamW(model.parameters(), lr=recipe.lr, weight_decay=0.01, betas=(0.9, 0.98))
    started, log, losses = time.monotonic(), [], []
    for step in range(recipe.steps):
        model.train()
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(step, recipe)
        loss = model(**make_batch(step, recipe, tokenizer, tokens_per_tile)).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        if step % recipe.log_every == 0 or step == recipe.steps - 1:
            losses.append({"step": step, "loss": round(loss.item(), 4)})
            print(f"step {step:5d}  loss {loss.item():.4f}  {time.monotonic() - started:6.0f} s", flush=True)
        if recipe.eval_every and (step + 1) % recipe.eval_every == 0 and step + 1 < recipe.steps:
            accuracy = evaluate(model.eval(), tokenizer, recipe, recipe.eval_n)
            log.append({"step": step + 1, "accuracy": accuracy})
            print(f"step {step + 1:5d}  held-out accuracy {accuracy:.1%} on {recipe.eval_n}", flush=True)
    minutes = (time.monotonic() - started) / 60
    build.save_official(model.eval(), tokenizer, out)
    summary = {"recipe": recipe.__dict__, "train_minutes": round(minutes, 1), "evals": log, "losses": losses,
               "parameters": sum(p.numel() for p in model.parameters())}
    (out / "training.json").write_text(json.dumps(summary, indent=2))
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description="Train the tiny visual reasoner on CPU.")
    parser.add_argument("--out", type=Path, required=True)
    for name, default in Recipe().__dict__.items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=type(default), default=default)
    args = vars(parser.parse_args())
    out = args.pop("out")
    torch.set_num_threads(max(1, torch.get_num_threads()))
    summary = train(Recipe(**args), out)
    print(json.dumps({k: v for k, v in summary.items() if k != "recipe"}))


if __name__ == "__main__":
    main()
