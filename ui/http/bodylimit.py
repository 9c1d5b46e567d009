"""Request bodies are limited while they are read, never after.

`BodyLimits(app, call_limit)` (ASGI middleware) gives every POST, PUT or PATCH the limit of its route:
- `/gradio_api/call/`, `/call/v2/`, `/run/`, `/api/` (plain HTTP calls, which may carry images as
  `data:` URLs): `call_limit` bytes (one upload's worth of base64 plus 1 MiB, as for MCP);
- Gradio's file routes (`/gradio_api/upload`, `/process_recording`) and the MCP route: none here
  (Gradio counts each uploaded file against `max_file_size`; `ui.http.mcp_tool` limits its own bodies);
- every other body (the page's events through `/gradio_api/queue/join`, which carry the browser's
  history store, and the rest): `EVENT_LIMIT`, the store's bound plus 1 MB for the other values.
A `Content-Length` that is not one whole number is refused with 400, a declared length over the
limit with 413 before a byte of the body is read, and a body without one (chunked) with 413 as soon
as it passes the limit; the rest is never read. Each refusal is JSON `{"error": ...}` naming the
limit. A body within its limit is read whole (at most the limit is held) and handed on as one
message, so the checks after this one read a bounded body (`read_body`, `replayed`).
"""
from __future__ import annotations

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ui.store.history import MAX_STORE_BYTES
from ui.i18n.words import Words, language_of

MB = 1_000_000
EVENT_LIMIT = MAX_STORE_BYTES + MB
CALL_PREFIXES = ("/gradio_api/call/", "/gradio_api/run/", "/gradio_api/api/")
UNLIMITED_PREFIXES = ("/gradio_api/upload", "/gradio_api/process_recording", "/gradio_api/mcp")
BODY_METHODS = ("POST", "PUT", "PATCH")


class BodyTooLarge(Exception):
    pass


def declared_length(scope: Scope) -> tuple[int | None, str]:
    """(the Content-Length, or None when none is given; the raw header when it is malformed, else "")."""
    values = [value for name, value in scope.get("headers") or [] if name.lower() == b"content-length"]
    if not values:
        return None, ""
    raw = values[0].decode("latin-1")
    if len(set(values)) != 1 or not raw.strip().isdigit() or not raw.strip().isascii():
        return None, ", ".join(value.decode("latin-1") for value in values)[:40]
    return int(raw.strip()), ""


async def read_at_most(receive: Receive, limit: int) -> bytes:
    """The whole body; raises BodyTooLarge as soon as more than `limit` bytes have arrived."""
    chunks, size, more = [], 0, True
    while more:
        message = await receive()
        if message["type"] != "http.request":
            break  # the client left; what came is handed on and the app sees the disconnect next
        chunk, more = message.get("body", b""), message.get("more_body", False)
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


async def read_body(receive: Receive) -> bytes:
    """The whole body of a request `BodyLimits` has already bounded."""
    chunks, more = [], True
    while more:
        message = await receive()
        chunks.append(message.get("body", b""))
        more = message.get("more_body", False) and message["type"] == "http.request"
    return b"".join(chunks)


def replayed(body: bytes, receive: Receive) -> Receive:
    """A `receive` that hands `body` over as one message, then reads on (the client's disconnect)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def with_body(scope: Scope, body: bytes) -> Scope:
    """`scope` with a Content-Length that matches `body` (after a check rewrote it)."""
    kept = [(name, value) for name, value in scope["headers"] if name.lower() != b"content-length"]
    return {**scope, "headers": [*kept, (b"content-length", str(len(body)).encode())]}


def limit_of(path: str, call_limit: int) -> tuple[int, str] | None:
    """(the body limit of `path`, the key of the words that say what it is for), or None for no limit here."""
    if path.startswith(UNLIMITED_PREFIXES):
        return None
    if path.startswith(CALL_PREFIXES):
        return call_limit, "error.body_limit_call"
    return EVENT_LIMIT, "error.body_limit_event"


class BodyLimits:
    def __init__(self, app: ASGIApp, call_limit: int):
        self.app, self.call_limit = app, call_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") not in BODY_METHODS:
            return await self.app(scope, receive, send)
        words = _words(scope)
        declared, malformed = declared_length(scope)
        if malformed:
            return await _refuse(400, words("error.bad_content_length", value=malformed), scope, receive, send)
        found = limit_of(scope["path"], self.call_limit)
        if found is None:
            return await self.app(scope, receive, send)
        limit, what = found
        too_large = words("error.body_too_large", limit=f"{limit / MB:.1f}", what=words(what))
        if declared is not None and declared > limit:
            return await _refuse(413, too_large, scope, receive, send)
        try:
            body = await read_at_most(receive, limit)
        except BodyTooLarge:
            return await _refuse(413, too_large, scope, receive, send)
        await self.app(scope, replayed(body, receive), send)


def _words(scope: Scope) -> Words:
    headers = {name.lower(): value for name, value in scope.get("headers") or []}
    return Words(language_of(headers.get(b"accept-language", b"").decode("latin-1")))


async def _refuse(status: int, message: str, scope: Scope, receive: Receive, send: Send) -> None:
    # Connection: close, as the unread rest of the body cannot be told from a next request.
    response = JSONResponse({"error": message}, status_code=status, headers={"connection": "close"})
    await response(scope, receive, send)
