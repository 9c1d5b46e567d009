"""The rendering policy as a table: text in, what the Chatbot gets (`shown`) and what exports get.

`shown` hands the browser Markdown in which maths is `\\(…\\)` / `\\[…\\]` (the only delimiters the page
looks for), raw HTML is escaped outside code, and code is left exactly as written (marked escapes it).
"""
from __future__ import annotations

import html

import pytest

from ui.render.safe_text import CHATBOT_OPTIONS, LATEX_DELIMITERS, markdown_to_html, segments, shown

LONG = "A" * 100_000
HUGE_BLOCK = "$$" + "x+" * 3000 + "1$$"

CASES = [
    # currency against maths (pandoc's rule for a single $)
    ("revenue was $120M and Q4 was $410M", "revenue was $120M and Q4 was $410M"),
    ("so $x^2$ works", r"so \(x^2\) works"),
    ("$5 and $x$", r"$5 and \(x\)"),
    ("$x$5 is not maths", "$x$5 is not maths"),
    ("$ x$ and $x $", "$ x$ and $x $"),
    (r"\$5 and \$6", r"\$5 and \$6"),
    (r"\(a<b\) inline", r"\(a<b\) inline"),
    (r"display $$\int_0^1 f\,dx$$ here", r"display \[\int_0^1 f\,dx\] here"),
    (r"\[ \sum_i i \]", r"\[ \sum_i i \]"),
    # unbalanced delimiters are text, and never swallow the next paragraph
    ("unbalanced $$ x + y", "unbalanced $$ x + y"),
    ("open $$ here\n\nthen $$y$$", "open $$ here\n\nthen \\[y\\]"),
    (r"\( never closed", "&#92;&#8288;( never closed"),
    (r"closed \) only", "closed &#92;&#8288;) only"),
    (r"an escaped \\(backslash", "an escaped &#92;&#8288;(backslash"),
    ("$a\n\nb$", "$a\n\nb$"),
    # tags are text, never interpreted nor dropped
    ("a <b>bold", "a &lt;b>bold"),
    ("<img src=http://x/y.png onerror=alert(1)>", "&lt;img src=http://x/y.png onerror=alert(1)>"),
    ('<div style="position:fixed">', '&lt;div style="position:fixed">'),
    ("<!-- hidden -->, </think>, <?php", "&lt;!-- hidden -->, &lt;/think>, &lt;?php"),
    ("a < b > c and 1<2", "a < b > c and 1<2"),
    ("typed &lt;b&gt; and &#60;", "typed &amp;lt;b&amp;gt; and &amp;#60;"),
    ("AT&T & co", "AT&T & co"),
    # code keeps its characters
    ("`<b>` and `$x$` and ``a ` <i> b``", "`<b>` and `$x$` and ``a ` <i> b``"),
    ("```html\n<form><input></form>\n```\n<i>", "```html\n<form><input></form>\n```\n&lt;i>"),
    ("~~~\n$5 <b>\n~~~", "~~~\n$5 <b>\n~~~"),
    ("```\n<b> unclosed fence", "```\n<b> unclosed fence"),
    ("``` a`b\n<b>", "``` a`b\n&lt;b>"),  # not a fence for CommonMark: its info has a backtick
    ("text\n\n    <b> indented code", "text\n\n    <b> indented code"),
    ("- item\nlazy\n\n    <form>", "- item\nlazy\n\n    &lt;form>"),  # list content, not code
    ("- item\n  ```\n<b>\n  ```", "- item\n  ```\n&lt;b>\n  ```"),  # the item, and its fence, end
    (r"\`<img src=x>`", r"\`&lt;img src=x>`"),  # an escaped backtick opens no code span
    ("`a\n<b>`", "`a\n&lt;b>`"),  # a span across lines is left to the text (the safe side)
    ("`a\nb <i>`", "`a\nb <i>`"),  # ...unless every line of it is sure to stay in the paragraph
    ("http://x.example```<b>```", "http://x.example```&lt;b>```"),  # the bare URL takes the backticks
    ("```mermaid\ngraph TD\n```", "``` mermaid\ngraph TD\n```"),  # code, never drawn by mermaid.js
    # lines and blanks as marked reads them: "\n" only, blank = spaces and tabs
    ("see\n\u00a0\n    <img src=x>", "see\n&#160;\n    &lt;img src=x>"),
    ("a\u2028\u2028    <b>", "a&#8232;&#8232;    &lt;b>"),
    ("a\r\n\r\n    <b>", "a\n\n    <b>"),
    ("\\<b>", "&#92;&lt;b>"),  # a typed backslash must not escape the entity
    # tables
    ("| a | b |\n|---|---|\n| <i> | `<i>` $x$ |", "| a | b |\n|---|---|\n| &lt;i> | `<i>` \\(x\\) |"),
    # links and images
    ("[x](javascript:alert(1))", "[x&#93;(javascript:alert(1))"),
    ("[x](mailto:a@b.c) [y](/relative)", "[x&#93;(mailto:a&#64;b.c) [y&#93;(/relative)"),
    ("[ok](https://example.com/a)", "[ok](https://example.com/a)"),
    ("![chart](http://elsewhere/leak.png?c=1)", "&#33;&#91;chart](http://elsewhere/leak.png?c=1)"),
    ("[r]\n\n[r]: javascript:alert(1)", "[r]\n\n[r&#93;: javascript:alert(1)"),
    ("ftp://host/file", "ftp&#58;//host/file"),
    ("mail a@b.example", "mail a&#64;b.example"),  # no mailto: autolink
    ("> [x]: mailto:a@b.c\n\n[x]", "> [x&#93;: mailto:a&#64;b.c\n\n[x]"),
    # bounds: deeper nesting is shown flat, a formula past its bounds as its TeX source
    ("> " * 10 + "x", "> " * 8 + "&#62; > x"),
    ("- " * 9 + "x", "- " * 8 + "&#45; x"),
    ("**" * 5 + "x", "******&#42;&#42;&#42;&#42;x"),
    (r"$\rule{5000em}{5000em}$", "&#92;&#8288;&#40;&#92;&#8288;rule&#123;5000em&#125;&#123;5000em&#125;&#92;&#8288;&#41;"),
    (r"$\rule{2em}{1em}$", r"\(\rule{2em}{1em}\)"),
    (r"$a\hspace{-9000pt}b$", "&#92;&#8288;&#40;a&#92;&#8288;hspace&#123;&#45;9000pt&#125;b&#92;&#8288;&#41;"),
    (r"$\def\f{x}\f$", "&#92;&#8288;&#40;&#92;&#8288;def&#92;&#8288;f&#123;x&#125;&#92;&#8288;f&#92;&#8288;&#41;"),
    # long lines pass whole
    (LONG, LONG),
    (HUGE_BLOCK, "\\[" + "x+" * 3000 + "1\\]"),
]


