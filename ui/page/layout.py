"""The page: a Chat tab (chat, question box, buttons) and a Budget sweep tab on the left, settings
on the right, the tiles preview and the examples below both (shown with the Chat tab), a language
switch at the top. That order is also the tab order, and on a phone the settings come right after
the chat (the header's "Go to settings" jumps there). assets/page.js fits the chat to the window so
the box and Send stay on screen, scrolls the chat into view on sending, and names icon buttons.
Buttons are enabled only when they can act (`Handlers.busy_buttons` before a run, `idle_buttons` after).

`build_app(engine_or_factory, info)` returns the `gr.Blocks` (queue configured; `/reason` is the
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
from pathlib import Path
from typing import Any, Union

import gradio as gr

from model import events as bounds
from model.events import GenerationOptions
from ui.page.examples import load_examples
from ui.page.compare import compare_view
from ui.page.evaluate import evaluate_view, wire_evaluate
from ui.http.installer import HttpApp
from ui.i18n.words import EN, LABEL, LANGUAGES, TEXTS, Words, i18n, translate_markers
from ui.page.controls import CONTROL_NAMES
from ui.page.handlers import (BUTTONS, Engine, EngineFactory, Handlers, ModelInfo, ModelSlot, ServingPolicy,
                              turn_line)
from ui.render.messages import CHATBOT_OPTIONS, history_messages
from ui.serving.sessions import session_of
from ui.serving.settings import THINKING_SLIDER_DEFAULT
from ui.page import history_list
from ui.store.history import HistoryOptions
from ui.page.sweep import sweep_headers
from ui.store.feedback import VerdictStore
from ui.store.votes import VoteStore
from ui.page.verdicts import Verdicts, verdict_controls, wire_replay_verdicts, wire_verdicts

STYLE = Path(__file__).resolve().parents[2] / "assets" / "style.css"
PAGE_JS = STYLE.with_name("page.js")  # fits the chat to the window, names icon buttons, scrolls
ARIA_KEYS = ("aria.reset", "aria.export_markdown", "aria.export_html", "aria.example",
             "status.connection_lost")  # every text the page script writes

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
              max_queue: int | None = 64, max_updates_per_s: float = 15.0,
              start_loading: bool = True, policy: ServingPolicy | None = None,
              compare_engine: Engine | None = None, history: HistoryOptions | None = None,
              keep_thinking_open: bool = False) -> gr.Blocks:
    slot = ModelSlot(engine, info)
    history = history or HistoryOptions.from_env()
    handlers = Handlers(slot, max_updates_per_s=max_updates_per_s, policy=policy, keep_thinking_open=keep_thinking_open)
    verdict_store = VerdictStore(history.folder, history.feedback)
    with gr.Blocks(title=TITLE) as demo:
        header = _header(slot)
        records = gr.State(())
        saved = history_list.panels(history)  # the side list of conversations, the replay of a shared answer
        # The chat (box and buttons included) and the settings come first in the page and in tab
        # order; the tiles preview and the examples follow below both, also on a phone.
        with gr.Row(equal_height=False, elem_id="workspace"):
            with gr.Column(scale=3, min_width=480, elem_id="main-column"):
                with gr.Tabs(elem_id="views"):
                    with gr.Tab(LABEL("tab.chat"), elem_id="chat-tab") as chat_tab:
                        chat = _chat_column(info, feedback=verdict_store.enabled)
                        verdict = verdict_controls() if verdict_store.enabled else None
                    with gr.Tab(LABEL("tab.sweep"), elem_id="sweep-tab") as sweep_tab:
                        sweep = _sweep_view(info)
                    with gr.Tab(LABEL("tab.compare"), elem_id="compare-tab") as compare_tab:  # B: compare_engine
                        compare_view(handlers, info, compare_engine, VoteStore(history.folder, history.feedback))
                    with gr.Tab(LABEL("tab.evaluate"), elem_id="evaluate-tab") as evaluate_tab:
                        evaluation = evaluate_view()
            with gr.Column(scale=1, min_width=300, elem_id="settings"):
                controls = _settings(info.defaults)
                _keep_open_box(handlers, keep_thinking_open)
                exports = _export_buttons()
                share = history_list.share_controls(history)
        chat.update(_chat_extras(info, chat["box"]))
        buttons = [chat[name] for name in BUTTONS[:5]] + [sweep["run"], sweep["stop"]]
        kept = history_list.watch_questions(handlers, history, chat, saved)  # before _wire: see its docstring
        answered = _wire(handlers, chat, controls, exports, records, header["status"], header["timer"], buttons)
        switched = history_list.wire_history(demo, kept, chat, controls, records, saved, share, answered)
        _wire_switched(handlers, switched, chat, exports, records, buttons)
        _wire_views(handlers, chat, sweep, controls, buttons, records)
        _gate_sweep(sweep, [answered["sent"], answered["regenerated"], answered["undone"], answered["cleared"],
                            *switched, sweep["swept"]])
        wire_evaluate(handlers, evaluation, controls)
        if verdict is not None:
            verdicts = Verdicts(verdict_store, slot, handlers.languages)
            wire_verdicts(verdicts, verdict, chat["chatbot"], records, saved["conv_id"], saved["store"], controls,
                          [answered[name] for name in ("sent", "regenerated", "undone", "cleared")] + switched)
            if kept.shares is not None:
                wire_replay_verdicts(verdicts, saved["chatbot"], saved["shared"], kept.shares.load)
        _wire_page(header, chat, chat_tab, (sweep_tab, compare_tab, evaluate_tab))
        _settings_follow_tabs(compare_tab, (chat_tab, sweep_tab, evaluate_tab))
        gr.api(handlers.reason_api(), api_name="reason", concurrency_id="generate")  # one line for everyone
        _wire_language(demo, handlers, header, records, chat, sweep, controls)
    demo.queue(default_concurrency_limit=max_concurrency, max_size=max_queue)
    demo.http = HttpApp(demo, handlers, slot, max_concurrency)  # routes and middleware: serve() installs them
    if start_loading:
        slot.start()
    return demo


def _header(slot: ModelSlot) -> dict[str, Any]:
    with gr.Row(elem_id="header", equal_height=False):
        with gr.Column(scale=5, min_width=280):
            gr.Markdown("# " + LABEL("title"), elem_id="title")
            gr.Markdown(LABEL("intro"), elem_id="intro")
        with gr.Column(scale=1, min_width=160, elem_id="header-tools"):
            language = gr.Radio([(name, code) for code, name in LANGUAGES.items()], value=None,
                                label=LABEL("language"), elem_id="language", container=False)
            jump = gr.Button(LABEL("button.settings"), size="sm", elem_id="settings-jump")  # narrow screens
    banner = gr.Markdown(_banner_label(slot.info), visible=slot.info.is_tiny, elem_id="tiny-banner")
    status = gr.Markdown(slot.status_markdown(), elem_id="model-status")
    timer = gr.Timer(1.0, active=not slot.ready)
    return dict(status=status, timer=timer, language=language, banner=banner, jump=jump)


def _banner_label(info: ModelInfo) -> str:
    """The tiny-model banner as the browser translates it before the server redraws it (on load),
    with the reason added then: Gradio translates only one marker per string, a second would show raw."""
    return LABEL("tiny_banner")


def banner_text(info: ModelInfo, words: Words) -> str:
    """The tiny-model banner in `words`' language, the reason this model was chosen included."""
    return words("tiny_banner") + (f" {words.message(info.note)}" if info.note else "")


