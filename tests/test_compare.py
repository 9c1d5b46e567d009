"""The Compare tab: one image and question answered two ways, side by side.

- Two remote backends (two scripted OpenAI-compatible servers on 127.0.0.1, streaming slowly):
  both columns stream at once, and each column's Stop stops its own server's stream only.
- One local model (the bundled tiny one) with two settings: the second column waits for the first
  and says so; the same settings give answers that agree; a column stopped before it starts ends
  without running. A browser test fills the tab and saves a screenshot to tests/artifacts/.
- The agreement line for agreeing, differing and unfinished answers.
"""
from __future__ import annotations

import time
from pathlib import Path

import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

from model.events import AnswerDelta, Done, FinishReason, GenerationOptions, ThinkingDelta
from model.remote.engine import RemoteEngine
from tests.conftest import slowed, wait_until
from tests.remote_server import FakeServer, chat_chunk
from ui.page.compare import agreement_line
from ui.page.handlers import ModelInfo
from ui.page.layout import build_app
from ui.render.messages import LiveTurn

EXAMPLE = str(Path(__file__).resolve().parent.parent / "assets" / "examples" / "puzzle_count.png")
QUESTION = "How many red shapes are there?"
AGREE, DIFFER, NOTHING = "The answers agree", "The answers differ", "Nothing to compare"


# ---- two scripted servers, streaming slowly ---------------------------------------------------------

class PacedServer(FakeServer):
    """A FakeServer that sends its SSE chunks `pace_s` apart and records when each went out, and
    whether the client hung up before the end."""

    def __init__(self, thinking_chunks: int, answer: str, pace_s: float):
        script = ([chat_chunk(reasoning=f" step{i}") for i in range(thinking_chunks)]
                  + [chat_chunk(content=answer), chat_chunk(finish="stop"), "[DONE]"])
        super().__init__(lambda path, body: (200, script))
        self.sent: list[float] = []  # monotonic time of each chunk written
        self.hung_up = False
        self.script_length = len(script)
        server, base = self, self.httpd.RequestHandlerClass

        class Paced(base):
            def _send(self, status: int, kind: str, parts: list[str]) -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.end_headers()
                try:
                    for part in parts:
                        self.wfile.write(part.encode())
                        self.wfile.flush()
                        server.sent.append(time.monotonic())
                        time.sleep(pace_s)
                except (BrokenPipeError, ConnectionResetError):
                    server.hung_up = True

        self.httpd.RequestHandlerClass = Paced


@pytest.fixture
def two_backends(launch):
    with PacedServer(40, "Four.", 0.05) as first, PacedServer(40, "four", 0.05) as second:
        demo = build_app(RemoteEngine(first.endpoint, model="fake", timeout_s=10),
                         ModelInfo("first", device="the first server"),
                         compare_engine=RemoteEngine(second.endpoint, model="fake", timeout_s=10))
        yield Client(launch(demo), verbose=False), first, second


def compare(client: Client, budget_a="no limit", budget_b="no limit", temperature_a=0, temperature_b=0, seed=3,
            blind=False):
    return client.submit(handle_file(EXAMPLE), QUESTION, budget_a, temperature_a, budget_b, temperature_b, seed,
                         blind, api_name="/compare")


def thinking_of(chat: list[dict]) -> str:
    bubbles = [m for m in chat if m["role"] == "assistant" and (m.get("metadata") or {}).get("title")]
    return bubbles[0]["content"][0]["text"] if bubbles else ""


def answer_of(chat: list[dict]) -> str:
    answers = [m for m in chat if m["role"] == "assistant" and not (m.get("metadata") or {}).get("title")]
    return answers[-1]["content"][0]["text"] if answers else ""


def test_two_backends_stream_at_once_and_their_answers_are_compared(two_backends):
    client, first, second = two_backends
    job = compare(client)
    both_thinking = False
    for chat_a, stats_a, chat_b, stats_b, agreement in job:
        unfinished = "Thinking" in stats_a and "Thinking" in stats_b
        both_thinking |= unfinished and bool(thinking_of(chat_a)) and bool(thinking_of(chat_b))
    chat_a, stats_a, chat_b, stats_b, agreement = job.result(timeout=60)
    assert both_thinking, "no update showed both columns thinking at the same time"
    # The servers' own clocks: the second began sending before the first had finished.
    assert second.sent[0] < first.sent[-1] and first.sent[0] < second.sent[-1]
    assert (answer_of(chat_a), answer_of(chat_b)) == ("Four.", "four")
    assert thinking_of(chat_a).count("step") == thinking_of(chat_b).count("step") == 40
    assert stats_a.startswith("**first**") and "Answered" in stats_a and "Answered" in stats_b
    assert AGREE in agreement  # "Four." and "four" agree once case and final punctuation are set aside


