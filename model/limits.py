"""Input limits: each a named setting with a documented default (see README, "Limits").

Every limit is checked before any model work; going over one gives a message naming it and its
value ("what was wrong; the limit is X"). `Limits.from_env()` reads overrides from the `R1V_MAX_*`
environment variables (`R1V_MAX_FILE_MB`, `R1V_MAX_PIXELS`, ..., one per field, upper-cased) and
raises `ValueError` naming the variable when one is not a positive whole number.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, fields

DEFAULT_MAX_FILE_MB = 20  # per uploaded file (Gradio refuses larger uploads with HTTP 413)
DEFAULT_MAX_PIXELS = 40_000_000  # per image, read from the header before decoding
DEFAULT_MAX_IMAGES = 8  # per conversation
DEFAULT_MAX_QUESTION_CHARS = 8_000
DEFAULT_MAX_QUESTION_TOKENS = 2_000  # the question alone, as the model's tokenizer counts it
DEFAULT_MAX_PROMPT_TOKENS = 24_000  # images, history and question together
DEFAULT_MAX_TURNS = 20  # earlier turns kept in one conversation
DEFAULT_MAX_PDF_PAGES = 4  # pages read from one PDF (each is an image of the conversation)
DEFAULT_MAX_PDF_MB = 20  # per PDF file; the per-file upload limit applies too


@dataclass(frozen=True)
class Limits:
    max_file_mb: int = DEFAULT_MAX_FILE_MB
    max_pixels: int = DEFAULT_MAX_PIXELS
    max_images: int = DEFAULT_MAX_IMAGES
    max_question_chars: int = DEFAULT_MAX_QUESTION_CHARS
    max_question_tokens: int = DEFAULT_MAX_QUESTION_TOKENS
    max_prompt_tokens: int = DEFAULT_MAX_PROMPT_TOKENS
    max_turns: int = DEFAULT_MAX_TURNS
    max_pdf_pages: int = DEFAULT_MAX_PDF_PAGES
    max_pdf_mb: int = DEFAULT_MAX_PDF_MB

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> "Limits":
        environ = os.environ if environ is None else environ
        values = {}
        for f in fields(cls):
            name = env_name(f.name)
            raw = environ.get(name)
            if raw is not None:
                values[f.name] = _positive_int(name, raw)
        return cls(**values)


def env_name(field_name: str) -> str:
    """The environment variable that overrides a limit: max_pixels -> R1V_MAX_PIXELS."""
    return f"R1V_{field_name.upper()}"


def _positive_int(name: str, raw: str) -> int:
    try:
        value = int(raw.strip().replace("_", ""))
    except ValueError:
        raise ValueError(f"{name} must be a whole number; got {raw!r}.") from None
    if value < 1:
        raise ValueError(f"{name} must be at least 1; got {value}.")
    return value


# An answer needs room to think besides its answer budget; with less, it runs out while thinking.
THINKING_ROOM = 64


def turn_room(answer_budget: int) -> int:
    """Tokens of context one more answer needs: its answer budget and THINKING_ROOM to think (a
    follow-up with less room left is refused as a full conversation, by the page and /reason)."""
    return answer_budget + THINKING_ROOM
