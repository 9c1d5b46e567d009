"""Conversations each browser keeps: TurnRecords <-> JSON, the store's bounds, titles, the data folder.

The store is the value of the page's `gr.BrowserState` (the browser's localStorage, encrypted there
with the app's secret), a JSON dict, most recently updated conversation first:

    {"version": 1, "current": id of the open conversation (what a reload shows; none: a new one),
     "conversations": [{"id", "title", "created", "updated", "turns": [turn, ...],
                        "branches": the other versions of its turns (only when there are any),
                        "pending": {"question", "started"}  (only while answering)}]}

A turn is a `TurnRecord` as a dict plus the settings it was answered with (`turn_to_dict`).
"turns" is the shown path (the versions the chat shows, what the model sees); "branches" is the tree
of every version (`ui.store.branches.to_data`), whose turns on the shown path stand for those in
"turns". `branches_of(conv, records, image_ok)` reads it back (malformed: the shown path alone);
`stored_turns(conv)` lists every turn it holds, so a version shown again keeps its settings.
`turn_from_dict` reads one back; images the server no longer has (or never allowed) are kept apart
in a `RestoredTurn` (`ui.store.turns`), drawn with "image no longer available" in their place and never
shown to the model. `parsed` accepts anything the browser sends (the secret is in the page, so a person
could write their own store): what is malformed is dropped, never trusted.
`bounded` keeps at most `max_conversations` and `max_bytes` of JSON, the least recently updated
dropped first; a single conversation too large loses its oldest turns, then its last trace is cut.

`data_folder()` is R1V_DATA_DIR, else ~/.cache/r1v-demo; `state_secret(folder)` is R1V_STATE_SECRET,
else a secret generated once and kept in the folder (mode 0600), so a restart keeps the history
(where the folder cannot be written, a secret for this run alone, with a warning in the log). The
key that signs finished turns (`ui.store.signing`) is kept the same way, in `share-key`; it never leaves
the server. A stored turn carries its signature; every turn read back is a `RestoredTurn` holding
it, so a turn the browser sent can never pass for one the server has just streamed.
Nothing here imports Gradio or the renderer.
"""
from __future__ import annotations

import json
import logging
import os
import secrets
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Mapping

from model.events import FinishReason
from ui.i18n.words import EN, Words
from ui.store.branches import Node, from_data
from ui.store.turns import RestoredTurn, TurnRecord

log = logging.getLogger(__name__)
STORE_VERSION = 1
MAX_CONVERSATIONS = 50
MAX_STORE_BYTES = 2_000_000  # serialised JSON; the browser's localStorage holds about 5 MB per site
TITLE_CHARS = 60
SECRET_FILE = "state-secret"
SHARE_KEY_FILE = "share-key"
Store = dict[str, Any]
ImageCheck = Callable[[str], bool]  # True when the server still has the image and may show it


# ---- the data folder and the secret ----------------------------------------------------------

def data_folder(environ: Mapping[str, str] = os.environ) -> Path:
    folder = environ.get("R1V_DATA_DIR") or str(Path.home() / ".cache" / "r1v-demo")
    return Path(folder).expanduser()


def state_secret(folder: Path, environ: Mapping[str, str] = os.environ) -> str:
    """R1V_STATE_SECRET, else the folder's secret, created on first use and readable by us alone."""
    if environ.get("R1V_STATE_SECRET"):
        return environ["R1V_STATE_SECRET"]
    return kept_secret(folder, SECRET_FILE)


def kept_secret(folder: Path, name: str) -> str:
    """The secret in `folder / name`, created on first use and readable by us alone."""
    path = folder / name
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # made by an earlier start (or a second process starting at once)
            return path.read_text(encoding="utf-8").strip()
        with os.fdopen(descriptor, "w", encoding="utf-8") as out:
            out.write(secrets.token_urlsafe(32))
        return path.read_text(encoding="utf-8").strip()
    except OSError as error:  # a read-only home: the page still serves, history lasts until a restart
        log.warning("cannot keep the secret %s in %s (%s); set R1V_DATA_DIR", name, folder, error)
        return secrets.token_urlsafe(32)


# ---- turns -----------------------------------------------------------------------------------