def _chat_column(info: ModelInfo, feedback: bool) -> dict[str, Any]:
    """The chat, its box and buttons; with `feedback`, Gradio's thumbs under each answer (ui/page/verdicts.py)."""
    chatbot = gr.Chatbot(label=LABEL("chat.label"), height=600, **CHATBOT_OPTIONS, buttons=["copy", "copy_all"],
                         feedback_options=("Like", "Dislike") if feedback else None, elem_id="chat",
                         placeholder=LABEL("chat.placeholder"))
    box = gr.MultimodalTextbox(file_types=["image", ".pdf", ".heic", ".heif", ".avif"], file_count="multiple",
                               show_label=False,
                               placeholder=LABEL("box.placeholder"), submit_btn=False, elem_id="question")
    # Enabled only when they can act (Handlers.busy_buttons / idle_buttons): no turns, nothing running.
    with gr.Row(elem_id="chat-buttons"):
        send = gr.Button(LABEL("button.send"), variant="primary", elem_id="send-btn")
        stop = gr.Button(LABEL("button.stop"), variant="stop", elem_id="stop-btn", interactive=False)
        regenerate = gr.Button(LABEL("button.regenerate"), elem_id="regenerate-btn", interactive=False)
        undo = gr.Button(LABEL("button.undo"), elem_id="undo-btn", interactive=False)
        clear = gr.Button(LABEL("button.clear"), elem_id="clear-btn", interactive=False)
    stats = gr.Markdown("", elem_id="stats-line")
    return dict(chatbot=chatbot, box=box, send=send, stop=stop, regenerate=regenerate, undo=undo,
                clear=clear, stats=stats)


