"""Fixtures shared by the model tests: the bundled tiny checkpoint, loaded through the real loader.

When `assets/tiny-r1v` is missing (a fresh checkout before the asset exists) a randomly initialised
checkpoint in the same official format is built into a temporary folder instead.
"""
from __future__ import annotations

import shutil

import pytest
import torch

from model.registry import TINY_PATH

# Debian's Chromium, as every browser test starts it (Playwright's own download is not used).
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync"]


@pytest.fixture(scope="session")
def tiny_folder(tmp_path_factory):
    if (TINY_PATH / "config.json").is_file():
        return TINY_PATH
    from transformers import InternVLForConditionalGeneration

    from model.tiny.build import _default_corpus, build_tokenizer, save_official, tiny_native_config

    torch.manual_seed(0)
    tokenizer = build_tokenizer(_default_corpus(), vocab_size=400)
    model = InternVLForConditionalGeneration(tiny_native_config(tokenizer, "micro"))
    return save_official(model, tokenizer, tmp_path_factory.mktemp("tiny-r1v"))


@pytest.fixture(scope="session")
def tiny_tokenizer(tiny_folder):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_folder, trust_remote_code=False)


@pytest.fixture(scope="session")
def tiny_loaded(tiny_folder):
    from model.local.loader import load
    from model.registry import ModelSpec, by_name

    spec = by_name("tiny")
    return load(ModelSpec(**{**spec.__dict__, "source": str(tiny_folder)}), device="cpu")


def collect(events) -> dict:
    """Fold a stream of engine events into thinking, answer, errors, stats and done."""
    from model.events import AnswerDelta, Done, Error, Stats, ThinkingDelta

    out = {"thinking": "", "answer": "", "events": [], "errors": []}
    for event in events:
        out["events"].append(event)
        if isinstance(event, ThinkingDelta):
            out["thinking"] += event.text
        elif isinstance(event, AnswerDelta):
            out["answer"] += event.text
        elif isinstance(event, Error):
            out["errors"].append(event)
        elif isinstance(event, Stats):
            out["stats"] = event
        elif isinstance(event, Done):
            out["done"] = event
    return out


def chat_handlers(engine, info, **options):
    """The chat's handlers on the page's services, built as `build_app` builds them."""
    from ui.page.handlers import ChatHandlers
    from ui.page.services import Services

    return ChatHandlers(Services.create(engine, info, **options))


def reason_endpoint(engine, info, **options):
    """The `/reason` function on the page's services, as `build_app` registers it."""
    from ui.http.api import ReasonApi
    from ui.page.services import Services

    services = Services.create(engine, info, **options)
    return ReasonApi(services.serving, services.max_updates_per_s).endpoint()
