"""The page: a Chat tab (chat, question box, buttons) and a Budget sweep tab on the left, settings
on the right, the tiles preview and the examples below both (shown with the Chat tab), a language
switch at the top. That order is also the tab order, and on a phone the settings come right after
the chat (the header's "Go to settings" jumps there). assets/page.js fits the chat to the window so
the box and Send stay on screen, scrolls the chat into view on sending, and names icon buttons.
Buttons are enabled only when they can act (`ChatHandlers.busy_buttons` before a run, `idle_buttons` after).

`build_page(services)` returns the `gr.Blocks` on the one `ui.page.services.Services` that `app.py`
builds (each view is built and wired by itself: `Header` here, `ui.page.chat`, `ui.page.controls`,
`ui.page.views`, `ui.page.compare`, `ui.page.evaluate`, `ui.page.history`, `ui.page.verdicts`);
`build_app(engine_or_factory, info, ...)` builds those services first. The Blocks has its queue configured; `/reason` is the
documented endpoint, also the MCP tool; the page's own `/chat`, `/regenerate`, `/stop` and `/sweep`
are callable but undocumented); a factory `(progress) -> engine` is run in a background thread so
the page is served while the model loads. `launch_kwargs()` holds what Gradio 6 takes at launch
rather than in `gr.Blocks` (theme, CSS, the page script, translations); `serve(demo, ...)` is the one
launch, for `python app.py` and every test that talks HTTP: those, plus our routes and middleware
(`ui.http.installer`, through `launch(app_kwargs=...)`). Every visible text is a key of `ui.i18n.words`;
every slider's range comes from the named bounds in `model/events.py`.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union

import gradio as gr

from ui.http.api import ReasonApi
from ui.http.installer import HttpApp
from ui.i18n.words import EN, LABEL, LANGUAGES, TEXTS, Words, i18n, translate_markers
from ui.page.history import listing
from ui.page.history.versions import VersionControls
from ui.page.chat import ChatView, Exports, button_events, keep_open_box
from ui.page.compare import compare_view
from ui.page.controls import SettingsPanel
from ui.page.evaluate import EvaluateView
from ui.page.handlers import ChatHandlers, Engine, ModelInfo, ServingPolicy, pdf_line, turn_line
from ui.page.services import Services
from ui.page.sweep import sweep_headers
from ui.page.verdicts import Verdicts, verdict_controls, wire_replay_verdicts, wire_verdicts
from ui.page.views import ChatExtras, SweepView, ViewHandlers
from ui.render.messages import history_messages
from ui.serving.sessions import session_of
from ui.serving.shared import EngineFactory
from ui.store.history import HistoryOptions

STYLE = Path(__file__).resolve().parents[2] / "assets" / "style.css"
PAGE_JS = STYLE.with_name("page.js")  # fits the chat to the window, names icon buttons, scrolls
ARIA_KEYS = ("aria.reset", "aria.export_markdown", "aria.export_html", "aria.example", "aria.branch_previous",
             "aria.branch_next", "status.connection_lost")  # every text the page script writes

TITLE = EN("title")  # the browser tab's title
# The theme's fonts are the system's: Soft's defaults (Montserrat, IBM Plex Mono) are fetched from
# Google Fonts, which the page's Content-Security-Policy (ui/http/csp.py) does not allow.
SANS = ("ui-sans-serif", "system-ui", "-apple-system", "Segoe UI", "Roboto", "Noto Sans", "sans-serif")
MONO = ("ui-monospace", "SFMono-Regular", "Menlo", "Consolas", "Liberation Mono", "monospace")
# Sessions whose state Gradio keeps in memory (its default, 10,000, holds ~80 KB each); the oldest go first.
STATE_SESSIONS = 1_000


def launch_kwargs() -> dict[str, Any]:
    """Arguments for `demo.launch()` that style the page and carry its translations."""
    return {"theme": gr.themes.Soft(primary_hue="indigo", neutral_hue="slate", font=SANS, font_mono=MONO),
            "css_paths": [STYLE] if STYLE.is_file() else None, "i18n": i18n(), "head": page_head()}


def serve(demo: gr.Blocks, *, max_file_size: str | int = "20mb", mcp: bool = False, **options: Any):
    """`demo.launch(**options)` as `python app.py` serves it: the page's style and translations, the
    upload limit, and the routes and middleware of `ui.http.installer` (with the MCP tool when `mcp`)."""
    options.setdefault("state_session_capacity", STATE_SESSIONS)
    app_kwargs = demo.http.app_kwargs(max_file_size, mcp=mcp, inline_scripts=head_scripts())
    return demo.launch(app_kwargs=app_kwargs, max_file_size=max_file_size, **launch_kwargs(), **options)


def head_scripts() -> list[str]:
    """The page script (assets/page.js) and the accessible names it sets, in every language."""
    if not PAGE_JS.is_file():
        return []
    names = {lang: {key: texts[key] for key in ARIA_KEYS} for lang, texts in TEXTS.items()}
    return [f"window.R1V_NAMES = {json.dumps(names, ensure_ascii=False)};", PAGE_JS.read_text(encoding="utf-8")]


def page_head() -> str:
    return "\n".join(f"<script>{script}</script>" for script in head_scripts())


def build_app(engine: Union[Engine, EngineFactory], info: ModelInfo, *, max_concurrency: int = 4,
              max_queue: int | None = 64, max_updates_per_s: float = 15.0, start_loading: bool = True,
              policy: ServingPolicy | None = None, compare_engine: Engine | None = None,
              history: HistoryOptions | None = None, keep_thinking_open: bool = False) -> gr.Blocks:
    """`build_page` on the services these arguments describe (the tests' and benches' way in)."""
    services = Services.create(engine, info, policy=policy, history=history, compare_engine=compare_engine,
                               max_updates_per_s=max_updates_per_s, keep_thinking_open=keep_thinking_open)
    return build_page(services, max_concurrency=max_concurrency, max_queue=max_queue, start_loading=start_loading)


def build_page(services: Services, *, max_concurrency: int = 4, max_queue: int | None = 64,
               start_loading: bool = True) -> gr.Blocks:
    """The page on `services`, each view built and wired by itself, in the order of the page."""
    chat_handlers, view_handlers = ChatHandlers(services), ViewHandlers(services.serving)
    reason = ReasonApi(services.serving, services.max_updates_per_s)
    info = services.info
    with gr.Blocks(title=TITLE) as demo:
        header = Header.build(services)
        records = gr.State(())
        saved = listing.panels(services.history)  # the side list of conversations, the replay of a shared answer
        # The chat (box and buttons included) and the settings come first in the page and in tab
        # order; the tiles preview and the examples follow below both, also on a phone.
        with gr.Row(equal_height=False, elem_id="workspace"):
            with gr.Column(scale=3, min_width=480, elem_id="main-column"):
                with gr.Tabs(elem_id="views"):
                    with gr.Tab(LABEL("tab.chat"), elem_id="chat-tab") as chat_tab:
                        chat = ChatView.build(feedback=services.verdicts.enabled)
                        shown = VersionControls.build()  # edit a question, switch versions
                        verdict = verdict_controls() if services.verdicts.enabled else None
                    with gr.Tab(LABEL("tab.sweep"), elem_id="sweep-tab") as sweep_tab:
                        sweep = SweepView.build(info)
                    with gr.Tab(LABEL("tab.compare"), elem_id="compare-tab") as compare_tab:
                        compare_view(services)
                    with gr.Tab(LABEL("tab.evaluate"), elem_id="evaluate-tab") as evaluate_tab:
                        evaluation = EvaluateView.build()
            with gr.Column(scale=1, min_width=300, elem_id="settings"):
                settings = SettingsPanel.build(info.defaults)
                keep_open_box(chat_handlers, services.keep_open.default)
                exports = Exports.build(shown.tree)
                share = listing.share_controls(services.history)
        extras = ChatExtras.build(info, chat.box)
        buttons = chat.buttons + sweep.buttons
        kept = listing.watch_questions(services, chat, saved)  # before chat.wire: see its docstring
        answered = chat.wire(chat_handlers, settings.values, exports, records, buttons)
        switched = listing.wire_history(demo, kept, chat, settings.values, records, saved, share, answered, shown,
                                        header.language)
        chat.wire_switched(chat_handlers, switched, exports, records, buttons)
        extras.wire(view_handlers, chat.box, settings.max_tiles)
        swept = sweep.wire(view_handlers, settings.values, *button_events(chat_handlers, buttons, records))
        sweep.gate([*answered.all, *switched, swept])
        evaluation.wire(services, settings.values)
        if verdict is not None:
            verdicts = Verdicts(services.verdicts, services.slot, services.serving.languages)
            wire_verdicts(verdicts, verdict, chat.chatbot, records, saved.conv_id, saved.store, settings.values,
                          answered.all + switched)
            if services.shares is not None:
                wire_replay_verdicts(verdicts, saved.chatbot, saved.shared, services.shares.load)
        chat.wire_scroll(extras.examples)
        extras.follow_tabs(chat_tab, (sweep_tab, compare_tab, evaluate_tab))
        _settings_follow_tabs(compare_tab, (chat_tab, sweep_tab, evaluate_tab))
        gr.api(reason.endpoint(), api_name="reason", concurrency_id="generate")  # one line for everyone
        header.wire_language(demo, services, records, chat, extras, sweep, settings)
    demo.queue(default_concurrency_limit=max_concurrency, max_size=max_queue)
    demo.http = HttpApp(demo, reason, services.slot, max_concurrency)  # routes and middleware: serve() installs them
    if start_loading:
        services.slot.start()
    return demo


def model_status(services: Services, request: gr.Request | None = None) -> tuple:
    """The status line; the polling timer switches itself off once loading is over."""
    slot = services.slot
    return slot.status_markdown(services.words(request)), gr.Timer(active=not (slot.ready or slot.error))


def banner_text(info: ModelInfo, words: Words) -> str:
    """The tiny-model banner in `words`' language, the reason this model was chosen included."""
    return words("tiny_banner") + (f" {words.message(info.note)}" if info.note else "")