@pytest.mark.parametrize("stopped", [0, 1])
def test_each_stop_stops_only_its_own_column(launch, stopped):
    with PacedServer(400, "Four.", 0.02) as first, PacedServer(400, "Four.", 0.02) as second:
        demo = build_app(RemoteEngine(first.endpoint, model="fake", timeout_s=10), ModelInfo("first"),
                         compare_engine=RemoteEngine(second.endpoint, model="fake", timeout_s=10))
        client = Client(launch(demo), verbose=False)
        servers = (first, second)
        job = compare(client)
        wait_until(lambda: len(first.sent) > 5 and len(second.sent) > 5, 30, "both servers streaming")
        client.predict(api_name=f"/compare_stop_{'ab'[stopped]}")  # the same session as the job
        chat_a, stats_a, chat_b, stats_b, agreement = job.result(timeout=60)
        wait_until(lambda: servers[stopped].hung_up, 10, "the stopped column's server to see the hang-up")
    chats, stats = (chat_a, chat_b), (stats_a, stats_b)
    kept = 1 - stopped
    assert "Stopped" in stats[stopped] and "Answered" in stats[kept]
    assert answer_of(chats[kept]) == "Four." and "Four." not in answer_of(chats[stopped])
    assert len(servers[stopped].sent) < servers[stopped].script_length  # its stream was cut
    assert len(servers[kept].sent) == servers[kept].script_length and not servers[kept].hung_up
    assert NOTHING in agreement


def test_the_pages_main_stop_stops_both_columns(launch):
    with PacedServer(400, "Four.", 0.02) as first, PacedServer(400, "Four.", 0.02) as second:
        demo = build_app(RemoteEngine(first.endpoint, model="fake", timeout_s=10), ModelInfo("first"),
                         compare_engine=RemoteEngine(second.endpoint, model="fake", timeout_s=10))
        client = Client(launch(demo), verbose=False)
        job = compare(client)
        wait_until(lambda: len(first.sent) > 5 and len(second.sent) > 5, 30, "both servers streaming")
        client.predict(api_name="/stop")
        _, stats_a, _, stats_b, agreement = job.result(timeout=60)
        wait_until(lambda: first.hung_up and second.hung_up, 10, "both servers to see the hang-up")
    assert "Stopped" in stats_a and "Stopped" in stats_b and NOTHING in agreement


# ---- one local model, two settings ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def local(tiny_engine, launch):
    defaults = GenerationOptions.validated(thinking_budget=8, answer_budget=32, max_tiles=4)
    return Client(launch(build_app(tiny_engine, ModelInfo("tiny", is_tiny=True, defaults=defaults))), verbose=False)


def test_on_one_local_model_the_second_column_waits_for_the_first(local):
    job = compare(local, budget_a="0", budget_b="no limit")
    waited, overlapped = False, False
    for chat_a, stats_a, chat_b, stats_b, agreement in job:
        a_done = "Answered" in stats_a or "Stopped" in stats_a
        waited |= "Waits for A to finish" in stats_b and not a_done
        overlapped |= not a_done and bool(thinking_of(chat_b))
    chat_a, stats_a, chat_b, stats_b, agreement = job.result(timeout=120)
    assert waited and not overlapped
    assert "thinking budget 0" in stats_a and "thinking budget no limit" in stats_b
    assert "seed 3" in stats_a and "seed 3" in stats_b
    assert answer_of(chat_a).strip() and answer_of(chat_b).strip() and agreement


def test_the_same_settings_give_answers_that_agree(local):
    chat_a, _, chat_b, _, agreement = compare(local, budget_a="8", budget_b="8").result(timeout=120)
    assert answer_of(chat_a) == answer_of(chat_b) and AGREE in agreement


def test_a_column_stopped_while_it_waits_never_runs(local, tiny_engine):
    with slowed(tiny_engine, 0.05):
        job = compare(local)
        wait_until(lambda: any("Thinking" in (update[1] or "") for update in _outputs(job)), 60, "A thinking")
        local.predict(api_name="/compare_stop_b")
        time.sleep(0.5)
        local.predict(api_name="/compare_stop_a")
        chat_a, stats_a, chat_b, stats_b, agreement = job.result(timeout=60)
    assert "Stopped" in stats_a and "Stopped" in stats_b
    assert thinking_of(chat_a) and not thinking_of(chat_b)  # B never reached the model
    assert NOTHING in agreement


