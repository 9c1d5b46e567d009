"""Side by side: one image and question answered two ways, in two columns (the Compare tab).

Contract:
- `compare_view(services)` builds the tab's components and wires them; call it inside a `gr.Tab`.
  Column A answers with the page's model; column B with the services' `compare_engine` (another
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
  whether the two final answers agree (`ui.page.sweep.answers_agree`: normalised text), or that there
  is nothing to compare yet.
- Each Stop is enabled only while its column runs; it sits beside the column's title, so both
  share one height. "Answer both" scrolls the columns into view.
- With votes on (unless `--feedback off`) a Blind switch is shown: the
  columns are drawn in random order as A and B, their settings hidden, and nothing shown until both
  are done (`ui.page.compare_blind`); then `vote(outcome)` stores the vote and reveals the settings. The
  `blind` input exists either way (one call shape), and is ignored where votes are off.
- With verdicts on (unless `--feedback off`) each column's answer has the chat's thumbs: a verdict
  stored with that column's model and settings, `source` "compare" (`ui.page.verdicts.CompareVerdicts`);
  once both are done, until the next comparison.
- A run occupies the session's one running answer (`Serving.admit`), leaves one request-log line
  per column, and shows a column's failure in that column's stats line; the other keeps going.
Chat messages, thought bubbles and stats come from `ui.render.messages` (LiveTurn, Throttle, stats_line).
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
from ui.page.compare_blind import (Ballot, BlindVotes, Comparison, blind_frame, blind_order, export_results,
                                   results_markdown, reveal_line, side_result)
from ui.page.handlers import live_status
from ui.page.verdicts import CompareVerdicts, JudgedSide, Verdicts
from ui.i18n.words import EN, LABEL, Words
from ui.serving.sessions import session_of
from ui.render.messages import CHATBOT_OPTIONS, LiveTurn, Throttle, finish_words, stats_line
from ui.page.sweep import answers_agree, budget_label, normalise_answer, parse_budgets
from ui.store.uploads import image_path
from ui.store.votes import VoteStore

if TYPE_CHECKING:
    from ui.page.handlers import Engine, ModelInfo
    from ui.page.services import Services

log = logging.getLogger(__name__)
COLUMNS = ("a", "b")
_FINISHED = (FinishReason.ANSWERED, FinishReason.BUDGET_THEN_ANSWERED)
_END = object()  # a pumped stream has ended
# The budgets offered in each column's box (any other number may be typed); "no limit" is shown in
# the page's language (its value stays the English word, which parse_budgets reads).
BUDGET_CHOICES = {True: ["0", "8", "32", "no limit"], False: ["0", "256", "1k", "4k", "no limit"]}


def budget_choices(values: Sequence[str]) -> list[tuple[Any, str]]:
    """(label, value) pairs for a column's budget box: "no limit" labelled by its words key."""
    return [(LABEL("sweep.no_limit") if value == "no limit" else value, value) for value in values]


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
    box: int = 0  # which settings (0: the left column's, 1: the right's) it answers with


def judged_side(column: _Column, label: str, blind: bool) -> JudgedSide:
    """A finished column as its verdict stores it: its model, its own settings, where it was shown."""
    settings = {**asdict(column.options), "compare_column": label, "blind": blind}
    return JudgedSide(column.name, settings, column.live.record())


