"""The page's layout and accessibility in a real browser (Playwright + Debian's Chromium), tiny model.

- Screens: 1280x720, 1400x1000 and 390x844, light and dark, English and Chinese, written to
  tests/artifacts/layout-*.png; at the two desktop sizes the question box and Send are on screen; on
  a phone the buttons do not overlap or wrap inside themselves, and one tap brings the settings.
- Accessibility: every button has its own accessible name (reset buttons name their slider, export
  buttons say what they download, example cards their question in plain text), in both languages;
  Tab from the question box reaches Send and the settings before any example; text contrast in the
  banner and the stats line is at least 4.5:1 in light and dark mode.
- Busy state: while an answer streams the box takes a draft, Send/Regenerate/Undo are disabled and
  Stop is enabled; Enter while answering is refused with a reason and the draft stays; after Stop the
  buttons are idle again. Sending brings the new turn into view; switching language keeps the stats.
One browser and one page per language for the module: each test reloads the page it needs. The unit
tests at the end check the same contracts without a browser (button states, the banner's words).
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from model.events import GenerationOptions, Status
from tests.conftest import slowed, wait_until
from tests.test_browser import ARTIFACTS, CHROMIUM
from ui.page.handlers import ModelInfo
from ui.page.layout import build_app

_NO_CHROMIUM = pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                  reason="Chromium is not installed (apt-get install -y chromium)")


def in_browser(test):
    """Marks a test that drives Chromium (the unit tests at the end of this file need none)."""
    return pytest.mark.browser(_NO_CHROMIUM(test))


DESKTOP = [(1280, 720), (1400, 1000)]
PHONE = (390, 844)
READY = {"en": "ready", "zh": "就绪"}
CHAT_BUTTONS = ["#send-btn", "#stop-btn", "#regenerate-btn", "#undo-btn", "#clear-btn"]
NO_GPU = Status("No GPU was found, so the bundled tiny model is served.", "note.no_gpu")

# The effective colours of an element's text and of what is painted behind it (alpha blended).
CONTRAST_JS = """(selector) => {
  const parse = (c) => { const m = c.match(/[\\d.]+/g).map(Number); return [m[0], m[1], m[2], m.length > 3 ? m[3] : 1]; };
  const el = document.querySelector(selector);
  const layers = [];
  for (let e = el; e; e = e.parentElement) {
    const bg = parse(getComputedStyle(e).backgroundColor);
    if (bg[3] > 0) layers.push(bg);
    if (bg[3] >= 1) break;
  }
  let base = [255, 255, 255];
  for (const [r, g, b, a] of layers.reverse()) base = [r * a + base[0] * (1 - a), g * a + base[1] * (1 - a), b * a + base[2] * (1 - a)];
  const fg = parse(getComputedStyle(el).color);
  const text = [0, 1, 2].map((i) => fg[i] * fg[3] + base[i] * (1 - fg[3]));
  return {text, background: base};
}"""


def luminance(rgb) -> float:
    def channel(value: float) -> float:
        value /= 255
        return value / 12.92 if value <= 0.03928 else ((value + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(v) for v in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(page, selector: str) -> float:
    colours = page.evaluate(CONTRAST_JS, selector)
    light, dark = sorted((luminance(colours["text"]), luminance(colours["background"])), reverse=True)
    return (light + 0.05) / (dark + 0.05)


@pytest.fixture(scope="module")
def url(tiny_engine, launch):
    # Stop tokens are masked in slowed runs: the answer budget is what ends them (128 fits the context).
    defaults = GenerationOptions.validated(thinking_budget=256, answer_budget=128, max_tiles=4)
    return launch(build_app(tiny_engine, ModelInfo("tiny", is_tiny=True, note=NO_GPU, defaults=defaults)))


def _page(browser, lang: str):
    header = "zh-CN,zh;q=0.9" if lang == "zh" else "en-US,en;q=0.9"
    context = browser.new_context(locale="zh-CN" if lang == "zh" else "en-US", viewport=dict(zip(("width", "height"), DESKTOP[0])),
                                  extra_http_headers={"Accept-Language": header})
    page = context.new_page()
    page.set_default_timeout(30_000)
    return context, page


@pytest.fixture(scope="module")
def pages(browser):
    made = {lang: _page(browser, lang) for lang in ("en", "zh")}
    yield {lang: page for lang, (_, page) in made.items()}
    for context, _ in made.values():
        context.close()


def fresh(page, url: str, lang: str = "en", theme: str = "light", size=DESKTOP[0]):
    """The page reloaded at `size` in `theme`, ready, its examples drawn and the chat fitted."""
    page.set_viewport_size({"width": size[0], "height": size[1]})
    page.goto(f"{url}?__theme={theme}")
    page.wait_for_selector(f"#model-status:has-text('{READY[lang]}')")
    page.wait_for_selector("#examples button.gallery-item")
    settle(page)
    return page


def settle(page) -> None:
    """Until assets/page.js has fitted the chat to this window (two animation frames after a resize)."""
    page.wait_for_function("() => document.documentElement.style.getPropertyValue('--chat-height') !== ''")
    page.evaluate("() => new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)))")


def in_viewport(page, selector: str) -> bool:
    box = page.locator(selector).bounding_box()
    view = page.viewport_size
    slack = 1  # scrolling lands on fractions of a pixel
    return (box is not None and box["y"] >= -slack and box["x"] >= -slack
            and box["y"] + box["height"] <= view["height"] + slack and box["x"] + box["width"] <= view["width"] + slack)


def shoot(page, name: str) -> None:
    """A screenshot of the window once running transitions (buttons changing state) are over."""
    ARTIFACTS.mkdir(exist_ok=True)
    page.evaluate("""() => Promise.all(document.getAnimations()
        .filter(a => a.effect?.getTiming().iterations !== Infinity).map(a => a.finished.catch(() => null)))""")
    page.screenshot(path=str(ARTIFACTS / name))


def enabled(page, selector: str) -> bool:
    return page.locator(selector).is_enabled()


def pick_first_example(page) -> None:
    page.locator("#examples button.gallery-item").first.click()
    page.wait_for_function("() => document.querySelector('#question textarea').value.length > 0")


def overlaps(a: dict, b: dict) -> bool:
    return not (a["x"] + a["width"] <= b["x"] or b["x"] + b["width"] <= a["x"]
                or a["y"] + a["height"] <= b["y"] or b["y"] + b["height"] <= a["y"])


# ---- screens -----------------------------------------------------------------------------------

@in_browser
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_every_screen_keeps_the_box_and_send_on_screen(pages, url, lang):
    page = pages[lang]
    for theme in ("light", "dark"):
        fresh(page, url, lang, theme)
        for size in [*DESKTOP, PHONE]:
            page.set_viewport_size({"width": size[0], "height": size[1]})
            settle(page)
            if size in DESKTOP:
                for selector in ("#question", "#send-btn", "#chat-buttons"):
                    assert in_viewport(page, selector), f"{selector} is off screen at {size} ({lang}, {theme})"
            shoot(page, f"layout-{lang}-{theme}-{size[0]}x{size[1]}.png")


@in_browser
def test_on_a_phone_the_buttons_fit_and_one_tap_brings_the_settings(pages, url):
    page = fresh(pages["en"], url, size=PHONE)
    boxes = [page.locator(selector).bounding_box() for selector in CHAT_BUTTONS]
    for i, first in enumerate(boxes):
        assert first["x"] >= 0 and first["x"] + first["width"] <= PHONE[0]
        assert first["height"] < 48, f"{CHAT_BUTTONS[i]} wraps inside itself"
        for j in range(i + 1, len(boxes)):
            assert not overlaps(first, boxes[j]), f"{CHAT_BUTTONS[i]} overlaps {CHAT_BUTTONS[j]}"
    overflowing = page.evaluate("""(ids) => ids.filter(s => { const b = document.querySelector(s);
                                     return b.scrollWidth > b.clientWidth + 1; })""", CHAT_BUTTONS)
    assert overflowing == []
    assert not in_viewport(page, "#settings")
    page.click("#settings-jump")
    wait_until(lambda: page.evaluate("() => document.getElementById('settings').getBoundingClientRect().top") < 60,
               10, "the settings to scroll into view")
    assert page.evaluate("() => document.getElementById('settings').contains(document.activeElement)")
    page.set_viewport_size({"width": DESKTOP[0][0], "height": DESKTOP[0][1]})
    assert not page.locator("#settings-jump").is_visible()  # beside the chat already on a wide screen


# ---- accessibility -----------------------------------------------------------------------------

def button_names(page) -> list[str]:
    """The accessible name of every button in the page's accessibility tree."""
    names = []
    for button in page.get_by_role("button").all():
        first_line = button.aria_snapshot().splitlines()[0]
        match = re.match(r"""-\s+'?button(?:\s+"((?:[^"\\]|\\.)*)")?""", first_line)
        assert match, first_line
        names.append(match.group(1) or "")
    return names


