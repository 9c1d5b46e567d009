"""Every scorer of an answer, side by side: `score(item, answer, seed, judge=None) -> {name: verdict}`.

Columns, each a dict `{"extracted": ..., "right": bool, "how"?: ...}`:
- the item's own rule (`item.rule`): "mmmu" (evaluation/mmmu_rule.py), "mathvista"
  (evaluation/mathvista_rule.py) or "puzzle" (the bundled puzzles' grader, `answer_matches`);
- "boxed": strict: the last `\\boxed{}` of the answer equals the gold answer (a letter, an option's
  text, the same number exactly: 1/2 = 0.5 = \\frac{1}{2}, no rounding, no unit), else wrong;
- "judge": an LLM's verdict through an OpenAI-compatible endpoint (evaluation/judge.py), when given.
Only the answer is scored (the text after the thinking), as the person reads it.
"""
from __future__ import annotations

import ast
import random
import re
from typing import Any, Protocol

from evaluation import mathvista_rule, mmmu_rule
from evaluation.extract import as_number, last_boxed, unwrap_latex
from evaluation.items import MULTIPLE_CHOICE, Item
from model.tiny.puzzles import answer_matches

RULES = ("mmmu", "mathvista", "puzzle")
BOXED, JUDGE = "boxed", "judge"


class Judge(Protocol):
    def verdict(self, item: Item, answer: str) -> dict[str, Any]: ...


def score(item: Item, answer: str, seed: int, judge: Judge | None = None) -> dict[str, dict[str, Any]]:
    verdicts = {item.rule: own_rule(item, answer, seed), BOXED: boxed(item, answer)}
    if judge is not None:
        verdicts[JUDGE] = judge.verdict(item, answer)
    return verdicts


def own_rule(item: Item, answer: str, seed: int) -> dict[str, Any]:
    if item.rule == "mmmu":
        return mmmu(item, answer, seed)
    if item.rule == "mathvista":
        prediction, right = mathvista_rule.score(answer, item)
        return {"extracted": prediction, "right": right}
    if item.rule == "puzzle":
        return {"extracted": answer.strip(), "right": answer_matches(item.gold, answer)}
    raise ValueError(f"unknown rule {item.rule!r}; known: {', '.join(RULES)}")


def mmmu(item: Item, answer: str, seed: int) -> dict[str, Any]:
    if item.question_type == MULTIPLE_CHOICE and item.choices:
        options = dict(zip(item.letters, item.choices))
        letter, how = mmmu_rule.parse_multi_choice(answer, item.letters, options, random.Random(seed))
        return {"extracted": letter, "right": letter == item.gold_letter, "how": how}
    parsed = mmmu_rule.parse_open(answer)
    return {"extracted": [str(value) for value in parsed], "right": mmmu_rule.open_is_right(_golds(item.gold), parsed)}


def _golds(gold: str) -> str | list[str]:
    """MMMU writes several accepted open answers as a Python list in a string: "['1.5', '3/2']"."""
    if gold.strip().startswith("["):
        try:
            value = ast.literal_eval(gold)
        except (ValueError, SyntaxError):
            return gold
        if isinstance(value, list):
            return [str(entry) for entry in value]
    return gold


def boxed(item: Item, answer: str) -> dict[str, Any]:
    content = last_boxed(answer)
    if content is None:
        return {"extracted": None, "right": False}
    text = unwrap_latex(content)
    if item.choices:
        letter = _as_letter(text, item)
        return {"extracted": letter or text, "right": letter is not None and letter == item.gold_letter}
    golds = _golds(item.gold)
    return {"extracted": text, "right": any(_same(text, gold) for gold in ([golds] if isinstance(golds, str) else golds))}


def _as_letter(text: str, item: Item) -> str | None:
    match = re.fullmatch(r"\(?([A-Za-z])\)?[.:]?(?:\s.*)?", text.strip())
    if match and match.group(1).upper() in item.letters:
        return match.group(1).upper()
    lowered = [choice.strip().lower() for choice in item.choices]
    return item.letters[lowered.index(text.strip().lower())] if text.strip().lower() in lowered else None


def _same(text: str, gold: str) -> bool:
    number, wanted = as_number(text), as_number(gold)
    if number is not None and wanted is not None:
        return number == wanted
    squash = lambda value: re.sub(r"\s+", " ", unwrap_latex(value)).strip().rstrip(".").lower()  # noqa: E731
    return squash(text) == squash(gold)
