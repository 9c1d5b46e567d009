"""What the model saw: an uploaded image with the tiles the official tiling cuts it into.

Contract:
- `tiling_overlay(image, max_tiles, tile_size, use_thumbnail, min_tiles, tokens_per_tile)` returns
  a picture for the page and a `TilingSummary`. The image is decoded by `model.inputs.images.load_image`
  (EXIF rotation, colour modes, and the engine's size limits, `R1V_MAX_PIXELS` included) and its
  grid and tile count come from `model.inputs.images.official_grid` / `count_tiles`, the functions the
  engine tiles with. The picture is the image scaled to fit `DISPLAY_MAX_SIDE` (small images are
  scaled up to `DISPLAY_MIN_SIDE`, and a very thin strip is thickened to `DISPLAY_MIN_THICKNESS` so
  its grid stays visible), each tile outlined in `LINE_COLOUR` and numbered (top-left corner) in
  the order the model reads them, with the thumbnail the model also gets (the whole image squeezed
  into one tile) in a labelled side panel.
- A PDF (told by its content) is drawn page by page, as the engine reads it (`model.inputs.documents`:
  the first `R1V_MAX_PDF_PAGES` pages, rendered the same way): each page's overlay gets a
  "page N of M" band above it, the pages sit side by side, and the summary is a `DocumentTiling`
  whose markdown names each page with its tiles (the file's name as text: `safe_text.literal`).
- A file the engine would refuse raises `UserFacingError` with the engine's own message.
- `pdf_box_line(paths, earlier, words)` is the line under the question box: for each PDF among
  `paths`, its name, page count and the pages the engine will read (`documents.first_pages`, after
  the images of `earlier` files and of the box's files before it take their room, as
  `model.inputs.assemble.load_sources` counts them), or why it cannot be read; "" without a PDF.
  Pages are counted with `documents.pdf_page_count`, nothing rendered.
- `tiling_settings(engine)` gives the tile size, thumbnail setting and tokens per tile of the
  engine's loaded model (`LoadedModel.tile_size`, `.use_thumbnail`, `.tokens_per_tile`), or
  Skywork R1V's (448 px, thumbnail, 256 tokens) for an engine without one (a remote server).
Visible words come from the page's tables (`tiles.*` keys) through a `Words`; English by default.
Nothing here imports Gradio.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence, Union

from PIL import Image, ImageDraw, ImageFont

from model.inputs.documents import (check_pdf_size, first_pages, is_pdf, parse_pages, pdf_page_count, render_pdf,
                                    split_selection)
from model.events import UserFacingError
from model.inputs.images import ImageError, ImageLimits, count_tiles, load_image, official_grid
from model.limits import Limits
from ui.i18n.words import EN, Words
from ui.i18n.en import EN_TEXTS
from ui.render.safe_text import literal

R1V_TILE_SIZE = 448
# (448 px / 14 px patches)² × downsample 0.5² — what `LoadedModel.tokens_per_tile` gives for R1V.
R1V_TOKENS_PER_TILE = 256

DISPLAY_MAX_SIDE = 768
DISPLAY_MIN_SIDE = 256
DISPLAY_MIN_THICKNESS = 48
THUMBNAIL_PANEL_MIN, THUMBNAIL_PANEL_MAX = 96, 192
PANEL_GAP = 12
LABEL_HEIGHT = 22
LINE_COLOUR = (255, 0, 170)
LINE_WIDTH = 2
NUMBER_MAX_PIXELS = 28  # tile numbers sit in each cell's top-left corner
THUMBNAIL_FRAME_COLOUR = (31, 95, 191)
BACKGROUND = (255, 255, 255)

# English words of this view (tests and defaults); the page takes them from `Words` by key.
TEXT = {key.removeprefix("tiles."): text for key, text in EN_TEXTS.items() if key.startswith("tiles.")}
# Tried in turn for drawn labels: a CJK font where installed (Debian: fonts-noto-cjk), else Pillow's own.
LABEL_FONTS = ("NotoSansCJK-Regular.ttc", "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")

ImageSource = Union[str, Path, bytes, Image.Image]
Box = tuple[int, int, int, int]  # left, top, right, bottom (right and bottom exclusive)


@dataclass(frozen=True)
class TilingSummary:
    image_size: tuple[int, int]  # width, height after EXIF rotation: what the model tiles
    columns: int
    rows: int
    tiles: int  # grid tiles, plus the thumbnail when there is one
    has_thumbnail: bool
    tokens_per_tile: int
    tile_size: int
    cells: tuple[Box, ...]  # each grid tile on the returned picture, in the model's order
    thumbnail_box: Box | None  # the thumbnail panel's image on the returned picture

    @property
    def image_tokens(self) -> int:
        return self.tiles * self.tokens_per_tile

    @property
    def markdown(self) -> str:
        return self.describe(EN)

    def describe(self, words: Words) -> str:
        """One markdown line: grid, thumbnail, tiles, image tokens and the image's size."""
        width, height = self.image_size
        grid = words("tiles.grid", columns=self.columns, rows=self.rows, tile_size=self.tile_size)
        thumbnail = words("tiles.plus_thumbnail") if self.has_thumbnail else ""
        tile_count = words("tiles.one_tile") if self.tiles == 1 else words("tiles.tiles", count=self.tiles)
        totals = words("tiles.totals", tile_count=tile_count, tokens=self.image_tokens,
                       per_tile=self.tokens_per_tile, width=width, height=height)
        return grid + thumbnail + totals