def _chat_extras(info: ModelInfo, box: gr.MultimodalTextbox) -> dict[str, Any]:
    """The tiles preview and the examples, below the chat and the settings; shown with the Chat tab."""
    with gr.Column(elem_id="chat-extras") as extras:
        with gr.Accordion(LABEL("tiles.title"), open=True, elem_id="tiling"):
            tiling = gr.Image(type="pil", show_label=False, interactive=False, height=300,
                              elem_id="tiling-image", buttons=["fullscreen"], visible=False)
            tiling_summary = gr.Markdown(LABEL("tiles.empty"), elem_id="tiling-summary")
        examples = load_examples(info.is_tiny)
        dataset = None
        if examples:
            dataset = gr.Examples([[example] for example in examples], inputs=[box], label=LABEL("examples.label"),
                                  examples_per_page=8, elem_id="examples").dataset
    return dict(extras=extras, tiling=tiling, tiling_summary=tiling_summary, examples=dataset)


# Budgets offered by the sweep: the tiny model thinks for a few dozen tokens, R1V for thousands
# (words keys: "no limit" in the page's language; parse_budgets reads both).
SWEEP_BUDGETS = {True: "sweep.budgets.tiny", False: "sweep.budgets.default"}


# Pixels, not shares: each column holds its longest header word at 390 px too (the table scrolls).
SWEEP_COLUMN_WIDTHS = ["84px", "84px", "84px", "84px", "76px", "150px", "130px", "220px"]


def _sweep_view(info: ModelInfo) -> dict[str, Any]:
    gr.Markdown(LABEL("sweep.intro"))
    with gr.Row(equal_height=False):
        image = gr.Image(type="filepath", label=LABEL("sweep.image"), height=260, elem_id="sweep-image",
                         sources=["upload", "clipboard"])
        with gr.Column():
            question = gr.Textbox(label=LABEL("sweep.question"), lines=2, elem_id="sweep-question")
            budgets = gr.Textbox(LABEL(SWEEP_BUDGETS[info.is_tiny]), label=LABEL("sweep.budgets"),
                                 info=LABEL("sweep.budgets.info"), elem_id="sweep-budgets")
            with gr.Row():
                run = gr.Button(LABEL("sweep.run"), variant="primary", elem_id="sweep-run", interactive=False)
                stop = gr.Button(LABEL("button.stop"), variant="stop", elem_id="sweep-stop", interactive=False)
    progress = gr.HTML("", elem_id="sweep-progress")
    table = gr.Dataframe(label=LABEL("sweep.table"), interactive=False, wrap=True, elem_id="sweep-table",
                         column_widths=SWEEP_COLUMN_WIDTHS)
    plot = gr.Plot(label=LABEL("sweep.plot"), elem_id="sweep-plot")  # its badge gets a band: assets/style.css
    return dict(image=image, question=question, budgets=budgets, run=run, stop=stop, progress=progress,
                table=table, plot=plot)


