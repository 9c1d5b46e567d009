"""`/reason` through Gradio's JavaScript client (node), plain HTTP (httpx) and gradio_client, against
the bundled model; and one table of bad inputs sent through all four clients (MCP too), which must
get the same final dict shape and the same messages."""
from __future__ import annotations

import threading

import httpx
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

from tests.clients_drive import (EXAMPLE, FINAL_KEYS, QUESTION, ROOT, data_url, http_reason, http_upload, js,
                                 js_ready, mcp_reason, serve)
from tests.conftest import slowed, wait_until
from ui.i18n.words import EN

SETTINGS = {"thinking_budget": 8, "max_new_tokens": 16, "temperature": 0, "seed": 1}
needs_node = pytest.mark.skipif(bool(js_ready()), reason=js_ready() or "node is ready")


@pytest.fixture(scope="module")
def url(tiny_engine, launch):
    return serve(tiny_engine, launch)[0]


def positional(url: str, **values) -> list:
    """Every /reason value in its order, as a plain HTTP call sends them: `values` by name, the rest
    at the defaults /gradio_api/info lists."""
    params = httpx.get(f"{url}gradio_api/info", timeout=30).json()["named_endpoints"]["/reason"]["parameters"]
    assert set(values) <= {p["parameter_name"] for p in params}
    return [values.get(p["parameter_name"], p["parameter_default"]) for p in params]


def js_data(result: dict) -> list[dict]:
    return [line["data"] for line in result["lines"] if "data" in line]


# ---- JavaScript ---------------------------------------------------------------------------

@needs_node
def test_the_js_client_streams_dicts_that_end_with_the_final_one(url):
    result = js(url, "stream", EXAMPLE)
    assert result["returncode"] == 0, result["stderr"]
    streamed = js_data(result)
    final = streamed[-1]
    assert len(streamed) >= 3 and all(set(update) == FINAL_KEYS for update in streamed)
    assert final["answer"] and final["stats"]["image_tiles"] == [5] and final["stats"]["finish_reason"]
    assert any(0 < len(update["reasoning"]) < len(final["reasoning"]) for update in streamed)
    assert result["lines"][-1] == {"end": "finished"} and not result["stderr"]


@needs_node
def test_a_js_cancel_mid_thinking_stops_the_engine_and_the_next_call_answers(url, tiny_engine):
    outcome: dict = {}
    with slowed(tiny_engine, 0.05):
        runner = threading.Thread(target=lambda: outcome.update(js(url, "cancel", EXAMPLE)))
        runner.start()
        wait_until(lambda: tiny_engine.active_worker is not None, 60, "the JS call to reach the engine")
        worker = tiny_engine.active_worker
        runner.join(120)
        wait_until(lambda: tiny_engine.active_worker is None and not worker.is_alive(), 15,
                   "the generation thread to end after the JS cancel")
    assert {"cancelled": True} in outcome["lines"], outcome
    streamed = [data for data in js_data(outcome) if data]  # a status-only dict may come first
    assert any(data["reasoning"] for data in streamed) and not any("error" in line for line in outcome["lines"])
    # The job ends with a final null value and "complete", and the client logs nothing (ui/http/cancelled.py).
    assert outcome["lines"][-3:] == [{"data": None}, {"complete": True}, {"end": "iterator closed after cancel"}]
    assert outcome["stderr"] == ""
    after = js(url, "stream", EXAMPLE)
    assert js_data(after)[-1]["stats"]["finish_reason"] != "error"


@needs_node
def test_a_js_call_with_a_file_that_is_not_an_image_gets_the_apps_message(url, tmp_path):
    fake = tmp_path / "notes.png"
    fake.write_text("not an image")
    result = js(url, "error", fake)
    assert result["lines"][0] == {"error": EN("image.unreadable", name="notes.png", formats=_formats())}


def _formats() -> str:
    from model.inputs.images import SUPPORTED_FORMATS_TEXT

    return SUPPORTED_FORMATS_TEXT


# ---- plain HTTP ---------------------------------------------------------------------------

def test_http_upload_call_and_event_stream(url):
    image = http_upload(url, EXAMPLE)
    result = http_reason(url, positional(url, images=[image], question=QUESTION, **SETTINGS))
    names = [name for name, _ in result["events"]]
    assert result["status"] == 200 and names[-1] == "complete" and names.count("generating") >= 2
    assert set(result["final"]) == FINAL_KEYS and result["final"]["stats"]["image_tiles"] == [5]


def test_http_with_only_the_required_values_takes_the_defaults_listed_by_info(url):
    image = http_upload(url, EXAMPLE)
    short = http_reason(url, [[image], QUESTION])
    named = http_reason(url, {"images": [image], "question": QUESTION, "seed": 3})
    for result in (short, named):
        assert result["events"][-1][0] == "complete" and result["final"]["answer"]
    assert named["final"]["stats"]["seed"] == 3


@pytest.mark.parametrize("data, words", [
    ([[]], ("Missing: question", "in this order: images, question, ")),
    ({"question": QUESTION}, ("needs a value for images",)),
    ({"images": [], "question": QUESTION, "colour": 1}, ("has no parameter colour",)),
])
def test_http_refuses_missing_or_unknown_values_by_name(url, data, words):
    result = http_reason(url, data)
    assert result["status"] == 422 and all(word in result["final"]["error"] for word in words)


