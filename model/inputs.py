"""Request -> model inputs: images validated and tiled, prompt built, limits checked.

`prepare_input(loaded, request)` raises `UserFacingError` (with the limit and its value) before
any model work when an image, the question or the whole prompt is out of bounds. Images of earlier
turns stay in the prompt, in the turn where they were first shown, so follow-ups can refer to them.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence, Union

import torch

from model.events import Request, UserFacingError
from model.images import ImageError, ImageLimits, load_image, tile_images
from model.limits import Limits
from model.loader import LoadedModel
from model.prompt import PromptTurn, build_prompt

ImageSource = Union[str, Path, bytes]


@dataclass
class PreparedInput:
    input_ids: torch.Tensor  # [1, prompt_tokens]
    pixel_values: torch.Tensor | None  # [total_tiles, 3, tile, tile]
    tiles_per_image: list[int]
    prompt_text: str


def _name(source: ImageSource, index: int) -> str:
    return Path(source).name if isinstance(source, (str, Path)) else f"image {index + 1}"


def load_images(sources: Sequence[ImageSource], limits: Limits) -> list:
    images = []
    for index, source in enumerate(sources):
        try:
            images.append(load_image(source, ImageLimits(max_pixels=limits.max_pixels), name=_name(source, index)))
        except ImageError as error:
            raise UserFacingError(str(error)) from None
    return images


def check_request(request: Request, limits: Limits) -> None:
    question = request.question.strip()
    if not question:
        raise UserFacingError("Please type a question.")
    if len(request.question) > limits.max_question_chars:
        raise UserFacingError(f"The question is {len(request.question):,} characters long; "
                              f"the limit is {limits.max_question_chars:,}.")
    all_images = len(request.images) + sum(len(turn.images) for turn in request.history)
    if all_images > limits.max_images:
        raise UserFacingError(f"This conversation would hold {all_images} images; the limit is {limits.max_images}.")
    if len(request.history) > limits.max_turns:
        raise UserFacingError(f"This conversation has {len(request.history)} earlier turns; the limit is "
                              f"{limits.max_turns}. Press Clear to start a new one.")


def prepare_input(loaded: LoadedModel, request: Request, limits: Limits | None = None) -> PreparedInput:
    limits = limits or Limits()
    check_request(request, limits)
    sources = [image for turn in request.history for image in turn.images] + list(request.images)
    images = load_images(sources, limits)
    tiles = tile_images(images, loaded.tile_size, request.options.max_tiles, loaded.use_thumbnail) if images else None
    counts = tiles.tiles_per_image if tiles else []
    turns, used = [], 0
    for turn in request.history:
        shown = tuple(counts[used:used + len(turn.images)])
        used += len(turn.images)
        turns.append(PromptTurn(turn.question, shown, turn.answer))
    turns.append(PromptTurn(request.question, tuple(counts[used:]), None))
    prompt = build_prompt(loaded.tokenizer, loaded.template, turns, loaded.tokens_per_tile)
    _check_length(loaded, request, len(prompt.input_ids), limits)
    pixel_values = tiles.pixel_values.to(loaded.device, loaded.model.dtype) if tiles else None
    return PreparedInput(torch.tensor([prompt.input_ids], device=loaded.device), pixel_values, counts, prompt.text)


MIN_ROOM_TOKENS = 128  # context a prompt must leave for thinking and answering


def _check_length(loaded: LoadedModel, request: Request, prompt_tokens: int, limits: Limits) -> None:
    """Refuse prompts that are too long; budgets beyond the context are clamped by the engine."""
    if prompt_tokens > limits.max_prompt_tokens:
        raise UserFacingError(f"The prompt is {prompt_tokens:,} tokens (images included); the limit is "
                              f"{limits.max_prompt_tokens:,}. Use fewer tiles, fewer images or a shorter question.")
    context = int(getattr(loaded.model.config.text_config, "max_position_embeddings", 0) or 0)
    if context and context - prompt_tokens < MIN_ROOM_TOKENS:
        raise UserFacingError(
            f"The prompt ({prompt_tokens:,} tokens, images included) leaves less than {MIN_ROOM_TOKENS} of the "
            f"model's {context:,}-token context for thinking and answering. Use fewer tiles or images, "
            "or start a new conversation.")
