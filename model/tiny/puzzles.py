"""Synthetic visual reasoning puzzles for training and evaluating the tiny R1V model.

Contract
--------
* Every image is a 128x128 RGB Pillow image on a white background, drawn
  without antialiasing in a fixed palette: red, green, blue, yellow (fills),
  black (pips, outlines, axis) and white.
* Layout follows a 4x4 grid of 32 px cells, so that each image token of the
  model (one 32x32 cell) sees at most one small object. Small objects are
  20-26 px, centred in their cell with +-2 px jitter; dice (56-60 px) and the
  odd-one-out objects (36-44 px) span 2x2 cells.
* No text is drawn. Four kinds (``KINDS``):

  - ``count``:   3-9 shapes in random cells; "How many red shapes ...?" -> "3"
  - ``tallest``: four bars (one per column, 1-4 units of 32 px);
                 the unique tallest or shortest bar -> "green"
  - ``dice``:    two dice; sum of their pips -> "10"
  - ``odd``:     one shape per quadrant, one differs in colour or shape
                 -> "bottom left"

* Each ``Puzzle`` carries a question, a short reasoning trace (under 60 words,
  small regular vocabulary) that describes the image step by step and ends
  with the answer, and the exact short answer string.
* ``generate(seed, n)`` is deterministic: puzzle ``i`` depends only on
  ``(seed, i)`` (see ``puzzle_at``), so the same seed gives byte-identical
  images and text, and datasets can be sharded by index.
* ``answer_matches(expected, model_answer)`` grades free text by its *final*
  candidate: the last integer for numeric answers, the last colour word
  (red/green/blue/yellow) for colour answers, the last position phrase
  (top/bottom/upper/lower + left/right) for position answers; case-insensitive.

CLI: ``python -m model.tiny.puzzles --seed S --n N --out DIR [--kinds count,dice]``
writes ``DIR/images/00000.png ...`` and ``DIR/puzzles.jsonl``.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

from PIL import Image, ImageDraw

KINDS: tuple[str, ...] = ("count", "tallest", "dice", "odd")
COLOURS: tuple[str, ...] = ("red", "green", "blue", "yellow")
SHAPES: tuple[str, ...] = ("circle", "square", "triangle")
POSITIONS: tuple[str, ...] = ("top left", "top right", "bottom left", "bottom right")
PALETTE: dict[str, tuple[int, int, int]] = {
    "red": (220, 30, 30),
    "green": (30, 160, 50),
    "blue": (30, 70, 220),
    "yellow": (240, 200, 0),
    "black": (0, 0, 0),
    "white": (255, 255, 255),
}
SIZE = 128
CELL = 32

COUNT_QUESTIONS = (
    "How many {c} shapes are in the picture?",
    "How many {c} shapes are there?",
    "Count the {c} shapes in the picture.",
)
BAR_QUESTIONS = {
    "tallest": ("Which bar is the tallest?", "What colour is the tallest bar?",
                "Which colour has the highest bar?"),
    "shortest": ("Which bar is the shortest?", "What colour is the shortest bar?",
                 "Which colour has the lowest bar?"),
}
DICE_QUESTIONS = (
    "What is the sum of the two dice?",
    "What do the two dice add up to?",
    "How many pips are on the two dice in total?",
)
ODD_QUESTIONS = (
    "Which position holds the odd one out: top left, top right, bottom left or bottom right?",
    "Where is the odd one out: top left, top right, bottom left or bottom right?",
    "One shape is different. Is it top left, top right, bottom left or bottom right?",
)
PIP_LAYOUTS: dict[int, tuple[tuple[int, int], ...]] = {
    1: ((0, 0),),
    2: ((-1, -1), (1, 1)),
    3: ((-1, -1), (0, 0), (1, 1)),
    4: ((-1, -1), (1, -1), (-1, 1), (1, 1)),
    5: ((-1, -1), (1, -1), (0, 0), (-1, 1), (1, 1)),
    6: ((-1, -1), (1, -1), (-1, 0), (1, 0), (-1, 1), (1, 1)),
}


@dataclass
class Puzzle:
    kind: str
    image: Image.Image
    question: str
    reasoning: str
    answer: str


def _canvas() -> tuple[Image.Image, ImageDraw.ImageDraw]:
    image = Image.new("RGB", (SIZE, SIZE), PALETTE["white"])
    return image, ImageDraw.Draw(image)


def _draw_shape(draw: ImageDraw.ImageDraw, shape: str, colour: str,
                cx: int, cy: int, size: int) -> None:
    x0, y0 = cx - size // 2, cy - size // 2
    x1, y1 = x0 + size - 1, y0 + size - 1
    fill = PALETTE[colour]
    if shape == "circle":
        draw.ellipse((x0, y0, x1, y1), fill=fill)
    elif shape == "square":
        draw.rectangle((x0, y0, x1, y1), fill=fill)
    else:
        draw.polygon(((x0 + x1) / 2, y0, x0, y1, x1, y1), fill=fill)


def _plural(shape: str) -> str:
    return shape + "s"


def _count(rng: random.Random) -> Puzzle:
    cells = sorted(rng.sample(range(16), rng.randint(3, 9)))
    objects = {cell: (rng.choice(COLOURS), rng.choice(SHAPES)) for cell in cells}
    image, draw = _canvas()
    for cell, (colour, shape) in objects.items():
        cx = (cell % 4) * CELL + CELL // 2 + rng.randint(-2, 2)
        cy = (cell // 4) * CELL + CELL // 2 + rng.randint(-2, 2)
        _draw_shape(draw, shape, colour, cx, cy, rng.randint(20, 26))
    present = sorted({colour for colour, _ in objects.values()}, key=COLOURS.index)
    target = rng.choice(present if rng.random() < 0.75 else COLOURS)
    # Each row is counted right where it is listed, so every step of the count is local.
    lines, per_row = [], []
    for row in range(4):
        colours = [objects[c][0] for c in cells if c // 4 == row]
        per_row.append(colours.count(target))
        lines.append(f"Row {row + 1}: {', '.join(colours) or 'nothing'}, so {per_row[-1]} {target}.")
    total = sum(per_row)
    lines.append(f"{' + '.join(map(str, per_row))} = {total}.")
    question = rng.choice(COUNT_QUESTIONS).format(c=target)
    return Puzzle("count", image, question, " ".join(lines), str(total))


def _bar_heights(rng: random.Random, extreme: str) -> list[int]:
    pick = max if extreme == "tallest" else min
    while True:
        heights = [rng.randint(1, 4) for _ in range(4)]
        if heights.count(pick(heights)) == 1:
            return heights


def _tallest(rng: random.Random) -> Puzzle:
    extreme = rng.choice(("tallest", "shortest"))
    colours = rng.sample(COLOURS, 4)
    heights = _bar_heights(rng, extreme)
    image, draw = _canvas()
    draw.rectangle((0, SIZE - 2, SIZE - 1, SIZE - 1), fill=PALETTE["black"])
    for col, (colour, height) in enumerate(zip(colours, heights)):
        width = rng.randint(20, 24)
        x0 = col * CELL + CELL // 2 - width // 2 + rng.randint(-2, 2)
        top = SIZE - 3 - (height * CELL - rng.randint(4, 8)) + 1
        draw.rectangle((x0, top, x0 + width - 1, SIZE - 3), fill=PALETTE[colour])
    best = (max if extreme == "tallest" else min)(heights)
    winner = colours[heights.index(best)]
    unit = "unit" if heights[0] == 1 else "units"
    parts = [f"the {colours[0]} bar is {heights[0]} {unit} tall"]
    parts += [f"the {c} bar is {h}" for c, h in zip(colours[1:], heights[1:])]
    word = "largest" if extreme == "tallest" else "smallest"
    reasoning = (f"From left to right: {', '.join(parts)}. "
                 f"The {word} height is {best}, so the {winner} bar is the {extreme}.")
    return Puzzle("tallest", image, rng.choice(BAR_QUESTIONS[extreme]), reasoning, winner)


def _draw_die(draw: ImageDraw.ImageDraw, rng: random.Random, side: int, value: int) -> None:
    size = rng.randint(56, 60)
    slack = min(2, (64 - size) // 2)
    cx = side * 64 + 32 + rng.randint(-slack, slack)
    cy = 64 + rng.randint(-4, 4)
    x0, y0 = cx - size // 2, cy - size // 2
    draw.rectangle((x0, y0, x0 + size - 1, y0 + size - 1),
                   fill=PALETTE["white"], outline=PALETTE["black"], width=2)
    offset, radius = round(size * 0.27), 5
    rotate = value in (2, 3, 6) and rng.random() < 0.5
    for dx, dy in PIP_LAYOUTS[value]:
        if rotate:
            dx, dy = dy, -dx
        px, py = cx + dx * offset, cy + dy * offset
        draw.ellipse((px - radius, py - radius, px + radius, py + radius),
                     fill=PALETTE["black"])


def _pips(value: int) -> str:
    return f"{value} pip" if value == 1 else f"{value} pips"


def _dice(rng: random.Random) -> Puzzle:
    left, right = rng.randint(1, 6), rng.randint(1, 6)
    image, draw = _canvas()
    _draw_die(draw, rng, 0, left)
    _draw_die(draw, rng, 1, right)
    reasoning = (f"The left die shows {_pips(left)}. The right die shows {_pips(right)}. "
                 f"{left} + {right} = {left + right}.")
    return Puzzle("dice", image, rng.choice(DICE_QUESTIONS), reasoning, str(left + right))


def _odd(rng: random.Random) -> Puzzle:
    colour, shape = rng.choice(COLOURS), rng.choice(SHAPES)
    odd = rng.randrange(4)
    if rng.random() < 0.5:
        odd_item = (rng.choice([c for c in COLOURS if c != colour]), shape)
    else:
        odd_item = (colour, rng.choice([s for s in SHAPES if s != shape]))
    items = [odd_item if q == odd else (colour, shape) for q in range(4)]
    image, draw = _canvas()
    base = rng.randint(37, 43)
    for q, (c, s) in enumerate(items):
        cx = (q % 2) * 64 + 32 + rng.randint(-2, 2)
        cy = (q // 2) * 64 + 32 + rng.randint(-2, 2)
        _draw_shape(draw, s, c, cx, cy, base + rng.randint(-1, 1))
    # Item before position, so the last step is a look-up of "<odd item> at" -> position.
    seen = ", ".join(f"{c} {s} at {p}" for p, (c, s) in zip(POSITIONS, items))
    lines = [f"I see: {seen}.", f"Most are {colour} {_plural(shape)}.",
             f"The odd one is the {odd_item[0]} {odd_item[1]} at {POSITIONS[odd]}."]
    return Puzzle("odd", image, rng.choice(ODD_QUESTIONS), " ".join(lines), POSITIONS[odd])


_MAKERS = {"count": _count, "tallest": _tallest, "dice": _dice, "odd": _odd}


def _check_kinds(kinds: Sequence[str]) -> tuple[str, ...]:
    unknown = [k for k in kinds if k not in KINDS]
    if unknown or not kinds:
        raise ValueError(f"unknown or empty kinds {list(kinds)}; choose from {KINDS}")
    return tuple(kinds)


def make_puzzle(rng: random.Random, kind: str | None = None) -> Puzzle:
    """Draw one puzzle of ``kind`` (uniform over ``KINDS`` when None) from ``rng``."""
    if kind is None:
        kind = rng.choice(KINDS)
    _check_kinds([kind])
    return _MAKERS[kind](rng)


def puzzle_at(seed: int, index: int, kinds: Sequence[str] | None = None) -> Puzzle:
    """Puzzle number ``index`` of ``generate(seed, ..., kinds)``, computed on its own."""
    rng = random.Random(f"{seed}:{index}")
    return make_puzzle(rng, rng.choice(_check_kinds(kinds or KINDS)))


def generate(seed: int, n: int, kinds: Sequence[str] | None = None) -> Iterator[Puzzle]:
    """Yield ``n`` puzzles, kinds uniform over ``kinds`` (default ``KINDS``)."""
    kinds = _check_kinds(kinds or KINDS)
    for index in range(n):
        yield puzzle_at(seed, index, kinds)


_NUMBER_RE = re.compile(r"\d+")
_COLOUR_RE = re.compile(r"\b(" + "|".join(COLOURS) + r")\b")
_POSITION_RE = re.compile(r"\b(top|bottom|upper|lower)[\s-]*(left|right)\b")
_VERTICAL = {"upper": "top", "lower": "bottom"}


def _last_position(text: str) -> str | None:
    found = _POSITION_RE.findall(text)
    if not found:
        return None
    vertical, horizontal = found[-1]
    return f"{_VERTICAL.get(vertical, vertical)} {horizontal}"


def answer_matches(expected: str, model_answer: str) -> bool:
    """True when the final candidate answer in ``model_answer`` equals ``expected``.

    Numeric ``expected``: the last integer in the text. Colour: the last of
    red/green/blue/yellow as a whole word. Position: the last
    "top|bottom|upper|lower [-] left|right" phrase. Anything else: the whole
    text, stripped of spaces and a final full stop. All case-insensitive.
    """
    want, text = expected.strip().lower(), model_answer.lower()
    if want.isdigit():
        numbers = _NUMBER_RE.findall(text)
        return bool(numbers) and int(numbers[-1]) == int(want)
    if want in COLOURS:
        colours = _COLOUR_RE.findall(text)
        return bool(colours) and colours[-1] == want
    if _last_position(want) == want:
        return _last_position(text) == want
    return text.strip().rstrip(".").strip() == want


def write_puzzles(seed: int, n: int, out_dir: str | Path,
                  kinds: Sequence[str] | None = None) -> Path:
    """Write ``out_dir/images/NNNNN.png`` and ``out_dir/puzzles.jsonl``; return the JSONL path."""
    out_dir = Path(out_dir)
    (out_dir / "images").mkdir(parents=True, exist_ok=True)
    jsonl = out_dir / "puzzles.jsonl"
    with jsonl.open("w", encoding="utf-8") as f:
        for index, puzzle in enumerate(generate(seed, n, kinds)):
            name = f"images/{index:05d}.png"
            puzzle.image.save(out_dir / name)
            record = {"image": name, "kind": puzzle.kind, "question": puzzle.question,
                      "reasoning": puzzle.reasoning, "answer": puzzle.answer}
            f.write(json.dumps(record) + "\n")
    return jsonl


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m model.tiny.puzzles",
        description="Write synthetic visual reasoning puzzles (PNG images + puzzles.jsonl).")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--n", type=int, required=True, help="number of puzzles")
    parser.add_argument("--out", type=Path, required=True, help="output directory")
    parser.add_argument("--kinds", default=",".join(KINDS),
                        help=f"comma-separated subset of {','.join(KINDS)}")
    args = parser.parse_args(argv)
    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    try:
        jsonl = write_puzzles(args.seed, args.n, args.out, kinds)
    except ValueError as error:
        parser.error(str(error))
    with jsonl.open(encoding="utf-8") as f:
        counts = Counter(json.loads(line)["kind"] for line in f)
    summary = ", ".join(f"{k}={counts[k]}" for k in KINDS if counts[k])
    print(f"wrote {args.n} puzzles to {jsonl} ({summary or 'none'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
