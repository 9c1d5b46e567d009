"""Body limits are enforced while a body is read (ui/http/bodylimit.py, ui/http/mcp_tool.py), on the app as
`python app.py` serves it (ui.page.layout.serve): a refusal names the limit and arrives before the rest of
the body is sent; a malformed Content-Length is a clean 400; the server keeps serving. Also: the
middleware order of ui/http/installer.py."""
from __future__ import annotations

import asyncio
import json
import socket
from urllib.parse import urlsplit

import httpx
import pytest

from ui.http.bodylimit import EVENT_LIMIT, BodyLimits
from ui.page.handlers import ModelInfo
from ui.i18n.words import EN
from ui.page.layout import build_app
from ui.http.mcp_tool import MIB, _SizeLimited, body_limit_bytes

UPLOAD_LIMIT = "5mb"


@pytest.fixture(scope="module")
def url(launch):
    demo = build_app(lambda progress: None, ModelInfo("tiny", is_tiny=True), start_loading=False)
    return launch(demo, max_file_size=UPLOAD_LIMIT, mcp=True)


def connect(url: str) -> socket.socket:
    parts = urlsplit(url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=30)
    return sock


def response_of(sock: socket.socket, timeout: float = 30) -> tuple[int, dict, bytes]:
    """(status, headers, body) of one response read from `sock` (Content-Length framed)."""
    sock.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
    length = int(headers.get("content-length", len(body)))
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return int(lines[0].split()[1]), {k.lower(): v for k, v in headers.items()}, body


