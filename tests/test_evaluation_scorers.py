"""The scorers of `python -m evaluation`, item by item against a table of tricky answers.

Each row: an item, an answer, and what each rule must say. The rules disagree on purpose where
the benchmarks do: MMMU rounds numbers to two decimals and reads fractions as two numbers,
MathVista rounds to the item's precision and ignores units, the strict boxed match does neither.
"""
from __future__ import annotations

import pytest

from evaluation import mathvista_rule, scorers
from evaluation.extract import as_number, last_boxed
from evaluation.items import MULTIPLE_CHOICE, Item
from evaluation.judge import read_reply
from evaluation.stats import wilson

CHOICE = Item("mc", "How many?", "B", choices=("3", "5", "7", "9"), question_type=MULTIPLE_CHOICE, rule="mmmu")
OPEN_HALF = Item("half", "What fraction?", "0.5", rule="mmmu")
OPEN_PI = Item("pi", "What is pi?", "3.14159", rule="mmmu")
OPEN_LIST = Item("list", "Give x.", "['1.5', '3/2']", rule="mmmu")
MV_FLOAT = Item("f", "How long?", "1.5", rule="mathvista", answer_type="float", precision=1, unit="cm")
MV_THIRD = Item("t", "Ratio?", "0.33", rule="mathvista", answer_type="float", precision=2)
MV_INT = Item("i", "How many cm?", "12", rule="mathvista", answer_type="integer", unit="cm")
MV_CHOICE = Item("c", "Which?", "5", rule="mathvista", choices=("3", "4", "5", "6"), question_type=MULTIPLE_CHOICE)
MV_TEXT_CHOICE = Item("p", "Where?", "bottom left", rule="mathvista",
                      choices=("top left", "top right", "bottom left", "bottom right"), question_type=MULTIPLE_CHOICE)
PUZZLE = Item("z", "Sum of the dice?", "7", rule="puzzle")

# (item, answer, the item's own rule says right? (None: MMMU must guess), strict boxed says right?,
#  what the own rule extracted)
TABLE = [
    (CHOICE, "The answer is (B).", True, False, "B"),
    (CHOICE, "B", True, False, "B"),
    (CHOICE, "A careful count gives (B).", True, False, "B"),  # a letter in prose loses to "(B)"
    (CHOICE, "A count of the circles shows B is right", True, False, "B"),  # both stand alone: the last wins
    (CHOICE, "I first thought (A), but the answer is (C).", False, False, "C"),
    (CHOICE, "There are five circles, so the answer is 5 of them", True, False, "B"),  # > 5 words: option text
    (CHOICE, r"\boxed{\text{(B)}}", True, True, "B"),
    (CHOICE, r"First \boxed{B}, then on reflection \boxed{C}.", None, False, None),  # MMMU finds no letter: guesses
    (OPEN_HALF, "The answer is 0.5.", True, False, None),
    (OPEN_HALF, r"So x = \boxed{\frac{1}{2}}", False, True, None),  # MMMU reads 1/2 as 1 and 2
    (OPEN_HALF, "The result is 0.50", True, False, None),
    (OPEN_PI, "Therefore it is 3.14", True, False, None),  # MMMU: both rounded to two decimals
    (OPEN_PI, r"\boxed{3.14}", True, False, None),  # strict: 3.14 is not 3.14159
    (OPEN_LIST, r"so x is \boxed{3/2}", True, True, None),  # MMMU: the gold text "3/2" occurs in the tail
    (OPEN_LIST, "so x is 1.5", True, False, None),
    (MV_FLOAT, r"The length is \boxed{1.46} cm", True, False, "1.5"),  # rounded to precision 1
    (MV_FLOAT, "The answer is 1.5 cm.", True, False, "1.5"),  # the unit is ignored
    (MV_FLOAT, r"\boxed{1.5\text{ cm}}", True, False, "1.5"),  # strict: "1.5 cm" is not "1.5"
    (MV_THIRD, r"\boxed{\frac{1}{3}}", True, False, "0.33"),  # the fraction at the benchmark's precision
    (MV_INT, "The answer is 12 cm.", True, False, "12"),
    (MV_INT, r"The width is 6 cm, so the total is \boxed{12}", True, True, "12"),
    (MV_INT, "About 11.6, so 11", False, False, "11"),
    (MV_CHOICE, "(C)", True, False, "5"),
    (MV_CHOICE, "The answer is C.", True, False, "5"),
    (MV_CHOICE, r"\boxed{\text{(B)}}", False, False, "4"),
    (MV_CHOICE, r"\boxed{\text{(C)}}", True, True, "5"),
    (MV_TEXT_CHOICE, "The answer is bottom left.", True, False, "bottom left"),
    (MV_TEXT_CHOICE, "It is the one at the botom lef", True, False, "bottom left"),  # nearest option by edits
    (PUZZLE, "The answer is 7.", True, False, None),
    (PUZZLE, "Not 7 but 8.", False, False, None),
]


