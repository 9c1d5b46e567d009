"""A benchmark's app in a child process on 127.0.0.1, so the server's CPU and memory are its own.

`free_port()` picks an unused local port; `with child_app(script, port, *args) as child:` runs
`python script --serve PORT *args`, enters once the app answers `/config` (or exits with a message
when it does not within `timeout` seconds) and stops the child on leaving.
"""
from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def child_app(script: str, port: int, *args: str, timeout: float = 180) -> Iterator[subprocess.Popen]:
    child = subprocess.Popen([sys.executable, script, "--serve", str(port), *args], cwd=ROOT)
    try:
        wait_ready(port, child, timeout)
        yield child
    finally:
        child.terminate()
        child.wait(timeout=30)


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
    raise SystemExit("the app did not start")
