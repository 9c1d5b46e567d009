"""The rendering policy for text the page did not write: the model's output and what people type.

Contract (every view that shows such text calls one of these two functions, never its own):
- `shown(text) -> str`: Markdown for a `gr.Chatbot` or `gr.Markdown` built with `CHATBOT_OPTIONS`.
  What the person sees is exactly the text, with Markdown (emphasis, lists, tables, code, http(s)
  links) and maths working: HTML-looking text shows as text (never interpreted, never dropped),
  images are links (nothing is fetched from elsewhere), links other than http(s) are text, and
  maths is `$…$` (pandoc's currency rule), `$$…$$`, `\\(…\\)` or `\\[…\\]`, drawn by KaTeX with
  `trust` off; an unbalanced delimiter is text.
- `markdown_to_html(text) -> str`: the same policy as static HTML, for exports (no script needed:
  maths is kept as readable TeX with its delimiters in `<span class="math">`).
- `literal(text) -> str`: Markdown that shows `text` as it is with no Markdown at all (a file name in
  a summary line): every mark Markdown reacts to is written as an HTML entity, on one line.
- `segments(text)`: the one tokenizer both use: code, maths and plain text, in order.
- A view that shows text as a text node (a `gr.Textbox`, a `gr.Dataframe` "str" column such as the
  sweep's answers) needs nothing: the browser never parses it. A view that renders Markdown calls
  `shown` and passes `CHATBOT_OPTIONS` (or at least its `latex_delimiters`).
- Very long lines are cut into paragraphs at a space (`LONG_LINE`); see there why.

Where Gradio 6.31's Chatbot falls short (read in its compiled markdown-code JS), so this goes beyond it:
- `sanitize_html` is DOMPurify with its defaults: it keeps `<form>`, `<input>`, `<button>`, `style`
  (position:fixed overlays) and remote `<img>`; what it keeps is interpreted and the rest dropped, so a
  typed `<b>` or `<img …>` never shows as typed, and an unclosed `<b>` groups every later block into
  one HTML block. `allow_tags` only spares non-standard tag names. So raw HTML is escaped here, before
  marked sees it; DOMPurify stays on behind it, and CSS (assets/style.css, "rendering policy") too.
- `latex_delimiters` are found by one regex per delimiter over the whole raw message, code blocks
  included, before Markdown is parsed: a `$` in code or a price pairs with the next `$` anywhere.
  So maths is decided here and handed over as `\\(…\\)` / `\\[…\\]` only (`$` is not a delimiter),
  and a backslash-paren that is not maths is written as an entity, which that regex cannot see,
  followed by a word joiner, which auto-render (reading the drawn text) cannot pair (INERT_BACKSLASH).
  KaTeX's auto-render then runs with `throwOnError: false` and `trust` at its default, off.
- marked keeps `![](http://…)` images and any link scheme DOMPurify allows (mailto:, tel:, ftp:...).
What Gradio does do is kept: links open in a new tab with rel="noopener noreferrer", code is
escaped by marked's renderer. The copy buttons copy the Markdown given here (`&lt;` for a typed `<`).
"""
from __future__ import annotations

import bisect
import html
import re
from dataclasses import dataclass
from typing import Iterator, Literal

import markdown
from markdown.treeprocessors import Treeprocessor

from ui.render.bounds import EmphasisRuns, flat_line_starts, formula_fits, tex_as_text

# The only maths delimiters the browser looks for; `shown` writes every formula with one of them.
LATEX_DELIMITERS = [
    {"left": "\\[", "right": "\\]", "display": True},
    {"left": "\\(", "right": "\\)", "display": False},
]
# Every view showing `shown()` text passes these to gr.Chatbot (gr.Markdown takes the first four).
CHATBOT_OPTIONS = {"latex_delimiters": LATEX_DELIMITERS, "sanitize_html": True, "render_markdown": True,
                   "line_breaks": True, "allow_tags": False}