@pytest.mark.parametrize("item, answer, own_right, boxed_right, extracted", TABLE,
                         ids=[f"{row[0].rule}-{row[0].id}-{i}" for i, row in enumerate(TABLE)])
def test_each_rule_reads_the_tricky_answer_as_its_benchmark_does(item, answer, own_right, boxed_right, extracted):
    verdicts = scorers.score(item, answer, seed=1)
    if own_right is None:
        assert verdicts[item.rule]["how"] == "guessed", verdicts
    else:
        assert verdicts[item.rule]["right"] is own_right, verdicts
    assert verdicts["boxed"]["right"] is boxed_right, verdicts
    if extracted is not None:
        assert verdicts[item.rule]["extracted"] == extracted


def test_mmmu_guesses_a_letter_when_it_finds_none_and_says_so_the_same_way_each_time():
    first = scorers.score(CHOICE, "Five.", seed=3)["mmmu"]
    assert first["how"] == "guessed" and first["extracted"] in CHOICE.letters
    assert all(scorers.score(CHOICE, "Five.", seed=3)["mmmu"] == first for _ in range(5))
    picks = {scorers.score(CHOICE, "Five.", seed=seed)["mmmu"]["extracted"] for seed in range(40)}
    assert len(picks) > 1  # a guess, not a fixed letter


def test_the_last_boxed_is_found_with_nested_braces():
    assert last_boxed(r"\boxed{1} then \boxed{\frac{1}{2}} done") == r"\frac{1}{2}"
    assert last_boxed("no box here") is None
    assert last_boxed(r"\boxed{unclosed") is None


@pytest.mark.parametrize("text, value", [("1,234.5", 1234.5), ("3/4", 0.75), (r"\frac{3}{4}", 0.75),
                                         ("50%", 0.5), ("-2", -2), ("abc", None)])
def test_numbers_are_read_exactly(text, value):
    number = as_number(text)
    assert (number is None) if value is None else (float(number) == value)


def test_mathvista_edit_distance_is_levenshtein():
    assert mathvista_rule.edit_distance("kitten", "sitting") == 3
    assert mathvista_rule.edit_distance("", "abc") == 3


@pytest.mark.parametrize("reply, right", [("CORRECT", True), ("Incorrect.", False), ("correct!", True),
                                          ("I am not sure", None)])
def test_the_judges_one_word_reply_is_read(reply, right):
    assert read_reply(reply) is right


@pytest.mark.parametrize("right, n, low, high", [(19, 20, 0.7639, 0.9911), (0, 10, 0.0, 0.2775), (50, 100, 0.4038, 0.5962)])
def test_wilson_interval_matches_its_published_values(right, n, low, high):
    got = wilson(right, n)
    assert got == pytest.approx((low, high), abs=1e-4)


def test_the_published_figures_sit_beside_ours_with_the_difference_and_the_interval():
    from evaluation.published import compare

    rows = {row["model"]: row for row in compare("mmmu", {"n": 900, "accuracy": 0.70, "ci95": [0.67, 0.73]},
                                                 "r1v3-38b-awq")}
    assert (rows["r1v-38b"]["difference"], rows["r1v-38b"]["inside_interval"]) == (1.0, True)
    assert (rows["r1v3-38b"]["difference"], rows["r1v3-38b"]["inside_interval"]) == (-6.0, False)
    assert rows["r1v3-38b"]["same_model"] and not rows["r1v-38b"]["same_model"]
    assert "judge" in rows["r1v3-38b"]["rule"] and "rule_base_mmmu.py" in rows["r1v3-38b"]["source"]
