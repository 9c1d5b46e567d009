"""The vocabulary shared by engines, UI, API and tests.

- `GenerationOptions`: every knob a person or a script can set, with its bounds as named
  constants, checked in one place (`GenerationOptions.validated`). Out-of-range or non-numeric
  values raise `UserFacingError` naming the setting and its allowed range.
- `Request`: images, question, earlier turns and options for one answer.
- The events an engine yields, in order: `Status`? -> `Prepared`? -> `ThinkingDelta`* -> `AnswerDelta`* ->
  `Stats` -> `Done` (or `Error` -> `Done`). Every stream ends with exactly one `Done`. `Prepared`
  (the prompt's size and tiles, known before generating) lets a run cancelled before its `Stats`
  still say what it cost; consumers that do not need it ignore it.

Nothing here imports torch or Gradio, so every layer can depend on it.
"""
from __future__ import annotations

import json
import math
import threading
from dataclasses import asdict, dataclass, field, fields, replace
from enum import Enum
from pathlib import Path
from typing import Any, Optional, Union

NO_LIMIT = -1  # thinking_budget value meaning "think as long as the model wants"

THINKING_BUDGET_MAX = 32_768
ANSWER_BUDGET_MIN, ANSWER_BUDGET_MAX = 16, 8_192
MIN_THINKING_MAX = 8_192
TEMPERATURE_MIN, TEMPERATURE_MAX = 0.0, 2.0
TOP_P_MIN, TOP_P_MAX = 0.01, 1.0
TOP_K_MIN, TOP_K_MAX = 0, 1_000  # 0 disables top-k
REPETITION_PENALTY_MIN, REPETITION_PENALTY_MAX = 1.0, 2.0
SEED_MAX = 2**31 - 1  # seed -1 means "pick one at random"
MAX_TILES_MIN, MAX_TILES_MAX = 1, 24


class UserFacingError(Exception):
    """A problem the person can fix; its message is shown to them as it is.

    `key` and `params` name the message for pages that show it in another language.
    """

    def __init__(self, message: str, key: str | None = None, **params: Any):
        super().__init__(message)
        self.key, self.params = key, params


class FinishReason(str, Enum):
    ANSWERED = "answered"  # the model closed its thinking and finished its answer
    BUDGET_THEN_ANSWERED = "budget_then_answered"  # thinking cut by the budget, then answered
    ANSWER_BUDGET = "answer_budget"  # the answer ran out of tokens
    THINKING_UNFINISHED = "thinking_unfinished"  # ran out of tokens before closing its thinking
    STOPPED = "stopped"  # the person pressed Stop or left
    TIMEOUT = "timeout"  # the wall-clock limit ended it
    ERROR = "error"


def decide_finish(*, failed: bool, stopped: bool, timed_out: bool, answer_exhausted: bool,
                  still_thinking: bool, budget_fired: bool) -> FinishReason:
    """Why a generation ended, the same way for every engine (first matching reason wins)."""
    if failed:
        return FinishReason.ERROR
    if stopped:
        return FinishReason.STOPPED
    if timed_out:
        return FinishReason.TIMEOUT
    if answer_exhausted:
        return FinishReason.ANSWER_BUDGET
    if still_thinking:
        return FinishReason.THINKING_UNFINISHED
    return FinishReason.BUDGET_THEN_ANSWERED if budget_fired else FinishReason.ANSWERED


@dataclass(frozen=True)
class GenerationOptions:
    """Every setting of one generation. Build with `GenerationOptions.validated(**raw)`."""

    thinking_budget: int = NO_LIMIT
    answer_budget: int = 2_048
    min_thinking: int = 0
    temperature: float = 0.6
    top_p: float = 0.95
    top_k: int = 0
    repetition_penalty: float = 1.05
    seed: int = -1
    max_tiles: int = 12

    @classmethod
    def validated(cls, **raw: Any) -> "GenerationOptions":
        """Coerce and check each value; raise UserFacingError on the first bad one."""
        unknown = set(raw) - {f.name for f in fields(cls)}
        if unknown:
            names = ', '.join(sorted(unknown))
            raise UserFacingError(f"Unknown setting(s): {names}.", key="option.unknown", names=names)
        values = {f.name: _coerce(f.name, raw.get(f.name, f.default), f.type) for f in fields(cls)}
        for name, (low, high) in _bounds().items():
            value = values[name]
            if name == "thinking_budget" and value == NO_LIMIT:
                continue
            if name == "seed" and value == -1:
                continue
            if not low <= value <= high:
                raise UserFacingError(f"{_label(name)} must be between {low} and {high}; got {value}.",
                                      key="option.range", setting=name, low=low, high=high, value=value)
        return cls(**values)

    def replace(self, **changes: Any) -> "GenerationOptions":
        return GenerationOptions.validated(**{**asdict(self), **changes})

    @property
    def greedy(self) -> bool:
        return self.temperature == 0.0


