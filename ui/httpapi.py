"""What the app's HTTP server serves beyond Gradio's own routes.

- `serve_health_and_checks(demo, slot)`: what build_app adds: the health routes and the check below.
- `serve_extras(demo, routes, middleware)`: every `demo.launch()` (python app.py, tests, Spaces)
  serves these. Gradio 6.31 builds its FastAPI app inside `launch()` and takes constructor
  arguments only through `launch(app_kwargs=...)`; FastAPI's `routes` argument places ours before
  Gradio's, `middleware` wraps them all. The wrapper adds them to whatever app_kwargs are given.
- `CallCheck`: plain HTTP calls (`POST /gradio_api/call/<name>` with `{"data": [...]}`,
  or `/gradio_api/call/v2/<name>` with an object) that Gradio would refuse without a word get a
  422 with the app's message instead. A positional call with fewer values than the endpoint takes:
  Gradio 6.31 does not fill defaults for positional calls (`Blocks.validate_inputs` raises a
  ValueError whose text is hidden: the event stream says `{"error": null}`), while `/call/v2/`
  does fill them, so the message names the expected values, the missing ones and v2. A
  `gradio.FileData` item whose path was never uploaded: Gradio refuses it before the endpoint
  runs (`InvalidPathError`, hidden the same way), so it is checked here with `ui.uploads.readable`.
"""
from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import gradio as gr
from starlette.middleware import Middleware
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ui.api import PARAMETERS
from ui.health import Health
from ui.i18n import Words, language_of
from ui.serving import ModelSlot
from ui.uploads import readable

CALL_PREFIX = "/gradio_api/call/"
MAX_CHECKED_BODY = 64 * 2**20  # larger bodies pass through unchecked (Gradio refuses them itself)


def serve_extras(demo: gr.Blocks, routes: Sequence[BaseRoute], middleware: Sequence[Middleware] = ()) -> None:
    """Make every `demo.launch()` serve `routes` and run `middleware` (see the module docstring)."""
    launch = demo.launch

    @functools.wraps(launch)
    def launch_with_extras(*args: Any, app_kwargs: dict | None = None, **kwargs: Any):
        app_kwargs = dict(app_kwargs or {})
        app_kwargs["routes"] = [*routes, *app_kwargs.get("routes", [])]
        app_kwargs["middleware"] = [*middleware, *app_kwargs.get("middleware", [])]
        return launch(*args, app_kwargs=app_kwargs, **kwargs)

    demo.launch = launch_with_extras


def serve_health_and_checks(demo: gr.Blocks, slot: ModelSlot) -> None:
    """The health routes of `slot` (ui.health) and the positional-call check of `/reason`."""
    serve_extras(demo, Health(slot).routes(), [Middleware(CallCheck, parameters={"reason": PARAMETERS})])


class CallCheck:
    """ASGI middleware: `parameters` maps an api_name to its parameter names, in order."""

    def __init__(self, app: ASGIApp, parameters: dict[str, list[str]]):
        self.app, self.parameters = app, parameters

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        names = self._checked(scope)
        if names is None:
            return await self.app(scope, receive, send)
        body, messages = await _read_body(receive)
        problem = refusal_message(body, names, scope)
        if problem:
            return await JSONResponse({"error": problem}, status_code=422)(scope, receive, send)
        await self.app(scope, _replay(messages, receive), send)

    def _checked(self, scope: Scope) -> list[str] | None:
        """The parameter names of the endpoint a positional or keyword call goes to, else None."""
        if scope["type"] != "http" or scope["method"] != "POST":
            return None
        path = scope["path"].rstrip("/")
        at = path.find(CALL_PREFIX)
        return None if at < 0 else self.parameters.get(path[at + len(CALL_PREFIX):].removeprefix("v2/"))


def refusal_message(body: bytes, names: list[str], scope: Scope, required: int = 2) -> str:
    """The refusal of a call Gradio would refuse without a word, in the caller's language; else "":
    too few positional values, a keyword call missing a required parameter (the first `required`
    names) or naming an unknown one, or a file that was never uploaded (Gradio checks the paths of
    `gradio.FileData` items before the endpoint runs, and hides its message)."""
    try:
        payload = json.loads(body or b"{}")
    except ValueError:
        return ""  # not ours to judge: Gradio answers a malformed body itself
    headers = {key.decode("latin-1"): value.decode("latin-1") for key, value in scope.get("headers", [])}
    words = Words(language_of(headers.get("accept-language")))
    api_name = scope["path"].rstrip("/").rsplit("/", 1)[-1]
    if "/v2/" in scope["path"]:
        problem = _keyword_problem(payload, names, required, api_name, words)
    else:
        problem = _positional_problem(payload, names, api_name, words)
    if problem:
        return problem
    for path in _file_paths(payload):
        if not readable(Path(path)):
            return words("error.not_uploaded", name=Path(path).name)
    return ""


def _positional_problem(payload: Any, names: list[str], api_name: str, words: Words) -> str:
    data = payload.get("data") if isinstance(payload, dict) else None
    if not isinstance(data, list) or len(data) >= len(names):
        return ""
    return words("api.missing_values", api_name=api_name, expected=len(names), names=", ".join(names),
                 got=len(data), missing=", ".join(names[len(data):]))


def _keyword_problem(payload: Any, names: list[str], required: int, api_name: str, words: Words) -> str:
    if not isinstance(payload, dict):
        return ""
    unknown = [key for key in payload if key not in names and key not in ("session_hash", "oauth_token")]
    if unknown:
        return words("api.unknown_keys", api_name=api_name, unknown=", ".join(unknown), names=", ".join(names))
    missing = [name for name in names[:required] if name not in payload]
    if missing:
        return words("api.missing_keys", api_name=api_name, missing=", ".join(missing))
    return ""


def _file_paths(value: Any) -> Iterator[str]:
    """The local paths of the `gradio.FileData` items anywhere in a request body (URLs excluded)."""
    if isinstance(value, dict):
        meta, path = value.get("meta"), value.get("path")
        if isinstance(meta, dict) and meta.get("_type") == "gradio.FileData" and isinstance(path, str) \
                and not path.startswith(("http://", "https://", "data:")):
            yield path
        for item in value.values():
            yield from _file_paths(item)
    elif isinstance(value, list):
        for item in value:
            yield from _file_paths(item)


async def _read_body(receive: Receive) -> tuple[bytes, list[Message]]:
    messages, size, more = [], 0, True
    while more:
        message = await receive()
        messages.append(message)
        size += len(message.get("body", b""))
        more = message.get("more_body", False) and size <= MAX_CHECKED_BODY
    body = b"".join(m.get("body", b"") for m in messages) if not messages[-1].get("more_body") else b""
    return body, messages


def _replay(messages: list[Message], receive: Receive) -> Callable:
    """A `receive` that hands the already-read messages over again, then the rest of the stream."""
    pending = list(messages)

    async def replayed() -> Message:
        return pending.pop(0) if pending else await receive()

    return replayed
