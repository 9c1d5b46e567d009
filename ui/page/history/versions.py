"""Versions of a conversation's turns on the page: "Edit a question", a "Turn 1: ‹ 2 / 3 ›" switcher
for each turn that has several versions, and the note shown while a question is being edited.

Contract:
- The chat's records stay the path it shows; `VersionControls.tree` holds every version
  (`ui.store.branches.Node`), grown from the records after each answer: Send on an edited turn adds a
  version there, Regenerate one at the last turn; Undo drops the last turn's shown version only.
- Choosing a turn in "Edit a question" puts its question and images back in the box and the chat up
  to that turn, with a note and Cancel; the next Send answers it as that turn's newest version.
  Cancel brings back the path shown before.
- ‹ and › show another version of their turn with what followed it; the history store keeps which
  (`HistoryView.save_all`), so a reload, Share and both exports hold the path shown.
- At most `SLOTS` switchers show: those of the last turns with versions.
- Nothing changes while the session is answering (`Serving.refuse_if_running` says why).
- Restoring or opening a conversation brings back its versions, starting or deleting one forgets
  them (`HistoryView.restore_versions` and its siblings in `ui.page.history.listing`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import gradio as gr

from ui.i18n.words import LABEL, Words
from ui.page.services import Services
from ui.render.messages import history_messages
from ui.store.branches import Node, counts, grown, path, pruned, switched
from ui.store.history import title_of

SLOTS = 6  # switchers shown at once (the last turns' with versions, when more have some)
QUESTION_CHARS = 48  # of a question in "Edit a question"
private = {"api_visibility": "private", "show_progress": "hidden"}


@dataclass(frozen=True)
class Switcher:
    """One turn's "‹ Turn 1: 2 / 3 ›"."""

    row: gr.Row
    previous: gr.Button
    count: gr.Markdown
    following: gr.Button


@dataclass(frozen=True)
class VersionControls:
    """Under the chat's buttons: "Edit a question" and the switchers, then the editing note with its
    Cancel. `tree` is every version; `editing` the turn whose question the box holds, or None."""

    tree: gr.State
    editing: gr.State
    row: gr.Row
    edit: gr.Dropdown
    switchers: tuple[Switcher, ...]
    editing_row: gr.Row
    note: gr.Markdown
    cancel: gr.Button

    @classmethod
    def build(cls) -> "VersionControls":
        tree, editing = gr.State(None), gr.State(None)
        with gr.Row(visible=False, equal_height=True, elem_id="branches") as row:
            edit = gr.Dropdown([], value=None, label=LABEL("branch.edit"), info=LABEL("branch.edit_info"),
                               elem_id="branch-edit", scale=2, min_width=240)
            switchers = tuple(_switcher(index) for index in range(SLOTS))
        with gr.Row(visible=False, equal_height=True, elem_id="editing") as editing_row:
            note = gr.Markdown("", elem_id="editing-note")
            cancel = gr.Button(LABEL("branch.cancel"), size="sm", scale=0, min_width=160, elem_id="editing-cancel")
        return cls(tree, editing, row, edit, switchers, editing_row, note, cancel)

    def draw_event(self, versions: "Versions", records: gr.State) -> dict:
        """The event arguments that redraw these controls from the records, the tree and the editing turn."""
        return dict(fn=versions.draw, inputs=[records, self.tree, self.editing], outputs=self.drawn, queue=False,
                    **private)

    @property
    def drawn(self) -> list:
        """What `Versions.drawn` updates, in its order."""
        parts = [part for s in self.switchers for part in (s.row, s.previous, s.count, s.following)]
        return [self.row, self.edit, *parts, self.editing_row, self.note]


def _switcher(index: int) -> Switcher:
    with gr.Row(visible=False, elem_id=f"branch-{index}", elem_classes=["branch-slot"]) as row:
        previous = gr.Button("‹", size="sm", min_width=36, scale=0, elem_classes=["branch-previous"])
        count = gr.Markdown("", elem_classes=["branch-count"])
        following = gr.Button("›", size="sm", min_width=36, scale=0, elem_classes=["branch-next"])
    return Switcher(row, previous, count, following)


def several(tree: Node | None, records: tuple) -> list[tuple[int, int, int]]:
    """(turn, shown version, versions) of the last `SLOTS` turns with more than one version, 1-based versions."""
    counted = counts(grown(tree, records), len(records))
    return [(turn, shown, total) for turn, (shown, total) in enumerate(counted) if total > 1][-SLOTS:]


def versions_at(tree: Node, turn: int) -> tuple:
    """The versions of turn `turn` along the shown path (empty past its end)."""
    node = tree
    for _ in range(turn):
        if not node.versions:
            return ()
        node = node.versions[min(node.shown, len(node.versions) - 1)]
    return node.versions


