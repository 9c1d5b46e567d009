"""What the server adds to Gradio's own routes for scripts, installed when it starts.

`ApiRoutes(handlers).launch_options(max_file_size, mcp=...)` gives the `demo.launch()` arguments:
- `/reason` calls (`POST /gradio_api/call/reason`, and `POST /gradio_api/queue/join` for /reason, as
  gradio_client and @gradio/client send them) reach `/reason` with their images as sent: the
  FileData marker (`meta`) is removed, so the app's own check (`ui.uploads.image_path`: uploads,
  examples, data: and public https: URLs) answers for every client with its own message. With the
  marker, Gradio 6.31 checks and downloads files before `/reason` runs (`processing_utils.
  async_move_files_to_cache`) and its refusals (a path never uploaded, a loopback URL) are not
  `gr.Error`s, so clients got `null` or "An error occurred".
- plain HTTP calls with values left out or misnamed are completed or refused by `ui.httpapi.CallCheck`,
  which runs after this.
- a cancelled /reason job ends cleanly for @gradio/client (`ui.cancelled`).
- with `mcp=True`: the `reason` MCP tool at /gradio_api/mcp/ (`ui.mcp_tool`).
All are installed by a lifespan handler, the one hook Gradio's `launch` offers onto its app.
"""
from __future__ import annotations

import contextlib
import json
from typing import Any, AsyncIterator

from starlette.responses import JSONResponse
from starlette.types import Message, Receive, Scope, Send

from ui.cancelled import CancelledJobs
from ui.mcp_tool import ReasonTool

CALL_PATHS = ("/gradio_api/call/reason", "/gradio_api/call/reason/")
JOIN_PATHS = ("/gradio_api/queue/join", "/gradio_api/queue/join/")
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
            cancelled = CancelledJobs(app.middleware_stack or app.build_middleware_stack())
            app.middleware_stack = ReasonCalls(cancelled, app.get_blocks(), cancelled)
            async with contextlib.AsyncExitStack() as stack:
                if mcp:
                    await stack.enter_async_context(tool.mounted(app, max_file_size))
                yield

        return {"app_kwargs": {"lifespan": lifespan}}


def parameters(blocks: Any) -> list[dict]:
    """`/reason`'s parameters as `/gradio_api/info` lists them (name, default), in order."""
    return blocks.get_api_info()["named_endpoints"]["/reason"]["parameters"]


def raw_images(values: list, params: list[dict]) -> list:
    """`values` with the FileData marker taken off each image item (see the module doc)."""
    names = [p["parameter_name"] for p in params]
    at = names.index("images") if "images" in names else None
    if at is None or at >= len(values) or not isinstance(values[at], list):
        return values
    items = [{k: v for k, v in item.items() if k != "meta"} if isinstance(item, dict) else item
             for item in values[at]]
    return values[:at] + [items] + values[at + 1:]


class ReasonCalls:
    """ASGI middleware over the whole app: rewrites `/reason` call bodies (see the module doc)."""

    def __init__(self, app: Any, blocks: Any, cancelled: CancelledJobs | None = None):
        self.app, self.blocks, self.cancelled = app, blocks, cancelled
        self.fn_index = next((index for index, fn in blocks.fns.items() if fn.api_name == "reason"), None)
        self._params: list[dict] | None = None

    @property
    def params(self) -> list[dict]:
        if self._params is None:  # the API does not change once the app runs
            self._params = parameters(self.blocks)
        return self._params

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path") if scope["type"] == "http" and scope.get("method") == "POST" else None
        if path not in CALL_PATHS + JOIN_PATHS:
            await self.app(scope, receive, send)
            return
        body, more = b"", True
        while more and len(body) <= MAX_CALL_BODY:
            message = await receive()
            body, more = body + message.get("body", b""), message.get("more_body", False)
        if more:  # too large to be a call; Gradio answers it as it would
            await self.app(scope, _replay(body, receive, True), send)
            return
        if path in CALL_PATHS:
            body, why = self._completed(body)
        else:
            body, session, why = *self._joined(body), ""
            if session is not False and self.cancelled is not None:
                send = self.cancelled.joined(session, send)
        if why:
            await JSONResponse({"error": why}, status_code=422)(scope, receive, send)
            return
        headers = [(k, v) for k, v in scope["headers"] if k.lower() != b"content-length"]
        scope = dict(scope, headers=headers + [(b"content-length", str(len(body)).encode())])
        await self.app(scope, _replay(body, receive, False), send)

    def _completed(self, body: bytes) -> tuple[bytes, str]:
        """The body with its images as sent (`ui.httpapi.CallCheck` completes the values after this)."""
        try:
            call = json.loads(body)
        except ValueError:
            return body, ""  # Gradio names the JSON error
        values = call.get("data") if isinstance(call, dict) else None
        if not isinstance(values, list):
            return body, ""
        call["data"] = raw_images(values, self.params)
        return json.dumps(call).encode(), ""

    def _joined(self, body: bytes) -> tuple[bytes, Any]:
        """A queue/join body for /reason with its images as sent, and its session (False for a body
        that is not a /reason call, which stays unchanged)."""
        try:
            call = json.loads(body)
        except ValueError:
            return body, False
        is_reason = isinstance(call, dict) and call.get("fn_index") == self.fn_index
        if not is_reason or not isinstance(call.get("data"), list):
            return body, False
        call["data"] = raw_images(call["data"], self.params)
        return json.dumps(call).encode(), call.get("session_hash")


def _replay(body: bytes, receive: Receive, more: bool) -> Receive:
    """A `receive` that first hands over `body` (with `more` body to come), then reads on from the
    original `receive` (the rest of the body, or the client's disconnect)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": more}
        return await receive()

    return replay
