"""Blind votes from the Compare tab: one JSON line per vote, and the table of results they add up to.

Contract:
- `VoteStore(folder, mode)` appends each vote to `<folder>/feedback/votes-YYYY-MM-DD.jsonl` (the day
  in UTC), beside the chat's verdicts. `mode` is `HistoryOptions.feedback`: "off" writes nothing
  (`enabled` is False), "on" keeps text only, "with-images" also keeps each image once, named by its
  digest, under `<folder>/feedback/images/`. Every line has the keys of `VOTE_KEYS`, in that order
  (so `datasets.load_dataset("json")` reads the files as one table); no visitor's address is kept.
- A vote may be changed: the new line carries the same `vote_id` and `read_votes` keeps the last.
- `pair_key(x, y)` sorts two side descriptions, so (X vs Y) and (Y vs X) are one pair; in a vote,
  `sides` is that sorted pair and `shown_as_a` the index (0 or 1) of the side labelled A.
- `results_table(votes)` counts each pair: wins of each side, ties, both wrong, the first side's
  win rate with ties counted as half a win and "both wrong" left out, its 95 % Wilson score
  interval, and each side's mean thinking tokens and seconds. `vote_summary_lines(folder)` is that
  table as plain text; `table_jsonl(rows)` as JSON Lines.
Nothing here imports Gradio.
"""
from __future__ import annotations

import hashlib
import json
import logging
import math
import shutil
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Sequence

log = logging.getLogger(__name__)
OUTCOMES = ("a", "b", "tie", "both_wrong")
VOTE_KEYS = ("vote_id", "kind", "time", "language", "question", "image_digests", "sides", "shown_as_a",
             "outcome", "answers", "thinking_tokens", "thinking_s", "total_s", "seeds")
Z_95 = 1.959964  # the two-sided 95 % quantile of the standard normal


@dataclass(frozen=True)
class SideResult:
    """What one side of a comparison was and what it gave."""

    description: str  # backend and settings, e.g. "tiny · thinking budget 0 · temperature 0.6"
    answer: str
    thinking_tokens: int
    thinking_s: float
    total_s: float
    seed: int


def pair_key(first: str, second: str) -> tuple[str, str]:
    return tuple(sorted((first, second)))  # type: ignore[return-value]