def _wire_views(handlers: Handlers, chat: dict, sweep: dict, controls: list, buttons: list, records) -> None:
    """The tiling preview follows the box and the max-tiles slider; the sweep runs like an answer."""
    tiles_slider = controls[CONTROL_NAMES.index("max_tiles")]
    # One listener for both triggers: the page sends the next redraw only when the last one is back
    # (always_last), so a slow redraw for an older value cannot land after a newer one.
    gr.on([chat["box"].change, tiles_slider.change], handlers.views.tiling_panel, [chat["box"], tiles_slider],
          [chat["tiling"], chat["tiling_summary"]], api_visibility="private", show_progress="hidden",
          trigger_mode="always_last", concurrency_id="preview")
    started = sweep["run"].click(handlers.busy_buttons, None, buttons, queue=False, show_progress="hidden",
                                 api_visibility="private")
    swept = started.then(handlers.views.sweep, [sweep["image"], sweep["question"], sweep["budgets"], *controls],
                         [sweep["progress"], sweep["table"], sweep["plot"]], api_name="sweep", preprocess=False,
                         api_visibility="undocumented", concurrency_id="generate", show_progress="minimal")
    sweep["swept"] = swept.then(handlers.idle_buttons, [records], buttons, queue=False, show_progress="hidden",
                                api_visibility="private")
    sweep["stop"].click(handlers.stop, None, None, queue=False, api_visibility="private")


def sweep_ready(image: str | None, question: str | None) -> Any:
    """Run sweep can act only with a question (the image is optional, as for a chat answer)."""
    return gr.Button(interactive=bool((question or "").strip()))


def _gate_sweep(sweep: dict, idle_events: list) -> None:
    """After the question changes, and after every event that sets the buttons idle, Run sweep
    follows `sweep_ready` (button_states alone would enable it with an empty question)."""
    gate = dict(fn=sweep_ready, inputs=[sweep["image"], sweep["question"]], outputs=[sweep["run"]], queue=False,
                show_progress="hidden", api_visibility="private")
    sweep["question"].change(**gate)
    for event in idle_events:
        event.then(**gate)


def _keep_open_box(handlers: Handlers, default: bool) -> gr.Checkbox:
    """"Keep thinking open": remembered per session by the handlers (default: --keep-thinking-open)."""
    box = gr.Checkbox(value=default, label=LABEL("settings.keep_thinking_open"),
                      info=LABEL("settings.keep_thinking_open.info"), elem_id="keep-thinking-open")
    box.change(handlers.choose_keep_open, box, None, queue=False, api_visibility="private", show_progress="hidden")
    return box


def _settings(defaults: GenerationOptions) -> list[gr.components.Component]:
    gr.Markdown(LABEL("settings.title"))
    unlimited = defaults.thinking_budget == bounds.NO_LIMIT
    # One state at a time: "No limit" ticked hides the slider; unticked, the slider shows the budget
    # (starting in proportion to the answer's), so no greyed number is ever on show.
    no_limit = gr.Checkbox(value=unlimited, label=LABEL("no_limit.label"), elem_id="no-limit")
    thinking = gr.Slider(0, bounds.THINKING_BUDGET_MAX, step=16, label=LABEL("thinking_budget.label"),
                         value=min(THINKING_SLIDER_DEFAULT, defaults.answer_budget * 2) if unlimited
                         else defaults.thinking_budget, visible=not unlimited, elem_id="thinking-budget",
                         info=LABEL("thinking_budget.info"))
    no_limit.change(lambda on: gr.Slider(visible=not on), no_limit, thinking, queue=False,
                    api_visibility="private")
    answer = gr.Slider(bounds.ANSWER_BUDGET_MIN, bounds.ANSWER_BUDGET_MAX, value=defaults.answer_budget,
                       step=16, label=LABEL("answer_budget.label"), elem_id="answer-budget")
    temperature = gr.Slider(bounds.TEMPERATURE_MIN, bounds.TEMPERATURE_MAX, value=defaults.temperature,
                            step=0.05, label=LABEL("temperature.label"), info=LABEL("temperature.info"),
                            elem_id="temperature")
    top_p = gr.Slider(bounds.TOP_P_MIN, bounds.TOP_P_MAX, value=defaults.top_p, step=0.01,
                      label=LABEL("top_p.label"))
    with gr.Accordion(LABEL("advanced.label"), open=False):
        top_k = gr.Slider(bounds.TOP_K_MIN, bounds.TOP_K_MAX, value=defaults.top_k, step=1,
                          label=LABEL("top_k.label"), info=LABEL("top_k.info"))
        penalty = gr.Slider(bounds.REPETITION_PENALTY_MIN, bounds.REPETITION_PENALTY_MAX,
                            value=defaults.repetition_penalty, step=0.01, label=LABEL("repetition_penalty.label"))
        tiles = gr.Slider(bounds.MAX_TILES_MIN, bounds.MAX_TILES_MAX, value=defaults.max_tiles, step=1,
                          label=LABEL("max_tiles.label"), info=LABEL("max_tiles.info"), elem_id="max-tiles")
        seed = gr.Number(value=defaults.seed, precision=0, minimum=-1, maximum=bounds.SEED_MAX,
                         label=LABEL("seed.label"), info=LABEL("seed.info"))
    return [thinking, no_limit, answer, temperature, top_p, top_k, penalty, tiles, seed]