class CompareHandlers:
    def __init__(self, services: "Services", second: "Engine | None" = None, second_name: str = "",
                 votes: VoteStore | None = None):
        self.serving, self.second = services.serving, second
        self.max_updates_per_s = services.max_updates_per_s
        self.second_name = second_name or getattr(second, "name", "") or "second backend"
        self.votes = BlindVotes(votes or VoteStore(".", "off"))
        judging = services.verdicts.enabled
        self.judged = CompareVerdicts(Verdicts(services.verdicts, services.slot, services.serving.languages)) \
            if judging else None
        self.voting = self.votes.store.enabled
        self.output_count = 7 + (6 if self.voting else 0)  # see _frame
        self._stops: dict[str, tuple[threading.Event, ...]] = {}
        self._lock = threading.Lock()

    def stop(self, column: int, request: gr.Request = None) -> None:
        with self._lock:
            stops = self._stops.get(getattr(request, "session_hash", None) or "")
        if stops:
            stops[column].set()

    def run(self, image: Any, question: str, budget_a: str, temperature_a: float, budget_b: str,
            temperature_b: float, seed: Any, blind: Any = False, request: gr.Request = None):
        words = self.serving.languages.words(request)
        question = (question or "").strip()
        engine = self.serving.engine_or_warn(words)
        if engine is None or not self.serving.has_question(question, words):
            yield (gr.skip(),) * self.output_count
            return
        images = [image_path(image, words)] if image else []
        options = [self._options(budget, temperature, seed, words)
                   for budget, temperature in ((budget_a, temperature_a), (budget_b, temperature_b))]
        shared_seed = options[0].seed if options[0].seed >= 0 else random.randrange(SEED_MAX)
        admitted = self.serving.admit(request, "compare", question, images, words)
        if admitted is None:
            yield (gr.skip(),) * self.output_count
            return
        session, main_stop = admitted
        engines = (engine, self.second or engine)
        names = (self.serving.slot.info.name, self.second_name if self.second else self.serving.slot.info.name)
        columns = [_Column(backend, name, option.replace(seed=shared_seed), threading.Event(),
                           LiveTurn(question, images, words=words), box)
                   for box, (backend, name, option) in enumerate(zip(engines, names, options))]
        blind = blind is True and self.voting
        if blind:  # the columns are shown (and answer, and stop) in the order drawn
            columns = [columns[index] for index in blind_order()]
        self.votes.forget(session)  # a new comparison: the last one can no longer be voted on or judged
        if self.judged:
            self.judged.forget(session)
        with self._lock:
            self._stops[session] = tuple(column.stop for column in columns)
        try:
            yield from self._stream(columns, question, images, main_stop, session, words, blind)
        finally:
            with self._lock:
                self._stops.pop(session, None)
            self.serving.runs.end(session, main_stop)

    def _options(self, budget: str, temperature: Any, seed: Any, words: Words) -> GenerationOptions:
        try:
            thinking = parse_budgets(str(budget))[0]
        except UserFacingError as error:
            raise gr.Error(words.message(error), print_exception=False) from None
        defaults = self.serving.slot.info.defaults
        try:
            return GenerationOptions.validated(**{**asdict(defaults), "thinking_budget": thinking,
                                                  "temperature": temperature, "seed": seed})
        except UserFacingError as error:
            raise gr.Error(words.message(error), print_exception=False) from None

    def _stream(self, columns: list[_Column], question: str, images: list[str], main_stop: threading.Event,
                session: str, words: Words, blind: bool = False):
        overlap = overlaps([column.engine for column in columns])
        if not overlap:
            columns[1].live.status = words("compare.waits")
        notes = [column_note(column.name, column.options, words) for column in columns]
        requests = [Request(question=question, images=tuple(images), options=column.options,
                            request_id=uuid.uuid4().hex[:8], stop=column.stop) for column in columns]
        starts = [self._starter(column, request) for column, request in zip(columns, requests)]
        started = time.monotonic()
        throttle = Throttle(self.max_updates_per_s)
        frame = self._blind_frame if blind else self._frame
        yield frame(columns, notes, words, started=started)
        stream = merged(starts, overlap, [column.stop for column in columns])
        try:
            for index, event in stream:
                if main_stop.is_set():
                    for column in columns:
                        column.stop.set()
                if columns[index].live.apply(event) or throttle.due():
                    throttle.mark()
                    yield frame(columns, notes, words, started=started)
        finally:
            stream.close()
            for side, column, request in zip(COLUMNS, columns, requests):
                self.serving.log_run(request, f"compare:{side}", session, column.live, started)
        if blind:
            self._hold(session, columns, notes, question, images, words)
        if self.judged:
            self.judged.keep(session, [judged_side(column, label, blind) for column, label in zip(columns, "AB")])
        yield frame(columns, notes, words, final=True, started=started)

    def _hold(self, session: str, columns: list[_Column], notes: list[str], question: str, images: list[str],
              words: Words) -> None:
        """Keep a finished blind comparison for the vote (with the lines its reveal will show)."""
        shown = tuple(side_result(column.name, column.options, column.live) for column in columns)
        lines = tuple(final_line(column.live, note, words) for column, note in zip(columns, notes))
        self.votes.keep(session, Comparison(uuid.uuid4().hex, question, tuple(images), words.lang, shown, lines,
                                            swapped=columns[0].box != 0))

    @staticmethod
    def _starter(column: _Column, request: Request) -> Callable[[], Iterator[Event]]:
        return lambda: column_stream(column.engine, request)

    def _frame(self, columns: list[_Column], notes: list[str], words: Words, final: bool = False,
               started: float = 0.0) -> tuple:
        """(chat, stats) of each column, the agreement line, each Stop (enabled while its column runs),
        and when votes are on: the four vote buttons (off) and both settings rows (shown)."""
        out: list[Any] = []
        for column, note in zip(columns, notes):
            ended = final or column.live.finish is not None
            out += [column.live.messages(), final_line(column.live, note, words) if ended
                    else f"{note} · {live_status(column.live)}"]
        return (*out, agreement_line(columns[0].live, columns[1].live, words), *self._stops_state(columns, final),
                *self._vote_state(False, True))

    def _blind_frame(self, columns: list[_Column], notes: list[str], words: Words, final: bool = False,
                     started: float = 0.0) -> tuple:
        """As `_frame`, but nothing shown until both are done, no settings, and the votes on at the end."""
        lives = [column.live for column in columns]
        done = final or all(live.finish is not None for live in lives)
        agreement = agreement_line(lives[0], lives[1], words) if done else ""
        return (*blind_frame(lives, started, words, done), agreement, *self._stops_state(columns, final),
                *self._vote_state(final, False))

    @staticmethod
    def _stops_state(columns: list[_Column], final: bool) -> list[Any]:
        return [gr.Button(interactive=not final and column.live.finish is None) for column in columns]

    def _vote_state(self, open_: bool, settings_shown: bool) -> list[Any]:
        if not self.voting:
            return []
        return ([gr.Button(interactive=open_) for _ in range(4)]
                + [gr.Row(visible=True if settings_shown else "hidden") for _ in COLUMNS])

    def vote(self, outcome: str, request: gr.Request = None) -> tuple:
        """Store this session's vote on its last blind comparison; reveal which settings were A and B."""
        words = self.serving.languages.words(request)
        comparison = self.votes.vote(session_of(request) or "", outcome, words)
        titles = [words("compare.title_revealed", label=label, side=side.description)
                  for label, side in zip("AB", comparison.shown)]
        # The settings come back only where they sit above the column that used them.
        settings = gr.Row(visible="hidden" if comparison.swapped else True)
        return (*titles, *comparison.stats_lines, reveal_line(comparison, words), settings, settings,
                self.results(request))

    def titles(self, blind: Any = False, request: gr.Request = None) -> tuple:
        """The column titles as a run starts (plain A and B when blind), and no reveal yet."""
        words = self.serving.languages.words(request)
        backend = "_backend" if self.second and not (blind is True and self.voting) else ""
        return words("compare.title_a"), words(f"compare.title_b{backend}"), ""

    def results(self, request: gr.Request = None) -> str:
        return results_markdown(self.votes.store.folder.parent, self.serving.languages.words(request))

    def export(self) -> str:
        return export_results(self.votes.store.folder.parent)


