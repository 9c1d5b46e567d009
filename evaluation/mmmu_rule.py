"""MMMU's own rule-based scoring, as the MMMU repository's eval utilities define it.

Multiple choice (`parse_multi_choice`): the response, stripped of end punctuation, is searched for
"(A)"-style letters; failing that for a letter standing alone between spaces; failing that, when
it has more than five words, for the options' texts. Several candidates: the one written last
wins. None: MMMU picks a letter at random; here the pick is seeded by the item, so a run is
reproducible, and the record says it was guessed. Right when the letter equals the gold letter.

Open answers (`parse_open`): the response is cut into sentences; from each, the shortest tail after
a key phrase ("so ", "is ", "therefore ", "answer ", ...; "=" in the last sentence) is kept; numbers
are read out of those tails; numbers are rounded to two decimals, text is lower-cased. Right when a
number equals a gold number, or the gold text occurs inside a kept string.

This is a re-implementation from the rules' description (MMMU-Benchmark/MMMU, eval/eval_utils.py),
not a copy; the tests check it on a table of tricky answers.
"""
from __future__ import annotations

import random
import re

_END_MARKS = ",.!?;:'"
_KEY_PHRASES = ("could be ", "so ", "is ", "thus ", "therefore ", "final ", "answer ", "result ")
_TRIVIAL = {":", ",", ".", "!", "?", ";", "'"}
_COMMA_NUMBER = re.compile(r"-?\b\d{1,3}(?:,\d{3})+\b")
_SCIENTIFIC = re.compile(r"-?\d+(?:\.\d+)?[eE][+-]?\d+")
_SIMPLE = re.compile(r"-?(?:\d+\.\d+|\.\d+|\d+\b)(?![eE][+-]?\d+)(?![,\d])")


def parse_multi_choice(response: str, letters: list[str], options: dict[str, str],
                       rng: random.Random) -> tuple[str, str]:
    """(letter, how): how is "bracket", "letter", "content" or "guessed"."""
    for mark in _END_MARKS:
        response = response.strip(mark)
    padded = f" {response} "
    patterns = {"bracket": lambda L: f"({L})", "letter": lambda L: f" {L} "}
    for how, pattern in patterns.items():
        found = [letter for letter in letters if pattern(letter) in padded]
        if found:
            return max(found, key=lambda L: padded.rfind(pattern(L))), how
    if len(response.split()) > 5:
        lowered = padded.lower()
        found = [letter for letter, text in options.items() if text.lower() in lowered]
        if found:
            return max(found, key=lambda L: lowered.rfind(options[L].lower())), "content"
    return rng.choice(letters), "guessed"


def _is_number(text: str) -> bool:
    try:
        float(text.replace(",", ""))
        return True
    except ValueError:
        return False


def normalise(text: str) -> list:
    """A number -> [its value rounded to 2 decimals]; a text -> [lower-cased] (one letter padded)."""
    text = text.strip()
    if _is_number(text):
        return [round(float(text.replace(",", "")), 2)]
    text = text.lower()
    return [" " + text, text + " "] if len(text) == 1 else [text]


def extract_numbers(text: str) -> list[str]:
    return _COMMA_NUMBER.findall(text) + _SCIENTIFIC.findall(text) + _SIMPLE.findall(text)


def _key_tails(response: str) -> list[str]:
    response = response.strip().strip(".").lower()
    sentences = re.split(r"\.\s(?=[A-Z])|\n", response)
    tails = []
    for index, sentence in enumerate(sentences):
        phrases = _KEY_PHRASES + (("=",) if index == len(sentences) - 1 else ())
        found = [sentence.split(phrase)[-1].strip() for phrase in phrases if phrase in sentence]
        shortest = min(found, key=len) if found else ""
        if shortest and shortest not in _TRIVIAL:
            tails.append(shortest)
    return tails or [response]


def parse_open(response: str) -> list:
    tails = _key_tails(response)
    candidates = tails + [number for tail in tails for number in extract_numbers(tail)]
    parsed: list = []
    for candidate in candidates:
        for value in normalise(candidate):
            if value not in parsed:
                parsed.append(value)
    return parsed


def open_is_right(gold: str | list[str], parsed: list) -> bool:
    golds = gold if isinstance(gold, list) else [gold]
    wanted = [value for answer in golds for value in normalise(str(answer))]
    for prediction in parsed:
        if isinstance(prediction, str):
            if any(isinstance(answer, str) and answer in prediction for answer in wanted):
                return True
        elif prediction in wanted:
            return True
    return False
