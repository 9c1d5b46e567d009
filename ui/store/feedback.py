"""Verdicts on answers: one JSON line per verdict given, changed or withdrawn, and what they add up to.

Contract:
- `VerdictStore(folder, mode)` appends to `<folder>/feedback/verdicts-YYYY-MM-DD.jsonl` (the day in
  UTC), beside the blind votes, under the same `--feedback` mode: "off" writes nothing, "on" text
  only, "with-images" also each image once, named by its digest, under `<folder>/feedback/images/`.
  Every line has the keys of `VERDICT_KEYS`, in that order, so `datasets.load_dataset("json")`
  reads the files as one table. No visitor's address, session or cookie is ever written.
- `verdict_line(...)` builds a line: `verdict` is "up" or "down", or None for a withdrawal (then
  `kind` is "withdrawn"); `reason` one of `REASONS` or ""; `source` one of `SOURCES` ("chat", the
  Compare tab's columns, a shared link's replay). The comment is cut at `MAX_COMMENT` characters.
- A verdict may be changed or withdrawn: the new line carries the same `verdict_id`;
  `read_verdicts(folder)` keeps each id's last line and drops the withdrawn.
- `feedback_summary_lines(folder)` is what `python app.py --feedback-summary` prints: verdicts per
  day, per verdict and reason, per model and settings, then the blind-vote table.
Nothing here imports Gradio.
"""
from __future__ import annotations

import json
import logging
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping, Sequence

from ui.store.turns import TurnRecord
from ui.store.votes import VoteStore, vote_summary_lines

log = logging.getLogger(__name__)
VERDICTS = ("up", "down")
REASONS = ("wrong_answer", "wrong_reading", "thinks_too_long", "language", "other")
SOURCES = ("chat", "compare", "replay")
MAX_COMMENT = 1_000
VERDICT_KEYS = ("verdict_id", "kind", "time", "source", "language", "verdict", "reason", "comment",
                "model", "model_version", "question", "image_digests", "thinking", "answer", "finish_reason",
                "thinking_tokens", "thought_s", "settings", "seed", "tiles", "stats", "earlier_turns")


def verdict_line(verdict_id: str, verdict: str | None, record: TurnRecord, *, source: str, language: str,
                 model: str, model_version: str, settings: Mapping[str, Any], image_digests: Sequence[str],
                 earlier_turns: int = 0, reason: str = "", comment: str = "",
                 now: datetime | None = None) -> dict[str, Any]:
    """One verdict as stored (see the module's contract); raises ValueError for an unknown value."""
    if verdict is not None and verdict not in VERDICTS:
        raise ValueError(f"a verdict is one of {', '.join(VERDICTS)}; got {verdict!r}")
    if reason and reason not in REASONS:
        raise ValueError(f"a reason is one of {', '.join(REASONS)}; got {reason!r}")
    if source not in SOURCES:
        raise ValueError(f"a source is one of {', '.join(SOURCES)}; got {source!r}")
    stats = dict(record.stats)
    return {"verdict_id": verdict_id, "kind": "verdict" if verdict else "withdrawn",
            "time": (now or datetime.now(timezone.utc)).isoformat(timespec="seconds"), "source": source,
            "language": language, "verdict": verdict, "reason": reason if verdict else "",
            "comment": comment.strip()[:MAX_COMMENT] if verdict else "", "model": model,
            "model_version": model_version, "question": record.question, "image_digests": list(image_digests),
            "thinking": record.thinking, "answer": record.answer,
            "finish_reason": getattr(record.finish_reason, "value", record.finish_reason),
            "thinking_tokens": record.thinking_tokens, "thought_s": round(record.thought_s, 3),
            "settings": dict(settings), "seed": stats.get("seed", -1), "tiles": list(stats.get("image_tiles") or []),
            "stats": stats, "earlier_turns": earlier_turns}


class VerdictStore(VoteStore):
    """Verdicts kept under `<folder>/feedback/`, or nowhere when the mode is "off"."""

    PREFIX = "verdicts"
    KEYS = VERDICT_KEYS


def read_verdicts(folder: Path | str) -> list[dict[str, Any]]:
    """Every standing verdict under `<folder>/feedback/`, oldest first: each id's last line, withdrawn ones left out."""
    latest: dict[str, dict[str, Any]] = {}
    for path in sorted((Path(folder) / "feedback").glob(f"{VerdictStore.PREFIX}-*.jsonl")):
        for number, text in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            try:
                line = json.loads(text)
                latest.pop(line["verdict_id"], None)
                latest[line["verdict_id"]] = line
            except (ValueError, KeyError, TypeError):
                log.warning("skipping line %d of %s: not a verdict", number, path)
    return [line for line in latest.values() if line.get("kind") == "verdict" and line.get("verdict") in VERDICTS]


def settings_text(settings: Mapping[str, Any]) -> str:
    return ", ".join(f"{name}={value}" for name, value in sorted(settings.items())) or "defaults"


def _counted(title: str, counts: Counter) -> list[str]:
    return [title] + [f"  {name}: {count}" for name, count in sorted(counts.items(), key=lambda item: (-item[1], item[0]))]


def feedback_summary_lines(folder: Path | str) -> list[str]:
    """Counts of the standing verdicts per day, verdict and reason, model and settings; then the votes."""
    verdicts = read_verdicts(folder)
    lines = [f"verdicts: {len(verdicts)} standing (changed ones counted once, withdrawn ones left out)"]
    if verdicts:
        lines += _counted("per day (UTC):", Counter(line["time"][:10] for line in verdicts))
        lines += _counted("per verdict and reason:", Counter(
            f"{line['verdict']} · {line['reason'] or 'no reason'}" for line in verdicts))
        lines += _counted("per source:", Counter(line["source"] for line in verdicts))
        by_setting: dict[str, Counter] = {}
        for line in verdicts:
            key = f"{line['model']} · {settings_text(line['settings'])}"
            by_setting.setdefault(key, Counter())[line["verdict"]] += 1
        lines.append("per model and settings (up/down):")
        lines += [f"  {key}: {counts['up']}/{counts['down']}" for key, counts in sorted(by_setting.items())]
    return lines + ["", "blind votes:"] + vote_summary_lines(folder)
