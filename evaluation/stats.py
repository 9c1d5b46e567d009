"""Numbers of a finished run: accuracy per scorer with a 95 % Wilson interval, by group, and
thinking length against correctness.

`summarise(records) -> dict` is what DIR/summary.json holds (before the published figures are added).
"""
from __future__ import annotations

import math
from collections import defaultdict
from typing import Iterable

Z95 = 1.959963984540054  # the normal quantile for a two-sided 95 % interval
THINKING_BUCKETS = (0, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384)  # lower edges, tokens of thinking


def wilson(right: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson's score interval for a proportion: sensible at 0 %, 100 % and small n, unlike p +- z*se."""
    if n == 0:
        return 0.0, 1.0
    p = right / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def accuracy(rights: list[bool]) -> dict:
    n, right = len(rights), sum(rights)
    low, high = wilson(right, n)
    return {"n": n, "right": right, "accuracy": right / n if n else 0.0, "ci95": [round(low, 4), round(high, 4)]}


def scorer_names(records: list[dict]) -> list[str]:
    names: list[str] = []
    for record in records:
        names += [name for name in record["scores"] if name not in names]
    return names


def _rights(records: Iterable[dict], scorer: str) -> list[bool]:
    return [bool(r["scores"][scorer]["right"]) for r in records if scorer in r["scores"]]


def by_group(records: list[dict], key: str, scorers: list[str]) -> dict:
    groups: dict[str, list[dict]] = defaultdict(list)
    for record in records:
        groups[str(record.get(key) or "-")].append(record)
    return {group: {scorer: accuracy(_rights(members, scorer)) for scorer in scorers}
            for group, members in sorted(groups.items())}


def bucket_label(tokens: int) -> str:
    edges = THINKING_BUCKETS
    for low, high in zip(edges, edges[1:]):
        if tokens < high:
            return f"{low}-{high - 1}"
    return f"{edges[-1]}+"


def thinking(records: list[dict], scorer: str) -> dict:
    """Thinking tokens of right and wrong answers, and accuracy per thinking-length bucket."""
    split = {"right": [], "wrong": []}
    buckets: dict[str, list[bool]] = defaultdict(list)
    for record in records:
        right = bool(record["scores"].get(scorer, {}).get("right"))
        split["right" if right else "wrong"].append(record["thinking_tokens"])
        buckets[bucket_label(record["thinking_tokens"])].append(right)
    order = [bucket_label(edge) for edge in THINKING_BUCKETS]
    return {
        "scorer": scorer,
        **{f"mean_tokens_{side}": round(sum(v) / len(v), 1) if v else None for side, v in split.items()},
        "tokens": split,
        "buckets": {label: accuracy(buckets[label]) for label in order if label in buckets},
    }


def summarise(records: list[dict]) -> dict:
    scorers = scorer_names(records)
    primary = records[0]["rule"] if records else ""
    finish: dict[str, int] = defaultdict(int)
    for record in records:
        finish[record["finish_reason"]] += 1
    return {
        "n": len(records), "primary_scorer": primary,
        "accuracy": {scorer: accuracy(_rights(records, scorer)) for scorer in scorers},
        "by_subject": by_group(records, "subject", scorers),
        "by_question_type": by_group(records, "question_type", scorers),
        "thinking": thinking(records, primary),
        "finish_reasons": dict(sorted(finish.items())),
        "judge_errors": sum(1 for r in records if r["scores"].get("judge", {}).get("error")),
        "mmmu_guessed": sum(1 for r in records if r["scores"].get("mmmu", {}).get("how") == "guessed"),
        "mean_seconds": round(sum(r["seconds"] for r in records) / len(records), 3) if records else 0.0,
    }
