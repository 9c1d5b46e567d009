"""The Compare tab's blind vote and its Results view (on unless `--feedback off`).

Contract:
- A blind comparison labels the two settings A and B at random (`blind_order`). Nothing is shown
  until both answers are done: meanwhile both columns carry the same progress line (`progress_line`),
  so neither the order nor the pace of the runs (one local model answers one after the other) tells
  which settings a column has. Then both answers appear at once, labelled A and B only.
- `BlindVotes.keep(session, comparison)` holds a session's last finished blind comparison;
  `vote(session, outcome, words)` stores the vote (`ui.store.votes.VoteStore`) and returns what the reveal
  shows: which settings were A and B. A session votes once per comparison; voting again changes the
  vote (the same vote_id). A vote with no finished comparison is refused with a message saying so.
- `results_markdown(folder, words)`: the table of `ui.store.votes.results_table`, with a line saying how
  ties count; `export_results(folder)` writes it as JSON Lines and returns the file.
- `Ballot.build()` draws the vote buttons, the reveal and the Results view; `.wire(compare, outputs)`
  connects them to the Compare tab's handlers.
"""
from __future__ import annotations

import random
import tempfile
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import gradio as gr

from model.events import FinishReason, GenerationOptions
from ui.i18n.words import EN, LABEL, Words
from ui.render.messages import LiveTurn, finish_words
from ui.page.sweep import budget_label
from ui.store.votes import OUTCOMES, SideResult, VoteStore, image_digest, read_votes, results_table, table_jsonl, vote_line

MAX_HELD = 1_000  # sessions whose last blind comparison waits for a vote; the oldest go first


@dataclass
class Comparison:
    """A finished blind comparison: the two sides in the order shown (A, B) and their final lines."""

    comparison_id: str
    question: str
    images: tuple[str, ...]
    language: str
    shown: tuple[SideResult, SideResult]
    stats_lines: tuple[str, str]
    swapped: bool = False  # A answered with the right column's settings
    outcome: str = ""
    digests: list[str] = field(default_factory=list)


def blind_order() -> tuple[int, int]:
    """Which of the two settings is shown as A (first) and as B, drawn per comparison."""
    return tuple(random.sample((0, 1), 2))  # type: ignore[return-value]


def description(name: str, options: GenerationOptions) -> str:
    """A side as votes store it (always in English, so a pair is the same pair in any language)."""
    return f"{name} · thinking budget {budget_label(options.thinking_budget, EN)} · temperature {options.temperature:g}"


def side_result(name: str, options: GenerationOptions, live: LiveTurn) -> SideResult:
    record = live.record()
    return SideResult(description(name, options), record.answer, record.thinking_tokens, record.thought_s,
                      float(record.stats.get("total_s", 0.0)), options.seed)


def progress_line(lives: Sequence[LiveTurn], started: float, words: Words) -> str:
    ready = sum(live.finish is not None for live in lives)
    return words("compare.blind_progress", ready=ready, total=len(lives), seconds=int(time.monotonic() - started))


def unlabelled(messages: list[dict], words: Words) -> list[dict]:
    """The chat with each thought's title (its tokens, seconds and whether a budget fired: all hints
    at the settings) replaced by one plain title."""
    plain = {"title": words("compare.blind_thought"), "status": "done"}
    return [{**m, "metadata": plain} if (m.get("metadata") or {}).get("title") else m for m in messages]


def blind_frame(lives: Sequence[LiveTurn], started: float, words: Words, final: bool) -> list[Any]:
    """(chat, stats) for each column: the question alone and one progress line until both are done."""
    out: list[Any] = []
    for label, live in zip("AB", lives):
        if final:
            reason = live.record().finish_reason
            ending = finish_words(FinishReason.ANSWERED if reason == FinishReason.BUDGET_THEN_ANSWERED else reason,
                                  words)
            out += [unlabelled(live.messages(), words), f"**{label}** · {ending} · {words('compare.vote_to_reveal')}"]
        else:
            out += [[m for m in live.messages() if m["role"] == "user"], progress_line(lives, started, words)]
    return out


def reveal_line(comparison: Comparison, words: Words) -> str:
    return words("compare.revealed", vote=words(f"compare.vote_{comparison.outcome}"),
                 a=comparison.shown[0].description, b=comparison.shown[1].description)


