"""ui/page/sweep.py: budget parsing, answer agreement, table and plot, and sweeps run on the tiny model."""
from __future__ import annotations

import io
import threading

import gradio as gr
import pytest

from model.events import (NO_LIMIT, THINKING_BUDGET_MAX, AnswerDelta, BudgetReached, Done, FinishReason,
                          GenerationOptions, Request, Stats, ThinkingDelta, UserFacingError)
from model.reasoning import make_tracker
from model.tiny.puzzles import puzzle_at
from tests.conftest import slowed, wait_until
from tests.helpers import collect
from ui.page.sweep import (AGREEMENT_STYLE, MAX_BUDGETS, SWEEP_HEADERS, TEXT, Agreement, SweepProgress, SweepRow,
                           agreement, answers_agree, budget_label, forced_part, normalise_answer, parse_budgets,
                           progress_text,
                           run_sweep, sweep_plot, sweep_table)

GREEDY = dict(temperature=0, repetition_penalty=1.0, max_tiles=4, answer_budget=16)
ANSWERED = (FinishReason.ANSWERED, FinishReason.BUDGET_THEN_ANSWERED)


def puzzle(index: int = 0) -> tuple[bytes, str]:
    item = puzzle_at(99, index)
    buffer = io.BytesIO()
    item.image.save(buffer, format="PNG")
    return buffer.getvalue(), item.question


def row(budget: int, answer: str = "red", finish: FinishReason = FinishReason.ANSWERED, thinking: int = 5,
        seconds: float = 1.0, error: str = "") -> SweepRow:
    return SweepRow(budget, answer, thinking, 3, seconds, finish, error)


# ---- parsing -----------------------------------------------------------------------------------

@pytest.mark.parametrize("text,expected", [
    ("0, 256, 1k, 4k, no limit", [0, 256, 1024, 4096, NO_LIMIT]),
    ("no limit, 4k，0；16", [0, 16, 4096, NO_LIMIT]),
    ("  No   LIMIT ,32", [32, NO_LIMIT]),
    ("不限、8", [8, NO_LIMIT]),
    ("1.5k", [1536]),
    ("8, 8, 8k, 8 k", [8, 8192]),
    ("32k", [THINKING_BUDGET_MAX]),
    ("0", [0]),
])
def test_parse_budgets_reads_numbers_kilos_and_no_limit_in_order(text, expected):
    assert parse_budgets(text) == expected


@pytest.mark.parametrize("text,bad", [
    ("0, 8, lots", "lots"),
    ("-5", "-5"),
    ("2.5", "2.5"),
    ("33k", "33k"),
    (str(THINKING_BUDGET_MAX + 1), str(THINKING_BUDGET_MAX + 1)),
    ("1kk", "1kk"),
    ("no limits", "no limits"),
])
def test_parse_budgets_names_the_bad_entry_and_the_range(text, bad):
    with pytest.raises(UserFacingError) as raised:
        parse_budgets(text)
    message = str(raised.value)
    assert f"“{bad}”" in message
    assert f"0 to {THINKING_BUDGET_MAX:,}" in message and TEXT["no_limit"] in message


@pytest.mark.parametrize("text", ["", "  ", ", ,"])
def test_parse_budgets_wants_at_least_one(text):
    with pytest.raises(UserFacingError, match="at least one"):
        parse_budgets(text)


def test_parse_budgets_caps_the_number_of_budgets():
    assert len(parse_budgets(", ".join(str(n) for n in range(MAX_BUDGETS)))) == MAX_BUDGETS
    with pytest.raises(UserFacingError) as raised:
        parse_budgets(", ".join(str(n) for n in range(MAX_BUDGETS + 1)))
    assert str(MAX_BUDGETS) in str(raised.value) and str(MAX_BUDGETS + 1) in str(raised.value)


def test_budget_labels_read_back_as_the_same_budgets():
    budgets = [0, 100, 1024, 1536, 4096, THINKING_BUDGET_MAX, NO_LIMIT]
    labels = [budget_label(budget) for budget in budgets]
    assert labels[2] == "1k" and labels[-1] == TEXT["no_limit"]
    assert parse_budgets(", ".join(labels)) == budgets


# ---- comparing answers -------------------------------------------------------------------------

@pytest.mark.parametrize("text,normal", [
    ("  The answer is RED. ", "the answer is red"),
    ("3 !?", "3"),
    ("a \n  b", "a b"),
    ("红色。", "红色"),
    ("Straße", "strasse"),
    ("...", ""),
])
def test_normalise_answer(text, normal):
    assert normalise_answer(text) == normal


