"""The `reason` MCP tool, served with the `mcp` SDK at /gradio_api/mcp/ on the app's own server.

`ReasonTool(reason)` describes `/reason` (a `ui.http.api.ReasonApi`) as an MCP tool; `served(max_file_size)` gives the route that
serves it (streamable HTTP, stateless) and the session manager's `run` for the app's lifespan;
`ui.http.installer` installs both at launch with `--mcp`.

- Input schema: built from the `/reason` function's signature and docstring (so a new setting there
  appears here with its default), except `images`: an array of strings, `data:` or `https:` URLs.
- Result: `structuredContent` = the final `/reason` dict (`OUTPUT_SCHEMA`), the text content is the
  same dict as JSON. A refusal is a tool error (`isError`) whose text is the app's own message.
- Progress: with a progress token, each streamed `/reason` dict goes out as a progress notification
  whose message is that dict as JSON (thinking and answer so far).
- Size: a request body may hold `max_file_size` of images as base64 (4/3 of it) plus 1 MiB, counted
  as it arrives (a Content-Length is never trusted: a chunked body is counted the same way). A larger
  one gets a JSON-RPC error naming the limit (HTTP 200, so the client's session survives); the body is
  read on to its end, holding only its first and last 512 bytes, because the SDK's clients write the
  request's id after its params and need it in the reply. Past `DRAIN_FACTOR` times the limit the
  reading stops. (A malformed Content-Length never reaches this: `ui.http.bodylimit` answers it 400.)

Why not Gradio's own MCP server (gradio 6.31.0): it returns the output's `str()` (a Python repr),
offers no output schema (`gr.tool(structured_output=True)` only wraps the content list in
{"result": ...}), sends only queue positions as progress, shows FileData's fields as the image
schema, and creates the SDK's session manager with its default 4 MiB body limit and no way to set
it, answering a bare 413 that ends the client's session. The engine path is the same as the
page's and /reason's: the tool calls the `/reason` function (`ui.http.api.ReasonApi.endpoint`), nothing else.
"""
from __future__ import annotations

import inspect
import json
import math
import re
import typing
from typing import Any, AsyncContextManager, Callable, Iterator

import anyio
import gradio as gr
from pydantic import TypeAdapter
from starlette.requests import Request as StarletteRequest
from starlette.responses import JSONResponse
from starlette.routing import Mount
from starlette.types import Receive, Scope, Send

from ui.http.api import ReasonApi
from ui.http.checks import arguments_refusal
from ui.http.bodylimit import declared_length, replayed
from ui.i18n.words import EN
from ui.serving.requestlog import refused

MCP_PATH = "/gradio_api/mcp"
MIB = 2**20
DRAIN_FACTOR = 4  # an oversize body is read on to this many times the limit, for its request id
IMAGES_SCHEMA = {
    "type": "array", "items": {"type": "string"},
    "description": ("The images the question is about, as URLs: `data:image/png;base64,...` (PNG, JPEG, WebP, "
                    "GIF) or a public `https://` address; may be empty. {limit}"),
}
OUTPUT_SCHEMA = {
    "type": "object",
    "properties": {
        "reasoning": {"type": "string", "description": "the model's thinking"},
        "answer": {"type": "string", "description": "the answer"},
        "status": {"type": "string", "description": "empty once the model has started"},
        "stats": {"type": "object", "description": "tokens, tiles per image, seconds, finish_reason, seed"},
    },
    "required": ["reasoning", "answer", "status", "stats"],
}
_SKIPPED = {"request"}  # gr.Request is injected by the server, not sent by callers


def body_limit_bytes(max_file_size: str | int) -> int:
    """Largest MCP request: the upload limit as base64 text (4/3 of it) plus 1 MiB for the rest."""
    size = gr.utils._parse_file_size(max_file_size) or 20 * MIB
    return math.ceil(size * 4 / 3) + MIB


