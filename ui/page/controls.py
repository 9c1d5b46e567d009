"""The page's option controls: the settings column, and its values -> validated `GenerationOptions`.

- `SettingsPanel.build(defaults)` draws the settings column's controls (call it inside the column);
  its fields are named as in `CONTROL_NAMES`, and `values` lists them in that order, the order in
  which the answering events receive them.
- `options_from_controls(values, words)` and `validated_options(words, **raw)` raise `gr.Error`
  naming the bad setting and its range in the person's language.
Every slider's range comes from the named bounds in `model/events.py`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import gradio as gr

from model import events as bounds
from model.events import NO_LIMIT, GenerationOptions, UserFacingError
from ui.i18n.words import EN, LABEL, Words
from ui.serving.settings import THINKING_SLIDER_DEFAULT

CONTROL_NAMES = ("thinking_budget", "no_limit", "answer_budget", "temperature", "top_p", "top_k",
                 "repetition_penalty", "max_tiles", "seed")


@dataclass
class SettingsPanel:
    """The settings column's controls, one field per name in `CONTROL_NAMES`."""

    thinking_budget: gr.Slider
    no_limit: gr.Checkbox
    answer_budget: gr.Slider
    temperature: gr.Slider
    top_p: gr.Slider
    top_k: gr.Slider
    repetition_penalty: gr.Slider
    max_tiles: gr.Slider
    seed: gr.Number

    @property
    def values(self) -> list[gr.components.Component]:
        """The controls in `CONTROL_NAMES` order: what the answering events take after their own inputs."""
        return [getattr(self, name) for name in CONTROL_NAMES]

    @classmethod
    def build(cls, defaults: GenerationOptions) -> "SettingsPanel":
        gr.Markdown(LABEL("settings.title"))
        unlimited = defaults.thinking_budget == bounds.NO_LIMIT
        # One state at a time: "No limit" ticked hides the slider; unticked, the slider shows the budget
        # (starting in proportion to the answer's), so no greyed number is ever on show.
        no_limit = gr.Checkbox(value=unlimited, label=LABEL("no_limit.label"), elem_id="no-limit")
        thinking = gr.Slider(0, bounds.THINKING_BUDGET_MAX, step=16, label=LABEL("thinking_budget.label"),
                             value=min(THINKING_SLIDER_DEFAULT, defaults.answer_budget * 2) if unlimited
                             else defaults.thinking_budget, visible=not unlimited, elem_id="thinking-budget",
                             info=LABEL("thinking_budget.info"))
        no_limit.change(lambda on: gr.Slider(visible=not on), no_limit, thinking, queue=False,
                        api_visibility="private")
        answer = gr.Slider(bounds.ANSWER_BUDGET_MIN, bounds.ANSWER_BUDGET_MAX, value=defaults.answer_budget,
                           step=16, label=LABEL("answer_budget.label"), elem_id="answer-budget")
        temperature = gr.Slider(bounds.TEMPERATURE_MIN, bounds.TEMPERATURE_MAX, value=defaults.temperature,
                                step=0.05, label=LABEL("temperature.label"), info=LABEL("temperature.info"),
                                elem_id="temperature")
        top_p = gr.Slider(bounds.TOP_P_MIN, bounds.TOP_P_MAX, value=defaults.top_p, step=0.01,
                          label=LABEL("top_p.label"))
        with gr.Accordion(LABEL("advanced.label"), open=False):
            advanced = cls._advanced(defaults)
        return cls(thinking, no_limit, answer, temperature, top_p, *advanced)

    @staticmethod
    def _advanced(defaults: GenerationOptions) -> tuple:
        top_k = gr.Slider(bounds.TOP_K_MIN, bounds.TOP_K_MAX, value=defaults.top_k, step=1,
                          label=LABEL("top_k.label"), info=LABEL("top_k.info"))
        penalty = gr.Slider(bounds.REPETITION_PENALTY_MIN, bounds.REPETITION_PENALTY_MAX,
                            value=defaults.repetition_penalty, step=0.01, label=LABEL("repetition_penalty.label"))
        tiles = gr.Slider(bounds.MAX_TILES_MIN, bounds.MAX_TILES_MAX, value=defaults.max_tiles, step=1,
                          label=LABEL("max_tiles.label"), info=LABEL("max_tiles.info"), elem_id="max-tiles")
        seed = gr.Number(value=defaults.seed, precision=0, minimum=-1, maximum=bounds.SEED_MAX,
                         label=LABEL("seed.label"), info=LABEL("seed.info"))
        return top_k, penalty, tiles, seed


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
