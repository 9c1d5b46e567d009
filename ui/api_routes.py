"""What the server adds to Gradio's own routes for scripts, installed when it starts.

`ApiRoutes(handlers).launch_options(max_file_size, mcp=...)` gives the `demo.launch()` arguments:
- plain HTTP: `POST /gradio_api/call/reason` with fewer positional values than `/reason` takes gets
  the rest filled with the defaults that `/gradio_api/info` lists, and `"data"` may also be an
  object of named values; a missing value without a default, or an unknown name, is refused
  (HTTP 422) by name. Gradio 6.31 fills nothing for positional calls: its
  `Blocks.validate_inputs` raises a ValueError ("didn't receive enough input values") that clients
  see as `{"error": null}`.
- with `mcp=True`: the `reason` MCP tool at /gradio_api/mcp/ (`ui.mcp_tool`).
Both are installed by a lifespan handler, the one hook Gradio's `launch` offers onto its app.
"""
from __future__ import annotations

import contextlib
import json
from typing import Any, AsyncIterator

from starlette.responses import JSONResponse
from starlette.types import Message, Receive, Scope, Send

from ui.i18n import EN
from ui.mcp_tool import ReasonTool

CALL_PATHS = ("/gradio_api/call/reason", "/gradio_api/call/reason/")
MAX_CALL_BODY = 1 * 2**20  # a call's JSON holds values and upload paths, never file bytes


class ApiRoutes:
    """The routes for scripts, over the page's handlers."""

    def __init__(self, handlers: Any, max_concurrency: int = 4):
        self.tool = ReasonTool(handlers, max_concurrency)

    def launch_options(self, max_file_size: str | int = "20mb", mcp: bool = False) -> dict[str, Any]:
        tool = self.tool

        @contextlib.asynccontextmanager
        async def lifespan(app: Any) -> AsyncIterator[None]:
            # The app is already started, so Starlette refuses add_middleware; wrap its built stack.
            app.middleware_stack = PositionalDefaults(app.middleware_stack or app.build_middleware_stack(),
                                                      app.get_blocks())
            async with contextlib.AsyncExitStack() as stack:
                if mcp:
                    await stack.enter_async_context(tool.mounted(app, max_file_size))
                yield

        return {"app_kwargs": {"lifespan": lifespan}}


def parameters(blocks: Any) -> list[dict]:
    """`/reason`'s parameters as `/gradio_api/info` lists them (name, default), in order."""
    return blocks.get_api_info()["named_endpoints"]["/reason"]["parameters"]


def filled(values: list, params: list[dict]) -> tuple[list, list[str]]:
    """`values` with the missing trailing ones set to their defaults, and the names of any missing
    value that has no default."""
    missing = [p["parameter_name"] for p in params[len(values):] if not p.get("parameter_has_default")]
    return values + [p.get("parameter_default") for p in params[len(values):]], missing


def named(values: dict, params: list[dict]) -> tuple[list, list[str]]:
    """`{"name": value}` as the positional list, defaults where left out; and the names missing."""
    ordered = [values.get(p["parameter_name"], p.get("parameter_default")) for p in params]
    missing = [p["parameter_name"] for p in params if p["parameter_name"] not in values
               and not p.get("parameter_has_default")]
    return ordered, missing


def refusal(call: dict, params: list[dict]) -> str:
    """Why a call's values cannot be completed ("" when they can)."""
    values, names = call.get("data"), [p["parameter_name"] for p in params]
    order = ", ".join(names)
    unknown = [name for name in values if name not in names] if isinstance(values, dict) else []
    if unknown:
        return EN("error.http_unknown", names=", ".join(unknown), order=order)
    missing = (named(values, params) if isinstance(values, dict) else filled(values, params))[1]
    return EN("error.http_missing", names=", ".join(missing), order=order) if missing else ""


class PositionalDefaults:
    """ASGI middleware: fills a short positional `/gradio_api/call/reason` body (see module doc)."""

    def __init__(self, app: Any, blocks: Any):
        self.app, self.blocks = app, blocks

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") != "POST" or scope.get("path") not in CALL_PATHS:
            await self.app(scope, receive, send)
            return
        body, more = b"", True
        while more and len(body) <= MAX_CALL_BODY:
            message = await receive()
            body, more = body + message.get("body", b""), message.get("more_body", False)
        if more:  # too large to be a call; Gradio answers it as it would
            await self.app(scope, _replay(body, receive), send)
            return
        body, why = self._completed(body)
        if why:
            await JSONResponse({"error": why}, status_code=422)(scope, receive, send)
            return
        headers = [(k, v) for k, v in scope["headers"] if k.lower() != b"content-length"]
        scope = dict(scope, headers=headers + [(b"content-length", str(len(body)).encode())])
        await self.app(scope, _replay(body, None), send)

    def _completed(self, body: bytes) -> tuple[bytes, str]:
        """The body with its values completed, or the reason they cannot be."""
        try:
            call = json.loads(body)
        except ValueError:
            return body, ""  # Gradio names the JSON error
        values = call.get("data") if isinstance(call, dict) else None
        params = parameters(self.blocks)
        if not (isinstance(values, dict) or (isinstance(values, list) and len(values) < len(params))):
            return body, ""
        why = refusal(call, params)
        call["data"] = (named(values, params) if isinstance(values, dict) else filled(values, params))[0]
        return json.dumps(call).encode(), why


def _replay(body: bytes, receive: Receive | None) -> Receive:
    """A `receive` that first hands over `body`, then (if given) the rest of the original stream."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": receive is not None}
        if receive is None:
            return {"type": "http.disconnect"}
        return await receive()

    return replay