@dataclass(frozen=True)
class DocumentTiling:
    """The tiling of each page the engine reads from a PDF."""

    name: str
    page_count: int  # pages in the whole document
    pages: tuple[tuple[int, TilingSummary], ...]  # (1-based page number, its tiling), in reading order

    @property
    def tiles(self) -> int:
        return sum(summary.tiles for _, summary in self.pages)

    @property
    def markdown(self) -> str:
        return self.describe(EN)

    def describe(self, words: Words) -> str:
        """A line naming the pages read, then one nested line per page (grid, tiles, tokens)."""
        numbers = [number for number, _ in self.pages]
        head = words("tiles.pdf_pages", name=literal(self.name), pages=_page_ranges(numbers), count=self.page_count)
        lines = [f"\n    - {words('tiles.page', number=number)}: {summary.describe(words)}"
                 for number, summary in self.pages]
        return head + "".join(lines)


def _page_ranges(numbers: list[int]) -> str:
    """[1, 2, 3, 5] -> "1–3, 5"."""
    runs: list[list[int]] = []
    for number in numbers:
        if runs and number == runs[-1][-1] + 1:
            runs[-1].append(number)
        else:
            runs.append([number])
    return ", ".join(f"{run[0]}–{run[-1]}" if len(run) > 1 else str(run[0]) for run in runs)


def engine_image_limits() -> ImageLimits:
    """The image limits the engine applies (`R1V_MAX_PIXELS` included)."""
    return ImageLimits(max_pixels=Limits.from_env().max_pixels)


def tiling_settings(engine: Any) -> dict[str, Any]:
    """Keyword arguments for `tiling_overlay` that match `engine`'s model."""
    loaded = getattr(engine, "loaded", None)
    if loaded is None:
        return {"tile_size": R1V_TILE_SIZE, "use_thumbnail": True, "tokens_per_tile": R1V_TOKENS_PER_TILE}
    return {"tile_size": loaded.tile_size, "use_thumbnail": loaded.use_thumbnail,
            "tokens_per_tile": loaded.tokens_per_tile}


def tiling_overlay(image: ImageSource, max_tiles: int, tile_size: int = R1V_TILE_SIZE,
                   use_thumbnail: bool = True, min_tiles: int = 1,
                   tokens_per_tile: int = R1V_TOKENS_PER_TILE,
                   limits: ImageLimits | None = None, words: Words = EN) -> tuple[Image.Image, TilingSummary]:
    """The image with its tiles drawn over it, and what they cost; see the module docstring."""
    settings = dict(max_tiles=max_tiles, tile_size=tile_size, use_thumbnail=use_thumbnail, min_tiles=min_tiles,
                    tokens_per_tile=tokens_per_tile, words=words)
    limits = limits or engine_image_limits()
    data = _pdf_bytes(image)
    if data is not None:
        return _document_overlay(data, _source_name(image), limits, settings)
    try:
        decoded = load_image(image, limits)
    except ImageError as error:
        raise UserFacingError(str(error), error.key, **error.params) from None
    return _image_overlay(decoded, **settings)


def _image_overlay(decoded: Image.Image, max_tiles: int, tile_size: int, use_thumbnail: bool, min_tiles: int,
                   tokens_per_tile: int, words: Words) -> tuple[Image.Image, TilingSummary]:
    columns, rows = official_grid(decoded.width, decoded.height, tile_size, max_tiles, min_tiles)
    tiles = count_tiles(decoded.width, decoded.height, tile_size, max_tiles, use_thumbnail, min_tiles)
    shown = _display_copy(decoded)
    cells = _cell_boxes(shown.size, columns, rows)
    has_thumbnail = tiles > columns * rows
    label = words("tiles.thumbnail")
    canvas, thumbnail_box = (_with_thumbnail_panel(shown, decoded, tile_size, label) if has_thumbnail
                             else (shown, None))
    _draw_cells(canvas, cells)
    summary = TilingSummary(decoded.size, columns, rows, tiles, has_thumbnail, tokens_per_tile, tile_size,
                            tuple(cells), thumbnail_box)
    return canvas, summary


