"""The line under the question box naming each PDF with its page count and the pages read:
`documents.pdf_page_count` (pypdfium2, under PDFIUM_LOCK), `documents.first_pages` (the engine's own
default choice), `ui.render.tiles.pdf_box_line` and the handler `ui.page.handlers.pdf_line`.

Every PDF is made here with Pillow; a broken one is a good one cut short.
"""
from __future__ import annotations

import io
import shutil
import threading
import uuid
from pathlib import Path

import pytest
from gradio.utils import get_upload_folder
from PIL import Image

from model.inputs.assemble import load_sources
from model.inputs.documents import PDFIUM_LOCK, first_pages, pdf_page_count
from model.inputs.images import ImageError
from model.limits import DEFAULT_MAX_PDF_PAGES, Limits
from ui.i18n.words import Words
from ui.page.handlers import pdf_line
from model.events import FinishReason
from ui.store.turns import TurnRecord
from ui.render.tiles import pdf_box_line


def pdf_of(pages: int) -> bytes:
    """A PDF of `pages` blank pages, as Pillow writes it."""
    images = [Image.new("RGB", (120, 160), (255, 255, 255)) for _ in range(pages)]
    buffer = io.BytesIO()
    images[0].save(buffer, "PDF", save_all=True, append_images=images[1:])
    return buffer.getvalue()


def png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (0, 0, 255)).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture
def folder(tmp_path):
    def write(name: str, data: bytes) -> str:
        path = tmp_path / name
        path.write_bytes(data)
        return str(path)
    return write


# ---- counting pages ------------------------------------------------------------------------------

@pytest.mark.parametrize("pages", [1, 3, 12])
def test_the_page_count_is_the_documents(pages):
    assert pdf_page_count(pdf_of(pages)) == pages


@pytest.mark.parametrize("data", [pdf_of(3)[:200], b"%PDF-1.4\nnot really a pdf"])
def test_a_broken_pdf_is_an_image_error_naming_it(data):
    with pytest.raises(ImageError, match="broken.pdf is not a readable PDF document") as caught:
        pdf_page_count(data, "broken.pdf")
    assert caught.value.key == "pdf.damaged"


def test_counting_waits_for_pdfium_lock():
    result = []
    with PDFIUM_LOCK:
        worker = threading.Thread(target=lambda: result.append(pdf_page_count(pdf_of(2))))
        worker.start()
        worker.join(0.3)
        assert worker.is_alive() and not result  # PDFium is not thread-safe: no call without the lock
    worker.join(5)
    assert result == [2]


@pytest.mark.parametrize("count, max_pages, room, read", [
    (12, 4, 8, 4), (3, 4, 8, 3), (12, 4, 2, 2), (5, 4, 0, 0), (5, 4, -3, 0), (1, 4, 8, 1),
])
def test_first_pages_is_what_the_engine_reads_without_a_choice(count, max_pages, room, read):
    assert first_pages(count, max_pages, room) == read


# ---- the line ------------------------------------------------------------------------------------

def test_a_long_pdf_is_named_with_its_count_and_the_pages_read(folder):
    line = pdf_box_line([folder("paper.pdf", pdf_of(12))])
    assert line == (f"📄 paper.pdf · 12 pages (the first {DEFAULT_MAX_PDF_PAGES} are read; "
                    f"at most {DEFAULT_MAX_PDF_PAGES} pages per PDF)")


def test_a_short_pdf_is_read_whole_and_one_page_is_singular(folder):
    assert pdf_box_line([folder("short.pdf", pdf_of(3))]) == "📄 short.pdf · 3 pages (all are read)"
    assert pdf_box_line([folder("one.pdf", pdf_of(1))]) == "📄 one.pdf · 1 page (all are read)"


def test_images_make_no_line_and_each_pdf_gets_its_own(folder):
    assert pdf_box_line([folder("photo.png", png())]) == ""
    line = pdf_box_line([folder("a.pdf", pdf_of(2)), folder("photo.png", png()), folder("b.pdf", pdf_of(5))],
                        limits=Limits(max_pdf_pages=4))
    assert line.split("  \n") == ["📄 a.pdf · 2 pages (all are read)",
                                  "📄 b.pdf · 5 pages (the first 4 are read; at most 4 pages per PDF)"]


