"""The two views beside the chat: the tiles preview and the budget sweep (components, handlers, wiring).

- `ChatExtras.build(info, box)`: below the chat and the settings, the tiles preview of what is in
  the question `box` and the examples; `.wire(handlers, box, max_tiles)` redraws the preview when
  either changes; `.follow_tabs(chat_tab, others)` shows them with the Chat tab only.
- `SweepView.build(info)`: the Budget sweep tab; `.wire(handlers, settings, buttons)` runs it like an
  answer (the page's buttons go busy, then idle) and `.gate(idle_events)` enables Run sweep only
  with a question.
`ViewHandlers(serving)` shares the chat's `ui.serving.shared.Serving`: model slot, sessions (one running
answer or sweep per session; Stop stops either), languages, rate limit and request log.
- `tiling_preview(message, max_tiles)`: the tiles each image in the box will be cut into, drawn
  over it (`ui.render.tiles`), and a markdown line per image; a bad file gets its own message.
- `sweep(image, question, budgets, *controls)`: `ui.page.sweep.run_sweep` through the same engine,
  streamed as (progress bar, table, plot); the plot is redrawn only when a run has ended; each run
  leaves one request-log line.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Sequence

import gradio as gr

from model.events import UserFacingError
from ui.page.controls import options_from_controls, validated_options
from ui.i18n.words import LABEL, Words
from ui.serving.shared import ModelInfo, Serving
from ui.store.examples import load_examples
from ui.page.sweep import SweepProgress, parse_budgets, progress_html, run_sweep, sweep_headers, sweep_plot, sweep_table
from ui.render.tiles import side_by_side, tiling_overlay, tiling_settings
from ui.store.uploads import file_path, image_path


class ViewHandlers:
    def __init__(self, serving: Serving):
        self.serving = serving

    def tiling_preview(self, message: dict | None, max_tiles: Any, request: gr.Request = None):
        """The tiles each image in the box will be cut into, drawn over it, and what they cost."""
        words = self.serving.languages.words(request)
        paths = [file_path(item) for item in (message or {}).get("files") or []]
        if not paths:
            return None, words("tiles.empty")
        tiles = validated_options(words, max_tiles=max_tiles).max_tiles
        pictures, lines = [], []
        for number, path in enumerate(paths, 1):
            try:
                picture, summary = tiling_overlay(path, tiles, words=words, **tiling_settings(self.serving.slot.engine))
            except UserFacingError as error:
                lines.append(f"{number}. ⚠️ {words.message(error)}")
                continue
            pictures.append(picture)
            lines.append(f"{number}. {summary.describe(words)}")
        return side_by_side(pictures), "\n".join(lines)

    def tiling_panel(self, message: dict | None, max_tiles: Any, request: gr.Request = None):
        """`tiling_preview` for the page: the picture hidden while there is nothing to draw."""
        picture, summary = self.tiling_preview(message, max_tiles, request)
        return gr.Image(value=picture, visible=picture is not None), summary

    def sweep(self, image: str | None, question: str, budgets_text: str, request: gr.Request, *controls: Any):
        """Answer one question at each budget in turn: (progress, table, plot) updates; Stop ends it."""
        words = self.serving.languages.words(request)
        question = (question or "").strip()
        engine = self.serving.engine_or_warn(words)
        if engine is None or not self.serving.has_question(question, words):
            yield gr.skip(), gr.skip(), gr.skip()
            return
        try:
            budgets = parse_budgets(budgets_text)
        except UserFacingError as error:
            raise gr.Error(words.message(error), print_exception=False) from None
        options = options_from_controls(controls, words)
        images = [image_path(image, words)] if image else []
        admitted = self.serving.admit(request, "sweep", question, images, words)
        if admitted is None:
            yield gr.skip(), gr.skip(), gr.skip()
            return
        session, stop = admitted
        try:
            sweep = run_sweep(engine, question, images, budgets, options, stop)
            yield from self._sweep_frames(sweep, words, lambda row: self._log_sweep_row(row, session, question, images))
        finally:
            self.serving.runs.end(session, stop)

    def _sweep_frames(self, sweep: Iterator[SweepProgress], words: Words, log_row: Callable):
        shown_rows: tuple = ()
        try:
            for progress in sweep:
                if progress.rows == shown_rows:  # the plot is redrawn only when a run has ended
                    yield progress_html(progress, words), gr.skip(), gr.skip()
                    continue
                for row in progress.rows[len(shown_rows):]:
                    log_row(row)
                shown_rows = progress.rows
                table = gr.Dataframe(value=sweep_table(progress.rows, words), headers=sweep_headers(words))
                yield progress_html(progress, words), table, sweep_plot(progress.rows, words)
        finally:
            sweep.close()

    def _log_sweep_row(self, row, session: str, question: str, images: Sequence[Any]) -> None:
        stats = {"thinking_tokens": row.thinking_tokens, "answer_tokens": row.answer_tokens}
        self.serving.request_log.write(request_id=uuid.uuid4().hex[:8], endpoint=f"sweep:{row.budget}", session=session,
                               question=question, images=images, stats=stats, finish=row.finish_reason.value,
                               seconds=row.seconds, error_kind="input" if row.error else None)


PREVIEW = {"api_visibility": "private", "show_progress": "hidden"}


@dataclass
class ChatExtras:
    """The tiles preview and the examples, below the chat and the settings."""

    extras: gr.Column
    tiling: gr.Image
    tiling_summary: gr.Markdown
    examples: Any  # the examples' gr.Dataset, None without examples

    @classmethod
    def build(cls, info: ModelInfo, box: gr.MultimodalTextbox) -> "ChatExtras":
        with gr.Column(elem_id="chat-extras") as extras:
            with gr.Accordion(LABEL("tiles.title"), open=True, elem_id="tiling"):
                tiling = gr.Image(type="pil", show_label=False, interactive=False, height=300,
                                  elem_id="tiling-image", buttons=["fullscreen"], visible=False)
                tiling_summary = gr.Markdown(LABEL("tiles.empty"), elem_id="tiling-summary")
            examples = load_examples(info.is_tiny)
            dataset = None
            if examples:
                dataset = gr.Examples([[example] for example in examples], inputs=[box],
                                      label=LABEL("examples.label"), examples_per_page=8, elem_id="examples").dataset
        return cls(extras, tiling, tiling_summary, dataset)

    @property
    def preview(self) -> list:
        return [self.tiling, self.tiling_summary]

    def wire(self, handlers: ViewHandlers, box: gr.MultimodalTextbox, max_tiles: gr.Slider) -> None:
        """The preview follows the box and the max-tiles slider."""
        # One listener for both triggers: the page sends the next redraw only when the last one is back
        # (always_last), so a slow redraw for an older value cannot land after a newer one.
        gr.on([box.change, max_tiles.change], handlers.tiling_panel, [box, max_tiles], self.preview,
              trigger_mode="always_last", concurrency_id="preview", **PREVIEW)

    def follow_tabs(self, chat_tab: gr.Tab, other_tabs: Sequence[gr.Tab]) -> None:
        """Shown with the Chat tab; "hidden" keeps them in the page (their state too) while another shows."""
        chat_tab.select(lambda: gr.Column(visible=True), None, self.extras, queue=False, **PREVIEW)
        for tab in other_tabs:
            tab.select(lambda: gr.Column(visible="hidden"), None, self.extras, queue=False, **PREVIEW)


# Budgets offered by the sweep: the tiny model thinks for a few dozen tokens, R1V for thousands
# (words keys: "no limit" in the page's language; parse_budgets reads both).
SWEEP_BUDGETS = {True: "sweep.budgets.tiny", False: "sweep.budgets.default"}
# Pixels, not shares: each column holds its longest header word at 390 px too (the table scrolls).
SWEEP_COLUMN_WIDTHS = ["84px", "84px", "84px", "84px", "76px", "150px", "130px", "220px"]


def sweep_ready(image: str | None, question: str | None) -> Any:
    """Run sweep can act only with a question (the image is optional, as for a chat answer)."""
    return gr.Button(interactive=bool((question or "").strip()))


@dataclass
class SweepView:
    """The Budget sweep tab's components."""

    image: gr.Image
    question: gr.Textbox
    budgets: gr.Textbox
    run: gr.Button
    stop: gr.Button
    progress: gr.HTML
    table: gr.Dataframe
    plot: gr.Plot

    @classmethod
    def build(cls, info: ModelInfo) -> "SweepView":
        """Call inside the tab."""
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
        return cls(image, question, budgets, run, stop, progress, table, plot)

    @property
    def buttons(self) -> list[gr.Button]:
        """Run sweep and its Stop, in the order of `ui.page.handlers.BUTTONS`' last two."""
        return [self.run, self.stop]

    def wire(self, handlers: ViewHandlers, settings: Sequence[Any], busy: dict, idle: dict) -> Any:
        """Run sweep: the page's buttons go `busy`, the sweep streams, they go `idle` (event kwargs);
        returns the event after which they are idle."""
        started = self.run.click(**busy)
        swept = started.then(handlers.sweep, [self.image, self.question, self.budgets, *settings],
                             [self.progress, self.table, self.plot], api_name="sweep", preprocess=False,
                             api_visibility="undocumented", concurrency_id="generate", show_progress="minimal")
        self.stop.click(handlers.serving.stop, None, None, queue=False, api_visibility="private")
        return swept.then(**idle)

    def gate(self, idle_events: Sequence[Any]) -> None:
        """After the question changes, and after every event that sets the buttons idle, Run sweep
        follows `sweep_ready` (the button states alone would enable it with an empty question)."""
        gate = dict(fn=sweep_ready, inputs=[self.image, self.question], outputs=[self.run], queue=False, **PREVIEW)
        self.question.change(**gate)
        for event in idle_events:
            event.then(**gate)
