"""The page's history side list, its Share button and the replay of a shared answer (Gradio wiring).

- `panels(options)`: the browser store (`gr.BrowserState`, encrypted with `options.secret`), the
  sidebar listing past conversations (open, delete, new) and the replay panel, hidden unless the page
  was opened with `?share=<id>`. `share_controls(options)`: the Share button and where its link shows.
- `watch_questions(handlers, options, chat, panels) -> HistoryView` notes each question in the store
  as it is sent (wired before the answering events, which empty the box), so a reload can tell.
- `wire_history(demo, view, chat, controls, records, panels, share, answered, shown, language)`: on load
  the conversation that was open comes back (a turn that was still answering is said to be interrupted and
  its question goes back in the box); after each answer, undo or clear the session's records (still
  the only history the model sees) are mirrored into the store, each turn the server made signed
  (`ui.store.signing`); Share writes a snapshot of the last finished turn (`ui.store.share`) if the server made
  it this session or its signature holds, within the visitor's quota, and shows its link and, once,
  its delete link. The delete token is in the link's fragment (`#delete=`), which browsers never
  send: the page reads it (FRAGMENT_JS), takes it out of the address bar and posts it with the
  replay's load event, so no request line (and no access log or proxy) ever holds it.
- With the versions of its turns (`ui.page.history.versions`): the store keeps every version and
  which one shows (`save_all`), restoring or opening a conversation brings them back, and Share says
  which version of its turn the shared answer is ("turn 1, version 2 of 3" on the replay).
Opening, starting or deleting a conversation is refused while an answer runs.
"""
from __future__ import annotations

import dataclasses
import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence
from urllib.parse import urlsplit, urlunsplit

import gradio as gr
from gradio.utils import get_upload_folder, is_in_or_equal

from model.events import NO_LIMIT, UserFacingError
from ui.page.controls import options_from_controls
from ui.page.chat import Answered, ChatView
from ui.page.handlers import live_status
from ui.page.services import Services
from ui.page.history.versions import VersionControls, Versions, wire_versions
from ui.store.branches import Node, counts, grown, to_data
from ui.store.history import (HistoryOptions, aligned, bounded, branches_of, current, empty_store, find, listing,
                              merged_turns, new_id, opened, parsed, restored, saved, stored_turns, turn_from_dict,
                              turn_to_dict, with_pending, without)
from ui.i18n.words import LABEL, Words
from ui.serving.ratelimit import client_address
from ui.render.messages import (CHATBOT_OPTIONS, history_messages, plain_block, stats_line, text_block,
                                turn_messages)
from ui.render.replay import phase_times, replay_frames
from ui.store.uploads import EXAMPLES_DIR
from ui.store.turns import RestoredTurn

log = logging.getLogger(__name__)
STORAGE_KEY = "r1v-history-v1"
SETTING_LABELS = ("thinking_budget", "answer_budget", "temperature", "top_p", "top_k", "repetition_penalty",
                  "max_tiles", "seed")
private = {"api_visibility": "private", "show_progress": "hidden"}
# The replay's chat: its answer and the controls under it fit a 1280x720 window below the heading.
REPLAY_CHAT_PX = 400
# The delete token from the address's fragment (never sent in a request line), then the fragment
# taken off the address (and so off the browser's history).
FRAGMENT_JS = """(token) => {
    const found = new URLSearchParams(window.location.hash.slice(1)).get("delete") || "";
    if (found) { history.replaceState(history.state, "", window.location.pathname + window.location.search); }
    return [found];
}"""


# A restored conversation that the tab never finished drawing (it crashed, or was killed, while it
# drew) is restored as plain text on the next load, so it cannot take the page down twice. The mark
# is set before the restored messages are drawn and removed once two frames and a moment have passed
# after them, or when the page is left normally (a reload, a closed tab).
DRAWING_KEY = "r1v-drawing-restored"
DRAW_GUARD_JS = f"""(store, mode) => {{
    const failed = localStorage.getItem("{DRAWING_KEY}") === "1";
    localStorage.setItem("{DRAWING_KEY}", "1");
    window.addEventListener("pagehide", () => localStorage.removeItem("{DRAWING_KEY}"), {{once: true}});
    return [store, failed ? "text" : ""];
}}"""
DRAWN_JS = f"""() => {{
    requestAnimationFrame(() => requestAnimationFrame(() =>
        setTimeout(() => localStorage.removeItem("{DRAWING_KEY}"), 500)));
}}"""


