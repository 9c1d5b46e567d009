// The page's Markdown pipeline for one chat message, under Node, for tests/test_render_property.py.
// usage: node render_policy.mjs GRADIO_FRONTEND_ASSETS_DIR
// Reads one JSON object a line on stdin: {"id", "markdown", "delimiters": [{left, right, display}]};
// writes one a line: {"id", "elements": [[tag, {attr: value}, inKatex]], "text", "htmlTokens", "html"}.
//
// What runs is what Gradio 6.31's Chatbot runs (gradio/templates/frontend/assets/markdown-code-*.js):
// 1. every `left…right` pair of each latex delimiter, found by a regex over the raw message, is set
//    aside as a placeholder before Markdown is parsed;
// 2. marked 12.0.2 (the version bundled there) with gfm, breaks (line_breaks=True), Gradio's mermaid
//    and latex block extensions and its code and link renderers; syntax highlighting (prism) is left
//    out: it only rewrites the inside of code that marked has already escaped;
// 3. each top-level block parsed on its own, placeholders put back HTML-escaped;
// 4. Gradio's own sanitizer and KaTeX auto-render, loaded from the installed gradio package itself
//    (the files the page loads), under jsdom.
// Gradio groups blocks with unclosed raw-HTML tags before parsing; the count of raw `html` tokens is
// returned instead, and the tests demand zero of them.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { createInterface } from "node:readline";
import { JSDOM } from "jsdom";
import { Marked } from "marked";

const assets = process.argv[2];
const dom = new JSDOM("<!doctype html><html><body></body></html>");
for (const name of ["window", "document", "NodeFilter", "Node", "HTMLElement", "DocumentFragment",
  "Element", "navigator"]) {
  if (!(name in globalThis) || name === "navigator") {
    Object.defineProperty(globalThis, name, { value: dom.window[name], configurable: true });
  }
}

function assetNamed(prefix, mustHold) {
  const name = readdirSync(assets).find((file) => file.startsWith(prefix) && file.endsWith(".js")
    && readFileSync(join(assets, file), "utf8").includes(mustHold));
  if (!name) throw new Error(`no ${prefix}*.js holding ${mustHold} in ${assets}`);
  return pathToFileURL(join(assets, name)).href;
}

// The sanitizer module exports `n`: html -> sanitized DocumentFragment (what the Chatbot calls).
const sanitizer = await import(assetNamed("browser-", "allowCustomElements"));
const sanitize = sanitizer.n;
const renderMathInElement = (await import(assetNamed("auto-render-", "ignoredTags"))).default;

const escapeHtml = (text) => text.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;",
  '"': "&quot;", "'": "&#39;" })[c]);
const regexEscape = (text) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

