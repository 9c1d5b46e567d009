"""Side by side: one image and question answered two ways, in two columns (the Compare tab).

Contract:
- `compare_view(handlers, info, second)` builds the tab's components and wires them; call it
  inside a `gr.Tab`. Column A answers with the page's model; column B with `second` (another
  backend, e.g. a `RemoteEngine` from `--compare-endpoint`) when given, else with the same model.
  Each column has its own thinking budget and temperature; both share one seed (drawn once when
  the seed is -1), the model's default answer budget and max tiles, so only what the columns set
  differs.
- `CompareHandlers.run(...)` streams both answers as (chat A, stats A, chat B, stats B, agreement)
  updates. Unless one model loaded here would answer both, both requests run at once (`merged`
  pumps each engine stream in its own thread into one queue); with one local model the second
  starts when the first ends, and its column says so while it waits.
- Each column has its own Stop (`stop(column)`): it sets only that column's request `stop`; the
  page's main Stop stops both, and closing the tab closes both streams. The agreement line says
  whether the two final answers agree (`ui.sweep.answers_agree`: normalised text), or that there
  is nothing to compare yet.
- A run occupies the session's one running answer (`Handlers.admit`), leaves one request-log line
  per column, and shows a column's failure in that column's stats line; the other keeps going.
Chat messages, thought bubbles and stats come from `ui.render` (LiveTurn, Throttle, stats_line).
"""
from __future__ import annotations

import logging
import queue
import random
import threading
import time
import uuid
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterator, Sequence

import gradio as gr

from model.events import SEED_MAX, Done, Error, Event, FinishReason, GenerationOptions, Request, Status, UserFacingError
from ui.handlers import live_status
from ui.i18n import EN, LABEL, Words
from ui.render import CHATBOT_OPTIONS, LiveTurn, Throttle, finish_words, stats_line
from ui.sweep import answers_agree, budget_label, normalise_answer, parse_budgets
from ui.uploads import image_path

if TYPE_CHECKING:
    from ui.handlers import Engine, Handlers, ModelInfo

log = logging.getLogger(__name__)
COLUMNS = ("a", "b")
_FINISHED = (FinishReason.ANSWERED, FinishReason.BUDGET_THEN_ANSWERED)
_END = object()  # a pumped stream has ended
# The budgets offered in each column's box (any other number may be typed).
BUDGET_CHOICES = {True: ["0", "8", "32", "no limit"], False: ["0", "256", "1k", "4k", "no limit"]}


# ---- running two streams -------------------------------------------------------------------------

def overlaps(engines: Sequence[Any]) -> bool:
    """Whether the answers can run at once: no model loaded here answers two of them (a model
    server queues and batches requests itself; a local model answers one question at a time)."""
    local = [id(engine) for engine in engines if getattr(engine, "loaded", None) is not None]
    return len(set(local)) == len(local)


def merged(starts: Sequence[Callable[[], Iterator[Event]]], overlap: bool,
           stops: Sequence[threading.Event]) -> Iterator[tuple[int, Event]]:
    """(column, event) from every stream: all at once when `overlap`, else one after another.

    Each start is called when its stream begins. Closing this generator sets every `stops` Event,
    so each running stream ends within one step or chunk (and closes itself in its own thread)."""
    try:
        if overlap:
            yield from _pumped(starts)
        else:
            for index, start in enumerate(starts):
                stream = start()
                try:
                    for event in stream:
                        yield index, event
                finally:
                    stream.close()
    finally:
        for stop in stops:
            stop.set()


def _pumped(starts: Sequence[Callable[[], Iterator[Event]]]) -> Iterator[tuple[int, Event]]:
    events: queue.Queue = queue.Queue()
    for index, start in enumerate(starts):
        threading.Thread(target=_pump, args=(index, start, events), name=f"compare-{index}", daemon=True).start()
    running = len(starts)
    while running:
        index, event = events.get()
        if event is _END:
            running -= 1
        else:
            yield index, event


def _pump(index: int, start: Callable[[], Iterator[Event]], events: queue.Queue) -> None:
    stream = None
    try:
        stream = start()
        for event in stream:
            events.put((index, event))
    except Exception:  # noqa: BLE001 - logged with its traceback; the column shows a short message
        log.exception("answering a compare column failed")
        events.put((index, Error(EN("error.internal"), key="error.internal")))
        events.put((index, Done(FinishReason.ERROR)))
    finally:
        if stream is not None:
            stream.close()
        events.put((index, _END))


