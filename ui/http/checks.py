"""The checks of one `/reason` call's values, the same for every client, and its refusals' words.

- `values_refusal(values, served, words)`: the first problem of a call's values by name
  (a question that is not text, images that are not a list, a bad setting, min_thinking above the
  thinking budget), as a `Refusal`, or None. `None` (a JSON null) or a missing setting means the
  served model's default: @gradio/client pads positional calls with nulls.
- `options_of(values, served, words)`, `checked_question(...)`, `images_of(...)`, `earlier_turns(...)`:
  the checked values, each raising a `Refusal` that names the value, the item or the turn at fault.
- `caller_of(request)`: which client sent a call ("python", "js", "http", "mcp"), so that a message
  says how *that* client sends files, and never the page's wording ("Press Clear").
- `Refusal`: a `gr.Error` with the `kind` the request log records (settings, question, image,
  not_uploaded, history, load_failed, load_timeout, arguments).
Nothing here reads files beyond `ui.store.uploads.image_path`'s checks, nor talks to the engine.
"""
from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence

import gradio as gr

from model.events import NO_LIMIT, GenerationOptions, Turn, UserFacingError, describe
from ui.i18n.words import EN_TEXTS, Words
from ui.serving.settings import API_SETTINGS, options_from_api
from ui.store.uploads import ImageRefused, image_path

ADVISED = {"error.not_uploaded", "error.no_path"}  # messages followed by how the caller sends files


class Refusal(gr.Error):
    """A call refused before the engine runs; `kind` goes into its request-log line."""

    def __init__(self, message: str, kind: str):
        super().__init__(message, print_exception=False)
        self.kind = kind


def caller_of(request: Any) -> str:
    """"mcp", "http" (a plain POST to /gradio_api/call/), "python" (gradio_client) or "js"."""
    headers = getattr(request, "headers", None) or {}
    path = str(getattr(getattr(request, "url", None), "path", "") or "")
    if "/gradio_api/mcp" in path:
        return "mcp"
    if "/gradio_api/call/" in path:
        return "http"
    return "python" if "gradio_client" in str(headers.get("user-agent", "")) else "js"


def for_caller(error: Any, words: Words, caller: str) -> str:
    """A model or upload message as an API caller should read it: the `.api` wording where the
    page's would talk about its buttons, and how this client sends files where that is the fix."""
    key, params = getattr(error, "key", None), dict(getattr(error, "params", None) or {})
    if key and f"{key}.api" in EN_TEXTS:
        text = words(f"{key}.api", **params)
    else:
        text = words.message(error) if hasattr(error, "params") else str(getattr(error, "message", error))
    return f"{text} {words(f'advice.{caller}')}" if key in ADVISED else text


def options_of(values: Mapping[str, Any], served: Mapping[str, Any], words: Words) -> GenerationOptions:
    """The settings, a null or missing one at its served default (`served`, by parameter name:
    `ui.serving.settings.api_defaults`); min_thinking must fit the thinking budget."""
    given = {setting.name: values.get(setting.name) for setting in API_SETTINGS}
    try:
        options = options_from_api({name: served[name] if value is None else value for name, value in given.items()})
    except UserFacingError as error:
        raise Refusal(words.message(error), "settings") from None
    budget = options.thinking_budget
    if budget != NO_LIMIT and options.min_thinking > budget:
        raise Refusal(words("api.min_thinking_above_budget", min_thinking=options.min_thinking, budget=budget),
                      "settings")
    return options


def checked_question(question: Any, words: Words) -> str:
    if not isinstance(question, str):
        raise Refusal(words("api.question_type", got=describe(question)), "question")
    try:
        question.encode("utf-8")
    except UnicodeEncodeError as error:
        raise Refusal(words("api.question_invalid", position=error.start + 1), "question") from None
    return question


def images_of(items: Any, words: Words, caller: str) -> list[str]:
    """Local paths of the call's images (None: none); each refusal names the file or URL at fault."""
    if items is None:
        return []
    if not isinstance(items, (list, tuple)):
        raise Refusal(words("api.images_not_list", got=describe(items)), "image")
    return [_image(item, words, caller) for item in items]


def _image(item: Any, words: Words, caller: str, where: str = "") -> str:
    """The item's local path; a refusal says where the item was (`where`: a history turn's image)."""
    try:
        return image_path(item, words)
    except ImageRefused as refused:
        kind = "not_uploaded" if refused.key == "error.not_uploaded" else "image"
        message = for_caller(refused, words, caller)
        raise Refusal(f"{where}: {message}" if where else message, kind) from None


def earlier_turns(history: Any, words: Words, caller: str) -> tuple[Turn, ...]:
    """[question, answer] pairs or {"question", "answer", "images"?} objects -> Turns (no thinking)."""
    if history is None:
        return ()
    if not isinstance(history, (list, tuple)):
        raise Refusal(words("api.history_not_list", got=describe(history)), "history")
    return tuple(_turn(item, number, words, caller) for number, item in enumerate(history, 1))


def _turn(item: Any, number: int, words: Words, caller: str) -> Turn:
    images: Any = []
    if isinstance(item, dict):
        question, answer, images = item.get("question"), item.get("answer"), item.get("images") or []
    elif isinstance(item, (list, tuple)) and len(item) == 2:
        question, answer = item
    else:
        question = answer = None
    if not isinstance(question, str) or not isinstance(answer, str) or not isinstance(images, list):
        raise Refusal(words("api.history_item", number=number, got=describe(item)), "history")
    paths = tuple(_image(image, words, caller, words("api.history_image", number=number, image=index))
                  for index, image in enumerate(images, 1))
    return Turn(question=checked_text(question, words, number), answer=checked_text(answer, words, number),
                images=paths)


def checked_text(text: str, words: Words, turn: int) -> str:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        raise Refusal(words("api.history_text_invalid", number=turn, position=error.start + 1), "history") from None
    return text


def values_refusal(values: Mapping[str, Any], served: Mapping[str, Any], words: Words) -> Refusal | None:
    """The first problem of a call's values by name (what plain HTTP answers with a 422), or None.
    Files are not looked at here: plain HTTP's never-uploaded paths are `ui.http.plain_http`'s to judge."""
    try:
        checked_question(values.get("question"), words)
        if values.get("images") is not None and not isinstance(values.get("images"), (list, tuple)):
            raise Refusal(words("api.images_not_list", got=describe(values.get("images"))), "image")
        options_of(values, served, words)
    except Refusal as refusal:
        return refusal
    return None


def arguments_refusal(arguments: Mapping[str, Any], names: Sequence[str], required: Sequence[str],
                      words: Words, api_name: str = "reason") -> str:
    """The refusal of named values with an unknown or a missing required name (MCP, /call/v2/), or ""."""
    unknown = [key for key in arguments if key not in names]
    if unknown:
        return words("api.unknown_keys", api_name=api_name, unknown=", ".join(str(key)[:40] for key in unknown),
                     names=", ".join(names))
    missing = [name for name in required if name not in arguments]
    return words("api.missing_keys", api_name=api_name, missing=", ".join(missing)) if missing else ""


def too_many_values(api_name: str, names: Sequence[str], given: Iterable[Any], words: Words) -> str:
    """The refusal of a positional call with more values than the endpoint takes, or ""."""
    count = len(list(given))
    if count <= len(names):
        return ""
    return words("api.too_many_values", api_name=api_name, expected=len(names), names=", ".join(names), got=count,
                 last=names[-1])
