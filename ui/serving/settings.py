"""The one list of generation settings and the served model's own defaults.

- `served_defaults(spec)`: where the page's sliders start and what `/reason` (and its MCP tool) use
  when a caller leaves a setting out (or sends null): the model's official sampling, an answer budget
  of at most a quarter of its context (`checkpoint_context`, from config.json on disk),
  and max tiles from the checkpoint's config (`max_dynamic_patch`) when the checkpoint is on disk.
- `API_SETTINGS`: the settings `/reason` takes after `images` and `question`, in its positional
  order (the first five are the endpoint's original parameters, kept for old callers), each with
  the `GenerationOptions` field it sets and the description shown to API and MCP clients.
- `options_from_api(values, words)`: those values -> validated `GenerationOptions`.
Bounds live in `model/events.py` (`GenerationOptions.validated`); this module adds no new ones.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from model import events as bounds
from model import registry
from model.events import GenerationOptions, describe

log = logging.getLogger(__name__)

# The tiny model answers in one short sentence; a small answer budget keeps a stray run short.
TINY_ANSWER_BUDGET = 256
ANSWER_BUDGET = 2_048
THINKING_SLIDER_DEFAULT = 4_096  # where the thinking slider starts once "No limit" is unticked


@dataclass(frozen=True)
class Setting:
    name: str  # the /reason parameter
    option: str  # the GenerationOptions field it sets
    kind: type  # int or float
    description: str


API_SETTINGS: tuple[Setting, ...] = (
    Setting("thinking_budget", "thinking_budget", int,
            f"most tokens the model may think before it must answer (0 to {bounds.THINKING_BUDGET_MAX}); "
            f"{bounds.NO_LIMIT} = no limit."),
    Setting("max_new_tokens", "answer_budget", int,
            f"most tokens of the answer itself ({bounds.ANSWER_BUDGET_MIN} to {bounds.ANSWER_BUDGET_MAX}, "
            "within the model's context)."),
    Setting("temperature", "temperature", float,
            f"sampling temperature, 0 = greedy ({bounds.TEMPERATURE_MIN:g} to {bounds.TEMPERATURE_MAX:g})."),
    Setting("top_p", "top_p", float, f"nucleus sampling mass ({bounds.TOP_P_MIN:g} to {bounds.TOP_P_MAX:g})."),
    Setting("seed", "seed", int, f"random seed for a reproducible answer (0 to {bounds.SEED_MAX}); -1 = random."),
    Setting("top_k", "top_k", int, f"sample from the k likeliest tokens only ({bounds.TOP_K_MIN} to "
                                   f"{bounds.TOP_K_MAX}); 0 = off."),
    Setting("repetition_penalty", "repetition_penalty", float,
            f"penalty on repeated tokens ({bounds.REPETITION_PENALTY_MIN:g} to {bounds.REPETITION_PENALTY_MAX:g}); "
            "1 = none."),
    Setting("max_tiles", "max_tiles", int,
            f"most tiles each image is cut into, plus a thumbnail ({bounds.MAX_TILES_MIN} to "
            f"{bounds.MAX_TILES_MAX}); more tiles see finer detail and cost more tokens."),
    Setting("min_thinking", "min_thinking", int,
            f"fewest tokens the model must think before it may answer (0 to {bounds.MIN_THINKING_MAX})."),
)
HISTORY_DESCRIPTION = ('earlier turns of the conversation, oldest first: [question, answer] pairs or '
                       '{"question": ..., "answer": ..., "images": [...]} objects (earlier thinking is left '
                       'out, as on the page); empty for a new conversation.')


def api_defaults(defaults: GenerationOptions) -> dict[str, Any]:
    """Each API setting's default on this server, by parameter name."""
    return {setting.name: getattr(defaults, setting.option) for setting in API_SETTINGS}


def options_from_api(values: Mapping[str, Any]) -> GenerationOptions:
    """/reason's setting values (by parameter name) -> validated options; raises UserFacingError."""
    return GenerationOptions.validated(**{setting.option: values[setting.name] for setting in API_SETTINGS})


def served_defaults(spec: registry.ModelSpec) -> GenerationOptions:
    """Where the sliders start and what /reason uses: the model's official sampling, budgets that
    fit its context, and the checkpoint's own tile limit."""
    answer_budget = TINY_ANSWER_BUDGET if spec.is_tiny else ANSWER_BUDGET
    context = checkpoint_context(spec)
    if context:  # a quarter of the context at most: the prompt (images, question, history) needs the rest
        answer_budget = max(bounds.ANSWER_BUDGET_MIN, min(answer_budget, context // 4))
    return GenerationOptions.validated(
        temperature=spec.temperature, top_p=spec.top_p, repetition_penalty=spec.repetition_penalty,
        max_tiles=checkpoint_max_tiles(spec), answer_budget=answer_budget)


def _checkpoint_config(spec: registry.ModelSpec) -> dict:
    """The checkpoint's config.json when it is on disk (Hub checkpoints not downloaded yet: {})."""
    config = Path(spec.source) / "config.json"
    if not config.is_file():
        return {}
    try:
        found = json.loads(config.read_text(encoding="utf-8"))
    except (ValueError, OSError):
        log.warning("could not read %s; using the registry's defaults", config)
        return {}
    return found if isinstance(found, dict) else {}


def checkpoint_context(spec: registry.ModelSpec) -> int:
    """The language model's context in tokens (official `llm_config`, native `text_config`), or 0."""
    config = _checkpoint_config(spec)
    for part in (config.get("llm_config"), config.get("text_config"), config):
        value = part.get("max_position_embeddings") if isinstance(part, dict) else None
        if isinstance(value, int) and value > 0:
            return value
    return 0


def checkpoint_max_tiles(spec: registry.ModelSpec) -> int:
    """`max_dynamic_patch` from a checkpoint on disk (the setting it was trained and configured
    for); the registry's value for Hub checkpoints not downloaded yet (the page is built before)."""
    raw = _checkpoint_config(spec).get("max_dynamic_patch", spec.max_tiles)
    try:
        value = int(raw)
    except (ValueError, TypeError):
        log.warning("max_dynamic_patch %s of %s is not a number; using %d tiles", describe(raw), spec.source,
                    spec.max_tiles)
        return spec.max_tiles
    return min(max(value, bounds.MAX_TILES_MIN), bounds.MAX_TILES_MAX)