def column_stream(engine: "Engine", request: Request) -> Iterator[Event]:
    """The engine's events for one column; a column stopped before it started (or while waiting in
    line) ends at once, stopped."""
    if request.stop is not None and request.stop.is_set():
        yield Done(FinishReason.STOPPED)
        return
    yield Status(EN("status.waiting"), key="status.waiting")  # a column that waited for the other starts
    stream = engine.stream(request)
    try:
        for event in stream:
            if request.stop is not None and request.stop.is_set() and isinstance(event, Status):
                yield Done(FinishReason.STOPPED)
                return
            yield event
    finally:
        stream.close()


# ---- words ---------------------------------------------------------------------------------------

def agreement_line(first: LiveTurn, second: LiveTurn, words: Words = EN) -> str:
    """Whether the two final answers agree (normalised text), or why they cannot be compared."""
    if first.finish is None or second.finish is None:
        return ""
    answers = [live.texts()[1] for live in (first, second)]
    finished = [live.finish in _FINISHED and live.error is None and bool(normalise_answer(text))
                for live, text in zip((first, second), answers)]
    if not all(finished):
        return words("compare.no_compare")
    return words("compare.agree") if answers_agree(*answers) else words("compare.differ")


def column_note(name: str, options: GenerationOptions, words: Words) -> str:
    """What a column runs: the backend and the settings that may differ."""
    return words("compare.column_note", name=name, budget=budget_label(options.thinking_budget, words),
                 temperature=options.temperature)


def final_line(live: LiveTurn, note: str, words: Words) -> str:
    if live.error is not None:
        return f"{note} · ⚠️ {words.message(live.error)}"
    record = live.record()
    ending = stats_line(record.stats, words) if record.stats else finish_words(record.finish_reason, words)
    return f"{note} · {ending}"


# ---- the handlers --------------------------------------------------------------------------------

@dataclass
class _Column:
    engine: "Engine"
    name: str
    options: GenerationOptions
    stop: threading.Event
    live: LiveTurn


class CompareHandlers:
    def __init__(self, chat: "Handlers", second: "Engine | None" = None, second_name: str = ""):
        self.chat, self.second = chat, second
        self.second_name = second_name or getattr(second, "name", "") or "second backend"
        self._stops: dict[str, tuple[threading.Event, ...]] = {}
        self._lock = threading.Lock()

    def stop(self, column: int, request: gr.Request = None) -> None:
        with self._lock:
            stops = self._stops.get(getattr(request, "session_hash", None) or "")
        if stops:
            stops[column].set()

    def run(self, image: Any, question: str, budget_a: str, temperature_a: float, budget_b: str,
            temperature_b: float, seed: Any, request: gr.Request = None):
        words = self.chat.languages.words(request)
        question = (question or "").strip()
        engine = self.chat.engine_or_warn(words)
        if engine is None or not self.chat.has_question(question, words):
            yield (gr.skip(),) * 5
            return
        images = [image_path(image, words)] if image else []
        options = [self._options(budget, temperature, seed, words)
                   for budget, temperature in ((budget_a, temperature_a), (budget_b, temperature_b))]
        shared_seed = options[0].seed if options[0].seed >= 0 else random.randrange(SEED_MAX)
        admitted = self.chat.admit(request, "compare", question, images, words)
        if admitted is None:
            yield (gr.skip(),) * 5
            return
        session, main_stop = admitted
        engines = (engine, self.second or engine)
        names = (self.chat.slot.info.name, self.second_name if self.second else self.chat.slot.info.name)
        columns = [_Column(backend, name, option.replace(seed=shared_seed), threading.Event(),
                           LiveTurn(question, images, words=words))
                   for backend, name, option in zip(engines, names, options)]
        with self._lock:
            self._stops[session] = tuple(column.stop for column in columns)
        try:
            yield from self._stream(columns, question, images, main_stop, session, words)
        finally:
            with self._lock:
                self._stops.pop(session, None)
            self.chat.runs.end(session, main_stop)

    def _options(self, budget: str, temperature: Any, seed: Any, words: Words) -> GenerationOptions:
        try:
            thinking = parse_budgets(str(budget))[0]
        except UserFacingError as error:
            raise gr.Error(words.message(error), print_exception=False) from None
        defaults = self.chat.slot.info.defaults
        try:
            return GenerationOptions.validated(**{**asdict(defaults), "thinking_budget": thinking,
                                                  "temperature": temperature, "seed": seed})
        except UserFacingError as error:
            raise gr.Error(words.message(error), print_exception=False) from None

    def _stream(self, columns: list[_Column], question: str, images: list[str], main_stop: threading.Event,
                session: str, words: Words):
        overlap = overlaps([column.engine for column in columns])
        if not overlap:
            columns[1].live.status = words("compare.waits")
        notes = [column_note(column.name, column.options, words) for column in columns]
        requests = [Request(question=question, images=tuple(images), options=column.options,
                            request_id=uuid.uuid4().hex[:8], stop=column.stop) for column in columns]
        starts = [self._starter(column, request) for column, request in zip(columns, requests)]
        started = time.monotonic()
        throttle = Throttle(self.chat.max_updates_per_s)
        yield self._frame(columns, notes, words)
        stream = merged(starts, overlap, [column.stop for column in columns])
        try:
            for index, event in stream:
                if main_stop.is_set():
                    for column in columns:
                        column.stop.set()
                if columns[index].live.apply(event) or throttle.due():
                    throttle.mark()
                    yield self._frame(columns, notes, words)
        finally:
            stream.close()
            for side, column, request in zip(COLUMNS, columns, requests):
                self.chat.serving.log_run(request, f"compare:{side}", session, column.live, started)
        yield self._frame(columns, notes, words, final=True)

    @staticmethod
    def _starter(column: _Column, request: Request) -> Callable[[], Iterator[Event]]:
        return lambda: column_stream(column.engine, request)

    @staticmethod
    def _frame(columns: list[_Column], notes: list[str], words: Words, final: bool = False) -> tuple:
        out: list[Any] = []
        for column, note in zip(columns, notes):
            ended = final or column.live.finish is not None
            out += [column.live.messages(), final_line(column.live, note, words) if ended
                    else f"{note} · {live_status(column.live)}"]
        return (*out, agreement_line(columns[0].live, columns[1].live, words))


