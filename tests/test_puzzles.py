"""Tests for model.tiny.puzzles: answers are re-derived from the rendered pixels."""

from __future__ import annotations

import io
import json
import math
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from model.tiny.puzzles import (KINDS, Puzzle, answer_matches, generate, make_puzzle,
                                puzzle_at, write_puzzles)

ROOT = Path(__file__).resolve().parents[1]
N_PER_KIND = 300
POSITIONS = ("top left", "top right", "bottom left", "bottom right")
# Reference colours owned by the test, not by the generator.
PROTOTYPES = {
    "white": (255, 255, 255), "black": (0, 0, 0), "red": (255, 0, 0),
    "green": (0, 180, 0), "blue": (0, 0, 255), "yellow": (255, 255, 0),
}
NAMES = list(PROTOTYPES)
FILLS = ("red", "green", "blue", "yellow")


def labels(image: Image.Image) -> np.ndarray:
    """Per-pixel index into NAMES of the nearest reference colour."""
    pixels = np.asarray(image.convert("RGB"), dtype=np.int32)[:, :, None, :]
    protos = np.array(list(PROTOTYPES.values()), dtype=np.int32)[None, None]
    return ((pixels - protos) ** 2).sum(-1).argmin(-1)


def mask_of(lab: np.ndarray, name: str) -> np.ndarray:
    return lab == NAMES.index(name)


def components(mask: np.ndarray) -> list[np.ndarray]:
    """4-connected components of a boolean mask, each as an (n, 2) array of (y, x)."""
    grid = mask.tolist()
    h, w = mask.shape
    found = []
    for y0, x0 in zip(*np.nonzero(mask)):
        if not grid[y0][x0]:
            continue
        grid[y0][x0] = False
        stack, points = [(int(y0), int(x0))], []
        while stack:
            y, x = stack.pop()
            points.append((y, x))
            for ny, nx in ((y + 1, x), (y - 1, x), (y, x + 1), (y, x - 1)):
                if 0 <= ny < h and 0 <= nx < w and grid[ny][nx]:
                    grid[ny][nx] = False
                    stack.append((ny, nx))
        found.append(np.array(points))
    return found


def shape_of(points: np.ndarray) -> str:
    """Classify a filled blob by how much of its bounding box it covers."""
    height = np.ptp(points[:, 0]) + 1
    width = np.ptp(points[:, 1]) + 1
    fill = len(points) / (height * width)
    assert abs(height - width) <= 1, "shapes should be as tall as wide"
    return "triangle" if fill < 0.65 else "circle" if fill < 0.9 else "square"


def objects(image: Image.Image) -> list[tuple[str, str, float, float, int]]:
    """(colour, shape, centre y, centre x, area) of every coloured blob."""
    lab = labels(image)
    found = []
    for colour in FILLS:
        for points in components(mask_of(lab, colour)):
            cy, cx = points.mean(axis=0)
            found.append((colour, shape_of(points), cy, cx, len(points)))
    return found


def png_bytes(puzzle: Puzzle) -> bytes:
    buffer = io.BytesIO()
    puzzle.image.save(buffer, format="PNG")
    return buffer.getvalue()


def puzzles_of(kind: str, seed: int = 11) -> list[Puzzle]:
    return list(generate(seed, N_PER_KIND, [kind]))


def assert_common(puzzle: Puzzle) -> None:
    assert puzzle.image.size == (128, 128) and puzzle.image.mode == "RGB"
    assert puzzle.image.getpixel((0, 0)) == (255, 255, 255)
    assert puzzle.answer and puzzle.answer == puzzle.answer.strip()
    assert len(puzzle.reasoning.split()) < 60
    assert answer_matches(puzzle.answer, puzzle.reasoning), puzzle.reasoning
    assert answer_matches(puzzle.answer, puzzle.answer)


# ---------------------------------------------------------------- determinism