def _export_buttons() -> list[gr.DownloadButton]:
    gr.Markdown(LABEL("export.title"))
    with gr.Row():
        md = gr.DownloadButton(LABEL("export.markdown"), interactive=False, size="sm", elem_id="export-md")
        page = gr.DownloadButton(LABEL("export.html"), interactive=False, size="sm", elem_id="export-html")
    return [md, page]


def _wire_switched(handlers: Handlers, switched: list, chat: dict, exports: list, records, buttons: list) -> None:
    """After a conversation is restored, opened, started or deleted, the page acts on it as after an
    answer: every button that can act is enabled, the exports hold it, the stats line shows its last turn."""
    private = {"api_visibility": "private", "show_progress": "hidden"}
    for event in switched:
        event.then(handlers.idle_buttons, [records], buttons, queue=False, **private) \
            .then(handlers.exports, [records], exports, **private) \
            .then(handlers.last_stats, [records], [chat["stats"]], queue=False, **private)


def _wire(handlers: Handlers, chat: dict, controls: list, exports: list, records, status, timer,
          buttons: list) -> dict:
    outputs = [chat["chatbot"], chat["box"], records, chat["stats"]]
    private = {"api_visibility": "private"}
    # Buttons go busy before a run is queued and idle once it is over (both instant, unqueued).
    busy = dict(fn=handlers.busy_buttons, inputs=None, outputs=buttons, queue=False, show_progress="hidden", **private)
    idle = dict(fn=handlers.idle_buttons, inputs=[records], outputs=buttons, queue=False, show_progress="hidden",
                **private)
    # The page's own endpoints stay callable by clients (and tests) but are not documented, so the
    # API page and the MCP tool list show /reason, the one meant for scripts and agents. Raw values
    # reach the handlers (no preprocess), so a bad setting is refused by GenerationOptions with its
    # name and range, and each file is checked to be an upload (see handlers._api_image_path).
    page_only = {"api_visibility": "undocumented", "preprocess": False}
    # "multiple": Enter pressed while answering reaches the handler, which refuses it with the reason
    # (Gradio's default would drop it silently); the draft stays in the box.
    sent = gr.on([chat["box"].submit, chat["send"].click], **busy).then(
        handlers.send, [chat["box"], records, *controls], outputs, api_name="chat", concurrency_id="generate",
        show_progress="minimal", trigger_mode="multiple", **page_only)
    regenerated = chat["regenerate"].click(**busy).then(
        handlers.regenerate, [records, *controls], outputs, api_name="regenerate", concurrency_id="generate",
        show_progress="minimal", **page_only)
    chat["stop"].click(handlers.stop, None, None, queue=False, api_name="stop", **page_only)
    _wire_withdraw(handlers, chat["stop"], [sent, regenerated], idle)
    undone = chat["undo"].click(handlers.undo, [records], outputs, **private)
    cleared = chat["clear"].click(handlers.clear, None, outputs, cancels=[sent, regenerated], **private)
    for event in (sent, regenerated, undone, cleared):
        event.then(handlers.exports, [records], exports, **private)
    for event in (sent, regenerated, undone):
        event.then(**idle)
    cleared.then(handlers.cleared_buttons, None, buttons, queue=False, show_progress="hidden", **private)
    timer.tick(handlers.status, None, [status, timer], queue=False, show_progress="hidden", **private)
    return dict(sent=sent, regenerated=regenerated, undone=undone, cleared=cleared)


