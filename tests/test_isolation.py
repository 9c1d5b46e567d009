"""Sessions and files through the real server: gradio_client and plain HTTP against the app on
127.0.0.1, the tiny model behind it.

What holds (Gradio 6.31):
- Each session (each gradio_client Client, each browser tab) has its own conversation: /chat and
  /regenerate never show another session's turns, and /stop stops only the caller's own answer.
- /reason reads only files uploaded with a request (inside Gradio's upload folder) and the bundled
  examples. Any other path (absolute, relative, through ../, or a symlink planted in the upload
  folder) is refused before it is read: by the handler with a message naming the file, or, for a
  FileData that claims to be an upload, by Gradio itself; nothing runs on the model and nothing is
  copied into Gradio's cache. A URL naming an address inside the host (loopback, link-local) is
  not fetched.
- The HTTP file route serves files inside the upload folder (GRADIO_TEMP_DIR, else <tmp>/gradio)
  and Gradio's examples cache only: never the app's source, the checkpoint or system files.
- An uploaded file is served to anyone holding its URL, whatever their session, and /reason accepts
  its path from any session: the URL is the capability. Its folder is sha256(hash seed + bytes), the
  seed being random and kept inside the Gradio install (not servable), so no one can derive the URL
  of a file from its name or its bytes.
"""
from __future__ import annotations

import hashlib
import json
import shutil
import uuid
from pathlib import Path
from urllib.parse import quote

import gradio
import httpx
import numpy as np
import pytest
from gradio.processing_utils import hash_file
from gradio.utils import get_upload_folder
from gradio_client import Client
from gradio_client.exceptions import AppError
from PIL import Image

from model.events import FinishReason, GenerationOptions
from tests.conftest import slowed, wait_until
from tests.test_app_e2e import EXAMPLE, chat_args
from tests.test_hostile import assert_answered, watching
from ui.page.handlers import ModelInfo
from ui.page.layout import build_app
from ui.render.messages import finish_words

ROOT = Path(__file__).resolve().parent.parent
HASH_SEED = Path(gradio.__file__).parent / "hash_seed.txt"
QUESTION = "How many red shapes are there?"
REASON = {"thinking_budget": 8, "max_new_tokens": 16, "temperature": 0, "seed": 3}


@pytest.fixture(scope="module")
def app(tiny_engine, launch) -> str:
    defaults = GenerationOptions.validated(thinking_budget=8, answer_budget=16, max_tiles=4)
    return launch(build_app(tiny_engine, ModelInfo("tiny", is_tiny=True, device="CPU", defaults=defaults)))


def session(url: str) -> Client:
    return Client(url, verbose=False, download_files=False)  # file outputs stay server paths


def fresh_png(folder: Path, name: str) -> Path:
    """A PNG no one has seen: its bytes (and so its cache folder) are new on every run."""
    pixels = np.random.default_rng(uuid.uuid4().int).integers(0, 256, (48, 48, 3), dtype=np.uint8)
    path = folder / name
    Image.fromarray(pixels).save(path, "PNG")
    return path


def texts(chatbot: list) -> str:
    return " ".join(part.get("text", "") for message in chatbot for part in message["content"])


# ---- conversations ----------------------------------------------------------------------------

def chat(client: Client, text: str, files=()) -> tuple[list, str]:
    chatbot, _, stats = client.predict(*chat_args(text, files, thinking_budget=8, answer_budget=16), api_name="/chat")
    return chatbot, stats


def test_each_session_sees_only_its_own_conversation(app):
    alice, bob = session(app), session(app)
    chat(alice, "Alice asks: how many red shapes?", [EXAMPLE])
    chat(bob, "Bob asks: how many blue shapes?", [EXAMPLE])
    alice_chat, _ = chat(alice, "Alice again: and green?")
    bob_chat, _ = chat(bob, "Bob again: and yellow?")
    assert "Alice asks" in texts(alice_chat) and "Alice again" in texts(alice_chat)
    assert "Bob" not in texts(alice_chat) and "Alice" not in texts(bob_chat)
    for shown in (alice_chat, bob_chat):  # image, question, (thought), answer; question, (thought), answer
        assert [m["role"] for m in shown if not m.get("metadata")] == ["user", "user", "assistant", "user", "assistant"]


def test_regenerate_in_a_new_session_shows_nothing_of_another(app):
    alice, carol = session(app), session(app)
    chat(alice, "Alice asks: how many red shapes?", [EXAMPLE])
    job = carol.submit(8, False, 16, 0.6, 0.95, 0, 1.05, 4, 11, api_name="/regenerate")
    chatbot, box, stats = job.result(timeout=60)
    assert chatbot == box == {"__type__": "update"}  # nothing to regenerate: nothing is shown