def _doc_args(doc: str) -> dict[str, str]:
    """The `Args:` section of a Google-style docstring: name -> description."""
    found: dict[str, str] = {}
    section, name = False, None
    for line in inspect.cleandoc(doc or "").splitlines():
        if line.strip() == "Args:":
            section = True
            continue
        match = re.match(r"^\s{2,}(\w+):\s*(.*)$", line) if section else None
        if match:
            name = match.group(1)
            found[name] = match.group(2)
        elif section and name and line.startswith("        "):
            found[name] += " " + line.strip()
        elif section and line and not line.startswith(" "):
            section = False
    return found


def input_schema(fn: Callable, limit_text: str) -> dict:
    """The JSON schema of `fn`'s parameters (images: URLs as strings), defaults included."""
    hints, docs = typing.get_type_hints(fn), _doc_args(fn.__doc__ or "")
    properties, required = {}, []
    for name, parameter in inspect.signature(fn).parameters.items():
        if name in _SKIPPED:
            continue
        if name == "images":
            schema = dict(IMAGES_SCHEMA, description=IMAGES_SCHEMA["description"].format(limit=limit_text))
        else:
            schema = _json_schema(hints.get(name, Any))
            if name in docs:
                schema["description"] = docs[name]
        if parameter.default is inspect.Parameter.empty:
            required.append(name)
        elif name != "images":
            schema["default"] = parameter.default
        properties[name] = schema
    return {"type": "object", "properties": properties, "required": required, "additionalProperties": False}


def _json_schema(hint: Any) -> dict:
    try:
        schema = TypeAdapter(hint).json_schema()
    except Exception:  # noqa: BLE001 - a type pydantic cannot describe is sent as any JSON value
        return {}
    schema.pop("title", None)
    return schema


def description(fn: Callable, limit_text: str) -> str:
    """The docstring's summary and body, without the Args section, and the size limit."""
    text = inspect.cleandoc(fn.__doc__ or "").split("\nArgs:")[0].strip()
    return f"{text}\n\nThe result is JSON (structuredContent). {limit_text}"


class ReasonTool:
    """`/reason` as the MCP tool `reason`: the same `ReasonApi` that the page serves."""

    def __init__(self, reason: ReasonApi, max_concurrency: int = 4):
        self.reason = reason
        self.threads = anyio.CapacityLimiter(max_concurrency)  # answers stream from worker threads

    def served(self, max_file_size: str | int) -> tuple[Mount, Callable[[], AsyncContextManager]]:
        """(the route at /gradio_api/mcp/, the session manager's `run`, entered for the app's lifespan).
        A manager runs once: each launch gets its own."""
        from mcp.server.streamable_http_manager import StreamableHTTPSessionManager

        limit = body_limit_bytes(max_file_size)
        text = _limit_text(limit, gr.utils._parse_file_size(max_file_size) or 20 * MIB)
        manager = StreamableHTTPSessionManager(self._server(text), stateless=True, max_request_body_size=limit)
        return Mount(MCP_PATH, app=_SizeLimited(manager.handle_request, limit)), manager.run

    def _server(self, limit_text: str):
        from mcp import types
        from mcp.server.lowlevel import Server

        fn = self.reason.endpoint()
        tool = types.Tool(name="reason", description=description(fn, limit_text),
                          inputSchema=input_schema(fn, limit_text), outputSchema=OUTPUT_SCHEMA)
        server = Server("R1V Demo")

        @server.list_tools()
        async def list_tools() -> list[types.Tool]:
            return [tool]

        # The app checks the values itself (ui.http.checks): the SDK's schema check would answer a null
        # setting (the default, for the app) and a wrong type in jsonschema's words, unlogged.
        @server.call_tool(validate_input=False)
        async def call_tool(name: str, arguments: dict[str, Any]):
            if name != tool.name:
                return types.CallToolResult(content=[types.TextContent(type="text", text=f"No tool {name!r}.")],
                                            isError=True)
            context = server.request_context
            try:
                return await self.call(arguments, context.request, _progress_sender(context))
            except gr.Error as error:
                return types.CallToolResult(content=[types.TextContent(type="text", text=str(error.message))],
                                            isError=True)

        return server

    async def call(self, arguments: dict[str, Any], http_request: StarletteRequest | None,
                   progress: Callable[[int, dict], Any]) -> dict:
        """Run `/reason` with `arguments`; each streamed dict goes to `progress`; the last is returned."""
        fn = self.reason.endpoint()
        names = [name for name in inspect.signature(fn).parameters if name not in _SKIPPED]
        problem = arguments_refusal(arguments, names, ["question"], EN)
        if problem:
            refused("reason", "arguments")
            raise gr.Error(problem)
        request = gr.Request(request=http_request) if http_request is not None else None
        updates: Iterator[dict] = fn(**arguments, request=request)
        final: dict | None = None
        try:
            async with self.threads:
                step = 0
                while (update := await anyio.to_thread.run_sync(next, updates, None)) is not None:
                    final, step = update, step + 1
                    await progress(step, update)
        finally:  # a cancelled call closes the stream, which stops the engine within one step
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(updates.close)
        if final is None:
            raise gr.Error(EN("error.internal"))
        return final


