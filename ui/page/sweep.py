"""Thinking-budget sweep: one question about the same images, answered at several budgets in turn.

Contract:
- `parse_budgets(text)` reads "0, 256, 1k, 4k, no limit" into budgets (1k = 1024, "no limit" =
  `NO_LIMIT`), unique and in ascending order with "no limit" last; a bad entry, an empty list or
  more than `MAX_BUDGETS` raise `UserFacingError` naming the entry and the allowed range.
- `run_sweep(engine, question, images, budgets, base_options, stop)` runs one `Request` per budget
  through `engine.stream`, the same path as a chat answer, with `base_options` and only the
  thinking budget changed (and one seed for every run, so only the budget differs). It yields a
  `SweepProgress` when each run starts, while it streams (at most the throttle's rate) and when it
  ends. Setting `stop` ends the running answer within one step (the request carries the same
  Event) and no further budget runs; closing the generator closes the running stream. An input
  error (a bad image, say) ends the sweep too, since every budget would fail the same way.
- Rows are read from the engine's events (deltas, `Stats`, `Error`, `Done`); the model's text
  is only compared, never parsed: `agreement(rows)` compares normalised final answers with the
  answer at the largest budget that finished.
- `sweep_table(rows)` (columns `SWEEP_HEADERS`) feeds a gr.Dataframe; `sweep_plot(rows)` draws a
  matplotlib Figure (Agg canvas, no pyplot state) for gr.Plot: thinking tokens and seconds
  against budget, marker colour and shape saying whether the answer agrees, "no limit" placed
  after the largest number.
Visible words come from the page's tables (`sweep.*` keys) through a `Words`; English by default.
Nothing here imports Gradio or torch.
"""
from __future__ import annotations

import html
import random
import re
import threading
import uuid
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Iterator, Protocol, Sequence, Union

from model.events import (NO_LIMIT, SEED_MAX, THINKING_BUDGET_MAX, AnswerDelta, BudgetReached, Done, Error, Event,
                          FinishReason, GenerationOptions, Request, Stats, Status, ThinkingDelta,
                          UserFacingError)
from ui.i18n.words import EN, Words
from ui.render.messages import Throttle, finish_words
from ui.i18n.en import EN_TEXTS

if TYPE_CHECKING:
    from matplotlib.figure import Figure

MAX_BUDGETS = 8
KILO = 1024
MAX_TABLE_ANSWER_CHARS = 300

# English words of this view (tests and defaults); the page takes them from `Words` by key.
TEXT = {key.removeprefix("sweep."): text for key, text in EN_TEXTS.items() if key.startswith("sweep.")}
# Words accepted for "no limit" besides TEXT["no_limit"] (the page is English and Chinese).
NO_LIMIT_WORDS = ("no limit", "unlimited", "none", "∞", "不限", "无限制")

HEADER_KEYS = ("header_budget", "header_thinking", "header_forced", "header_answer_tokens", "header_seconds", "header_ended",
               "header_agreement", "header_answer")
SWEEP_HEADERS = [TEXT[key] for key in HEADER_KEYS]


def sweep_headers(words: Words = EN) -> list[str]:
    return [words(f"sweep.{key}") for key in HEADER_KEYS]

ImageSource = Union[str, Path, bytes]


class Engine(Protocol):
    def stream(self, request: Request) -> Iterator[Event]: ...


# ---- budgets -----------------------------------------------------------------------------------

_ENTRY_SEPARATORS = re.compile(r"[,，;；、\n]+")
_NUMBER = re.compile(r"(\d+(?:\.\d+)?)\s*(k?)")


def parse_budgets(text: str) -> list[int]:
    """"0, 256, 1k, no limit" -> [0, 256, 1024, NO_LIMIT]; unique, ascending, "no limit" last."""
    entries = [entry.strip() for entry in _ENTRY_SEPARATORS.split(text or "") if entry.strip()]
    if not entries:
        raise UserFacingError(TEXT["empty"], key="sweep.empty")
    budgets = sorted({_parse_entry(entry) for entry in entries}, key=budget_order)
    if len(budgets) > MAX_BUDGETS:
        raise UserFacingError(TEXT["too_many"].format(max_count=MAX_BUDGETS, count=len(budgets)),
                              key="sweep.too_many", max_count=MAX_BUDGETS, count=len(budgets))
    return budgets


