"""MathVista's scoring: extract an answer, normalise it to the item's answer type, compare strings.

Normalising and comparing follow MathVista's `calculate_score.py` (lupantech/MathVista):
- multiple choice: "(B) text" -> "B"; a letter of the options -> that option's text; anything else
  -> the option nearest by edit (Levenshtein) distance;
- integer: `str(int(float(x)))`; float: `str(round(float(x), precision))`; list: `str(x)`;
- right when the normalised prediction equals the gold answer string.
Extraction: MathVista's own first steps (the whole response when it is an option, an integer or a
float; `The answer is "..."`), then, where MathVista asks GPT-4 to extract, these rules instead
(no model in the loop, so the column is reproducible): the last `\\boxed{}`; the text after the last
"answer is" / "answer:"; within it, for numeric types the last number (a unit after it is
ignored, a fraction becomes a decimal), for multiple choice the option written last or a letter
in parentheses.
"""
from __future__ import annotations

import re

from evaluation.extract import as_number, last_boxed, last_number, letter_in_parentheses, unwrap_latex
from evaluation.items import MULTIPLE_CHOICE, Item

_QUOTED = re.compile(r'The answer is "(.*)"\.')
_ANSWER_IS = re.compile(r"answer\s*(?:is|:)\s*:?", re.IGNORECASE)


def edit_distance(a: str, b: str) -> int:
    # MathVista uses python-Levenshtein; a two-row dynamic programme avoids a compiled dependency.
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, 1):
        current = [i]
        for j, char_b in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (char_a != char_b)))
        previous = current
    return previous[-1]


def _official_quick(response: str, item: Item) -> str | None:
    if item.question_type == MULTIPLE_CHOICE and response in item.choices:
        return response
    for kind, convert in (("integer", int), ("float", float)):
        if item.answer_type == kind:
            try:
                return str(convert(response))
            except ValueError:
                pass
    quoted = _QUOTED.search(response)
    return quoted.group(1) if quoted else None


def _final_phrase(response: str) -> str:
    boxed = last_boxed(response)
    if boxed is not None:
        return unwrap_latex(boxed)
    parts = _ANSWER_IS.split(response)
    return (parts[-1] if len(parts) > 1 else response).strip().rstrip(".").strip()


def _choice_written_last(text: str, item: Item) -> str | None:
    lowered = text.lower()
    found = [(lowered.rfind(choice.lower()), choice) for choice in item.choices if choice.lower() in lowered]
    letter = letter_in_parentheses(text, item.letters)
    if letter:
        found.append((text.rfind(f"({letter})"), letter))
    return max(found)[1] if found else None


def extract(response: str, item: Item) -> str:
    response = response.strip()
    if not response:
        return ""
    quick = _official_quick(response, item)
    if quick is not None:
        return quick
    phrase = _final_phrase(response)
    if item.question_type == MULTIPLE_CHOICE:
        return _choice_written_last(phrase, item) or _choice_written_last(response, item) or phrase
    if item.answer_type in ("integer", "float"):
        number = last_number(phrase) or last_number(response)
        value = as_number(number) if number else None
        return phrase if value is None else str(int(value) if value.denominator == 1 else float(value))
    return phrase


def normalise(extraction: str, item: Item) -> str | None:
    if item.question_type == MULTIPLE_CHOICE:
        extraction = str(extraction).strip()
        letter = re.findall(r"\(([a-zA-Z])\)", extraction)
        if letter:
            extraction = letter[0].upper()
        if extraction in item.letters:
            return item.choices[item.letters.index(extraction)]
        return min(item.choices, key=lambda choice: edit_distance(extraction, choice))
    try:
        if item.answer_type == "integer":
            return str(int(float(extraction)))
        if item.answer_type == "float":
            return str(round(float(extraction), item.precision or 0))
    except (TypeError, ValueError, OverflowError):
        return None
    return str(extraction)


def score(response: str, item: Item) -> tuple[str | None, bool]:
    """(normalised prediction, right)."""
    prediction = normalise(extract(response, item), item)
    return prediction, prediction == item.gold_text
