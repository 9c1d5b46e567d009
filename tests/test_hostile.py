"""A catalogue of hostile inputs, each sent through the real server: gradio_client against the app
launched on 127.0.0.1 with the tiny model behind it.

Contract checked for every row: the request is either refused, with a message that names the problem
(and, for a limit, the limit), or answered normally. A refused request runs nothing on the model,
and the next normal request is answered. Every row goes through `/reason`; the key rows also go
through `/chat`, where a refusal is a warning toast, an unchanged conversation and the question put
back in the box. The hostile files are written by the `hostile_files` fixture; none is committed.
"""
from __future__ import annotations

import contextlib
import io
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import httpx
import numpy as np
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from model.events import SEED_MAX, TEMPERATURE_MAX, TEMPERATURE_MIN, THINKING_BUDGET_MAX, GenerationOptions
from model.limits import (DEFAULT_MAX_IMAGES, DEFAULT_MAX_PDF_PAGES, DEFAULT_MAX_QUESTION_CHARS,
                          DEFAULT_MAX_QUESTION_TOKENS)
from tests.test_app_e2e import EXAMPLE, chat_args
from tests.test_formats import avif_image, heic_photo, pages_pdf, two_page_pdf
from ui.page.controls import CONTROL_NAMES
from ui.page.handlers import ModelInfo
from ui.page.layout import build_app

QUESTION = "How many red shapes are there?"
NORMAL = {"question": QUESTION, "thinking_budget": 8, "max_new_tokens": 16, "temperature": 0, "seed": 3}
ANSWERED_REASONS = {"answered", "budget_then_answered", "answer_budget"}
SPECIAL_TOKENS = ("<IMG_CONTEXT>", "<img>", "</img>", "<think>", "</think>", "<｜User｜>", "<｜Assistant｜>",
                  "<|im_start|>", "<|im_end|>", "<｜end▁of▁sentence｜>", "<｜begin▁of▁sentence｜>")


# ---- hostile files: hand-written or built in memory, a few kB each ------------------------------

def encoded(img: Image.Image, fmt: str, **params) -> bytes:
    buffer = io.BytesIO()
    img.save(buffer, fmt, **params)
    return buffer.getvalue()


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def one_bit_png(width: int, height: int) -> bytes:
    """A valid black 1-bit PNG of any size: its rows compress to almost nothing, so a header that
    declares hundreds of megapixels costs a few kB (a decompression bomb)."""
    packer, row = zlib.compressobj(9), bytes(1 + (width + 7) // 8)  # filter byte + packed bits
    data = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1 bit, greyscale
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", data) + _png_chunk(b"IEND", b"")


def noise(width: int = 64, height: int = 64) -> Image.Image:
    return Image.fromarray(np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8))


def animated_gif() -> bytes:
    frames = [Image.new("P", (32, 32), colour) for colour in (1, 2, 3)]
    return encoded(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=40, loop=0)


def sixteen_bit_png() -> bytes:
    ramp = (np.arange(64 * 64, dtype=np.uint32).reshape(64, 64) * 16).astype(np.uint16)
    return encoded(Image.fromarray(ramp), "PNG")


def red_over_blue_jpeg(orientation: int) -> bytes:
    """128×64 as stored: red top half, blue bottom half, with an EXIF orientation tag."""
    img = Image.new("RGB", (128, 64), "blue")
    img.paste((255, 0, 0), (0, 0, 128, 32))
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encoded(img, "JPEG", quality=95, exif=exif)


def corrupt_jpeg_scan() -> bytes:
    """A JPEG whose entropy-coded data is partly garbage: libjpeg warns and decodes anyway."""
    good = encoded(noise(), "JPEG", quality=90)
    scan = good.index(b"\xff\xda") + 20
    return good[:scan] + b"\xff\x00" * 200 + good[scan + 400:]


def corrupt_jpeg_header() -> bytes:
    """A JPEG whose frame header declares a 0×0 image."""
    good = encoded(noise(), "JPEG", quality=90)
    return good[:2] + b"\xff\xc0\x00\x11\x08\x00\x00\x00\x00" + good[30:]


