"""What is sent to an OpenAI-compatible server: chat messages with images, and a raw continuation prompt.

Contract:
- `build_messages(request, limits)`: earlier turns (the question with its images, then the answer
  without thinking), then the new question. Images are checked and loaded as LocalEngine checks
  them (model/inputs/assemble.py), re-encoded as PNG data URLs and put before the text of their turn. A bad
  request raises `UserFacingError` with LocalEngine's message, before anything is sent.
- `raw_prompt(request, template, prefill)`: the whole conversation in the model's own chat template
  (model/inputs/prompt.py) followed by `prefill`, for `/v1/completions`; None when the request has images
  (the server would have to place them) or the template is unknown.
- `known_template(model_id)`: the registry's template for an R1V model id, else None.
"""
from __future__ import annotations

import base64
import io
from typing import Any

from PIL import Image

from model import registry
from model.events import Request
from model.inputs.assemble import check_request, load_sources
from model.limits import Limits
from model.inputs.prompt import PromptTurn, prompt_parts


def build_messages(request: Request, limits: Limits) -> list[dict[str, Any]]:
    """Chat messages for `request`; raises UserFacingError (LocalEngine's messages) for bad input."""
    check_request(request, limits)
    sources = [image for turn in request.history for image in turn.images] + list(request.images)
    # Per source its images: one for an image file, the chosen pages for a PDF.
    urls = [[png_data_url(image) for image in images] for images in load_sources(sources, limits)]
    messages: list[dict[str, Any]] = []
    used = 0
    for turn in request.history:
        messages.append(_user(turn.question, [url for shown in urls[used:used + len(turn.images)] for url in shown]))
        messages.append({"role": "assistant", "content": turn.answer})
        used += len(turn.images)
    messages.append(_user(request.question, [url for shown in urls[used:] for url in shown]))
    return messages


def png_data_url(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _user(question: str, urls: list[str]) -> dict[str, Any]:
    if not urls:
        return {"role": "user", "content": question}
    parts: list[dict[str, Any]] = [{"type": "image_url", "image_url": {"url": url}} for url in urls]
    return {"role": "user", "content": parts + [{"type": "text", "text": question}]}


def has_images(request: Request) -> bool:
    return bool(request.images) or any(turn.images for turn in request.history)


def known_template(model: str | None) -> str | None:
    spec = registry.by_name(model) if model else None
    return spec.template if spec is not None and spec.template != "auto" else None


def raw_prompt(request: Request, template: str | None, prefill: str) -> str | None:
    if template is None or has_images(request):
        return None
    turns = [PromptTurn(turn.question, (), turn.answer) for turn in request.history]
    parts = prompt_parts(template, turns + [PromptTurn(request.question)], tokens_per_tile=0)
    return "".join(text for text, _ in parts) + prefill
