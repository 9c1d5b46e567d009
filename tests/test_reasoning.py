"""The splitter, the incremental decoder and the budget tracker, table-driven.

Each splitter case runs whole and in every chunking of its text, and must give the same thinking
and answer; the single-id mode is driven with real token ids of the bundled tokenizer.
"""
from __future__ import annotations

import itertools

import pytest
import torch

from tests.helpers import tiny_folder, tiny_tokenizer  # noqa: F401 (fixtures)

from model.reasoning import (BudgetProcessor, IncrementalDecoder, Phase, Splitter, make_tracker,
                             marker_ids)

CASES = [
    # (generated text, expected thinking, expected answer)
    ("plain thought</think>the answer", "plain thought", "the answer"),
    ("</think>answer only", "", "answer only"),
    ("never closes its thinking", "never closes its thinking", ""),
    ("glued</think>\n\nAnswer: 42", "glued", "\n\nAnswer: 42"),
    ("a < b and </thin is not it</think>ok", "a < b and </thin is not it", "ok"),
    # A model cut short by the budget often closes its thinking again: no raw marker in the answer.
    ("two markers</think>x</think>y", "two markers", "xy"),
    ("</think>a</th<b>", "", "a</th<b>"),
    ("ends with a partial marker </thi", "ends with a partial marker </thi", ""),
    ("émoji 🧠 and 数学</think>答案 ✓", "émoji 🧠 and 数学", "答案 ✓"),
]


def _run_text_mode(chunks: list[str]) -> tuple[str, str]:
    splitter = Splitter(marker_ids=[101, 102, 103])  # a marker split into several tokens: text mode
    thinking, answer = "", ""
    for chunk in chunks:
        for piece in splitter.feed(0, chunk):
            thinking, answer = (thinking + piece.text, answer) if piece.phase is Phase.THINKING else (thinking, answer + piece.text)
    for piece in splitter.flush():
        thinking, answer = (thinking + piece.text, answer) if piece.phase is Phase.THINKING else (thinking, answer + piece.text)
    return thinking, answer


def _chunkings(text: str, max_cuts: int = 2):
    yield [text]
    yield list(text)
    for cuts in itertools.combinations(range(1, len(text)), min(max_cuts, max(len(text) - 1, 0))):
        bounds = (0, *cuts, len(text))
        yield [text[a:b] for a, b in zip(bounds, bounds[1:])]


@pytest.mark.parametrize("text,thinking,answer", CASES)
def test_text_mode_same_result_for_every_chunking(text, thinking, answer):
    for chunks in _chunkings(text):
        assert _run_text_mode(chunks) == (thinking, answer), chunks


def test_text_mode_holds_back_no_more_than_a_marker_prefix():
    splitter = Splitter(marker_ids=[1, 2])
    pieces = splitter.feed(0, "long thinking text ending in </th")
    assert "".join(p.text for p in pieces) == "long thinking text ending in "
    assert splitter.feed(0, "x")[0].text == "</thx"


def test_id_mode_drops_a_second_marker_token():
    splitter = Splitter(marker_ids=[7])
    pieces = [*splitter.feed(1, "thought"), *splitter.feed(7, "</think>"), *splitter.feed(2, "x"),
              *splitter.feed(7, "</think>"), *splitter.feed(3, "y")]
    assert [(p.phase, p.text) for p in pieces] == [(Phase.THINKING, "thought"), (Phase.ANSWER, "x"),
                                                   (Phase.ANSWER, "y")]


def test_id_mode_on_real_tokens(tiny_tokenizer):
    end_id = marker_ids(tiny_tokenizer)
    assert len(end_id) == 1
    for text, thinking, answer in CASES:
        ids = tiny_tokenizer.encode(text, add_special_tokens=False)
        decoder, splitter = IncrementalDecoder(tiny_tokenizer), Splitter(end_id)
        got = {Phase.THINKING: "", Phase.ANSWER: ""}
        for token_id in ids:
            for piece in splitter.feed(token_id, decoder.push(token_id)):
                got[piece.phase] += piece.text
        assert (got[Phase.THINKING], got[Phase.ANSWER]) == (thinking, answer), text