@dataclass
class Panels:
    """The history's components: the browser store and what the page remembers of it, the side list,
    and the replay of a shared answer."""

    store: gr.BrowserState
    conv_id: gr.State
    shared: gr.State
    fragment: gr.Textbox
    drawing: gr.Textbox
    new: gr.Button
    listed: gr.Radio
    delete: gr.Button
    replay: gr.Column
    head: gr.Markdown
    chatbot: gr.Chatbot
    tools: gr.Row
    at_once: gr.Checkbox
    again: gr.Button
    drop: gr.Button
    stats: gr.Markdown


@dataclass
class ShareControls:
    """The Share button and where its link shows."""

    button: gr.Button
    result: gr.Markdown


def panels(options: HistoryOptions) -> Panels:
    """The browser store, the side list and the replay panel (see `Panels`)."""
    store = gr.BrowserState(empty_store(), storage_key=STORAGE_KEY, secret=options.secret)
    conv_id, shared = gr.State(None), gr.State(None)
    fragment = gr.Textbox("", visible=False, elem_id="share-fragment")  # the delete token, posted by FRAGMENT_JS
    drawing = gr.Textbox("", visible=False, elem_id="history-drawing")  # "text" after a failed draw (DRAW_GUARD_JS)
    with gr.Sidebar(open=False, position="left", elem_id="history"):
        gr.Markdown(LABEL("history.title"))
        new = gr.Button(LABEL("history.new"), size="sm", elem_id="history-new")
        listed = gr.Radio([], label=LABEL("history.list"), elem_id="history-list")
        delete = gr.Button(LABEL("history.delete"), size="sm", variant="stop", elem_id="history-delete")
        gr.Markdown(LABEL("history.note"), elem_id="history-note")
    # Shown first in the page (assets/style.css puts it above the header), the demo below its separator.
    with gr.Column(visible=False, elem_id="replay") as replay:
        head = gr.Markdown("", elem_id="replay-head")
        chatbot = gr.Chatbot(label=LABEL("replay.label"), height=REPLAY_CHAT_PX, **CHATBOT_OPTIONS,
                             buttons=["copy", "copy_all"], elem_id="replay-chat", visible=False,
                             feedback_options=("Like", "Dislike") if options.feedback != "off" else None)
        with gr.Row(visible=False) as tools:
            at_once = gr.Checkbox(False, label=LABEL("replay.at_once"), elem_id="replay-at-once")
            again = gr.Button(LABEL("replay.again"), size="sm", elem_id="replay-again")
            drop = gr.Button(LABEL("replay.delete"), size="sm", variant="stop", visible=False, elem_id="replay-delete")
        stats = gr.Markdown("", elem_id="replay-stats")
        gr.Markdown(LABEL("replay.below"), elem_id="replay-below")  # the separator: the demo itself follows
    return Panels(store=store, conv_id=conv_id, shared=shared, fragment=fragment, drawing=drawing, new=new,
                  listed=listed, delete=delete, replay=replay, head=head, chatbot=chatbot, tools=tools,
                  at_once=at_once, again=again, drop=drop, stats=stats)


def share_controls(options: HistoryOptions) -> ShareControls:
    with gr.Column(visible=options.share_links, elem_id="share"):
        gr.Markdown(LABEL("share.title"))
        button = gr.Button(LABEL("share.button"), size="sm", elem_id="share-btn")
        result = gr.Markdown("", elem_id="share-result")
    return ShareControls(button, result)


def page_url(request: gr.Request | None) -> str:
    """The page's address without its query (from the Referer the browser sends); "" when unknown."""
    referer = (getattr(request, "headers", None) or {}).get("referer", "")
    parts = urlsplit(referer)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", "")) if parts.scheme in ("http", "https") else ""


