"""Fixtures shared by the UI tests: the tiny model loaded once, apps launched on 127.0.0.1.

- `tiny_engine`: a LocalEngine over the bundled tiny checkpoint (registry name "tiny"), or over a
  random checkpoint of the same format when `assets/tiny-r1v/config.json` is missing.
- `launch(demo, **options) -> url`: serves a Blocks on a free local port exactly as `python app.py` does
  (`ui.page.layout.serve`: its routes and middleware; `mcp=True` adds the MCP tool); every app is closed at
  the end of its test module.
- `slowed(engine, step_s)`: test-only instrumentation of the real model, so a run lasts until it is
  stopped: each decoding step sleeps `step_s` and the stop tokens are never chosen.
"""
from __future__ import annotations

import contextlib
import socket
import time
from typing import Callable, Iterator

import pytest

from tests.helpers import ARGS, CHROMIUM, tiny_folder, tiny_loaded  # noqa: F401 (fixtures)
from ui.page.layout import serve


@pytest.fixture(scope="session")
def tiny_engine(tiny_loaded):  # noqa: F811
    from model.local.engine import LocalEngine

    return LocalEngine(tiny_loaded, max_seconds=120)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")  # apps close with their module: a long run does not pile up servers
def launch() -> Iterator[Callable]:
    demos = []

    def _launch(demo, **options) -> str:
        options.setdefault("max_file_size", "5mb")
        _, url, _ = serve(demo, prevent_thread_lock=True, server_name="127.0.0.1", server_port=free_port(),
                          quiet=True, **options)
        demos.append(demo)
        return url

    yield _launch
    for demo in demos:
        demo.close()


@contextlib.contextmanager
def slowed(engine, step_s: float) -> Iterator[None]:
    import torch

    stop_ids = list(engine.stop_ids)

    def hook(module, args, logits):
        time.sleep(step_s)
        logits[..., stop_ids] = torch.finfo(logits.dtype).min
        return logits

    handle = engine.loaded.model.lm_head.register_forward_hook(hook)
    try:
        yield
    finally:
        handle.remove()


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll `condition` until true; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium driven by Playwright, one per test module (skipped where it is missing)."""
    import os

    from playwright.sync_api import sync_playwright

    if not os.path.exists(CHROMIUM):
        pytest.skip("Chromium is not installed (apt-get install -y chromium)")

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()


def pytest_terminal_summary(terminalreporter) -> None:
    """The rendering policy's property test says how many generated cases it checked, and with which seeds."""
    import sys

    module = sys.modules.get("tests.test_render_property")
    for name, count in (getattr(module, "CASES_RUN", None) or {}).items():
        terminalreporter.write_line(f"rendering policy property: {count} generated cases checked ({name})")
