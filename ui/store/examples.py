"""The clickable examples: images in assets/examples/ with a question each, listed in examples.json.

`load_examples(tiny)` gives MultimodalTextbox values in display order: puzzles first when the tiny
model runs (it only knows puzzles), the harder figures first otherwise. Missing files are skipped.
`python -m ui.store.examples` redraws every image (Pillow and matplotlib; nothing downloaded).
"""
from __future__ import annotations

import json
from pathlib import Path

EXAMPLES_DIR = Path(__file__).resolve().parents[2] / "assets" / "examples"
INDEX = EXAMPLES_DIR / "examples.json"
PUZZLE_SEED = 2024


def load_examples(tiny: bool, folder: Path = EXAMPLES_DIR) -> list[dict]:
    """[{"text": question, "files": [path]}] in the order to show them."""
    index = folder / "examples.json"
    if not index.is_file():
        return []
    entries = [e for e in json.loads(index.read_text(encoding="utf-8")) if (folder / e["file"]).is_file()]
    entries.sort(key=lambda e: (e["kind"] != "puzzle") if tiny else (e["kind"] == "puzzle"))
    return [{"text": e["question"], "files": [str(folder / e["file"])]} for e in entries]


# ---- drawing -----------------------------------------------------------------------------------

def _figure():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 4), dpi=110)
    return plt, fig, ax


def _save(plt, fig, name: str) -> str:
    fig.tight_layout()
    fig.savefig(EXAMPLES_DIR / name, facecolor="white")
    plt.close(fig)
    return name


def draw_geometry() -> str:
    plt, fig, ax = _figure()
    a, b, c = (0, 0), (8, 0), (0, 6)
    ax.add_patch(plt.Polygon([a, b, c], fill=False, lw=2, color="#1f3b73"))
    ax.plot([0, 0.6, 0.6], [0.6, 0.6, 0], color="#1f3b73", lw=1.2)
    ax.plot([0, 2.88], [0, 3.84], ls="--", color="#c0392b", lw=1.5)
    for (x, y), label in zip([a, b, c, (2.88, 3.84)], "CBAH"):
        ax.annotate(label, (x, y), textcoords="offset points", xytext=(-12, -12) if label == "C" else (6, 4),
                    fontsize=14, weight="bold")
    ax.text(4, -0.7, "8", ha="center", fontsize=13)
    ax.text(-0.6, 3, "6", va="center", fontsize=13)
    ax.set_xlim(-1.5, 9.5), ax.set_ylim(-1.5, 7.5), ax.set_aspect("equal"), ax.axis("off")
    return _save(plt, fig, "geometry_right_triangle.png")


def draw_bar_chart() -> str:
    plt, fig, ax = _figure()
    quarters, sales = ["Q1", "Q2", "Q3", "Q4"], [120, 135, 90, 162]
    bars = ax.bar(quarters, sales, color=["#4c78a8", "#4c78a8", "#e45756", "#54a24b"])
    ax.bar_label(bars, fmt="%d", fontsize=11)
    ax.set_title("Bicycle sales per quarter (units)"), ax.set_ylim(0, 190)
    ax.spines[["top", "right"]].set_visible(False)
    return _save(plt, fig, "bar_chart_sales.png")


def draw_function_plot() -> str:
    import numpy as np

    plt, fig, ax = _figure()
    x = np.linspace(-2.4, 2.4, 400)
    ax.plot(x, x**3 - 3 * x, lw=2.2, color="#6f42c1", label=r"$f(x) = x^3 - 3x$")
    ax.axhline(0, color="black", lw=0.8), ax.axvline(0, color="black", lw=0.8)
    ax.grid(alpha=0.3), ax.legend(loc="upper left"), ax.set_ylim(-5, 5)
    ax.set_xlabel("x"), ax.set_ylabel("y")
    return _save(plt, fig, "function_cubic.png")


def draw_incline() -> str:
    import math

    plt, fig, ax = _figure()
    angle = math.radians(30)
    length = 8
    top = (length * math.cos(angle), length * math.sin(angle))
    ax.add_patch(plt.Polygon([(0, 0), (top[0], 0), top], color="#d9d9d9", ec="black"))
    cx, cy, s = 4.6 * math.cos(angle), 4.6 * math.sin(angle), 1.1
    corners = [(cx, cy), (cx + s * math.cos(angle), cy + s * math.sin(angle))]
    corners += [(corners[1][0] - s * math.sin(angle), corners[1][1] + s * math.cos(angle)),
                (cx - s * math.sin(angle), cy + s * math.cos(angle))]
    ax.add_patch(plt.Polygon(corners, color="#f0a202", ec="black"))
    ax.text(cx - 2.6, cy + 1.3, "m = 2 kg", fontsize=12)
    ax.text(1.4, 0.25, "30°", fontsize=12)
    ax.text(3.8, -0.7, "μ = 0.2 (kinetic)", fontsize=12)
    ax.set_xlim(-0.5, 7.5), ax.set_ylim(-1.2, 5.2), ax.set_aspect("equal"), ax.axis("off")
    return _save(plt, fig, "physics_incline.png")


def draw_puzzles() -> list[dict]:
    from model.tiny.puzzles import KINDS, puzzle_at

    entries = []
    for kind in KINDS:
        puzzle = puzzle_at(PUZZLE_SEED, 0, kinds=[kind])
        name = f"puzzle_{kind}.png"
        puzzle.image.save(EXAMPLES_DIR / name)
        entries.append({"file": name, "kind": "puzzle", "question": puzzle.question})
    return entries


# Questions are plain text with Unicode maths (f′, m/s²), not TeX: the cards and their accessible
# names show them as written, and the model reads them just as well.
FIGURES = [
    (draw_geometry, "Triangle ABC has a right angle at C, AC = 6 and BC = 8. Find the length of the "
                    "altitude CH to the hypotenuse AB, and the lengths AH and HB."),
    (draw_bar_chart, "By what percentage did sales grow from the weakest quarter to the strongest one? "
                     "What was the average quarterly sale?"),
    (draw_function_plot, "Using the graph, where does f have its local maximum and minimum, and on which "
                         "interval is f decreasing? Confirm with f′(x)."),
    (draw_incline, "The block slides down the incline. Find its acceleration and the normal force "
                   "(take g = 9.8 m/s²)."),
]


def main() -> None:
    EXAMPLES_DIR.mkdir(parents=True, exist_ok=True)
    entries = draw_puzzles()
    entries += [{"file": draw(), "kind": "figure", "question": question} for draw, question in FIGURES]
    INDEX.write_text(json.dumps(entries, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {len(entries)} examples to {EXAMPLES_DIR}")


if __name__ == "__main__":
    main()
