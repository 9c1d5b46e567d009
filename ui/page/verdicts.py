"""Verdicts on the chat's answers: Gradio's thumbs under each answer, then an optional reason and comment.

Contract:
- With feedback on, the chat shows Gradio's own Like / Dislike control under each answer, and
  `verdict_controls()` builds the row under the chat that asks why (hidden until a verdict is
  given). With `--feedback off` the chat has no thumbs and this row is not built.
- `Verdicts.liked` takes the chat's like event: a thumb stores a verdict on that turn
  (`ui.store.feedback.VerdictStore`) and opens the row; the other thumb changes it; the same thumb
  clicked again withdraws it (Gradio sends an empty value) and closes the row. `explained` stores
  the reason and comment as a change of the same verdict. The settings recorded are those history
  kept for the turn, else the ones on the page.
- A turn's verdict_id is a digest of the session, the turn's place and its texts: the same turn keeps
  its id through changes; another turn, or a regenerated answer, gets its own.
- `Verdicts.liked_replay` does the same for a shared link's replay (`source` "replay"): the turn
  and its settings come from the shared snapshot; a toast says what was saved (no reason row there).
- `CompareVerdicts` does the same for the Compare tab's two answers (`source` "compare"): it keeps
  each session's last finished comparison (bounded, the oldest sessions first out), its sides in the
  order shown, and stores a verdict on a column's answer with that column's own model and settings,
  `compare_column` ("A" or "B") and `blind` among them (the true settings even when the page hides
  them: the toast never names them). A new comparison forgets the last one.
- `turn_at(records, index)` is the turn whose messages hold the chat's message `index`.
"""
from __future__ import annotations

import dataclasses
import hashlib
import logging
import threading
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import gradio as gr

from ui.i18n.words import LABEL, Words
from ui.page.controls import options_from_controls
from ui.render.messages import turn_messages
from ui.serving.sessions import session_of
from ui.serving.shared import ModelSlot
from ui.store.feedback import MAX_COMMENT, REASONS, VerdictStore, verdict_line
from ui.store.history import find, merged_turns, parsed, turn_from_dict
from ui.store.turns import TurnRecord
from ui.store.votes import image_digest

log = logging.getLogger(__name__)
THUMBS = {True: "up", False: "down"}  # Gradio's LikeData.liked; "" when the chosen thumb is clicked again


@dataclass(frozen=True)
class VerdictControls:
    target: gr.State  # the verdict the row explains: {"id", "turn", "verdict"}, or None
    row: gr.Column
    note: gr.Markdown
    reason: gr.Radio
    comment: gr.Textbox
    save: gr.Button


def verdict_controls() -> VerdictControls:
    target = gr.State(None)
    with gr.Column(visible=False, elem_id="verdict-panel") as row:
        note = gr.Markdown("", elem_id="verdict-note")
        with gr.Row(equal_height=False):
            reason = gr.Radio([], label=LABEL("verdict.reason"), elem_id="verdict-reason", scale=3)
            with gr.Column(scale=2, min_width=220):
                comment = gr.Textbox(label=LABEL("verdict.comment"), max_lines=3, max_length=MAX_COMMENT,
                                     elem_id="verdict-comment")
                save = gr.Button(LABEL("verdict.save"), size="sm", elem_id="verdict-save")
    return VerdictControls(target, row, note, reason, comment, save)


def turn_at(records: Sequence[TurnRecord], index: Any) -> int | None:
    """The turn drawn at chat message `index` (records are drawn in order, each as its messages)."""
    if not isinstance(index, int) or index < 0:
        return None
    start = 0
    for turn, record in enumerate(records):
        start += len(turn_messages(record))
        if index < start:
            return turn
    return None