@in_browser
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_every_button_has_its_own_accessible_name(pages, url, lang):
    page = fresh(pages[lang], url, lang)
    page.locator("#settings .label-wrap").last.click()  # Advanced: three more sliders
    page.wait_for_selector("#max-tiles button.reset-button")
    names = button_names(page)
    assert len(names) >= 20
    assert all(name.strip() for name in names), names
    duplicates = sorted({name for name in names if names.count(name) > 1})
    assert duplicates == [], duplicates
    assert not [name for name in names if "$" in name or "\\" in name]  # no raw TeX in example names
    if lang == "en":
        assert {"Reset Temperature to its default", "Reset Max tiles per image to its default",
                "Download the conversation as Markdown", "Download the conversation as HTML"} <= set(names)
        assert any(name.startswith("Example: ") and "f′(x)" in name for name in names)
    else:
        assert "将“温度”恢复为默认值" in names and "将对话下载为 Markdown" in names
        assert "Reset to default value" not in names


@in_browser
def test_tab_from_the_question_reaches_send_and_settings_before_the_examples(pages, url):
    page = fresh(pages["en"], url, size=DESKTOP[1])
    page.locator("#question textarea").focus()
    order = []
    for _ in range(60):
        page.keyboard.press("Tab")
        where = page.evaluate("""() => { const e = document.activeElement;
            if (e.closest('#examples')) return 'example';
            if (e.closest('#settings')) return 'settings';
            return e.id || e.closest('[id]')?.id || e.tagName; }""")
        order.append(where)
        if where == "example":
            break
    assert "example" in order, order
    first_example = order.index("example")
    assert order[0] == "send-btn"  # straight from the box to Send (Stop and the rest are disabled)
    assert "settings" in order[:first_example], order
    ring = page.evaluate("""() => { const e = document.activeElement; const style = getComputedStyle(e);
                             return style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) >= 2; }""")
    assert ring, "the focused example card shows no focus ring"


