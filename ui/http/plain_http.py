"""The check of plain HTTP calls to `/reason`, installed by `ui.http.installer` (see its order).

- `CallCheck`: plain HTTP calls (`POST /gradio_api/call/<name>` with `{"data": [...]}`, or
  `/gradio_api/call/v2/<name>` with an object; the queue protocol's `/gradio_api/queue/join` for
  the values only) that Gradio would refuse without a word get a 422 with the app's message
  instead, and positional calls get their trailing defaults (`"data"` may also be an object of
  named values). Gradio 6.31
  fills defaults only for `/call/v2/` (keyword) calls; a positional call with fewer values than the
  endpoint takes fails in `Blocks.validate_inputs` with a ValueError whose text is hidden (the
  event stream says `{"error": null}`), which would also break callers written before `/reason`
  grew its later settings. So a positional call with the required values gets the defaults of the
  rest, and one without them is told which are missing. A `gradio.FileData` item whose path was
  never uploaded is refused by Gradio before the endpoint runs (`InvalidPathError`, hidden the
  same way), so it is checked here with `ui.store.uploads.readable`.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from ui.http.checks import too_many_values, values_refusal
from ui.http.bodylimit import read_body, replayed, with_body
from ui.i18n.words import Words, language_of
from ui.serving.requestlog import refused
from ui.store.uploads import readable


@dataclass(frozen=True)
class Endpoint:
    api_name: str
    fn_index: int  # how the queue protocol (/gradio_api/queue/join) names it
    names: list[str]  # every parameter, in positional order
    defaults: dict[str, Any]  # those with a default; the others are required

    @property
    def required(self) -> list[str]:
        return [name for name in self.names if name not in self.defaults]


class CallCheck:
    """ASGI middleware over the calls of `endpoints`: /gradio_api/call/<name>, /gradio_api/call/v2/<name>
    and /gradio_api/queue/join (what gradio_client, the JavaScript client and browsers use)."""

    def __init__(self, app: ASGIApp, endpoints: Sequence[Endpoint]):
        self.app, self.endpoints = app, list(endpoints)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = _call_kind(scope)
        if kind is None:
            return await self.app(scope, receive, send)
        body = await read_body(receive)  # bounded by ui.http.bodylimit, which runs before this
        payload = _json(body)
        endpoint = self._endpoint(scope, kind, payload)
        if endpoint is not None:
            headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", [])}
            words = Words(language_of(headers.get("accept-language")))
            problem, completed = checked_call(payload, endpoint, kind, words)
            if problem:
                return await JSONResponse({"error": problem}, status_code=422)(scope, receive, send)
            if completed is not None:
                body = json.dumps(completed).encode()
                scope = with_body(scope, body)
        await self.app(scope, replayed(body, receive), send)

    def _endpoint(self, scope: Scope, kind: str, payload: Any) -> Endpoint | None:
        if not isinstance(payload, dict):
            return None  # not ours to judge: Gradio answers a malformed body itself
        if kind == "join":
            return next((e for e in self.endpoints if e.fn_index == payload.get("fn_index")), None)
        name = scope["path"].rstrip("/").rsplit("/", 1)[-1]
        return next((e for e in self.endpoints if e.api_name == name), None)


def _call_kind(scope: Scope) -> str | None:
    """"positional", "keyword" or "join" for a POST that may call an endpoint, else None."""
    if scope["type"] != "http" or scope["method"] != "POST":
        return None
    path = scope["path"].rstrip("/")
    if path.endswith("/gradio_api/queue/join"):
        return "join"
    if "/gradio_api/call/v2/" in path:
        return "keyword"
    return "positional" if "/gradio_api/call/" in path else None


def _json(body: bytes) -> Any:
    try:
        return json.loads(body) if body else None
    except ValueError:
        return None


def checked_call(payload: dict, endpoint: Endpoint, kind: str, words: Words) -> tuple[str, dict | None]:
    """(the refusal in the caller's language or "", the payload with trailing defaults filled in or None).
    Refused: a call without a required value or with more values than the endpoint takes, a keyword
    call naming an unknown parameter, values `ui.http.checks.values_refusal` refuses (a question that
    is not text, a bad setting), a plain HTTP call with a file never uploaded (Gradio checks the paths
    of `gradio.FileData` items before the endpoint runs, and hides its message; queue clients upload
    their files themselves, and a refusal there keeps Gradio's protocol: it comes in the event
    stream). A positional call that stops early gets the defaults of the rest; named values on the
    positional route are checked and sent on in order, as a positional call."""
    named = kind != "keyword" and isinstance(payload.get("data"), dict)
    if named:
        problem, payload = _named_on_positional(payload, endpoint, words)
        if problem:
            refused(endpoint.api_name, "arguments")
            return problem, None
    keyword = kind == "keyword"
    problem, why = (_keyword_problem if keyword else _positional_problem)(payload, endpoint, words), "arguments"
    never = next((path for path in _file_paths(payload) if not readable(Path(path))), None) if kind != "join" else None
    if not problem and never is not None:
        message = words("error.not_uploaded", name=Path(never).name[:80])
        problem, why = f"{message} {words('advice.http')}", "not_uploaded"
    if not problem and kind != "join":  # queue clients hear of bad values in the event stream, from /reason
        values = payload if keyword else dict(zip(endpoint.names, payload.get("data") or []))
        refusal = values_refusal(values, endpoint.defaults, words)
        problem, why = (refusal.message, refusal.kind) if refusal else ("", "")
    if problem:
        refused(endpoint.api_name, why)
        return problem, None
    data = payload.get("data")
    if keyword or not isinstance(data, list) or (len(data) >= len(endpoint.names) and not named):
        return "", None
    return "", {**payload, "data": [*data, *(endpoint.defaults[name] for name in endpoint.names[len(data):])]}


def _named_on_positional(payload: dict, endpoint: Endpoint, words: Words) -> tuple[str, dict]:
    """`{"data": {"name": value}}` on /call/<name>: checked as a keyword call, then as positional values."""
    named = payload["data"]
    problem = _keyword_problem(named, endpoint, words)
    values = [named.get(name, endpoint.defaults.get(name)) for name in endpoint.names]
    return problem, {**payload, "data": values}


def _positional_problem(payload: dict, endpoint: Endpoint, words: Words) -> str:
    data, required = payload.get("data"), len(endpoint.required)
    if isinstance(data, list) and len(data) > len(endpoint.names):
        return too_many_values(endpoint.api_name, endpoint.names, data, words)
    if not isinstance(data, list) or len(data) >= required:
        return ""
    return words("api.missing_values", api_name=endpoint.api_name, expected=len(endpoint.names),
                 names=", ".join(endpoint.names), got=len(data), missing=", ".join(endpoint.required[len(data):]))


def _keyword_problem(payload: dict, endpoint: Endpoint, words: Words) -> str:
    unknown = [key for key in payload if key not in endpoint.names and key not in ("session_hash", "oauth_token")]
    if unknown:
        return words("api.unknown_keys", api_name=endpoint.api_name, unknown=", ".join(unknown),
                     names=", ".join(endpoint.names))
    missing = [name for name in endpoint.required if name not in payload]
    if missing:
        return words("api.missing_keys", api_name=endpoint.api_name, missing=", ".join(missing))
    return ""


def _file_paths(value: Any) -> Iterator[str]:
    """The local paths of the `gradio.FileData` items anywhere in a request body (URLs excluded)."""
    if isinstance(value, dict):
        meta, path = value.get("meta"), value.get("path")
        if isinstance(meta, dict) and meta.get("_type") == "gradio.FileData" and isinstance(path, str) \
                and not path.startswith(("http://", "https://", "data:")):
            yield path
        for item in value.values():
            yield from _file_paths(item)
    elif isinstance(value, list):
        for item in value:
            yield from _file_paths(item)
