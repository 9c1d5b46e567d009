"""How soon `python app.py` serves its page and answers, beside a bare Gradio page on the same machine.

Each run starts a fresh process and times, from the moment it is started:
- bare Gradio: a one-Markdown `gr.Blocks` launched as a script, until `GET /` answers 200;
- `python app.py --model tiny` (the bundled model; without a GPU also the default): until `GET /`
  answers 200, and until a plain HTTP `/reason` call sent right after (one uploaded example
  image, the served defaults) has streamed its final answer; the call waits for the model to
  load, as a first visitor's would.
Runs alternate between the two, so a busy moment on the machine hits both. The table gives the
median and the range of `--runs` runs and the ratio of the medians.

Run: python bench/bench_start.py [--runs 3].
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.child_server import free_port  # noqa: E402

EXAMPLE = ROOT / "assets" / "examples" / "puzzle_count.png"
QUESTION = "How many red shapes are there?"
BARE = ("import sys, gradio as gr\n"
        "with gr.Blocks() as demo:\n"
        "    gr.Markdown('bare')\n"
        "demo.launch(server_name='127.0.0.1', server_port=int(sys.argv[1]))\n")


def started(command: list[str]) -> tuple[subprocess.Popen, float]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("R1V_", "GRADIO_"))}
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL), time.monotonic()


def page_seconds(url: str, child: subprocess.Popen, began: float) -> float:
    while child.poll() is None:
        try:
            if httpx.get(url, timeout=60).status_code == 200:
                return time.monotonic() - began
        except httpx.HTTPError:
            time.sleep(0.02)
    raise RuntimeError(f"the server at {url} ended with exit code {child.returncode}")


def answered(url: str) -> dict:
    """Upload the example, call /reason with its two required values, read the stream to its end."""
    with open(EXAMPLE, "rb") as handle:
        path = httpx.post(f"{url}gradio_api/upload", files={"files": handle}, timeout=60).json()[0]
    image = {"path": path, "meta": {"_type": "gradio.FileData"}}
    event = httpx.post(f"{url}gradio_api/call/reason", json={"data": [[image], QUESTION]}, timeout=60)
    last, name = None, None
    with httpx.stream("GET", f"{url}gradio_api/call/reason/{event.json()['event_id']}", timeout=300) as stream:
        for line in stream.iter_lines():
            name = line.split(":", 1)[1].strip() if line.startswith("event:") else name
            last = line.split(":", 1)[1] if line.startswith("data:") else last
    if name != "complete":
        raise RuntimeError(f"/reason ended with {name}: {last}")
    return json.loads(last)[0]


def run_bare() -> float:
    port = free_port()
    child, began = started([sys.executable, "-c", BARE, str(port)])
    try:
        return page_seconds(f"http://127.0.0.1:{port}/", child, began)
    finally:
        child.terminate()
        child.wait(timeout=30)


def run_app() -> tuple[float, float]:
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    child, began = started([sys.executable, "app.py", "--port", str(port), "--model", "tiny"])
    try:
        page = page_seconds(url, child, began)
        final = answered(url)
        assert final["answer"], final
        return page, time.monotonic() - began
    finally:
        child.terminate()
        child.wait(timeout=30)


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):6.2f} s  ({min(values):.2f}–{max(values):.2f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    runs = parser.parse_args().runs
    bare, page, answer = [], [], []
    for _ in range(runs):
        bare.append(run_bare())
        app_page, app_answer = run_app()
        page.append(app_page)
        answer.append(app_answer)
    ratio = statistics.median(page) / statistics.median(bare)
    print(f"{runs} runs each, {os.cpu_count()} CPU cores, load average {os.getloadavg()[0]:.1f}; median (range)\n")
    print("| from the start of the process to | seconds |")
    print("|---|---|")
    print(f"| bare Gradio page (one Markdown) | {spread(bare)} |")
    print(f"| `python app.py` page | {spread(page)} |")
    print(f"| `python app.py` first answered `/reason` | {spread(answer)} |")
    print(f"| page / bare Gradio page | {ratio:.2f}x |")


if __name__ == "__main__":
    main()