def _parse_entry(entry: str) -> int:
    words = " ".join(entry.split()).casefold()
    if words in NO_LIMIT_WORDS or words == TEXT["no_limit"].casefold():
        return NO_LIMIT
    match = _NUMBER.fullmatch(words)
    value = float(match.group(1)) * (KILO if match.group(2) else 1) if match else -1.0
    if not (value.is_integer() and 0 <= value <= THINKING_BUDGET_MAX):
        raise UserFacingError(TEXT["bad_entry"].format(entry=entry, max=THINKING_BUDGET_MAX),
                              key="sweep.bad_entry", entry=entry, max=THINKING_BUDGET_MAX)
    return int(value)


def budget_order(budget: int) -> int:
    """Sort key: numbers ascending, then "no limit"."""
    return THINKING_BUDGET_MAX + 1 if budget == NO_LIMIT else budget


def budget_label(budget: int, words: Words = EN) -> str:
    """1024 -> "1k", NO_LIMIT -> "no limit"; `parse_budgets` reads every label back."""
    if budget == NO_LIMIT:
        return words("sweep.no_limit")
    if budget >= KILO and budget % KILO == 0:
        return f"{budget // KILO}k"
    return str(budget)


# ---- running -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class SweepRow:
    """One finished (or stopped, or failed) run of the sweep.

    `thinking_tokens` is the engine's count, which includes the closing forced when the budget fired
    (hand-over words and `</think>`); `forced_tokens` is that forced part, so `own_thinking_tokens`
    is what the model thought itself: the number held against the budget."""

    budget: int
    answer: str
    thinking_tokens: int
    answer_tokens: int
    seconds: float
    finish_reason: FinishReason
    error: str = ""
    seed: int = -1
    forced_tokens: int = 0

    @property
    def own_thinking_tokens(self) -> int:
        return self.thinking_tokens - self.forced_tokens


@dataclass(frozen=True)
class Running:
    """The run in progress."""

    budget: int
    thinking_tokens: int = 0
    answer_tokens: int = 0


@dataclass(frozen=True)
class SweepProgress:
    rows: tuple[SweepRow, ...]
    budgets: tuple[int, ...]
    running: Running | None  # None between runs and at the end
    stopped: bool = False


@dataclass
class _RunState:
    """Folds one run's events into a row."""

    budget: int
    answer: list[str] = field(default_factory=list)
    thinking_tokens: int = 0
    answer_tokens: int = 0
    stats: Stats | None = None
    error: Error | None = None
    finish: FinishReason | None = None
    fired_at: int | None = None  # the model's own thinking tokens when the budget fired

    def apply(self, event: Event) -> None:
        if isinstance(event, BudgetReached):
            self.fired_at = event.thinking_tokens
        elif isinstance(event, ThinkingDelta):
            self.thinking_tokens = event.tokens
        elif isinstance(event, AnswerDelta):
            self.answer.append(event.text)
            self.answer_tokens = event.tokens
        elif isinstance(event, Stats):
            self.stats = event
        elif isinstance(event, Error):
            self.error = event
        elif isinstance(event, Done):
            self.finish = event.finish_reason

    def running(self) -> Running:
        return Running(self.budget, self.thinking_tokens, self.answer_tokens)

    def row(self) -> SweepRow:
        stats = self.stats
        thinking = stats.thinking_tokens if stats else self.thinking_tokens
        return SweepRow(
            budget=self.budget, answer="".join(self.answer).strip(), thinking_tokens=thinking,
            forced_tokens=forced_part(thinking, self.fired_at),
            answer_tokens=stats.answer_tokens if stats else self.answer_tokens,
            seconds=stats.total_s if stats else 0.0,
            finish_reason=self.finish or (stats.finish_reason if stats else FinishReason.STOPPED),
            error=self.error.message if self.error else "", seed=stats.seed if stats else -1,
        )


def forced_part(thinking_tokens: int, fired_at: int | None) -> int:
    """Of `thinking_tokens` (the engine's count), those forced after the budget fired at `fired_at`."""
    return max(0, thinking_tokens - fired_at) if fired_at is not None else 0


def run_sweep(engine: Engine, question: str, images: Sequence[ImageSource], budgets: Iterable[int],
              base_options: GenerationOptions, stop: threading.Event,
              throttle: Throttle | None = None) -> Iterator[SweepProgress]:
    """Answer `question` once per budget, in the order given; see the module docstring."""
    budgets, throttle = tuple(budgets), throttle or Throttle()
    options = _one_seed(base_options)
    sweep_id, rows = uuid.uuid4().hex[:8], []
    for budget in budgets:
        if stop.is_set():
            break
        state = _RunState(budget)
        yield SweepProgress(tuple(rows), budgets, state.running())
        request = Request(question, tuple(images), options=options.replace(thinking_budget=budget),
                          request_id=f"sweep-{sweep_id}-{budget}", stop=stop)
        for running in _stream_one(engine, request, state, stop, throttle):
            yield SweepProgress(tuple(rows), budgets, running)
        rows.append(state.row())
        yield SweepProgress(tuple(rows), budgets, None, stopped=stop.is_set())
        if state.error is not None and state.error.kind == "input":
            break