# ---- the view ------------------------------------------------------------------------------------

def compare_view(services: "Services") -> CompareHandlers:
    """The Compare tab's components, wired; call inside a `gr.Tab`. Column B answers with the
    services' second backend when there is one; votes (unless off) add the blind switch, the vote
    buttons and the Results view."""
    info, second = services.info, services.compare_engine
    compare = CompareHandlers(services, second, votes=services.votes)
    gr.Markdown(LABEL("compare.intro_backends" if second else "compare.intro"), elem_id="compare-intro")
    with gr.Row(equal_height=False):
        image = gr.Image(type="filepath", label=LABEL("compare.image"), height=220, elem_id="compare-image",
                         sources=["upload", "clipboard"])
        with gr.Column():
            question = gr.Textbox(label=LABEL("compare.question"), lines=2, elem_id="compare-question")
            seed = gr.Number(value=info.defaults.seed, precision=0, minimum=-1, maximum=SEED_MAX,
                             label=LABEL("compare.seed"), info=LABEL("seed.info"), elem_id="compare-seed")
            # Always an input (one call shape for every --feedback), shown only where votes are kept.
            blind = gr.Checkbox(False, label=LABEL("compare.blind"), info=LABEL("compare.blind_info"),
                                visible=compare.voting, elem_id="compare-blind")
            run = gr.Button(LABEL("compare.run"), variant="primary", elem_id="compare-run")
    columns = _columns(info, second, feedback=compare.judged is not None)
    agreement = gr.Markdown("", elem_id="compare-agreement")
    ballot = Ballot.build() if compare.voting else None
    _wire(compare, (image, question, seed, blind), run, columns, agreement, ballot)
    return compare