def test_incremental_decoder_never_breaks_multibyte_characters(tiny_tokenizer):
    text = "数学 🧠 ∫x²dx = x³/3 — ok"
    ids = tiny_tokenizer.encode(text, add_special_tokens=False)
    decoder = IncrementalDecoder(tiny_tokenizer)
    pieces = [decoder.push(i) for i in ids]
    assert "".join(pieces) == text
    assert all("\ufffd" not in piece for piece in pieces)
    assert len(ids) > len(text.encode()) // 4  # byte-level pieces really were split


def test_incremental_decoder_window_stays_small(tiny_tokenizer):
    decoder = IncrementalDecoder(tiny_tokenizer)
    for token_id in tiny_tokenizer.encode("word " * 2000, add_special_tokens=False):
        decoder.push(token_id)
    assert len(decoder._ids) <= 4


VOCAB = 4096  # larger than any tiny tokenizer


def _drive(tracker, generated: list[int]):
    """Run the processor as generate() does, on the growing id sequence alone (no streamer)."""
    processor = BudgetProcessor(tracker)
    ids = [3, 4, 5]  # the prompt
    tracker.prompt_len = len(ids)
    for proposed in generated:
        scores = processor(torch.tensor([ids]), torch.zeros(1, VOCAB))
        token = int(scores.argmax()) if torch.isinf(scores).any() else proposed
        ids.append(token)
    tracker.observe(ids)
    return ids[3:]


def test_budget_forces_hand_over_then_marker(tiny_tokenizer):
    tracker = make_tracker(tiny_tokenizer, thinking_budget=5)
    forced_len = len(tracker.hand_over_ids) + 1 + len(tracker.after_marker_ids)
    out = _drive(tracker, [7] * 120)
    assert out[:5] == [7] * 5
    assert out[5:5 + forced_len] == tracker.hand_over_ids + tracker.marker_ids + tracker.after_marker_ids
    assert tracker.budget_fired and tracker.phase is Phase.ANSWER
    assert tracker.thinking_tokens == 5 + len(tracker.hand_over_ids) + 1


def test_budget_zero_closes_thinking_at_once(tiny_tokenizer):
    tracker = make_tracker(tiny_tokenizer, thinking_budget=0)
    out = _drive(tracker, [7] * 10)
    assert out[0] == tracker.marker_ids[0]
    assert tracker.thinking_tokens == 1 and tracker.answer_tokens == 9


def test_no_limit_never_forces(tiny_tokenizer):
    tracker = make_tracker(tiny_tokenizer, thinking_budget=-1)
    assert _drive(tracker, [7] * 100) == [7] * 100
    assert not tracker.budget_fired


def test_min_thinking_forbids_early_marker_and_stop(tiny_tokenizer):
    tracker = make_tracker(tiny_tokenizer, thinking_budget=-1, min_thinking=3, stop_ids=[1])
    assert tracker.banned() == tracker.marker_ids[:1] + [1]
    processor = BudgetProcessor(tracker)
    marker = tracker.marker_ids[0]
    scores = torch.zeros(1, VOCAB)
    scores[0, marker] = 10.0
    assert int(processor(torch.tensor([[7]]), scores).argmax()) != marker
    tracker.observe([7, 7, 7])
    assert int(processor(torch.tensor([[7, 7, 7]]), scores).argmax()) == marker


def test_tracker_counts_each_id_once_however_often_it_is_shown(tiny_tokenizer):
    tracker = make_tracker(tiny_tokenizer, thinking_budget=-1, prompt_len=2)
    marker = tracker.marker_ids[0]
    ids = [9, 9, 7, 7, marker, 8, 8]
    for end in (3, 3, 5, 4, 7, 7):  # repeated and stale views, as processor and criteria give
        tracker.observe(ids[:end])
    assert (tracker.thinking_tokens, tracker.answer_tokens, tracker.phase) == (3, 2, Phase.ANSWER)


def test_multi_token_marker_switches_on_the_id_sequence():
    from model.reasoning import ReasoningTracker

    tracker = ReasoningTracker(marker_ids=[60, 61, 62], thinking_budget=2, hand_over_ids=[50])
    processor = BudgetProcessor(tracker)
    ids = [1]
    tracker.prompt_len = 1
    for _ in range(8):
        scores = processor(torch.tensor([ids]), torch.zeros(1, 100))
        ids.append(int(scores.argmax()) if torch.isinf(scores).any() else 7)
    assert ids[1:7] == [7, 7, 50, 60, 61, 62]
    tracker.observe(ids)
    assert tracker.phase is Phase.ANSWER and tracker.thinking_tokens == 6
