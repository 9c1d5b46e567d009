"""Shared answers: read-only snapshots on the server, one folder each, under an unguessable id.

`ShareStore(folder, limits)`:
- `create(snapshot, images) -> (share_id, delete_token)`: copies the images into the snapshot's
  folder, writes `snapshot.json` (with the sha256 of the delete token, never the token) and makes
  it visible in one rename. Expired snapshots are purged first; beyond `max_count` or `max_bytes`
  the oldest go. A snapshot larger than `max_snapshot_bytes` is refused (`UserFacingError`).
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

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> "ShareLimits":
        default = cls()
        return cls(max_count=int(environ.get("R1V_SHARE_MAX_COUNT", default.max_count)),
                   max_bytes=int(float(environ.get("R1V_SHARE_MAX_MB", default.max_bytes / 2**20)) * 2**20),
                   max_snapshot_bytes=default.max_snapshot_bytes,
                   days=float(environ.get("R1V_SHARE_DAYS", default.days)))


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

    def create(self, snapshot: Mapping[str, Any], images: Sequence[str]) -> tuple[str, str]:
        size = sum(Path(path).stat().st_size for path in images)
        size += len(json.dumps(snapshot, ensure_ascii=False).encode("utf-8"))
        if size > self.limits.max_snapshot_bytes:
            raise UserFacingError(f"This answer is too large to share ({size / 2**20:.1f} MB; the limit is "
                                  f"{self.limits.max_snapshot_bytes / 2**20:.0f} MB).", key="share.too_large",
                                  size=size / 2**20, limit=self.limits.max_snapshot_bytes / 2**20)
        self.purge_expired()
        share_id, token = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        staging = self.folder / f".new-{share_id}"
        staging.mkdir(mode=0o700)
        try:
            names = self._write(staging, share_id, token, snapshot, images)
            os.rename(staging, self.folder / share_id)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        self._bound(keep=share_id)
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

    def _bound(self, keep: str) -> None:
        """Drops the oldest snapshots (never `keep`) until the count and the bytes are within limits."""
        entries = sorted(((snapshot.get("created", 0), share_id, _folder_bytes(self.folder / share_id))
                          for share_id, snapshot in self._entries() if snapshot is not None))
        total = sum(size for _, _, size in entries)
        while entries and (len(entries) > self.limits.max_count or total > self.limits.max_bytes):
            _, share_id, size = entries.pop(0)
            if share_id == keep:
                continue
            shutil.rmtree(self.folder / share_id, ignore_errors=True)
            total -= size

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