def store_body_prefix(size: int) -> bytes:
    """The start of a queue join as the page sends it, its history store (the first value) `size` long."""
    turn = {"question": "q", "answer": "x" * 10_000, "thinking": "", "images": []}
    conversations = [{"id": f"c{n}", "title": "t", "updated": n, "turns": [turn]} for n in range(size // 10_100)]
    store = json.dumps({"version": 1, "conversations": conversations})
    return ('{"data":[' + store).encode()


def test_an_oversize_history_body_is_refused_before_the_rest_is_sent(url):
    body = store_body_prefix(EVENT_LIMIT + 500_000)
    assert len(body) > EVENT_LIMIT
    with connect(url) as sock:
        sock.sendall(b"POST /gradio_api/queue/join HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                     + f"Content-Length: {len(body)}\r\n\r\n".encode() + body[:65_536])
        status, headers, answer = response_of(sock)  # the rest of the body was never sent
    assert status == 413 and headers.get("connection") == "close"
    limit = f"{EVENT_LIMIT / 1e6:.1f}"
    assert json.loads(answer)["error"] == EN("error.body_too_large", limit=limit, what=EN("error.body_limit_event"))
    assert "3.0 MB" in json.loads(answer)["error"] and "2 MB" in json.loads(answer)["error"]
    assert httpx.get(f"{url}healthz").json() == {"status": "alive"}


def test_a_chunked_body_is_refused_as_soon_as_it_passes_the_limit(url):
    piece = b"x" * 100_000
    with connect(url) as sock:
        sock.sendall(b"POST /gradio_api/queue/join HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                     b"Transfer-Encoding: chunked\r\n\r\n")
        sent = 0
        while sent <= EVENT_LIMIT:
            sock.sendall(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
            sent += len(piece)
        status, _, answer = response_of(sock)  # the closing chunk was never sent
    assert status == 413 and "3.0 MB" in json.loads(answer)["error"]


@pytest.mark.parametrize("length", ["12abc", "-5", "1e3", "5, 6"])
def test_a_bad_content_length_is_a_clean_400_before_any_body(url, length):
    with connect(url) as sock:
        sock.sendall(b"POST /gradio_api/queue/join HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                     + f"Content-Length: {length}\r\n\r\n".encode())
        status, _, _ = response_of(sock)  # the HTTP server (h11) refuses it before the app sees it
    assert status == 400
    assert httpx.get(f"{url}healthz").status_code == 200


def call(app, headers: list[tuple[bytes, bytes]], chunks: list[bytes], path: str = "/gradio_api/queue/join"):
    """Runs ASGI `app` on one POST of `chunks`; returns (status, response body, bytes read from the client)."""
    sent, read = [], [0]
    pending = [{"type": "http.request", "body": chunk, "more_body": n < len(chunks) - 1}
               for n, chunk in enumerate(chunks)]

    async def receive():
        message = pending.pop(0) if pending else {"type": "http.disconnect"}
        read[0] += len(message.get("body", b""))
        return message

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": path, "headers": headers, "query_string": b""}
    asyncio.run(app(scope, receive, send))
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    return status, b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body"), read[0]


async def inner(scope, receive, send):
    from starlette.responses import JSONResponse

    body, more = b"", True
    while more:
        message = await receive()
        body, more = body + message.get("body", b""), message.get("more_body", False)
    await JSONResponse({"inner": len(body)})(scope, receive, send)


@pytest.mark.parametrize("value", [b"abc", b"12abc", b"-1", b"\xd9\xa3"])
def test_a_malformed_content_length_passed_on_by_another_server_is_a_400_naming_it(value):
    status, body, read = call(BodyLimits(inner, call_limit=MIB), [(b"content-length", value)], [b"{}"])
    assert status == 400 and read == 0
    assert json.loads(body)["error"].startswith("The Content-Length header must be one whole number of bytes")


def test_two_different_content_lengths_are_a_400():
    headers = [(b"content-length", b"2"), (b"content-length", b"3")]
    status, _, read = call(BodyLimits(inner, call_limit=MIB), headers, [b"{}"])
    assert status == 400 and read == 0


def test_a_declared_oversize_body_is_refused_unread_and_a_call_gets_its_own_limit():
    headers = [(b"content-length", str(MIB + 1).encode())]
    status, body, read = call(BodyLimits(inner, call_limit=MIB), headers, [b"x" * 10], path="/gradio_api/call/reason")
    assert status == 413 and read == 0 and "1.0 MB" in json.loads(body)["error"]
    assert "upload larger images" in json.loads(body)["error"]


def test_a_body_within_its_limit_reaches_the_app_whole():
    status, body, _ = call(BodyLimits(inner, call_limit=MIB), [], [b"a" * 1000, b"b" * 1000])
    assert status == 200 and json.loads(body) == {"inner": 2000}


def test_the_mcp_limit_counts_a_body_without_content_length_and_never_trusts_a_bad_one():
    limit = 1000
    guarded = _SizeLimited(inner, limit)
    status, body, read = call(guarded, [], [b'{"method": "tools/call", "params": {"x": "', b"A" * 2000,
                                            b'"}, "jsonrpc": "2.0", "id": 7}'], path="/")
    answer = json.loads(body)
    assert status == 200 and answer["id"] == 7 and "the limit is 0.0 MiB" in answer["error"]["message"]
    status, body, _ = call(guarded, [(b"content-length", b"oops")], [b"{}"], path="/")
    assert status == 200 and json.loads(body) == {"inner": 2}  # no exception: read and counted as it came


def test_an_mcp_body_over_the_limit_sent_chunked_gets_the_json_rpc_error_with_its_id(url):
    limit = body_limit_bytes(UPLOAD_LIMIT)

    def chunks():
        yield b'{"method": "tools/call", "params": {"name": "reason", "arguments": {"question": "'
        for _ in range(limit // 100_000 + 2):
            yield b"A" * 100_000
        yield b'"}}, "jsonrpc": "2.0", "id": 41}'

    response = httpx.post(f"{url}gradio_api/mcp/", content=chunks(), timeout=60,
                          headers={"content-type": "application/json", "accept": "application/json, text/event-stream"})
    answer = response.json()
    assert response.status_code == 200 and answer["id"] == 41
    assert f"the limit is {limit / MIB:.1f} MiB" in answer["error"]["message"]


def test_the_middleware_order_is_the_written_one(url):
    from ui.http.installer import HttpApp

    demo = build_app(lambda progress: None, ModelInfo("tiny", is_tiny=True), start_loading=False)
    assert isinstance(demo.http, HttpApp)
    names = [m.cls.__name__ if isinstance(m.cls, type) else type(m.cls.__self__).__name__
             for m in demo.http.middleware("5mb")]
    assert names == ["PageSecurity", "BodyLimits", "CallCheck", "ReasonCalls", "CancelledJobs"]


def test_the_page_and_an_error_page_carry_the_policy_with_a_fresh_nonce(url):
    first, second = httpx.get(url), httpx.get(url)
    policies = [response.headers["content-security-policy"] for response in (first, second)]
    nonces = [policy.split("'nonce-")[1].split("'")[0] for policy in policies]
    assert nonces[0] != nonces[1] and f'<script nonce="{nonces[0]}"' in first.text
    assert "img-src 'self' data: blob:" in policies[0] and "form-action 'self'" in policies[0]
    assert "'unsafe-inline'" not in policies[0].split("script-src")[1].split(";")[0]
    theme = httpx.get(f"{url}theme.css")
    assert theme.status_code == 200 and "googleapis" not in theme.text + first.text and "ui-sans-serif" in theme.text
    assert "content-security-policy" not in httpx.get(f"{url}healthz").headers  # JSON, not a page


def test_only_the_page_gets_the_nonce_other_html_runs_no_inline_script():
    from starlette.responses import HTMLResponse

    from ui.http.csp import PageSecurity

    async def html(scope, receive, send):
        await HTMLResponse("<html><script>alert(1)</script></html>")(scope, receive, send)

    def get(path: str) -> tuple[dict, bytes]:
        sent = []

        async def receive():
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message):
            sent.append(message)

        asyncio.run(PageSecurity(html)({"type": "http", "method": "GET", "path": path, "headers": []}, receive, send))
        start = next(m for m in sent if m["type"] == "http.response.start")
        body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
        return {k.decode(): v.decode() for k, v in start["headers"]}, body

    headers, body = get("/")
    nonce = headers["content-security-policy"].split("'nonce-")[1].split("'")[0]
    assert f'<script nonce="{nonce}">'.encode() in body and int(headers["content-length"]) == len(body)
    headers, body = get("/gradio_api/file=/tmp/uploaded.html")
    assert "script-src" in headers["content-security-policy"] and b"nonce" not in body
