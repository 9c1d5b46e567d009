"""One way onto Gradio's FastAPI app: our routes and our middleware, in one written order.

`HttpApp(demo, reason, slot, max_concurrency)` is made by `ui.page.layout.build_page`, once `/reason`
(`reason`, a `ui.http.api.ReasonApi`) is registered; `app_kwargs(max_file_size, mcp)` is the value for `demo.launch(app_kwargs=...)`, a fresh dict
each launch (Gradio 6.31's `App.create_app` passes it to FastAPI, `App(**app_kwargs)`, and replaces
its "lifespan" with its own handler wrapped around ours). `ui.page.layout.serve` is the one launch that
`python app.py` and every test that talks HTTP use.

- routes: `/healthz`, `/readyz`, `/model-info` (`ui.http.health`) and, with `mcp=True`, the `reason` MCP
  tool at `/gradio_api/mcp/` (`ui.http.mcp_tool`). FastAPI's `routes` come before the ones Gradio adds
  afterwards, so its catch-all routes never shadow them.
- middleware: in the order written above `HttpApp`, with why. Gradio adds its CORS and Brotli middleware outside ours.
- lifespan: with `mcp=True`, the MCP SDK's session manager runs while the app serves.
"""
from __future__ import annotations

import contextlib
from typing import Any, AsyncIterator, Sequence

from starlette.middleware import Middleware

from ui.http.api import PARAMETERS, ReasonApi, parameter_defaults
from ui.http.routes import ReasonCalls
from ui.http.bodylimit import BodyLimits
from ui.http.cancelled import CancelledJobs
from ui.http.csp import PageSecurity, script_hashes
from ui.http.health import Health
from ui.http.plain_http import CallCheck, Endpoint
from ui.http.mcp_tool import ReasonTool, body_limit_bytes
from ui.serving.shared import ModelSlot

# Outermost first: each sees a request before the ones below it.
#  1. PageSecurity  - the Content-Security-Policy on every HTML page, error pages included.
#  2. BodyLimits    - refuses a malformed Content-Length or an oversize body while reading it, so
#                     nothing below ever holds more than a route's limit.
#  3. CallCheck     - plain HTTP calls of /reason: a value missing or misnamed, a file never uploaded
#                     (422). It reads the FileData markers (`meta`), so it must come before 4.
#  4. ReasonCalls   - /reason calls and queue joins go on with their images as sent (markers removed),
#                     so /reason's own checks answer every client alike; it notes /reason's jobs for 5.
#  5. CancelledJobs - a cancelled /reason job ends in a message @gradio/client can read.


class HttpApp:
    """What the app serves beyond Gradio's own routes, for one Blocks."""

    def __init__(self, demo: Any, reason: ReasonApi, slot: ModelSlot, max_concurrency: int = 4):
        self.demo, self.slot = demo, slot
        self.tool = ReasonTool(reason, max_concurrency)
        fn_index = next(fn._id for fn in demo.fns.values() if fn.api_name == "reason")
        self.reason = Endpoint("reason", fn_index, PARAMETERS, parameter_defaults(slot.info.defaults))

    def middleware(self, max_file_size: str | int, inline_scripts: Sequence[str] = ()) -> list[Middleware]:
        """The middleware in the order written above this class (Starlette builds a list outermost first);
        `inline_scripts`: the page's own (its `head`), allowed by their hashes."""
        cancelled = CancelledJobs()
        ordered = [Middleware(PageSecurity, hashes=script_hashes(inline_scripts)),
                   Middleware(BodyLimits, call_limit=body_limit_bytes(max_file_size)),
                   Middleware(CallCheck, endpoints=[self.reason]),
                   Middleware(ReasonCalls, blocks=self.demo, cancelled=cancelled),
                   Middleware(cancelled.wrap)]
        return ordered

    def app_kwargs(self, max_file_size: str | int = "20mb", mcp: bool = False,
                   inline_scripts: Sequence[str] = ()) -> dict[str, Any]:
        routes = list(Health(self.slot).routes())
        running = []
        if mcp:
            route, run = self.tool.served(max_file_size)
            routes.append(route)
            running.append(run)

        @contextlib.asynccontextmanager
        async def lifespan(app: Any) -> AsyncIterator[None]:
            async with contextlib.AsyncExitStack() as stack:
                for run in running:
                    await stack.enter_async_context(run())
                yield

        return {"routes": routes, "middleware": self.middleware(max_file_size, inline_scripts), "lifespan": lifespan}
