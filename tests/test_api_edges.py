"""The edges of `/reason` a newcomer meets first: every refused call leaves its request-log line with
the refusal's kind; the named-values form of the plain HTTP route gets the positional form's checks;
a value after the last is refused; a model with a small context gets default budgets that fit it;
`/readyz` after a failed load says so, without the last step's progress."""
from __future__ import annotations

import json
import logging
import shutil

import httpx
import pytest
from gradio_client import Client

from model.registry import TINY_PATH, resolve
from tests.clients_drive import EXAMPLE, QUESTION, http_reason, http_upload, mcp_reason, serve
from tests.conftest import wait_until
from ui.page.handlers import ModelInfo
from ui.i18n.words import EN
from ui.page.layout import build_app
from ui.serving.settings import checkpoint_context, served_defaults


@pytest.fixture(scope="module")
def url(tiny_engine, launch):
    return serve(tiny_engine, launch)[0]


def refusals(caplog) -> list[tuple[str, str]]:
    lines = [json.loads(record.getMessage()) for record in caplog.records if record.name == "r1v.requests"]
    return [(line["finish"], line["error"]) for line in lines]


@pytest.mark.parametrize("send, kind", [
    (lambda url: http_reason(url, [[], QUESTION, "lots"]), "settings"),  # plain HTTP: refused with a 422
    (lambda url: http_reason(url, [[], 5]), "question"),
    (lambda url: http_reason(url, [[{"path": "/etc/passwd", "meta": {"_type": "gradio.FileData"}}], QUESTION]),
     "not_uploaded"),
    (lambda url: http_reason(url, {"question": QUESTION}), "arguments"),
    (lambda url: http_reason(url, [[], QUESTION, 8, 16, 0, 0.95, 1, 0, 1.05, 4, 0, "not a list"]), "history"),
    (lambda url: mcp_reason(url, {"images": [], "question": QUESTION, "colour": "red"}), "arguments"),
    (lambda url: mcp_reason(url, {"images": ["/etc/passwd"], "question": QUESTION}), "not_uploaded"),
    (lambda url: mcp_reason(url, {"images": [], "question": QUESTION, "top_k": "many"}), "settings"),
])
def test_every_refused_call_leaves_one_request_log_line_with_its_kind(url, caplog, send, kind):
    with caplog.at_level(logging.INFO, logger="r1v.requests"):
        send(url)
    assert refusals(caplog) == [("refused", kind)]


def test_a_value_after_the_last_is_refused_not_ignored(url):
    values = [[], QUESTION, 8, 16, 0, 0.95, 1, 0, 1.05, 4, 0, [], "one more"]
    result = http_reason(url, values)
    assert result["status"] == 422
    assert result["final"]["error"].startswith("/reason takes at most 12 values in this order: images, question")
    assert "got 13. Nothing comes after history." in result["final"]["error"]


def test_the_named_form_of_the_positional_route_gets_the_same_checks(url):
    never = {"path": "/etc/passwd", "meta": {"_type": "gradio.FileData"}}
    named = http_reason(url, {"images": [never], "question": QUESTION})
    assert named["status"] == 422 and named["final"]["error"] == \
        f"{EN('error.not_uploaded', name='passwd')} {EN('advice.http')}"
    wrong = http_reason(url, {"images": [], "question": ["a", "list"]})
    assert wrong["status"] == 422 and wrong["final"]["error"] == EN("api.question_type", got="a list of 2 items")
    answered = http_reason(url, {"images": [http_upload(url, EXAMPLE)], "question": QUESTION, "temperature": None})
    assert answered["events"][-1][0] == "complete" and answered["final"]["answer"]


def test_a_model_with_a_small_context_gets_defaults_that_fit_and_a_default_call_answers(tmp_path, launch):
    from model.local.engine import LocalEngine
    from model.local.loader import load

    folder = tmp_path / "small-context"
    shutil.copytree(TINY_PATH, folder)
    config = json.loads((folder / "config.json").read_text())
    config["llm_config"]["max_position_embeddings"] = 160
    (folder / "config.json").write_text(json.dumps(config))
    spec = resolve(str(folder))
    defaults = served_defaults(spec)
    assert checkpoint_context(spec) == 160 and defaults.answer_budget == 40  # was 2,048: every call refused
    engine = LocalEngine(load(spec, device="cpu"), max_seconds=120)
    demo_url = launch(build_app(engine, ModelInfo(spec.name, defaults=defaults)))
    image = http_upload(demo_url, EXAMPLE)
    final = http_reason(demo_url, [[image], QUESTION])["final"]
    assert "error" not in final, final
    assert final["stats"]["prompt_tokens"] + final["stats"]["answer_tokens"] <= 160


def test_readyz_after_a_failed_load_shows_the_failure_not_the_last_step(launch, caplog):
    def failing(progress):
        progress("Loading weights…")
        raise OSError("no such checkpoint")

    demo_url = launch(build_app(failing, ModelInfo("broken")))
    wait_until(lambda: httpx.get(f"{demo_url}readyz").json()["state"] == "failed", 30, "the load to fail")
    body = httpx.get(f"{demo_url}readyz").json()
    assert body["error"] == "no such checkpoint"
    assert body["progress"] == EN("load.failed", error="no such checkpoint")
    assert "Loading weights" not in body["progress"]
    with pytest.raises(Exception, match="The model could not be loaded: no such checkpoint"), \
            caplog.at_level(logging.INFO, logger="r1v.requests"):
        Client(demo_url, verbose=False).predict([], QUESTION, api_name="/reason")
    assert refusals(caplog) == [("refused", "load_failed")]
