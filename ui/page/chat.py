"""The Chat tab's view: the chat, the question box, its buttons and stats line, the exports, and
the wiring of their events to `ui.page.handlers.ChatHandlers`.

- `ChatView.build(feedback)` draws the chat column (with `feedback`, Gradio's thumbs under each
  answer: `ui.page.verdicts`); `Exports.build()` the two download buttons of the settings column.
- `ChatView.wire(handlers, settings, exports, records, buttons) -> Answered`: Send (or Enter),
  Regenerate, Stop, Undo and Clear; the buttons in `buttons` go busy before a run is queued and idle
  once it is over (both instant, unqueued), the exports follow every change of the records.
  `Answered` holds the events after which the records changed, for the history and the verdicts.
  Under the box, `pdf_line` names each PDF it holds with its page count and the pages read
  (`ChatHandlers.pdf_line`, on every change of the box: instant, unqueued); hidden without a PDF.
- `ChatView.wire_switched(handlers, events, exports, records, buttons)`: after another conversation
  is put in the chat, the page acts on it as after an answer.
- `ChatView.wire_scroll()`: sending scrolls the chat into view (assets/page.js).
- `keep_open_box(handlers, default)`: the "Keep thinking open" box, remembered per session.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import gradio as gr

from ui.i18n.words import LABEL
from ui.page.handlers import ChatHandlers
from ui.render.messages import CHATBOT_OPTIONS

PRIVATE = {"api_visibility": "private"}
INSTANT = {"queue": False, "show_progress": "hidden", **PRIVATE}
# The page's own endpoints stay callable by clients (and tests) but are not documented, so the API
# page and the MCP tool list show /reason, the one meant for scripts and agents. Raw values reach
# the handlers (no preprocess), so a bad setting is refused by GenerationOptions with its name and
# range, and each file is checked to be an upload (ui.store.uploads.image_path).
PAGE_ONLY = {"api_visibility": "undocumented", "preprocess": False}
SHOW_CHAT = "() => { window.r1v?.showChat(); }"


@dataclass
class Answered:
    """The chat's events after which the session's records have changed."""

    sent: Any
    regenerated: Any
    undone: Any
    cleared: Any

    @property
    def all(self) -> list:
        return [self.sent, self.regenerated, self.undone, self.cleared]


@dataclass
class Exports:
    """The transcript's two download buttons: a Markdown zip and a self-contained HTML page."""

    markdown: gr.DownloadButton
    html: gr.DownloadButton
    tree: gr.State | None = None  # the versions of the turns, so that each says which one it holds

    @classmethod
    def build(cls, tree: gr.State | None = None) -> "Exports":
        gr.Markdown(LABEL("export.title"))
        with gr.Row():
            md = gr.DownloadButton(LABEL("export.markdown"), interactive=False, size="sm", elem_id="export-md")
            page = gr.DownloadButton(LABEL("export.html"), interactive=False, size="sm", elem_id="export-html")
        return cls(md, page, tree)

    def sources(self, records: gr.State) -> list:
        """The inputs of `ChatHandlers.exports`."""
        return [records] if self.tree is None else [records, self.tree]

    @property
    def buttons(self) -> list[gr.DownloadButton]:
        return [self.markdown, self.html]


