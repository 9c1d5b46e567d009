"""PDF documents in, page images out: each chosen page rendered by PDFium (pypdfium2) to RGB.

Contract:

* `is_pdf(data)` says whether bytes are a PDF by their content (the `%PDF-` header within the
  first kilobyte, where PDF readers look for it), whatever the file is called.
* `split_selection(source)` separates a page choice written after the file, the way PDF viewers
  take `doc.pdf#page=3`: `doc.pdf#pages=2-4`, `#pages=1,3,5-6`, `#page=3`. Other sources pass as
  they are, with no choice (None).
* `check_pdf_size(size, name, max_mb)` refuses a PDF larger than `R1V_MAX_PDF_MB`.
* `pdf_page_count(data, name)` is the document's page count, nothing rendered; a damaged or
  password-protected file raises `ImageError` as `render_pdf` does.
* `first_pages(count, max_pages, room)` is how many pages are read without a selection (the first
  ones): what `render_pdf` takes, and what the page tells a person before they send.
* `render_pdf(data, name, selection, max_pages, room, image_limits)` returns the chosen pages as
  `Page`s (the image, its 1-based page number, the document's page count). Without a selection it
  takes the first pages: at most `max_pages`, and at most `room` (the images the conversation can
  still take). A selection of more than `max_pages` pages, a page that does not exist, a damaged or
  password-protected file, or a document without pages raises `ImageError` ("what was wrong; the
  limit is X") before any page is rendered.
* Pages are rendered at `RENDER_DPI`, scaled down so that the longer side fits `RENDER_MAX_SIDE`
  and the page fits `image_limits.max_pixels`: a page whose size at `RENDER_DPI` would be a
  decompression bomb (a poster, a forged MediaBox) is rendered at that bounded scale, never at its
  declared size. Annotations and form fields are drawn; the page is composited onto white.
* PDFium is not thread-safe: every call into it holds `PDFIUM_LOCK`.
"""
from __future__ import annotations

import math
import re
import threading
from dataclasses import dataclass

import pypdfium2
from PIL import Image

from model.inputs.images import ImageError, ImageLimits, check_size

RENDER_DPI = 144  # twice PDF's 72 points per inch: small print stays legible in a 448-pixel tile
RENDER_MAX_SIDE = 2_048  # longer side of a rendered page, in pixels
PDF_POINTS_PER_INCH = 72
PDFIUM_LOCK = threading.Lock()
_PASSWORD_ERROR = 4  # FPDF_ERR_PASSWORD
_SELECTION = re.compile(r"#pages?=([^#/\\]*)$")


@dataclass(frozen=True)
class Page:
    image: Image.Image  # RGB
    number: int  # 1-based
    count: int  # pages in the whole document


def check_pdf_size(size: int, name: str, max_mb: int) -> None:
    """Refuse a PDF of more than `max_mb` megabytes (2**20 bytes, as Gradio counts them)."""
    if size > max_mb * 2**20:
        raise ImageError(f"{name} is a {size / 2**20:.1f} MiB PDF; the limit is {max_mb} MiB per PDF.",
                         "limit.pdf_size", name=name, size=f"{size / 2**20:.1f}", limit=max_mb)


def is_pdf(data: bytes) -> bool:
    return b"%PDF-" in data[:1024]


def split_selection(source: str) -> tuple[str, str | None]:
    """("doc.pdf", "2-4") for "doc.pdf#pages=2-4"; (source, None) when nothing is chosen."""
    match = _SELECTION.search(source)
    if match is None:
        return source, None
    return source[:match.start()], match.group(1)


def parse_pages(selection: str, count: int, name: str) -> list[int]:
    """1-based page numbers in the order written, each once: "1,3-4" -> [1, 3, 4]."""
    numbers: list[int] = []
    for part in (piece.strip() for piece in selection.split(",")):
        first, _, last = part.partition("-")
        if not first.strip().isdigit() or (last and not last.strip().isdigit()):
            raise ImageError(f'{name}: "{selection}" is not a page choice; write pages like 1-3 or 1,4,6.',
                             "pdf.bad_selection", name=name, selection=selection)
        low, high = int(first), int(last or first)
        for number in range(low, high + 1) if low <= high else range(low, high - 1, -1):
            if not 1 <= number <= count:
                raise ImageError(f"{name} has {count} pages; there is no page {number}.", "pdf.no_such_page",
                                 name=name, count=count, page=number)
            if number not in numbers:
                numbers.append(number)
    return numbers


