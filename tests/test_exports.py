"""Transcript exports (ui/render/exports.py, ChatHandlers.exports): CSP, thumbnails, the Markdown zip, bounded folders."""
from __future__ import annotations

import base64
import io
import re
import zipfile
from pathlib import Path
from urllib.parse import unquote

from PIL import Image

from model.events import FinishReason, Stats
from ui.render.exports import (EXPORT_CSP, THUMBNAIL_SIDE, thumbnail, transcript_html, transcript_markdown,
                               transcript_zip)
from tests.helpers import chat_handlers
from ui.page.handlers import MAX_EXPORT_DIRS, ModelInfo
from ui.render.messages import TurnRecord
from ui.render.safe_text import markdown_to_html

MATH = r"Inline $a*b*c$ and \(x_1 * y_2\), display $$\frac{a}{b}$$ and \[ \sum_{i=1}^n i \]."
STATS = Stats(prompt_tokens=300, image_tiles=(7,), thinking_tokens=512, answer_tokens=128, ttft_s=0.42,
              thinking_s=14.2, total_s=20.0, tokens_per_s=23.51, budget_fired=False,
              finish_reason=FinishReason.ANSWERED, seed=1234).as_dict()


class _NoEngine:
    def stream(self, request):
        return iter(())


def _record(question: str, answer: str, thinking: str = "Let me see.", images=("/tmp/x/dice.png",)) -> TurnRecord:
    return TurnRecord(question=question, images=tuple(images), thinking=thinking, answer=answer,
                      thinking_tokens=512 if thinking else 1, thought_s=14.0, budget_fired=True,
                      finish_reason=FinishReason.BUDGET_THEN_ANSWERED, stats=STATS)


def _photo(path: Path, size=(2400, 1600), mode="RGB") -> str:
    Image.new(mode, size, (10, 120, 200) if mode == "RGB" else (10, 120, 200, 128)).save(path)
    return str(path)


def test_export_folders_are_bounded():
    handlers = chat_handlers(_NoEngine(), ModelInfo(name="test"))
    record = TurnRecord("Q?", (), "thought", "answer $x^2$", 3, 0.5, False, FinishReason.ANSWERED)
    every_folder = []
    for _ in range(MAX_EXPORT_DIRS + 10):
        handlers.exports((record,))
        every_folder.append(handlers._export_dirs[-1])
    kept = [folder for folder in every_folder if folder.exists()]
    assert kept == every_folder[-MAX_EXPORT_DIRS:]
    assert (kept[-1] / "r1v-transcript.html").read_text().count("x^2") >= 1
    assert zipfile.ZipFile(kept[-1] / "r1v-transcript.zip").namelist() == ["transcript.md"]


def test_markdown_export_keeps_math_and_the_thinking():
    text = transcript_markdown([_record("What is 2 + 2?", MATH)], "tiny", "2025-01-01 10:00",
                               {"/tmp/x/dice.png": "1-1 dice.jpg"})
    assert r"Inline \(a*b*c\) and \(x_1 * y_2\), display \[\frac{a}{b}\] and \[ \sum_{i=1}^n i \]." in text
    assert "<summary>Thought for 14 s · 512 tokens · thinking budget reached</summary>" in text
    assert "![image 1](images/1-1%20dice.jpg)" in text and "**Question:** What is 2 + 2?" in text


def test_html_export_has_a_strict_csp_and_escapes_user_text():
    page = transcript_html([_record("<script>alert('x')</script> is *this* safe?", MATH)], "tiny",
                           "2025-01-01", image_src=lambda path: "data:image/png;base64,AAAA")
    assert page.startswith("<!doctype html>") and "<style>" in page
    head = page[:page.index("<title>")]
    assert f'<meta http-equiv="Content-Security-Policy" content="{EXPORT_CSP}">' in head
    assert "default-src 'none'" in EXPORT_CSP and "script-src" not in EXPORT_CSP and "form-action 'none'" in EXPORT_CSP
    assert "<script" not in page.lower()
    assert "&lt;script&gt;" in page and "<em>this</em>" in page
    assert not re.search(r'(src|href)="(https?:)?//', page) and "<link" not in page
    assert '<img src="data:image/png;base64,AAAA" alt="dice.png">' in page
    for math in (r'"math">\(a*b*c\)', r'"math">\(x_1 * y_2\)', r'"math display">\[\frac{a}{b}\]',
                 r'"math display">\[ \sum_{i=1}^n i \]'):
        assert math in page


