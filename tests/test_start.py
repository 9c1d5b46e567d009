"""`python app.py` as people start it: the page is served before torch or transformers is imported,
and the model loads behind it; bad flags end in one line.

The start is watched from outside the app: a `sitecustomize` module put on PYTHONPATH (Python imports
it at start-up) installs an audit hook that holds back any import of torch or transformers until the
test releases it. If serving the page needed either, the page would not come while they are held.
"""
from __future__ import annotations

import glob
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port

ROOT = Path(__file__).resolve().parent.parent
HELD = ("torch", "transformers")

HOOK = textwrap.dedent('''
    import os, sys, threading, time
    HELD, LOG, RELEASE = {held!r}, os.environ["R1V_IMPORT_LOG"], os.environ["R1V_IMPORT_RELEASE"]

    def hold(event, args):
        if event == "import" and args[0] in HELD and args[0] not in sys.modules:
            with open(LOG, "a") as log:
                log.write(f"{{args[0]}} {{threading.current_thread().name}}\\n")
            deadline = time.monotonic() + 300
            while not os.path.exists(RELEASE) and time.monotonic() < deadline:
                time.sleep(0.05)

    sys.addaudithook(hold)
''').format(held=HELD)


def app_command(port: int) -> list[str]:
    """`python app.py` with only a port; on a machine with a GPU, the tiny model named."""
    gpu = any(glob.glob(pattern) for pattern in ("/dev/nvidia[0-9]*", "/dev/kfd", "/dev/dxg"))
    return [sys.executable, "app.py", "--port", str(port), *(["--model", "tiny"] if gpu else [])]


def wait_for(url: str, child: subprocess.Popen, seconds: float = 180) -> httpx.Response:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and child.poll() is None:
        try:
            return httpx.get(url, timeout=30)
        except httpx.HTTPError:
            time.sleep(0.05)
    raise AssertionError(f"{url} did not answer (exit code {child.poll()})")


def test_the_page_is_served_while_torch_and_transformers_are_held_back_and_the_model_loads_after(tmp_path):
    (tmp_path / "sitecustomize.py").write_text(HOOK)
    imports, release, port = tmp_path / "imports.log", tmp_path / "release", free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith(("R1V_", "GRADIO_"))}
    env.update(PYTHONPATH=str(tmp_path), R1V_IMPORT_LOG=str(imports), R1V_IMPORT_RELEASE=str(release))
    url = f"http://127.0.0.1:{port}"
    with open(tmp_path / "app.log", "w") as log:
        child = subprocess.Popen(app_command(port), cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        page = wait_for(f"{url}/", child)
        config = httpx.get(f"{url}/config", timeout=30)
        loading = httpx.get(f"{url}/readyz", timeout=30).json()
        assert page.status_code == 200 and "<html" in page.text.lower(), page.text[:300]
        assert config.status_code == 200 and config.json()["components"]
        assert loading["state"] == "loading"
        held = imports.read_text().split() if imports.exists() else []
        # Only the background loader may have asked for them (and it is held there).
        assert set(held[1::2]) <= {"model-loader"}, held
        release.touch()
        deadline = time.monotonic() + 180
        while (ready := httpx.get(f"{url}/readyz", timeout=30).json())["state"] == "loading":
            assert time.monotonic() < deadline, ready
            time.sleep(0.2)
        assert ready["ready"], (ready, (tmp_path / "app.log").read_text()[-2000:])
        assert "torch" in imports.read_text()  # the hook saw the load's import: it would have seen the page's
    finally:
        release.touch()
        child.terminate()
        child.wait(timeout=30)


@pytest.mark.parametrize("flags, words", [
    (["--model", "/nonexistent"], "--model '/nonexistent' is neither a registry name"),
    (["--port", "abc"], "argument --port: invalid int value: 'abc'"),
    (["--max-concurrency", "0"], "--max-concurrency must be at least 1; got 0"),
    (["--max-file-size", "20 parsecs"], '--max-file-size must be a size such as "20mb"'),
    (["--colour"], "unrecognized arguments: --colour"),
])
def test_a_bad_flag_ends_the_start_in_one_line_naming_it(flags, words):
    done = subprocess.run([sys.executable, "app.py", *flags], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("app.py: error: ") and words in done.stderr