def _wire_withdraw(handlers: Handlers, stop: gr.Button, queued: list, idle: dict) -> None:
    """Stop pressed while the answer still waits in Gradio's queue withdraws it (`cancels=`): the
    session's Stop flag does not exist until the handler starts (`Handlers.withdrawal` tells which)."""
    private = {"api_visibility": "private", "show_progress": "hidden", "queue": False}
    # A new token for each withdrawal. A hidden Textbox, not a State: the page runs a State's change
    # only after a queued event (Stop's handlers are not queued: they must not wait behind answers).
    withdrawn = gr.Textbox("", visible=False, elem_id="withdrawn")
    stop.click(handlers.withdrawal, None, withdrawn, **private)
    withdrawn.change(None, None, None, cancels=queued, **private).then(**idle)


def _wire_page(header: dict, chat: dict, chat_tab: gr.Tab, other_tabs: tuple[gr.Tab, ...]) -> None:
    """Page-only behaviour: scrolling (assets/page.js) and the chat's extras following the Chat tab."""
    private = {"api_visibility": "private", "queue": False, "show_progress": "hidden"}
    show_chat = "() => { window.r1v?.showChat(); }"
    gr.on([chat["box"].submit, chat["send"].click, chat["regenerate"].click], None, js=show_chat, **private)
    if chat["examples"] is not None:
        chat["examples"].click(None, js=show_chat, **private)
    header["jump"].click(None, js="() => { window.r1v?.showSettings(); }", **private)
    # "hidden" keeps the preview and the examples in the page (their state too) while another tab shows.
    chat_tab.select(lambda: gr.Column(visible=True), None, chat["extras"], **private)
    for tab in other_tabs:
        tab.select(lambda: gr.Column(visible="hidden"), None, chat["extras"], **private)


def _settings_follow_tabs(compare_tab: gr.Tab, using: tuple[gr.Tab, ...]) -> None:
    """The page's settings are hidden while the Compare tab (whose columns have their own) is open:
    a class on #workspace that assets/style.css reads (a Column update to visible="hidden" left it
    drawn in 6.31), set in the browser alone."""
    private = {"api_visibility": "private", "queue": False, "show_progress": "hidden"}
    toggle = "() => {{ document.getElementById('workspace')?.classList.toggle('compare-open', {}); }}"
    compare_tab.select(None, js=toggle.format("true"), **private)
    for tab in using:
        tab.select(None, js=toggle.format("false"), **private)


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


def _wire_language(demo: gr.Blocks, handlers: Handlers, header: dict, records, chat: dict,
                   sweep: dict, controls: list) -> None:
    """On load the switch shows the browser's language; switching relabels the page and the chat."""
    targets = translatable(demo)
    components = [component for component, _ in targets]
    info = handlers.slot.info

    def headers(words: Words):
        return gr.Dataframe(headers=sweep_headers(words))

    def on_load(message, tiles, request: gr.Request):
        lang = handlers.languages.lang(request)
        return (lang, *handlers.status(request), headers(Words(lang)), banner_text(info, Words(lang)),
                *handlers.views.tiling_panel(message, tiles, request))

    def stats_now(past, words: Words, request: gr.Request):
        """The last turn's line in the new language; a live line is left to the running answer."""
        if handlers.runs.running(session_of(request) or ""):
            return gr.skip()
        return turn_line(past[-1], words) if past else ""

    def switch(lang: str, past, message, tiles, request: gr.Request):
        handlers.languages.choose(request, lang)
        words = Words(lang)
        return (*relabelled(targets, words), history_messages(past, words), handlers.slot.status_markdown(words),
                headers(words), banner_text(info, words), stats_now(past, words, request),
                *handlers.views.tiling_panel(message, tiles, request))

    tiles_slider = controls[CONTROL_NAMES.index("max_tiles")]
    preview = [chat["tiling"], chat["tiling_summary"]]
    status, banner = header["status"], header["banner"]
    demo.load(on_load, [chat["box"], tiles_slider],
              [header["language"], status, header["timer"], sweep["table"], banner, *preview],
              api_visibility="private", show_progress="hidden")
    header["language"].input(switch, [header["language"], records, chat["box"], tiles_slider],
                             [*components, chat["chatbot"], status, sweep["table"], banner, chat["stats"], *preview],
                             api_visibility="private", show_progress="hidden", queue=False)
