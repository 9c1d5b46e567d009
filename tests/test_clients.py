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
from ui.i18n import EN

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
    # The job ends with a final null value and "complete", and the client logs nothing (ui/cancelled.py).
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
    from model.images import SUPPORTED_FORMATS_TEXT

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

def by_python(url: str, item, **settings) -> dict:
    try:
        return Client(url, verbose=False).predict(images=[item], question=QUESTION, **{**SETTINGS, **settings},
                                                   api_name="/reason")
    except AppError as error:
        return {"error": str(error)}


def by_js(url: str, item, **settings) -> dict:
    lines = js(url, "error", item, settings=settings)["lines"]
    return next((line for line in lines if "error" in line), None) or js_data({"lines": lines})[-1]


def by_http(url: str, item, **settings) -> dict:
    final = http_reason(url, positional(url, images=[item], question=QUESTION, **{**SETTINGS, **settings}))["final"]
    return {"error": final["error"]} if "error" in final else final


def by_mcp(url: str, item, **settings) -> dict:
    result = mcp_reason(url, {"images": [item], "question": QUESTION, **{**SETTINGS, **settings}})
    return {"error": result["text"]} if result["error"] else result["structured"]


def cases(url: str, bad_file) -> dict:
    """Per case: what each client sends (its users' way of sending it) and the message expected."""
    upload, loop, outside = http_upload(url, bad_file), f"{url}gradio_api/info", str(ROOT / "README.md")
    broken = "data:image/png;base64,@@"
    return {
        # named file.png: a data: URL is saved under that name, so all four messages can be compared
        "not an image": ({"python": handle_file(str(bad_file)), "js": bad_file, "http": upload,
                          "mcp": data_url(bad_file)}, EN("image.unreadable", name="file.png", formats=_formats())),
        "broken data: URL": ({"python": {"path": broken}, "js": {"path": broken}, "http": {"path": broken},
                              "mcp": broken}, EN("error.data_url_invalid")),
        "loopback URL": ({"python": handle_file(loop), "js": loop, "http": {"path": loop}, "mcp": loop},
                         EN("error.url_private", url=loop)),
        "never uploaded": ({"python": {"path": outside}, "js": {"path": outside, "meta": {"_type": "gradio.FileData"}},
                            "http": {"path": outside}, "mcp": outside}, EN("error.not_uploaded", name="README.md")),
    }


CLIENTS = {"python": by_python, "js": by_js, "http": by_http, "mcp": by_mcp}


@needs_node
def test_every_client_gets_the_same_messages_for_the_same_bad_inputs(url, tmp_path):
    bad_file = tmp_path / "file.png"
    bad_file.write_text("not an image")
    got = {case: {name: CLIENTS[name](url, item)["error"] for name, item in items.items()}
           for case, (items, _) in cases(url, bad_file).items()}
    expected = {case: dict.fromkeys(CLIENTS, message) for case, (_, message) in cases(url, bad_file).items()}
    assert got == expected


@needs_node
def test_every_client_gets_the_same_final_dict_and_the_same_range_message(url):
    items = {"python": handle_file(str(EXAMPLE)), "js": EXAMPLE, "http": http_upload(url, EXAMPLE),
             "mcp": data_url(EXAMPLE)}
    finals = {name: CLIENTS[name](url, item) for name, item in items.items()}
    assert all(set(final) == FINAL_KEYS for final in finals.values()), finals
    assert len({(final["reasoning"], final["answer"], str(final["stats"]["image_tiles"]))
                for final in finals.values()}) == 1
    assert len({tuple(sorted(final["stats"])) for final in finals.values()}) == 1
    refused = {name: CLIENTS[name](url, item, temperature=5)["error"] for name, item in items.items()}
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
    from ui.api_routes import raw_images

    marked = [{"path": "/x.png", "meta": {"_type": "gradio.FileData"}}, "data:image/png;base64,AA=="]
    assert raw_images([marked, "q"], PARAMS) == [[{"path": "/x.png"}, "data:image/png;base64,AA=="], "q"]
    assert raw_images(["q"], PARAMS[1:]) == ["q"]


def test_only_a_cancelled_reason_jobs_empty_completion_is_rewritten():
    import json

    from ui.cancelled import CancelledJobs

    def event(**fields) -> bytes:
        return b"data: " + json.dumps({"msg": "process_completed", "success": True, **fields}).encode()

    jobs = CancelledJobs(app=None)
    jobs.jobs["ours"] = None
    body = b"\n\n".join([event(event_id="ours", output={}), event(event_id="page", output={}),
                         event(event_id="ours", output={"data": [1]}), b""])
    first, second, third, _ = jobs._completed(body).split(b"\n\n")
    assert json.loads(first[6:])["output"] == {"data": [None]}
    assert json.loads(second[6:])["output"] == {} and json.loads(third[6:])["output"] == {"data": [1]}
