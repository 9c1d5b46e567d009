"""Transcript exports of finished turns: one HTML page, and Markdown with its images in a zip.

Contract:
- `transcript_html(records, model, exported)` is one self-contained page: a Content-Security-Policy
  that allows no script, no remote load and no form (`EXPORT_CSP`), CSS inline, images inline as
  thumbnails (longest side `THUMBNAIL_SIDE`, JPEG, or PNG when they have transparency), every text
  under the page's rendering policy (`ui.render.safe_text.markdown_to_html`: raw HTML as text, maths as
  readable TeX), long lines wrapped.
- `transcript_zip(records, model, exported, path)` writes `transcript.md` and `images/…` (the same
  thumbnails); the Markdown links them by relative, URL-encoded names, and its texts pass through
  `ui.render.safe_text.shown`, so a Markdown viewer shows them as the chat did.
- A turn without thinking has no thinking block, as in the chat.
- `versions` (optional, one `(shown, of)` per turn, `ui.store.branches.counts`): the transcript is
  the path the chat shows; a turn with more than one version is headed "Turn 1: version 2 of 3", and
  the page's head says that the other versions are not in it.
- An image that can no longer be read is named in its place; the export still succeeds.
"""
from __future__ import annotations

import base64
import html
import io
import re
import zipfile
from pathlib import Path
from typing import Callable, Sequence
from urllib.parse import quote

from PIL import Image

from ui.render.messages import TurnRecord, stats_line, thought_shown, turn_title
from ui.render.safe_text import markdown_to_html, shown

THUMBNAIL_SIDE = 512
EXPORT_CSP = ("default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; "
              "form-action 'none'")
Versions = Sequence[tuple[int, int]]  # per turn: (the version shown, how many there are), from 1
VERSIONS_NOTE = "Turns with several versions show the one shown in the chat; the other versions are not included."
_UNSAFE_IN_NAMES = re.compile(r'[<>:"/\\|?*\x00-\x1f]')  # not allowed in file names on some systems


def thumbnail(path: str, side: int = THUMBNAIL_SIDE) -> tuple[bytes, str]:
    """(encoded bytes, "jpeg" or "png") of the image scaled to fit `side`×`side`."""
    with Image.open(path) as image:
        image.thumbnail((side, side))
        clear = image.mode in ("RGBA", "LA", "P") and ("A" in image.mode or "transparency" in image.info)
        out = io.BytesIO()
        if clear:
            image.convert("RGBA").save(out, "PNG", optimize=True)
            return out.getvalue(), "png"
        image.convert("RGB").save(out, "JPEG", quality=85)
        return out.getvalue(), "jpeg"


def thumbnail_data_uri(path: str) -> str:
    data, kind = thumbnail(path)
    return f"data:image/{kind};base64,{base64.b64encode(data).decode('ascii')}"


def has_thinking(record: TurnRecord) -> bool:
    return thought_shown(record.thinking, True)


# ---- Markdown, in a zip with its images ----------------------------------------------------------

def image_file_name(turn: int, index: int, path: str, kind: str) -> str:
    """A unique, portable name for a turn's image: its own stem, the thumbnail's extension."""
    stem = _UNSAFE_IN_NAMES.sub("_", Path(path).stem).strip() or "image"
    return f"{turn}-{index} {stem}.{'jpg' if kind == 'jpeg' else 'png'}"


def turn_heading(number: int, versions: Versions | None) -> str:
    """"Turn 2", or "Turn 2: version 1 of 3" when that turn has several versions."""
    shown_version, total = versions[number - 1] if versions and number <= len(versions) else (1, 1)
    return f"Turn {number}: version {shown_version} of {total}" if total > 1 else f"Turn {number}"


def branched(versions: Versions | None) -> bool:
    return any(total > 1 for _, total in versions or ())


def transcript_markdown(records: Sequence[TurnRecord], model_name: str, exported: str,
                        image_names: dict[str, str] | None = None, versions: Versions | None = None) -> str:
    """The transcript; `image_names` maps an image's path to its name under images/."""
    image_names = image_names or {}
    out = [f"# R1V demo transcript\n\nModel: {shown(model_name)} · exported {exported}\n"]
    if branched(versions):
        out.append(f"*{VERSIONS_NOTE}*\n")
    for number, record in enumerate(records, 1):
        out.append(f"## {turn_heading(number, versions)}\n")
        for index, path in enumerate(record.images, 1):
            name = image_names.get(path)
            out.append(f"![image {index}](images/{quote(name)})\n" if name
                       else f"*(image {index}: {shown(Path(path).name)} could not be read)*\n")
        out.append(f"**Question:** {shown(record.question)}\n")
        if has_thinking(record):
            out.append(f"<details><summary>{html.escape(turn_title(record))}</summary>\n\n{shown(record.thinking)}"
                       "\n\n</details>\n")
        out.append(f"**Answer:**\n\n{shown(record.answer) if record.answer else '*(no answer)*'}\n")
        if record.stats:
            out.append(f"*{stats_line(record.stats)}*\n")
    return "\n".join(out)