def turn_to_dict(record: TurnRecord, settings: Mapping[str, Any] | None = None, signature: str = "") -> dict:
    images = list(record.images) + list(getattr(record, "missing_images", ()))
    turn = {"question": record.question, "images": images, "thinking": record.thinking,
            "answer": record.answer, "thinking_tokens": record.thinking_tokens,
            "thought_s": record.thought_s, "budget_fired": record.budget_fired,
            "finish_reason": FinishReason(record.finish_reason).value, "stats": dict(record.stats),
            "settings": dict(settings or {})}
    return {**turn, "signature": signature} if signature else turn


def turn_from_dict(data: Any, image_ok: ImageCheck) -> TurnRecord:
    """The record a stored turn describes; raises ValueError (or TypeError) when it is malformed."""
    if not isinstance(data, dict):
        raise ValueError("a turn is a dict")
    texts = [data.get(name, "") for name in ("question", "thinking", "answer")]
    images = data.get("images") or []
    if not all(isinstance(text, str) for text in texts) or not isinstance(images, list) \
            or not all(isinstance(path, str) for path in images):
        raise ValueError("a turn's texts and image paths are strings")
    kept = tuple(path for path in images if image_ok(path))
    missing = tuple(path for path in images if path not in kept)
    fields = dict(question=texts[0], images=kept, thinking=texts[1], answer=texts[2],
                  thinking_tokens=int(data.get("thinking_tokens", 0)), thought_s=float(data.get("thought_s", 0.0)),
                  budget_fired=bool(data.get("budget_fired")),
                  finish_reason=FinishReason(data.get("finish_reason", "answered")),
                  stats=_checked_stats(data.get("stats")))
    return RestoredTurn(**fields, missing_images=missing) if missing else TurnRecord(**fields)


def as_restored(record: TurnRecord, signature: Any) -> RestoredTurn:
    """`record` as read back from the store, with the signature it came with ("" if none or not text)."""
    fields = {name: getattr(record, name) for name in TurnRecord.__dataclass_fields__}
    return RestoredTurn(**fields, missing_images=getattr(record, "missing_images", ()),
                        signature=signature if isinstance(signature, str) else "")


_STATS_NUMBERS = ("thinking_tokens", "answer_tokens", "tokens_per_s", "total_s")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _checked_stats(stats: Any) -> dict:
    """Stats as stored, when they hold what the stats line shows (numbers where it shows numbers);
    else none, so a tampered store never breaks the page."""
    if not isinstance(stats, dict) or not stats:
        return {}
    try:
        FinishReason(stats.get("finish_reason"))
    except ValueError:
        return {}
    tiles = stats.get("image_tiles") or []
    well_formed = (all(_is_number(stats.get(name)) for name in _STATS_NUMBERS)
                   and (stats.get("ttft_s") is None or _is_number(stats["ttft_s"]))
                   and _is_number(stats.get("seed", -1))
                   and isinstance(tiles, list) and all(_is_number(count) for count in tiles))
    return stats if well_formed else {}


def title_of(question: str, limit: int = TITLE_CHARS) -> str:
    """The first question on one line, cut at `limit` characters."""
    line = " ".join(question.split())
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


def new_id() -> str:
    return secrets.token_hex(8)


# ---- the store -------------------------------------------------------------------------------

def empty_store() -> Store:
    return {"version": STORE_VERSION, "conversations": []}


def parsed(value: Any) -> Store:
    """The browser's value as a store: conversations with an id and a list of turns; the rest dropped."""
    if not isinstance(value, dict) or value.get("version") != STORE_VERSION:
        return empty_store()
    conversations = [conv for conv in value.get("conversations") or [] if _well_formed(conv)]
    conversations.sort(key=lambda conv: conv["updated"], reverse=True)
    store = {"version": STORE_VERSION, "conversations": conversations}
    if value.get("current") is None or isinstance(value["current"], str):
        store.update({"current": value["current"]} if "current" in value else {})
    return store


def _well_formed(conv: Any) -> bool:
    return (isinstance(conv, dict) and isinstance(conv.get("id"), str) and isinstance(conv.get("turns"), list)
            and isinstance(conv.get("title", ""), str) and isinstance(conv.get("updated"), (int, float))
            and isinstance(conv.get("pending") or {}, dict))