@in_browser
def test_focus_rings_show_on_the_box_sliders_and_radios(pages, url):
    page = fresh(pages["en"], url)
    page.locator("#question textarea").focus()
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Tab")  # keyboard focus, so :focus-visible applies
    wrapper = page.evaluate("() => getComputedStyle(document.querySelector('#question .input-wrapper')).outlineStyle")
    assert wrapper == "solid"
    for selector in ("#temperature input[type=range]", "#language input[value=zh]"):
        page.locator(selector).focus()
        style = page.evaluate("""(s) => { const st = getComputedStyle(document.querySelector(s));
                                  return [st.outlineStyle, parseFloat(st.outlineWidth)]; }""", selector)
        assert style[0] == "solid" and style[1] >= 2, (selector, style)


@in_browser
@pytest.mark.parametrize("theme", ["light", "dark"])
def test_banner_and_status_text_are_readable(pages, url, theme):
    page = fresh(pages["en"], url, theme=theme)
    assert page.evaluate("() => document.body.classList.contains('dark')") == (theme == "dark")
    for selector in ("#tiny-banner strong", "#tiny-banner p", "#model-status p", "#intro p"):
        ratio = contrast(page, selector)
        assert ratio >= 4.5, f"{selector} contrast {ratio:.2f} in {theme} mode"


