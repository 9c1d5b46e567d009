"""How late the page shows the end of a streamed answer that is one very long line of prose and maths.

A scripted OpenAI-compatible server (tests/remote_server.FakeServer) streams one line of `--size`
characters ("a $x$ costs $5 " repeated: formulas and prices) in `--chunks` pieces over about 2 s into
the app on a RemoteEngine; Chromium sends the question and we time Send -> the final stats line.
Run twice in one process: as shipped, and with the two bounds switched off (no cut of very long
lines into paragraphs, no fewer frames for a long text). Also times `shown()` on the whole text,
the server's cost per frame. Prints a table and the ratio; exits 0.

    python bench/bench_render.py [--size 30000] [--chunks 300]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from model.remote.engine import RemoteEngine  # noqa: E402
from tests.conftest import free_port  # noqa: E402
from tests.remote_server import FakeServer, chat_chunk  # noqa: E402
from ui.render import messages as render, safe_text  # noqa: E402
from ui.page.handlers import ModelInfo  # noqa: E402
from ui.page.layout import build_app, serve  # noqa: E402

UNIT = "a $x$ costs $5 "
LIMIT_S = 240


class _Paced:
    """The server's chunks, spread over `seconds`."""

    def __init__(self, stream, delay: float):
        self.stream, self.delay = stream, delay

    def __iter__(self):
        for chunk in self.stream:
            time.sleep(self.delay)
            yield chunk

    def close(self):
        self.stream.close()


def run_once(browser, text: str, chunks: int) -> float:
    piece = -(-len(text) // chunks)
    events = [chat_chunk(reasoning="A short thought. ")]
    events += [chat_chunk(content=text[i:i + piece]) for i in range(0, len(text), piece)]
    with FakeServer(lambda path, body: (200, [*events, chat_chunk(finish="stop"), "[DONE]"])) as fake:
        engine = RemoteEngine(fake.endpoint, model="bench", timeout_s=30)
        consume = engine._consume
        engine._consume = lambda run, stream, budget_at: consume(run, _Paced(stream, 2.0 / chunks), budget_at)
        demo = build_app(engine, ModelInfo("bench"))
        _, url, _ = serve(demo, prevent_thread_lock=True, server_name="127.0.0.1", server_port=free_port(),
                          quiet=True)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        try:
            page.goto(url)
            page.wait_for_selector("#model-status:has-text('ready')")
            page.locator("#question textarea").fill("go")
            started = time.perf_counter()
            page.locator("#send-btn").click()
            try:
                page.wait_for_selector("#stats-line:has-text('in all')", timeout=LIMIT_S * 1000)
            except Exception:  # noqa: BLE001 - reported as "more than" the limit
                return float("inf")
            return time.perf_counter() - started
        finally:
            page.close()
            demo.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=30_000)
    parser.add_argument("--chunks", type=int, default=300)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    text = (UNIT * (args.size // len(UNIT) + 1))[:args.size]
    started = time.perf_counter()
    safe_text.shown(text)
    shown_s = time.perf_counter() - started
    rows = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium",
                                             args=["--no-sandbox", "--disable-gpu"])
        rows.append(("as shipped", run_once(browser, text, args.chunks)))
        long_line, drawn = safe_text.LONG_LINE, render.DRAWN_CHARS_PER_S
        safe_text.LONG_LINE, render.DRAWN_CHARS_PER_S = 10**12, float("inf")
        try:
            rows.append(("bounds off", run_once(browser, text, args.chunks)))
        finally:
            safe_text.LONG_LINE, render.DRAWN_CHARS_PER_S = long_line, drawn
        browser.close()
    print(f"one line of {args.size:,} characters in {args.chunks} chunks over ~2 s; "
          f"shown() of the whole text: {shown_s * 1000:.0f} ms")
    print(f"{'configuration':<14} {'Send -> final stats (s)':>24}")
    for name, seconds in rows:
        shown_text = f"> {LIMIT_S}" if seconds == float("inf") else f"{seconds:.1f}"
        print(f"{name:<14} {shown_text:>24}")
    shipped, off = rows[0][1], rows[1][1]
    print(f"ratio bounds off / as shipped: {'>' if off == float('inf') else ''}"
          f"{min(off, LIMIT_S) / shipped:.1f}x")


if __name__ == "__main__":
    main()
