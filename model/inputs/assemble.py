"""Request -> model inputs: images validated and tiled, prompt built, limits checked.

`prepare_input(loaded, request, limits)` raises `UserFacingError` ("what was wrong; the limit is X")
before any model work when a file, an image, the question or the whole prompt is out of bounds:
the question's characters and tokens are checked before any image is read, file sizes before an
image is decoded, and the prompt's tokens plus the answer budget against the model's context
before anything reaches the model; a follow-up whose prompt leaves less than its answer budget plus
`THINKING_ROOM` of the context is refused as a full conversation. Without `limits` the `R1V_MAX_*` environment variables apply
(`Limits.from_env()`). Images of earlier turns stay in the prompt, in the turn where they were first
shown, so follow-ups can refer to them.

A PDF (told by its content) counts as its pages: `load_sources` gives each source its images, one
for an image file, the chosen pages for a PDF (`model.inputs.documents`: the first `max_pdf_pages` pages
that fit the conversation's `max_images`, or those named after the path, `doc.pdf#pages=2-3`), and
every page counts as one image of the conversation.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, Sequence, Union

import torch

from model.events import ANSWER_BUDGET_MIN, Request, UserFacingError
from model.inputs.documents import check_pdf_size, is_pdf, render_pdf, split_selection
from model.inputs.images import ImageError, ImageLimits, load_image, tile_images
from model.limits import THINKING_ROOM, Limits, turn_room
from model.inputs.prompt import PromptTurn, build_prompt, encode_user_text

ImageSource = Union[str, Path, bytes]
MEGABYTE = 2**20  # Gradio reads "20mb" as 20 * 2**20 bytes; the same unit here


class LoadedModel(Protocol):
    """What building inputs reads of a loaded model (`model.local.loader.LoadedModel` has it)."""

    model: Any
    tokenizer: Any
    template: str
    tile_size: int
    use_thumbnail: bool
    tokens_per_tile: int
    device: torch.device


@dataclass
class PreparedInput:
    input_ids: torch.Tensor  # [1, prompt_tokens]
    pixel_values: torch.Tensor | None  # [total_tiles, 3, tile, tile]
    tiles_per_image: list[int]
    prompt_text: str


def _name(source: ImageSource, index: int) -> str:
    if isinstance(source, (str, Path)):
        return Path(split_selection(str(source))[0]).name
    return f"image {index + 1}"


def load_images(sources: Sequence[ImageSource], limits: Limits) -> list:
    """Every image of `sources`, in order, a PDF's pages in its place."""
    return [image for images in load_sources(sources, limits) for image in images]


def load_sources(sources: Sequence[ImageSource], limits: Limits) -> list[list]:
    """Per source, its decoded RGB images: one for an image file, the chosen pages for a PDF."""
    loaded: list[list] = []
    image_limits = ImageLimits(max_pixels=limits.max_pixels)
    for index, source in enumerate(sources):
        name = _name(source, index)
        try:
            loaded.append(_load_source(source, name, limits, image_limits, sum(map(len, loaded))))
        except ImageError as error:
            raise UserFacingError(str(error), error.key, **error.params) from None
    total = sum(map(len, loaded))
    if total > limits.max_images:
        raise UserFacingError(f"This conversation would hold {total} images (each PDF page is one); "
                              f"the limit is {limits.max_images}.", "limit.images_pages", count=total,
                              limit=limits.max_images)
    return loaded


def _load_source(source: ImageSource, name: str, limits: Limits, image_limits: ImageLimits, before: int) -> list:
    selection = None
    if isinstance(source, (str, Path)):
        path, selection = split_selection(str(source))
        source = path if selection is not None else source
    check_file_size(source, name, limits)
    data = _read(source, name)
    if not is_pdf(data):
        return [load_image(data, image_limits, name=name)]
    check_pdf_size(len(data), name, limits.max_pdf_mb)
    room = limits.max_images - before
    if room < 1 and selection is None:
        raise UserFacingError(f"This conversation already holds {before} images; the limit is {limits.max_images}, "
                              f"so no page of {name} can be added.", "limit.images_full", count=before,
                              name=name, limit=limits.max_images)
    pages = render_pdf(data, name, selection, limits.max_pdf_pages, room, image_limits)
    return [page.image for page in pages]


def _read(source: ImageSource, name: str) -> bytes:
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source)
    try:
        return Path(source).read_bytes()
    except OSError as error:
        reason = error.strerror or str(error)
        raise ImageError(f"{name} could not be read ({reason}).", "image.unreadable_file", name=name,
                         reason=reason) from None


