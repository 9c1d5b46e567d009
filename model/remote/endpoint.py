"""Where the model server is, and what to tell a person when it fails, with no secret in the words.

Contract:
- `normalise_endpoint(url)`: `http://host:8000` -> `http://host:8000/v1`; a URL with a path is kept as
  it is; anything but an http(s) URL with a host raises ValueError saying what is expected.
- `without_credentials(url)` drops a `user:password@` part, for every message that names the server.
- `redact(text, secret)` replaces the API key with `***` (a key under 4 characters is left alone: it
  would blank ordinary words).
- `describe_failure(exc, endpoint, timeout_s, connected)` turns any exception of one answer into an
  `Error` with a short, plain message (timeout, unreachable, dropped mid-answer, HTTP status, not
  OpenAI JSON, anything else); it never raises. The message is for visitors: it says "the model
  server", never its address (an internal one: the server's log names it), nor its host in a cause.
"""
from __future__ import annotations

import logging
import re
from urllib.parse import urlsplit

import openai

from model.events import Error

log = logging.getLogger(__name__)
ENV_API_KEY = "R1V_API_KEY"


def normalise_endpoint(endpoint: str) -> str:
    """`http://host:8000` -> `http://host:8000/v1`; an endpoint with a path is kept as it is."""
    endpoint = endpoint.strip().rstrip("/")
    parts = urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"The endpoint must be an http(s) URL such as http://127.0.0.1:8000/v1; got {endpoint!r}.")
    return endpoint if parts.path else endpoint + "/v1"


def without_credentials(url: str) -> str:
    parts = urlsplit(url)
    return parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()


def redact(text: str, secret: str) -> str:
    return text.replace(secret, "***") if len(secret) >= 4 else text


def describe_failure(exc: Exception, endpoint: str, timeout_s: float, connected: bool) -> Error:
    """The message a person sees for `exc`; `connected` says whether the answer had begun to stream."""
    where = "The model server"
    if isinstance(exc, openai.APITimeoutError):
        return Error(f"{where} did not answer within {timeout_s:g} s; it may be busy. Please try again.",
                     "timeout", "remote.timeout", {"seconds": f"{timeout_s:g}"})
    if isinstance(exc, openai.APIConnectionError):
        cause = short(unnamed(str(exc.__cause__ or exc), endpoint))
        if connected:
            return Error(f"{where} closed the connection in the middle of the answer ({cause}). "
                         "Please try again.", "backend", "remote.dropped", {"cause": cause})
        return Error(f"{where} is not reachable ({cause}). Is it running, and is the endpoint right?", "backend",
                     "remote.unreachable", {"cause": cause})
    if isinstance(exc, openai.APIStatusError):
        return Error(unnamed(status_message(where, exc), endpoint), "backend")
    if isinstance(exc, openai.APIError):
        return Error(f"{where} reported an error: {short(unnamed(exc.message, endpoint))}", "backend")
    if isinstance(exc, ValueError):  # invalid JSON, or JSON that is not an OpenAI reply
        log.warning("malformed reply from %s", endpoint, exc_info=True)
        return Error(f"{where} sent a reply that is not OpenAI-compatible JSON. Is the endpoint right?", "backend")
    log.exception("remote answer from %s failed", endpoint)
    return Error(f"Answering through the model server failed ({type(exc).__name__}). The demo is still running; "
                 "please try again.", "internal")


def unnamed(text: str, endpoint: str) -> str:
    """`text` with the endpoint's URL and its host:port taken out (a cause may quote either)."""
    netloc = urlsplit(endpoint).netloc
    for name in filter(None, (endpoint, endpoint.rstrip("/").removesuffix("/v1"), netloc)):
        text = text.replace(name, "the model server")
    return text


def status_message(where: str, exc: openai.APIStatusError) -> str:
    detail = short(_detail(exc))
    if exc.status_code in (401, 403):
        return f"{where} refused the request (HTTP {exc.status_code}): check the API key ({ENV_API_KEY})."
    if exc.status_code == 404:
        return f"{where} answered HTTP 404 ({detail}): check the endpoint (it usually ends in /v1) and the model name."
    return f"{where} answered HTTP {exc.status_code}: {detail}"


def _detail(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        for key in ("detail", "message", "error"):
            if isinstance(body.get(key), str):
                return body[key]
    return "no details" if exc.message.startswith("Error code") else exc.message


def short(text: str, limit: int = 160) -> str:
    text = re.sub(r"\s+", " ", text).strip()
    return text if len(text) <= limit else text[:limit - 1] + "…"