def _one_seed(options: GenerationOptions) -> GenerationOptions:
    return options if options.seed >= 0 else options.replace(seed=random.randrange(SEED_MAX))


def _stream_one(engine: Engine, request: Request, state: _RunState, stop: threading.Event,
                throttle: Throttle) -> Iterator[Running]:
    stream = engine.stream(request)
    try:
        for event in stream:
            if stop.is_set() and isinstance(event, Status):
                return  # stopped while still waiting in line: nothing ran
            state.apply(event)
            if isinstance(event, (ThinkingDelta, AnswerDelta)) and throttle.due():
                throttle.mark()
                yield state.running()
    finally:
        stream.close()


def progress_text(progress: SweepProgress, words: Words = EN) -> str:
    """One status line for the page."""
    running, total = progress.running, len(progress.budgets)
    if running is not None:
        return words("sweep.progress_running", budget=budget_label(running.budget, words), total=total,
                     number=len(progress.rows) + 1, tokens=running.thinking_tokens)
    if progress.stopped:
        return words("sweep.progress_stopped", count=len(progress.rows), total=total)
    return words("sweep.progress_done", count=len(progress.rows))


def progress_html(progress: SweepProgress, words: Words = EN) -> str:
    """A progress bar (runs finished, plus the running one's share of its thinking) and the status line."""
    total = max(1, len(progress.budgets))
    share = 0.0
    if progress.running is not None and progress.running.budget > 0:
        share = min(0.9, progress.running.thinking_tokens / progress.running.budget)
    percent = 100 * min(1.0, (len(progress.rows) + share) / total)
    text = html.escape(progress_text(progress, words))
    return (f'<div class="sweep-progress" role="progressbar" aria-valuenow="{percent:.0f}" aria-valuemin="0" '
            f'aria-valuemax="100"><div class="sweep-bar" style="width:{percent:.1f}%"></div></div>'
            f'<p class="sweep-status">{text}</p>')


# ---- comparing answers -------------------------------------------------------------------------

class Agreement(str, Enum):
    REFERENCE = "reference"  # the answer the others are compared with
    AGREES = "agrees"
    DIFFERS = "differs"
    NO_ANSWER = "no_answer"  # stopped, failed or cut off: nothing final to compare


# English label, marker colour and marker shape of each agreement value (labels: "sweep.agree.*").
AGREEMENT_STYLE = {
    Agreement.REFERENCE: (TEXT["agree.reference"], "#1f5fbf", "*"),
    Agreement.AGREES: (TEXT["agree.agrees"], "#2e8b57", "o"),
    Agreement.DIFFERS: (TEXT["agree.differs"], "#c0392b", "X"),
    Agreement.NO_ANSWER: (TEXT["agree.no_answer"], "#98a2b3", "s"),
}
_FINISHED = (FinishReason.ANSWERED, FinishReason.BUDGET_THEN_ANSWERED)
_TRAILING_PUNCTUATION = ".,;:!?。，；：！？、…"


def normalise_answer(text: str) -> str:
    """Trimmed, case-folded, inner spaces collapsed, trailing punctuation removed."""
    return " ".join(text.split()).casefold().rstrip(_TRAILING_PUNCTUATION + " ")


def answers_agree(first: str, second: str) -> bool:
    return normalise_answer(first) == normalise_answer(second)


def has_final_answer(row: SweepRow) -> bool:
    return row.finish_reason in _FINISHED and not row.error and bool(normalise_answer(row.answer))


def agreement(rows: Sequence[SweepRow]) -> list[Agreement]:
    """Per row: does its answer match the answer at the largest budget that finished?"""
    finished = [row for row in rows if has_final_answer(row)]
    if not finished:
        return [Agreement.NO_ANSWER] * len(rows)
    reference = max(finished, key=lambda row: budget_order(row.budget))
    return [Agreement.REFERENCE if row is reference
            else Agreement.NO_ANSWER if not has_final_answer(row)
            else Agreement.AGREES if answers_agree(row.answer, reference.answer)
            else Agreement.DIFFERS for row in rows]


# ---- table and plot ----------------------------------------------------------------------------

def _by_budget(rows: Sequence[SweepRow]) -> list[tuple[SweepRow, Agreement]]:
    return sorted(zip(rows, agreement(rows)), key=lambda pair: budget_order(pair[0].budget))


def _shortened(text: str) -> str:
    return text if len(text) <= MAX_TABLE_ANSWER_CHARS else text[:MAX_TABLE_ANSWER_CHARS - 1] + "…"


