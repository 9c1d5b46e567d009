"""The Evaluate tab: a small set answered under the page's current settings, scored as it goes.

Contract:
- `EvaluateView.build()` builds the tab's components (call it inside a `gr.Tab`); `.wire(services,
  settings)` wires them once the settings' controls exist.
- The set is the built-in puzzles, or an uploaded JSON Lines / JSON file whose images are embedded
  (`{"bytes": base64}`, as the datasets library writes them), its first `MAX_ITEMS` at most.
- Run answers the items one by one through the page's engine with the settings on the right
  (`evaluation.runner.answer`: the scorers and records of `python -m evaluation`); the progress line
  shows the accuracy under the set's own rule as it grows, the table one row per item.
- Stop (the tab's own, or the page's) ends the answer in flight; what was done stays in the table.
- Clicking a row opens that item in the tab's chat view: image, question, thinking, answer, verdict.
- Two settings on the same items: run, change a setting, run again; the comparison line sets the
  new run against the one before on the items both answered (accuracy then and now, verdicts that
  changed, the settings that differ).
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterator, Sequence

import gradio as gr
from PIL import Image

from evaluation.readers import SetError, read_set
from evaluation.runner import RunConfig, answer
from ui.page.controls import options_from_controls
from ui.i18n.words import LABEL, Words
from ui.render.messages import answer_message, text_block, thought_message

if TYPE_CHECKING:
    from evaluation.items import Item
    from ui.page.services import Services

MAX_ITEMS = 200
HEADER_KEYS = ("eval.col.id", "eval.col.subject", "eval.col.gold", "eval.col.answer", "eval.col.right")


@dataclass
class EvaluateView:
    """The Evaluate tab's components."""

    upload: gr.File
    count: gr.Number
    run: gr.Button
    stop: gr.Button
    progress: gr.Markdown
    comparison: gr.Markdown
    table: gr.Dataframe
    trace: gr.Chatbot
    done: gr.State

    @classmethod
    def build(cls) -> "EvaluateView":
        """Call inside the tab."""
        gr.Markdown(LABEL("eval.intro"))
        with gr.Row(equal_height=False):
            upload = gr.File(label=LABEL("eval.file"), file_types=[".jsonl", ".json"], elem_id="eval-file")
            with gr.Column():
                count = gr.Number(20, precision=0, minimum=1, maximum=MAX_ITEMS, label=LABEL("eval.items"),
                                  elem_id="eval-items")
                with gr.Row():
                    run = gr.Button(LABEL("eval.run"), variant="primary", elem_id="eval-run")
                    stop = gr.Button(LABEL("button.stop"), variant="stop", elem_id="eval-stop")
        progress = gr.Markdown("", elem_id="eval-progress")
        comparison = gr.Markdown("", elem_id="eval-compare")
        # Shown with the first results, its headers then in the person's language.
        table = gr.Dataframe(interactive=False, wrap=True, visible=False, elem_id="eval-table")
        trace = gr.Chatbot(label=LABEL("eval.trace"), height=420, elem_id="eval-trace")
        return cls(upload, count, run, stop, progress, comparison, table, trace, gr.State([]))

    def wire(self, services: Services, settings: Sequence[gr.components.Component]) -> None:
        """Run answers under `settings` (the settings column's values); Stop stops the session's run."""
        view = EvaluateHandlers(services)
        private = {"api_visibility": "private"}
        self.run.click(view.run, [self.upload, self.count, self.done, *settings],
                       [self.progress, self.table, self.done, self.comparison],
                       concurrency_id="generate", show_progress="minimal", **private)
        self.stop.click(services.serving.stop, None, None, queue=False, **private)
        self.table.select(view.open_item, [self.done], [self.trace], queue=False, **private)


