"""Shared answers: read-only snapshots on the server, one folder each, under an unguessable id.

`ShareStore(folder, limits)`:
- `create(snapshot, images, visitor) -> (share_id, delete_token)`: copies the images into the
  snapshot's folder, writes `snapshot.json` (with the sha256 of the delete token, never the token,
  and `visitor`, an opaque name of who shared it) and makes it visible in one rename. Refused
  (`UserFacingError`, with the limit): a snapshot larger than `max_snapshot_bytes`; a visitor's
  `per_hour`+1st link within an hour; a visitor holding `visitor_percent` % of `max_count` already.
  Room is made without touching anybody else's links: expired snapshots go first, then the
  visitor's own oldest; if the store is still full (`max_count` or `max_bytes`) it is refused.
- `load(share_id)`: the snapshot dict with "image_paths" (absolute paths in its folder), or None
  for an id that is malformed (e.g. "../../etc": refused before any path is built), unknown or expired.
- `delete(share_id, token)`: removes it when the token matches.
Ids and delete tokens are `secrets.token_urlsafe(16)` (128 random bits).
Snapshots live in `<data folder>/shares/<id>/`; deleting that folder (or all of `shares/`) purges them.
Nothing here imports Gradio.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import re
import secrets
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from model.events import UserFacingError

SNAPSHOT_FILE = "snapshot.json"
ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{22}")  # what secrets.token_urlsafe(16) makes, nothing else
SNAPSHOT_VERSION = 1


@dataclass(frozen=True)
class ShareLimits:
    """How many snapshots, how many bytes in all and per snapshot, and for how many days they last."""

    max_count: int = 500
    max_bytes: int = 500 * 2**20
    max_snapshot_bytes: int = 40 * 2**20
    days: float = 30.0
    per_hour: int = 20  # links one visitor may make in an hour
    visitor_percent: float = 10.0  # of max_count, the most one visitor may hold

    @property
    def per_visitor(self) -> int:
        return max(1, int(self.max_count * self.visitor_percent / 100))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> "ShareLimits":
        default = cls()
        return cls(max_count=int(environ.get("R1V_SHARE_MAX_COUNT", default.max_count)),
                   max_bytes=int(float(environ.get("R1V_SHARE_MAX_MB", default.max_bytes / 2**20)) * 2**20),
                   max_snapshot_bytes=default.max_snapshot_bytes,
                   days=float(environ.get("R1V_SHARE_DAYS", default.days)),
                   per_hour=int(environ.get("R1V_SHARE_PER_HOUR", default.per_hour)),
                   visitor_percent=float(environ.get("R1V_SHARE_VISITOR_PERCENT", default.visitor_percent)))


def valid_id(share_id: Any) -> bool:
    return isinstance(share_id, str) and ID_PATTERN.fullmatch(share_id) is not None


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _folder_bytes(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.iterdir() if path.is_file())


class ShareStore:
    """Snapshots in `folder`, one sub-folder per id."""

    def __init__(self, folder: Path, limits: ShareLimits | None = None, clock: Callable[[], float] = time.time):
        self.folder, self.limits, self.clock = Path(folder), limits or ShareLimits(), clock

    # ---- writing ---------------------------------------------------------------------------

    def create(self, snapshot: Mapping[str, Any], images: Sequence[str], visitor: str = "") -> tuple[str, str]:
        size = sum(Path(path).stat().st_size for path in images)
        size += len(json.dumps(snapshot, ensure_ascii=False).encode("utf-8"))
        if size > self.limits.max_snapshot_bytes:
            raise UserFacingError(f"This answer is too large to share ({size / 2**20:.1f} MB; the limit is "
                                  f"{self.limits.max_snapshot_bytes / 2**20:.0f} MB).", key="share.too_large",
                                  size=size / 2**20, limit=self.limits.max_snapshot_bytes / 2**20)
        self.purge_expired()
        self._make_room(visitor, size)
        share_id, token = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        staging = self.folder / f".new-{share_id}"
        staging.mkdir(mode=0o700)
        try:
            self._write(staging, share_id, token, {**snapshot, "visitor": visitor}, images)
            os.rename(staging, self.folder / share_id)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return share_id, token

    def _write(self, staging: Path, share_id: str, token: str, snapshot: Mapping[str, Any],
               images: Sequence[str]) -> list[str]:
        names = [f"image-{n}{_suffix(path)}" for n, path in enumerate(images, 1)]
        for name, path in zip(names, images):
            shutil.copyfile(path, staging / name)
        now = self.clock()
        record = {**snapshot, "version": SNAPSHOT_VERSION, "id": share_id, "created": now,
                  "expires": now + self.limits.days * 86_400, "images": names, "delete_hash": _token_hash(token)}
        (staging / SNAPSHOT_FILE).write_text(json.dumps(record, ensure_ascii=False), encoding="utf-8")
        return names

    def delete(self, share_id: str, token: str) -> bool:
        snapshot = self._read(share_id)
        if snapshot is None or not isinstance(token, str) or \
                not secrets.compare_digest(_token_hash(token), str(snapshot.get("delete_hash", ""))):
            return False
        shutil.rmtree(self.folder / share_id, ignore_errors=True)
        return True

    def purge_expired(self) -> int:
        gone = 0
        for share_id, snapshot in self._entries():
            if snapshot is None or snapshot.get("expires", 0) <= self.clock():
                shutil.rmtree(self.folder / share_id, ignore_errors=True)
                gone += 1
        return gone

    def _make_room(self, visitor: str, size: int) -> None:
        """Refuses a visitor over their quota; drops their own oldest links while the store is full;
        refuses when it is full of other visitors' links (theirs are never dropped before they expire)."""
        limits, now = self.limits, self.clock()
        entries = sorted((snapshot.get("created", 0), share_id, snapshot.get("visitor", ""),
                          _folder_bytes(self.folder / share_id)) for share_id, snapshot in self._entries() if snapshot)
        mine = [entry for entry in entries if entry[2] == visitor]
        recent = [created for created, *_ in mine if created > now - 3600]
        if len(recent) >= limits.per_hour:
            minutes = max(1, math.ceil((min(recent) + 3600 - now) / 60))
            raise UserFacingError(f"You have shared {len(recent)} answers in the last hour, the most one address "
                                  f"may; please try again in {minutes} min.", key="share.hourly",
                                  count=len(recent), minutes=minutes)
        if len(mine) >= limits.per_visitor:
            raise UserFacingError(f"Your address already holds {len(mine)} shared answers, the most one address may "
                                  "keep.", key="share.visitor_full", count=len(mine), days=f"{limits.days:g}")
        total = sum(entry[3] for entry in entries)
        while entries and (len(entries) + 1 > limits.max_count or total + size > limits.max_bytes):
            if not mine:
                raise UserFacingError(f"The server keeps at most {limits.max_count} shared answers and is full.",
                                      key="share.full", count=limits.max_count, mb=f"{limits.max_bytes / 2**20:.0f}",
                                      days=f"{limits.days:g}")
            oldest = mine.pop(0)
            entries.remove(oldest)
            shutil.rmtree(self.folder / oldest[1], ignore_errors=True)
            total -= oldest[3]

    # ---- reading ---------------------------------------------------------------------------

    def load(self, share_id: Any) -> dict | None:
        snapshot = self._read(share_id)
        if snapshot is None:
            return None
        if snapshot.get("expires", 0) <= self.clock():
            shutil.rmtree(self.folder / share_id, ignore_errors=True)
            return None
        folder = self.folder / share_id
        snapshot["image_paths"] = [str(folder / name) for name in snapshot.get("images", [])
                                   if valid_image_name(name) and (folder / name).is_file()]
        return snapshot

    def _read(self, share_id: Any) -> dict | None:
        if not valid_id(share_id):
            return None
        try:
            data = json.loads((self.folder / share_id / SNAPSHOT_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def _entries(self) -> list[tuple[str, dict | None]]:
        if not self.folder.is_dir():
            return []
        return [(path.name, self._read(path.name)) for path in self.folder.iterdir()
                if path.is_dir() and valid_id(path.name)]


def _suffix(path: str) -> str:
    suffix = Path(path).suffix.lower()
    return suffix if re.fullmatch(r"\.[a-z0-9]{1,7}", suffix) else ""


def valid_image_name(name: Any) -> bool:
    return isinstance(name, str) and re.fullmatch(r"image-\d+(\.[a-z0-9]{1,7})?", name) is not None