def transcript_zip(records: Sequence[TurnRecord], model_name: str, exported: str, path: Path,
                   versions: Versions | None = None) -> Path:
    """Writes transcript.md and images/ (thumbnails) into the zip at `path`."""
    names: dict[str, str] = {}
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for turn, record in enumerate(records, 1):
            for index, image in enumerate(record.images, 1):
                try:
                    data, kind = thumbnail(image)
                except OSError:
                    continue
                names[image] = image_file_name(turn, index, image, kind)
                archive.writestr(f"images/{names[image]}", data)
        archive.writestr("transcript.md", transcript_markdown(records, model_name, exported, names, versions))
    return path


# ---- one HTML page -------------------------------------------------------------------------------

def transcript_html(records: Sequence[TurnRecord], model_name: str, exported: str,
                    image_src: Callable[[str], str] = thumbnail_data_uri, versions: Versions | None = None) -> str:
    turns = "\n".join(_turn_html(turn_heading(n, versions), record, image_src) for n, record in enumerate(records, 1))
    note = f'<p class="meta">{html.escape(VERSIONS_NOTE)}</p>' if branched(versions) else ""
    title = html.escape(f"R1V demo transcript · {model_name}")
    return (f"<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta http-equiv=\"Content-Security-Policy\" content=\"{EXPORT_CSP}\">"
            f"<meta name=\"referrer\" content=\"no-referrer\">"
            f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{title}</title><style>{EXPORT_CSS}</style></head>\n<body><main>"
            f"<h1>R1V demo transcript</h1><p class=\"meta\">Model: {html.escape(model_name)} · "
            f"exported {html.escape(exported)}</p>{note}\n{turns}\n</main></body></html>\n")


def _image_html(path: str, image_src: Callable[[str], str]) -> str:
    name = html.escape(Path(path).name)
    try:
        return f'<img src="{html.escape(image_src(path))}" alt="{name}">'
    except OSError:
        return f'<span class="missing">({name} could not be read)</span>'


def _turn_html(heading: str, record: TurnRecord, image_src: Callable[[str], str]) -> str:
    images = "".join(_image_html(path, image_src) for path in record.images)
    stats = f'<p class="stats">{html.escape(stats_line(record.stats))}</p>' if record.stats else ""
    answer = markdown_to_html(record.answer) if record.answer else "<p><em>(no answer)</em></p>"
    thinking = (f'<details><summary>{html.escape(turn_title(record))}</summary>'
                f'<div class="thinking">{markdown_to_html(record.thinking)}</div></details>'
                if has_thinking(record) else "")
    return (f'<section class="turn"><h2>{html.escape(heading)}</h2>'
            f'<div class="question"><div class="images">{images}</div>{markdown_to_html(record.question)}</div>'
            f'{thinking}<div class="answer">{answer}</div>{stats}</section>')


EXPORT_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;background:#f7f7f8;color:#1f2328;margin:0}
main{max-width:860px;margin:0 auto;padding:24px;overflow-wrap:anywhere}
h1{font-size:1.5rem;margin:0 0 4px} .meta,.stats{color:#667085;font-size:.875rem}
.turn{background:#fff;border:1px solid #e4e7ec;border-radius:12px;padding:16px 20px;margin:16px 0;
 contain:layout paint;overflow-x:auto}
.turn h2{font-size:1rem;color:#667085;margin:0 0 8px}
.question{background:#eef4ff;border-radius:10px;padding:8px 14px}
.images img{max-width:240px;max-height:240px;margin:6px 8px 6px 0;border-radius:6px;border:1px solid #d0d5dd}
details{margin:12px 0;border-left:3px solid #d0d5dd;padding-left:12px}
summary{cursor:pointer;color:#475467;font-weight:600}
.thinking{color:#475467;font-size:.92rem}
.math{font-family:"Latin Modern Math","STIX Two Math",serif;background:#f2f4f7;padding:0 3px;border-radius:3px}
.math.display{display:block;margin:8px 0;padding:6px 8px;overflow-x:auto;white-space:pre-wrap}
pre{background:#f2f4f7;padding:10px;border-radius:8px;overflow:auto;max-width:100%}
table{border-collapse:collapse;display:block;overflow-x:auto;max-width:100%} td,th{border:1px solid #d0d5dd;padding:4px 8px}
@media (prefers-color-scheme: dark){
 body{background:#0f1115;color:#e6e8eb} .turn{background:#171a21;border-color:#2b303b}
 .question{background:#1d2433} .math,pre{background:#222733} summary,.thinking{color:#b4bac5}
 td,th{border-color:#3a4150}}
"""
