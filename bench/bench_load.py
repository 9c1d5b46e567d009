"""The load scenario of tests/test_load.py, measured: many clients at once against a fresh app.

A child process serves the real app (ui.page.layout.build_app) on 127.0.0.1 with the tiny model; this
process plays the crowd (tests/load_scenario.py): each client is its own gradio_client session and
asks its questions about its own dice puzzle, even clients as a conversation on /chat, odd ones on
/reason, greedy with the tests' small budgets, all starting together. The table counts what
happened and times the completed requests, from submitting to the first output the app sent (a
"you are number N in the queue" line or a token), to the first token, and to the end; RSS is the
server process's, after one warm-up answer and after the load.

Run: python bench/bench_load.py [--clients 16] [--questions 3] [--concurrency 4] [--max-queue 64].
Always exits 0.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.child_server import child_app, free_port  # noqa: E402
from tests.app_drive import dice_puzzles, reason_kwargs  # noqa: E402
from tests.load_scenario import Outcome, crowd, run_load  # noqa: E402


def serve(port: int, concurrency: int, max_queue: int) -> None:
    from model.local.engine import LocalEngine
    from model.local.loader import load
    from model.registry import resolve
    from ui.page.handlers import ModelInfo
    from ui.page.layout import build_app, serve as serve_app

    engine = LocalEngine(load(resolve("tiny"), device="auto"))
    demo = build_app(engine, ModelInfo("tiny", is_tiny=True), max_concurrency=concurrency, max_queue=max_queue)
    serve_app(demo, server_name="127.0.0.1", server_port=port, quiet=True)


def rss_mb(pid: int) -> float:
    import psutil

    return psutil.Process(pid).memory_info().rss / 2**20


def warm_up(url: str, puzzle) -> None:
    from gradio_client import Client

    client = Client(url, verbose=False)
    client.predict(**reason_kwargs(puzzle.question, [puzzle.path]), api_name="/reason")
    client.close()


def percentiles(values: list[float]) -> str:
    if not values:
        return "–"
    p95 = statistics.quantiles(values, n=20, method="inclusive")[-1] if len(values) > 1 else values[0]
    return f"{statistics.median(values):.2f} / {p95:.2f}"


def print_table(outcomes: list[Outcome], seconds: float, rss: tuple[float, float], args: argparse.Namespace) -> None:
    counts = Counter(outcome.status for outcome in outcomes)
    done = [outcome for outcome in outcomes if outcome.status == "completed"]
    waits = [o.wait_s for o in done if o.wait_s is not None]
    first_tokens = [o.first_token_s for o in done if o.first_token_s is not None]
    rows = [
        ("requests", f"{len(outcomes)}"),
        ("completed", f"{counts['completed']}"),
        ("refused (queue full)", f"{counts['refused']}"),
        ("errors", f"{counts['error']}"),
        ("completed requests per minute", f"{counts['completed'] * 60 / seconds:.1f}"),
        ("wait p50 / p95 (s): submit -> first status or token", percentiles(waits)),
        ("time to first token p50 / p95 (s)", percentiles(first_tokens)),
        ("total p50 / p95 (s)", percentiles([o.total_s for o in done])),
        ("RSS before / after (MB), server process", f"{rss[0]:.0f} / {rss[1]:.0f}"),
    ]
    print(f"load: {args.clients} clients x {args.questions} questions, tiny model, concurrency {args.concurrency} "
          f"(one pool for /chat and /reason), queue max {args.max_queue}; {os.cpu_count()} CPU cores; {seconds:.1f} s\n")
    print("| measure | value |\n|---|---|")
    for name, value in rows:
        print(f"| {name} | {value} |")
    shown = sorted({place for outcome in outcomes for place in outcome.places})
    print(f"\nPlaces in line shown to waiting chats: {shown or 'none'}; errors: "
          f"{[o.message for o in outcomes if o.status == 'error'][:3] or 'none'}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--questions", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=4,
                        help="Gradio's concurrency limit of the answering pool (/chat and /reason share it)")
    parser.add_argument("--max-queue", type=int, default=64, help="Gradio's queue max_size")
    parser.add_argument("--timeout", type=float, default=600, help="seconds for the whole load")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.concurrency, args.max_queue)
        return 0
    puzzles = dice_puzzles(Path(tempfile.mkdtemp(prefix="bench-load-")), args.clients)
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    with child_app(__file__, port, "--concurrency", str(args.concurrency), "--max-queue", str(args.max_queue)) as child:
        warm_up(url, puzzles[0])
        before = rss_mb(child.pid)
        started = time.monotonic()
        outcomes = run_load(url, crowd(puzzles, args.questions), args.timeout)
        seconds = time.monotonic() - started
        print_table(outcomes, seconds, (before, rss_mb(child.pid)), args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