Kind = Literal["text", "code", "math"]


@dataclass(frozen=True)
class Segment:
    kind: Kind
    text: str  # code: verbatim with its fences or backticks; math: the TeX inside the delimiters
    display: bool = False


# ---- finding code and maths (one pass, linear in the text) ---------------------------------------

_FENCE = re.compile(r"^( {0,3})(`{3,}(?=[^`]*$)|~{3,})")  # a backtick fence's info has no backtick
_LIST_ITEM = re.compile(r" {0,3}(?:[-*+]|\d{1,9}[.)])(?:[ \t]|$)")
_INDENTED = re.compile(r"(?: {4}|\t)")
_NEWLINES = re.compile(r"\r\n?")  # marked's own first step; after it only "\n" ends a line


def _lines(text: str) -> list[str]:
    """The lines of `text` as marked splits them: at "\n" only, each with its "\n" (Python's
    `splitlines` would also split at U+2028, U+0085, \\v ..., which marked reads as ordinary text)."""
    lines = [line + "\n" for line in text.split("\n")]
    lines[-1] = lines[-1][:-1]
    return lines if lines[-1] else lines[:-1]


def _blank(line: str) -> bool:
    """Blank as marked means it: spaces and tabs only (`str.strip` would also remove NBSP and the like)."""
    return not line.strip(" \t\n")


def segments(text: str) -> list[Segment]:
    """Code blocks, code spans, formulas and plain text of `text`, in order; joined they give it back
    (maths without its delimiters, line ends as "\n")."""
    out: list[Segment] = []
    for kind, block in _blocks(_NEWLINES.sub("\n", text)):
        if kind == "code":
            out.append(Segment("code", block))
        else:
            out.extend(_inline(block))
    return _merged(out)


def _blocks(text: str) -> Iterator[tuple[Kind, str]]:
    """Fenced code (to its closing fence, or to the end as marked does), indented code outside
    lists, and the rest. Where this may disagree with marked it calls the text plain, so a mistake
    costs an escaped `<` shown in code, never unescaped HTML."""
    lines = _lines(text)
    i, start, in_list, after_blank = 0, 0, False, True
    while i < len(lines):
        line = lines[i]
        # marked opens a fence after a paragraph only on a line that ends: a last line is text
        fence = _FENCE.match(line.rstrip("\n")) if line.endswith("\n") else None
        indented = not in_list and after_blank and _INDENTED.match(line) and not _blank(line)
        if fence or indented:
            end = _fence_end(lines, i, *fence.groups()) if fence else _indented_end(lines, i)
            if start < i:
                yield "text", "".join(lines[start:i])
            yield "code", "".join(lines[i:end])
            i = start = end
            after_blank = False
            continue
        if not _blank(line):
            indent = len(line) - len(line.lstrip(" "))
            if _LIST_ITEM.match(line):
                in_list = True
            elif indent == 0 and after_blank:  # a list ends at an unindented line after a blank one
                in_list = False
            after_blank = False
        else:
            after_blank = True
        i += 1
    if start < len(lines):
        yield "text", "".join(lines[start:])


def _fence_end(lines: list[str], i: int, indent: str, opener: str) -> int:
    """After the closing fence; a line indented less than the opener also ends it here (inside a
    list item it would end the item, and the code, for marked; at the top level it would not)."""
    closer = re.compile(rf"^ {{0,3}}{re.escape(opener[0])}{{{len(opener)},}}[ \t]*$")
    for j in range(i + 1, len(lines)):
        line = lines[j].rstrip("\n")
        if closer.match(line):
            return j + 1
        if indent and not _blank(line) and len(line) - len(line.lstrip(" ")) < len(indent):
            return j
    return len(lines)


def _indented_end(lines: list[str], i: int) -> int:
    j = i
    while j < len(lines) and (_INDENTED.match(lines[j]) or _blank(lines[j])):
        j += 1
    while j > i + 1 and _blank(lines[j - 1]):  # trailing blank lines belong to the text
        j -= 1
    return j


