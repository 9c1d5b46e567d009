"""`/reason` on the bundled model through its clients (gradio_client, plain HTTP with httpx): the served
model's defaults, every page setting, earlier turns, the status field, and a clear message for each
bad request."""
from __future__ import annotations

import inspect
import json
import logging
from pathlib import Path

import httpx
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from model.registry import by_name
from tests.conftest import slowed
from ui.http.api import PARAMETERS
from tests.helpers import reason_endpoint
from ui.page.handlers import ModelInfo
from ui.page.layout import build_app
from ui.serving.settings import API_SETTINGS, api_defaults, checkpoint_max_tiles, served_defaults

EXAMPLE = str(Path(__file__).resolve().parent.parent / "assets" / "examples" / "puzzle_count.png")
QUESTION = "How many red shapes are there?"
FOLLOW_UP = "And how many blue ones?"


@pytest.fixture(scope="module")
def served(tiny_engine, launch):
    """The app as app.py builds and serves it for the bundled model (its defaults from ui.serving.settings; the
    `launch` fixture serves it with ui.page.layout.serve, its routes and middleware included)."""
    info = ModelInfo("tiny", is_tiny=True, device="CPU", defaults=served_defaults(by_name("tiny")))
    demo = build_app(tiny_engine, info)
    url = launch(demo)
    return demo, url


def request_lines(caplog) -> list[dict]:
    return [json.loads(record.getMessage()) for record in caplog.records if record.name == "r1v.requests"]


def page_defaults(client: Client) -> list:
    """The /chat endpoint's setting values as the page starts them (its components' values)."""
    values = {component["id"]: component.get("props", {}).get("value") for component in client.config["components"]}
    kinds = {component["id"]: component.get("type") for component in client.config["components"]}
    dependency = next(d for d in client.config["dependencies"] if d.get("api_name") == "chat")
    inputs = [i for i in dependency["inputs"] if kinds.get(i) != "state"]
    return [values[i] for i in inputs[1:]]  # after the message box


def chat(client: Client, text: str, files=(), **changes):
    """/chat with the page's default settings, `changes` applied by name (ui.page.controls.CONTROL_NAMES)."""
    from ui.page.controls import CONTROL_NAMES

    settings = dict(zip(CONTROL_NAMES, page_defaults(client)))
    return client.predict({"text": text, "files": [handle_file(f) for f in files]}, *{**settings, **changes}.values(),
                          api_name="/chat")


def answer_text(chatbot: list[dict]) -> str:
    return chatbot[-1]["content"][0]["text"]


def test_the_served_defaults_come_from_the_checkpoint_and_reach_the_endpoint_signature(served):
    demo, _ = served
    tiny = by_name("tiny")
    config = json.loads((Path(tiny.source) / "config.json").read_text())
    assert checkpoint_max_tiles(tiny) == config["max_dynamic_patch"] == 4
    reason = reason_endpoint(object(), ModelInfo("tiny", defaults=served_defaults(tiny)))
    parameters = inspect.signature(reason).parameters
    assert [name for name in parameters if name != "request"] == PARAMETERS
    assert PARAMETERS[:7] == ["images", "question", "thinking_budget", "max_new_tokens", "temperature", "top_p", "seed"]
    defaults = {name: parameters[name].default for name in parameters if name in api_defaults(served_defaults(tiny))}
    assert defaults == api_defaults(served_defaults(tiny)) and defaults["max_tiles"] == 4
    for setting in API_SETTINGS:  # each setting's description reaches the API page and the MCP tool
        assert f"{setting.name}: {setting.description}" in reason.__doc__


def test_reason_with_its_defaults_tiles_and_answers_like_the_page(served, tmp_path, caplog):
    """A 17x900 strip: 13 tiles with the old hard-coded 12, 4 + thumbnail with the checkpoint's 4."""
    _, url = served
    strip = tmp_path / "strip.png"
    Image.new("RGB", (17, 900), "red").save(strip)
    client = Client(url, verbose=False)
    with caplog.at_level(logging.INFO, logger="r1v.requests"):
        # the page's own default slider values, greedy on both
        chatbot, _, stats = chat(client, QUESTION, [str(strip)], temperature=0)
        final = client.predict([handle_file(str(strip))], QUESTION, temperature=0, api_name="/reason")
    page_line, api_line = request_lines(caplog)[-2:]
    assert page_line["endpoint"] == "chat" and api_line["endpoint"] == "reason"
    assert final["stats"]["image_tiles"] == page_line["tiles"] == api_line["tiles"] == [5]
    assert final["stats"]["prompt_tokens"] == page_line["prompt_tokens"]
    assert final["answer"].strip() and final["answer"].strip() in answer_text(chatbot)
    assert "tiles per image 5" in stats


