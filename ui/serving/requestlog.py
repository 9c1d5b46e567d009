"""One structured log line per answered (or refused) request, on the logger `r1v.requests`.

`RequestLog(log_questions=False).write(...)` emits a JSON object (`refused(...)`: the line of a call
refused before any model work, finish "refused" and the refusal's kind as its error): request id, endpoint, a short
session tag, image count and bytes, question length, tiles, tokens, seconds, finish reason and
error kind. Image bytes are never logged; the question text only when `log_questions` is set (a
debugging flag); client addresses and keys are never logged.
"""
from __future__ import annotations

import json
import logging
import os
import uuid
from dataclasses import dataclass
from typing import Any, Sequence

logger = logging.getLogger("r1v.requests")


def _file_bytes(paths: Sequence[Any]) -> int:
    total = 0
    for path in paths:
        try:
            total += os.path.getsize(path) if isinstance(path, (str, os.PathLike)) else len(path)
        except (OSError, TypeError):
            pass
    return total


@dataclass
class RequestLog:
    log_questions: bool = False

    def write(self, *, request_id: str, endpoint: str, session: str | None, question: str,
              images: Sequence[Any], stats: dict | None, finish: str, seconds: float,
              error_kind: str | None = None) -> dict:
        stats = stats or {}
        line = {
            "event": "request", "id": request_id, "endpoint": endpoint,
            "session": (session or "")[:8], "images": len(images), "image_bytes": _file_bytes(images),
            "question_chars": len(question), "tiles": list(stats.get("image_tiles") or []),
            "prompt_tokens": stats.get("prompt_tokens"), "thinking_tokens": stats.get("thinking_tokens"),
            "answer_tokens": stats.get("answer_tokens"), "ttft_s": _rounded(stats.get("ttft_s")),
            "seconds": _rounded(seconds), "finish": finish, "error": error_kind,
        }
        if self.log_questions:  # a lone surrogate (invalid text a client sent) is written escaped
            line["question"] = question.encode("utf-8", "backslashreplace").decode("utf-8")
        logger.info("%s", json.dumps(line, ensure_ascii=False))
        return line


def refused(endpoint: str, kind: str, question: Any = "") -> dict:
    """The line of a call refused where no `RequestLog` is at hand (the HTTP checks before the queue)."""
    return RequestLog().write(request_id=uuid.uuid4().hex[:8], endpoint=endpoint, session=None,
                              question=question if isinstance(question, str) else "", images=(), stats=None,
                              finish="refused", seconds=0.0, error_kind=kind)


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(float(value), 3)