# Inline: a backtick run, `$$`, `$`, or a backslash before ( [ ) ] $ \\ ` — where something may start.
_INLINE_START = re.compile(r"`+|\$\$|\$|\\[\[\]()$\\`]")
_BLANK_LINE = re.compile(r"\n[ \t]*(?:\n|$)")
_CLOSERS = {"$$": "$$", "\\[": "\\]", "\\(": "\\)"}


class _Inline:
    """Code spans and formulas of one block of text, in one forward scan. Neither reaches past the
    paragraph it starts in (a formula) or its line (a code span), so an unbalanced `$$` or backtick
    stays text and leaves the rest of the answer alone. A failed search is remembered, so text full
    of unmatched openers costs one pass, not one per opener."""

    def __init__(self, block: str):
        self.block = block
        self.paragraph_ends = [m.start() for m in _BLANK_LINE.finditer(block)] + [len(block)]
        self.misses: dict[str, int] = {}  # what was searched for -> no match before this position

    def segments(self) -> Iterator[Segment]:
        pos = plain = 0
        while (found := _INLINE_START.search(self.block, pos)) is not None:
            end, segment = self._at(found.group(0), found.start())
            if segment is None:
                pos = end
                continue
            if plain < found.start():
                yield Segment("text", self.block[plain:found.start()])
            yield segment
            pos = plain = end
        if plain < len(self.block):
            yield Segment("text", self.block[plain:])

    def _find(self, what: str, start: int, limit: int, pattern: re.Pattern | None = None) -> re.Match | int:
        """`what` (or `pattern`) between start and limit; -1 (or None) when absent."""
        if self.misses.get(what, -1) >= limit:
            return None if pattern else -1
        found = pattern.search(self.block, start, limit) if pattern else self.block.find(what, start, limit)
        if found is None or found == -1:
            self.misses[what] = limit
        return found

    def _paragraph_end(self, at: int) -> int:
        return self.paragraph_ends[bisect.bisect_left(self.paragraph_ends, at)]

    def _at(self, token: str, at: int) -> tuple[int, Segment | None]:
        """(where scanning goes on, the segment starting at `at` or None when it is plain text)."""
        after = at + len(token)
        if token[0] == "`":
            return self._code_span(token, at, after)
        if token in ("\\$", "\\\\", "\\`", "\\)", "\\]"):
            return after, None  # an escaped dollar, backslash or backtick, or a closer with no opener: text
        if token in _CLOSERS:
            closer = _CLOSERS[token]
            close = self._find(closer, after, self._paragraph_end(after))
            body = self.block[after:close] if close != -1 else ""
            if close == -1 or not body.strip() or _has_delimiter(body):
                return after, None
            return close + len(closer), Segment("math", body, display=token != "\\(")
        return self._dollar(at)

    def _code_span(self, token: str, at: int, after: int) -> tuple[int, Segment | None]:
        # The next run of exactly as many backticks, on this line or the next ones of its paragraph
        # while marked is sure to read them as that paragraph (`_span_end`).
        word = self.block[max(self.block.rfind(space, 0, at) for space in " \t\n") + 1:at]
        if "://" in word or "www." in word.lower():
            return after, None  # marked's bare-URL rule takes these backticks into the link
        exact = re.compile(rf"(?<!`){token}(?!`)")
        found = self._find(token, after, self._span_end(at), exact)
        if found is None:
            return after, None
        return found.end(), Segment("code", self.block[at:found.end()])

    def _span_end(self, at: int) -> int:
        """Where a code span opened at `at` must close. Past its own line only onto lines that begin
        with a letter or a short backtick run, with no `|` (a table row) near: where marked might start a new block there
        instead, the span is left to the text (a `<` in it then shows as `&lt;`, never as HTML)."""
        block, line_start = self.block, self.block.rfind("\n", 0, at) + 1
        end = _line_end(block, at)
        if "|" in block[line_start:end] or _HEADING_START.match(block, line_start):
            return end
        while end < len(block):
            next_end = _line_end(block, end + 1)
            line, following = block[end + 1:next_end], block[next_end + 1:_line_end(block, next_end + 1)]
            if not _CONTINUATION.match(line) or "|" in line or _TABLE_OR_SETEXT.match(following):
                return end
            end = next_end
        return end

    def _dollar(self, at: int) -> tuple[int, Segment | None]:
        """pandoc's rule: `$` then a non-space; the closing `$` (the next unescaped one) after a
        non-space and not before a digit. So "$120M and Q4 was $410M" is text, `$x^2$` is maths."""
        after, block = at + 1, self.block
        if after >= len(block) or block[after].isspace():
            return after, None
        limit = self._paragraph_end(after)
        close = block.find("$", after, limit)
        while close != -1 and block[close - 1] == "\\":
            close = block.find("$", close + 1, limit)
        if close == -1 or block[close - 1].isspace() or block[close + 1:close + 2].isdigit():
            return after, None
        body = block[after:close]  # no backtick either: "$5 and `$x$`" is a price, then code
        if _has_delimiter(body) or "`" in body or block[close + 1:close + 2] == "$":
            return after, None
        return close + 1, Segment("math", body)