def pdf_page_count(data: bytes, name: str = "the PDF") -> int:
    """Pages in the PDF in `data`; `ImageError` when it cannot be opened (see `render_pdf`)."""
    with PDFIUM_LOCK:
        document = _open(data, name)
        try:
            return len(document)
        finally:
            document.close()


def first_pages(count: int, max_pages: int, room: int) -> int:
    """Pages read from a document of `count` pages when none are chosen: the first ones, at most
    `max_pages` and at most `room` (the images the conversation can still take)."""
    return max(0, min(count, max_pages, room))


def render_pdf(data: bytes, name: str, selection: str | None, max_pages: int, room: int,
               image_limits: ImageLimits = ImageLimits()) -> list[Page]:
    """The chosen pages of the PDF in `data`, rendered; see the module docstring."""
    with PDFIUM_LOCK:
        document = _open(data, name)
        try:
            count = len(document)
            if count == 0:
                raise ImageError(f"{name} is a PDF document without pages.", "pdf.no_pages", name=name)
            numbers = _chosen(selection, count, name, max_pages, room)
            return [Page(_render(document[number - 1], name, number, image_limits), number, count)
                    for number in numbers]
        finally:
            document.close()


def _open(data: bytes, name: str) -> pypdfium2.PdfDocument:
    try:
        return pypdfium2.PdfDocument(data)
    except pypdfium2.PdfiumError as error:
        if getattr(error, "err_code", None) == _PASSWORD_ERROR:
            raise ImageError(f"{name} is a password-protected PDF; please upload it without a password.",
                             "pdf.password", name=name) from None
        raise ImageError(f"{name} is not a readable PDF document: its data is damaged or cut short.",
                         "pdf.damaged", name=name) from None


def _chosen(selection: str | None, count: int, name: str, max_pages: int, room: int) -> list[int]:
    if selection is None:
        return list(range(1, first_pages(count, max_pages, room) + 1))
    numbers = parse_pages(selection, count, name)
    if len(numbers) > max_pages:
        raise ImageError(f"{len(numbers)} pages of {name} were chosen; the limit is {max_pages} pages per PDF.",
                         "limit.pdf_pages", name=name, count=len(numbers), limit=max_pages)
    return numbers


def render_scale(width_pt: float, height_pt: float, max_pixels: int) -> float:
    """Pixels per point: RENDER_DPI, lowered to fit RENDER_MAX_SIDE and `max_pixels`."""
    scale = RENDER_DPI / PDF_POINTS_PER_INCH
    scale = min(scale, RENDER_MAX_SIDE / max(width_pt, height_pt))
    return min(scale, math.sqrt(max_pixels / (width_pt * height_pt)))


def _render(page: pypdfium2.PdfPage, name: str, number: int, limits: ImageLimits) -> Image.Image:
    label = f"{name}, page {number}"
    try:
        width_pt, height_pt = page.get_size()  # as shown: the page's /Rotate is applied
        if not (width_pt > 0 and height_pt > 0 and math.isfinite(width_pt * height_pt)):
            raise ImageError(f"Page {number} of {name} has no size ({width_pt:g}×{height_pt:g} points).",
                             "pdf.page_no_size", name=name, page=number)
        scale = render_scale(width_pt, height_pt, limits.max_pixels)
        check_size(max(1, round(width_pt * scale)), max(1, round(height_pt * scale)), limits, label)
        # convert() copies: for some bitmap formats to_pil() shares PDFium's buffer, freed with the bitmap.
        image = page.render(scale=scale, may_draw_forms=True).to_pil().convert("RGB")
    except pypdfium2.PdfiumError:
        raise ImageError(f"Page {number} of {name} could not be drawn: its data is damaged.",
                         "pdf.page_damaged", name=name, page=number) from None
    finally:
        page.close()
    return image
