"""A benchmark's app in a child process on 127.0.0.1, so the server's CPU and memory are its own.

`free_port()` picks an unused local port; `start_child(script, port, *args)` runs
`python script --serve PORT *args` and returns once the app answers `/config` (or exits with a
message when it does not within `timeout` seconds).
"""
from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_child(script: str, port: int, *args: str, timeout: float = 180) -> subprocess.Popen:
    child = subprocess.Popen([sys.executable, script, "--serve", str(port), *args], cwd=ROOT)
    wait_ready(port, child, timeout)
    return child


def wait_ready(port: int, child: subprocess.Popen, timeout: float) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and child.poll() is None:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/config", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    child.terminate()
    raise SystemExit("the app did not start")
