"""Signatures of finished turns: a share link holds only what this server streamed.

`TurnSigner(key)`:
- `sign(record) -> str`: HMAC-SHA256 (hex) over `canonical(record)`, made when the server has just
  streamed the turn (the session's own record, never one read back from the browser);
- `verify(record, signature) -> bool`: whether a turn read back from the browser's history is
  exactly one this server signed; an image file that is gone makes it False;
- `visitor(address) -> str`: an opaque, keyed name for an address (share quotas keep no address).
`canonical(record)`: JSON with sorted keys and no spaces of the question, the sha256 of each image's
bytes, the thinking, the answer, the thinking tokens and seconds, whether the budget fired, the
finish reason and the stats. Whole numbers are written as integers, because they come back so
from the browser's JSON (3.0 becomes 3). The key is `HistoryOptions.share_key` (ui.store.history), kept in
the data folder (`share-key`, mode 0600) and made on first use: not the page's history secret,
which is in the page.
Nothing here imports Gradio.
"""
from __future__ import annotations

import hashlib
import hmac
import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from model.events import FinishReason

VERSION = "r1v-turn-1"  # in what is signed, so a later format never verifies against this one


@lru_cache(maxsize=256)
def _file_digest(path: str, size: int, mtime_ns: int) -> str:
    with open(path, "rb") as source:
        return hashlib.file_digest(source, "sha256").hexdigest()


def image_digest(path: str) -> str | None:
    """sha256 of the file's bytes (cached by size and modification time), or None when it is gone."""
    try:
        status = Path(path).stat()
        return _file_digest(path, status.st_size, status.st_mtime_ns)
    except OSError:
        return None


def _plain(value: Any) -> Any:
    """`value` as the browser's JSON gives it back: whole floats as ints, containers walked."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


def canonical(record: Any, digests: list[str]) -> bytes:
    content = {"v": VERSION, "question": record.question, "images": digests, "thinking": record.thinking,
               "answer": record.answer, "thinking_tokens": record.thinking_tokens, "thought_s": record.thought_s,
               "budget_fired": bool(record.budget_fired), "finish_reason": FinishReason(record.finish_reason).value,
               "stats": record.stats or {}}
    return json.dumps(_plain(content), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


class TurnSigner:
    def __init__(self, key: str):
        self.key = key.encode("utf-8")

    def _mac(self, message: bytes) -> str:
        return hmac.new(self.key, message, hashlib.sha256).hexdigest()

    def sign(self, record: Any) -> str:
        """The signature of a turn the server made; "" when one of its images is already gone."""
        digests = [image_digest(path) for path in record.images]
        return "" if None in digests else self._mac(canonical(record, digests))

    def verify(self, record: Any, signature: Any) -> bool:
        digests = [image_digest(path) for path in record.images]
        if not isinstance(signature, str) or not signature or None in digests:
            return False
        return hmac.compare_digest(self._mac(canonical(record, digests)), signature)

    def visitor(self, address: str) -> str:
        return self._mac(f"visitor:{address}".encode("utf-8"))[:32]