# ---- the view ------------------------------------------------------------------------------------

def compare_view(handlers: "Handlers", info: "ModelInfo", second: "Engine | None" = None) -> CompareHandlers:
    """The Compare tab's components, wired; call inside a `gr.Tab`."""
    compare = CompareHandlers(handlers, second)
    gr.Markdown(LABEL("compare.intro_backends" if second else "compare.intro"), elem_id="compare-intro")
    with gr.Row(equal_height=False):
        image = gr.Image(type="filepath", label=LABEL("compare.image"), height=220, elem_id="compare-image",
                         sources=["upload", "clipboard"])
        with gr.Column():
            question = gr.Textbox(label=LABEL("compare.question"), lines=2, elem_id="compare-question")
            seed = gr.Number(value=info.defaults.seed, precision=0, minimum=-1, maximum=SEED_MAX,
                             label=LABEL("compare.seed"), info=LABEL("seed.info"), elem_id="compare-seed")
            run = gr.Button(LABEL("compare.run"), variant="primary", elem_id="compare-run")
    budgets = BUDGET_CHOICES[info.is_tiny]
    settings, outputs, stops = [], [], []
    with gr.Row(equal_height=False):
        for index, side in enumerate(COLUMNS):
            with gr.Column(elem_id=f"compare-{side}"):
                gr.Markdown(LABEL(f"compare.title_{side}" + ("_backend" if second and side == "b" else "")))
                with gr.Row():
                    budget = gr.Dropdown(budgets, value=budgets[0] if side == "a" else budgets[-1],
                                         allow_custom_value=True, label=LABEL("thinking_budget.label"),
                                         elem_id=f"compare-budget-{side}")
                    temperature = gr.Slider(0, 2, value=info.defaults.temperature, step=0.05,
                                            label=LABEL("temperature.label"), elem_id=f"compare-temperature-{side}")
                chatbot = gr.Chatbot(height=420, **{**CHATBOT_OPTIONS, "buttons": ["copy"]},
                                     feedback_options=None, show_label=False, elem_id=f"compare-chat-{side}")
                stats = gr.Markdown("", elem_id=f"compare-stats-{side}")
                stop = gr.Button(LABEL("button.stop"), variant="stop", size="sm", elem_id=f"compare-stop-{side}")
            settings += [budget, temperature]
            outputs += [chatbot, stats]
            stops.append(stop)
    agreement = gr.Markdown("", elem_id="compare-agreement")
    # Raw values (no preprocess), as for the sweep: the engine checks the image, so a file it refuses
    # gets its own message, and a bad setting is named by GenerationOptions.
    run.click(compare.run, [image, question, *settings, seed], [*outputs, agreement], api_name="compare",
              api_visibility="undocumented", concurrency_id="generate", show_progress="minimal", preprocess=False)
    for index, stop in enumerate(stops):
        stop.click(_stopper(compare, index), None, None, queue=False, api_name=f"compare_stop_{COLUMNS[index]}",
                   api_visibility="undocumented")
    return compare


def _stopper(compare: CompareHandlers, column: int) -> Callable:
    def stop(request: gr.Request) -> None:
        compare.stop(column, request)

    return stop