def _progress_sender(context: Any) -> Callable[[int, dict], Any]:
    """Sends each streamed dict as JSON in a progress notification, if the caller asked for them."""
    token = context.meta.progressToken if context.meta else None

    async def progress(step: int, update: dict) -> None:
        if token is not None:
            await context.session.send_progress_notification(
                token, step, message=json.dumps(update, ensure_ascii=False), related_request_id=str(context.request_id))

    return progress


def _limit_text(limit: int, file_size: int) -> str:
    return EN("mcp.size_limit", mb=f"{limit / MIB:.1f}", file_mb=f"{file_size / MIB:g}")


class _SizeLimited:
    """A request body over `limit` bytes gets a JSON-RPC error naming the limit, with HTTP 200:
    the MCP clients end the whole session on an HTTP error status, not on a JSON-RPC error."""

    HEAD = 512  # bytes kept from each end of an oversize body, to find its request id

    def __init__(self, app: Callable, limit: int):
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") != "POST":
            return await self.app(scope, receive, send)
        declared, _ = declared_length(scope)
        chunks, size, more = [], 0, True
        while more and size <= self.limit and (declared is None or declared <= self.limit):
            message = await receive()
            chunk, more = message.get("body", b""), message.get("more_body", False)
            chunks.append(chunk)
            size += len(chunk)
            more = more and message["type"] == "http.request"
        body = b"".join(chunks)
        if not more and size <= self.limit:
            return await self.app(scope, replayed(body, receive), send)
        head, tail, size = await _ends(body[: self.HEAD], body[-self.HEAD:], size, more, receive,
                                       DRAIN_FACTOR * self.limit)
        text = EN("error.mcp_too_large", size=f"{max(size, declared or 0) / MIB:.1f}", limit=f"{self.limit / MIB:.1f}")
        body = {"jsonrpc": "2.0", "id": _request_id(head, tail), "error": {"code": -32600, "message": text}}
        await JSONResponse(body)(scope, receive, send)


async def _ends(head: bytes, tail: bytes, size: int, more: bool, receive: Receive, cap: int) -> tuple[bytes, bytes, int]:
    """Reads the rest of a body (up to `cap` bytes in all), keeping only its first and last 512 bytes."""
    while more and size <= cap:
        message = await receive()
        chunk, more = message.get("body", b""), message.get("more_body", False)
        size += len(chunk)
        head = head if len(head) >= _SizeLimited.HEAD else (head + chunk)[: _SizeLimited.HEAD]
        tail = (tail + chunk)[-_SizeLimited.HEAD:]
        more = more and message["type"] == "http.request"
    return head, tail, size


def _request_id(head: bytes, tail: bytes) -> Any:
    """The JSON-RPC id of a body read only at its ends (it comes before or after the params)."""
    before_params = head.split(b'"params"')[0]
    for part in (before_params, tail):
        found = re.findall(rb'"id"\s*:\s*("(?:[^"\\]|\\.)*"|-?\d+)', part)
        if found:
            return json.loads(found[-1])
    return None