def find(store: Store, conv_id: str | None) -> dict | None:
    return next((conv for conv in store["conversations"] if conv["id"] == conv_id), None)


def without(store: Store, conv_id: str | None) -> Store:
    current = store.get("current")
    return {**store, "current": None if current == conv_id else current,
            "conversations": [conv for conv in store["conversations"] if conv["id"] != conv_id]}


def opened(store: Store, conv_id: str | None) -> Store:
    """`store` with `conv_id` as the conversation a reload shows (None: a new, empty one)."""
    return {**store, "current": conv_id}


def current(store: Store) -> dict | None:
    """The conversation a reload shows: the one last open (None after New or Delete); in a store that
    never said, the newest."""
    if "current" in store:
        return find(store, store["current"])
    return store["conversations"][0] if store["conversations"] else None


def saved(store: Store, conv_id: str, turns: list[dict], now: float | None = None,
          branches: dict | None = None) -> Store:
    """`store` with conversation `conv_id` holding `turns` (newest first, no longer pending) and, when
    given, the `branches` of its turns; a conversation without turns is removed."""
    if not turns:
        return without(store, conv_id)
    now = time.time() if now is None else now
    old = find(store, conv_id) or {"id": conv_id, "created": now}
    conv = {"id": conv_id, "title": title_of(turns[0]["question"]), "created": old.get("created", now),
            "updated": now, "turns": turns, **({"branches": branches} if branches else {})}
    return {**store, "current": conv_id, "conversations": [conv] + without(store, conv_id)["conversations"]}


def with_pending(store: Store, conv_id: str, question: str, now: float | None = None) -> Store:
    """`store` noting that `conv_id` is answering `question` (a reload meanwhile shows it as interrupted)."""
    now = time.time() if now is None else now
    old = find(store, conv_id) or {"id": conv_id, "created": now, "turns": [], "title": title_of(question)}
    conv = {**old, "updated": now, "pending": {"question": question, "started": now}}
    return {**store, "current": conv_id, "conversations": [conv] + without(store, conv_id)["conversations"]}


def merged_turns(records: tuple[TurnRecord, ...], stored: list[dict], settings: Mapping[str, Any],
                 sign: Callable[[TurnRecord], str] | None = None) -> list[dict]:
    """The session's records as stored turns; a turn already stored keeps the settings it was answered
    with, a new (or regenerated) one gets `settings`. A turn the server made this session is signed
    with `sign`; one read back from the store keeps the signature it came with (never a new one)."""
    turns = []
    for index, record in enumerate(records):
        old = stored[index] if index < len(stored) else None
        same = old is not None and old.get("question") == record.question and old.get("answer") == record.answer
        if isinstance(record, RestoredTurn):
            signature = record.signature
        else:
            signature = sign(record) if sign else ""
        turns.append(turn_to_dict(record, old.get("settings") if same else settings, signature))
    return turns


def stored_turns(conv: dict | None) -> list[dict]:
    """Every turn dict a stored conversation holds: its shown path, then the other versions."""
    if not conv:
        return []
    found = [turn for turn in conv.get("turns") or [] if isinstance(turn, dict)]
    levels = [conv.get("branches")]
    while levels and len(found) < 10_000:
        level = levels.pop()
        for version in (level.get("versions") if isinstance(level, dict) else None) or []:
            if isinstance(version, dict):
                found += [version["turn"]] if isinstance(version.get("turn"), dict) else []
                levels.append(version.get("next"))
    return found


def aligned(records: tuple[TurnRecord, ...], turns: list[dict]) -> list[dict | None]:
    """For each record, the stored turn with its texts (None if there is none), for `merged_turns`."""
    def key(item: Any) -> tuple:
        get = item.get if isinstance(item, dict) else lambda name: getattr(item, name, None)
        return get("question"), get("answer"), get("thinking")
    by_texts = {key(turn): turn for turn in reversed(turns)}
    return [by_texts.get(key(record)) for record in records]


def read_turn(data: Any, image_ok: ImageCheck) -> RestoredTurn:
    """A stored turn read back, with its signature; raises ValueError (or TypeError) when malformed."""
    return as_restored(turn_from_dict(data, image_ok), data.get("signature"))