def image_digest(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as source:
        for block in iter(lambda: source.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def vote_line(vote_id: str, outcome: str, shown: Sequence[SideResult], question: str, image_digests: Sequence[str],
              language: str, now: datetime | None = None) -> dict[str, Any]:
    """One vote as stored: `shown` is (the side labelled A, the side labelled B); `outcome` one of OUTCOMES."""
    if outcome not in OUTCOMES:
        raise ValueError(f"a vote is one of {', '.join(OUTCOMES)}; got {outcome!r}")
    sides = pair_key(shown[0].description, shown[1].description)
    a_index = 0 if sides[0] == shown[0].description else 1  # the same settings twice: A is the first
    by_pair = list(shown) if a_index == 0 else [shown[1], shown[0]]
    return {"vote_id": vote_id, "kind": "vote", "time": (now or datetime.now(timezone.utc)).isoformat(timespec="seconds"),
            "language": language, "question": question, "image_digests": list(image_digests), "sides": list(sides),
            "shown_as_a": a_index, "outcome": outcome, "answers": [side.answer for side in by_pair],
            "thinking_tokens": [side.thinking_tokens for side in by_pair],
            "thinking_s": [round(side.thinking_s, 3) for side in by_pair],
            "total_s": [round(side.total_s, 3) for side in by_pair], "seeds": [side.seed for side in by_pair]}


class VoteStore:
    """Votes kept under `<folder>/feedback/`, or nowhere when the mode is "off" (verdicts subclass it)."""

    PREFIX = "votes"  # the files' names: <PREFIX>-YYYY-MM-DD.jsonl
    KEYS = VOTE_KEYS  # every line's keys, in this order

    def __init__(self, folder: Path | str, mode: str = "on"):
        self.folder, self.mode = Path(folder) / "feedback", mode
        self._lock = threading.Lock()  # one writer at a time: lines never interleave

    @property
    def enabled(self) -> bool:
        return self.mode != "off"

    def path_for(self, when: datetime) -> Path:
        return self.folder / f"{self.PREFIX}-{when.astimezone(timezone.utc).date().isoformat()}.jsonl"

    def write(self, line: dict[str, Any], images: Iterable[str] = ()) -> Path | None:
        """Append one line (keys in KEYS order); with images kept, copy each image once."""
        if not self.enabled:
            return None
        path = self.path_for(datetime.fromisoformat(line["time"]))
        text = json.dumps({key: line[key] for key in self.KEYS}, ensure_ascii=False)
        with self._lock:
            self.folder.mkdir(parents=True, exist_ok=True)
            with path.open("a", encoding="utf-8") as out:
                out.write(text + "\n")
            if self.mode == "with-images":
                self._keep_images(images, line["image_digests"])
        return path

    def _keep_images(self, images: Iterable[str], digests: Sequence[str]) -> None:
        kept = self.folder / "images"
        kept.mkdir(exist_ok=True)
        for image, digest in zip(images, digests):
            target = kept / f"{digest}{Path(image).suffix.lower()}"
            if not target.exists():
                shutil.copyfile(image, target)


def read_votes(folder: Path | str) -> list[dict[str, Any]]:
    """Every vote under `<folder>/feedback/`, oldest file first; a changed vote counts once (its last line)."""
    latest: dict[str, dict[str, Any]] = {}
    for path in sorted((Path(folder) / "feedback").glob("votes-*.jsonl")):
        for number, text in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            try:
                vote = json.loads(text)
                if vote.get("kind") == "vote" and vote.get("outcome") in OUTCOMES:
                    latest.pop(vote["vote_id"], None)  # a changed vote moves to where it was last cast
                    latest[vote["vote_id"]] = vote
            except (ValueError, AttributeError, KeyError, TypeError):
                log.warning("skipping line %d of %s: not a vote", number, path)
    return list(latest.values())


# ---- the table -----------------------------------------------------------------------------------

def wilson_interval(successes: float, n: float, z: float = Z_95) -> tuple[float, float]:
    """The Wilson score interval of a proportion (successes may be fractional: half-counted ties).

    Written out rather than taken from statsmodels (`proportion_confint(method="wilson")`): it is
    five lines, and statsmodels with scipy would be this demo's largest dependency."""
    if n <= 0:
        return 0.0, 1.0
    if not 0 <= successes <= n:
        raise ValueError(f"successes must be between 0 and n ({n}); got {successes}")
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def _mean(values: list[float]) -> float:
    return round(sum(values) / len(values), 2) if values else 0.0


def _pair_row(sides: tuple[str, str], votes: list[dict[str, Any]]) -> dict[str, Any]:
    outcomes = [vote["outcome"] for vote in votes]
    # outcome "a" means the side shown as A won: translate it to the pair's first or second side
    wins = [sum(1 for vote in votes if vote["outcome"] in ("a", "b")
                and (vote["shown_as_a"] if vote["outcome"] == "a" else 1 - vote["shown_as_a"]) == index)
            for index in (0, 1)]
    ties = outcomes.count("tie")
    decided = wins[0] + wins[1] + ties
    low, high = wilson_interval(wins[0] + ties / 2, decided)
    return {"sides": list(sides), "votes": len(votes), "wins": wins, "ties": ties,
            "both_wrong": outcomes.count("both_wrong"),
            "win_rate": round((wins[0] + ties / 2) / decided, 4) if decided else None,
            "interval_95": [round(low, 4), round(high, 4)] if decided else None,
            "mean_thinking_tokens": [_mean([vote["thinking_tokens"][i] for vote in votes]) for i in (0, 1)],
            "mean_thinking_s": [_mean([vote["thinking_s"][i] for vote in votes]) for i in (0, 1)]}


def results_table(votes: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per pair of sides, the most voted pair first; the win rate is that of `sides[0]`."""
    pairs: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for vote in votes:
        pairs.setdefault(tuple(vote["sides"]), []).append(vote)  # type: ignore[arg-type]
    rows = [_pair_row(sides, found) for sides, found in pairs.items()]
    return sorted(rows, key=lambda row: (-row["votes"], row["sides"]))


def table_jsonl(rows: Iterable[dict[str, Any]]) -> str:
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f} %"


def vote_summary_lines(folder: Path | str) -> list[str]:
    """The results table as plain text, one pair per line after a header (ties count as half a win)."""
    rows = results_table(read_votes(folder))
    if not rows:
        return ["no votes yet"]
    lines = ["pair | votes | wins first/second | ties | both wrong | first's win rate (ties half) [95 % Wilson]"
             " | mean thinking tokens | mean thinking s"]
    for row in rows:
        interval = row["interval_95"]
        rate = _percent(row["win_rate"]) + (f" [{_percent(interval[0])}, {_percent(interval[1])}]" if interval else "")
        lines.append(" | ".join([f"{row['sides'][0]} vs {row['sides'][1]}", str(row["votes"]),
                                 f"{row['wins'][0]}/{row['wins'][1]}", str(row["ties"]), str(row["both_wrong"]),
                                 rate, "/".join(f"{v:g}" for v in row["mean_thinking_tokens"]),
                                 "/".join(f"{v:g}" for v in row["mean_thinking_s"])]))
    return lines