def forged_size(data: bytes, width: int, height: int) -> bytes:
    """A HEIF/AVIF file whose 'ispe' box (the size its header declares) is rewritten: a bomb of a few kB."""
    box = data.index(b"ispe")
    return data[:box + 8] + struct.pack(">II", width, height) + data[box + 16:]


def half(data: bytes) -> bytes:
    return data[:len(data) // 2]


HOSTILE_FILES: dict[str, Callable[[], bytes]] = {
    "empty.png": lambda: b"",
    "truncated.png": lambda: encoded(noise(), "PNG")[:3000],
    "corrupt-header.jpg": corrupt_jpeg_header,
    "corrupt-scan.jpg": corrupt_jpeg_scan,
    "half.jpg": lambda: (lambda data: data[:len(data) // 2])(encoded(noise(), "JPEG")),
    "notes.png": lambda: b"These are my notes, not a picture.\n",
    "drawing.svg": lambda: b'<svg xmlns="http://www.w3.org/2000/svg" width="8" height="8"><rect width="8"/></svg>',
    "drawing-named.png": lambda: b'<svg xmlns="http://www.w3.org/2000/svg"><circle r="4"/></svg>',
    "page.html": lambda: b"<!DOCTYPE html><html><body><script>alert(1)</script></body></html>",
    "doc.pdf": lambda: b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n",
    "bomb.png": lambda: one_bit_png(20_000, 20_000),
    "fifty-megapixels.png": lambda: one_bit_png(10_000, 5_000),
    "one-pixel.png": lambda: encoded(Image.new("RGB", (1, 1), "red"), "PNG"),
    "strip.png": lambda: encoded(Image.new("RGB", (20_000, 20), "red"), "PNG"),
    "animated.gif": animated_gif,
    "sixteen-bit.png": sixteen_bit_png,
    "cmyk.jpg": lambda: encoded(Image.new("CMYK", (64, 64), (0, 255, 255, 0)), "JPEG"),
    "rotated.jpg": lambda: red_over_blue_jpeg(orientation=6),
    # PDF documents and phone photos
    "two-page.pdf": two_page_pdf,
    "truncated.pdf": lambda: half(two_page_pdf()),
    "many-pages.pdf": lambda: pages_pdf([(200, 100)] * 12),
    "poster.pdf": lambda: pages_pdf([(200_000, 200_000)]),  # 160 gigapixels at the render dpi
    "pdf-named.png": two_page_pdf,
    "jpeg-named.pdf": lambda: red_over_blue_jpeg(orientation=1),
    "rotated.heic": heic_photo,
    "truncated.heic": lambda: half(heic_photo()),
    "bomb.heic": lambda: forged_size(heic_photo(), 16_000, 16_000),
    "fifty-megapixels.heic": lambda: forged_size(heic_photo(), 7_000, 7_000),
    "heic-named.jpg": heic_photo,
    "notes.heic": lambda: b"These are my notes, not a photo.\n",
    "wide.avif": avif_image,
    "truncated.avif": lambda: half(avif_image()),
    "bomb.avif": lambda: forged_size(avif_image(), 16_000, 16_000),
    "fifty-megapixels.avif": lambda: forged_size(avif_image(), 7_000, 7_000),
    "avif-named.png": avif_image,
}


@pytest.fixture(scope="module")
def hostile_files(tmp_path_factory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("hostile")
    paths = {"example": EXAMPLE}
    for name, make in HOSTILE_FILES.items():
        (folder / name).write_bytes(make())
        paths[name] = str(folder / name)
    return paths


# ---- the app, and what ran on its model ----------------------------------------------------------

@pytest.fixture(scope="module")
def app(tiny_engine, launch):
    defaults = GenerationOptions.validated(thinking_budget=8, answer_budget=16, max_tiles=4)
    demo = build_app(tiny_engine, ModelInfo("tiny", is_tiny=True, device="CPU", defaults=defaults))
    return Client(launch(demo), verbose=False)


@dataclass
class ModelActivity:
    prompts: list = field(default_factory=list)  # input_ids of each prefill, [1, prompt_tokens]
    tiles: list = field(default_factory=list)  # pixel_values seen by the vision tower, [tiles, 3, t, t]
    steps: int = 0  # forward passes of the whole model

    @property
    def ran(self) -> bool:
        return bool(self.steps or self.tiles)


@contextlib.contextmanager
def watching(engine) -> Iterator[ModelActivity]:
    """Record every forward pass of the engine's model and of its vision tower."""
    activity, model = ModelActivity(), engine.loaded.model

    def on_forward(module, args, kwargs):
        activity.steps += 1
        if kwargs.get("input_ids") is not None and kwargs["input_ids"].shape[1] > 1:
            activity.prompts.append(kwargs["input_ids"].clone())

    def on_vision(module, args, kwargs):
        activity.tiles.append((args[0] if args else kwargs["pixel_values"]).clone())

    handles = [model.register_forward_pre_hook(on_forward, with_kwargs=True),
               model.model.vision_tower.register_forward_pre_hook(on_vision, with_kwargs=True)]
    try:
        yield activity
    finally:
        for handle in handles:
            handle.remove()


# ---- requests and what a normal answer is --------------------------------------------------------

def reason(client: Client, images=("example",), files: dict | None = None, **changes) -> dict:
    files = files or {"example": EXAMPLE}
    uploads = [handle_file(files[name]) for name in images]
    return client.predict(images=uploads, **{**NORMAL, **changes}, api_name="/reason")


def assert_answered(final: dict, images: int) -> None:
    stats = final["stats"]
    assert stats["finish_reason"] in ANSWERED_REASONS, stats
    assert final["answer"].strip()
    assert len(stats["image_tiles"]) == images and all(tiles >= 1 for tiles in stats["image_tiles"])


def loose(text: str) -> str:
    """Hyphens read as spaces: "Top-p" and "Top p" both name top_p."""
    return text.replace("-", " ")


def assert_refused(call: Callable[[], object], words: tuple[str, ...], engine) -> str:
    with watching(engine) as activity, pytest.raises(AppError) as caught:
        call()
    message = str(caught.value)
    assert all(loose(word) in loose(message) for word in words), message
    assert "Traceback" not in message
    assert not activity.ran, "a refused request reached the model"
    return message


def assert_still_serving(client: Client) -> None:
    assert_answered(reason(client), images=1)


@dataclass(frozen=True)
class Row:
    id: str
    images: tuple[str, ...] = ("example",)
    changes: dict = field(default_factory=dict)  # /reason arguments replacing the normal ones
    refused: tuple[str, ...] = ()  # words the refusal must contain; empty: the row is answered
    shown: int = 0  # images the model gets when answered (a PDF's pages); 0: one per file

    def param(self):
        return pytest.param(self, id=self.id)


def run_row(client: Client, row: Row, files: dict, engine) -> None:
    call = lambda: reason(client, row.images, files, **row.changes)  # noqa: E731
    if row.refused:
        assert_refused(call, row.refused, engine)
        assert_still_serving(client)
    else:
        assert_answered(call(), images=row.shown or len(row.images))


# ---- /reason: files --------------------------------------------------------------------------

IMAGE_ROWS = [
    Row("empty file", ("empty.png",), refused=("empty.png", "empty (0 bytes)")),
    Row("truncated PNG", ("truncated.png",), refused=("truncated.png", "damaged or cut short")),
    Row("JPEG with a broken frame header", ("corrupt-header.jpg",),
        refused=("corrupt-header.jpg", "not a readable image")),
    Row("JPEG cut in half", ("half.jpg",), refused=("half.jpg", "cut short")),
    Row("JPEG with garbage scan data", ("corrupt-scan.jpg",)),  # libjpeg recovers: answered
    Row("text file named .png", ("notes.png",), refused=("notes.png", "not a readable image", "PNG, JPEG")),
    Row("SVG", ("drawing.svg",), refused=("drawing.svg", "SVG")),
    Row("SVG named .png", ("drawing-named.png",), refused=("drawing-named.png", "SVG")),
    Row("HTML", ("page.html",), refused=("page.html", "HTML page")),
    Row("PDF without pages", ("doc.pdf",), refused=("doc.pdf", "not a readable PDF document")),
    Row("decompression bomb 20000x20000", ("bomb.png",),
        refused=("bomb.png", "decompression bomb", "limit is 40 megapixels")),
    Row("50 megapixels", ("fifty-megapixels.png",), refused=("10000×5000", "50 megapixels", "limit is 40 megapixels")),
    Row("1x1", ("one-pixel.png",)),
    Row("20000x20 strip", ("strip.png",), refused=("20000×20", "limit is 16384 pixels on the longer side")),
    Row("animated GIF", ("animated.gif",)),
    Row("16-bit PNG", ("sixteen-bit.png",)),
    Row("CMYK JPEG", ("cmyk.jpg",)),
    Row("EXIF orientation 6", ("rotated.jpg",)),
    Row("one image too many", ("one-pixel.png",) * (DEFAULT_MAX_IMAGES + 1),
        refused=(f"{DEFAULT_MAX_IMAGES + 1} images", f"the limit is {DEFAULT_MAX_IMAGES}")),
]

# A PDF page counts as an image; pages are rendered at a bounded scale, so no page is a bomb.
FORMAT_ROWS = [
    Row("two-page PDF", ("two-page.pdf",), shown=2),
    Row("truncated PDF", ("truncated.pdf",), refused=("truncated.pdf", "not a readable PDF document", "cut short")),
    Row("12-page PDF: the first pages", ("many-pages.pdf",), shown=DEFAULT_MAX_PDF_PAGES),
    Row("PDF page of 160 gigapixels at the render dpi", ("poster.pdf",)),
    Row("PDF named .png", ("pdf-named.png",), shown=2),
    Row("JPEG named .pdf", ("jpeg-named.pdf",)),
    Row("PDF pages beyond the image limit", ("two-page.pdf",) * (DEFAULT_MAX_IMAGES // 2 + 1),
        refused=(f"already holds {DEFAULT_MAX_IMAGES} images", f"the limit is {DEFAULT_MAX_IMAGES}", "two-page.pdf")),
    Row("HEIC photo, rotated", ("rotated.heic",)),
    Row("truncated HEIC", ("truncated.heic",), refused=("truncated.heic", "HEIC data is damaged or cut short")),
    Row("HEIC bomb 16000x16000", ("bomb.heic",), refused=("bomb.heic", "decompression bomb", "limit is 40 megapixels")),
    Row("HEIC of 49 megapixels", ("fifty-megapixels.heic",), refused=("7000×7000", "limit is 40 megapixels")),
    Row("HEIC named .jpg", ("heic-named.jpg",)),
    Row("text file named .heic", ("notes.heic",), refused=("notes.heic", "not a readable image", "HEIC/HEIF, AVIF")),
    Row("AVIF image", ("wide.avif",)),
    Row("truncated AVIF", ("truncated.avif",), refused=("truncated.avif", "AVIF data is damaged or cut short")),
    Row("AVIF bomb 16000x16000", ("bomb.avif",), refused=("bomb.avif", "decompression bomb", "limit is 40 megapixels")),
    Row("AVIF of 49 megapixels", ("fifty-megapixels.avif",), refused=("7000×7000", "limit is 40 megapixels")),
    Row("AVIF named .png", ("avif-named.png",)),
]


@pytest.mark.parametrize("row", [row.param() for row in FORMAT_ROWS])
def test_hostile_document_or_photo_via_reason(app, hostile_files, tiny_engine, row):
    run_row(app, row, hostile_files, tiny_engine)


@pytest.mark.parametrize("row", [row.param() for row in IMAGE_ROWS])
def test_hostile_file_via_reason(app, hostile_files, tiny_engine, row):
    run_row(app, row, hostile_files, tiny_engine)


# ---- /reason: questions ----------------------------------------------------------------------

CONTROL_CHARACTERS = "How\x00 many\x01\x07 red\x1b[31m shapes\u200b\ufeff are\u202e there?\r\n\t\x7f"
QUESTION_ROWS = [
    # API callers are told in their own terms (the page's "Please type a question" is for people)
    Row("empty question", changes={"question": ""}, refused=("question is empty: send the question as text",)),
    Row("blank question", changes={"question": " \n\t "}, refused=("question is empty: send the question as text",)),
    Row("200,000 characters", changes={"question": "a" * 200_000},
        refused=("200,000 characters", f"the limit is {DEFAULT_MAX_QUESTION_CHARS:,}")),
    Row("too many tokens", changes={"question": "abc def " * (DEFAULT_MAX_QUESTION_CHARS // 9)},
        refused=("tokens long", f"the limit is {DEFAULT_MAX_QUESTION_TOKENS:,} tokens")),
    Row("every special token", changes={"question": " ".join(SPECIAL_TOKENS) + " " + QUESTION}),
    Row("control characters", changes={"question": CONTROL_CHARACTERS}),
    Row("right-to-left text", changes={"question": "كم عدد الأشكال الحمراء؟ \u202bHow many?\u202c \u200f"}),
    Row("emoji", changes={"question": "🔴🟦 How many red shapes? 👨‍👩‍👧‍👦 🏳️‍🌈 " + "😀" * 50}),
]


@pytest.mark.parametrize("row", [row.param() for row in QUESTION_ROWS])
def test_hostile_question_via_reason(app, hostile_files, tiny_engine, row):
    run_row(app, row, hostile_files, tiny_engine)


# ---- /reason: settings -----------------------------------------------------------------------

SETTING_ROWS = [
    Row("thinking budget 10**9", changes={"thinking_budget": 10**9},
        refused=("Thinking budget", f"between 0 and {THINKING_BUDGET_MAX}", "1000000000")),
    Row("thinking budget 1.5", changes={"thinking_budget": 1.5}, refused=("Thinking budget", "whole number")),
    Row("temperature -1", changes={"temperature": -1},
        refused=("Temperature", f"between {TEMPERATURE_MIN} and {TEMPERATURE_MAX}")),
    Row("temperature nan", changes={"temperature": "nan"}, refused=("Temperature", "finite")),
    Row("temperature inf", changes={"temperature": "inf"}, refused=("Temperature", "finite")),
    Row("top_p abc", changes={"top_p": "abc"}, refused=("Top p", "must be a number", 'got "abc"')),
    Row("top_p None", changes={"top_p": None}),  # null means the served default, as a value left out does
    Row("seed x", changes={"seed": "x"}, refused=("Seed", "must be a number", 'got "x"')),
    Row("seed 2**40", changes={"seed": 2**40}, refused=("Seed", f"between 0 and {SEED_MAX}")),
    Row("seed true", changes={"seed": True}, refused=("Seed", "must be a number")),
    Row("max_new_tokens 0", changes={"max_new_tokens": 0}, refused=("Answer budget", "between 16")),
    Row("max_new_tokens as a list", changes={"max_new_tokens": [16]}, refused=("Answer budget", "must be a number")),
    Row("numbers as strings", changes={"thinking_budget": "8", "temperature": "0", "seed": "3"}),
    Row("no thinking limit", changes={"thinking_budget": -1}),
]


@pytest.mark.parametrize("row", [row.param() for row in SETTING_ROWS])
def test_hostile_setting_via_reason(app, hostile_files, tiny_engine, row):
    run_row(app, row, hostile_files, tiny_engine)


def test_answer_budget_beyond_the_context_is_refused(app, tiny_engine):
    context = tiny_engine.loaded.model.config.text_config.max_position_embeddings
    words = ("answer budget (" + f"{context:,} tokens)", f"the limit is the model's context of {context:,} tokens",
             "Lower the answer budget")
    assert_refused(lambda: reason(app, max_new_tokens=context), words, tiny_engine)
    assert_still_serving(app)


# ---- what reached the model ------------------------------------------------------------------

def added_token_counts(engine, input_ids) -> dict[str, int]:
    ids = input_ids[0].tolist()
    vocab = engine.loaded.tokenizer.get_added_vocab()
    return {token: ids.count(token_id) for token, token_id in vocab.items()}


def test_special_tokens_in_a_question_stay_text(app, tiny_engine):
    hostile = " ".join(SPECIAL_TOKENS * 3) + " " + QUESTION
    with watching(tiny_engine) as plain:
        assert_answered(reason(app), images=1)
    with watching(tiny_engine) as attacked:
        assert_answered(reason(app, question=hostile), images=1)
    # The template's own control tokens, no more: the same count of each as for a plain question.
    assert added_token_counts(tiny_engine, attacked.prompts[0]) == added_token_counts(tiny_engine, plain.prompts[0])
    assert attacked.prompts[0].shape[1] > plain.prompts[0].shape[1] + len(SPECIAL_TOKENS)
    assert [t.shape for t in attacked.tiles] == [t.shape for t in plain.tiles]


def test_exif_orientation_reaches_the_model_upright(app, hostile_files, tiny_engine):
    with watching(tiny_engine) as activity:
        assert_answered(reason(app, ("rotated.jpg",), hostile_files), images=1)
    tiles = activity.tiles[0]  # stored 128×64 red over blue; shown 64×128: 1×2 grid + thumbnail
    assert tiles.shape[0] == 3
    red = tiles[0, 0]  # top tile, red channel, normalised: turned 90° clockwise, red is on the right
    half = red.shape[1] // 2
    assert red[:, half:].mean() > red[:, :half].mean() + 2.0


# ---- uploads over the server's size limit ----------------------------------------------------

def test_an_oversized_upload_is_refused_by_the_client_and_by_the_server(app, tmp_path):
    limit = app.config["max_file_size"]  # the launch fixture's "5mb", in bytes
    big = tmp_path / "big.png"
    big.write_bytes(encoded(Image.new("RGB", (8, 8)), "PNG") + bytes(limit))
    with pytest.raises(ValueError, match=f"exceeds the maximum file size of {limit} bytes"):
        reason(app, ("big",), {"big": str(big)})
    with big.open("rb") as upload:  # a client that does not check first
        response = httpx.post(app.src + "gradio_api/upload", files={"files": ("big.png", upload)}, timeout=60)
    assert response.status_code == 413 and "size" in response.text.lower()
    assert_still_serving(app)


# ---- /chat: the key rows ---------------------------------------------------------------------

def new_session(app: Client) -> Client:
    """Another client is another browser session, with an empty conversation. Files in its answers
    stay on the server (download_files=False): the tests read their names, not their bytes."""
    return Client(app.src, verbose=False, download_files=False)


def warnings_of(job) -> list[str]:
    """The gr.Warning toasts of a finished job: gradio_client queues them as 'log' status updates."""
    toasts, updates = [], job.communicator.updates
    while not updates.empty():
        update = updates.get_nowait()
        if getattr(update, "log", None):
            toasts.append(update.log[0])
    return toasts


def send_chat(client: Client, text: str, files=(), **controls) -> tuple[list, dict, str, list[str]]:
    args = list(chat_args(text, files, thinking_budget=8, answer_budget=16))
    for name, value in controls.items():
        args[1 + CONTROL_NAMES.index(name)] = value
    job = client.submit(*args, api_name="/chat")
    chatbot, box, stats = job.result(timeout=120)
    return chatbot, box, stats, warnings_of(job)


def assert_answered_in_chat(client: Client, text: str, files=()) -> None:
    chatbot, box, stats, toasts = send_chat(client, text, files)
    roles = [m["role"] for m in chatbot]  # a thought bubble only when there was thinking to show
    assert roles in [["user"] * (len(files) + 1) + ["assistant"] * count for count in (1, 2)]
    assert chatbot[-1]["content"][0]["text"].strip() and stats and not toasts
    assert "value" not in box  # emptied when sent; the last update leaves a question drafted since alone


CHAT_ROWS = [
    Row("empty file", ("empty.png",), refused=("empty (0 bytes)",)),
    Row("text file named .png", ("notes.png",), refused=("not a readable image",)),
    Row("SVG", ("drawing.svg",), refused=("SVG",)),
    Row("decompression bomb", ("bomb.png",), refused=("decompression bomb", "40 megapixels")),
    Row("200,000 characters", changes={"question": "a" * 200_000}, refused=("200,000 characters",)),
    Row("too many tokens", changes={"question": "abc def " * (DEFAULT_MAX_QUESTION_CHARS // 9)},
        refused=(f"{DEFAULT_MAX_QUESTION_TOKENS:,} tokens",)),
    Row("every special token", changes={"question": " ".join(SPECIAL_TOKENS) + " " + QUESTION}),
    Row("1x1", ("one-pixel.png",)),
    Row("animated GIF", ("animated.gif",)),
    Row("16-bit PNG", ("sixteen-bit.png",)),
    Row("CMYK JPEG", ("cmyk.jpg",)),
    Row("EXIF orientation 6", ("rotated.jpg",)),
    Row("control characters", changes={"question": CONTROL_CHARACTERS}),
    Row("two-page PDF", ("two-page.pdf",)),
    Row("truncated PDF", ("truncated.pdf",), refused=("not a readable PDF document",)),
    Row("HEIC photo", ("rotated.heic",)),
    Row("HEIC bomb", ("bomb.heic",), refused=("decompression bomb", "40 megapixels")),
    Row("truncated AVIF", ("truncated.avif",), refused=("AVIF data is damaged",)),
]


@pytest.mark.parametrize("row", [row.param() for row in CHAT_ROWS])
def test_hostile_input_via_chat(app, hostile_files, tiny_engine, row):
    client = new_session(app)
    question = row.changes.get("question", QUESTION)
    files = [hostile_files[name] for name in row.images]
    if not row.refused:
        assert_answered_in_chat(client, question, files)
        return
    with watching(tiny_engine) as activity:
        chatbot, box, stats, toasts = send_chat(client, question, files)
    assert not activity.ran
    assert chatbot == [] and stats == ""
    assert len(toasts) == 1 and all(word in toasts[0] for word in row.refused), toasts
    assert box["value"]["text"] == question  # the question goes back into the box, files too
    assert [Path(item["path"]).name for item in box["value"]["files"]] == [Path(path).name for path in files]
    assert_answered_in_chat(client, QUESTION, [EXAMPLE])  # the refused turn left nothing behind


@pytest.mark.parametrize("name, looks_like", [("page.html", "HTML page")])
def test_a_file_that_is_not_an_image_type_via_chat_is_refused(app, hostile_files, tiny_engine, name, looks_like):
    """While /chat preprocesses its inputs, the box's own check refuses a non-image type with an
    error; without that step the handler refuses it like any unreadable image, with a toast."""
    client = new_session(app)
    with watching(tiny_engine) as activity:
        try:
            chatbot, box, stats, toasts = send_chat(client, QUESTION, [hostile_files[name]])
        except AppError as error:
            assert "Invalid file type" in str(error) and "image" in str(error)
        else:
            assert chatbot == [] and len(toasts) == 1 and looks_like in toasts[0]
            assert box["value"]["text"] == QUESTION
    assert not activity.ran
    assert_answered_in_chat(client, QUESTION, [EXAMPLE])


def test_an_empty_question_via_chat_leaves_the_box_alone(app, tiny_engine):
    client = new_session(app)
    with watching(tiny_engine) as activity:
        chatbot, box, stats, toasts = send_chat(client, "  \n ", [EXAMPLE])
    assert not activity.ran and toasts and "Please type a question" in toasts[0]
    assert chatbot == box == {"__type__": "update"}  # gr.skip(): nothing changes, the image stays in the box
    assert_answered_in_chat(client, QUESTION, [EXAMPLE])


# ---- /chat: settings the page's sliders cannot produce ----------------------------------------

CHAT_SETTING_ROWS = [
    Row("max_tiles 0", changes={"max_tiles": 0}, refused=("Max tiles", "between 1 and 24")),
    Row("thinking budget 10**9", changes={"thinking_budget": 10**9}, refused=("Thinking budget", "32768")),
    Row("temperature -1", changes={"temperature": -1}, refused=("Temperature", "between 0.0 and 2.0")),
    Row("top_p abc", changes={"top_p": "abc"}, refused=("Top p", "must be a number")),
    Row("seed x", changes={"seed": "x"}, refused=("Seed", "must be a number")),
]


@pytest.mark.parametrize("row", [row.param() for row in CHAT_SETTING_ROWS])
def test_bad_setting_via_chat_is_refused_and_the_server_keeps_serving(app, tiny_engine, row):
    client = new_session(app)
    assert_refused(lambda: send_chat(client, QUESTION, [EXAMPLE], **row.changes), (), tiny_engine)
    assert_answered_in_chat(client, QUESTION, [EXAMPLE])


# The raw values reach GenerationOptions.validated (no Gradio preprocessing), which names the setting.
@pytest.mark.parametrize("row", [row.param() for row in CHAT_SETTING_ROWS])
def test_bad_setting_via_chat_is_named(app, tiny_engine, row):
    client = new_session(app)
    assert_refused(lambda: send_chat(client, QUESTION, [EXAMPLE], **row.changes), row.refused, tiny_engine)