def test_the_room_left_in_the_conversation_limits_the_pages(folder):
    earlier = [folder("old.png", png())] * 5
    line = pdf_box_line([folder("paper.pdf", pdf_of(6))], earlier, limits=Limits(max_images=8, max_pdf_pages=6))
    assert line == "📄 paper.pdf · 6 pages (the first 3 are read; the conversation takes at most 8 images)"
    full = pdf_box_line([folder("late.pdf", pdf_of(2))], [folder("old.png", png())] * 8)
    assert full == "📄 late.pdf · 2 pages (none can be read: the conversation already holds 8 images)"
    one = pdf_box_line([folder("p.pdf", pdf_of(3))], earlier, limits=Limits(max_images=6))
    assert one == "📄 p.pdf · 3 pages (only the first is read; the conversation takes at most 6 images)"


def test_the_line_counts_what_the_engine_reads(folder):
    """The same default choice as `load_sources`: earlier PDFs (chosen pages included), then the box's."""
    limits = Limits(max_images=8, max_pdf_pages=4)
    earlier = [folder("old.pdf", pdf_of(6)), folder("two.pdf", pdf_of(5)) + "#pages=2-3", folder("x.png", png())]
    box = [folder("new.pdf", pdf_of(9))]
    engine_reads = len(load_sources(earlier + box, limits)[-1])
    assert engine_reads == 1
    assert "only the first is read" in pdf_box_line(box, earlier, limits=limits)


def test_a_broken_pdf_says_so_briefly_and_the_others_still_show(folder):
    line = pdf_box_line([folder("broken.pdf", pdf_of(3)[:200]), folder("good.pdf", pdf_of(2))])
    broken, good = line.split("  \n")
    assert broken == "📄 ⚠️ broken.pdf is not a readable PDF document: its data is damaged or cut short."
    assert good == "📄 good.pdf · 2 pages (all are read)"
    assert "Traceback" not in line


def test_a_pdf_over_the_size_limit_says_the_limit(folder):
    line = pdf_box_line([folder("big.pdf", pdf_of(1) + b"%" * (2**20 + 10))], limits=Limits(max_pdf_mb=1))
    assert line == "📄 ⚠️ big.pdf is a 1.0 MiB PDF; the limit is 1 MiB per PDF."


def test_the_line_in_chinese_and_a_name_shown_as_text(folder):
    line = pdf_box_line([folder("论文.pdf", pdf_of(12))], words=Words("zh"))
    assert line == f"📄 论文.pdf · 共 12 页（读取前 {DEFAULT_MAX_PDF_PAGES} 页；每个 PDF 最多读取 {DEFAULT_MAX_PDF_PAGES} 页）"
    marked = pdf_box_line([folder("*bold*_x.pdf", pdf_of(1))])
    assert "*" not in marked and "&#42;bold&#42;" in marked
    broken = pdf_box_line([folder("**b**.pdf", b"%PDF-1.4 cut")], words=Words("zh"))
    assert broken.startswith("📄 ⚠️ &#42;&#42;b&#42;&#42;.pdf 不是可读取的 PDF 文档") and "**" not in broken


# ---- the handler ---------------------------------------------------------------------------------

@pytest.fixture
def uploads():
    """Files in Gradio's upload folder, the only place (with the examples) the page reads from."""
    folder = Path(get_upload_folder()) / f"pdf-box-{uuid.uuid4().hex}"
    folder.mkdir(parents=True)

    def write(name: str, data: bytes) -> str:
        (folder / name).write_bytes(data)
        return str(folder / name)
    yield write
    shutil.rmtree(folder, ignore_errors=True)


def test_the_handler_shows_the_line_only_while_the_box_holds_a_pdf(uploads, tmp_path):
    paper = uploads("paper.pdf", pdf_of(3))
    shown = pdf_line({"text": "what is it?", "files": [{"path": paper}]}, (), Words("en"))
    assert shown.visible is True and shown.value == "📄 paper.pdf · 3 pages (all are read)"
    for message in ({"text": "", "files": []}, None, {"text": "x", "files": [{"path": uploads("p.png", png())}]}):
        hidden = pdf_line(message, (), Words("en"))
        assert hidden.visible is False and hidden.value == ""
    outside = tmp_path / "elsewhere.pdf"
    outside.write_bytes(pdf_of(2))
    assert pdf_line({"files": [{"path": str(outside)}]}, (), Words("en")).visible is False  # never opened


def test_the_handler_counts_the_conversations_earlier_images(uploads):
    earlier = tuple(TurnRecord("q", (uploads(f"{i}.png", png()),), "", "a", 0, 0.0, False, FinishReason.ANSWERED)
                    for i in range(8))
    line = pdf_line({"files": [uploads("late.pdf", pdf_of(2))]}, earlier, Words("en")).value
    assert line == "📄 late.pdf · 2 pages (none can be read: the conversation already holds 8 images)"