@pytest.mark.parametrize("text, expected", CASES, ids=[repr(case[0][:40]) for case in CASES])
def test_shown(text, expected):
    assert shown(text) == expected


def test_the_browser_looks_only_for_the_delimiters_shown_writes():
    assert [(d["left"], d["right"]) for d in LATEX_DELIMITERS] == [("\\[", "\\]"), ("\\(", "\\)")]
    assert CHATBOT_OPTIONS["sanitize_html"] is True and CHATBOT_OPTIONS["render_markdown"] is True
    assert CHATBOT_OPTIONS["latex_delimiters"] is LATEX_DELIMITERS


def test_segments_tell_code_maths_and_text_apart():
    parts = segments("cost $5, `$x$` and $y$\n\n```\n$z$\n```\n")
    assert [(p.kind, p.text) for p in parts] == [
        ("text", "cost $5, "), ("code", "`$x$`"), ("text", " and "), ("math", "y"), ("text", "\n\n"),
        ("code", "```\n$z$\n```\n")]


EXPORT_CASES = [
    ("revenue was $120M and Q4 was $410M", "<p>revenue was $120M and Q4 was $410M</p>"),
    ("so $x^2$ and $$a<b$$", '<p>so <span class="math">\\(x^2\\)</span> and '
                             '<span class="math display">\\[a&lt;b\\]</span></p>'),
    ("unbalanced $$ x", "<p>unbalanced $$ x</p>"),
    (r"\( open", r"<p>\( open</p>"),
    ("a <b>bold", "<p>a &lt;b&gt;bold</p>"),
    ("typed &lt;", "<p>typed &amp;lt;</p>"),
    ("`<b>`", "<p><code>&lt;b&gt;</code></p>"),
    ("| a |\n|---|\n| <i> |", "<table>\n<thead>\n<tr>\n<th>a</th>\n</tr>\n</thead>\n<tbody>\n<tr>\n"
                              "<td>&lt;i&gt;</td>\n</tr>\n</tbody>\n</table>"),
    ("[x](javascript:alert(1))", "<p><span>x</span></p>"),
]


@pytest.mark.parametrize("text, expected", EXPORT_CASES, ids=[repr(case[0][:30]) for case in EXPORT_CASES])
def test_markdown_to_html(text, expected):
    assert markdown_to_html(text) == expected


def test_a_very_long_line_is_cut_into_paragraphs_at_spaces_and_keeps_its_text():
    from ui.render.safe_text import LONG_LINE

    prose = "word $x$ " * 2_000
    out = shown(prose)
    lines = out.split("\n")
    assert max(len(line) for line in lines) <= LONG_LINE + 20
    assert out.replace("\n\n", " ") == shown(prose).replace("\n\n", " ") == prose.replace("$x$", "\\(x\\)")
    growing = [shown(prose[:n]) for n in range(0, len(prose), 997)]
    assert all(later.startswith(earlier[:-20]) for earlier, later in zip(growing, growing[1:]))
    assert shown(LONG) == LONG  # no space: nowhere to cut


@pytest.mark.parametrize("opener", [r"\frac{1}{", "x^{", r"\sqrt{", r"\left("])
def test_a_formula_nested_past_the_bound_is_shown_as_its_source_and_one_within_it_is_maths(opener):
    closer = ")" if opener == r"\left(" else "}"
    close = r"\right)" if opener == r"\left(" else closer
    deep = "$" + opener * 400 + "x" + close * 400 + "$"
    shallow = "$" + opener * 5 + "x" + close * 5 + "$"
    assert shown(shallow).startswith("\\(")
    deep_shown = shown(deep)
    assert "\\(" not in deep_shown and deep_shown.startswith("&#92;&#8288;&#40;")
    drawn = html.unescape(deep_shown)
    assert "\\(" not in drawn  # nor in the drawn text, where KaTeX auto-render looks
    assert drawn.replace("\u2060", "") == "\\(" + deep[1:-1] + "\\)"  # every character, as text


def test_bounds_keep_exports_from_recursing():
    for text in ("> " * 5000 + "deep", "- " * 5000 + "deep", "**" * 3000 + "x"):
        assert "deep" in markdown_to_html(text) or "x" in markdown_to_html(text)
