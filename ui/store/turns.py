"""A finished turn as data: what the session keeps, the store writes and the exports read.

Contract: `TurnRecord` holds the texts, images, counts and stats of one answered turn and nothing
about how it is drawn (that is `ui.render.messages.turn_messages`); `RestoredTurn` is one read back
from the store, with the images the server no longer has and the signature the store gave.
Nothing here imports Gradio or the renderer.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from model.events import FinishReason, Turn


@dataclass(frozen=True)
class TurnRecord:
    """A finished turn as the session keeps it (and the exports show it)."""

    question: str
    images: tuple[str, ...]
    thinking: str
    answer: str
    thinking_tokens: int
    thought_s: float
    budget_fired: bool
    finish_reason: FinishReason
    stats: dict = field(default_factory=dict)

    def as_turn(self) -> Turn:
        return Turn(question=self.question, answer=self.answer, images=self.images)


@dataclass(frozen=True)
class RestoredTurn(TurnRecord):
    """A turn read back from the store: `images` holds those the server still has (the model sees only
    these), `missing_images` the rest, drawn as a short note; `signature` is what the store said."""

    missing_images: tuple[str, ...] = ()
    signature: str = ""
