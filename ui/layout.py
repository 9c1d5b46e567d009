"""The page: chat with thought bubbles on the left, settings on the right, examples below.

`build_app(engine_or_factory, info)` returns the `gr.Blocks` (queue configured, `/chat`,
`/regenerate`, `/stop` and `/reason` endpoints); a factory `(progress) -> engine` is run in a
background thread so the page is served while the model loads. `launch_kwargs()` holds what
Gradio 6 takes at launch rather than in `gr.Blocks` (theme, CSS).
Every slider's range comes from the named bounds in `model/events.py`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Union

import gradio as gr

from model import events as bounds
from model.events import GenerationOptions
from ui.examples import load_examples
from ui.handlers import Engine, EngineFactory, Handlers, ModelInfo, ModelSlot, ServingPolicy
from ui.render import LATEX_DELIMITERS

STYLE = Path(__file__).resolve().parent.parent / "assets" / "style.css"
THINKING_SLIDER_DEFAULT = 4_096  # where the slider sits when "No limit" is unticked

TITLE = "Skywork R1V · visual reasoning demo"
INTRO = ("Add one or more images (drop, paste or attach), ask a question and watch the model think "
         "before it answers. The reasoning trace folds away once the answer starts.")
TINY_BANNER = ("⚠️ **This is a tiny demo model trained on synthetic puzzles, not Skywork R1V.** It only "
               "knows four kinds of puzzle (counting shapes, the tallest or shortest bar, adding dice, "
               "the odd one out); on anything else its answers are meaningless.")


def launch_kwargs() -> dict[str, Any]:
    """Arguments for `demo.launch()` that style the page."""
    return {"theme": gr.themes.Soft(primary_hue="indigo", neutral_hue="slate"),
            "css_paths": [STYLE] if STYLE.is_file() else None}


def build_app(engine: Union[Engine, EngineFactory], info: ModelInfo, *, max_concurrency: int = 4,
              max_queue: int | None = 64, max_updates_per_s: float = 15.0,
              start_loading: bool = True, policy: ServingPolicy | None = None) -> gr.Blocks:
    slot = ModelSlot(engine, info)
    handlers = Handlers(slot, max_updates_per_s=max_updates_per_s, policy=policy)
    with gr.Blocks(title=TITLE) as demo:
        status, timer = _header(slot)
        records = gr.State(())
        with gr.Row(equal_height=False):
            with gr.Column(scale=3, min_width=480):
                chat = _chat_column(info)
            with gr.Column(scale=1, min_width=300, elem_id="settings"):
                controls = _settings(info.defaults)
                exports = _export_buttons()
        _wire(handlers, chat, controls, exports, records, status, timer)
        gr.api(handlers.reason_api(), api_name="reason")
        demo.load(handlers.status, None, [status, timer], api_visibility="private", show_progress="hidden")
    demo.queue(default_concurrency_limit=max_concurrency, max_size=max_queue)
    if start_loading:
        slot.start()
    return demo


def _header(slot: ModelSlot):
    gr.Markdown(f"# {TITLE}\n{INTRO}", elem_id="intro")
    note = f" {slot.info.note}" if slot.info.note else ""
    gr.Markdown(TINY_BANNER + note, visible=slot.info.is_tiny, elem_id="tiny-banner")
    status = gr.Markdown(slot.status_markdown(), elem_id="model-status")
    timer = gr.Timer(1.0, active=not slot.ready)
    return status, timer


def _chat_column(info: ModelInfo) -> dict[str, Any]:
    chatbot = gr.Chatbot(label="Conversation", height=600, latex_delimiters=LATEX_DELIMITERS,
                         buttons=["copy", "copy_all"], feedback_options=None, elem_id="chat",
                         placeholder="Pick an example below or add an image and ask a question.")
    box = gr.MultimodalTextbox(file_types=["image"], file_count="multiple", show_label=False,
                               placeholder="Ask about your images… (Enter sends, Shift+Enter for a new line)",
                               submit_btn=False, elem_id="question")
    with gr.Row(elem_id="chat-buttons"):
        send = gr.Button("Send", variant="primary", elem_id="send-btn")
        stop = gr.Button("Stop", variant="stop", elem_id="stop-btn")
        regenerate = gr.Button("Regenerate", elem_id="regenerate-btn")
        undo = gr.Button("Undo last turn", elem_id="undo-btn")
        clear = gr.Button("Clear", elem_id="clear-btn")
    stats = gr.Markdown("", elem_id="stats-line")
    examples = load_examples(info.is_tiny)
    if examples:
        gr.Examples([[example] for example in examples], inputs=[box], label="Examples (click one, then Send)",
                    examples_per_page=8, elem_id="examples")
    return dict(chatbot=chatbot, box=box, send=send, stop=stop, regenerate=regenerate, undo=undo,
                clear=clear, stats=stats)


def _settings(defaults: GenerationOptions) -> list[gr.components.Component]:
    gr.Markdown("### Settings")
    unlimited = defaults.thinking_budget == bounds.NO_LIMIT
    # When "No limit" is unticked the slider starts at a budget in proportion to the answer's.
    thinking = gr.Slider(0, bounds.THINKING_BUDGET_MAX, step=16, label="Thinking budget (tokens)",
                         value=min(THINKING_SLIDER_DEFAULT, defaults.answer_budget * 2) if unlimited
                         else defaults.thinking_budget, interactive=not unlimited, elem_id="thinking-budget",
                         info="Most tokens the model may think before it must answer.")
    no_limit = gr.Checkbox(value=unlimited, label="No limit on thinking", elem_id="no-limit")
    no_limit.change(lambda on: gr.Slider(interactive=not on), no_limit, thinking, queue=False,
                    api_visibility="private")
    answer = gr.Slider(bounds.ANSWER_BUDGET_MIN, bounds.ANSWER_BUDGET_MAX, value=defaults.answer_budget,
                       step=16, label="Answer budget (tokens)", elem_id="answer-budget")
    temperature = gr.Slider(bounds.TEMPERATURE_MIN, bounds.TEMPERATURE_MAX, value=defaults.temperature,
                            step=0.05, label="Temperature", info="0 = greedy", elem_id="temperature")
    top_p = gr.Slider(bounds.TOP_P_MIN, bounds.TOP_P_MAX, value=defaults.top_p, step=0.01, label="Top-p")
    with gr.Accordion("Advanced", open=False):
        top_k = gr.Slider(bounds.TOP_K_MIN, bounds.TOP_K_MAX, value=defaults.top_k, step=1,
                          label="Top-k", info="0 = off")
        penalty = gr.Slider(bounds.REPETITION_PENALTY_MIN, bounds.REPETITION_PENALTY_MAX,
                            value=defaults.repetition_penalty, step=0.01, label="Repetition penalty")
        tiles = gr.Slider(bounds.MAX_TILES_MIN, bounds.MAX_TILES_MAX, value=defaults.max_tiles, step=1,
                          label="Max tiles per image", info="More tiles: finer detail, more memory")
        seed = gr.Number(value=defaults.seed, precision=0, minimum=-1, maximum=bounds.SEED_MAX,
                         label="Seed", info="-1 = random; the seed used is shown after each answer")
    return [thinking, no_limit, answer, temperature, top_p, top_k, penalty, tiles, seed]


def _export_buttons() -> list[gr.DownloadButton]:
    gr.Markdown("### Export")
    with gr.Row():
        md = gr.DownloadButton("Markdown", interactive=False, size="sm", elem_id="export-md")
        page = gr.DownloadButton("HTML", interactive=False, size="sm", elem_id="export-html")
    return [md, page]


def _wire(handlers: Handlers, chat: dict, controls: list, exports: list, records, status, timer) -> None:
    outputs = [chat["chatbot"], chat["box"], records, chat["stats"]]
    private = {"api_visibility": "private"}
    # The page's own endpoints stay callable by clients (and tests) but are not documented, so the
    # API page and the MCP tool list show /reason, the one meant for scripts and agents.
    page_only = {"api_visibility": "undocumented"}
    sent = gr.on([chat["box"].submit, chat["send"].click], handlers.send, [chat["box"], records, *controls],
                 outputs, api_name="chat", concurrency_id="generate", show_progress="hidden", **page_only)
    regenerated = chat["regenerate"].click(handlers.regenerate, [records, *controls], outputs,
                                           api_name="regenerate", concurrency_id="generate",
                                           show_progress="hidden", **page_only)
    chat["stop"].click(handlers.stop, None, None, queue=False, api_name="stop", **page_only)
    undone = chat["undo"].click(handlers.undo, [records], outputs, **private)
    cleared = chat["clear"].click(handlers.clear, None, outputs, cancels=[sent, regenerated], **private)
    for event in (sent, regenerated, undone, cleared):
        event.then(handlers.exports, [records], exports, **private)
    timer.tick(handlers.status, None, [status, timer], queue=False, show_progress="hidden", **private)
