"""The page's own Markdown pipeline as a test oracle: `tests/js/render_policy.mjs` under Node.

`MarkedOracle.render(markdown) -> Rendered` sends one chat message through marked 12.0.2 (the version
Gradio 6.31 bundles, pinned in tests/js/package.json) and Gradio's own sanitizer and KaTeX
auto-render, read from the installed gradio package, exactly as the Chatbot draws it. One Node
process serves a whole test session. `ORACLE_MISSING` says why it cannot run here, if it cannot.
"""
from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import gradio

from ui.render.safe_text import LATEX_DELIMITERS

JS = Path(__file__).parent / "js"
ASSETS = Path(gradio.__file__).parent / "templates" / "frontend" / "assets"


def _missing() -> str | None:
    if shutil.which("node") is None:
        return "node is not installed"
    for package in ("marked", "jsdom"):
        if not (JS / "node_modules" / package).is_dir():
            return f"tests/js has no {package}: run `npm ci --prefix tests/js`"
    return None


ORACLE_MISSING = _missing()


@dataclass(frozen=True)
class Element:
    tag: str
    attrs: dict[str, str]
    in_katex: bool  # inside KaTeX's own output


@dataclass(frozen=True)
class Rendered:
    elements: list[Element]
    text: str  # the visible text, each formula as its TeX source
    html_tokens: int  # raw HTML that reached marked
    html: str


class MarkedOracle:
    def __init__(self) -> None:
        self.process = subprocess.Popen(
            ["node", "--disable-warning=MODULE_TYPELESS_PACKAGE_JSON", str(JS / "render_policy.mjs"), str(ASSETS)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, encoding="utf-8", bufsize=1)
        self.sent = 0

    def render(self, markdown: str) -> Rendered:
        self.sent += 1
        request = {"id": self.sent, "markdown": markdown, "delimiters": LATEX_DELIMITERS}
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the Markdown oracle stopped (exit {self.process.poll()})")
        reply = json.loads(line)
        if "error" in reply:
            raise RuntimeError(f"the page's pipeline failed on {markdown!r}: {reply['error']}")
        return Rendered([Element(tag, attrs, inside) for tag, attrs, inside in reply["elements"]],
                        reply["text"], reply["htmlTokens"], reply["html"])

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=10)