def verdict_id(session: str, turn: int, record: TurnRecord) -> str:
    text = "\n".join([session, str(turn), record.question, record.answer])
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def digests(record: TurnRecord) -> list[str]:
    found = []
    for path in record.images:
        try:
            found.append(image_digest(path))
        except OSError:  # gone from the server since: the verdict is kept without it
            log.warning("an image of a judged turn is gone: %s", path)
    return found


class Verdicts:
    """Writes the chat's verdicts; one per page (its state is in the page's components)."""

    def __init__(self, store: VerdictStore, slot: ModelSlot, languages: Any):
        self.store, self.slot, self.languages = store, slot, languages

    def settings(self, records: tuple, turn: int, conv_id: str | None, value: Any, controls: Sequence[Any]) -> dict:
        stored = (find(parsed(value), conv_id) or {}).get("turns") or [] if conv_id else []
        try:
            shown = dataclasses.asdict(options_from_controls(controls))
        except gr.Error:
            shown = {}
        return merged_turns(tuple(records), stored, shown)[turn]["settings"]

    def write(self, target: dict, record: TurnRecord, settings: dict, words: Words, reason: str = "",
              comment: str = "", source: str = "chat", model: str = "") -> None:
        info = self.slot.info
        version = info.version or info.backend if model in ("", info.name) else ""
        line = verdict_line(target["id"], target["verdict"], record, source=source, language=words.lang,
                            model=model or info.name, model_version=version, settings=settings,
                            image_digests=digests(record), earlier_turns=target["turn"], reason=reason,
                            comment=comment)
        self.store.write(line, record.images)

    def liked(self, records: tuple, conv_id: str | None, value: Any, data: gr.LikeData, request: gr.Request,
              *controls: Any):
        words = self.languages.words(request)
        turn = turn_at(records, data.index)
        if turn is None:  # the answer still streaming: it has no verdict yet
            return gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()
        record = records[turn]
        target = {"id": verdict_id(session_of(request) or "", turn, record), "turn": turn,
                  "verdict": THUMBS.get(data.liked)}
        self.write(target, record, self.settings(records, turn, conv_id, value, controls), words)
        if target["verdict"] is None:
            gr.Info(words("verdict.withdrawn"))
            return None, gr.Column(visible=False), "", gr.skip(), ""
        reasons = gr.Radio(choices=[(words(f"verdict.reason.{name}"), name) for name in REASONS], value=None,
                           label=words("verdict.reason"))
        return target, gr.Column(visible=True), words(f"verdict.saved_{target['verdict']}"), reasons, ""

    def explained(self, target: dict | None, reason: str | None, comment: str, records: tuple, conv_id: str | None,
                  value: Any, request: gr.Request, *controls: Any):
        words = self.languages.words(request)
        turn = target["turn"] if target else len(records)
        if turn >= len(records) or verdict_id(session_of(request) or "", turn, records[turn]) != target["id"]:
            gr.Warning(words("verdict.turn_gone"))
            return None, gr.Column(visible=False), ""
        if reason not in REASONS and not (comment or "").strip():
            gr.Warning(words("verdict.nothing_to_save"))
            return gr.skip(), gr.skip(), gr.skip()
        record = records[turn]
        self.write(target, record, self.settings(records, turn, conv_id, value, controls), words,
                   reason if reason in REASONS else "", comment or "")
        chosen = words(f"verdict.reason.{reason}") if reason in REASONS else words("verdict.no_reason")
        return target, gr.skip(), words("verdict.explained", reason=chosen)

    def liked_replay(self, shared: tuple | None, data: gr.LikeData, request: gr.Request,
                     load: Callable[[str], dict | None] = lambda share_id: None) -> None:
        words = self.languages.words(request)
        snapshot = load(shared[0]) if shared else None
        if snapshot is None:
            gr.Warning(words("verdict.turn_gone"))
            return
        record = turn_from_dict({**snapshot["record"], "images": snapshot.get("image_paths", [])}, lambda path: True)
        target = {"id": verdict_id(f"{session_of(request) or ''}:{shared[0]}", 0, record), "turn": 0,
                  "verdict": THUMBS.get(data.liked)}
        self.write(target, record, dict(snapshot.get("settings") or {}), words, source="replay",
                   model=str(snapshot.get("model", "")))
        gr.Info(words(f"verdict.saved_{target['verdict']}") if target["verdict"] else words("verdict.withdrawn"))