def _settings_follow_tabs(compare_tab: gr.Tab, using: tuple[gr.Tab, ...]) -> None:
    """The page's settings are hidden while the Compare tab (whose columns have their own) is open:
    a class on #workspace that assets/style.css reads (a Column update to visible="hidden" left it
    drawn in 6.31), set in the browser alone."""
    private = {"api_visibility": "private", "queue": False, "show_progress": "hidden"}
    toggle = "() => {{ document.getElementById('workspace')?.classList.toggle('compare-open', {}); }}"
    compare_tab.select(None, js=toggle.format("true"), **private)
    for tab in using:
        tab.select(None, js=toggle.format("false"), **private)


@dataclass
class Header:
    """The title, the language switch, the tiny-model banner and the model's status line."""

    status: gr.Markdown
    timer: gr.Timer
    language: gr.Radio
    banner: gr.Markdown
    jump: gr.Button  # "Go to settings", on narrow screens

    @classmethod
    def build(cls, services: Services) -> "Header":
        with gr.Row(elem_id="header", equal_height=False):
            with gr.Column(scale=5, min_width=280):
                gr.Markdown("# " + LABEL("title"), elem_id="title")
                gr.Markdown(LABEL("intro"), elem_id="intro")
            with gr.Column(scale=1, min_width=160, elem_id="header-tools"):
                language = gr.Radio([(name, code) for code, name in LANGUAGES.items()], value=None,
                                    label=LABEL("language"), elem_id="language", container=False)
                jump = gr.Button(LABEL("button.settings"), size="sm", elem_id="settings-jump")
        # The banner as the browser translates it before the server redraws it on load, with the
        # reason added then: Gradio translates only one marker per string, a second would show raw.
        banner = gr.Markdown(LABEL("tiny_banner"), visible=services.info.is_tiny, elem_id="tiny-banner")
        status = gr.Markdown(services.slot.status_markdown(), elem_id="model-status")
        timer = gr.Timer(1.0, active=not services.slot.ready)
        header = cls(status, timer, language, banner, jump)
        header.wire_status(services)
        return header

    def wire_status(self, services: Services) -> None:
        private = {"api_visibility": "private", "queue": False, "show_progress": "hidden"}

        def status(request: gr.Request):
            return model_status(services, request)

        self.timer.tick(status, None, [self.status, self.timer], **private)
        self.jump.click(None, js="() => { window.r1v?.showSettings(); }", **private)

    def wire_language(self, demo: gr.Blocks, services: Services, records: gr.State, chat: ChatView,
                      extras: ChatExtras, sweep: SweepView, settings: SettingsPanel) -> None:
        """On load the switch shows the browser's language; switching relabels the page and the chat."""
        switch = LanguageSwitch(services, translatable(demo))
        preview_inputs = [chat.box, settings.max_tiles]
        demo.load(switch.on_load, preview_inputs,
                  [self.language, self.status, self.timer, sweep.table, self.banner, *extras.preview],
                  api_visibility="private", show_progress="hidden")
        self.language.input(switch.switch, [self.language, records, *preview_inputs],
                            [*switch.components, chat.chatbot, self.status, sweep.table, self.banner, chat.stats,
                             *extras.preview, chat.pdf_line], api_visibility="private", show_progress="hidden",
                            queue=False)