class EvaluateHandlers:
    def __init__(self, services: Services):
        self.serving = services.serving

    def run(self, upload: Any, count: Any, previous: list[dict], request: gr.Request,
            *controls: Any) -> Iterator[tuple]:
        words = self.serving.languages.words(request)
        engine = self.serving.engine_or_warn(words)
        items = self._items_of(upload, count, words) if engine is not None else []
        options = options_from_controls(controls, words)
        admitted = self.serving.admit(request, "evaluate", f"{len(items)} items", [], words) if items else None
        if admitted is None:
            yield gr.skip(), gr.skip(), gr.skip(), gr.skip()
            return
        session, stop = admitted
        config = RunConfig(options, seed=max(options.seed, 0), stop=stop, model=self.serving.slot.info.name,
                           show_progress=False)
        records: list[dict] = []
        try:
            yield words("eval.started", total=len(items)), gr.skip(), records, ""
            for item in items:
                record = answer(engine, item, config)
                if record is None:  # stopped: the answer in flight is dropped, the others stay
                    break
                records.append({**record, "image": item.images[0] if item.images else None})  # for the trace
                table = gr.Dataframe(table_rows(records), headers=[words(key) for key in HEADER_KEYS], visible=True)
                yield (progress_line(records, len(items), words), table, records,
                       comparison_line(previous, records, words))
        finally:
            self.serving.runs.end(session, stop)

    @staticmethod
    def _items_of(upload: Any, count: Any, words: Words) -> list[Item]:
        path = getattr(upload, "name", upload)
        try:
            limit = int(count or 0)
            if not 1 <= limit <= MAX_ITEMS:
                raise SetError(words("eval.too_many", max=MAX_ITEMS))
            return read_set(str(path) if path else "puzzles")[:limit]
        except (SetError, ValueError, TypeError) as error:
            raise gr.Error(str(error), print_exception=False) from None

    def open_item(self, records: list[dict], selected: gr.SelectData, request: gr.Request = None) -> list[dict]:
        row = selected.index[0] if isinstance(selected.index, (list, tuple)) else selected.index
        if not records or row is None or row >= len(records):
            return []
        return trace_messages(records[row], self.serving.languages.words(request))


def progress_line(records: list[dict], total: int, words: Words) -> str:
    rule = records[0]["rule"]
    right = sum(bool(record["scores"][rule]["right"]) for record in records)
    return words("eval.progress", done=len(records), total=total, right=right,
                 accuracy=f"{100 * right / len(records):.1f}", rule=rule)


def comparison_line(previous: list[dict], current: list[dict], words: Words) -> str:
    """This run against the last one, on the items both answered; "" when they share none."""
    before = {record["id"]: record for record in previous or []}
    pairs = [(before[r["id"]], r) for r in current if r["id"] in before]
    if not pairs:
        return ""
    verdict = lambda record: bool(record["scores"][record["rule"]]["right"])  # noqa: E731
    then, now = (sum(verdict(pair[side]) for pair in pairs) for side in (0, 1))
    old, new = pairs[0][0]["settings"], pairs[0][1]["settings"]
    changes = ", ".join(f"{name} {old.get(name)} → {new[name]}" for name in new if old.get(name) != new[name])
    return words("eval.compare", n=len(pairs), then=f"{100 * then / len(pairs):.1f}",
                 now=f"{100 * now / len(pairs):.1f}", changed=sum(verdict(a) != verdict(b) for a, b in pairs),
                 settings=changes or words("eval.same_settings"))


def table_rows(records: list[dict]) -> list[list]:
    return [[r["id"], r["subject"], r["gold"], r["prediction"], "✓" if r["scores"][r["rule"]]["right"] else "✗"]
            for r in records]


def trace_messages(record: dict, words: Words) -> list[dict]:
    """The item as the chat shows a turn: image and question, thinking folded, answer, verdict."""
    messages: list[dict] = []
    if record.get("image"):
        messages.append({"role": "user", "content": gr.Image(Image.open(io.BytesIO(record["image"])))})
    messages.append({"role": "user", "content": text_block(record["question"])})
    if record["thinking"].strip():
        title = words("eval.thinking_title", tokens=record["thinking_tokens"])
        messages.append(thought_message(record["thinking"], title, done=True))
    verdict = "✓" if record["scores"][record["rule"]]["right"] else "✗"
    messages.append(answer_message(f"{record['prediction']}\n\n{verdict} {record['gold']}"))
    return messages