function gradioMarked(delimiters) {
  const marked = new Marked();
  marked.use({ gfm: true, pedantic: false, breaks: true });
  const plain = new marked.Renderer();
  marked.use({
    renderer: {
      code(code, info, escaped) {
        const lang = (info ?? "").match(/\S*/)?.[0] ?? "";
        const body = code.replace(/\n$/, "") + "\n";
        const klass = !lang || lang === "mermaid" ? "" : ` class="language-${escapeHtml(lang)}"`;
        return `<div class="code_wrap"><button title="copy" class="copy_code_button"></button>`
          + `<pre><code${klass}>${escaped ? body : escapeHtml(body)}</code></pre></div>\n`;
      },
      link(href, title, text) {
        const html = plain.link(href, title, text);
        const target = (href ?? "").trim();
        return target === "" || target.startsWith("#") || !html.startsWith("<a ") ? html
          : html.replace(/^<a /, '<a target="_blank" rel="noopener noreferrer" ');
      },
    },
  });
  const latex = delimiters.map((d) => ({ start: new RegExp(regexEscape(d.left)), end: new RegExp(regexEscape(d.right)) }));
  marked.use({
    extensions: [
      {
        name: "mermaid", level: "block",
        start: (src) => src.match(/^```mermaid\s*\n/)?.index,
        tokenizer(src) {
          const m = /^```mermaid\s*\n([\s\S]*?)```\s*(?:\n|$)/.exec(src);
          if (m) return { type: "mermaid", raw: m[0], text: m[1].trim() };
        },
        renderer: (token) => `<div class="mermaid">${token.text}</div>\n`,
      },
      {
        name: "latex", level: "block",
        start(src) {
          for (const d of latex) { const m = src.match(d.start); if (m) return m.index; }
          return -1;
        },
        tokenizer(src) {
          for (const d of latex) {
            const m = new RegExp(`${d.start.source}([\\s\\S]+?)${d.end.source}`).exec(src);
            if (m) return { type: "latex", raw: m[0], text: m[1].trim() };
          }
        },
        renderer: (token) => `<div class="latex-block">${token.text}</div>`,
      },
    ],
  });
  return marked;
}

function countHtmlTokens(marked, tokens) {
  let count = 0;
  marked.walkTokens(tokens, (token) => { if (token.type === "html") count += 1; });
  return count;
}

function render(markdown, delimiters) {
  const marked = gradioMarked(delimiters);
  const kept = [];
  let source = markdown;
  for (const d of delimiters) {
    const pair = new RegExp(`${regexEscape(d.left)}([\\s\\S]+?)${regexEscape(d.right)}`, "g");
    source = source.replace(pair, (m) => { kept.push(m); return `%%%LATEX_BLOCK_${kept.length - 1}%%%`; });
  }
  const restore = (text, escape = (t) => t) => text.replace(/%%%LATEX_BLOCK_(\d+)%%%/g,
    (_, i) => escape(kept[parseInt(i, 10)]));
  const tokens = marked.lexer(source).filter((token) => token.type !== "space");
  const root = document.createElement("div");
  for (const token of tokens) {
    const raw = restore(token.raw);
    const fragment = sanitize(restore(marked.parser([token]), escapeHtml));
    if (delimiters.some((d) => raw.includes(d.left) && raw.includes(d.right))) {
      renderMathInElement(fragment, { delimiters, throwOnError: false });
    }
    root.append(fragment);
  }
  return { root, htmlTokens: countHtmlTokens(marked, tokens) };
}

function describe(root) {
  const elements = [];
  for (const element of root.querySelectorAll("*")) {
    const attrs = Object.fromEntries(element.getAttributeNames().map((n) => [n, element.getAttribute(n)]));
    // KaTeX's error output wraps the source in a span whose class names its script ("cjk_fallback").
    const fromKatex = element.closest(".katex, .katex-display") !== null
      || element.parentElement?.closest(".katex-error") != null;
    elements.push([element.tagName.toLowerCase(), attrs, fromKatex]);
  }
  const copy = root.cloneNode(true);
  for (const math of copy.querySelectorAll(".katex")) {
    const tex = math.querySelector("annotation")?.textContent ?? math.textContent;
    math.replaceWith(document.createTextNode(tex));
  }
  for (const button of copy.querySelectorAll("button.copy_code_button")) button.remove();
  // Where the policy cannot be sure marked reads code (indented code in a quote or a list item, a
  // code span over lines that might start a block), it escapes, so a `<` there shows as "&lt;": its
  // safe side. Counted as both, so either reading passes the text check.
  for (const code of copy.querySelectorAll("code")) {
    code.textContent = code.textContent.replaceAll("&lt;", "<lt");
  }
  return { elements, text: copy.textContent, html: root.innerHTML };
}

const lines = createInterface({ input: process.stdin });
for await (const line of lines) {
  if (!line.trim()) continue;
  const { id, markdown, delimiters } = JSON.parse(line);
  let reply;
  try {
    const { root, htmlTokens } = render(markdown, delimiters);
    reply = { id, htmlTokens, ...describe(root) };
  } catch (error) {
    reply = { id, error: String(error?.stack ?? error) };
  }
  process.stdout.write(JSON.stringify(reply) + "\n");
}