class HistoryView:
    """The handlers behind the side list, the Share button and the replay."""

    def __init__(self, services: Services):
        self.services = services
        self.serving, self.options = services.serving, services.history
        self.shares, self.signer = services.shares, services.signer

    def words(self, request: gr.Request | None) -> Words:
        return self.serving.languages.words(request)

    @staticmethod
    def image_ok(path: str) -> bool:
        """The server still has the image and may show it: an upload or a bundled example."""
        candidate = Path(path)
        allowed = (get_upload_folder(), str(EXAMPLES_DIR))
        return candidate.is_file() and any(is_in_or_equal(str(candidate), folder) for folder in allowed)

    def bounded(self, store: dict) -> dict:
        return bounded(store, self.options.max_conversations, self.options.max_bytes)

    def radio(self, store: dict, conv_id: str | None, words: Words) -> Any:
        choices = listing(store, words)
        return gr.Radio(choices=choices, value=conv_id if any(c[1] == conv_id for c in choices) else None)

    # ---- the side list ---------------------------------------------------------------------

    def restore(self, value: Any, drawing: str, request: gr.Request):
        """On load: the newest conversation, with a note for an answer a reload interrupted; as plain
        text, with a note, when the last load never finished drawing it (`drawing` is "text")."""
        words, store = self.words(request), self.bounded(parsed(value))
        conv = current(store)
        if conv is None:
            return gr.skip(), gr.skip(), gr.skip(), new_id(), self.radio(store, None, words), store
        records, pending = restored(conv, self.image_ok)
        block = plain_block if drawing == "text" else text_block  # the last load never finished drawing it
        messages, box = history_messages(records, words, block), gr.skip()
        if pending is not None:
            messages += [{"role": "user", "content": text_block(pending)},
                         {"role": "assistant", "content": text_block(words("history.interrupted"))}]
            box = gr.MultimodalTextbox(value={"text": pending, "files": []})
            store = saved(store, conv["id"], conv["turns"], now=conv["updated"])  # no longer pending
        if drawing == "text":
            messages.append({"role": "assistant", "content": text_block(words("history.as_text"))})
        return messages, records, box, conv["id"], self.radio(store, conv["id"], words), store

    def mark_pending(self, message: dict | None, conv_id: str | None, value: Any, request: gr.Request):
        question = ((message or {}).get("text") or "").strip()
        if not question or not self.serving.slot.ready:
            return gr.skip(), gr.skip(), gr.skip()
        conv_id = conv_id or new_id()
        store = self.bounded(with_pending(parsed(value), conv_id, question))
        return store, self.radio(store, conv_id, self.words(request)), conv_id

    def save_all(self, records: tuple, tree: Node | None, conv_id: str | None, value: Any, request: gr.Request,
                 *controls: Any):
        """The shown path as the conversation's turns and, with `tree`, every other version too; a turn
        stored before (in any version) keeps the settings it was answered with."""
        conv_id, store, records = conv_id or new_id(), parsed(value), tuple(records)
        known, settings = stored_turns(find(store, conv_id)), _settings(controls)

        def stored(items: tuple) -> list[dict]:
            return merged_turns(items, aligned(items, known), settings, sign=self.signer.sign)

        branches = to_data(tree, records, lambda record: stored((record,))[0]) if tree is not None else None
        store = self.bounded(saved(store, conv_id, stored(records), branches=branches))
        return store, self.radio(store, conv_id, self.words(request)), conv_id

    def open(self, chosen: str | None, value: Any, request: gr.Request):
        store = parsed(value)
        conv = find(store, chosen)
        if conv is None or self.serving.refuse_if_running(request):
            return (gr.skip(),) * 5
        records, _ = restored(conv, self.image_ok)
        return history_messages(records, self.words(request)), records, conv["id"], "", opened(store, conv["id"])

    def new(self, value: Any, request: gr.Request):
        if self.serving.refuse_if_running(request):
            return (gr.skip(),) * 6
        return ([], (), *self.fresh(value, request)[:2], "", opened(parsed(value), None))

    def fresh(self, value: Any, request: gr.Request):
        """After Clear: the next question starts a new conversation; the cleared one stays listed."""
        store = opened(parsed(value), None)
        return new_id(), self.radio(store, None, self.words(request)), store

    def delete(self, conv_id: str | None, value: Any, request: gr.Request):
        if self.serving.refuse_if_running(request):
            return (gr.skip(),) * 6
        store = without(parsed(value), conv_id)
        return store, self.radio(store, None, self.words(request)), [], (), new_id(), ""

    # ---- the same, with the versions of the turns (`VersionControls.tree`, `.editing`) ---------

    def restore_versions(self, value: Any, drawing: str, request: gr.Request):
        """`restore`, with the versions of the restored conversation's turns."""
        out = self.restore(value, drawing, request)
        return (*out, self._tree(current(self.bounded(parsed(value))), out[1]), None)

    def open_versions(self, chosen: str | None, value: Any, request: gr.Request):
        out = self.open(chosen, value, request)
        return (*out, self._tree(find(parsed(value), chosen), out[1]), gr.skip() if _skipped(out) else None)

    def new_versions(self, value: Any, request: gr.Request):
        out = self.new(value, request)
        return (*out, *((gr.skip(),) * 2 if _skipped(out) else (None, None)))

    def delete_versions(self, conv_id: str | None, value: Any, request: gr.Request):
        out = self.delete(conv_id, value, request)
        return (*out, *((gr.skip(),) * 2 if _skipped(out) else (None, None)))

    def _tree(self, conv: dict | None, records: Any) -> Any:
        """The conversation's versions (None without one); nothing when no records came back."""
        if not isinstance(records, tuple):
            return gr.skip()
        return branches_of(conv, records, self.image_ok) if conv is not None else None

    # ---- sharing ---------------------------------------------------------------------------

    def share_shown(self, records: tuple, tree: Node | None, conv_id: str | None, value: Any,
                    request: gr.Request) -> Any:
        """Share the last turn of the path the chat shows, saying which version of its turn it is."""
        shown = counts(grown(tree, records), len(records)) if records else []
        several = shown and shown[-1][1] > 1
        version = {"turn": len(shown), "shown": shown[-1][0], "of": shown[-1][1]} if several else None
        return self.share(records, conv_id, value, request, version)

    def share(self, records: tuple, conv_id: str | None, value: Any, request: gr.Request,
              version: dict | None = None) -> Any:
        words = self.words(request)
        if self.shares is None:
            return words("share.off")
        if not records:
            gr.Warning(words("share.nothing"))
            return gr.skip()
        record = records[-1]
        refusal = self.unshareable(record)
        if refusal:
            gr.Warning(words(refusal))
            return gr.skip()
        stored = (find(parsed(value), conv_id) or {}).get("turns") or []
        settings = merged_turns(tuple(records), stored, {})[-1]["settings"]
        snapshot = {"model": self.serving.slot.info.name, "settings": settings,
                    "record": {**turn_to_dict(record, settings), "images": []},
                    "timeline": phase_times(record).as_dict(), **({"branch": version} if version else {})}
        visitor = self.signer.visitor(client_address(request, self.serving.policy.trust_forwarded))
        try:
            share_id, token = self.shares.create(snapshot, record.images, visitor)
        except UserFacingError as error:
            gr.Warning(words.message(error))
            return gr.skip()
        except OSError:
            log.exception("saving a shared answer failed")
            gr.Warning(words("share.failed"))
            return gr.skip()
        link = f"{page_url(request)}?share={share_id}"
        return words("share.done", link=link, delete=f"{link}#delete={token}", days=f"{self.shares.limits.days:g}")

    def unshareable(self, record: Any) -> str:
        """Why `record` may not be shared (a words key), or "": a turn this session's server made may
        be; one read back from the browser's history only with all its images and a valid signature."""
        if not isinstance(record, RestoredTurn):
            return ""
        if record.missing_images:
            return "share.image_gone"
        return "" if self.signer.verify(record, record.signature) else "share.unsigned"

    # ---- the replay ------------------------------------------------------------------------

    def open_replay(self, token: str | None, request: gr.Request):
        """On load with ?share=<id>: the panel, then the answer streaming at its recorded pace; `token`
        is the delete token from the address's fragment (FRAGMENT_JS), or ""."""
        params = dict(getattr(request, "query_params", None) or {})
        if "share" not in params:
            yield (gr.skip(),) * 7
            return
        words = self.words(request)
        snapshot = self.shares.load(params["share"]) if self.shares is not None else None
        if snapshot is None:
            days = f"{self.shares.limits.days:g}" if self.shares else ""
            head = words("replay.not_found", days=days) if self.shares else words("replay.off")
            yield gr.Column(visible=True), head, gr.skip(), gr.skip(), gr.skip(), gr.skip(), None
            return
        token = token if isinstance(token, str) and token else None
        yield (gr.Column(visible=True), _head(snapshot, words), gr.Chatbot(visible=True), gr.Row(visible=True),
               gr.Button(visible=bool(token)), gr.skip(), (snapshot["id"], token))
        for messages, line in self._frames(snapshot, False, words):
            yield gr.skip(), gr.skip(), messages, gr.skip(), gr.skip(), line, gr.skip()

    def replay(self, shared: tuple | None, at_once: bool, request: gr.Request):
        snapshot = self.shares.load(shared[0]) if self.shares is not None and shared else None
        if snapshot is None:
            yield gr.skip(), gr.skip()
            return
        yield from self._frames(snapshot, at_once, self.words(request))

    def _frames(self, snapshot: dict, at_once: bool, words: Words):
        record = turn_from_dict({**snapshot["record"], "images": self._shown(snapshot)}, lambda path: True)
        if not at_once:
            started = time.monotonic()
            for at_s, live in replay_frames(record, words=words):
                time.sleep(max(0.0, started + at_s - time.monotonic()))
                yield live.messages(), live_status(live)
        yield turn_messages(record, words), stats_line(record.stats, words) if record.stats else ""

    @staticmethod
    def _shown(snapshot: dict) -> list[str]:
        """The snapshot's images, copied where Gradio serves files from (its upload folder)."""
        folder = Path(get_upload_folder()) / "r1v-shared" / snapshot["id"]
        folder.mkdir(parents=True, exist_ok=True)
        shown = []
        for path in snapshot["image_paths"]:
            target = folder / Path(path).name
            if not target.exists():
                shutil.copyfile(path, target)
            shown.append(str(target))
        return shown

    def delete_share(self, shared: tuple | None, request: gr.Request):
        words = self.words(request)
        if not shared or self.shares is None or not self.shares.delete(shared[0], shared[1] or ""):
            gr.Warning(words("replay.delete_refused"))
            return gr.skip(), gr.skip(), gr.skip(), gr.skip()
        shutil.rmtree(Path(get_upload_folder()) / "r1v-shared" / shared[0], ignore_errors=True)
        return words("replay.deleted"), gr.Chatbot(visible=False, value=[]), gr.Row(visible=False), ""


