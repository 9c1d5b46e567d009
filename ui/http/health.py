"""Health routes on the app's own server, for Docker, Kubernetes and load balancers.

- `GET /healthz` (liveness): 200 `{"status": "alive"}` while the process serves requests, whether or
  not the model has loaded: restarting a process that is still loading would only start over.
- `GET /readyz` (readiness): 200 when the model is loaded (local) or the model server answers
  (remote: its `/models`, probed with a short timeout and the answer cached a few seconds); else
  503. Both carry `{"ready", "state", "progress", "model", "device", "backend", "error"}`; state is
  "loading", "ready", "failed" (the load error is in "error") or "unreachable" (remote).
- `GET /model-info`: the model's name, versions, context length, input limits (model/limits.py) and
  the defaults of every `/reason` setting. Not `/info`: Gradio serves its own API description at
  `/gradio_api/info`, and a bare `/info` beside it would read as that one.
`Health(slot, limits).routes()` gives the Starlette routes; `ui.http.installer` installs them.
Endpoints are plain functions (Starlette runs them in its thread pool), so a slow probe never
blocks the event loop.
"""
from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import asdict
from importlib import metadata
from typing import Any

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from model.limits import Limits
from ui.serving.shared import ModelSlot
from ui.serving.settings import api_defaults

log = logging.getLogger(__name__)
PROBE_TIMEOUT_S = 2.0
PROBE_TTL_S = 5.0  # a remote server's answer is reused this long: probes every second stay cheap for it
ENV_API_KEY = "R1V_API_KEY"  # the remote engine's key (model/remote/engine.py reads the same variable)
LIVE_PATH, READY_PATH, INFO_PATH = "/healthz", "/readyz", "/model-info"


class Health:
    def __init__(self, slot: ModelSlot, limits: Limits | None = None, probe_ttl_s: float = PROBE_TTL_S):
        self.slot, self.limits, self.probe_ttl_s = slot, limits or Limits.from_env(), probe_ttl_s
        self._probe_lock = threading.Lock()
        self._probed: tuple[float, str | None] | None = None  # (when, error or None)

    def routes(self) -> list[Route]:
        return [Route(LIVE_PATH, self.live, methods=["GET", "HEAD"]),
                Route(READY_PATH, self.ready, methods=["GET", "HEAD"]),
                Route(INFO_PATH, self.info, methods=["GET"])]

    def live(self, request: Request) -> JSONResponse:
        return JSONResponse({"status": "alive"})

    def ready(self, request: Request) -> JSONResponse:
        body = self.readiness()
        return JSONResponse(body, status_code=200 if body["ready"] else 503)

    def readiness(self) -> dict[str, Any]:
        slot, info = self.slot, self.slot.info
        state, error = slot.state, slot.error
        if state == "ready" and info.backend == "openai":
            error = self._remote_error()
            state = "unreachable" if error else "ready"
        return {"ready": state == "ready", "state": state, "progress": slot.progress_text(), "model": info.name,
                "device": info.device, "backend": info.backend, "error": error}

    def info(self, request: Request) -> JSONResponse:
        info = self.slot.info
        return JSONResponse({
            "model": {"name": info.name, "tiny": info.is_tiny, "backend": info.backend, "device": info.device,
                      "context_tokens": info.context_tokens or context_tokens(self.slot.engine)},
            "versions": versions(), "limits": asdict(self.limits), "defaults": api_defaults(info.defaults),
            "routes": {"liveness": LIVE_PATH, "readiness": READY_PATH, "api": "/gradio_api/info"},
        })

    def _remote_error(self) -> str | None:
        """Why the model server does not answer `/models` (None when it does); cached PROBE_TTL_S."""
        with self._probe_lock:
            if self._probed and time.monotonic() - self._probed[0] < self.probe_ttl_s:
                return self._probed[1]
            error = probe_models(getattr(self.slot.engine, "endpoint", ""))
            self._probed = (time.monotonic(), error)
            return error


def probe_models(endpoint: str, timeout_s: float = PROBE_TIMEOUT_S) -> str | None:
    """GET {endpoint}/models; None when it answers 200, else a short reason (never the key)."""
    key = os.environ.get(ENV_API_KEY)
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    try:
        response = httpx.get(f"{endpoint.rstrip('/')}/models", headers=headers, timeout=timeout_s)
    except httpx.HTTPError as error:
        return f"the model server at {endpoint} does not answer ({type(error).__name__})"
    if response.status_code != 200:
        return f"the model server at {endpoint} answered HTTP {response.status_code} to /models"
    return None


def context_tokens(engine: Any) -> int | None:
    """The loaded model's context length (its text config's max_position_embeddings), if known."""
    config = getattr(getattr(getattr(engine, "loaded", None), "model", None), "config", None)
    value = getattr(getattr(config, "text_config", None), "max_position_embeddings", None)
    return int(value) if value else None


def versions() -> dict[str, str | None]:
    found = {}
    for package in ("gradio", "transformers", "torch"):
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package] = None
    return found
