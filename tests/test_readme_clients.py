"""The README's "Using it from scripts" examples, run as written against a live app on the bundled
model: only the address (http://127.0.0.1:7860) is replaced, and `chart.png` is the bundled example."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import uuid

import pytest

from tests.clients_drive import EXAMPLE, FINAL_KEYS, JS_DIR, ROOT, js_ready, serve
from ui.http.mcp_tool import MCP_PATH

README_URL = "http://127.0.0.1:7860"
BLOCK = re.compile(r"```(\w+)\n(.*?)```", re.S)


def examples() -> list[tuple[str, str]]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Using it from scripts", 1)[1].split("\n## ", 1)[0]
    return BLOCK.findall(section)


def blocks(language: str) -> list[str]:
    return [code for lang, code in examples() if lang == language]


@pytest.fixture(scope="module")
def live(tiny_engine, launch, tmp_path_factory):
    url = serve(tiny_engine, launch)[0].rstrip("/")
    folder = tmp_path_factory.mktemp("readme")
    shutil.copy(EXAMPLE, folder / "chart.png")
    return url, folder


def run(command: list[str], folder, timeout: float = 90) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=folder, capture_output=True, text=True, timeout=timeout)


def test_the_readme_shows_each_client():
    assert sorted({lang for lang, _ in examples()}) == ["bash", "js", "json", "python"]
    assert len(blocks("python")) == 3  # gradio_client, a follow-up with earlier turns, the MCP SDK


def test_the_python_client_example_runs_as_written(live):
    url, folder = live
    code = next(block for block in blocks("python") if "gradio_client" in block and "history=" not in block)
    done = run([sys.executable, "-c", code.replace(README_URL, url)], folder)
    assert done.returncode == 0, done.stderr
    assert "'finish_reason': '" in done.stdout and "'image_tiles': [" in done.stdout


def test_the_follow_up_example_runs_as_written_and_sends_the_earlier_turn(live):
    url, folder = live
    code = next(block for block in blocks("python") if "history=" in block)
    done = run([sys.executable, "-c", code.replace(README_URL, url)], folder)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith("True")  # the earlier turn made the prompt longer


def test_the_curl_example_runs_as_written_and_streams_to_the_final_value(live):
    url, folder = live
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed")
    (code,) = blocks("bash")
    done = run(["bash", "-c", code.replace(README_URL, url)], folder)
    assert done.returncode == 0, done.stderr
    events = re.findall(r"event: (\w+)\ndata: (.*)", done.stdout)
    assert [name for name, _ in events][-1] == "complete" and len(events) >= 2
    final = json.loads(events[-1][1])[0]
    assert set(final) == FINAL_KEYS and final["answer"] and final["stats"]["image_tiles"]


@pytest.mark.skipif(bool(js_ready()), reason=js_ready() or "node is ready")
def test_the_javascript_example_runs_as_written(live):
    url, folder = live
    (code,) = blocks("js")
    script = JS_DIR / f"readme-example-{uuid.uuid4().hex[:8]}.mjs"  # beside node_modules, so imports resolve
    script.write_text(code.replace(README_URL, url), encoding="utf-8")
    try:
        done = run(["node", str(script)], folder)
    finally:
        script.unlink()
    assert done.returncode == 0, done.stderr
    assert "finish_reason: '" in done.stdout and "image_tiles: [" in done.stdout


def test_the_mcp_examples_run_as_written(live):
    url, folder = live
    (config,) = blocks("json")
    assert json.loads(config)["mcpServers"]["r1v"]["url"] == f"{README_URL}{MCP_PATH}/"
    code = next(block for block in blocks("python") if "ClientSession" in block)
    done = run([sys.executable, "-c", code.replace(README_URL, url)], folder)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert len(lines) >= 3 and "'finish_reason': '" in lines[-1]  # progress lines, then the answer