def _outputs(job) -> list:
    return job.outputs() or [("", "")]


def test_a_bad_budget_is_refused_with_its_range(local):
    with pytest.raises(AppError, match="“lots” is not a thinking budget: use whole numbers from 0 to"):
        compare(local, budget_a="lots").result(timeout=60)
    assert answer_of(compare(local, budget_a="0", budget_b="0").result(timeout=120)[0]).strip()


def test_a_file_the_engine_refuses_is_named_in_both_columns(local, tiny_engine, tmp_path):
    from tests.test_hostile import watching

    broken = tmp_path / "cut.heic"
    broken.write_bytes(b"\x00\x00\x00\x1cftypheic\x00\x00\x00\x00mif1heic")  # a HEIC header, then nothing
    with watching(tiny_engine) as activity:
        job = local.submit(handle_file(str(broken)), QUESTION, "0", 0, "0", 0, 3, False, api_name="/compare")
        chat_a, stats_a, chat_b, stats_b, agreement = job.result(timeout=60)
    assert not activity.ran
    assert all("cut.heic is not a readable image: its HEIC data is damaged or cut short" in line
               for line in (stats_a, stats_b))
    assert NOTHING in agreement
    assert answer_of(compare(local, budget_a="0", budget_b="0").result(timeout=120)[0]).strip()  # still serving


# ---- the agreement line -----------------------------------------------------------------------------------

def finished(answer: str, reason: FinishReason = FinishReason.ANSWERED) -> LiveTurn:
    live = LiveTurn(QUESTION, ())
    for event in (ThinkingDelta("hm", 1), AnswerDelta(answer, 2), Done(reason)):
        live.apply(event)
    return live


@pytest.mark.parametrize("first, second, words", [
    (finished("The answer is 2."), finished("the answer is 2"), AGREE),
    (finished("The answer is 2."), finished("The answer is 3."), DIFFER),
    (finished("The answer is 2."), finished("The answer", FinishReason.STOPPED), NOTHING),
    (finished("The answer is 2."), finished("", FinishReason.ANSWERED), NOTHING),
])
def test_the_agreement_line(first, second, words):
    assert words in agreement_line(first, second)


def test_no_agreement_line_while_a_column_runs():
    assert agreement_line(finished("2"), LiveTurn(QUESTION, ())) == ""


# ---- in a browser ----------------------------------------------------------------------------------------

@pytest.mark.browser
def test_the_compare_tab_in_a_browser(local, tiny_engine, browser):
    from tests.test_browser import CHROMIUM, shoot

    if not Path(CHROMIUM).exists():
        pytest.skip("Chromium is not installed (apt-get install -y chromium)")
    page = browser.new_page(viewport={"width": 1400, "height": 1100})
    page.set_default_timeout(30_000)
    page.goto(local.src)
    page.wait_for_selector("#model-status:has-text('ready')")
    page.locator("#views button[role=tab]:has-text('Compare')").click()
    page.locator("#compare-image input[type=file]").set_input_files(EXAMPLE)
    page.wait_for_selector("#compare-image img")
    page.locator("#compare-question textarea").fill(QUESTION)
    page.click("#compare-run")  # (B's "Waits for A" line lasts as long as A: checked above through the API)
    page.wait_for_selector("#compare-agreement:has-text('answers')", timeout=120_000)
    # B thought without a limit; A, at budget 0, shows a bubble only if its hand-over left any text.
    assert page.locator("#compare-chat-b .thought-group").count() == 1
    assert page.locator("#compare-chat-a .thought-group").count() <= 1
    for side in ("a", "b"):
        assert page.locator(f"#compare-chat-{side} [data-testid=bot]").last.inner_text().strip()
    assert "thinking budget 0" in page.locator("#compare-stats-a").inner_text()
    assert "thinking budget no limit" in page.locator("#compare-stats-b").inner_text()
    shoot(page, "browser-compare.png")
    page.close()


def test_only_one_local_model_answering_both_columns_makes_them_take_turns(tiny_engine):
    from ui.page.compare import overlaps

    remote, other = RemoteEngine("http://127.0.0.1:9/v1"), RemoteEngine("http://127.0.0.1:10/v1")
    assert overlaps([remote, other]) and overlaps([remote, remote]) and overlaps([tiny_engine, remote])
    assert not overlaps([tiny_engine, tiny_engine])