@dataclass
class ChatView:
    """The chat column's components."""

    chatbot: gr.Chatbot
    box: gr.MultimodalTextbox
    send: gr.Button
    stop: gr.Button
    regenerate: gr.Button
    undo: gr.Button
    clear: gr.Button
    stats: gr.Markdown
    pdf_line: gr.Markdown  # under the box: its PDFs, each with its page count and the pages read

    @classmethod
    def build(cls, feedback: bool) -> "ChatView":
        chatbot = gr.Chatbot(label=LABEL("chat.label"), height=600, **CHATBOT_OPTIONS, buttons=["copy", "copy_all"],
                             feedback_options=("Like", "Dislike") if feedback else None, elem_id="chat",
                             placeholder=LABEL("chat.placeholder"))
        box = gr.MultimodalTextbox(file_types=["image", ".pdf", ".heic", ".heif", ".avif"], file_count="multiple",
                                   show_label=False, placeholder=LABEL("box.placeholder"), submit_btn=False,
                                   elem_id="question")
        pdf_line = gr.Markdown("", visible=False, elem_id="pdf-line")
        # Enabled only when they can act (ChatHandlers.busy_buttons / idle_buttons): no turns, nothing running.
        with gr.Row(elem_id="chat-buttons"):
            send = gr.Button(LABEL("button.send"), variant="primary", elem_id="send-btn")
            stop = gr.Button(LABEL("button.stop"), variant="stop", elem_id="stop-btn", interactive=False)
            regenerate = gr.Button(LABEL("button.regenerate"), elem_id="regenerate-btn", interactive=False)
            undo = gr.Button(LABEL("button.undo"), elem_id="undo-btn", interactive=False)
            clear = gr.Button(LABEL("button.clear"), elem_id="clear-btn", interactive=False)
        stats = gr.Markdown("", elem_id="stats-line")
        return cls(chatbot, box, send, stop, regenerate, undo, clear, stats, pdf_line)

    @property
    def buttons(self) -> list[gr.Button]:
        """Send, Stop, Regenerate, Undo and Clear, in the order of `ui.page.handlers.BUTTONS`."""
        return [self.send, self.stop, self.regenerate, self.undo, self.clear]

    def wire(self, handlers: ChatHandlers, settings: Sequence[Any], exports: Exports, records: gr.State,
             buttons: Sequence[gr.Button]) -> Answered:
        outputs = [self.chatbot, self.box, records, self.stats]
        self.box.change(handlers.pdf_line, [self.box, records], self.pdf_line, **INSTANT)
        busy = button_events(handlers, buttons, records)[0]
        # "multiple": Enter pressed while answering reaches the handler, which refuses it with the reason
        # (Gradio's default would drop it silently); the draft stays in the box.
        sent = gr.on([self.box.submit, self.send.click], **busy).then(
            handlers.send, [self.box, records, *settings], outputs, api_name="chat", concurrency_id="generate",
            show_progress="minimal", trigger_mode="multiple", **PAGE_ONLY)
        regenerated = self.regenerate.click(**busy).then(
            handlers.regenerate, [records, *settings], outputs, api_name="regenerate", concurrency_id="generate",
            show_progress="minimal", **PAGE_ONLY)
        self.stop.click(handlers.serving.stop, None, None, queue=False, api_name="stop", **PAGE_ONLY)
        self._wire_withdraw(handlers, [sent, regenerated], button_events(handlers, buttons, records)[1])
        undone = self.undo.click(handlers.undo, [records], outputs, **PRIVATE)
        cleared = self.clear.click(handlers.clear, None, outputs, cancels=[sent, regenerated], **PRIVATE)
        answered = Answered(sent, regenerated, undone, cleared)
        self._after(handlers, answered, exports, records, buttons)
        return answered

    def _wire_withdraw(self, handlers: ChatHandlers, queued: list, idle: dict) -> None:
        """Stop pressed while the answer still waits in Gradio's queue withdraws it (`cancels=`): the
        session's Stop flag does not exist until the handler starts (`ChatHandlers.withdrawal` tells which)."""
        # A new token for each withdrawal. A hidden Textbox, not a State: the page runs a State's change
        # only after a queued event (Stop's handlers are not queued: they must not wait behind answers).
        withdrawn = gr.Textbox("", visible=False, elem_id="withdrawn")
        self.stop.click(handlers.withdrawal, None, withdrawn, **INSTANT)
        withdrawn.change(None, None, None, cancels=queued, **INSTANT).then(**idle)

    @staticmethod
    def _after(handlers: ChatHandlers, answered: Answered, exports: Exports, records: gr.State,
               buttons: Sequence[gr.Button]) -> None:
        """The exports follow every change; the buttons go idle (none to act on after Clear)."""
        idle = button_events(handlers, buttons, records)[1]
        for event in answered.all:
            event.then(handlers.exports, exports.sources(records), exports.buttons, **PRIVATE)
        for event in (answered.sent, answered.regenerated, answered.undone):
            event.then(**idle)
        answered.cleared.then(handlers.cleared_buttons, None, buttons, **INSTANT)

    def wire_switched(self, handlers: ChatHandlers, events: Sequence[Any], exports: Exports, records: gr.State,
                      buttons: Sequence[gr.Button]) -> None:
        """After a conversation is restored, opened, started or deleted, the page acts on it as after an
        answer: every button that can act is enabled, the exports hold it, the stats line shows its last turn."""
        for event in events:
            event.then(handlers.idle_buttons, [records], buttons, **INSTANT) \
                .then(handlers.exports, exports.sources(records), exports.buttons, show_progress="hidden", **PRIVATE) \
                .then(handlers.last_stats, [records], [self.stats], **INSTANT)

    def wire_scroll(self, examples: Any) -> None:
        """Sending (or picking an example) scrolls the chat into view (assets/page.js)."""
        gr.on([self.box.submit, self.send.click, self.regenerate.click], None, js=SHOW_CHAT, **INSTANT)
        if examples is not None:
            examples.click(None, js=SHOW_CHAT, **INSTANT)


def button_events(handlers: ChatHandlers, buttons: Sequence[gr.Button], records: gr.State) -> tuple[dict, dict]:
    """The event arguments that set `buttons` busy (before a run) and idle (after it)."""
    busy = dict(fn=handlers.busy_buttons, inputs=None, outputs=list(buttons), **INSTANT)
    idle = dict(fn=handlers.idle_buttons, inputs=[records], outputs=list(buttons), **INSTANT)
    return busy, idle


def keep_open_box(handlers: ChatHandlers, default: bool) -> gr.Checkbox:
    """"Keep thinking open": remembered per session by the handlers (default: --keep-thinking-open)."""
    box = gr.Checkbox(value=default, label=LABEL("settings.keep_thinking_open"),
                      info=LABEL("settings.keep_thinking_open.info"), elem_id="keep-thinking-open")
    box.change(handlers.choose_keep_open, box, None, **INSTANT)
    return box