# ---- PDF documents -------------------------------------------------------------------------------

def _source_name(image: ImageSource) -> str:
    return Path(image).name if isinstance(image, (str, Path)) else "the PDF"


def _pdf_bytes(image: ImageSource) -> bytes | None:
    """The file's bytes when it is a PDF, else None (an image is left to `load_image`)."""
    if isinstance(image, Image.Image):
        return None
    if isinstance(image, (bytes, bytearray, memoryview)):
        return bytes(image) if is_pdf(bytes(image[:1024])) else None
    try:
        with open(image, "rb") as file:
            if not is_pdf(file.read(1024)):
                return None
            file.seek(0)
            return file.read()
    except OSError:
        return None  # load_image says why it cannot be read


def _document_overlay(data: bytes, name: str, limits: ImageLimits,
                      settings: dict) -> tuple[Image.Image, DocumentTiling]:
    engine_limits = Limits.from_env()
    try:
        check_pdf_size(len(data), name, engine_limits.max_pdf_mb)
        pages = render_pdf(data, name, None, engine_limits.max_pdf_pages, engine_limits.max_images, limits)
    except ImageError as error:
        raise UserFacingError(str(error), error.key, **error.params) from None
    words = settings["words"]
    pictures, summaries = [], []
    for page in pages:
        picture, summary = _image_overlay(page.image, **settings)
        pictures.append(_with_band(picture, words("tiles.page_of", number=page.number, count=page.count)))
        summaries.append((page.number, summary))
    return side_by_side(pictures), DocumentTiling(name, pages[0].count, tuple(summaries))


