"""Which files a request may have the model read: uploads to Gradio, the bundled examples, and
images sent by URL (fetched into Gradio's upload folder). Anything else is refused by name.

`image_path(item, words)` takes a FileData dict, a path string, a `data:` URL or a public http(s)
URL and returns a local path, or raises `gr.Error` in the person's language.
"""
from __future__ import annotations

import base64
import binascii
import logging
import re
from pathlib import Path
from typing import Any

import gradio as gr
from gradio.utils import get_upload_folder, is_in_or_equal

from ui.i18n import EN, Words

log = logging.getLogger(__name__)
EXAMPLES_DIR = Path(__file__).resolve().parent.parent / "assets" / "examples"
_DATA_IMAGE = re.compile(r"data:image/[\w.+-]+(?:;[\w.+=-]+)*;base64,")


def file_path(item: Any) -> str:
    if isinstance(item, dict):
        return item["path"]
    return str(getattr(item, "path", item))


def image_path(item: Any, words: Words = EN) -> str:
    """A FileData dict (uploaded by the client), a data: URL, a public http(s) URL or a path; only
    uploads, fetched URLs and bundled examples are readable."""
    path = file_path(item)
    if not isinstance(path, str) or not path:
        raise gr.Error(words("error.upload_only"), print_exception=False)
    if path.startswith(("data:", "http://", "https://")):
        return fetched(path, words)
    candidate = Path(path)
    if not candidate.is_absolute() and (EXAMPLES_DIR.parent.parent / candidate).exists():
        candidate = EXAMPLES_DIR.parent.parent / candidate
    allowed = (Path(get_upload_folder()), EXAMPLES_DIR)
    if not any(is_in_or_equal(str(candidate), str(folder)) for folder in allowed):
        raise gr.Error(words("error.not_uploaded", name=candidate.name), print_exception=False)
    return str(candidate)


def fetched(url: str, words: Words) -> str:
    """An image given by URL (as MCP clients send them), saved into Gradio's upload folder.
    Gradio's own helpers do the work: base64 decoding, and downloads that refuse private,
    loopback and link-local addresses (no requests into the host's network)."""
    from gradio import processing_utils

    folder = get_upload_folder()
    if url.startswith("data:") and not _is_base64_image_url(url):
        raise gr.Error(words("error.bad_data_url", url=url[:40] + ("…" if len(url) > 40 else "")),
                       print_exception=False)
    try:
        if url.startswith("data:"):
            return processing_utils.save_base64_to_cache(url, folder)
        return processing_utils.ssrf_protected_download(url, folder)
    except Exception as error:  # noqa: BLE001 - any failure is the sender's to fix; the message says which URL
        log.info("image URL refused: %s", type(error).__name__)
        raise gr.Error(words("error.url_refused", url=url[:80]), print_exception=False) from None


def _is_base64_image_url(url: str) -> bool:
    """`data:image/...;base64,` and strict base64 after it (Gradio's decoder accepts any text)."""
    match = _DATA_IMAGE.match(url)
    if match is None:
        return False
    try:
        return bool(base64.b64decode(url[match.end():], validate=True))
    except (binascii.Error, ValueError):
        return False
