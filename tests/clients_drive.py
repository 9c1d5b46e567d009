"""The four ways scripts reach `/reason`, each driven as its users drive it, against a live app.

- `serve(engine, launch)`: the app on `engine` (the bundled tiny model), with the routes for scripts
  (`ui.http.installer`: positional defaults, the MCP tool) as `python app.py --mcp` installs them.
- `mcp_session(url, work)` / `mcp_reason(url, arguments)`: the `mcp` SDK's streamable-HTTP client.
- `js(url, mode, image, question)`: tests/js/reason.mjs under node (Gradio's `@gradio/client`).
- `http_upload(url, path)`, `http_reason(url, data)`: plain HTTP with httpx, as curl would.
- `data_url(path)`: a file as a `data:` URL.
Each returns plain data (dicts, lines, messages) so tests can compare clients with one another.
"""
from __future__ import annotations

import asyncio
import base64
import json
import mimetypes
import shutil
import subprocess
from pathlib import Path
from typing import Any, Awaitable, Callable

import httpx

from model.events import GenerationOptions
from ui.page.handlers import ModelInfo
from ui.page.layout import build_app

ROOT = Path(__file__).resolve().parent.parent
JS_DIR = ROOT / "tests" / "js"
EXAMPLE = ROOT / "assets" / "examples" / "puzzle_count.png"
QUESTION = "How many red shapes are there?"
FINAL_KEYS = {"reasoning", "answer", "status", "stats"}
UPLOAD_LIMIT = "5mb"  # what the `launch` fixture serves with


def serve(engine, launch, **build) -> tuple[str, Any]:
    # the checkpoint's own max_dynamic_patch (4): a square image is 4 tiles + the thumbnail
    defaults = GenerationOptions.validated(answer_budget=16, max_tiles=4)
    demo = build_app(engine, ModelInfo("tiny", is_tiny=True, device="CPU", defaults=defaults), **build)
    return launch(demo, max_file_size=UPLOAD_LIMIT, mcp=True), demo


def data_url(path: Path | str) -> str:
    kind = mimetypes.guess_type(str(path))[0] or "image/png"
    return f"data:{kind};base64," + base64.b64encode(Path(path).read_bytes()).decode()


# ---- MCP ----------------------------------------------------------------------------------

def mcp_session(url: str, work: Callable[[Any], Awaitable[Any]]) -> Any:
    """Run `work(session)` in an MCP client session against the app at `url`."""
    from mcp import ClientSession
    from mcp.client.streamable_http import streamablehttp_client

    async def run():
        async with streamablehttp_client(f"{url.rstrip('/')}/gradio_api/mcp/") as (read, write, _):
            async with ClientSession(read, write) as session:
                await session.initialize()
                return await work(session)

    return asyncio.run(run())


async def call_reason(session, arguments: dict, progress: list | None = None) -> dict:
    """{"error": bool, "text": str, "structured": dict | None} of one `reason` call."""
    async def on_progress(step, total, message):
        progress.append(message)

    result = await session.call_tool("reason", arguments, progress_callback=on_progress if progress is not None
                                     else None)
    text = " ".join(getattr(part, "text", "") for part in result.content)
    return {"error": bool(result.isError), "text": text, "structured": result.structuredContent}


def mcp_reason(url: str, arguments: dict, progress: list | None = None) -> dict:
    return mcp_session(url, lambda session: call_reason(session, arguments, progress))


# ---- JavaScript ---------------------------------------------------------------------------

def js_ready() -> str:
    """Why the JS client cannot run here ("" when it can)."""
    if shutil.which("node") is None:
        return "node is not installed"
    if not (JS_DIR / "node_modules" / "@gradio" / "client").is_dir():
        return "run `npm ci --prefix tests/js` first"
    return ""


def js(url: str, mode: str, image: Any, question: str = QUESTION, settings: dict | None = None,
       timeout: float = 120) -> dict:
    """{"lines": [each JSON line printed], "stderr": str, "returncode": int} of reason.mjs; `image` is
    a local path, a URL, or a dict sent as it is."""
    image = json.dumps(image) if isinstance(image, dict) else str(image)
    done = subprocess.run(["node", str(JS_DIR / "reason.mjs"), url, mode, image, question,
                           json.dumps(settings or {})],
                          capture_output=True, text=True, timeout=timeout, cwd=JS_DIR)
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    return {"lines": lines, "stderr": done.stderr, "returncode": done.returncode}


# ---- plain HTTP ---------------------------------------------------------------------------

def http_upload(url: str, path: Path | str) -> dict:
    """Upload one file; the FileData dict that names it in a call."""
    with open(path, "rb") as handle:
        response = httpx.post(f"{url.rstrip('/')}/gradio_api/upload", timeout=60,
                              files=[("files", (Path(path).name, handle, "application/octet-stream"))])
    response.raise_for_status()
    return {"path": response.json()[0], "meta": {"_type": "gradio.FileData"}}


def http_reason(url: str, data: Any) -> dict:
    """POST the call, read its event stream: {"status": HTTP status of the POST, "events": [(event,
    data)], "final": the last data (the final dict, or the error object)}."""
    base = f"{url.rstrip('/')}/gradio_api/call/reason"
    # JSON as json.dumps writes it (non-ASCII as \u escapes), so a lone surrogate can be sent as curl would
    posted = httpx.post(base, content=json.dumps({"data": data}), headers={"content-type": "application/json"},
                        timeout=60)
    if posted.status_code != 200:
        return {"status": posted.status_code, "events": [], "final": posted.json()}
    events, name = [], None
    with httpx.stream("GET", f"{base}/{posted.json()['event_id']}", timeout=120) as stream:
        for line in stream.iter_lines():
            if line.startswith("event:"):
                name = line.split(":", 1)[1].strip()
            elif line.startswith("data:"):
                events.append((name, json.loads(line.split(":", 1)[1])))
    final = events[-1][1] if events else None
    return {"status": 200, "events": events, "final": final[0] if isinstance(final, list) else final}
