"""Which files a request may have the model read: uploads to Gradio, the bundled examples, and
images sent by URL (fetched into Gradio's upload folder). Anything else is refused by name.

`image_path(item, words)` takes a FileData dict (its "path", else its "url"), a path string, a
`data:` URL or a public http(s) URL and returns a local path, or raises `ImageRefused` (a `gr.Error`
whose `key` names the message) in the person's language: an item naming no file, a file never
uploaded, a local or private address, an address that cannot be reached, and a data: URL that is not
base64 each get their own message. How to send a file is the caller's to add (`ui.http.checks`): it
differs between clients. `readable(path)` says whether a path may be read.
"""
from __future__ import annotations

import base64
import ipaddress
import logging
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import gradio as gr
from gradio.utils import get_upload_folder, is_in_or_equal

from model.events import describe
from ui.i18n.words import EN, Words

log = logging.getLogger(__name__)
EXAMPLES_DIR = Path(__file__).resolve().parents[2] / "assets" / "examples"


class ImageRefused(gr.Error):
    """An image item that names no readable file; `key` says which of the messages it is."""

    def __init__(self, message: str, key: str):
        super().__init__(message, print_exception=False)
        self.key = key


def _refused(words: Words, key: str, **fields: Any) -> ImageRefused:
    return ImageRefused(words(key, **fields), key)


def file_path(item: Any) -> str:
    """The path (or URL) an image item names: a FileData dict's "path", else its "url" (a client may
    send only that), else a FileData's attribute, else the item itself; "" when it names none."""
    if isinstance(item, dict):
        return item.get("path") or item.get("url") or ""
    return str(getattr(item, "path", item) or "")


def image_path(item: Any, words: Words = EN) -> str:
    """A FileData dict (uploaded by the client), a data: URL, a public http(s) URL or a path; only
    uploads, fetched URLs and bundled examples are readable."""
    path = file_path(item)
    if not isinstance(path, str) or not path:
        got = ", ".join(sorted(map(str, item)))[:80] or "none" if isinstance(item, dict) else describe(item)
        raise _refused(words, "error.no_path", got=got)
    if path.startswith(("data:", "http://", "https://")):
        return fetched(path, words)
    candidate = Path(path)
    if not candidate.is_absolute() and (EXAMPLES_DIR.parent.parent / candidate).exists():
        candidate = EXAMPLES_DIR.parent.parent / candidate
    if not readable(candidate):
        raise _refused(words, "error.not_uploaded", name=candidate.name[:80])
    return str(candidate)


def readable(path: Path) -> bool:
    """Inside Gradio's upload folder or the bundled examples."""
    return any(is_in_or_equal(str(path), str(folder)) for folder in (Path(get_upload_folder()), EXAMPLES_DIR))


def fetched(url: str, words: Words) -> str:
    """An image given by URL (as MCP clients send them), saved into Gradio's upload folder.
    Gradio's own helpers do the work: base64 decoding, and downloads that refuse private,
    loopback and link-local addresses (no requests into the host's network)."""
    from gradio import processing_utils

    folder = get_upload_folder()
    if url.startswith("data:"):
        try:
            _check_base64(url)
            return processing_utils.save_base64_to_cache(url, folder)
        except Exception as error:  # noqa: BLE001 - the sender's to fix
            log.info("data: URL refused: %s", type(error).__name__)
            raise _refused(words, "error.data_url_invalid") from None
    if not _public_host(url):
        raise _refused(words, "error.url_private", url=url[:80])
    try:
        return processing_utils.ssrf_protected_download(url, folder)
    except Exception as error:  # noqa: BLE001 - any failure is the sender's to fix; the message says which URL
        log.info("image URL refused: %s", type(error).__name__)
        raise _refused(words, _download_refusal(error), url=url[:80]) from None


def _download_refusal(error: Exception) -> str:
    """The message key for a failed download: safehttpx (gradio 6.31, safehttpx 0.1) says "failed
    validation" for a host that resolves to a private address and "Unable to resolve hostname" for
    one that does not resolve; httpx names a server that does not answer or answers with an error."""
    import httpx

    text = str(error)
    if "failed validation" in text:
        return "error.url_private"
    if "Unable to resolve hostname" in text or isinstance(error, httpx.HTTPError):
        return "error.url_unreachable"
    return "error.url_refused"


def _check_base64(url: str) -> None:
    """Raise ValueError unless `url` is `data:image/...;base64,` and strict base64 of something: Gradio's
    decoder skips bad characters, which would turn "@@@" into an empty file."""
    header, _, payload = url.partition(",")
    if not header.startswith("data:image/") or not header.endswith(";base64") \
            or not base64.b64decode(payload, validate=True):
        raise ValueError("not a base64 data: URL")


def _public_host(url: str) -> bool:
    """False for a loopback, private or link-local address written in the URL (or "localhost");
    names are resolved and checked by Gradio's download itself."""
    from gradio.processing_utils import is_public_ip

    host = (urlsplit(url).hostname or "").strip("[]")
    if host == "localhost" or host.endswith(".localhost"):
        return False
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return True  # a name, not an address
    return is_public_ip(host)
