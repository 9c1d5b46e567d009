"""The page's option controls -> validated `GenerationOptions`, refusals worded for the person.

`CONTROL_NAMES` is the order in which layout.py passes the controls to the answering events;
`options_from_controls(values, words)` and `validated_options(words, **raw)` raise `gr.Error` naming
the bad setting and its range in the person's language.
"""
from __future__ import annotations

from typing import Any, Sequence

import gradio as gr

from model.events import NO_LIMIT, GenerationOptions, UserFacingError
from ui.i18n.words import EN, Words

CONTROL_NAMES = ("thinking_budget", "no_limit", "answer_budget", "temperature", "top_p", "top_k",
                 "repetition_penalty", "max_tiles", "seed")


def options_from_controls(values: Sequence[Any], words: Words = EN) -> GenerationOptions:
    """Slider values -> validated options; raises gr.Error naming a bad value."""
    raw = dict(zip(CONTROL_NAMES, values))
    if raw.pop("no_limit"):
        raw["thinking_budget"] = NO_LIMIT
    return validated_options(words, **raw)


def validated_options(words: Words, **raw: Any) -> GenerationOptions:
    try:
        return GenerationOptions.validated(**raw)
    except UserFacingError as error:
        raise gr.Error(words.message(error), print_exception=False) from None