@dataclass
class Columns:
    """Both columns' components, column A's first in each list."""

    titles: list[gr.Markdown]
    rows: list[gr.Row]  # each column's settings row (hidden in a blind comparison)
    settings: list[Any]  # budget A, temperature A, budget B, temperature B: the run's inputs
    outputs: list[Any]  # chat A, stats A, chat B, stats B
    stops: list[gr.Button]


def _columns(info: "ModelInfo", second: "Engine | None", feedback: bool = False) -> "Columns":
    """Each column: its title and Stop on one line (so both Stops sit at one height), its settings,
    its chat (with `feedback`, the thumbs under its answer) and its stats line."""
    budgets = BUDGET_CHOICES[info.is_tiny]
    parts = Columns([], [], [], [], [])
    with gr.Row(equal_height=False, elem_id="compare-columns"):
        for side in COLUMNS:
            with gr.Column(elem_id=f"compare-{side}"):
                with gr.Row(equal_height=True, elem_classes=["compare-head"]):
                    title = gr.Markdown(LABEL(f"compare.title_{side}" + ("_backend" if second and side == "b" else "")),
                                        elem_id=f"compare-title-{side}")
                    stop = gr.Button(LABEL("button.stop"), variant="stop", size="sm", interactive=False,
                                     scale=0, min_width=90, elem_id=f"compare-stop-{side}")
                with gr.Row(elem_id=f"compare-settings-{side}") as row:
                    budget = gr.Dropdown(budget_choices(budgets), value=budgets[0] if side == "a" else budgets[-1],
                                         allow_custom_value=True, label=LABEL("thinking_budget.label"),
                                         elem_id=f"compare-budget-{side}")
                    temperature = gr.Slider(0, 2, value=info.defaults.temperature, step=0.05,
                                            label=LABEL("temperature.label"), elem_id=f"compare-temperature-{side}")
                chatbot = gr.Chatbot(height=420, **{**CHATBOT_OPTIONS, "buttons": ["copy"]},
                                     feedback_options=("Like", "Dislike") if feedback else None, show_label=False,
                                     elem_id=f"compare-chat-{side}")
                stats = gr.Markdown("", elem_id=f"compare-stats-{side}")
            parts.titles.append(title)
            parts.rows.append(row)
            parts.stops.append(stop)
            parts.settings += [budget, temperature]
            parts.outputs += [chatbot, stats]
    return parts


# After "Answer both" the columns (not the inputs above them) are what to watch, on a phone too.
SCROLL_TO_COLUMNS = "() => { document.getElementById('compare-columns')?.scrollIntoView({block: 'start'}); }"


def _wire(compare: CompareHandlers, fields: tuple, run: gr.Button, columns: "Columns", agreement,
          ballot: "Ballot | None") -> None:
    image, question, seed, blind = fields
    private = {"api_visibility": "private", "queue": False, "show_progress": "hidden"}
    inputs = [image, question, *columns.settings, seed, blind]
    outputs = [*columns.outputs, agreement, *columns.stops]
    if ballot:
        outputs += [*ballot.votes, *columns.rows]
        run.click(compare.titles, [blind], [*columns.titles, ballot.reveal], **private)
    run.click(None, js=SCROLL_TO_COLUMNS, **private)
    # Raw values (no preprocess), as for the sweep: the engine checks the image, so a file it refuses
    # gets its own message, and a bad setting is named by GenerationOptions.
    run.click(compare.run, inputs, outputs, api_name="compare", api_visibility="undocumented",
              concurrency_id="generate", show_progress="minimal", preprocess=False)
    if compare.judged:
        for index, chatbot in enumerate(columns.outputs[::2]):
            chatbot.like(compare.judged.liked(index), None, None, api_visibility="private")
    for index, stop in enumerate(columns.stops):
        stop.click(_stopper(compare, index), None, None, queue=False, api_name=f"compare_stop_{COLUMNS[index]}",
                   api_visibility="undocumented")
    if ballot:
        # Unticking Blind brings back settings hidden by a blind comparison.
        blind.input(lambda on: [gr.skip() if on else gr.Row(visible=True)] * 2, [blind], columns.rows,
                    **private)
        stats = columns.outputs[1::2]
        ballot.wire(compare, [*columns.titles, *stats, ballot.reveal, *columns.rows])


def _stopper(compare: CompareHandlers, column: int) -> Callable:
    def stop(request: gr.Request) -> None:
        compare.stop(column, request)

    return stop