def _settings(controls: Sequence[Any]) -> dict:
    try:
        return dataclasses.asdict(options_from_controls(controls))
    except gr.Error:  # the answer was refused for it; nothing to remember
        return {}


def _head(snapshot: dict, words: Words) -> str:
    """The replay's heading: model, date and settings, the seed the answer was drawn with (its stats
    keep it; the settings say -1 when the page drew one at random)."""
    settings = dict(snapshot.get("settings") or {})
    seed = ((snapshot.get("record") or {}).get("stats") or {}).get("seed")
    if isinstance(seed, int) and seed >= 0:
        settings["seed"] = seed
    parts = []
    for name in SETTING_LABELS:
        if name in settings:
            unlimited = name == "thinking_budget" and settings[name] == NO_LIMIT
            value = words("replay.no_limit") if unlimited else settings[name]
            parts.append(f"{words(name + '.label')} {value}")
    shared = time.strftime("%Y-%m-%d %H:%M", time.localtime(snapshot.get("created", 0)))
    head = words("replay.head", model=snapshot.get("model", ""), date=shared, settings=" · ".join(parts) or "—")
    version = snapshot.get("branch")  # which version of its turn was shared (not the snapshot's "version")
    if isinstance(version, dict) and all(isinstance(version.get(name), int) for name in ("turn", "shown", "of")):
        head += words("replay.version", turn=version["turn"], shown=version["shown"], total=version["of"])
    return head