_HEADING_START = re.compile(r" {0,3}(?:(?:>|[-*+]|\d{1,9}[.)])[ \t]*)*#")
# A letter, or one or two backticks: none of marked's blocks starts with them.
_CONTINUATION = re.compile(r" {0,3}(?:[^\W\d_]|`{1,2}(?!`))")
_TABLE_OR_SETEXT = re.compile(r" {0,3}[|:=-]")


def _line_end(text: str, at: int) -> int:
    end = text.find("\n", at)
    return len(text) if end == -1 else end


def _inline(block: str) -> Iterator[Segment]:
    return _Inline(block).segments()


def _has_delimiter(tex: str) -> bool:
    return any(mark in tex for mark in ("\\(", "\\)", "\\[", "\\]"))


def _merged(parts: list[Segment]) -> list[Segment]:
    out: list[Segment] = []
    for part in parts:
        if out and part.kind == out[-1].kind == "text":
            out[-1] = Segment("text", out[-1].text + part.text)
        else:
            out.append(part)
    return out


# ---- for the Chatbot ---------------------------------------------------------------------------

# `<` that could open a tag, a comment, an autolink or a declaration; `&` that would make an entity.
_TAG_START = re.compile(r"<(?=[A-Za-z/!?])")
_ENTITY = re.compile(r"&(?=#\d{1,7};|#[xX][0-9A-Fa-f]{1,6};|\w+;)")
# A backslash before a bracket, and an escaped backslash (`\\(` is a backslash, then a parenthesis).
_BACKSLASH_BRACKET = re.compile(r"\\\\|\\(?=[\[\]()])")
# A backslash that is not maths: an entity (Gradio's delimiter regex reads the raw text) and a word
# joiner after it (KaTeX auto-render reads the drawn text of every block that has a formula, where
# the entity is a backslash again, and would pair "\(" with a later "\)").
INERT_BACKSLASH = "&#92;&#8288;"
_IMAGE = re.compile(r"!\[")
_LINK_TARGET = re.compile(r"\]\((?!\s*https?://)")
# A reference definition's `]:` anywhere (in a quote or a list item too, the address maybe on the next
# line) unless an http(s) address follows.
_REFERENCE = re.compile(r"\](?=:[ \t\n]*(?!https?://))")
_OTHER_AUTOLINK = re.compile(r"(ftp|ftps|file)://", re.I)  # marked finds them mid-word too
# Every space and line separator but " ", "\t" and "\n": marked's JavaScript regexes (`\s`, `trim`)
# count some of them as blank where its line rules do not, so none of them may reach it raw.
_BACKSLASHES_BEFORE_ENTITY = re.compile(r"\\+(?=&)")
_UNUSUAL_SPACE = re.compile(r"[\x0b\x0c\x1c-\x1f\x85\xa0\u1680\u2000-\u200b\u2028\u2029\u202f\u205f\u3000\ufeff]")
# Gradio draws a fence opened as ```mermaid with mermaid.js, outside the sanitizer; a space after the
# backticks keeps it code (the language is still "mermaid", which Gradio's renderer shows as plain code).
_MERMAID_FENCE = re.compile(r"^( {0,3}`{3,})(?=mermaid)")