@pytest.mark.parametrize("first,second,same", [
    ("The answer is red.", "the answer is red", True),
    ("42", " 42! ", True),
    ("red", "blue", False),
    ("3.5", "35", False),
])
def test_answers_agree(first, second, same):
    assert answers_agree(first, second) is same


@pytest.mark.parametrize("rows,expected", [
    ([row(0, "Red."), row(8, "blue"), row(NO_LIMIT, "red")],
     [Agreement.AGREES, Agreement.DIFFERS, Agreement.REFERENCE]),
    # the unlimited run was stopped: the largest budget that answered is the reference
    ([row(0, "red"), row(32, "Red"), row(NO_LIMIT, "re", FinishReason.STOPPED)],
     [Agreement.AGREES, Agreement.REFERENCE, Agreement.NO_ANSWER]),
    # cut-off and failed answers are not compared
    ([row(4096, "red", FinishReason.ANSWER_BUDGET), row(0, "red"), row(8, "", FinishReason.ERROR, error="x")],
     [Agreement.NO_ANSWER, Agreement.REFERENCE, Agreement.NO_ANSWER]),
    ([row(0, "", FinishReason.ERROR, error="bad image")], [Agreement.NO_ANSWER]),
])
def test_agreement_compares_with_the_largest_budget_that_answered(rows, expected):
    assert agreement(rows) == expected


# ---- table and plot ----------------------------------------------------------------------------

def test_table_is_in_budget_order_with_every_column():
    rows = [row(NO_LIMIT, "red", thinking=40), row(0, "blue", thinking=1),
            row(8, "", FinishReason.ERROR, error="The GPU ran out of memory.")]
    table = sweep_table(rows)
    assert [line[0] for line in table] == ["0", "8", TEXT["no_limit"]]
    assert all(len(line) == len(SWEEP_HEADERS) for line in table)
    assert [line[1] for line in table] == [1, 5, 40]
    assert table[1][5] == "The GPU ran out of memory."
    labels = {kind: style[0] for kind, style in AGREEMENT_STYLE.items()}
    assert [line[6] for line in table] == [labels[Agreement.DIFFERS], labels[Agreement.NO_ANSWER],
                                           labels[Agreement.REFERENCE]]


def scatter_points(axes) -> dict[str, list[tuple[float, float]]]:
    return {collection.get_label(): [tuple(point) for point in collection.get_offsets()]
            for collection in axes.collections}


def test_plot_has_tokens_and_seconds_against_budget_with_no_limit_last():
    rows = [row(NO_LIMIT, "red", thinking=90, seconds=3.0), row(0, "blue", thinking=1, seconds=0.5),
            row(256, "red", thinking=200, seconds=2.0), row(1024, "", FinishReason.STOPPED, thinking=50)]
    figure = sweep_plot(rows)
    assert len(figure.axes) == 2
    tokens_axes, seconds_axes = figure.axes
    assert [tick.get_text() for tick in seconds_axes.get_xticklabels()] == ["0", "256", "1k", TEXT["no_limit"]]
    labels = {kind: style[0] for kind, style in AGREEMENT_STYLE.items()}
    assert scatter_points(tokens_axes) == {
        labels[Agreement.DIFFERS]: [(0, 1)], labels[Agreement.AGREES]: [(1, 200)],
        labels[Agreement.NO_ANSWER]: [(2, 50)], labels[Agreement.REFERENCE]: [(3, 90)]}
    assert sorted(point for points in scatter_points(seconds_axes).values() for point in points) == \
        [(0, 0.5), (1, 2.0), (2, 1.0), (3, 3.0)]
    measured, caps = tokens_axes.lines
    assert list(measured.get_xdata()) == [0, 1, 2, 3] and list(measured.get_ydata()) == [1, 200, 50, 90]
    assert list(caps.get_xdata()) == [0, 1, 2] and list(caps.get_ydata()) == [0, 256, 1024]


def test_plot_is_accepted_by_gradio_and_empty_rows_give_no_plot():
    assert sweep_plot([]) is None
    data = gr.Plot().postprocess(sweep_plot([row(0), row(8)]))
    assert data.type == "matplotlib" and data.plot.startswith("data:image/")