class LanguageSwitch:
    """The handlers of the language switch: what the page shows on load and after a switch."""

    def __init__(self, services: Services, targets: list[tuple[Any, dict[str, str]]]):
        self.services, self.targets = services, targets
        self.components = [component for component, _ in targets]
        self.preview = ViewHandlers(services.serving).tiling_panel

    def on_load(self, message, tiles, request: gr.Request):
        lang = self.services.serving.languages.lang(request)
        words = Words(lang)
        return (lang, *model_status(self.services, request), gr.Dataframe(headers=sweep_headers(words)),
                banner_text(self.services.info, words), *self.preview(message, tiles, request))

    def switch(self, lang: str, past, message, tiles, request: gr.Request):
        self.services.serving.languages.choose(request, lang)
        words = Words(lang)
        return (*relabelled(self.targets, words), history_messages(past, words),
                self.services.slot.status_markdown(words), gr.Dataframe(headers=sweep_headers(words)),
                banner_text(self.services.info, words), self._stats_now(past, words, request),
                *self.preview(message, tiles, request), pdf_line(message, past, words))

    def _stats_now(self, past, words: Words, request: gr.Request):
        """The last turn's line in the new language; a live line is left to the running answer."""
        if self.services.serving.runs.running(session_of(request) or ""):
            return gr.skip()
        return turn_line(past[-1], words) if past else ""


