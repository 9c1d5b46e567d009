"""The `reason` MCP tool through the `mcp` SDK's streamable-HTTP client, against the bundled model:
its schemas, JSON results, streamed progress and refusals; and the schema builder on its own."""
from __future__ import annotations

import json

import pytest
from mcp.shared.exceptions import McpError

from tests.clients_drive import (EXAMPLE, FINAL_KEYS, QUESTION, UPLOAD_LIMIT, call_reason, data_url,
                                 mcp_reason, mcp_session, serve)
from ui.i18n.words import EN
from ui.http.mcp_tool import MIB, _request_id, body_limit_bytes, input_schema

SETTINGS = {"thinking_budget": 8, "max_new_tokens": 16, "temperature": 0, "seed": 1}


@pytest.fixture(scope="module")
def url(tiny_engine, launch):
    return serve(tiny_engine, launch)[0]


def listed(url: str):
    async def work(session):
        return (await session.list_tools()).tools

    return {tool.name: tool for tool in mcp_session(url, work)}


def test_the_tool_list_has_reason_with_url_images_an_output_schema_and_the_real_size_limit(url):
    tools = listed(url)
    assert list(tools) == ["reason"]
    tool = tools["reason"]
    images = tool.inputSchema["properties"]["images"]
    assert images["type"] == "array" and images["items"] == {"type": "string"}
    assert "data:image/png;base64" in images["description"] and "https://" in images["description"]
    schema_text = json.dumps(tool.inputSchema)
    assert not any(field in schema_text for field in ("orig_name", "mime_type", "is_stream", "FileData"))
    assert "question" in tool.inputSchema["required"] and set(tool.inputSchema["required"]) <= {"images", "question"}
    budget = tool.inputSchema["properties"]["thinking_budget"]
    assert budget["type"] == "integer" and budget["default"] == -1 and "-1" in budget["description"]
    assert set(tool.outputSchema["required"]) == FINAL_KEYS
    limit_mb = f"{body_limit_bytes(UPLOAD_LIMIT) / MIB:.1f}"
    assert f"at most {limit_mb} MiB" in tool.description and "chain of thought" in tool.description
    assert "Each image may be at most 5 MiB" in images["description"]  # the upload limit it was served with
    assert "Args:" not in tool.description and "gradio" not in tool.description.lower()


def test_a_call_with_a_data_url_returns_json_and_progress_carries_the_text_so_far(url):
    progress: list[str] = []
    result = mcp_reason(url, {"images": [data_url(EXAMPLE)], "question": QUESTION, **SETTINGS}, progress)
    assert not result["error"], result["text"]
    final = result["structured"]
    assert set(final) == FINAL_KEYS and json.loads(result["text"]) == final
    assert final["answer"] and final["reasoning"] and final["status"] == ""
    assert final["stats"]["image_tiles"] == [5] and final["stats"]["finish_reason"] != "error"
    updates = [json.loads(message) for message in progress]
    assert len(updates) >= 2 and updates[-1] == final
    thinking = [update["reasoning"] for update in updates]
    assert any(0 < len(text) < len(final["reasoning"]) for text in thinking)  # partial text streamed
    assert all(final["reasoning"].startswith(text) for text in thinking)


def test_the_same_greedy_call_gives_the_same_answer_as_gradio_client(url):
    from gradio_client import Client, handle_file

    by_mcp = mcp_reason(url, {"images": [data_url(EXAMPLE)], "question": QUESTION, **SETTINGS})["structured"]
    by_python = Client(url, verbose=False).predict(images=[handle_file(str(EXAMPLE))], question=QUESTION,
                                                   **SETTINGS, api_name="/reason")
    assert by_mcp["answer"] == by_python["answer"] and by_mcp["reasoning"] == by_python["reasoning"]
    assert by_mcp["stats"]["image_tiles"] == by_python["stats"]["image_tiles"]


@pytest.mark.parametrize("image, key", [
    ("data:image/png;base64,not*base64", "error.data_url_invalid"),
    ("data:text/plain;base64,aGVsbG8=", "error.data_url_invalid"),
])
def test_a_malformed_data_url_is_named_as_such(url, image, key):
    result = mcp_reason(url, {"images": [image], "question": QUESTION})
    assert result["error"] and result["text"] == EN(key, url=image)


def test_a_loopback_url_is_refused_as_not_public(url):
    image = f"{url}gradio_api/info"
    result = mcp_reason(url, {"images": [image], "question": QUESTION})
    assert result["error"] and result["text"] == EN("error.url_private", url=image)


def test_an_oversize_request_gets_the_limit_and_the_session_goes_on(url):
    limit = body_limit_bytes(UPLOAD_LIMIT)
    huge = "data:image/png;base64," + "A" * limit

    async def work(session):
        with pytest.raises(McpError) as refused:
            await call_reason(session, {"images": [huge], "question": QUESTION})
        after = await call_reason(session, {"images": [data_url(EXAMPLE)], "question": QUESTION, **SETTINGS})
        return str(refused.value), after

    refusal, after = mcp_session(url, work)
    assert f"the limit is {limit / MIB:.1f} MiB" in refusal and "https: URL" in refusal
    assert not after["error"] and after["structured"]["answer"]