@pytest.mark.parametrize("item", [{"url": "https://example.com/x.png"}, {}])
def test_http_filedata_without_a_path_gets_the_apps_message(url, item):
    error = http_reason(url, positional(url, images=[item], question=QUESTION))["final"]["error"]
    assert error and "KeyError" not in error and error not in ("None", "null")


# ---- every client, the same answers and messages ------------------------------------------
# Each client sends the named values of a call its own users' way: gradio_client by keyword, the
# JavaScript client as an object (a local file is uploaded), plain HTTP as every value in order
# (`positional`), MCP as tool arguments; values left out are the tests' small greedy SETTINGS.

def by_python(url: str, values: dict) -> dict:
    try:
        return Client(url, verbose=False).predict(**{"images": [], "question": QUESTION, **SETTINGS, **values},
                                                   api_name="/reason")
    except AppError as error:
        return {"error": str(error)}


def by_js(url: str, values: dict) -> dict:
    values = dict(values)
    images = values.pop("images", [])
    single = len(images) == 1 and not isinstance(images[0], list)
    image = images[0] if single else {}
    lines = js(url, "error", image, settings=values if single else {**values, "images": images})["lines"]
    return next((line for line in lines if "error" in line), None) or js_data({"lines": lines})[-1]


def by_http(url: str, values: dict) -> dict:
    final = http_reason(url, positional(url, **{"images": [], "question": QUESTION, **SETTINGS, **values}))["final"]
    return {"error": final["error"]} if "error" in final else final


def by_mcp(url: str, values: dict) -> dict:
    result = mcp_reason(url, {"images": [], "question": QUESTION, **SETTINGS, **values})
    return {"error": result["text"]} if result["error"] else result["structured"]


CLIENTS = {"python": by_python, "js": by_js, "http": by_http, "mcp": by_mcp}


def each(value) -> dict:
    """The same value sent by every client."""
    return dict.fromkeys(CLIENTS, value)


def with_advice(message: str) -> dict:
    """`message` followed by how each client sends its files."""
    return {name: f"{message} {EN(f'advice.{name}')}" for name in CLIENTS}


def cases(url: str, bad_file) -> dict:
    """Per case: what each client sends (named values, its users' way) and the message expected
    (one for every client, or one per client)."""
    upload, loop, outside = http_upload(url, bad_file), f"{url}gradio_api/info", str(ROOT / "README.md")
    broken, unreachable = "data:image/png;base64,@@", "https://nonexistent.invalid/cat.png"
    never = EN("error.not_uploaded", name="README.md")
    earlier = {"question": "q", "answer": "a"}
    return {
        # named file.png: a data: URL is saved under that name, so all four messages can be compared
        "not an image": ({"python": {"images": [handle_file(str(bad_file))]}, "js": {"images": [bad_file]},
                          "http": {"images": [upload]}, "mcp": {"images": [data_url(bad_file)]}},
                         EN("image.unreadable", name="file.png", formats=_formats())),
        "broken data: URL": (each({"images": [{"path": broken}]}) | {"mcp": {"images": [broken]}},
                             EN("error.data_url_invalid")),
        "loopback URL": ({"python": {"images": [handle_file(loop)]}, "js": {"images": [loop]},
                          "http": {"images": [{"path": loop}]}, "mcp": {"images": [loop]}},
                         EN("error.url_private", url=loop)),
        "unreachable URL": (each({"images": [{"path": unreachable}]}) | {"mcp": {"images": [unreachable]}},
                            EN("error.url_unreachable", url=unreachable)),
        "never uploaded": (each({"images": [{"path": outside}]})
                           | {"js": {"images": [{"path": outside, "meta": {"_type": "gradio.FileData"}}]},
                              "mcp": {"images": [outside]}}, with_advice(never)),
        "history image never uploaded": (
            each({"history": [{**earlier, "images": [{"path": outside}]}]})
            | {"mcp": {"history": [{**earlier, "images": [outside]}]}},
            {name: f"{EN('api.history_image', number=1, image=1)}: {text}"
             for name, text in with_advice(never).items()}),
        "question a number": (each({"question": 5}), EN("api.question_type", got="5")),
        "question a list": (each({"question": ["How many?"]}), EN("api.question_type", got="a list of 1 item")),
        "min_thinking above the budget": (each({"thinking_budget": 8, "min_thinking": 100}),
                                          EN("api.min_thinking_above_budget", min_thinking=100, budget=8)),
        "a long bad value": (each({"thinking_budget": "x" * 100_000}),
                             f'Thinking budget must be a number; got "{"x" * 40}…" (100,000 characters).'),
        "too many earlier turns": (each({"history": [["q", "a"]] * 21}), EN("limit.turns.api", count=21, limit=20)),
    }