def watch_questions(services: Services, chat: ChatView, panels: Panels) -> HistoryView:
    """Notes each question in the store as it is sent. Wire it before the answering events: the page
    runs a trigger's events in the order they were wired, and the answering one empties the box."""
    view, p = HistoryView(services), panels
    gr.on([chat.box.submit, chat.send.click], view.mark_pending, [chat.box, p.conv_id, p.store],
          [p.store, p.listed, p.conv_id], queue=False, **private)
    return view


def _skipped(out: tuple) -> bool:
    """Whether a handler refused (every output skipped), e.g. while an answer runs."""
    return all(item == gr.skip() for item in out)


def wire_history(demo: gr.Blocks, view: HistoryView, chat: ChatView, controls: list, records: gr.State, panels: Panels,
                 share: ShareControls, answered: Answered, shown: VersionControls, language: gr.Radio) -> list:
    """Connects the side list, the store, the versions and Share to the chat; `answered` holds the
    chat's events (sent, regenerated, undone, cleared) after which the versions follow and the records
    are saved. Returns the events that put other turns in the chat (restored on load, opened, new,
    deleted; a question taken to edit, editing cancelled, another version shown), for the page to set
    its buttons, exports and stats line after them."""
    p, versions = panels, Versions(view.services)
    save = dict(fn=view.save_all, inputs=[records, shown.tree, p.conv_id, p.store, *controls],
                outputs=[p.store, p.listed, p.conv_id], **private)
    draw = shown.draw_event(versions, records)
    follows = ((answered.sent, versions.after_sent), (answered.regenerated, versions.after_regenerated),
               (answered.undone, versions.after_undone))
    for event, follow in follows:
        event.then(follow, [records, shown.tree, shown.editing], [shown.tree, shown.editing], queue=False,
                   **private).then(**save).then(**draw)
    answered.cleared.then(view.fresh, [p.store], [p.conv_id, p.listed, p.store], **private)
    answered.cleared.then(versions.after_cleared, None, [shown.tree, shown.editing], queue=False,
                          **private).then(**draw)
    switched = _wire_list(demo, view, chat, records, p, [shown.tree, shown.editing])
    for event in switched:
        event.then(**draw)
    share.button.click(view.share_shown, [records, shown.tree, p.conv_id, p.store], [share.result], **private)
    _wire_replay(demo, view, p)
    edits = wire_versions(versions, shown, chat, records, save, language)
    return [*switched, *edits]