def test_an_unknown_argument_is_refused_by_name(url):
    result = mcp_reason(url, {"images": [], "question": QUESTION, "colour": "red"})
    assert result["error"] and result["text"].startswith("/reason has no parameter colour; its parameters are: images")


def test_a_missing_question_and_null_settings_get_the_apps_words(url):
    missing = mcp_reason(url, {"images": []})
    assert missing["error"] and missing["text"] == "/reason needs a value for question (the parameters without a default)."
    nulls = mcp_reason(url, {"images": [data_url(EXAMPLE)], "question": QUESTION, "thinking_budget": None,
                             "temperature": None, "seed": None, "history": None})
    assert not nulls["error"], nulls["text"]
    assert nulls["structured"]["answer"] and nulls["structured"]["stats"]["image_tiles"] == [5]


def test_a_client_that_gives_up_mid_thinking_frees_the_engine(url, tiny_engine):
    import asyncio

    from tests.conftest import slowed, wait_until

    async def give_up(session):
        call = asyncio.create_task(call_reason(session, {"images": [data_url(EXAMPLE)], "question": QUESTION,
                                                         "thinking_budget": -1, "max_new_tokens": 64}))
        for _ in range(600):
            if tiny_engine.active_worker is not None:
                break
            await asyncio.sleep(0.05)
        worker = tiny_engine.active_worker
        call.cancel()  # the client closes the request's stream
        with pytest.raises(asyncio.CancelledError):
            await call
        return worker

    with slowed(tiny_engine, 0.05):
        worker = mcp_session(url, give_up)
        assert worker is not None
        wait_until(lambda: tiny_engine.active_worker is None and not worker.is_alive(), 15,
                   "the generation thread to end after the MCP client left")
    after = mcp_reason(url, {"images": [data_url(EXAMPLE)], "question": QUESTION, **SETTINGS})
    assert not after["error"] and after["structured"]["answer"]


# ---- the pieces on their own ------------------------------------------------------------------

def test_the_input_schema_follows_the_function_signature_and_docstring():
    def reason(images: list, question: str, max_tiles: int = 4, history: list[list[str]] | None = None,
               request=None):
        """Answer.

        Args:
            images: ignored here.
            question: the question.
            max_tiles: most tiles per image
                (1 to 12).
        """

    schema = input_schema(reason, "LIMIT")
    assert list(schema["properties"]) == ["images", "question", "max_tiles", "history"]
    assert schema["required"] == ["images", "question"]
    assert schema["properties"]["max_tiles"] == {"type": "integer", "default": 4,
                                                 "description": "most tiles per image (1 to 12)."}
    assert schema["properties"]["history"]["default"] is None
    assert schema["properties"]["images"]["description"].endswith("LIMIT")


@pytest.mark.parametrize("body, expected", [
    (b'{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"arguments":{"id":1', 7),
    (b'{"method":"tools/call","params":{"x":"', None),
    (b'{"jsonrpc":"2.0","id":"a\\"b","method":"tools/call","params":{', 'a"b'),
])
def test_the_request_id_of_an_oversize_body_is_found_at_its_ends(body, expected):
    assert _request_id(body, b'AAAA"}}}') == expected
    if expected is None:
        assert _request_id(body, b'AAAA"}},"jsonrpc":"2.0","id":12}') == 12


def test_the_body_limit_leaves_room_for_the_upload_limit_as_base64():
    assert body_limit_bytes("3mb") == -(-3 * MIB * 4 // 3) + MIB


# ---- as people start it -------------------------------------------------------------------

def test_python_app_py_with_mcp_serves_the_tool_and_the_routes_for_scripts(tmp_path):
    """`python app.py --model tiny --mcp`, in its own process; the tool answers once the model is in."""
    import subprocess
    import sys
    import time

    from tests.clients_drive import ROOT, http_reason, http_upload
    from tests.conftest import free_port

    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    log = open(tmp_path / "app.log", "w")
    child = subprocess.Popen([sys.executable, "app.py", "--model", "tiny", "--mcp", "--port", str(port)],
                             cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline, result = time.monotonic() + 180, None
        while time.monotonic() < deadline and child.poll() is None:
            try:
                result = mcp_reason(url, {"images": [data_url(EXAMPLE)], "question": QUESTION, **SETTINGS})
            except Exception:  # noqa: BLE001 - not serving yet
                result = None
            if result and not (result["error"] and "still loading" in result["text"]):
                break
            time.sleep(0.5)
        assert result is not None and not result["error"], (result, (tmp_path / "app.log").read_text()[-2000:])
        assert set(result["structured"]) == FINAL_KEYS
        short = http_reason(url, [[http_upload(url, EXAMPLE)], QUESTION])  # defaults filled by ui/http/plain_http.py
        assert short["events"][-1][0] == "complete" and short["final"]["answer"]
    finally:
        child.terminate()
        child.wait(timeout=30)
        log.close()
