"""Liveness, readiness and model info on the app's own server; an API call made while the model loads."""
from __future__ import annotations

import threading

import httpx
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from starlette.applications import Starlette
from starlette.testclient import TestClient

from model.events import Status
from model.limits import Limits
from model.registry import by_name
from tests.conftest import wait_until
from tests.remote_server import FakeServer, free_port
from ui.page.handlers import ModelInfo, ModelSlot
from ui.http.health import Health
from ui.page.layout import build_app
from ui.serving.settings import api_defaults, served_defaults

EXAMPLE = "assets/examples/puzzle_count.png"
READY_FIELDS = {"ready", "state", "progress", "model", "device", "backend", "error"}


def gated_factory(engine, gate: threading.Event):
    """Loads "slowly": reports progress, then waits for the test to open the gate."""

    def load(progress):
        progress(Status("Loading tiny (official format) onto CPU…", "load.loading",
                        {"name": "tiny", "layout": "official", "device": "CPU"}))
        if not gate.wait(60):
            raise RuntimeError("the test never opened the gate")
        return engine

    return load


def test_a_call_made_while_loading_waits_streaming_the_progress_then_answers(tiny_engine, launch):
    gate = threading.Event()
    info = ModelInfo("tiny", is_tiny=True, defaults=served_defaults(by_name("tiny")))
    url = launch(build_app(gated_factory(tiny_engine, gate), info))
    wait_until(lambda: httpx.get(f"{url}readyz").json()["progress"].startswith("Loading tiny"), 30, "the load progress")
    response = httpx.get(f"{url}readyz")
    assert response.status_code == 503 and set(response.json()) == READY_FIELDS
    assert response.json() | {"progress": ""} == {"ready": False, "state": "loading", "progress": "", "model": "tiny",
                                                  "device": "", "backend": "local", "error": None}
    assert httpx.get(f"{url}healthz").status_code == 200
    job = Client(url, verbose=False).submit([handle_file(EXAMPLE)], "How many red shapes are there?",
                                            api_name="/reason")
    wait_until(lambda: len(job.outputs()) >= 1, 30, "the first streamed status")
    assert not job.done()
    first = job.outputs()[0]
    assert first["status"] == "Waiting for the model to load: Loading tiny (official format) onto CPU…"
    assert first["answer"] == "" and first["stats"] == {}
    gate.set()
    final = job.result(timeout=120)
    assert final["answer"] and final["stats"]["image_tiles"] == [5] and final["status"] == ""
    ready = httpx.get(f"{url}readyz")
    assert ready.status_code == 200 and ready.json()["state"] == "ready" and ready.json()["device"] == "CPU"


def test_a_model_that_fails_to_load_is_not_ready_but_alive_and_calls_get_the_error(launch):
    def broken(progress):
        raise RuntimeError("no weights in /models/x")

    url = launch(build_app(broken, ModelInfo("r1v3-38b")))
    wait_until(lambda: httpx.get(f"{url}readyz").json()["state"] == "failed", 30, "the failed load")
    response = httpx.get(f"{url}readyz")
    assert response.status_code == 503
    assert response.json()["error"] == "no weights in /models/x" and response.json()["ready"] is False
    assert httpx.get(f"{url}healthz").json() == {"status": "alive"}
    with pytest.raises(AppError, match="The model could not be loaded: no weights in /models/x"):
        Client(url, verbose=False).predict([], "How many?", api_name="/reason")


def test_a_call_waits_no_longer_than_the_limit(launch):
    from ui.page.handlers import ServingPolicy

    never = threading.Event()
    url = launch(build_app(gated_factory(object(), never), ModelInfo("r1v3-38b"),
                           policy=ServingPolicy(load_wait_s=1.0)))
    with pytest.raises(AppError, match=r"did not finish loading within 1 s \(Loading tiny"):
        Client(url, verbose=False).predict([], "How many?", api_name="/reason")
    never.set()


def test_model_info_names_the_model_its_limits_and_defaults(tiny_engine, launch):
    defaults = served_defaults(by_name("tiny"))
    url = launch(build_app(tiny_engine, ModelInfo("tiny", is_tiny=True, device="CPU", defaults=defaults)))
    info = httpx.get(f"{url}model-info").json()
    assert info["model"] == {"name": "tiny", "tiny": True, "backend": "local", "device": "CPU", "context_tokens": 1024}
    assert info["limits"]["max_file_mb"] == Limits.from_env().max_file_mb and info["defaults"] == api_defaults(defaults)
    assert info["defaults"]["max_tiles"] == 4 and info["versions"]["gradio"] == "6.31.0"
    assert httpx.get(f"{url}gradio_api/info").status_code == 200  # Gradio's own route is untouched


def remote_slot(endpoint: str) -> ModelSlot:
    from model.remote.engine import RemoteEngine

    return ModelSlot(RemoteEngine(endpoint, model="fake", timeout_s=2), ModelInfo("fake", backend="openai"))


def test_remote_readiness_follows_the_model_server(tiny_engine):
    fake = FakeServer(lambda path, body: (200, []))
    with fake:
        health = Health(remote_slot(fake.endpoint), probe_ttl_s=0)
        client = TestClient(Starlette(routes=health.routes()))
        up = client.get("/readyz")
        assert up.status_code == 200 and up.json()["state"] == "ready" and up.json()["backend"] == "openai"
    down = client.get("/readyz")
    assert down.status_code == 503 and down.json()["state"] == "unreachable"
    assert "does not answer" in down.json()["error"] and client.get("/healthz").status_code == 200


def test_the_remote_probe_is_cached_for_a_few_seconds():
    fake = FakeServer(lambda path, body: (200, []))
    with fake:
        client = TestClient(Starlette(routes=Health(remote_slot(fake.endpoint), probe_ttl_s=60).routes()))
        assert client.get("/readyz").status_code == 200
    assert client.get("/readyz").status_code == 200  # the cached answer; the server is gone
    nobody = f"http://127.0.0.1:{free_port()}/v1"
    client = TestClient(Starlette(routes=Health(remote_slot(nobody), probe_ttl_s=60).routes()))
    assert client.get("/readyz").status_code == 503
