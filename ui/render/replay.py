"""A finished turn played again, drawn by the chat's own `LiveTurn` from re-timed events.

`phase_times(record)` reads the recorded timing from the turn: the first token after
`first_token_s`, thinking for `thought_s`, the answer until `total_s` (the engine's Stats).
`replay_frames(record, cap_s, fps)` yields `(at_s, live)`: at `at_s` seconds into the replay, draw
`live` (a LiveTurn fed ThinkingDelta/AnswerDelta events on a clock that reads recorded time, so its
titles say what they said then). Within a phase the text arrives evenly: the engine decodes at a
near-constant rate and per-token times are not kept. A recording longer than `cap_s` is played
faster, to last `cap_s`. After the last frame draw `record.messages()` (the turn exactly as it ended).
Nothing here imports Gradio.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

from model.events import AnswerDelta, BudgetReached, ThinkingDelta
from ui.i18n.words import EN, Words
from ui.render.messages import LiveTurn, TurnRecord

REPLAY_CAP_S = 20.0
REPLAY_FPS = 10.0


@dataclass(frozen=True)
class PhaseTimes:
    first_token_s: float
    thought_s: float
    total_s: float

    def as_dict(self) -> dict:
        return {"first_token_s": self.first_token_s, "thought_s": self.thought_s, "total_s": self.total_s}


def phase_times(record: TurnRecord) -> PhaseTimes:
    stats = record.stats or {}
    first = float(stats.get("ttft_s") or 0.0)
    thought = max(0.0, float(record.thought_s))
    total = max(float(stats.get("total_s") or 0.0), first + thought)
    return PhaseTimes(first, thought, total)


def _fraction(t: float, start: float, length: float) -> float:
    if t < start:
        return 0.0
    return 1.0 if length <= 0 or t >= start + length else (t - start) / length


class _Feed:
    """Hands a text out in growing prefixes, with the token count the fraction stands for."""

    def __init__(self, text: str, tokens: int):
        self.text, self.tokens, self.sent = text, tokens, 0

    def delta(self, fraction: float) -> tuple[str, int] | None:
        upto = round(len(self.text) * fraction)
        if upto <= self.sent:
            return None
        piece, self.sent = self.text[self.sent:upto], upto
        return piece, max(1, round(self.tokens * fraction))


def replay_frames(record: TurnRecord, cap_s: float = REPLAY_CAP_S, fps: float = REPLAY_FPS,
                  words: Words = EN) -> Iterator[tuple[float, LiveTurn]]:
    times = phase_times(record)
    scale = min(1.0, cap_s / times.total_s) if times.total_s > 0 else 1.0
    now = [0.0]
    live = LiveTurn(record.question, record.images, clock=lambda: now[0], words=words)
    answer_tokens = int((record.stats or {}).get("answer_tokens") or len(record.answer.split()))
    thinking, answer = _Feed(record.thinking, record.thinking_tokens), _Feed(record.answer, answer_tokens)
    answer_starts = times.first_token_s + times.thought_s
    steps = max(1, int(times.total_s * scale * fps))
    for step in range(steps + 1):
        now[0] = times.total_s * step / steps
        piece = thinking.delta(_fraction(now[0], times.first_token_s, times.thought_s))
        if piece:
            live.apply(ThinkingDelta(*piece))
        piece = answer.delta(_fraction(now[0], answer_starts, times.total_s - answer_starts))
        if piece:
            if record.budget_fired and not live.budget_fired:
                live.apply(BudgetReached(record.thinking_tokens))
            live.apply(AnswerDelta(*piece))
        yield now[0] * scale, live