def branches_of(conv: dict, records: tuple[TurnRecord, ...], image_ok: ImageCheck) -> Node:
    """The versions of the conversation's turns, `records` (its restored "turns") as the shown path."""
    return from_data(conv.get("branches"), records, lambda data: read_turn(data, image_ok))


def restored(conv: dict, image_ok: ImageCheck) -> tuple[tuple[TurnRecord, ...], str | None]:
    """(the conversation's finished turns, the question that was still being answered or None)."""
    records = []
    for turn in conv["turns"]:
        try:
            records.append(read_turn(turn, image_ok))
        except (ValueError, TypeError):
            continue  # a malformed turn (an edited store) is left out; the rest still opens
    pending = (conv.get("pending") or {}).get("question")
    return tuple(records), pending if isinstance(pending, str) else None


def size_of(value: Any) -> int:
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))


def bounded(store: Store, max_conversations: int = MAX_CONVERSATIONS, max_bytes: int = MAX_STORE_BYTES) -> Store:
    """At most `max_conversations` and about `max_bytes` of JSON; the least recently updated go first."""
    base = parsed(store)
    conversations = base["conversations"][:max_conversations]
    sizes = [size_of(conv) for conv in conversations]
    room = max_bytes - size_of(empty_store())
    while len(conversations) > 1 and sum(sizes) + len(sizes) > room:
        conversations.pop()
        sizes.pop()
    if conversations and sizes[0] > room:
        conversations[0] = _shrunk(conversations[0], room)
    return {**base, "conversations": conversations}


def _shrunk(conv: dict, room: int) -> dict:
    """One conversation within `room` bytes: the versions not shown go first, then its oldest turns,
    then the last trace is shortened."""
    conv = {key: value for key, value in conv.items() if key != "branches"}
    turns = list(conv["turns"])
    while len(turns) > 1 and size_of({**conv, "turns": turns}) > room:
        turns.pop(0)
    conv = {**conv, "turns": turns}
    excess = size_of(conv) - room
    if excess > 0 and turns:
        thinking = turns[-1]["thinking"]
        keep = max(0, len(thinking.encode("utf-8")) - excess - 64)
        cut = thinking.encode("utf-8")[:keep].decode("utf-8", "ignore") + " …"
        conv["turns"] = turns[:-1] + [{**turns[-1], "thinking": cut}]
    return conv


def listing(store: Store, words: Words = EN) -> list[tuple[str, str]]:
    """(label, id) per conversation, newest first: its title, when it was last updated, and whether
    it is still answering."""
    out = []
    for conv in store["conversations"]:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(conv["updated"]))
        answering = words("history.answering") if conv.get("pending") else ""
        out.append((f"{conv.get('title') or words('history.untitled')} · {when}{answering}", conv["id"]))
    return out


FEEDBACK_MODES = ("off", "on", "with-images")


@dataclass(frozen=True)
class HistoryOptions:
    """Where the data folder is, the browser store's secret and bounds, and whether shares are on."""

    folder: Path
    secret: str
    share_links: bool = True
    max_conversations: int = MAX_CONVERSATIONS
    max_bytes: int = MAX_STORE_BYTES
    share_key: str = ""  # signs finished turns (ui.store.signing); "" = the one kept in `folder`
    feedback: str = "on"  # one of FEEDBACK_MODES: verdicts and votes kept under `folder / "feedback"`

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ, share_links: bool | None = None) -> "HistoryOptions":
        folder = data_folder(environ)
        if share_links is None:
            share_links = environ.get("R1V_SHARE_LINKS", "1").lower() not in ("0", "false", "no", "off")
        return cls(folder=folder, secret=state_secret(folder, environ), share_links=share_links,
                   share_key=kept_secret(folder, SHARE_KEY_FILE))

    def with_shares(self, on: bool) -> "HistoryOptions":
        return replace(self, share_links=on)

    def with_feedback(self, mode: str) -> "HistoryOptions":
        if mode not in FEEDBACK_MODES:
            raise ValueError(f"feedback must be one of {', '.join(FEEDBACK_MODES)}; got {mode!r}")
        return replace(self, feedback=mode)