class Versions:
    """The handlers: drawing the controls, editing a question, switching versions, following the
    chat's answers."""

    def __init__(self, services: Services):
        self.services = services

    def drawn(self, records: tuple, tree: Node | None, editing: int | None, words: Words) -> list:
        """Updates for `VersionControls.drawn`: the row (shown with a turn to edit), the turns to pick
        from, each switcher, the editing note."""
        records = tuple(records or ())
        choices = [(words("branch.turn_choice", turn=turn + 1, question=_question(record.question, words)), turn)
                   for turn, record in enumerate(records)]
        out = [gr.Row(visible=bool(records) or editing is not None), gr.Dropdown(choices=choices, value=None)]
        shown = several(tree, records)
        for index in range(SLOTS):
            if index < len(shown):
                turn, version, total = shown[index]
                out += [gr.Row(visible=True), gr.Button(interactive=version > 1),
                        words("branch.count", turn=turn + 1, shown=version, total=total),
                        gr.Button(interactive=version < total)]
            else:
                out += [gr.Row(visible=False), gr.skip(), "", gr.skip()]
        if not isinstance(editing, int):
            return out + [gr.Row(visible=False), ""]
        version = len(versions_at(grown(tree, records), editing)) + 1
        return out + [gr.Row(visible=True), words("branch.editing", turn=editing + 1, version=version)]

    def draw(self, records: tuple, tree: Node | None, editing: int | None, request: gr.Request) -> list:
        return self.drawn(records, tree, editing, self.services.words(request))

    def draw_in(self, lang: str, records: tuple, tree: Node | None, editing: int | None) -> list:
        """After the language switch (the page's words change before the session's language is known)."""
        return self.drawn(records, tree, editing, Words(lang))

    def begin_edit(self, chosen: Any, records: tuple, tree: Node | None, request: gr.Request):
        """The chosen turn's question and images in the box, the chat up to that turn, editing it."""
        records = tuple(records or ())
        if not isinstance(chosen, int) or not 0 <= chosen < len(records) \
                or self.services.serving.refuse_if_running(request):
            return (gr.skip(),) * 6
        record, earlier = records[chosen], records[:chosen]
        box = gr.MultimodalTextbox(value={"text": record.question, "files": list(record.images)})
        words = self.services.words(request)
        return history_messages(earlier, words), box, earlier, grown(tree, records), chosen, ""

    def cancel_edit(self, records: tuple, tree: Node | None, editing: int | None, request: gr.Request):
        """Back to the path shown before editing began; the box empty again."""
        if editing is None or self.services.serving.refuse_if_running(request):
            return (gr.skip(),) * 5
        shown = path(grown(tree, records))
        box = gr.MultimodalTextbox(value={"text": "", "files": []})
        return history_messages(shown, self.services.words(request)), box, shown, None, ""

    def switch(self, slot: int, step: int) -> Callable:
        """The handler of switcher `slot`'s ‹ (step -1) or › (+1): that turn's other version, with
        what followed it."""
        def switch(records: tuple, tree: Node | None, request: gr.Request):
            records = tuple(records or ())
            shown = several(tree, records)
            if slot >= len(shown) or self.services.serving.refuse_if_running(request):
                return (gr.skip(),) * 5
            turn, version, _ = shown[slot]
            tree = switched(grown(tree, records), turn, version - 1 + step)
            records = path(tree)
            return history_messages(records, self.services.words(request)), records, tree, None, ""
        return switch

    # ---- following the chat's answers ----------------------------------------------------------

    @staticmethod
    def after_sent(records: tuple, tree: Node | None, editing: int | None):
        """After Send: the answer is the newest version at its turn; a refused one leaves the editing on."""
        still = editing if isinstance(editing, int) and len(records or ()) == editing else None
        return grown(tree, records or ()), still

    @staticmethod
    def after_regenerated(records: tuple, tree: Node | None, editing: int | None):
        return grown(tree, records or ()), None

    @staticmethod
    def after_undone(records: tuple, tree: Node | None, editing: int | None):
        """Undo drops the last turn's shown version (its other versions stay)."""
        records = tuple(records or ())
        return pruned(grown(tree, records), len(records)), None

    @staticmethod
    def after_cleared():
        return None, None


def _question(question: str, words: Words) -> str:
    return title_of(question, QUESTION_CHARS) if question.strip() else words("history.untitled")


def wire_versions(versions: Versions, shown: VersionControls, chat: Any, records: gr.State, save: dict,
                  language: gr.Radio) -> list:
    """Editing, cancelling and switching versions (`chat` is the `ui.page.chat.ChatView`); returns
    those events: they put other turns in the chat, so the page sets its buttons, exports and stats
    line after them, as after opening a conversation. `save` is the store's event after a switch."""
    draw = shown.draw_event(versions, records)
    began = shown.edit.input(versions.begin_edit, [shown.edit, records, shown.tree],
                             [chat.chatbot, chat.box, records, shown.tree, shown.editing, chat.stats], **private)
    cancelled = shown.cancel.click(versions.cancel_edit, [records, shown.tree, shown.editing],
                                   [chat.chatbot, chat.box, records, shown.editing, chat.stats], **private)
    for event in (began, cancelled):
        event.then(**draw)
    switches = []
    for index, switcher in enumerate(shown.switchers):
        for button, step in ((switcher.previous, -1), (switcher.following, 1)):
            switches.append(button.click(versions.switch(index, step), [records, shown.tree],
                                         [chat.chatbot, records, shown.tree, shown.editing, chat.stats], **private))
    for event in switches:  # another version shown: the store keeps which, then the switcher says so
        event.then(**save).then(**draw)
    language.input(versions.draw_in, [language, records, shown.tree, shown.editing], shown.drawn, queue=False,
                   **private)
    return [began, cancelled, *switches]
