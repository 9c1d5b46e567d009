"""Bounds on what the page's renderers are asked to draw, so no text can take the page down.

marked (in the browser) and Python-Markdown (in exports) recurse once per level of nesting, and
KaTeX builds a box per group: a 5,000-deep blockquote overflows marked's stack on every streamed
frame, a few thousand `**` do the same inside its emphasis rule, and a formula of a few hundred
nested `\\frac{1}{…}` or a `\\rule{5000em}{5000em}` crashes or covers the tab. Gradio's Chatbot calls
KaTeX with its defaults (no `maxSize`, no way to pass one), so the bounds are kept here:

- `flat_line_starts(text, at_line_start)`: on each line, at most `MAX_NESTING` quote or list
  markers and `MAX_PREFIX_COLUMNS` columns of them and indentation; the first character past either
  is written as an entity, so the rest of the line is plain text (shown, never nested).
- `EmphasisRuns`: at most `MAX_EMPHASIS_RUNS` runs of `*`, `_` or `~` in a paragraph, each of at
  most `MAX_EMPHASIS_RUN_CHARS`; the rest are entities (shown as typed, never emphasis).
- `formula_fits(tex)`: nesting depth, length and sizes KaTeX may be given; `tex_as_text` writes one
  that does not fit as its TeX source, in text.
Every function takes text that `ui.render.safe_text` has already made safe and returns it with only
characters turned into entities, so what the person sees is the same characters.
"""
from __future__ import annotations

import re

MAX_NESTING = 8
MAX_PREFIX_COLUMNS = 40
MAX_EMPHASIS_RUNS = 48
MAX_EMPHASIS_RUN_CHARS = 6  # `******x******` nests as deep as its runs are long
MAX_FORMULA_CHARS = 10_000
MAX_FORMULA_DEPTH = 20
MAX_FORMULA_SIZE_EM = 20.0

_MARKER = re.compile(r"(?:>|(?:[-*+]|\d{1,9}[.)])(?=[ \t]|$))")
_INDENT = re.compile(r"[ \t]*")


def _entity(char: str) -> str:
    return f"&#{ord(char)};"


def flat_line_starts(text: str, at_line_start: bool) -> str:
    """`text` with every line's container prefix bounded (see the module docstring)."""
    lines = text.split("\n")
    return "\n".join(line if i == 0 and not at_line_start else _flat_prefix(line)
                     for i, line in enumerate(lines))


def _flat_prefix(line: str) -> str:
    pos = markers = 0
    while True:
        indent_end = _INDENT.match(line, pos).end()
        if _columns(line[:indent_end]) > MAX_PREFIX_COLUMNS:
            return _with_entity(line, _first_past_bound(line, pos))
        marker = _MARKER.match(line, indent_end)
        if marker is None:
            return line
        markers += 1
        if markers > MAX_NESTING or _columns(line[:marker.end()]) > MAX_PREFIX_COLUMNS:
            return _with_entity(line, indent_end)
        pos = marker.end()


def _first_past_bound(line: str, start: int) -> int:
    at = start
    while _columns(line[:at + 1]) <= MAX_PREFIX_COLUMNS:
        at += 1
    return at


def _with_entity(line: str, at: int) -> str:
    return line[:at] + _entity(line[at]) + line[at + 1:]


def _columns(prefix: str) -> int:
    columns = 0
    for char in prefix:
        columns = columns + 4 - columns % 4 if char == "\t" else columns + 1
    return columns


_EMPHASIS_RUN = re.compile(r"[*_~]+")
_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n")


class EmphasisRuns:
    """Counts runs of emphasis delimiters across the segments of one message, paragraph by paragraph."""

    def __init__(self) -> None:
        self.runs = 0

    def bounded(self, text: str) -> str:
        pieces = _PARAGRAPH_BREAK.split(text)
        breaks = _PARAGRAPH_BREAK.findall(text)
        out = [self._paragraph(pieces[0])]
        for gap, piece in zip(breaks, pieces[1:]):
            self.runs = 0
            out += [gap, self._paragraph(piece)]
        return "".join(out)

    def _paragraph(self, text: str) -> str:
        def one(run: re.Match) -> str:
            self.runs += 1
            kept = MAX_EMPHASIS_RUN_CHARS if self.runs <= MAX_EMPHASIS_RUNS else 0
            return run.group(0)[:kept] + "".join(map(_entity, run.group(0)[kept:]))
        return _EMPHASIS_RUN.sub(one, text)


# ---- maths ---------------------------------------------------------------------------------------

_GROUP = re.compile(r"\\(?:left|begin)\b|\\(?:right|end)\b|\\.|[{}]", re.S)
_DIMENSION = re.compile(r"(-?\d*\.?\d+)\s*(em|ex|pt|px|mm|cm|in|pc|bp|dd|cc|sp|mu|nd|nc)\b")
_EM_PER_UNIT = {"em": 1.0, "ex": 0.431, "pt": 0.1, "px": 0.1, "mm": 0.285, "cm": 2.85, "in": 7.23,
                "pc": 1.2, "bp": 0.1, "dd": 0.107, "cc": 1.28, "sp": 0.0, "mu": 1 / 18, "nd": 0.107, "nc": 1.28}
# Definitions can nest without braces once expanded (`\def\f{\frac1{\f}}`), and \arraystretch
# scales every row: neither is counted here, so a formula with them is shown as its source.
_DEFINITION = re.compile(r"\\(?:def|gdef|edef|xdef|let|futurelet|global|(?:re|provide|new)command|arraystretch)\b")


def formula_fits(tex: str) -> bool:
    """Whether KaTeX may draw `tex`: short, shallow, of bounded sizes and without definitions."""
    if len(tex) > MAX_FORMULA_CHARS or _DEFINITION.search(tex):
        return False
    if any(abs(float(number) * _EM_PER_UNIT[unit]) > MAX_FORMULA_SIZE_EM for number, unit in _DIMENSION.findall(tex)):
        return False
    return _depth(tex) <= MAX_FORMULA_DEPTH


def _depth(tex: str) -> int:
    depth = deepest = 0
    for token in _GROUP.findall(tex):
        if token in ("{", "\\left", "\\begin"):
            depth += 1
            deepest = max(deepest, depth)
        elif token in ("}", "\\right", "\\end"):
            depth = max(depth - 1, 0)
    return deepest


_PUNCTUATION = re.compile(r"[!-/:-@\[-`{-~]")


def tex_as_text(tex: str, display: bool) -> str:
    """A formula that does not fit, as its TeX source with its delimiters, in text: every ASCII
    punctuation mark an entity, so neither Markdown nor the page's maths finder reads any of it."""
    left, right = ("\\[", "\\]") if display else ("\\(", "\\)")
    # a word joiner after each backslash: KaTeX auto-render reads the drawn (decoded) text
    return _PUNCTUATION.sub(lambda m: _entity(m.group(0)) + ("&#8288;" if m.group(0) == "\\" else ""), left + tex + right)