def test_stop_from_another_session_does_not_stop_mine(app, tiny_engine):
    alice, bob = session(app), session(app)
    with slowed(tiny_engine, 0.02):  # stop tokens are never chosen: the answer runs to its budget
        job = alice.submit(*chat_args(QUESTION, [EXAMPLE], thinking_budget=24, answer_budget=32), api_name="/chat")
        wait_until(lambda: len(job.outputs()) >= 2, 60, "Alice's first streamed updates")
        bob.predict(api_name="/stop")
        assert tiny_engine.active_worker is not None  # Bob's Stop arrived while Alice's answer was running
        assert job.result(timeout=120)[2].startswith(finish_words(FinishReason.ANSWER_BUDGET))
        job = alice.submit(*chat_args(QUESTION, [EXAMPLE], thinking_budget=24, answer_budget=32), api_name="/chat")
        wait_until(lambda: len(job.outputs()) >= 2, 60, "Alice's second run")
        alice.predict(api_name="/stop")  # her own Stop does stop her
        assert job.result(timeout=120)[2].startswith(finish_words(FinishReason.STOPPED))


# ---- paths that were not uploaded ---------------------------------------------------------------

@pytest.fixture(scope="module")
def outside(tmp_path_factory) -> dict[str, str]:
    """Paths /reason must never read, by what they are; the symlink lives in Gradio's upload folder."""
    secret = fresh_png(tmp_path_factory.mktemp("elsewhere"), "secret.png")
    planted = Path(get_upload_folder()) / f"planted-{uuid.uuid4().hex}"
    planted.mkdir(parents=True)
    (planted / "link.png").symlink_to(secret)
    yield {
        "an image outside Gradio's folder": str(secret),
        "a symlink in the upload folder": str(planted / "link.png"),
        "/etc/passwd": "/etc/passwd",
        "the app's source": str(ROOT / "app.py"),
        "the app's source, relative": "app.py",
        "the checkpoint's config": "assets/tiny-r1v/config.json",
        "../ out of the examples": "assets/examples/../../app.py",
        "../ out of the upload folder": f"{get_upload_folder()}/../../etc/passwd",
        "a file: URL": "file:///etc/passwd",
    }
    shutil.rmtree(planted)


TARGETS = ["an image outside Gradio's folder", "a symlink in the upload folder", "/etc/passwd", "the app's source",
           "the app's source, relative", "the checkpoint's config", "../ out of the examples",
           "../ out of the upload folder", "a file: URL"]


def secret_bytes(path: str) -> bytes:
    """The start of the file's contents, to look for in a response (b"" when unreadable here)."""
    try:
        return (ROOT / path).read_bytes()[:64]
    except OSError:
        return b""


@pytest.mark.parametrize("form", ["path string", "dict without meta"])
@pytest.mark.parametrize("target", TARGETS)
def test_reason_refuses_a_path_that_was_not_uploaded(app, outside, tiny_engine, target, form):
    path = outside[target]
    image = path if form == "path string" else {"path": path}
    with watching(tiny_engine) as activity, pytest.raises(AppError) as caught:
        session(app).predict(images=[image], question=QUESTION, **REASON, api_name="/reason")
    assert f"Image {Path(path).name!r} was not uploaded with the request" in str(caught.value)
    assert not activity.ran


def test_reason_fetches_no_address_inside_the_host(app, tmp_path, tiny_engine):
    with fresh_png(tmp_path, "inside.png").open("rb") as upload:
        stored = httpx.post(app + "gradio_api/upload", files={"files": ("inside.png", upload)}).json()[0]
    for url in (f"{app}gradio_api/file={stored}", "http://169.254.169.254/latest/meta-data/",
                "http://localhost:1/image.png"):
        with watching(tiny_engine) as activity, pytest.raises(AppError):
            session(app).predict(images=[url], question=QUESTION, **REASON, api_name="/reason")
        assert not activity.ran, url


# /reason's settings after images and question, all of them: a queue/join call sends every value.
REASON_VALUES = [8, 16, 0, 0.95, 3, 0, 1.05, 4, 0, None]