def test_reason_takes_every_page_setting(served):
    _, url = served
    client = Client(url, verbose=False)
    final = client.predict([handle_file(EXAMPLE)], QUESTION, thinking_budget=8, max_new_tokens=16, temperature=0.0,
                           seed=5, top_k=3, repetition_penalty=1.2, max_tiles=1, min_thinking=4, api_name="/reason")
    assert final["stats"]["image_tiles"] == [1]  # one tile and no thumbnail
    assert 4 <= final["stats"]["thinking_tokens"] and final["stats"]["seed"] == 5
    with pytest.raises(AppError, match="Top k must be between 0 and 1000; got 5000"):
        client.predict([handle_file(EXAMPLE)], QUESTION, top_k=5000, api_name="/reason")
    with pytest.raises(AppError, match="Max tiles must be between 1 and 24; got 0"):
        client.predict([handle_file(EXAMPLE)], QUESTION, max_tiles=0, api_name="/reason")


def test_a_multi_turn_reason_call_sees_the_earlier_turn_as_the_page_does(tiny_engine, launch, caplog):
    demo = build_app(tiny_engine, ModelInfo("tiny", is_tiny=True, defaults=served_defaults(by_name("tiny"))))
    url = launch(demo)
    page = Client(url, verbose=False)  # one client: one session, one conversation
    with caplog.at_level(logging.INFO, logger="r1v.requests"):
        first, _, _ = chat(page, QUESTION, [EXAMPLE], temperature=0)
        second, _, _ = chat(page, FOLLOW_UP, temperature=0)
        api = Client(url, verbose=False)
        alone = api.predict([], FOLLOW_UP, temperature=0, api_name="/reason")
        earlier = [{"question": QUESTION, "answer": answer_text(first), "images": [handle_file(EXAMPLE)]}]
        follow_up = api.predict([], FOLLOW_UP, temperature=0, history=earlier, api_name="/reason")
        as_pair = api.predict([], FOLLOW_UP, temperature=0, history=[[QUESTION, answer_text(first)]],
                              api_name="/reason")
    lines = request_lines(caplog)
    page_second = lines[1]
    assert follow_up["stats"]["prompt_tokens"] == page_second["prompt_tokens"] > alone["stats"]["prompt_tokens"]
    assert follow_up["stats"]["image_tiles"] == page_second["tiles"] == [5]  # the earlier turn's image, tiled
    assert follow_up["answer"].strip() in answer_text(second)
    assert alone["stats"]["prompt_tokens"] < as_pair["stats"]["prompt_tokens"] < follow_up["stats"]["prompt_tokens"]


@pytest.mark.parametrize("history, words", [
    ("not a list", 'history must be a list of earlier turns; got "not a list".'),
    ([["only a question"]], "history item 1 must be a [question, answer] pair"),
    ([{"question": "q"}], "history item 1 must be a [question, answer] pair"),
    ([{"question": "q", "answer": None}], 'got an object with the keys question, answer.'),  # no Python repr
])
def test_a_malformed_history_is_named(served, history, words):
    _, url = served
    with pytest.raises(AppError, match=words.replace("[", r"\[").replace("]", r"\]")):
        Client(url, verbose=False).predict([], "How many?", history=history, api_name="/reason")


def test_status_is_cleared_once_tokens_flow_with_no_thinking(served):
    _, url = served
    job = Client(url, verbose=False).submit([handle_file(EXAMPLE)], QUESTION, thinking_budget=0, max_new_tokens=32,
                                            api_name="/reason")
    final = job.result(timeout=120)
    assert final["status"] == "" and final["answer"]
    streamed = [update for update in job.outputs() if update["answer"] or update["reasoning"]]
    assert streamed and all(update["status"] == "" for update in streamed)


def test_the_page_line_under_the_chat_says_answering_when_there_is_no_thinking():
    from model.events import AnswerDelta
    from ui.page.handlers import live_status
    from ui.render.messages import LiveTurn

    live = LiveTurn("q", [])
    assert live_status(live) == "*Waiting for the model…*"
    live.apply(AnswerDelta("The", 1))
    assert live_status(live).startswith("*Answering · 1 token")


def test_a_cancelled_request_logs_its_tiles_and_prompt_tokens(tiny_engine, caplog):
    reason = reason_endpoint(tiny_engine, ModelInfo("tiny", defaults=served_defaults(by_name("tiny"))))
    with slowed(tiny_engine, 0.02), caplog.at_level(logging.INFO, logger="r1v.requests"):
        stream = reason([EXAMPLE], QUESTION)
        for update in stream:
            if update["reasoning"]:
                break
        stream.close()  # what a client's cancel or a closed connection does
    line = request_lines(caplog)[-1]
    assert line["finish"] == "closed" and line["tiles"] == [5]
    assert line["prompt_tokens"] > 0 and line["thinking_tokens"] >= 1


# ---- bad requests: the same message through gradio_client and plain HTTP ---------------------------------