def test_progress_text_says_where_the_sweep_is():
    running = next(run_sweep(None, "q", (), [8, NO_LIMIT], GenerationOptions.validated(seed=1), threading.Event()))
    assert running.running.budget == 8 and "(1 of 2)" in progress_text(running)
    assert "Stopped after 1 of 2" in progress_text(SweepProgress((row(8),), (8, NO_LIMIT), None, stopped=True))


# ---- sweeps on the tiny model ------------------------------------------------------------------

def hand_over_tokens(engine) -> int:
    tracker = make_tracker(engine.loaded.tokenizer, 0)
    return len(tracker.hand_over_ids + tracker.marker_ids)


def test_a_sweep_runs_each_budget_through_the_engine_and_holds_it(tiny_engine):
    image, question = puzzle()
    budgets = [0, 8, 32, NO_LIMIT]
    options = GenerationOptions.validated(**GREEDY)
    progress = list(run_sweep(tiny_engine, question, [image], budgets, options, threading.Event()))
    rows = progress[-1].rows
    assert [r.budget for r in rows] == budgets and progress[-1].running is None and not progress[-1].stopped
    assert {p.running.budget for p in progress if p.running} == set(budgets)
    assert [len(p.rows) for p in progress] == sorted(len(p.rows) for p in progress)
    for r in rows[:-1]:
        assert r.thinking_tokens <= r.budget + hand_over_tokens(tiny_engine)
    assert all(r.finish_reason in ANSWERED and r.answer and r.seconds > 0 and not r.error for r in rows)
    assert len({r.seed for r in rows}) == 1 and rows[0].seed >= 0
    # The same request sent to the engine directly gives the same run.
    direct = collect(tiny_engine.stream(Request(question, (image,), options=options.replace(
        thinking_budget=8, seed=rows[1].seed))))
    assert (direct["answer"].strip(), direct["stats"].thinking_tokens) == (rows[1].answer, rows[1].thinking_tokens)
    figure = sweep_plot(rows)
    assert len(figure.axes) == 2
    assert [t.get_text() for t in figure.axes[1].get_xticklabels()] == ["0", "8", "32", TEXT["no_limit"]]
    assert sum(len(c.get_offsets()) for c in figure.axes[0].collections) == len(budgets)


def test_stop_mid_sweep_ends_the_running_answer_and_skips_the_rest(tiny_engine):
    image, question = puzzle(1)
    stop, seen, stopper = threading.Event(), [], None

    def stop_once_generating():
        wait_until(lambda: tiny_engine.active_worker is not None, 60, "the second budget to start")
        stop.set()

    long_thoughts = GenerationOptions.validated(**GREEDY, min_thinking=2048)  # budget 0 still ends at once
    with slowed(tiny_engine, 0.02):
        for progress in run_sweep(tiny_engine, question, [image], [0, 2048, 4096], long_thoughts, stop):
            seen.append(progress)
            if len(progress.rows) == 1 and stopper is None:
                stopper = threading.Thread(target=stop_once_generating)
                stopper.start()
    stopper.join()
    final = seen[-1]
    assert final.stopped and final.running is None
    assert [r.budget for r in final.rows] == [0, 2048]
    assert final.rows[0].finish_reason is not FinishReason.STOPPED
    assert final.rows[1].finish_reason is FinishReason.STOPPED and final.rows[1].thinking_tokens < 2048
    assert all(p.running is None or p.running.budget != 4096 for p in seen)
    assert tiny_engine.active_worker is None and tiny_engine.lock.queue_length == 0


def test_closing_the_sweep_mid_answer_frees_the_model(tiny_engine):
    image, question = puzzle(2)
    with slowed(tiny_engine, 0.02):
        sweep = run_sweep(tiny_engine, question, [image], [4096, NO_LIMIT],
                          GenerationOptions.validated(**GREEDY, min_thinking=2048), threading.Event())
        for progress in sweep:
            if progress.running and progress.running.thinking_tokens > 0:
                break
        sweep.close()
    assert tiny_engine.active_worker is None and tiny_engine.lock.queue_length == 0


def test_an_input_error_ends_the_sweep_with_the_engines_message(tiny_engine):
    bad = b"%PDF-1.4 not an image"
    progress = list(run_sweep(tiny_engine, "What is this?", [bad], [0, 8],
                              GenerationOptions.validated(**GREEDY), threading.Event()))
    rows = progress[-1].rows
    engine_error = collect(tiny_engine.stream(Request("What is this?", (bad,))))["errors"][0].message
    assert len(rows) == 1 and rows[0].finish_reason is FinishReason.ERROR
    assert rows[0].error == engine_error and "PDF" in engine_error
    assert sweep_table(rows)[0][5] == engine_error


