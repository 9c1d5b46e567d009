"""Chat prompts for each R1V version, built as token ids with user text kept inert.

Templates (one generation prompt each, always ending in `<think>\\n`):
- "deepseek_r1" (R1V, the tiny model):
  `<｜begin▁of▁sentence｜>{system}<｜User｜>\\n{images}{q}<｜Assistant｜>{a}<｜end▁of▁sentence｜>…<｜Assistant｜><think>\\n`
- "chatml" (R1V2, R1V3):
  `[<|im_start|>system\\n{system}<|im_end|>\\n]<|im_start|>user\\n{images}{q}<|im_end|>\\n<|im_start|>assistant\\n{a}<|im_end|>\\n…<|im_start|>assistant\\n<think>\\n`

`{images}` is one `<img>` + `<IMG_CONTEXT>` × (tokens per tile × tiles) + `</img>\\n` per image, in
order. Earlier answers are kept; earlier thinking is never part of them (callers pass answers).

Text typed by a person never becomes a special or added token: `encode_user_text` cuts every
occurrence of an added-token string (`</think>`, `<IMG_CONTEXT>`, `<｜User｜>`…) before the
tokenizer sees it, so the structure and the image-token count cannot be changed from the text box.
Template parts are encoded on their own and user parts on their own; for ordinary text this gives
the same ids as tokenizing the whole prompt string, because the tokenizer splits at added tokens.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

from transformers import PreTrainedTokenizerBase

IMG_START, IMG_END, IMG_CONTEXT = "<img>", "</img>", "<IMG_CONTEXT>"
THINK_OPEN = "<think>\n"


@dataclass(frozen=True)
class PromptTurn:
    question: str
    image_tiles: tuple[int, ...] = ()  # tiles of each image shown in this turn
    answer: str | None = None  # None for the turn being asked now


@dataclass
class Prompt:
    input_ids: list[int]
    text: str  # the prompt as a string (for display, logs and tests)
    image_token_count: int
    parts: list[tuple[str, bool]] = field(repr=False, default_factory=list)  # (text, from_user)


@dataclass(frozen=True)
class Template:
    begin: str
    system: str  # "{system}" placeholder
    user: str  # before the images and question
    user_end: str
    assistant: str
    assistant_end: str


TEMPLATES: dict[str, Template] = {
    "deepseek_r1": Template(
        begin="<｜begin▁of▁sentence｜>", system="{system}", user="<｜User｜>\n", user_end="",
        assistant="<｜Assistant｜>", assistant_end="<｜end▁of▁sentence｜>",
    ),
    "chatml": Template(
        begin="", system="<|im_start|>system\n{system}<|im_end|>\n", user="<|im_start|>user\n",
        user_end="<|im_end|>\n", assistant="<|im_start|>assistant\n", assistant_end="<|im_end|>\n",
    ),
}


def image_placeholder(tiles: int, tokens_per_tile: int) -> str:
    return IMG_START + IMG_CONTEXT * (tiles * tokens_per_tile) + IMG_END + "\n"


def prompt_parts(template_name: str, turns: Sequence[PromptTurn], tokens_per_tile: int,
                 system: str = "") -> list[tuple[str, bool]]:
    """The prompt as (text, from_user) parts; only from_user parts come from a person."""
    template = TEMPLATES[template_name]
    parts: list[tuple[str, bool]] = [(template.begin, False)]
    if system:
        before, after = template.system.split("{system}")
        parts += [(before, False), (system, True), (after, False)]
    for turn in turns:
        images = "".join(image_placeholder(t, tokens_per_tile) for t in turn.image_tiles)
        parts += [(template.user + images, False), (turn.question, True), (template.user_end, False)]
        if turn.answer is None:
            parts.append((template.assistant + THINK_OPEN, False))
            break
        parts += [(template.assistant, False), (turn.answer, True), (template.assistant_end, False)]
    return [(text, from_user) for text, from_user in parts if text]


def build_prompt(tokenizer: PreTrainedTokenizerBase, template_name: str, turns: Sequence[PromptTurn],
                 tokens_per_tile: int, system: str = "") -> Prompt:
    if not turns or turns[-1].answer is not None:
        raise ValueError("the last turn must be the question being asked (answer=None)")
    parts = prompt_parts(template_name, turns, tokens_per_tile, system)
    ids: list[int] = []
    for text, from_user in parts:
        ids += encode_user_text(tokenizer, text) if from_user else _encode(tokenizer, text)
    context_id = tokenizer.convert_tokens_to_ids(IMG_CONTEXT)
    return Prompt(ids, "".join(text for text, _ in parts), ids.count(context_id), parts)


def _encode(tokenizer: PreTrainedTokenizerBase, text: str) -> list[int]:
    return tokenizer.encode(text, add_special_tokens=False)


def added_token_strings(tokenizer: PreTrainedTokenizerBase) -> list[str]:
    return [token for token in tokenizer.get_added_vocab() if len(token) > 1]


def encode_user_text(tokenizer: PreTrainedTokenizerBase, text: str) -> list[int]:
    """Encode text so that no added token (special or not) can be produced from it."""
    cuts: set[int] = set()
    for token in added_token_strings(tokenizer):
        start = text.find(token)
        while start != -1:
            cuts.add(start + 1)  # inside the occurrence: neither side can match it whole
            start = text.find(token, start + 1)
    ids: list[int] = []
    previous = 0
    for cut in sorted(cuts) + [len(text)]:
        if cut > previous:
            ids += _encode(tokenizer, text[previous:cut])
        previous = cut
    return ids