def http_call(url: str, data, route: str = "call/reason") -> tuple[int, str]:
    """POST then read the event stream: (HTTP status, the error text or the final data)."""
    body = {"data": data} if isinstance(data, list) else data
    response = httpx.post(f"{url}gradio_api/{route}", json=body, timeout=30)
    if response.status_code != 200:
        return response.status_code, response.json()["error"]
    event_id = response.json()["event_id"]
    with httpx.stream("GET", f"{url}gradio_api/call/reason/{event_id}", timeout=120) as stream:
        lines = [line for line in stream.iter_lines() if line.startswith(("event:", "data:"))]
    event, data = lines[-2].removeprefix("event: "), json.loads(lines[-1].removeprefix("data: "))
    return 200, data["error"] if event == "error" else data


def full_values(images) -> list:
    return [images, QUESTION, 0, 32, 0.0, 0.95, 1, 0, 1.05, 4, 0, []]


NO_PATH = "this item names none"
PRIVATE = "is on a local or private network address, which is never fetched"


@pytest.mark.parametrize("item, words", [
    ({}, NO_PATH + " (its fields: none)"),
    # the marker alone: on the stack `python app.py` serves, /reason sees the item without it (ui/http/routes.py)
    ({"meta": {"_type": "gradio.FileData"}}, NO_PATH + " (its fields: none)"),
    ({"url": "http://127.0.0.1:9/secret.png"}, "The image at http://127.0.0.1:9/secret.png " + PRIVATE),
    ({"path": "http://localhost/x.png"}, "The image at http://localhost/x.png " + PRIVATE),
    ("/etc/passwd", "Image 'passwd' was not uploaded with the request"),
    ({"path": "data:image/png;base64,@@@"}, "This data: URL is not a valid base64-encoded image"),
])
def test_bad_image_items_get_the_apps_message_on_both_clients(served, item, words):
    _, url = served
    with pytest.raises(AppError) as caught:
        Client(url, verbose=False).predict([item], QUESTION, api_name="/reason")
    assert words in str(caught.value) and "Traceback" not in str(caught.value)
    status, error = http_call(url, full_values([item]))
    assert status == 200 and isinstance(error, str) and words in error


def test_a_file_never_uploaded_is_named_over_http(served):
    _, url = served
    never = {"path": "/etc/passwd", "meta": {"_type": "gradio.FileData"}}  # Gradio itself would answer null
    for route, body in (("call/reason", {"data": full_values([never])}),
                        ("call/v2/reason", {"images": [never], "question": QUESTION})):
        status, error = http_call(url, body, route)
        assert status == 422 and error.startswith("Image 'passwd' was not uploaded with the request")


def test_plain_http_upload_call_and_stream(served):
    _, url = served
    uploaded = httpx.post(f"{url}gradio_api/upload", files={"files": open(EXAMPLE, "rb")}, timeout=30).json()
    image = {"path": uploaded[0], "meta": {"_type": "gradio.FileData"}}
    status, final = http_call(url, full_values([image]))
    assert status == 200 and final[0]["answer"] and final[0]["stats"]["image_tiles"] == [5]
    # keyword call: Gradio fills in every setting left out with its default
    status, final = http_call(url, {"images": [image], "question": QUESTION, "thinking_budget": 0}, "call/v2/reason")
    assert status == 200 and final[0]["stats"]["image_tiles"] == [5] and final[0]["status"] == ""


def test_a_positional_http_call_may_stop_early_and_the_rest_take_their_defaults(served):
    _, url = served
    status, final = http_call(url, [[], QUESTION])  # Gradio alone would answer {"error": null}
    assert status == 200 and final[0]["stats"]["finish_reason"] != "error"
    old_caller = [[{"path": EXAMPLE}], QUESTION, 0, 32, 0.0, 0.95, 1]  # /reason's original seven values
    status, final = http_call(url, old_caller)
    assert status == 200 and final[0]["stats"]["image_tiles"] == [5] and final[0]["stats"]["seed"] == 1


def test_missing_values_over_plain_http_are_named(served):
    _, url = served
    status, error = http_call(url, [[]])
    assert status == 422
    assert error.startswith("/reason takes up to 12 values in this order: images, question, thinking_budget, ")
    assert "got 1. Missing: question, which have no default" in error and "/gradio_api/call/v2/reason" in error
    status, error = http_call(url, {"images": []}, "call/v2/reason")
    assert (status, error) == (422, "/reason needs a value for question (the parameters without a default).")
    status, error = http_call(url, {"images": [], "question": "q", "max_tokens": 9}, "call/v2/reason")
    assert status == 422 and error.startswith("/reason has no parameter max_tokens; its parameters are: images")
    # the same in the caller's language
    response = httpx.post(f"{url}gradio_api/call/reason", json={"data": []}, headers={"Accept-Language": "zh-CN"},
                          timeout=30)
    assert response.status_code == 422 and "按顺序最多接受 12 个值" in response.json()["error"]
    # gradio_client fills the defaults itself: only the required values are needed
    final = Client(url, verbose=False).predict([], "How many?", api_name="/reason")
    assert final["stats"]["finish_reason"] != "error"