@needs_node
def test_every_client_gets_the_same_messages_for_the_same_bad_inputs(url, tmp_path):
    bad_file = tmp_path / "file.png"
    bad_file.write_text("not an image")
    table = cases(url, bad_file)
    got = {case: {name: CLIENTS[name](url, values).get("error") for name, values in sent.items()}
           for case, (sent, _) in table.items()}
    expected = {case: message if isinstance(message, dict) else each(message) for case, (_, message) in table.items()}
    assert got == expected


@needs_node
def test_a_lone_surrogate_in_the_question_is_named_by_every_client_that_can_send_it(url):
    """gradio_client and the MCP SDK's client cannot encode one (they raise before sending); the
    JavaScript client and curl-style JSON send it as \\ud800."""
    message = EN("api.question_invalid", position=4)
    got = {name: CLIENTS[name](url, {"question": "How\ud800 many?"}).get("error") for name in ("js", "http")}
    assert got == {"js": message, "http": message}


@needs_node
def test_null_settings_take_the_served_defaults_on_every_client(url):
    nulls = {name: None for name in ("thinking_budget", "max_new_tokens", "temperature", "top_p", "seed", "top_k",
                                     "repetition_penalty", "max_tiles", "min_thinking", "history")}
    items = {"python": handle_file(str(EXAMPLE)), "js": EXAMPLE, "http": http_upload(url, EXAMPLE),
             "mcp": data_url(EXAMPLE)}
    finals = {name: CLIENTS[name](url, {"images": [item], **nulls}) for name, item in items.items()}
    assert all("error" not in final for final in finals.values()), finals
    assert {name: final["stats"]["image_tiles"] for name, final in finals.items()} == each([5])  # max_tiles 4


@needs_node
def test_the_js_clients_positional_call_with_two_values_answers(url):
    """@gradio/client pads a positional call to every input with null; nulls take the served defaults."""
    result = js(url, "positional", EXAMPLE)
    assert result["returncode"] == 0, result["stderr"]
    final = js_data(result)[-1]
    assert "error" not in str(result["lines"]) and final["answer"] and final["stats"]["image_tiles"] == [5]


@needs_node
def test_every_client_gets_the_same_final_dict_and_the_same_range_message(url):
    items = {"python": handle_file(str(EXAMPLE)), "js": EXAMPLE, "http": http_upload(url, EXAMPLE),
             "mcp": data_url(EXAMPLE)}
    finals = {name: CLIENTS[name](url, {"images": [item]}) for name, item in items.items()}
    assert all(set(final) == FINAL_KEYS for final in finals.values()), finals
    assert len({(final["reasoning"], final["answer"], str(final["stats"]["image_tiles"]))
                for final in finals.values()}) == 1
    assert len({tuple(sorted(final["stats"])) for final in finals.values()}) == 1
    refused = {name: CLIENTS[name](url, {"images": [item], "temperature": 5})["error"] for name, item in items.items()}
    assert set(refused.values()) == {"Temperature must be between 0.0 and 2.0; got 5.0."}


def test_a_gradio_client_cancel_also_stops_the_engine_through_the_same_routes(url, tiny_engine):
    from gradio_client.utils import Status

    client = Client(url, verbose=False)
    with slowed(tiny_engine, 0.05):
        job = client.submit(images=[handle_file(str(EXAMPLE))], question=QUESTION, thinking_budget=-1,
                            max_new_tokens=64, api_name="/reason")
        wait_until(lambda: len(job.outputs()) >= 2, 60, "the first streamed updates")
        worker = tiny_engine.active_worker
        job.cancel()
        wait_until(lambda: tiny_engine.active_worker is None and not worker.is_alive(), 15,
                   "the generation thread to end after the cancel")
    assert job.status().code == Status.CANCELLED and job.outputs()[-1]["reasoning"]


# ---- the rewrites on their own ------------------------------------------------------------

PARAMS = [{"parameter_name": "images", "parameter_has_default": False},
          {"parameter_name": "question", "parameter_has_default": False},
          {"parameter_name": "seed", "parameter_has_default": True, "parameter_default": -1}]


def test_reason_calls_take_the_filedata_marker_off_images_only():
    from ui.http.routes import raw_images

    marked = [{"path": "/x.png", "meta": {"_type": "gradio.FileData"}}, "data:image/png;base64,AA=="]
    assert raw_images([marked, "q"], PARAMS) == [[{"path": "/x.png"}, "data:image/png;base64,AA=="], "q"]
    assert raw_images(["q"], PARAMS[1:]) == ["q"]


def test_only_a_cancelled_reason_jobs_empty_completion_is_rewritten():
    import json

    from ui.http.cancelled import CancelledJobs

    def event(**fields) -> bytes:
        return b"data: " + json.dumps({"msg": "process_completed", "success": True, **fields}).encode()

    jobs = CancelledJobs(app=None)
    jobs.jobs["ours"] = None
    body = b"\n\n".join([event(event_id="ours", output={}), event(event_id="page", output={}),
                         event(event_id="ours", output={"data": [1]}), b""])
    first, second, third, _ = jobs._completed(body).split(b"\n\n")
    assert json.loads(first[6:])["output"] == {"data": [None]}
    assert json.loads(second[6:])["output"] == {} and json.loads(third[6:])["output"] == {"data": [1]}