class BlindVotes:
    """Each session's last finished blind comparison, and the votes cast on it."""

    def __init__(self, store: VoteStore):
        self.store = store
        self._held: OrderedDict[str, Comparison] = OrderedDict()
        self._lock = threading.Lock()

    def keep(self, session: str, comparison: Comparison) -> None:
        comparison.digests = [image_digest(path) for path in comparison.images]
        with self._lock:
            self._held.pop(session, None)
            self._held[session] = comparison
            while len(self._held) > MAX_HELD:
                self._held.popitem(last=False)

    def forget(self, session: str) -> None:
        with self._lock:
            self._held.pop(session, None)

    def vote(self, session: str, outcome: str, words: Words) -> Comparison:
        if outcome not in OUTCOMES:
            raise gr.Error(words("compare.vote_unknown", choices=", ".join(OUTCOMES)), print_exception=False)
        with self._lock:
            comparison = self._held.get(session)
        if comparison is None:
            raise gr.Error(words("compare.vote_none"), print_exception=False)
        comparison.outcome = outcome
        line = vote_line(comparison.comparison_id, outcome, comparison.shown, comparison.question,
                         comparison.digests, comparison.language)
        self.store.write(line, comparison.images)
        return comparison


# ---- results -------------------------------------------------------------------------------------

def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def results_markdown(folder: Path, words: Words) -> str:
    rows = results_table(read_votes(folder))
    if not rows:
        return words("compare.results_empty")
    header = words("compare.results_header")
    lines = [words("compare.results_note"), "", header, "|" + "---|" * (header.count("|") - 1)]
    for row in rows:
        rate, interval = row["win_rate"], row["interval_95"]
        lines.append("| " + " | ".join([
            _cell(row["sides"][0]), _cell(row["sides"][1]), str(row["votes"]), f"{row['wins'][0]} / {row['wins'][1]}",
            str(row["ties"]), str(row["both_wrong"]), "–" if rate is None else f"{100 * rate:.1f} %",
            "–" if interval is None else f"{100 * interval[0]:.1f} – {100 * interval[1]:.1f} %",
            " / ".join(f"{value:g}" for value in row["mean_thinking_tokens"]),
            " / ".join(f"{value:g}" for value in row["mean_thinking_s"])]) + " |")
    return "\n".join(lines)


def export_results(folder: Path) -> str:
    """The results table as a JSON Lines file (one pair per line) in a fresh temporary folder."""
    path = Path(tempfile.mkdtemp(prefix="r1v-votes-")) / "compare-results.jsonl"
    path.write_text(table_jsonl(results_table(read_votes(folder))), encoding="utf-8")
    return str(path)


# ---- the view ------------------------------------------------------------------------------------

@dataclass
class Ballot:
    """The vote buttons (enabled once both blind answers are done), the reveal, and the Results view."""

    votes: list[gr.Button]  # one per outcome, in OUTCOMES order
    reveal: gr.Markdown
    accordion: gr.Accordion
    table: gr.Markdown
    refresh: gr.Button
    export: gr.Button
    exported: gr.File

    @classmethod
    def build(cls) -> "Ballot":
        with gr.Row(elem_id="compare-ballot"):
            votes = [gr.Button(LABEL(f"compare.vote_{outcome}"), interactive=False, size="sm",
                               elem_id=f"compare-vote-{outcome.replace('_', '-')}") for outcome in OUTCOMES]
        reveal = gr.Markdown("", elem_id="compare-reveal")
        with gr.Accordion(LABEL("compare.results_title"), open=False, elem_id="compare-results") as accordion:
            table = gr.Markdown(LABEL("compare.results_empty"), elem_id="compare-results-table")
            with gr.Row():
                refresh = gr.Button(LABEL("compare.results_refresh"), size="sm", elem_id="compare-results-refresh")
                export = gr.Button(LABEL("compare.results_export"), size="sm", elem_id="compare-results-export")
            exported = gr.File(label=LABEL("compare.results_file"), visible=False, elem_id="compare-results-file")
        return cls(votes, reveal, accordion, table, refresh, export, exported)

    def wire(self, compare: Any, reveal_outputs: list[Any]) -> None:
        """Each vote button casts its vote (an undocumented endpoint `compare_vote_<outcome>`) and reveals."""
        for outcome, button in zip(OUTCOMES, self.votes):
            button.click(_voter(compare, outcome), None, [*reveal_outputs, self.table],
                         api_name=f"compare_vote_{outcome}", api_visibility="undocumented", show_progress="hidden")
        private = {"api_visibility": "private", "show_progress": "hidden"}
        for event in (self.refresh.click, self.accordion.expand):
            event(compare.results, None, self.table, **private)
        self.export.click(lambda: gr.File(value=compare.export(), visible=True), None, self.exported, **private)


def _voter(compare: Any, outcome: str):
    def vote(request: gr.Request) -> tuple:
        return compare.vote(outcome, request)

    return vote