# The browser redraws a streamed message block by block (marked's top-level tokens), the last one
# whole on every frame, KaTeX included: one 100 KB line of prose and formulas was one block, redrawn
# 15 times a second (seconds each). A line this long is cut into paragraphs at a space past it, so a
# frame redraws at most this much. The cut depends only on the text before it, so a growing text
# keeps its drawn prefix (and Gradio's streamed diffs stay appends).
LONG_LINE = 3_000


# The marks Markdown (and KaTeX, and autolinks) react to anywhere in a line; `.` and `-` only start a block.
_MARKS = re.compile(r"[\\`*_{}\[\]()<>#+!|~$&@=^%:]")
_BLOCK_START = re.compile(r"^(\d*)([.)\-])")  # "2024. x" or "- x" would start a list


def literal(text: str) -> str:
    """`text` as Markdown that shows exactly it, nothing in it read as Markdown (see the contract)."""
    text = _MARKS.sub(lambda m: f"&#{ord(m.group(0))};", re.sub(r"\s+", " ", text).strip())
    return _BLOCK_START.sub(lambda m: f"{m.group(1)}&#{ord(m.group(2))};", text)  # one line: no break ends it


def shown(text: str) -> str:
    """`text` as Markdown that shows exactly it, under the policy above (see the module contract)."""
    out, run = [], 0  # run: characters since the last line break
    emphasis = EmphasisRuns()
    for part in segments(text):
        piece = _shown_segment(part)
        if part.kind == "text":
            piece, line_run = _cut_long_lines(piece, run)  # first: each cut starts a line
            piece, run = emphasis.bounded(flat_line_starts(piece, at_line_start=run == 0)), line_run
        else:
            newline = piece.rfind("\n")
            run = run + len(piece) if newline == -1 else len(piece) - newline - 1
        out.append(piece)
    return "".join(out)


def _cut_long_lines(text: str, run: int) -> tuple[str, int]:
    out, start = [], 0
    while True:
        newline = text.find("\n", start)
        line_end = len(text) if newline == -1 else newline
        room = max(LONG_LINE - run, 0)
        cut = text.find(" ", start + room, line_end) if line_end - start > room else -1
        if cut != -1:
            out += [text[start:cut], "\n\n"]
            start, run = cut + 1, 0
        elif newline == -1:
            out.append(text[start:])
            return "".join(out), run + len(text) - start
        else:
            out.append(text[start:newline + 1])
            start, run = newline + 1, 0


def _shown_segment(part: Segment) -> str:
    if part.kind == "code":
        return _MERMAID_FENCE.sub(r"\1 ", part.text)  # marked escapes code itself, so `<` stays `<`
    if part.kind == "math" and not formula_fits(part.text):
        return tex_as_text(part.text, part.display)
    if part.kind == "math":
        return f"\\[{part.text}\\]" if part.display else f"\\({part.text}\\)"
    return _shown_text(part.text)


