"""Splitting thinking from answer, decoding incrementally, and holding the thinking budget.

R1V prompts end in `<think>\\n`, so generated text starts inside the thinking and only the closing
marker ever appears. Everything here works one token at a time, with a cost per token that does
not grow with the length of the trace:

- `IncrementalDecoder.push(id) -> str`: the new text of one token; bytes of an unfinished
  multi-byte character are held back until complete.
- `Splitter`: THINKING -> ANSWER state machine. A single-token marker (R1V's `</think>`) switches on
  the token id; a marker the tokenizer splits into several tokens (R1V3) is matched in the text,
  holding back at most `len(marker) - 1` characters that might begin it.
- `ReasoningTracker`: one generation's phase, exact token counts and forced-token queue, read
  from the generated ids at each step; `BudgetProcessor` (a LogitsProcessor) uses it to force the
  hand-over and the marker when the thinking budget is spent, and to forbid ending the thinking
  before `min_thinking` tokens (s1's budget forcing).
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
    """Decode token by token over a short sliding window of ids.

    The window's text before the newest token only changes when the window moves, so it is kept
    (`_before`); a window of one token, the usual case, is looked up in a small memo. Each token
    then costs one tokenizer call instead of two."""

    _MEMO_MAX = 1 << 16

    def __init__(self, tokenizer: PreTrainedTokenizerBase, skip_special_tokens: bool = True):
        self._tokenizer = tokenizer
        self._skip = skip_special_tokens
        self._ids: list[int] = []
        self._read = 0  # ids before this were already returned as text
        self._before = ""  # the text of self._ids[:self._read]
        self._memo: dict[int, str] = {}

    def push(self, token_id: int) -> str:
        self._ids.append(token_id)
        before = self._before
        after = self._decode(self._ids)
        if len(after) <= len(before) or after.endswith("\ufffd"):
            return ""  # nothing printable yet (special token, or a partial character)
        self._ids = self._ids[self._read:]  # keep only the window
        self._read = len(self._ids)
        self._before = self._decode_window()
        return after[len(before):]

    def _decode_window(self) -> str:
        if len(self._ids) != 1:
            return self._decode(self._ids)
        token_id = self._ids[0]
        text = self._memo.get(token_id)
        if text is None:
            if len(self._memo) >= self._MEMO_MAX:
                self._memo.clear()
            text = self._memo[token_id] = self._decode(self._ids)
        return text

    def _decode(self, ids: list[int]) -> str:
        return self._tokenizer.decode(ids, skip_special_tokens=self._skip) if ids else ""


@dataclass
class Piece:
    phase: Phase
    text: str


class Splitter:
    """THINKING until the end marker, then ANSWER. Feed `(token_id, text)` pairs.

    A later marker is dropped: a model made to close its thinking (the budget) often closes it again
    itself, and a raw `</think>` must not show in the answer. In text mode that holds back, in the
    answer too, at most `len(marker) - 1` characters that might begin one."""

    def __init__(self, marker_ids: list[int], marker_text: str = END_THINK):
        self.phase = Phase.THINKING
        self._single_id = marker_ids[0] if len(marker_ids) == 1 else None
        self._marker = marker_text
        self._held = ""  # text-mode only: a tail that might start the marker

    def feed(self, token_id: int, text: str) -> list[Piece]:
        if self._single_id is not None:
            if token_id == self._single_id:
                self.phase = Phase.ANSWER
                return []
            return [Piece(self.phase, text)] if text else []
        return self._feed_text(text)

    def _feed_text(self, text: str) -> list[Piece]:
        buffer, pieces = self._held + text, []
        while (found := buffer.find(self._marker)) != -1:
            pieces.append(Piece(self.phase, buffer[:found]))
            self.phase, buffer = Phase.ANSWER, buffer[found + len(self._marker):]
        keep = _longest_marker_prefix_suffix(buffer, self._marker)
        self._held = buffer[len(buffer) - keep:] if keep else ""
        pieces.append(Piece(self.phase, buffer[:len(buffer) - keep]))
        return _joined([piece for piece in pieces if piece.text])

    def flush(self) -> list[Piece]:
        """At the end of generation: release any held-back text."""
        held, self._held = self._held, ""
        return [Piece(self.phase, held)] if held else []


def _joined(pieces: list[Piece]) -> list[Piece]:
    out: list[Piece] = []
    for piece in pieces:
        if out and out[-1].phase is piece.phase:
            out[-1] = Piece(piece.phase, out[-1].text + piece.text)
        else:
            out.append(piece)
    return out


def _longest_marker_prefix_suffix(text: str, marker: str) -> int:
    for size in range(min(len(marker) - 1, len(text)), 0, -1):
        if text.endswith(marker[:size]):
            return size
    return 0


@dataclass
class ReasoningTracker:
    """Phase, counts and forced tokens of one generation, read from the ids themselves.

    `observe(ids)` is called by the budget processor and the stopping criteria with the whole
    sequence so far; it looks only at ids it has not seen yet (one per step), so it is exact
    whatever the streamer's timing (transformers may stream one step late on GPUs). When the marker
    is several tokens (R1V3), the streamer's text splitter may also report the switch
    (`answer_seen_in_text`), since the model can tokenize `</think>` differently from us.
    """

    marker_ids: list[int]
    thinking_budget: int  # -1: no limit
    prompt_len: int = 0
    min_thinking: int = 0
    stop_ids: list[int] = field(default_factory=list)
    hand_over_ids: list[int] = field(default_factory=list)
    after_marker_ids: list[int] = field(default_factory=list)
    phase: Phase = Phase.THINKING
    thinking_tokens: int = 0
    answer_tokens: int = 0
    budget_fired: bool = False
    fired_at: int = 0  # thinking tokens when the budget fired
    answer_seen_in_text: bool = False
    forced: deque = field(default_factory=deque)
    _seen: int = 0
    _tail: list[int] = field(default_factory=list)

    def observe(self, ids: list[int] | torch.Tensor) -> None:
        length = ids.shape[-1] if isinstance(ids, torch.Tensor) else len(ids)
        start = max(self._seen, self.prompt_len)
        if start >= length:
            return
        new = ids[start:length]  # one slice and one host copy per step, not one per id
        for token_id in (new.tolist() if isinstance(new, torch.Tensor) else new):
            self._count(int(token_id))
        self._seen = length

    def _count(self, token_id: int) -> None:
        if self.phase is Phase.THINKING:
            self.thinking_tokens += 1
            self._tail = (self._tail + [token_id])[-len(self.marker_ids):]
            if self._tail == self.marker_ids or self.answer_seen_in_text:
                self.phase = Phase.ANSWER
        else:
            self.answer_tokens += 1
        if self.forced and self.forced[0] == token_id:
            self.forced.popleft()

    def next_forced(self) -> int | None:
        if self.phase is Phase.THINKING and not self.budget_fired and self._budget_spent():
            self.budget_fired, self.fired_at = True, self.thinking_tokens
            lead = self.hand_over_ids if self.thinking_budget > 0 else []
            self.forced.extend(lead + self.marker_ids + self.after_marker_ids)
        return self.forced[0] if self.forced else None

    def _budget_spent(self) -> bool:
        return self.thinking_budget >= 0 and self.thinking_tokens >= self.thinking_budget

    def banned(self) -> list[int]:
        """Before `min_thinking` tokens neither the marker nor a stop token may end the thinking."""
        if self.phase is Phase.THINKING and self.thinking_tokens < self.min_thinking:
            return self.marker_ids[:1] + self.stop_ids
        return []


class BudgetProcessor(LogitsProcessor):
    """Forces queued tokens and bans an early end of thinking; O(vocab) per step, no history scan."""

    def __init__(self, tracker: ReasoningTracker):
        self.tracker = tracker

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        self.tracker.observe(input_ids[0])
        forced = self.tracker.next_forced()
        if forced is not None:
            only = torch.full_like(scores, float("-inf"))
            only[:, forced] = 0.0
            return only
        banned = self.tracker.banned()
        if banned:
            scores = scores.clone()
            scores[:, banned] = float("-inf")
        return scores


def marker_ids(tokenizer: PreTrainedTokenizerBase) -> list[int]:
    """Ids of `</think>`: one added token for R1V/R1V2, several plain tokens for R1V3."""
    vocab = tokenizer.get_added_vocab()
    if END_THINK in vocab:
        return [vocab[END_THINK]]
    return tokenizer.encode(END_THINK, add_special_tokens=False)


def make_tracker(tokenizer: PreTrainedTokenizerBase, thinking_budget: int, min_thinking: int = 0,
                 prompt_len: int = 0, stop_ids: list[int] | None = None) -> ReasoningTracker:
    def encode(text: str) -> list[int]:
        return tokenizer.encode(text, add_special_tokens=False)

    return ReasoningTracker(
        marker_ids=marker_ids(tokenizer), thinking_budget=thinking_budget, prompt_len=prompt_len,
        min_thinking=min_thinking, stop_ids=list(stop_ids or []),
        hand_over_ids=encode(HAND_OVER), after_marker_ids=encode(AFTER_MARKER),
    )
