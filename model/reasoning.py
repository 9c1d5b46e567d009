"""Splitting thinking from answer, decoding incrementally, and holding the thinking budget.

R1V prompts end in `<think>\\n`, so generated text starts inside the thinking and only the closing
marker ever appears. Everything here works one token at a time, with a cost per token that does
not grow with the length of the trace:

- `IncrementalDecoder.push(id) -> str`: the new text of one token; bytes of an unfinished
  multi-byte character are held back until complete.
- `Splitter`: THINKING -> ANSWER state machine. A single-token marker (R1V's `</think>`) switches on
  the token id; a marker the tokenizer splits into several tokens (R1V3) is matched in the text,
  holding back at most `len(marker) - 1` characters that might begin it.
- `ReasoningTracker`: one generation's phase, token counts and forced-token queue, fed by the
  streamer after every token; `BudgetProcessor` (a LogitsProcessor) reads it to force the hand-over
  and the marker when the thinking budget is spent, and to forbid the marker before
  `min_thinking` tokens (s1's budget forcing).
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from enum import Enum

import torch
from transformers import LogitsProcessor, PreTrainedTokenizerBase

END_THINK = "</think>"
HAND_OVER = "\n\nI have thought about this long enough, so I will answer now.\n"
AFTER_MARKER = "\n\n"


class Phase(str, Enum):
    THINKING = "thinking"
    ANSWER = "answer"


class IncrementalDecoder:
    """Decode token by token over a short sliding window of ids."""

    def __init__(self, tokenizer: PreTrainedTokenizerBase, skip_special_tokens: bool = True):
        self._tokenizer = tokenizer
        self._skip = skip_special_tokens
        self._ids: list[int] = []
        self._prefix = 0  # window start: context for tokenizers that need it
        self._read = 0  # ids before this were already returned as text

    def push(self, token_id: int) -> str:
        self._ids.append(token_id)
        before = self._decode(self._ids[self._prefix:self._read])
        after = self._decode(self._ids[self._prefix:])
        if len(after) <= len(before) or after.endswith("\ufffd"):
            return ""  # nothing printable yet (special token, or a partial character)
        self._ids = self._ids[self._read:]  # keep only the window
        self._prefix, self._read = 0, len(self._ids)
        return after[len(before):]

    def _decode(self, ids: list[int]) -> str:
        return self._tokenizer.decode(ids, skip_special_tokens=self._skip) if ids else ""


@dataclass
class Piece:
    phase: Phase
    text: str


class Splitter:
    """THINKING until the end marker, then ANSWER. Feed `(token_id, text)` pairs."""

    def __init__(self, marker_ids: list[int], marker_text: str = END_THINK):
        self.phase = Phase.THINKING
        self._single_id = marker_ids[0] if len(marker_ids) == 1 else None
        self._marker = marker_text
        self._held = ""  # text-mode only: a tail that might start the marker

    def feed(self, token_id: int, text: str) -> list[Piece]:
        if self.phase is Phase.ANSWER:
            return [Piece(Phase.ANSWER, text)] if text else []
        if self._single_id is not None:
            if token_id == self._single_id:
                self.phase = Phase.ANSWER
                return []
            return [Piece(Phase.THINKING, text)] if text else []
        return self._feed_text(text)

    def _feed_text(self, text: str) -> list[Piece]:
        buffer = self._held + text
        found = buffer.find(self._marker)
        if found != -1:
            self.phase, self._held = Phase.ANSWER, ""
            after = buffer[found + len(self._marker):]
            return [p for p in (Piece(Phase.THINKING, buffer[:found]), Piece(Phase.ANSWER, after)) if p.text]
        keep = _longest_marker_prefix_suffix(buffer, self._marker)
        self._held = buffer[len(buffer) - keep:] if keep else ""
        emitted = buffer[:len(buffer) - keep]
        return [Piece(Phase.THINKING, emitted)] if emitted else []

    def flush(self) -> list[Piece]:
        """At the end of generation: release any held-back text."""
        held, self._held = self._held, ""
        return [Piece(self.phase, held)] if held else []


def _longest_marker_prefix_suffix(text: str, marker: str) -> int:
    for size in range(min(len(marker) - 1, len(text)), 0, -1):
        if text.endswith(marker[:size]):
            return size
    return 0


@dataclass
class ReasoningTracker:
    """Shared state of one generation: written by the streamer, read by the budget processor."""

    marker_ids: list[int]
    thinking_budget: int  # -1: no limit
    min_thinking: int = 0
    hand_over_ids: list[int] = field(default_factory=list)
    after_marker_ids: list[int] = field(default_factory=list)
    phase: Phase = Phase.THINKING
    thinking_tokens: int = 0
    answer_tokens: int = 0
    budget_fired: bool = False
    forced: deque = field(default_factory=deque)

    def on_token(self, token_id: int, phase_after: Phase) -> None:
        """Count one generated token; `phase_after` is the splitter's phase once it is seen."""
        if self.phase is Phase.THINKING:
            self.thinking_tokens += 1
        else:
            self.answer_tokens += 1
        self.phase = phase_after
        if self.forced and self.forced[0] == token_id:
            self.forced.popleft()

    def next_forced(self) -> int | None:
        if self.phase is Phase.THINKING and not self.budget_fired and self._budget_spent():
            self.budget_fired = True
            lead = self.hand_over_ids if self.thinking_budget > 0 else []
            self.forced.extend(lead + self.marker_ids + self.after_marker_ids)
        return self.forced[0] if self.forced else None

    def _budget_spent(self) -> bool:
        return self.thinking_budget >= 0 and self.thinking_tokens >= self.thinking_budget

    def forbid_marker(self) -> bool:
        return self.phase is Phase.THINKING and self.thinking_tokens < self.min_thinking


class BudgetProcessor(LogitsProcessor):
    """Forces queued tokens and forbids an early marker; O(vocab) per step, no history scan."""

    def __init__(self, tracker: ReasoningTracker):
        self.tracker = tracker

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        forced = self.tracker.next_forced()
        if forced is not None:
            only = torch.full_like(scores, float("-inf"))
            only[:, forced] = 0.0
            return only
        if self.tracker.forbid_marker():
            scores = scores.clone()
            scores[:, self.tracker.marker_ids[0]] = float("-inf")
        return scores


def marker_ids(tokenizer: PreTrainedTokenizerBase) -> list[int]:
    """Ids of `</think>`: one added token for R1V/R1V2, several plain tokens for R1V3."""
    vocab = tokenizer.get_added_vocab()
    if END_THINK in vocab:
        return [vocab[END_THINK]]
    return tokenizer.encode(END_THINK, add_special_tokens=False)


def make_tracker(tokenizer: PreTrainedTokenizerBase, thinking_budget: int, min_thinking: int = 0) -> ReasoningTracker:
    encode = lambda text: tokenizer.encode(text, add_special_tokens=False)  # noqa: E731
    return ReasoningTracker(
        marker_ids=marker_ids(tokenizer), thinking_budget=thinking_budget, min_thinking=min_thinking,
        hand_over_ids=encode(HAND_OVER), after_marker_ids=encode(AFTER_MARKER),
    )