def sweep_table(rows: Sequence[SweepRow], words: Words = EN) -> list[list]:
    """Rows for a gr.Dataframe with `sweep_headers(words)`, in budget order."""
    return [[budget_label(row.budget, words), row.own_thinking_tokens, row.forced_tokens, row.answer_tokens,
             round(row.seconds, 2),
             row.error or finish_words(row.finish_reason, words), words(f"sweep.agree.{agrees.value}"),
             _shortened(row.answer)]
            for row, agrees in _by_budget(rows)]


# Chinese glyphs come from a CJK family where one is installed (Debian: fonts-noto-cjk).
CJK_FAMILIES = ("Noto Sans CJK SC", "Noto Sans CJK JP", "Noto Sans CJK")


def _plot_fonts() -> dict:
    from matplotlib import font_manager

    installed = {font.name for font in font_manager.fontManager.ttflist}
    if not installed & set(CJK_FAMILIES):
        installed |= _added_cjk_fonts(font_manager)
    return {"font.family": ["DejaVu Sans", *[name for name in CJK_FAMILIES if name in installed]]}


_rescanned: set[str] = set()  # families added by the one rescan (empty: none found, or not yet looked)


def _added_cjk_fonts(font_manager) -> set[str]:
    """CJK fonts installed after matplotlib cached its font list: found on disk once (fc-list and the
    system folders, `findSystemFonts`), added with the public `fontManager.addfont`."""
    if not _rescanned:
        _rescanned.add("")  # looked: a machine without CJK fonts is not rescanned for every plot
        for path in font_manager.findSystemFonts():
            if "cjk" in Path(path).name.lower():
                try:
                    font_manager.fontManager.addfont(path)
                except (OSError, RuntimeError, ValueError):  # an unreadable font file is skipped
                    continue
                _rescanned.add(font_manager.FontProperties(fname=path).get_name())
    return _rescanned - {""}


def sweep_plot(rows: Sequence[SweepRow], words: Words = EN) -> "Figure | None":
    """Thinking tokens (with each budget's cap) and seconds against budget; None without rows."""
    if not rows:
        return None
    import matplotlib

    with matplotlib.rc_context(_plot_fonts()):  # text objects keep the fonts chosen at creation
        return _draw_plot(rows, words)


def _draw_plot(rows: Sequence[SweepRow], words: Words) -> "Figure":
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    ordered = _by_budget(rows)
    figure = Figure(figsize=(6.4, 5.6), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    tokens_axes, seconds_axes = figure.subplots(2, 1, sharex=True)
    own = [row.own_thinking_tokens for row, _ in ordered]  # held against the dashed budget line
    _plot_series(tokens_axes, ordered, own, words("sweep.axis_thinking"), words)
    _plot_series(seconds_axes, ordered, [row.seconds for row, _ in ordered], words("sweep.axis_seconds"), words)
    _plot_caps(tokens_axes, ordered, top=max(own), label=words("sweep.budget_cap"))
    seconds_axes.set_xticks(range(len(ordered)), [budget_label(row.budget, words) for row, _ in ordered])
    seconds_axes.set_xlabel(words("sweep.axis_budget"))
    tokens_axes.set_title(words("sweep.plot_title"))
    figure.legend(*tokens_axes.get_legend_handles_labels(), loc="outside lower center", ncols=3, fontsize="small")
    return figure


def _plot_series(axes, ordered: list[tuple[SweepRow, Agreement]], values: list[float], label: str,
                 words: Words) -> None:
    positions = list(range(len(ordered)))
    axes.plot(positions, values, color="#667085", linewidth=1.5, zorder=1)
    for kind, (_, colour, marker) in AGREEMENT_STYLE.items():
        name = words(f"sweep.agree.{kind.value}")
        chosen = [i for i, (_, agrees) in enumerate(ordered) if agrees is kind]
        if chosen:
            axes.scatter(chosen, [values[i] for i in chosen], s=70, color=colour, marker=marker,
                         label=name, zorder=2)
    axes.set_ylabel(label)
    axes.grid(alpha=0.3)


def _plot_caps(axes, ordered: list[tuple[SweepRow, Agreement]], top: int, label: str) -> None:
    """Each numeric budget as a dashed line; caps far above what was used run off the top."""
    capped = [(i, row.budget) for i, (row, _) in enumerate(ordered) if row.budget != NO_LIMIT]
    if capped:
        axes.plot([i for i, _ in capped], [budget for _, budget in capped], linestyle="--",
                  color="#98a2b3", linewidth=1, label=label, zorder=0)
    axes.set_ylim(0, max(top, 1) * 1.15)