def test_a_sweep_stopped_before_it_starts_runs_nothing(tiny_engine):
    stop = threading.Event()
    stop.set()
    assert list(run_sweep(tiny_engine, "q", [], [0, 8], GenerationOptions.validated(**GREEDY), stop)) == []


# ---- the model's own thinking against the budget -------------------------------------------------

def scripted(*events):
    class Scripted:
        def stream(self, request):
            yield from events
    return Scripted()


def test_the_forced_closing_is_counted_apart_from_the_models_own_thinking():
    stats = Stats(prompt_tokens=40, image_tiles=(1,), thinking_tokens=26, answer_tokens=3, ttft_s=0.1, thinking_s=0.2,
                  total_s=0.3, tokens_per_s=90.0, budget_fired=True, finish_reason=FinishReason.BUDGET_THEN_ANSWERED)
    engine = scripted(ThinkingDelta("a" * 8, 8), BudgetReached(8), ThinkingDelta(" enough.", 26),
                      AnswerDelta("red", 3), stats, Done(FinishReason.BUDGET_THEN_ANSWERED))
    rows = list(run_sweep(engine, "q", (), [8], GenerationOptions.validated(seed=1), threading.Event()))[-1].rows
    assert (rows[0].thinking_tokens, rows[0].own_thinking_tokens, rows[0].forced_tokens) == (26, 8, 18)
    assert sweep_table(rows)[0][1:3] == [8, 18]
    assert SWEEP_HEADERS[1:3] == [TEXT["header_thinking"], TEXT["header_forced"]]
    measured, caps = sweep_plot(rows).axes[0].lines
    assert list(measured.get_ydata()) == [8] and list(caps.get_ydata()) == [8]
    assert "forced closing not counted" in caps.get_label()


def test_without_the_budget_firing_nothing_is_forced():
    assert forced_part(30, None) == 0 and forced_part(26, 8) == 18 and forced_part(8, 8) == 0


def test_on_the_tiny_model_the_own_thinking_stays_within_each_budget(tiny_engine):
    image, question = puzzle(3)
    options = GenerationOptions.validated(**GREEDY)
    rows = list(run_sweep(tiny_engine, question, [image], [8, 32], options, threading.Event()))[-1].rows
    for r in rows:
        assert r.own_thinking_tokens <= r.budget, (r.budget, r.own_thinking_tokens, r.forced_tokens)
        fired = r.finish_reason is FinishReason.BUDGET_THEN_ANSWERED
        assert (r.forced_tokens > 0) == fired and r.own_thinking_tokens + r.forced_tokens == r.thinking_tokens


# Run in a fresh interpreter whose matplotlib reads the font list cached in MPLCONFIGDIR.
_FONTS_SCRIPT = """
import json, sys
from matplotlib import font_manager
cached = {font.name for font in font_manager.fontManager.ttflist}
from ui.page.sweep import CJK_FAMILIES, _plot_fonts
chosen = _plot_fonts()["font.family"]
print(json.dumps({"cached_cjk": sorted(cached & set(CJK_FAMILIES)), "chosen": chosen}))
"""


def test_the_plot_finds_a_cjk_font_installed_after_matplotlib_cached_its_font_list(tmp_path):
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    from matplotlib import font_manager

    from ui.page.sweep import CJK_FAMILIES

    if not any("cjk" in Path(path).name.lower() for path in font_manager.findSystemFonts()):
        pytest.skip("no CJK font installed (Debian: fonts-noto-cjk)")
    env = {**os.environ, "MPLCONFIGDIR": str(tmp_path), "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    run = [sys.executable, "-c", _FONTS_SCRIPT]
    subprocess.run(run, env=env, check=True, capture_output=True, timeout=300)  # builds the cache in tmp_path
    cache = next(tmp_path.glob("fontlist-*.json"))
    listed = json.loads(cache.read_text())
    listed["ttflist"] = [font for font in listed["ttflist"] if "cjk" not in font["fname"].lower()]
    cache.write_text(json.dumps(listed))  # as if the CJK fonts were installed after the cache was built
    result = json.loads(subprocess.run(run, env=env, check=True, capture_output=True, text=True,
                                       timeout=300).stdout.strip().splitlines()[-1])
    assert result["cached_cjk"] == []  # the cache really lacked them
    assert set(result["chosen"]) & set(CJK_FAMILIES), result