def _wire_list(demo: gr.Blocks, view: HistoryView, chat: ChatView, records: gr.State, p: Panels,
               kept: list) -> list:
    """Restoring, opening, starting and deleting a conversation, each bringing its versions (`kept`)."""
    restored = demo.load(view.restore_versions, [p.store, p.drawing],
                         [chat.chatbot, records, chat.box, p.conv_id, p.listed, p.store, *kept],
                         js=DRAW_GUARD_JS, **private)
    restored.then(None, js=DRAWN_JS, **private)
    opened = p.listed.input(view.open_versions, [p.listed, p.store],
                            [chat.chatbot, records, p.conv_id, chat.stats, p.store, *kept], **private)
    started = p.new.click(view.new_versions, [p.store],
                          [chat.chatbot, records, p.conv_id, p.listed, chat.stats, p.store, *kept], **private)
    deleted = p.delete.click(view.delete_versions, [p.conv_id, p.store],
                             [p.store, p.listed, chat.chatbot, records, p.conv_id, chat.stats, *kept], **private)
    return [restored, opened, started, deleted]


def _wire_replay(demo: gr.Blocks, view: HistoryView, p: Panels) -> None:
    """A shared answer's replay: opened from the address on load, replayed again, deleted by its owner."""
    demo.load(view.open_replay, [p.fragment], [p.replay, p.head, p.chatbot, p.tools, p.drop, p.stats, p.shared],
              js=FRAGMENT_JS, concurrency_id="replay", concurrency_limit=16, **private)
    p.again.click(view.replay, [p.shared, p.at_once], [p.chatbot, p.stats], concurrency_id="replay", **private)
    p.drop.click(view.delete_share, [p.shared], [p.head, p.chatbot, p.tools, p.stats], **private)
