"""A cancelled `/reason` job ends cleanly for Gradio's JavaScript client too.

Gradio 6.31's `POST /gradio_api/cancel` (routes.py `cancel_event`) stops the job, then completes it
with `{"msg": "process_completed", "success": true, "output": {}}`. @gradio/client 2.7.0 reads
`output.data` of every successful completion (`handle_payload`), so a `job.cancel()` made it throw
"TypeError: Cannot read properties of undefined" and report "An Unexpected Error Occurred!"
although the server had stopped. `CancelledJobs` (ASGI middleware) rewrites that one message, for
`/reason` jobs only, to `"output": {"data": [null]}`: the client then ends the job with a final
value of null and a "complete" status. gradio_client does not read the message (it cancels its
own future); the page's own jobs are left as they are.
"""
from __future__ import annotations

import json
from collections import OrderedDict
from typing import Any

from starlette.types import Message, Receive, Scope, Send

DATA_PATHS = ("/gradio_api/queue/data", "/gradio_api/queue/data/")
REMEMBERED = 4_096  # /reason sessions and jobs kept, the oldest forgotten first


class CancelledJobs:
    """The /reason sessions and jobs to watch; `wrap(app)` is the middleware over `app` (ui.http.installer)."""

    def __init__(self, app: Any = None):
        self.app = app
        self.sessions: OrderedDict[str, None] = OrderedDict()
        self.jobs: OrderedDict[str, None] = OrderedDict()

    def wrap(self, app: Any) -> "CancelledJobs":
        self.app = app
        return self

    def joined(self, session_hash: str | None, send: Send) -> Send:
        """`send` for the answer to a /reason queue/join: remembers the session and the job's id."""
        if session_hash:
            _remember(self.sessions, session_hash)

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.body":
                try:
                    _remember(self.jobs, json.loads(message.get("body") or b"{}")["event_id"])
                except (ValueError, KeyError, TypeError):
                    pass
            await send(message)

        return capture

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") not in DATA_PATHS or _session(scope) not in self.sessions:
            await self.app(scope, receive, send)
            return
        # Gradio's Brotli middleware runs outside this one: the rewrite sees each event as Gradio wrote it.
        async def rewrite(message: Message) -> None:
            if message["type"] == "http.response.body" and b'"process_completed"' in message.get("body", b""):
                message = dict(message, body=self._completed(message["body"]))
            await send(message)

        await self.app(scope, receive, rewrite)

    def _completed(self, body: bytes) -> bytes:
        events = []
        for event in body.split(b"\n\n"):
            if event.startswith(b"data: "):
                try:
                    data = json.loads(event[6:])
                except ValueError:
                    data = None
                if (isinstance(data, dict) and data.get("msg") == "process_completed" and data.get("success")
                        and data.get("output") == {} and data.get("event_id") in self.jobs):
                    event = b"data: " + json.dumps(dict(data, output={"data": [None]})).encode()
            events.append(event)
        return b"\n\n".join(events)


def _session(scope: Scope) -> str | None:
    for pair in (scope.get("query_string") or b"").decode().split("&"):
        name, _, value = pair.partition("=")
        if name == "session_hash":
            return value
    return None


def _remember(memory: OrderedDict, key: str) -> None:
    memory[key] = None
    memory.move_to_end(key)
    while len(memory) > REMEMBERED:
        memory.popitem(last=False)
