"""Finding the final answer in a model's text, shared by the scorers.

- `last_boxed(text)`: the content of the last `\\boxed{...}` (nested braces balanced), or None.
- `unwrap_latex(text)`: `\\text{(B)}` -> `(B)`, `$x$` -> `x`, `\\dfrac{1}{2}` -> `1/2`.
- `as_number(text)`: "1,234.5", "3/4", "\\frac{3}{4}", "50%" -> an exact Fraction, or None.
- `last_number(text)`: the last number written in the text (units and words around it ignored).
"""
from __future__ import annotations

import re
from fractions import Fraction

BOXED = re.compile(r"\\(?:boxed|fbox)\s*\{")
_WRAPPERS = re.compile(r"\\(?:text|textbf|mathrm|mathbf|operatorname|mbox)\s*\{([^{}]*)\}")
_FRAC = re.compile(r"\\[dt]?frac\s*\{([^{}]*)\}\s*\{([^{}]*)\}")
_NUMBER = re.compile(r"-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:[eE][+-]?\d+)?(?:\s*/\s*\d+)?|-?\.\d+")


def last_boxed(text: str) -> str | None:
    starts = [match.end() for match in BOXED.finditer(text)]
    for start in reversed(starts):
        depth, index = 1, start
        while index < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[index], 0)
            index += 1
        if depth == 0:
            return text[start:index - 1].strip()
    return None


def unwrap_latex(text: str) -> str:
    previous = None
    while previous != text:
        previous = text
        text = _FRAC.sub(r"\1/\2", _WRAPPERS.sub(r"\1", text))
    text = text.replace("$", "").replace("\\%", "%").replace("\\!", "").replace("\\,", "")
    text = re.sub(r"^\\\(|\\\)$", "", text.strip())
    return text.strip()


def as_number(text: str) -> Fraction | None:
    cleaned = unwrap_latex(text).replace(",", "").replace(" ", "").rstrip(".")
    percent = cleaned.endswith("%")
    cleaned = cleaned.rstrip("%")
    try:
        if "/" in cleaned:
            top, bottom = cleaned.split("/", 1)
            value = Fraction(Fraction(top), Fraction(bottom))
        else:
            value = Fraction(cleaned)
    except (ValueError, ZeroDivisionError):
        return None
    return value / 100 if percent else value


def last_number(text: str) -> str | None:
    found = _NUMBER.findall(unwrap_latex(text))
    return found[-1].replace(",", "").replace(" ", "") if found else None


def letter_in_parentheses(text: str, letters: list[str]) -> str | None:
    """The last "(B)" whose letter is one of `letters`."""
    found = [match.group(1).upper() for match in re.finditer(r"\(([A-Za-z])\)", text)]
    found = [letter for letter in found if letter in letters]
    return found[-1] if found else None