def test_same_seed_gives_identical_bytes_and_text() -> None:
    first, second = list(generate(5, 40)), list(generate(5, 40))
    assert [png_bytes(p) for p in first] == [png_bytes(p) for p in second]
    assert [(p.kind, p.question, p.reasoning, p.answer) for p in first] == \
        [(p.kind, p.question, p.reasoning, p.answer) for p in second]


def test_different_seeds_differ() -> None:
    first, second = list(generate(5, 40)), list(generate(6, 40))
    assert sum(png_bytes(a) != png_bytes(b) for a, b in zip(first, second)) >= 35
    assert [p.reasoning for p in first] != [p.reasoning for p in second]


def test_puzzle_at_matches_generate_and_kind_filter() -> None:
    items = list(generate(9, 20, ["dice", "odd"]))
    assert {p.kind for p in items} == {"dice", "odd"}
    for index in (0, 7, 19):
        alone = puzzle_at(9, index, ["dice", "odd"])
        assert png_bytes(alone) == png_bytes(items[index])
        assert alone.reasoning == items[index].reasoning


def test_kinds_are_uniform_and_unknown_kind_rejected() -> None:
    counts = Counter(p.kind for p in generate(2, 2000))
    assert set(counts) == set(KINDS)
    assert all(400 <= counts[k] <= 600 for k in KINDS), counts
    with pytest.raises(ValueError):
        list(generate(0, 1, ["sudoku"]))
    with pytest.raises(ValueError):
        make_puzzle(__import__("random").Random(0), "sudoku")


def test_vocabulary_is_small_and_traces_short() -> None:
    words: set[str] = set()
    for puzzle in generate(4, 2000):
        tokens = re.findall(r"[a-z]+", puzzle.reasoning.lower())
        assert len(puzzle.reasoning.split()) < 60
        words.update(tokens)
    assert len(words) <= 60, sorted(words)


# ------------------------------------------------- answers checked from pixels


def test_count_answers_match_pixels() -> None:
    answers = Counter()
    for puzzle in puzzles_of("count"):
        assert_common(puzzle)
        asked = re.search(r"\b(red|green|blue|yellow)\b", puzzle.question).group(1)
        found = objects(puzzle.image)
        assert all(200 <= area <= 700 for *_, area in found)
        assert 3 <= len(found) <= 9
        assert str(sum(colour == asked for colour, *_ in found)) == puzzle.answer
        answers[int(puzzle.answer)] += 1
    assert answers[0] > 0 and max(answers) >= 5