def wire_verdicts(verdicts: Verdicts, controls: VerdictControls, chatbot: gr.Chatbot, records: gr.State,
                  conv_id: gr.State, store: Any, settings: list, changed: Sequence[Any]) -> None:
    """The like event, the reason's Save, and the row closing after each event in `changed` (those
    that change the chat's turns: a State's own change event would make Gradio hash the records)."""
    chatbot.like(verdicts.liked, [records, conv_id, store, *settings],
                 [controls.target, controls.row, controls.note, controls.reason, controls.comment],
                 api_visibility="private")
    controls.save.click(verdicts.explained, [controls.target, controls.reason, controls.comment, records, conv_id,
                                             store, *settings], [controls.target, controls.row, controls.note],
                        api_visibility="private")
    for event in changed:
        event.then(lambda: (None, gr.Column(visible=False)), None, [controls.target, controls.row],
                   api_visibility="private", queue=False)


def wire_replay_verdicts(verdicts: Verdicts, chatbot: gr.Chatbot, shared: gr.State,
                         load: Callable[[str], dict | None]) -> None:
    """Thumbs on a shared link's replay, stored with source "replay"."""
    def liked(shared_value: tuple | None, data: gr.LikeData, request: gr.Request) -> None:
        verdicts.liked_replay(shared_value, data, request, load)

    chatbot.like(liked, [shared], None, api_visibility="private")


# ---- the Compare tab's answers ---------------------------------------------------------------------

MAX_HELD_COMPARISONS = 1_000  # sessions whose last comparison can still be judged


@dataclass(frozen=True)
class JudgedSide:
    """One finished column of a comparison, as its verdict stores it."""

    model: str
    settings: dict
    record: TurnRecord


class CompareVerdicts:
    """Each session's last finished comparison, and the thumbs on its two answers."""

    def __init__(self, verdicts: Verdicts):
        self.verdicts = verdicts
        self._held: OrderedDict[str, tuple[str, tuple[JudgedSide, ...]]] = OrderedDict()
        self._lock = threading.Lock()

    def keep(self, session: str, sides: Sequence[JudgedSide]) -> None:
        with self._lock:
            self._held.pop(session, None)
            self._held[session] = (uuid.uuid4().hex, tuple(sides))
            while len(self._held) > MAX_HELD_COMPARISONS:
                self._held.popitem(last=False)

    def forget(self, session: str) -> None:
        with self._lock:
            self._held.pop(session, None)

    def liked(self, column: int) -> Callable:
        """The like handler of column `column` (0: A, 1: B, in the order shown)."""
        def liked(data: gr.LikeData, request: gr.Request) -> None:
            self.judge(column, data.liked, request)
        return liked

    def judge(self, column: int, liked: Any, request: gr.Request | None) -> None:
        words = self.verdicts.languages.words(request)
        session = session_of(request) or ""
        with self._lock:
            held = self._held.get(session)
        if held is None:  # still answering, or nothing compared yet
            gr.Warning(words("compare.verdict_wait"))
            return
        run_id, sides = held
        side, label = sides[column], "AB"[column]
        target = {"id": verdict_id(f"{session}:{run_id}", column, side.record), "turn": 0,
                  "verdict": THUMBS.get(liked)}
        self.verdicts.write(target, side.record, side.settings, words, source="compare", model=side.model)
        key = f"compare.verdict_saved_{target['verdict']}" if target["verdict"] else "verdict.withdrawn"
        gr.Info(words(key, column=label) if target["verdict"] else words(key))
