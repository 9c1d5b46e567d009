"""The page's second wall: a Content-Security-Policy on every HTML response (`PageSecurity`).

Even if the rendering policy (`ui.render.safe_text`) let markup through, the browser itself refuses what no
answer may do: load an image or anything else from another host (the reader's address would leak to
it), frame or embed a page, post a form elsewhere, or change the page's base URL.

`policy(nonce, hashes)`, directive by directive (found in Chromium with the page, every tab, the
tiles view, KaTeX maths, the sweep plot and a share link's replay: tests/test_csp_browser.py):
- default-src 'self': anything not named below comes from the app alone.
- script-src 'self' 'nonce-N' 'sha256-...' 'unsafe-eval': Gradio 6.31's page starts from inline
  scripts in its HTML (its config, the module loader), which get this response's nonce; its modules
  come from the app ('self'); the page's own scripts (`head`: assets/page.js and its names) are
  added by Gradio's script from the config, so they are allowed by their hashes (`script_hashes`).
  'unsafe-eval': without it Gradio's page does not start (it compiles code at run time, e.g. each
  event's `js=`). No 'unsafe-inline': inline event handlers (`onerror=`) and injected scripts never run.
- style-src 'self' 'unsafe-inline': the theme's CSS variables and Svelte's component styles are
  inline `<style>` elements and `style` attributes (KaTeX sizes its glyphs with them).
- img-src 'self' data: blob:: uploads and examples are served by the app; the sweep's plot and the
  thumbnails are data: URLs, pasted or dropped images blob: URLs. No remote image.
- font-src 'self' data:: KaTeX's fonts are in Gradio's own assets; the theme uses system fonts
  (ui.page.layout), so nothing comes from Google Fonts.
- media-src 'self' blob: data:, worker-src 'self' blob:: Gradio's own players and workers.
- connect-src 'self': the page talks to its own server only (fetch and EventSource).
- frame-src 'none', object-src 'none': no frames or plugins in the page. (No frame-ancestors: a
  Hugging Face Space shows the app in a frame of huggingface.co.)
- form-action 'self', base-uri 'self': a form may post only to the app; no `<base>` elsewhere.
`PageSecurity` holds a text/html response until its end (a page, not a stream) and sends it with the
policy; only the page itself (`PAGE_PATHS`) has the nonce added to its `<script` tags: any other
HTML the app serves (an uploaded file, an error page) runs no inline script at all.
Nothing here imports Gradio.
"""
from __future__ import annotations

import base64
import hashlib
import re
import secrets
from typing import Iterable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

SCRIPT_TAG = re.compile(rb"<script(?=[\s>])")
PAGE_PATHS = ("/", "")


def script_hashes(scripts: Iterable[str]) -> str:
    """CSP sources for inline scripts the page adds itself (ui.page.layout's head): 'sha256-...' each."""
    return " ".join(f"'sha256-{base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()}'"
                    for text in scripts)


def policy(nonce: str, hashes: str = "") -> str:
    return "; ".join([
        "default-src 'self'",
        f"script-src 'self' 'nonce-{nonce}' {hashes} 'unsafe-eval'".replace("  ", " "),
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data: blob:",
        "font-src 'self' data:",
        "media-src 'self' blob: data:",
        "worker-src 'self' blob:",
        "connect-src 'self'",
        "frame-src 'none'",
        "object-src 'none'",
        "form-action 'self'",
        "base-uri 'self'",
    ])


class PageSecurity:
    """Every text/html response gets the policy; the page's `<script` tags get this response's nonce."""

    def __init__(self, app: ASGIApp, hashes: str = ""):
        self.app, self.hashes = app, hashes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start: Message | None = None
        chunks: list[bytes] = []

        async def with_policy(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                kind = next((v for k, v in message.get("headers") or [] if k.lower() == b"content-type"), b"")
                if kind.startswith(b"text/html"):
                    start = message
                    return
            elif start is not None and message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                if message.get("more_body"):
                    return
                return await self._send_page(start, b"".join(chunks), send, scope["path"] in PAGE_PATHS)
            await send(message)

        await self.app(scope, receive, with_policy)

    async def _send_page(self, start: Message, body: bytes, send: Send, page: bool) -> None:
        nonce = secrets.token_urlsafe(16)
        if page:
            body = SCRIPT_TAG.sub(f'<script nonce="{nonce}"'.encode(), body)
        headers = [(k, v) for k, v in start.get("headers") or [] if k.lower() != b"content-length"]
        headers += [(b"content-length", str(len(body)).encode()),
                    (b"content-security-policy", policy(nonce, self.hashes).encode("latin-1"))]
        await send({**start, "headers": headers})
        await send({"type": "http.response.body", "body": body, "more_body": False})