def _with_band(picture: Image.Image, label: str) -> Image.Image:
    """`picture` under a band that names it (a PDF page's number)."""
    canvas = Image.new("RGB", (picture.width, picture.height + LABEL_HEIGHT), BACKGROUND)
    canvas.paste(picture, (0, LABEL_HEIGHT))
    ImageDraw.Draw(canvas).text((2, LABEL_HEIGHT // 2), label, font=_font(14, any_script=True), anchor="lm",
                                fill=(52, 64, 84))
    return canvas


# ---- the question box's PDFs ---------------------------------------------------------------------

def pdf_box_line(paths: Sequence[str], earlier: Sequence[str] = (), words: Words = EN,
                 limits: Limits | None = None) -> str:
    """One line per PDF among the box's `paths`: name, page count, the pages read; see the module docstring."""
    limits = limits or Limits.from_env()
    before = 0
    for source in earlier:
        try:
            before += _images_taken(source, limits, limits.max_images - before)
        except ImageError:
            pass  # the engine refused that turn, or its file is gone: it holds no room
    lines = []
    for path in paths:
        try:
            pages = _pdf_pages(path, limits, limits.max_images - before)
        except ImageError as error:
            lines.append(words("pdf_box.unreadable", reason=_reason(error, words)))
            continue
        if pages is None:
            before += 1
            continue
        lines.append(_pdf_note(Path(path).name, *pages, limits, words))
        before += pages[1]
    return "  \n".join(lines)


def _images_taken(source: str, limits: Limits, room: int) -> int:
    """Images a file already in the conversation holds: one for an image, the pages read for a PDF."""
    pages = _pdf_pages(str(source), limits, room)
    return 1 if pages is None else pages[1]


def _pdf_pages(source: str, limits: Limits, room: int) -> tuple[int, int] | None:
    """(page count, pages read) for a PDF, None for any other file; `ImageError` when it cannot be read."""
    path, selection = split_selection(source)
    data = _pdf_bytes(path)
    if data is None:
        return None
    name = Path(path).name
    check_pdf_size(len(data), name, limits.max_pdf_mb)
    count = pdf_page_count(data, name)
    if count == 0:
        raise ImageError(f"{name} is a PDF document without pages.", "pdf.no_pages", name=name)
    if selection is not None:
        return count, len(parse_pages(selection, count, name))
    return count, first_pages(count, limits.max_pdf_pages, room)


def _pdf_note(name: str, count: int, read: int, limits: Limits, words: Words) -> str:
    """"📄 paper.pdf · 12 pages (the first 4 are read; at most 4 pages per PDF)"."""
    pages = words("pdf_box.one_page") if count == 1 else words("pdf_box.pages", count=count)
    if read >= count:
        which = words("pdf_box.all_read")
    elif read == 0:
        which = words("pdf_box.none_read", limit=limits.max_images)
    else:
        first = words("pdf_box.first_one") if read == 1 else words("pdf_box.first", read=read)
        reason = (words("pdf_box.per_pdf", limit=limits.max_pdf_pages) if read == limits.max_pdf_pages
                  else words("pdf_box.room", limit=limits.max_images))
        which = words("pdf_box.partial", first=first, reason=reason)
    return words("pdf_box.line", name=literal(name), pages=pages, which=which)


def _reason(error: ImageError, words: Words) -> str:
    """The engine's message in `words`' language, the file's name shown as text, not Markdown."""
    params = {**error.params, "name": literal(str(error.params.get("name", "")))}
    try:
        return words(error.key, **params) if error.key in EN_TEXTS else literal(str(error))
    except (KeyError, IndexError, ValueError):
        return literal(str(error))


# ---- drawing -----------------------------------------------------------------------------------

def _display_size(width: int, height: int) -> tuple[int, int]:
    longer = max(width, height)
    scale = min(DISPLAY_MAX_SIDE, max(DISPLAY_MIN_SIDE, longer)) / longer
    return (max(DISPLAY_MIN_THICKNESS, round(width * scale)),
            max(DISPLAY_MIN_THICKNESS, round(height * scale)))


def _display_copy(image: Image.Image) -> Image.Image:
    size = _display_size(image.width, image.height)
    return image.copy() if size == image.size else image.resize(size, Image.Resampling.LANCZOS)


def _edges(length: int, parts: int) -> list[int]:
    return [round(i * length / parts) for i in range(parts + 1)]


def _cell_boxes(size: tuple[int, int], columns: int, rows: int) -> list[Box]:
    """Row-major, as the model reads the tiles."""
    xs, ys = _edges(size[0], columns), _edges(size[1], rows)
    return [(xs[c], ys[r], xs[c + 1], ys[r + 1]) for r in range(rows) for c in range(columns)]


def _font(pixels: int, any_script: bool = False) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    """Pillow's own font for numbers; for words, a CJK-capable font when one is installed."""
    if any_script:
        for name in LABEL_FONTS:
            try:
                return ImageFont.truetype(name, max(10, pixels))
            except OSError:
                continue
    return ImageFont.load_default(size=max(10, pixels))


def _draw_cells(canvas: Image.Image, cells: list[Box]) -> None:
    draw = ImageDraw.Draw(canvas)
    for number, (left, top, right, bottom) in enumerate(cells, 1):
        draw.rectangle((left, top, right - 1, bottom - 1), outline=LINE_COLOUR, width=LINE_WIDTH)
        font = _font(min(NUMBER_MAX_PIXELS, int(0.22 * min(right - left, bottom - top))))
        draw.text((left + LINE_WIDTH + 4, top + LINE_WIDTH + 2), str(number), font=font, anchor="la",
                  fill=(255, 255, 255), stroke_width=2, stroke_fill=(0, 0, 0))


def _with_thumbnail_panel(shown: Image.Image, decoded: Image.Image, tile_size: int,
                          label: str) -> tuple[Image.Image, Box]:
    """`shown` with, on its right, the thumbnail as the model gets it (a square tile) and its label."""
    side = max(THUMBNAIL_PANEL_MIN, min(THUMBNAIL_PANEL_MAX, shown.height))
    thumbnail = decoded.resize((tile_size, tile_size), Image.Resampling.BICUBIC)
    thumbnail = thumbnail.resize((side, side), Image.Resampling.BICUBIC)
    left = shown.width + PANEL_GAP
    canvas = Image.new("RGB", (left + side, max(shown.height, LABEL_HEIGHT + side)), BACKGROUND)
    canvas.paste(shown, (0, 0))
    canvas.paste(thumbnail, (left, LABEL_HEIGHT))
    draw = ImageDraw.Draw(canvas)
    draw.text((left, LABEL_HEIGHT // 2), label, font=_font(14, any_script=True), anchor="lm", fill=(52, 64, 84))
    box = (left, LABEL_HEIGHT, left + side, LABEL_HEIGHT + side)
    draw.rectangle((box[0], box[1], box[2] - 1, box[3] - 1), outline=THUMBNAIL_FRAME_COLOUR, width=LINE_WIDTH)
    return canvas, box


def side_by_side(pictures: list[Image.Image], gap: int = PANEL_GAP) -> Image.Image | None:
    """Several overlays in one picture, left to right, tops aligned; None for none."""
    if not pictures:
        return None
    width = sum(picture.width for picture in pictures) + gap * (len(pictures) - 1)
    canvas = Image.new("RGB", (width, max(picture.height for picture in pictures)), BACKGROUND)
    left = 0
    for picture in pictures:
        canvas.paste(picture, (left, 0))
        left += picture.width + gap
    return canvas
