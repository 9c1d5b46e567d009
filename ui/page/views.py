"""Handlers of the two views beside the chat: the tiles preview and the budget sweep.

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
from typing import Any, Callable, Iterator, Sequence

import gradio as gr

from model.events import UserFacingError
from ui.page.controls import options_from_controls, validated_options
from ui.i18n.words import Words
from ui.serving.shared import Serving
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