# ---- the chat at work --------------------------------------------------------------------------

@in_browser
def test_while_answering_the_box_takes_a_draft_and_only_stop_can_act(pages, url, tiny_engine):
    page = fresh(pages["en"], url)
    assert enabled(page, "#send-btn")
    assert not any(enabled(page, s) for s in ("#stop-btn", "#regenerate-btn", "#undo-btn", "#clear-btn"))
    assert not enabled(page, "#export-md") and not enabled(page, "#export-html")
    page.mouse.wheel(0, 2_000)
    pick_first_example(page)  # far below the chat: picking one brings the box and Send back
    wait_until(lambda: all(in_viewport(page, s) for s in ("#chat", "#question", "#send-btn")), 10,
               "the chat, the box and Send to scroll back into view")
    with slowed(tiny_engine, 0.15):  # no stop tokens: it runs for half a minute unless stopped
        page.click("#send-btn")
        page.wait_for_selector("#stop-btn:not([disabled])")
        page.wait_for_selector("#stats-line:has-text('Thinking')")
        assert not any(enabled(page, s) for s in ("#send-btn", "#regenerate-btn", "#undo-btn"))
        wait_until(lambda: in_viewport(page, "#chat"), 10, "the chat to be on screen")
        assert page.locator("[data-testid=user]").last.is_visible()  # the new turn, in the chat's view
        box = page.locator("#question textarea")
        box.fill("And how many blue ones?")
        box.press("Enter")  # refused while answering, with the reason; the draft stays
        page.get_by_text("Still answering the last question").first.wait_for()
        assert box.input_value() == "And how many blue ones?"
        assert enabled(page, "#stop-btn") and not enabled(page, "#send-btn")
        page.click("#stop-btn")
        page.wait_for_selector("#stats-line:has-text('Stopped')", timeout=60_000)
    page.wait_for_selector("#stop-btn[disabled]")
    assert all(enabled(page, s) for s in ("#send-btn", "#regenerate-btn", "#undo-btn", "#clear-btn"))
    assert box.input_value() == "And how many blue ones?"  # the end of the answer left the draft alone
    page.wait_for_selector("#export-md:not([disabled])")
    shoot(page, "layout-after-stop.png")


@in_browser
def test_a_language_switch_keeps_the_stats_line_and_translates_the_banner(pages, url, tiny_engine):
    page = fresh(pages["en"], url, theme="dark")
    pick_first_example(page)
    with slowed(tiny_engine, 0.0):
        page.click("#send-btn")
        page.wait_for_selector("#stats-line:has-text('in all')", timeout=120_000)
    page.wait_for_selector("#regenerate-btn:not([disabled])")
    for selector in ("#stats-line p", "[data-testid=bot] .thought-group .title", "[data-testid=bot] .prose"):
        ratio = contrast(page, selector)
        assert ratio >= 4.5, f"{selector} contrast {ratio:.2f} in dark mode"
    shoot(page, "layout-dark-answer.png")
    assert "No GPU was found" in page.locator("#tiny-banner").inner_text()
    page.locator("#language label:has-text('中文')").click()
    page.wait_for_selector("#stats-line:has-text('共')")
    banner = page.locator("#tiny-banner").inner_text()
    assert "未检测到 GPU" in banner and not re.search(r"[A-Za-z]{4,} [a-z]{3,}", banner.replace("Skywork R1V", ""))
    page.locator("#language label:has-text('English')").click()
    page.wait_for_selector("#stats-line:has-text('in all')")
    assert "No GPU was found" in page.locator("#tiny-banner").inner_text()


