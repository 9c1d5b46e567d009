"""The bundled tiny reasoner really reasons, and its recipe still trains.

Accuracy is measured on fresh puzzles from a seed the trainer never saw, through the engine's whole
path (PNG bytes -> validation -> tiling -> template -> generate -> splitter), greedy. Both numbers
(thinking allowed, thinking budget 0) are printed and written to tests/artifacts/tiny_accuracy.json.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from model.local.engine import LocalEngine
from model.local.loader import load
from model.registry import TINY_PATH, ModelSpec, by_name
from model.tiny.evaluate import run_puzzles
from model.tiny.train import EVAL_SEED_OFFSET, Recipe, train

UNSEEN_SEED = 20_261_129
ARTIFACTS = Path(__file__).parent / "artifacts"


@pytest.fixture(scope="module")
def bundled_engine():
    assert (TINY_PATH / "config.json").is_file(), "the bundled checkpoint assets/tiny-r1v is missing"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a 2.5M-parameter model decodes faster on one thread than on two
    yield LocalEngine(load(by_name("tiny"), device="cpu"))
    torch.set_num_threads(threads)


def test_unseen_seed_is_not_a_training_or_eval_seed():
    recipe = Recipe()
    assert UNSEEN_SEED not in (recipe.seed, recipe.seed + EVAL_SEED_OFFSET)


@pytest.mark.timeout(900)  # 250 answers: under a minute alone, several on a loaded machine
def test_accuracy_on_200_fresh_puzzles(bundled_engine):
    full = run_puzzles(bundled_engine, UNSEEN_SEED, 200)
    no_thinking = run_puzzles(bundled_engine, UNSEEN_SEED, 50, thinking_budget=0)  # the first 50 of the same
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "tiny_accuracy.json").write_text(json.dumps({"thinking": full, "budget_0": no_thinking}, indent=2))
    print(f"\naccuracy with thinking: {full['accuracy']:.1%} ({full['mean_thinking_tokens']:.0f} thinking tokens)"
          f"; with thinking budget 0: {no_thinking['accuracy']:.1%}")
    assert full["accuracy"] >= 0.90
    assert no_thinking["mean_thinking_tokens"] == 1  # only the forced </think>
    assert no_thinking["accuracy"] > 0.0  # it still answers, and sometimes right


def test_trainer_runs_end_to_end_at_reduced_size(tmp_path):
    recipe = Recipe(steps=40, batch=8, size="micro", vocab=400, eval_every=0, warmup=5, log_every=10, lr=3e-3)
    summary = train(recipe, tmp_path)
    losses = [entry["loss"] for entry in summary["losses"]]
    assert losses[-1] < losses[0] / 2  # it learns (the templated text at least)
    loaded = load(ModelSpec("trained", str(tmp_path), "deepseek_r1", by_name("tiny").stop_tokens), device="cpu")
    assert loaded.layout == "official"
    result = run_puzzles(LocalEngine(loaded), UNSEEN_SEED, 2, thinking_budget=16)
    assert result["n"] == 2 and result["mean_thinking_tokens"] > 0