def test_html_export_links_only_to_the_web_and_loads_no_image():
    html = markdown_to_html("[click](javascript:alert(1)) ![pixel](https://example.com/p.png) [ok](https://a.b) "
                            "[mail](mailto:a@b.c)")
    assert "javascript:" not in html and "mailto:" not in html and "<img" not in html
    assert '<a href="https://example.com/p.png" rel="noopener noreferrer" target="_blank">[pixel]</a>' in html
    assert '<a href="https://a.b" rel="noopener noreferrer" target="_blank">ok</a>' in html


def test_a_turn_without_thinking_has_no_thinking_block():
    record = _record("q", "a", thinking="")
    assert "<details>" not in transcript_html([record], "m", "now", image_src=lambda p: "data:,")
    assert "<details>" not in transcript_markdown([record], "m", "now")


def test_images_are_thumbnails_not_originals(tmp_path):
    photo = _photo(tmp_path / "big photo.png")
    data, kind = thumbnail(photo)
    assert kind == "jpeg" and max(Image.open(io.BytesIO(data)).size) == THUMBNAIL_SIDE
    clear, kind = thumbnail(_photo(tmp_path / "clear.png", (800, 300), "RGBA"))
    assert kind == "png" and Image.open(io.BytesIO(clear)).size == (512, 192)
    page = transcript_html([_record("q", "a", images=[photo])], "m", "now")
    encoded = re.search(r'<img src="data:image/jpeg;base64,([^"]+)"', page).group(1)
    assert Image.open(io.BytesIO(base64.b64decode(encoded))).size == (512, 341)
    assert len(page) < Path(photo).stat().st_size


def test_markdown_zip_holds_the_images_under_url_encoded_links(tmp_path):
    odd = _photo(tmp_path / "my <b>cat & dog.png", (1000, 1000))
    gone = str(tmp_path / "deleted.png")
    archive = transcript_zip([_record("q", "a", images=[odd, gone])], "m", "now", tmp_path / "t.zip")
    with zipfile.ZipFile(archive) as bundle:
        names = bundle.namelist()
        transcript = bundle.read("transcript.md").decode()
        link = re.search(r"!\[image 1\]\((images/[^)]+)\)", transcript).group(1)
        assert link == "images/1-1%20my%20_b_cat%20%26%20dog.jpg"
        assert unquote(link) in names
        assert Image.open(io.BytesIO(bundle.read(unquote(link)))).size == (512, 512)
    assert "image 2: deleted.png could not be read" in transcript


def test_an_export_that_fails_says_so_and_hands_out_no_older_transcript(monkeypatch):
    import gradio as gr

    import ui.page.handlers as handlers_module
    from ui.i18n.words import Words

    handlers = chat_handlers(_NoEngine(), ModelInfo(name="test"))
    record = TurnRecord("Q?", (), "thought", "answer", 3, 0.5, False, FinishReason.ANSWERED)
    good_md, good_html = handlers.exports((record,))
    assert good_md.value and good_html.value and good_md.interactive

    def too_deep(*args, **kwargs):
        raise RecursionError("maximum recursion depth exceeded")  # what Python-Markdown raises on deep nesting

    warned = []
    monkeypatch.setattr(handlers_module, "transcript_html", too_deep)
    monkeypatch.setattr(gr, "Warning", lambda message, **kwargs: warned.append(message))
    chinese = type("FakeRequest", (), {"session_hash": "s1", "headers": {"accept-language": "zh-CN"}})()
    md, page = handlers.exports((record, record), None, chinese)
    assert (md.value, md.interactive, page.value, page.interactive) == (None, False, None, False)
    assert warned == [Words("zh")("export.failed")] and "导出" in warned[0]


def test_both_exports_say_which_version_of_a_turn_they_hold(tmp_path):
    from ui.store.branches import grown

    first, second, edited = _record("One?", "1", images=()), _record("Two?", "2", images=()), _record("One!", "3", images=())
    tree = grown(grown(None, (first, second)), (edited,))  # the first question edited: version 2 of 2
    handlers = chat_handlers(_NoEngine(), ModelInfo(name="test"))
    md, page = handlers.exports((edited,), tree)
    text = zipfile.ZipFile(md.value["path"]).read("transcript.md").decode("utf-8")
    assert "## Turn 1: version 2 of 2" in text and "other versions are not included" in text
    assert "One!" in text and "Two?" not in text
    html_text = Path(page.value["path"]).read_text(encoding="utf-8")
    assert "<h2>Turn 1: version 2 of 2</h2>" in html_text and "other versions are not included" in html_text
    plain = transcript_markdown([first, second], "tiny", "now", versions=[(1, 1), (1, 1)])
    assert "## Turn 1\n" in plain and "version" not in plain