def check_file_size(source: ImageSource, name: str, limits: Limits) -> None:
    """Refuse a file larger than `limits.max_file_mb` before it is read (a missing file is left to
    the reader, which says so)."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        size = len(source)
    else:
        try:
            size = os.stat(source).st_size
        except OSError:
            return
    if size > limits.max_file_mb * MEGABYTE:
        raise UserFacingError(f"{name} is {size / MEGABYTE:.1f} MiB; the limit is {limits.max_file_mb} MiB per file.",
                              "limit.file_size", name=name, size=f"{size / MEGABYTE:.1f}", limit=limits.max_file_mb)


def check_request(request: Request, limits: Limits) -> None:
    question = request.question.strip()
    if not question:
        raise UserFacingError("Please type a question.", "warn.no_question")
    if len(request.question) > limits.max_question_chars:
        raise UserFacingError(f"The question is {len(request.question):,} characters long; "
                              f"the limit is {limits.max_question_chars:,}.", "limit.question_chars",
                              count=len(request.question), limit=limits.max_question_chars)
    all_images = len(request.images) + sum(len(turn.images) for turn in request.history)
    if all_images > limits.max_images:
        raise UserFacingError(f"This conversation would hold {all_images} images; the limit is {limits.max_images}.",
                              "limit.images", count=all_images, limit=limits.max_images)
    if len(request.history) > limits.max_turns:
        raise UserFacingError(f"This conversation has {len(request.history)} earlier turns; the limit is "
                              f"{limits.max_turns}. Press Clear to start a new one.", "limit.turns",
                              count=len(request.history), limit=limits.max_turns)


def check_question_tokens(loaded: LoadedModel, question: str, limits: Limits) -> None:
    """The question on its own, encoded as it enters the prompt (special-token strings kept inert)."""
    tokens = len(encode_user_text(loaded.tokenizer, question))
    if tokens > limits.max_question_tokens:
        raise UserFacingError(f"The question is {tokens:,} tokens long; the limit is "
                              f"{limits.max_question_tokens:,} tokens. Please shorten it.", "limit.question_tokens",
                              count=tokens, limit=limits.max_question_tokens)


def prepare_input(loaded: LoadedModel, request: Request, limits: Limits | None = None) -> PreparedInput:
    limits = limits or Limits.from_env()
    check_request(request, limits)
    check_question_tokens(loaded, request.question, limits)
    sources = [image for turn in request.history for image in turn.images] + list(request.images)
    per_source = load_sources(sources, limits)
    images = [image for source_images in per_source for image in source_images]
    tiles = tile_images(images, loaded.tile_size, request.options.max_tiles, loaded.use_thumbnail) if images else None
    counts = tiles.tiles_per_image if tiles else []
    turns, used, first_source = [], 0, 0
    for turn in request.history:  # a turn shows its sources' images: one per image file, a PDF's pages
        shown_images = sum(len(source) for source in per_source[first_source:first_source + len(turn.images)])
        turns.append(PromptTurn(turn.question, tuple(counts[used:used + shown_images]), turn.answer))
        first_source, used = first_source + len(turn.images), used + shown_images
    turns.append(PromptTurn(request.question, tuple(counts[used:]), None))
    prompt = build_prompt(loaded.tokenizer, loaded.template, turns, loaded.tokens_per_tile)
    check_prompt_tokens(len(prompt.input_ids), limits)
    if request.history:
        check_conversation_room(len(prompt.input_ids), request.options.answer_budget, context_size(loaded))
    check_context(len(prompt.input_ids), request.options.answer_budget, context_size(loaded))
    pixel_values = tiles.pixel_values.to(loaded.device, loaded.model.dtype) if tiles else None
    return PreparedInput(torch.tensor([prompt.input_ids], device=loaded.device), pixel_values, counts, prompt.text)


def context_size(loaded: LoadedModel) -> int:
    """The model's context in tokens; 0 when its config does not say."""
    return int(getattr(loaded.model.config.text_config, "max_position_embeddings", 0) or 0)


def check_prompt_tokens(prompt_tokens: int, limits: Limits) -> None:
    if prompt_tokens > limits.max_prompt_tokens:
        raise UserFacingError(f"The prompt is {prompt_tokens:,} tokens (images included); the limit is "
                              f"{limits.max_prompt_tokens:,}. Use fewer tiles, fewer images or a shorter question.",
                              "limit.prompt_tokens", count=prompt_tokens, limit=limits.max_prompt_tokens)


def check_conversation_room(prompt_tokens: int, answer_budget: int, context: int) -> None:
    """A conversation whose prompt leaves less than `turn_room` of the context is full: say so,
    rather than let the answer run out of tokens while thinking."""
    room, needed = context - prompt_tokens, turn_room(answer_budget)
    if not context or room >= needed:
        return
    raise UserFacingError(
        f"This conversation is full: its prompt is {prompt_tokens:,} of the model's {context:,} tokens of context, "
        f"leaving {max(room, 0):,}; an answer needs {needed:,} (the answer budget of {answer_budget:,} and "
        f"{THINKING_ROOM} to think). Start a new conversation.", "limit.conversation_full", prompt=prompt_tokens,
        context=context, room=max(room, 0), needed=needed, budget=answer_budget, thinking=THINKING_ROOM)


def check_context(prompt_tokens: int, answer_budget: int, context: int) -> None:
    """The prompt and the whole answer budget must fit the context; a thinking budget that does not
    fit is clamped by the engine instead (thinking is cut, then the answer follows)."""
    needed = prompt_tokens + answer_budget
    if not context or needed <= context:
        return
    room = context - prompt_tokens
    advice = (f"Lower the answer budget to at most {room:,} tokens, or use fewer tiles or images"
              if room >= ANSWER_BUDGET_MIN else "Use fewer tiles or images or a shorter question")
    raise UserFacingError(
        f"The prompt ({prompt_tokens:,} tokens, images included) plus the answer budget ({answer_budget:,} tokens) "
        f"is {needed:,} tokens; the limit is the model's context of {context:,} tokens. {advice}, "
        "or start a new conversation.", "limit.context", prompt=prompt_tokens, budget=answer_budget, needed=needed,
        context=context, room=max(room, 0))