def _bounds() -> dict[str, tuple[float, float]]:
    return {
        "thinking_budget": (0, THINKING_BUDGET_MAX),
        "answer_budget": (ANSWER_BUDGET_MIN, ANSWER_BUDGET_MAX),
        "min_thinking": (0, MIN_THINKING_MAX),
        "temperature": (TEMPERATURE_MIN, TEMPERATURE_MAX),
        "top_p": (TOP_P_MIN, TOP_P_MAX),
        "top_k": (TOP_K_MIN, TOP_K_MAX),
        "repetition_penalty": (REPETITION_PENALTY_MIN, REPETITION_PENALTY_MAX),
        "seed": (0, SEED_MAX),
        "max_tiles": (MAX_TILES_MIN, MAX_TILES_MAX),
    }


def _label(name: str) -> str:
    return name.replace("_", " ").capitalize()


SHOWN_CHARS = 40  # of a bad text value repeated in a message


def describe(value: Any) -> str:
    """A value as a client sent it, for a message: in JSON's words (null, a list of 2 items), text
    quoted and cut at SHOWN_CHARS characters; never a Python repr, never a lone surrogate."""
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    if isinstance(value, (int, float)):
        return f"{value:g}" if isinstance(value, float) else str(value)
    if isinstance(value, str):
        quoted = json.dumps(value[:SHOWN_CHARS], ensure_ascii=False)
        quoted = quoted.encode("utf-8", "backslashreplace").decode("utf-8")
        return quoted if len(value) <= SHOWN_CHARS else f"{quoted[:-1]}…\" ({len(value):,} characters)"
    if isinstance(value, (list, tuple)):
        return f"a list of {len(value)} item{'s' if len(value) != 1 else ''}"
    if isinstance(value, dict):
        keys = ", ".join(str(key)[:SHOWN_CHARS] for key in list(value)[:6])
        return f"an object with the keys {keys}" if keys else "an empty object"
    return type(value).__name__


def _coerce(name: str, value: Any, type_name: Any) -> int | float:
    wants_int = type_name in (int, "int")
    try:
        if isinstance(value, bool) or value is None:
            raise TypeError
        number = float(value)
    except (TypeError, ValueError):
        raise UserFacingError(f"{_label(name)} must be a number; got {describe(value)}.", key="option.not_number",
                              setting=name, value=describe(value)) from None
    if not math.isfinite(number):
        raise UserFacingError(f"{_label(name)} must be a finite number; got {describe(value)}.",
                              key="option.not_finite", setting=name, value=describe(value))
    if wants_int:
        if number != int(number):
            raise UserFacingError(f"{_label(name)} must be a whole number; got {value!r}.", key="option.not_whole",
                                  setting=name, value=repr(value))
        return int(number)
    return number


@dataclass(frozen=True)
class Turn:
    """One earlier exchange; only the answer is kept (earlier thinking is dropped)."""

    question: str
    answer: str
    images: tuple[str, ...] = ()  # image paths first shown in this turn


@dataclass(frozen=True)
class Request:
    """One question. `images` are the new images of this turn (paths or raw bytes)."""

    question: str
    images: tuple[Union[str, Path, bytes], ...] = ()
    history: tuple[Turn, ...] = ()
    options: GenerationOptions = field(default_factory=GenerationOptions)
    request_id: str = ""
    # Set by a Stop button: generation ends within one step and still reports Stats and Done.
    # (Closing the stream also stops it, but then nothing more is yielded.)
    stop: Optional[threading.Event] = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Status:
    """Progress before tokens flow (queued, preparing images, loading)."""

    message: str
    key: str | None = None  # names the message for translation; `params` fill it in
    params: dict = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class Prepared:
    """The input is ready and generation starts: the prompt's tokens and each image's tiles."""

    prompt_tokens: int
    image_tiles: tuple[int, ...] = ()


@dataclass(frozen=True)
class ThinkingDelta:
    text: str
    tokens: int  # thinking tokens so far, hand-over included


@dataclass(frozen=True)
class AnswerDelta:
    text: str
    tokens: int  # answer tokens so far


@dataclass(frozen=True)
class BudgetReached:
    """The thinking budget fired: the hand-over text was forced after `thinking_tokens`."""

    thinking_tokens: int


@dataclass(frozen=True)
class Stats:
    prompt_tokens: int
    image_tiles: tuple[int, ...]
    thinking_tokens: int
    answer_tokens: int
    ttft_s: float | None
    thinking_s: float
    total_s: float
    tokens_per_s: float
    budget_fired: bool
    finish_reason: FinishReason
    seed: int = -1  # the seed used, so a sampled answer can be reproduced

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["image_tiles"] = list(self.image_tiles)
        data["finish_reason"] = self.finish_reason.value
        return data


@dataclass(frozen=True)
class Error:
    """Something went wrong; `message` is short and safe to show to a person."""

    message: str
    kind: str = "internal"  # "input", "oom", "timeout", "backend", "internal"
    key: str | None = None  # names the message for translation; `params` fill it in
    params: dict = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class Done:
    finish_reason: FinishReason


Event = Union[Status, Prepared, ThinkingDelta, AnswerDelta, BudgetReached, Stats, Error, Done]

__all__ = [
    "AnswerDelta", "BudgetReached", "Done", "Error", "Event", "FinishReason", "GenerationOptions", "describe",
    "NO_LIMIT", "Prepared", "Request", "Stats", "Status", "ThinkingDelta", "Turn", "UserFacingError", "replace",
]
