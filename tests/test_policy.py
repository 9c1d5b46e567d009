"""Per-address rate limit, structured request logs and the MCP tool, unit-tested and through the server."""
from __future__ import annotations

import base64
import json
import logging
import re
from pathlib import Path
from types import SimpleNamespace

import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

import app as app_module
from model.events import GenerationOptions
from tests.clients_drive import mcp_session
from ui.page.handlers import ModelInfo, ServingPolicy
from ui.page.layout import build_app
from ui.serving.ratelimit import WINDOW_S, RateLimiter, client_address
from ui.serving.requestlog import RequestLog

EXAMPLE = str(Path(__file__).resolve().parent.parent / "assets" / "examples" / "puzzle_count.png")
QUESTION = "How many red shapes are there?"


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_rate_limit_allows_n_per_minute_per_address_then_says_how_long_to_wait():
    clock = FakeClock()
    limiter = RateLimiter(3, clock=clock)
    assert [limiter.check("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    clock.now += 10
    assert limiter.check("a") == pytest.approx(WINDOW_S - 10)
    assert limiter.check("b") == 0.0  # another address is not affected
    clock.now += WINDOW_S - 10
    assert limiter.check("a") == 0.0  # the oldest request left the window


def test_rate_limit_off_counts_nothing_and_memory_of_addresses_is_bounded():
    assert RateLimiter(0).check("a") == 0.0 and not RateLimiter(0).enabled
    limiter = RateLimiter(1, clock=FakeClock(), max_clients=5)
    for index in range(50):
        limiter.check(f"10.0.0.{index}")
    assert len(limiter._recent) == 5


def test_forwarded_address_is_used_only_behind_a_trusted_proxy():
    request = SimpleNamespace(headers={"x-forwarded-for": "203.0.113.9, 10.0.0.1"}, client=SimpleNamespace(host="10.0.0.1"))
    assert client_address(request, trust_forwarded=True) == "203.0.113.9"
    assert client_address(request, trust_forwarded=False) == "10.0.0.1"
    assert client_address(None, trust_forwarded=True) == "unknown"


def test_request_log_line_has_sizes_and_tokens_but_no_question_unless_asked(caplog, tmp_path):
    image = tmp_path / "x.png"
    image.write_bytes(b"\x89PNG" + b"\0" * 96)
    stats = {"image_tiles": [5], "prompt_tokens": 300, "thinking_tokens": 12, "answer_tokens": 4, "ttft_s": 0.12345}
    with caplog.at_level(logging.INFO, logger="r1v.requests"):
        RequestLog().write(request_id="abc", endpoint="chat", session="0123456789", question="secret question",
                           images=[str(image)], stats=stats, finish="answered", seconds=1.23456)
        RequestLog(log_questions=True).write(request_id="d", endpoint="reason", session=None, question="q?",
                                             images=[], stats=None, finish="error", seconds=0, error_kind="input")
    first, second = (json.loads(record.getMessage()) for record in caplog.records)
    assert first["image_bytes"] == 100 and first["tiles"] == [5] and first["session"] == "01234567"
    assert first["ttft_s"] == 0.123 and first["finish"] == "answered"
    assert "question" not in first and "secret" not in caplog.records[0].getMessage()
    assert second["question"] == "q?" and second["error"] == "input"


def test_spaces_turn_the_rate_limit_on_and_trust_the_proxy(monkeypatch):
    monkeypatch.delenv("SPACE_ID", raising=False)
    local = app_module.serving_policy(app_module.parse_args([]))
    monkeypatch.setenv("SPACE_ID", "someone/r1v-demo")
    spaces = app_module.serving_policy(app_module.parse_args([]))
    assert local.rate_limit_per_minute == 0 and not local.trust_forwarded
    assert spaces.rate_limit_per_minute > 0 and spaces.trust_forwarded
    assert app_module.parse_args(["--rate-limit", "3"]).rate_limit == 3


@pytest.fixture(scope="module")
def limited_app(tiny_engine, launch):
    defaults = GenerationOptions.validated(answer_budget=16, max_tiles=2)
    demo = build_app(tiny_engine, ModelInfo("tiny", is_tiny=True, device="CPU", defaults=defaults),
                     policy=ServingPolicy(rate_limit_per_minute=2))
    return launch(demo, mcp=True)


def reason(client, question=QUESTION):
    return client.predict(images=[handle_file(EXAMPLE)], question=question, thinking_budget=4,
                          max_new_tokens=16, seed=1, api_name="/reason")


def test_the_third_question_in_a_minute_is_refused_with_the_limit_and_logged(limited_app, caplog):
    client = Client(limited_app, verbose=False)
    with caplog.at_level(logging.INFO, logger="r1v.requests"):
        for _ in range(2):
            assert reason(client)["stats"]["finish_reason"] != "error"
        with pytest.raises(AppError, match=r"limit is 2 per minute.*try again in \d+ s"):
            reason(client)
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "r1v.requests"]
    assert [line["finish"] for line in lines][-1] == "rate_limited"
    answered = [line for line in lines if line["finish"] != "rate_limited"]
    assert len(answered) == 2 and all(line["prompt_tokens"] > 0 and line["tiles"] for line in answered)
    assert all(QUESTION not in r.getMessage() for r in caplog.records)


def test_mcp_lists_reason_with_its_description_and_arguments(limited_app):
    async def list_tools(session):
        return (await session.list_tools()).tools

    tools = {tool.name: tool for tool in mcp_session(limited_app, list_tools)}
    assert "reason" in tools
    assert "chain of thought" in tools["reason"].description
    assert {"images", "question", "thinking_budget"} <= set(tools["reason"].inputSchema["properties"])
    assert not any(name in tools for name in ("stop", "lambda"))


def test_the_mcp_tool_answers_about_a_data_url_image_in_json_and_refuses_a_loopback_url(tiny_engine, launch):
    defaults = GenerationOptions.validated(answer_budget=16, max_tiles=2)
    demo = build_app(tiny_engine, ModelInfo("tiny", is_tiny=True, defaults=defaults))
    url = launch(demo, mcp=True)
    image = "data:image/png;base64," + base64.b64encode(Path(EXAMPLE).read_bytes()).decode()

    async def ask(session, images):
        result = await session.call_tool("reason", {"images": images, "question": QUESTION, "thinking_budget": 8,
                                                    "max_new_tokens": 16, "temperature": 0})
        return result.isError, " ".join(getattr(part, "text", "") for part in result.content)

    failed, text = mcp_session(url, lambda session: ask(session, [image]))
    final = json.loads(text)
    assert not failed and re.fullmatch(r"\[\d+\]", json.dumps(final["stats"]["image_tiles"]))
    assert final["stats"]["finish_reason"]
    failed, text = mcp_session(url, lambda session: ask(session, [f"{url}gradio_api/info"]))
    assert failed and "is on a local or private network address, which is never fetched" in text


def test_a_bad_limit_in_the_environment_stops_the_start_with_its_name(monkeypatch, capsys):
    monkeypatch.setenv("R1V_MAX_PIXELS", "lots")
    with pytest.raises(SystemExit):
        app_module.parse_args([])
    assert "R1V_MAX_PIXELS must be a whole number" in capsys.readouterr().err


def test_the_upload_limit_follows_the_file_size_limit_unless_given(monkeypatch):
    monkeypatch.setenv("R1V_MAX_FILE_MB", "7")
    assert app_module.parse_args([]).max_file_size == "7mb"
    assert app_module.parse_args(["--max-file-size", "3mb"]).max_file_size == "3mb"


def test_mcp_is_off_by_default_and_on_with_the_flag_or_its_variable(monkeypatch):
    monkeypatch.delenv("R1V_MCP", raising=False)
    assert not app_module.parse_args([]).mcp and app_module.parse_args(["--mcp"]).mcp
    monkeypatch.setenv("R1V_MCP", "1")
    assert app_module.parse_args([]).mcp
