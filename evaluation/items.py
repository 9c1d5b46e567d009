"""One question of a set, whatever file it came from.

`Item.gold` is the answer as the benchmark writes it (a letter for MMMU multiple choice, the text or
number for MathVista); `choices` are the options' texts in order (letters A, B, ... by position).
`rule` names the benchmark's own scorer ("mmmu", "mathvista", "puzzle"); `prompt` is the text sent
to the model. Images are raw bytes, so a record can name them by digest.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

MULTIPLE_CHOICE = "multiple-choice"
OPEN = "open"


@dataclass(frozen=True)
class Item:
    id: str
    prompt: str
    gold: str
    images: tuple[bytes, ...] = ()
    choices: tuple[str, ...] = ()
    question_type: str = OPEN  # MULTIPLE_CHOICE | OPEN
    rule: str = "mmmu"
    subject: str = ""
    answer_type: str = "text"  # MathVista: text | integer | float | list
    precision: int | None = None  # MathVista: decimals a float answer is rounded to
    unit: str = ""
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def letters(self) -> list[str]:
        return [chr(ord("A") + index) for index in range(len(self.choices))]

    @property
    def gold_letter(self) -> str | None:
        """The gold answer as a letter when the item is multiple choice (given as letter or text)."""
        if not self.choices:
            return None
        gold = self.gold.strip()
        if gold.upper() in self.letters and len(gold) == 1:
            return gold.upper()
        if gold in self.choices:
            return self.letters[self.choices.index(gold)]
        return None

    @property
    def gold_text(self) -> str:
        letter = self.gold_letter
        return self.choices[self.letters.index(letter)] if letter else self.gold

    def image_digests(self) -> list[str]:
        return ["sha256:" + hashlib.sha256(image).hexdigest() for image in self.images]


def item_seed(run_seed: int, item_id: str) -> int:
    """The sampling seed of one item: fixed by the run's seed and the item's id, whatever its position."""
    digest = hashlib.sha256(f"{run_seed}:{item_id}".encode()).hexdigest()
    return int(digest[:8], 16) & 0x7FFFFFFF