def raw_call(url: str, api_name: str, args: list) -> dict:
    """Call an endpoint as a hand-written client would: paths go as they are, nothing is uploaded.
    Returns Gradio's `process_completed` message."""
    config = httpx.get(url + "config").json()
    kinds = {component["id"]: component.get("type") for component in config["components"]}
    dependency = next(d for d in config["dependencies"] if d.get("api_name") == api_name)
    values = iter(args)
    data = [None if kinds.get(i) == "state" else next(values) for i in dependency["inputs"]]
    session_hash = uuid.uuid4().hex[:12]
    joined = httpx.post(url + "gradio_api/queue/join", json={"data": data, "fn_index": dependency["id"],
                                                             "session_hash": session_hash})
    joined.raise_for_status()
    with httpx.stream("GET", url + "gradio_api/queue/data", params={"session_hash": session_hash},
                      timeout=60) as stream:
        for line in stream.iter_lines():
            message = json.loads(line[5:]) if line.startswith("data:") else {}
            if message.get("msg") == "process_completed":
                return message
    raise AssertionError(f"{api_name}: the event stream ended without a result")


@pytest.mark.parametrize("endpoint", ["reason", "chat"])
@pytest.mark.parametrize("target", TARGETS)
def test_a_file_data_that_claims_to_be_an_upload_is_refused(app, outside, tiny_engine, target, endpoint):
    path = outside[target]
    claimed = {"path": path, "meta": {"_type": "gradio.FileData"}}
    args = ([[claimed], QUESTION, *REASON_VALUES] if endpoint == "reason"
            else [{"text": QUESTION, "files": [claimed]}, *chat_args(QUESTION)[1:]])
    with watching(tiny_engine) as activity:
        result = raw_call(app, endpoint, args)
    assert result["success"] is False and not activity.ran
    leaked = secret_bytes(path)
    assert not leaked or leaked not in json.dumps(result).encode()


def test_a_refused_path_is_not_copied_into_the_cache(app, outside):
    secret = outside["an image outside Gradio's folder"]
    claimed = {"path": secret, "meta": {"_type": "gradio.FileData"}}
    assert raw_call(app, "reason", [[claimed], QUESTION, *REASON_VALUES])["success"] is False
    assert not (Path(get_upload_folder()) / hash_file(secret)).exists()


# ---- the HTTP file route ------------------------------------------------------------------------

def fetch(url: str, path: str, route: str = "file=") -> httpx.Response:
    # Percent-encoded so that "../" reaches the server as it is (httpx would drop it from the URL).
    return httpx.get(url + "gradio_api/" + route + quote(path, safe="/").replace(".", "%2E"))


@pytest.mark.parametrize("route", ["file=", "file/"])
@pytest.mark.parametrize("target", TARGETS + ["gradio's hash seed", "the examples folder", "the upload folder"])
def test_the_file_route_serves_nothing_outside_gradios_folders(app, outside, target, route):
    extra = {"gradio's hash seed": str(HASH_SEED), "the examples folder": str(ROOT / "assets" / "examples"),
             "the upload folder": get_upload_folder()}
    path = {**outside, **extra}[target]
    response = fetch(app, path, route)
    assert response.status_code in (403, 404), (path, response.status_code)
    leaked = secret_bytes(path)
    assert not leaked or leaked not in response.content


def test_an_upload_is_served_to_anyone_holding_its_url_and_only_then(app, tmp_path):
    image = fresh_png(tmp_path, "alice.png")
    alice_chat, _ = chat(session(app), QUESTION, [str(image)])
    uploaded = alice_chat[0]["content"][0]["file"]
    folder = Path(uploaded["path"]).parent
    # The folder is sha256(seed + bytes), the seed random per Gradio install: not derivable from the file.
    assert folder.name == hash_file(image) != hashlib.sha256(image.read_bytes()).hexdigest()
    assert fetch(app, str(HASH_SEED)).status_code == 403
    stranger = httpx.get(uploaded["url"])  # no session, no cookie: the URL alone
    assert stranger.status_code == 200 and stranger.content == image.read_bytes()
    assert stranger.headers["content-disposition"].startswith("inline")
    # Another session may pass the same server path to /reason: it is an upload, so it is read.
    bob = session(app).predict(images=[uploaded["path"]], question=QUESTION, **REASON, api_name="/reason")
    assert_answered(bob, images=1)


def test_an_uploaded_html_file_is_served_as_a_download_not_a_page(app, tmp_path):
    page = tmp_path / "page.html"
    page.write_bytes(b"<!DOCTYPE html><html><body><script>alert(document.cookie)</script></body></html>")
    with page.open("rb") as upload:
        stored = httpx.post(app + "gradio_api/upload", files={"files": ("page.html", upload)}).json()[0]
    response = fetch(app, stored)
    assert response.status_code == 200 and response.content == page.read_bytes()
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.headers["content-disposition"].startswith("attachment")
