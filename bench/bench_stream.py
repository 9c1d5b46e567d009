"""Cost of streaming a long reasoning trace to the browser: bytes sent and server CPU per token.

SYNTHETIC: no model runs. A synthetic engine yields 16,000 ThinkingDelta events (then a short
answer) at a steady pace; the real app (ui.page.layout.build_app) serves them in a child process, and
this script reads the queue's event stream (/gradio_api/queue/data, server-sent events) the way a
browser does, counting the bytes it receives and the child's CPU time. The table shows, per window
of the trace, the bytes and CPU per 1k tokens and the bytes per update: flat rows mean an update
costs the same however long the trace already is (Gradio 6 sends streamed updates as diffs).

Run: python bench/bench_stream.py [--tokens 16000] [--rate 800]. Always exits 0.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.child_server import child_app, free_port  # noqa: E402

WINDOWS = (1_000, 4_000, 8_000, 16_000)
WORDS = ("so", "the", "area", "is", "half", "of", "base", "times", "height;", "check:", "6·8", "=", "48,",
         "then", "$x^2$", "and", "therefore", "we", "get", "24.")
_TITLE_TOKENS = re.compile(r"· ([\d,]+) tokens")


class SyntheticEngine:
    """Yields `tokens` thinking deltas at `rate` per second, then a short answer. No model."""

    def __init__(self, tokens: int, rate: float):
        self.tokens, self.rate = tokens, rate

    def stream(self, request):
        from model.events import AnswerDelta, Done, FinishReason, Stats, ThinkingDelta

        started = time.monotonic()
        for index in range(1, self.tokens + 1):
            delay = started + index / self.rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            yield ThinkingDelta(" " + WORDS[index % len(WORDS)], index)
        for index, word in enumerate(("The", " area", " is", " $24$."), 1):
            yield AnswerDelta(word, index)
        total = time.monotonic() - started
        yield Stats(12, (), self.tokens, 4, 0.0, total, total, (self.tokens + 4) / total, False,
                    FinishReason.ANSWERED, 0)
        yield Done(FinishReason.ANSWERED)


def serve(port: int, tokens: int, rate: float) -> None:
    from ui.page.handlers import ModelInfo
    from ui.page.layout import build_app, serve as serve_app

    demo = build_app(SyntheticEngine(tokens, rate), ModelInfo("synthetic", device="none"))
    serve_app(demo, server_name="127.0.0.1", server_port=port, quiet=True)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Window:
    upto: int
    updates: int = 0
    bytes: int = 0
    cpu_s: float = 0.0
    tokens: int = 0
    largest_update: int = 0


@dataclass
class Reader:
    windows: list[Window] = field(default_factory=lambda: [Window(upto) for upto in WINDOWS])
    tokens: int = 0
    last_cpu: float = 0.0
    final_bytes: int = 0  # Gradio's completion message carries the whole final value once

    def window(self) -> Window:
        return next((w for w in self.windows if self.tokens <= w.upto), self.windows[-1])

    def update(self, raw: bytes, cpu: float) -> None:
        match = _TITLE_TOKENS.search(raw.decode("utf-8", "replace"))
        if match:
            self.tokens = int(match.group(1).replace(",", ""))
        window = self.window()
        window.updates += 1
        window.bytes += len(raw)
        window.largest_update = max(window.largest_update, len(raw))
        window.cpu_s += cpu - self.last_cpu
        self.last_cpu = cpu


def chat_fn_index(port: int) -> tuple[int, int]:
    import httpx

    config = httpx.get(f"http://127.0.0.1:{port}/config").json()
    for dep in config["dependencies"]:
        if dep.get("api_name") == "chat":
            return dep["id"], len(dep["inputs"])
    raise SystemExit("no /chat endpoint in the app's config")


def run_stream(port: int, pid: int) -> Reader:
    import httpx

    fn_index, inputs = chat_fn_index(port)
    session = uuid.uuid4().hex
    data = [{"text": "What is the area?", "files": []}, None, 0, True, 64, 0.6, 0.95, 0, 1.05, 12, 0]
    assert len(data) == inputs, (len(data), inputs)
    base = f"http://127.0.0.1:{port}/gradio_api"
    reader = Reader(last_cpu=cpu_seconds(pid))
    with httpx.Client(timeout=None) as client:
        client.post(f"{base}/queue/join", json={"data": data, "fn_index": fn_index, "session_hash": session,
                                                "event_data": None, "trigger_id": None}).raise_for_status()
        with client.stream("GET", f"{base}/queue/data", params={"session_hash": session}) as response:
            for line in response.iter_lines():
                if not line.startswith("data:"):
                    continue
                message = json.loads(line[5:])
                if message.get("msg") == "process_generating":
                    reader.update(line.encode("utf-8"), cpu_seconds(pid))
                if message.get("msg") == "process_completed":
                    reader.final_bytes = len(line.encode("utf-8"))
                    break
    return reader


def print_table(reader: Reader, elapsed: float, rate: float) -> None:
    print(f"SYNTHETIC stream: {WINDOWS[-1]:,} thinking tokens at {rate:.0f} tokens/s through the real app "
          f"(no model); {elapsed:.1f} s\n")
    header = ("window (tokens)", "updates", "bytes", "bytes/1k tok", "bytes/update", "max update",
              "server CPU ms/1k tok")
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" for _ in header) + "|")
    start = 0
    for window in reader.windows:
        span = max(window.upto - start, 1)
        per_update = window.bytes / window.updates if window.updates else 0
        print(f"| {start:,}–{window.upto:,} | {window.updates} | {window.bytes:,} | {window.bytes * 1000 / span:,.0f} "
              f"| {per_update:,.0f} | {window.largest_update:,} | {window.cpu_s * 1e6 / span:,.1f} |")
        start = window.upto
    streamed = sum(w.bytes for w in reader.windows)
    print(f"\nStreamed updates: {streamed:,} bytes for {WINDOWS[-1]:,} tokens ({streamed / WINDOWS[-1]:.1f} "
          f"bytes/token), at most about 15 updates per second.")
    print(f"Completion message (Gradio sends the whole final value once): {reader.final_bytes:,} bytes.")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=WINDOWS[-1])
    parser.add_argument("--rate", type=float, default=800.0, help="synthetic tokens per second")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.tokens, args.rate)
        return 0
    port = free_port()
    with child_app(__file__, port, "--tokens", str(args.tokens), "--rate", str(args.rate), timeout=120) as child:
        started = time.monotonic()
        reader = run_stream(port, child.pid)
        print_table(reader, time.monotonic() - started, args.rate)
    return 0


if __name__ == "__main__":
    sys.exit(main())