def test_count_trace_describes_pixels_and_adds_up() -> None:
    for puzzle in puzzles_of("count", seed=12):
        found = sorted(objects(puzzle.image), key=lambda o: (o[2] // 32, o[3] // 32))
        cells = [(int(cy // 32), int(cx // 32)) for _, _, cy, cx, _ in found]
        assert len(set(cells)) == len(cells), "one object per cell"
        asked = re.search(r"\b(red|green|blue|yellow)\b", puzzle.question).group(1)
        counts = []
        for row in range(4):
            names = [c for (c, *_), (r, _) in zip(found, cells) if r == row]
            counts.append(names.count(asked))
            line = f"Row {row + 1}: {', '.join(names) or 'nothing'}, so {counts[-1]} {asked}."
            assert line in puzzle.reasoning, (line, puzzle.reasoning)
        total = re.search(r"([\d +]+) = (\d+)\.$", puzzle.reasoning)
        assert [int(x) for x in total.group(1).split(" + ")] == counts
        assert sum(counts) == int(total.group(2)) == int(puzzle.answer)


def bar_heights(image: Image.Image) -> list[tuple[str, int]]:
    """(colour, pixel height) of the bar in each of the four columns."""
    lab = labels(image)
    assert mask_of(lab, "black")[-2:].all(), "black axis along the bottom"
    bars = []
    for col in range(4):
        strip = lab[:, col * 32:(col + 1) * 32]
        colours = [n for n in FILLS if mask_of(strip, n).any()]
        assert len(colours) == 1, colours
        rows = mask_of(strip, colours[0]).any(axis=1)
        top, bottom = np.nonzero(rows)[0][[0, -1]]
        assert bottom == 125 and rows[top:bottom + 1].all()
        bars.append((colours[0], int(bottom - top + 1)))
    return bars


def test_tallest_answers_match_pixels() -> None:
    answers = Counter()
    for puzzle in puzzles_of("tallest"):
        assert_common(puzzle)
        bars = bar_heights(puzzle.image)
        assert len({c for c, _ in bars}) == 4
        units = [math.ceil(h / 32) for _, h in bars]
        assert all(1 <= u <= 4 for u in units)
        tallest = re.search(r"tallest|highest", puzzle.question) is not None
        best = max(units) if tallest else min(units)
        assert units.count(best) == 1
        winner = bars[units.index(best)][0]
        assert puzzle.answer == winner
        trace = re.findall(r"the (\w+) bar is (\d)", puzzle.reasoning)
        assert trace == [(c, str(u)) for (c, _), u in zip(bars, units)]
        assert puzzle.reasoning.endswith(
            f"so the {winner} bar is the {'tallest' if tallest else 'shortest'}.")
        answers[(tallest, winner)] += 1
    assert len(answers) == 8


def pips_per_half(image: Image.Image) -> list[int]:
    black = mask_of(labels(image), "black")
    counts = []
    for half in (black[:, :64], black[:, 64:]):
        blobs = sorted(components(half), key=len)
        outline = blobs.pop()
        ys, xs = outline[:, 0], outline[:, 1]
        assert 56 <= np.ptp(xs) + 1 <= 60 and 56 <= np.ptp(ys) + 1 <= 60
        assert 0 <= xs.min() and xs.max() < 64, "die stays in its half"
        assert all(60 <= len(b) <= 130 for b in blobs), [len(b) for b in blobs]
        assert all(xs.min() < b[:, 1].min() and b[:, 1].max() < xs.max() for b in blobs)
        counts.append(len(blobs))
    return counts


def test_dice_answers_match_pixels() -> None:
    sums = Counter()
    for puzzle in puzzles_of("dice"):
        assert_common(puzzle)
        left, right = pips_per_half(puzzle.image)
        assert 1 <= left <= 6 and 1 <= right <= 6
        assert puzzle.answer == str(left + right)
        trace = re.fullmatch(r"The left die shows (\d) pips?\. The right die shows (\d) "
                             r"pips?\. (\d) \+ (\d) = (\d+)\.", puzzle.reasoning)
        assert trace is not None, puzzle.reasoning
        assert trace.groups() == (str(left), str(right), str(left), str(right),
                                  puzzle.answer)
        sums[left + right] += 1
    assert set(sums) == set(range(2, 13))


def quadrant_objects(image: Image.Image) -> list[tuple[str, str]]:
    found = objects(image)
    assert len(found) == 4
    by_quadrant = {}
    for colour, shape, cy, cx, area in found:
        assert 36 * 36 * 0.45 <= area <= 44 * 44
        by_quadrant[int(cy // 64) * 2 + int(cx // 64)] = (colour, shape)
    assert sorted(by_quadrant) == [0, 1, 2, 3]
    return [by_quadrant[q] for q in range(4)]


def test_odd_answers_match_pixels() -> None:
    answers = Counter()
    for puzzle in puzzles_of("odd"):
        assert_common(puzzle)
        items = quadrant_objects(puzzle.image)
        common, three = Counter(items).most_common(1)[0]
        assert three == 3
        odd = next(q for q, item in enumerate(items) if item != common)
        assert puzzle.answer == POSITIONS[odd]
        seen = ", ".join(f"{colour} {shape} at {position}" for position, (colour, shape) in zip(POSITIONS, items))
        assert f"I see: {seen}." in puzzle.reasoning
        assert f"Most are {common[0]} {common[1]}s." in puzzle.reasoning
        assert puzzle.reasoning.endswith(f"The odd one is the {items[odd][0]} {items[odd][1]} at {POSITIONS[odd]}.")
        odd_colour, odd_shape = items[odd]
        answers[(POSITIONS[odd], "colour" if odd_shape == common[1] else "shape")] += 1
        assert (odd_colour == common[0]) != (odd_shape == common[1])
    assert len(answers) == 8


# ------------------------------------------------------------ answer grading


@pytest.mark.parametrize("expected, text, ok", [
    ("3", "3", True),
    ("3", "The answer is 3.", True),
    ("3", "Row 1: red circle. 1 + 0 + 2 + 0 = 3. Answer: 3", True),
    ("3", "three", False),
    ("3", "13", False),
    ("3", "30", False),
    ("3", "3 or maybe 4", False),
    ("3", "", False),
    ("10", "4 + 6 = 10", True),
    ("10", "It is 10, no wait, 11.", False),
    ("10", "1 0", False),
    ("green", "Green", True),
    ("green", "the green bar is the tallest.", True),
    ("green", "red, blue or green? green", True),
    ("green", "green or red", False),
    ("green", "greenish", False),
    ("green", "blue", False),
    ("green", "", False),
    ("bottom left", "bottom left", True),
    ("bottom left", "Bottom-Left.", True),
    ("bottom left", "the lower left one", True),
    ("bottom left", "top left, top right, bottom left or bottom right?", False),
    ("bottom left", "bottom left... no, top left", False),
    ("bottom left", "bottom right", False),
    ("bottom left", "left", False),
    ("top right", "Three are red squares; the top right one is a red circle.", True),
])
def test_answer_matches(expected: str, text: str, ok: bool) -> None:
    assert answer_matches(expected, text) is ok


# --------------------------------------------------------------------- output


def test_write_puzzles_round_trip(tmp_path: Path) -> None:
    jsonl = write_puzzles(3, 9, tmp_path, ["count", "odd"])
    records = [json.loads(line) for line in jsonl.read_text().splitlines()]
    expected = list(generate(3, 9, ["count", "odd"]))
    assert len(records) == 9 and jsonl == tmp_path / "puzzles.jsonl"
    for index, (record, puzzle) in enumerate(zip(records, expected)):
        assert record["image"] == f"images/{index:05d}.png"
        assert (tmp_path / record["image"]).read_bytes() == png_bytes(puzzle)
        assert {k: record[k] for k in ("kind", "question", "reasoning", "answer")} == {
            "kind": puzzle.kind, "question": puzzle.question,
            "reasoning": puzzle.reasoning, "answer": puzzle.answer}


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "model.tiny.puzzles", *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)


def test_cli_writes_images_and_jsonl(tmp_path: Path) -> None:
    out = tmp_path / "set"
    result = run_cli("--seed", "4", "--n", "12", "--out", str(out), "--kinds", "count,dice")
    assert result.returncode == 0, result.stderr
    images = sorted((out / "images").glob("*.png"))
    lines = (out / "puzzles.jsonl").read_text().splitlines()
    assert len(images) == 12 and len(lines) == 12
    kinds = Counter(json.loads(line)["kind"] for line in lines)
    assert set(kinds) <= {"count", "dice"}
    summary = result.stdout.strip()
    assert "\n" not in summary and summary.startswith("wrote 12 puzzles")
    assert all(f"{k}={v}" in summary for k, v in kinds.items())
    for line in lines:
        record = json.loads(line)
        with Image.open(out / record["image"]) as image:
            assert image.size == (128, 128)
        assert answer_matches(record["answer"], record["reasoning"])


def test_cli_help_and_bad_kind(tmp_path: Path) -> None:
    help_result = run_cli("--help")
    assert help_result.returncode == 0 and "--kinds" in help_result.stdout
    bad = run_cli("--n", "2", "--out", str(tmp_path), "--kinds", "count,maze")
    assert bad.returncode != 0 and "maze" in bad.stderr