# Component properties Gradio translates in the browser; the switch rewrites them from the server.
TRANSLATED_PROPS = ("label", "info", "placeholder", "value")
# Texts the server rewrites as the page is used; the switch redraws them instead of resetting them.
REDRAWN = {"tiling-summary", "tiny-banner"}


def translatable(demo: gr.Blocks) -> list[tuple[Any, dict[str, str]]]:
    """Every block (components and accordions) with an i18n-marked property, and its marked texts."""
    found = []
    for block in demo.blocks.values():
        if getattr(block, "elem_id", None) in REDRAWN:
            continue
        props = {name: str(getattr(block, name)) for name in TRANSLATED_PROPS
                 if "__i18n__" in str(getattr(block, name, "") or "")}
        if any("__i18n__" in str(label) for label, _ in getattr(block, "choices", None) or ()):
            props["choices"] = [(str(label), value) for label, value in block.choices]  # e.g. Compare's "no limit"
        if props:
            found.append((block, props))
    return found


def relabelled(targets: list[tuple[Any, dict[str, str]]], words: Words) -> list[Any]:
    """One update per translatable component, its texts in `words`' language."""
    def translated(value):
        return [(translate_markers(label, words), v) for label, v in value] if isinstance(value, list) \
            else translate_markers(value, words)

    return [gr.update(**{name: translated(text) for name, text in props.items()}) for _, props in targets]