def _shown_text(text: str) -> str:
    text = _ENTITY.sub("&amp;", text)
    text = _TAG_START.sub("&lt;", text)
    text = _BACKSLASH_BRACKET.sub(INERT_BACKSLASH, text)  # not maths: see INERT_BACKSLASH
    text = _IMAGE.sub("&#33;&#91;", text)  # an image shows as its source text, its URL a link: nothing loads
    text = _REFERENCE.sub("&#93;", text)
    text = _LINK_TARGET.sub("&#93;(", text)  # [x](javascript:…), [x](mailto:…), [x](/relative): text
    text = text.replace("@", "&#64;")  # no e-mail autolink (a mailto: link)
    text = _UNUSUAL_SPACE.sub(lambda m: f"&#{ord(m.group(0))};", text)
    text = _OTHER_AUTOLINK.sub(lambda m: f"{m.group(1)}&#58;//", text)
    return _BACKSLASHES_BEFORE_ENTITY.sub(lambda m: "&#92;" * len(m.group(0)), text)  # `\&` would show "&"


# ---- for exports (static HTML, no script) ------------------------------------------------------

class _SafeElements(Treeprocessor):
    """Links: http(s) only, in a new tab, no referrer; images become their link (never loaded)."""

    def run(self, root):
        for element in root.iter():
            if element.tag == "img":
                source, alt = element.get("src", ""), element.get("alt") or "image"
                element.attrib.clear()
                element.tag, element.text = ("a", f"[{alt}]") if _is_web(source) else ("span", f"[{alt}]")
                if _is_web(source):
                    _new_tab(element, source)
            elif element.tag == "a":
                target = element.get("href", "")
                element.attrib.clear()
                if _is_web(target):
                    _new_tab(element, target)
                else:
                    element.tag = "span"


def _is_web(url: str) -> bool:
    return url.strip().lower().startswith(("http://", "https://"))


def _new_tab(element, url: str) -> None:
    element.set("href", url.strip())
    element.set("target", "_blank")
    element.set("rel", "noopener noreferrer")


# Python-Markdown keeps its own placeholders between \x02 and \x03; maths waits between these.
_OPEN, _CLOSE = "\ue000", "\ue001"
_EXPORT_BACKSLASH = re.compile(r"\\(?=[\[\]()])")  # Python-Markdown would drop it: `\(` is text here
_PLACEHOLDER = re.compile(f"{_OPEN}(\\d+){_CLOSE}")


def markdown_to_html(text: str) -> str:
    """`text` under the same policy as static HTML: raw HTML as text, maths as TeX in `.math` spans."""
    stash: list[str] = []

    def keep(part: Segment) -> str:
        stash.append(_math_html(part))
        return f"{_OPEN}{len(stash) - 1}{_CLOSE}"

    text = text.replace(_OPEN, "").replace(_CLOSE, "")
    pieces, at_line_start, emphasis = [], True, EmphasisRuns()
    for part in segments(text):
        piece = keep(part) if part.kind == "math" else part.text if part.kind == "code" else \
            emphasis.bounded(flat_line_starts(_export_text(part.text), at_line_start))  # no RecursionError
        pieces.append(piece)
        at_line_start = piece.endswith("\n") if piece else at_line_start
    source = "".join(pieces)
    converter = markdown.Markdown(extensions=["fenced_code", "tables", "sane_lists"])
    converter.preprocessors.deregister("html_block")  # raw HTML is text: escaped when written out
    converter.inlinePatterns.deregister("html")
    converter.inlinePatterns.deregister("entity")  # a typed `&lt;` shows as typed
    converter.treeprocessors.register(_SafeElements(converter), "r1v_safe_elements", 0)
    return _PLACEHOLDER.sub(lambda m: stash[int(m.group(1))], converter.convert(source))


def _export_text(text: str) -> str:
    return _EXPORT_BACKSLASH.sub(r"\\\\", _ENTITY.sub("&amp;", text))


def _math_html(part: Segment) -> str:
    left, right = ("\\[", "\\]") if part.display else ("\\(", "\\)")
    kind = "math display" if part.display else "math"
    return f'<span class="{kind}">{html.escape(left + part.text + right)}</span>'
