"""`/reason` calls reach `/reason` with their images as sent (`ReasonCalls`, installed by `ui.http.installer`).

`/reason` calls (`POST /gradio_api/call/reason`, and `POST /gradio_api/queue/join` for /reason, as
gradio_client and @gradio/client send them) have the FileData marker (`meta`) removed from their
images, so the app's own check (`ui.store.uploads.image_path`: uploads, examples, data: and public https:
URLs) answers for every client with its own message. With the marker, Gradio 6.31 checks and
downloads files before `/reason` runs (`processing_utils.async_move_files_to_cache`) and its
refusals (a path never uploaded, a loopback URL) are not `gr.Error`s, so clients got `null` or "An
error occurred". Plain HTTP calls are checked before this, while the markers are still there
(`ui.http.plain_http.CallCheck`). A queue join for /reason tells `ui.http.cancelled` the job to watch.
"""
from __future__ import annotations

import json
from typing import Any

from starlette.types import Receive, Scope, Send

from ui.http.bodylimit import read_body, replayed, with_body
from ui.http.cancelled import CancelledJobs

CALL_PATHS = ("/gradio_api/call/reason", "/gradio_api/call/reason/")
JOIN_PATHS = ("/gradio_api/queue/join", "/gradio_api/queue/join/")


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
        body = await read_body(receive)  # bounded by ui.http.bodylimit, which runs before this
        if path in CALL_PATHS:
            body = self._completed(body)
        else:
            body, session = self._joined(body)
            if session is not False and self.cancelled is not None:
                send = self.cancelled.joined(session, send)
        await self.app(with_body(scope, body), replayed(body, receive), send)

    def _completed(self, body: bytes) -> bytes:
        """The body with its images as sent (`ui.http.plain_http.CallCheck` has completed the values before this)."""
        try:
            call = json.loads(body)
        except ValueError:
            return body  # Gradio names the JSON error
        values = call.get("data") if isinstance(call, dict) else None
        if not isinstance(values, list):
            return body
        call["data"] = raw_images(values, self.params)
        return json.dumps(call).encode()

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