@in_browser
def test_a_chinese_page_says_everything_in_chinese_from_the_start(pages, url):
    page = fresh(pages["zh"], url, "zh", size=DESKTOP[1])
    banner = page.locator("#tiny-banner").inner_text()
    assert "不是 Skywork R1V" in banner and "未检测到 GPU" in banner and "No GPU" not in banner
    assert page.locator("#settings-jump").is_hidden()


# ---- the same contracts without a browser ------------------------------------------------------

def states(updates, names=None) -> dict[str, bool]:
    from ui.page.handlers import BUTTONS

    return {name: update.interactive for name, update in zip(names or BUTTONS, updates, strict=True)}


def test_button_states_enable_only_what_can_act():
    from ui.page.handlers import button_states

    def enabled_names(**state):
        return {name for name, on in states(button_states(**state)).items() if on}

    assert enabled_names(busy=True, turns=True) == {"stop", "clear", "sweep_stop"}
    assert enabled_names(busy=False, turns=False) == {"send", "sweep_run"}
    assert enabled_names(busy=False, turns=True) == {"send", "regenerate", "undo", "clear", "sweep_run"}


def test_idle_buttons_wait_while_the_session_still_runs():
    import gradio as gr

    from tests.helpers import chat_handlers
    from ui.page.handlers import BUTTONS

    handlers = chat_handlers(object(), ModelInfo("fake"))
    request = type("FakeRequest", (), {"session_hash": "s1", "headers": {}})()
    stop = handlers.serving.runs.begin("s1")
    assert handlers.idle_buttons((), request) == tuple(gr.skip() for _ in BUTTONS)  # a refused Enter
    handlers.serving.runs.end("s1", stop)
    assert not handlers.serving.runs.running("s1")
    idle = handlers.idle_buttons(("a turn",), request)
    at = BUTTONS.index("sweep_run")
    assert idle[at] == gr.skip()  # Run sweep follows its question (ui.page.views.sweep_ready), not the chat's runs
    assert states(idle[:at] + idle[at + 1:], BUTTONS[:at] + BUTTONS[at + 1:])["regenerate"] is True
    no_turns = handlers.idle_buttons((), request)
    assert states(no_turns[:at] + no_turns[at + 1:], BUTTONS[:at] + BUTTONS[at + 1:])["regenerate"] is False


def test_the_banner_gives_its_reason_in_the_page_language():
    from ui.i18n.words import Words
    from ui.page.layout import banner_text

    info = ModelInfo("tiny", is_tiny=True, note=NO_GPU)
    assert banner_text(info, Words("en")).endswith("No GPU was found, so the bundled tiny model is served.")
    chinese = banner_text(info, Words("zh"))
    assert "未检测到 GPU" in chinese and "No GPU" not in chinese
    gpus = ModelInfo("r1v", note=Status("Chosen for 2 GPU(s) with 160 GiB in all.", "note.gpus",
                                        {"count": 2, "gib": "160"}))
    assert banner_text(gpus, Words("zh")).endswith("根据 2 块 GPU（共 160 GiB）选择。")


def test_choose_model_keys_its_reason(monkeypatch):
    import app

    monkeypatch.setattr(app, "gpu_memory_gb", lambda: [])
    spec, note = app.choose_model(None)
    assert spec.is_tiny and note.key == "note.no_gpu"
    monkeypatch.setattr(app, "gpu_memory_gb", lambda: [80.0, 80.0])
    _, note = app.choose_model(None)
    assert note.key == "note.gpus" and note.params == {"count": 2, "gib": "160"}
    assert app.choose_model("tiny")[1] is None


def test_the_page_script_gets_every_accessible_name_in_both_languages():
    from ui.i18n.words import TEXTS
    from ui.page.layout import ARIA_KEYS, page_head

    head = page_head()
    assert "window.r1v" in head and "R1V_NAMES" in head
    for texts in TEXTS.values():
        assert all(texts[key] in head for key in ARIA_KEYS)
