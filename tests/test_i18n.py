"""The page in English and Simplified Chinese: complete tables, no untranslated label, the browser's
language picked, the switch relabelling the page, messages in the person's language."""
from __future__ import annotations

import re
import string
from pathlib import Path

import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

from model.events import GenerationOptions
from ui.page.handlers import ModelInfo
from ui.i18n.words import TEXTS, Words, language_of, translate_markers
from ui.page.layout import TRANSLATED_PROPS, build_app, relabelled, translatable
from ui.i18n.en import EN_TEXTS
from ui.i18n.zh import ZH_TEXTS

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = str(ROOT / "assets" / "examples" / "puzzle_count.png")
# Components whose text the server writes at run time (already in the person's language).
RUNTIME_TEXT = {"model-status", "stats-line"}
KEY_USES = re.compile(r"""(?:words|LABEL|EN|self\.words|live\.words|w)\(\s*f?["']([a-z_][\w.]*)["']""")


def fields_of(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def test_every_english_key_has_a_chinese_text_with_the_same_fields():
    assert set(EN_TEXTS) == set(ZH_TEXTS), set(EN_TEXTS) ^ set(ZH_TEXTS)
    for key, english in EN_TEXTS.items():
        assert ZH_TEXTS[key].strip(), key
        assert fields_of(english) == fields_of(ZH_TEXTS[key]), key


def test_every_key_the_code_names_exists():
    sources = list((ROOT / "ui").rglob("*.py")) + list((ROOT / "model").rglob("*.py"))
    used = {key for path in sources for key in KEY_USES.findall(path.read_text(encoding="utf-8"))}
    used |= {key for path in (ROOT / "model").rglob("*.py")
             for key in re.findall(r"""key=["']([a-z_][\w.]*)["']""", path.read_text(encoding="utf-8"))}
    assert len(used) > 40
    assert used <= set(EN_TEXTS), used - set(EN_TEXTS)


@pytest.fixture(scope="module")
def demo():
    return build_app(lambda progress: None, ModelInfo("tiny", is_tiny=True), start_loading=False)


def test_no_visible_text_on_the_page_is_left_untranslated(demo):
    literal = []
    for block in demo.blocks.values():
        if getattr(block, "elem_id", None) in RUNTIME_TEXT or not getattr(block, "visible", True):
            continue
        for name in TRANSLATED_PROPS:
            value = getattr(block, name, None)
            if name == "value" and type(block).__name__ not in ("Markdown", "Button", "HTML"):
                continue
            if isinstance(value, str) and re.search(r"[A-Za-z]{3}", value) and "__i18n__" not in value:
                literal.append((type(block).__name__, name, value[:40]))
    assert not literal


def test_the_switch_rewrites_every_marked_text_in_chinese(demo):
    targets = translatable(demo)
    updates = relabelled(targets, Words("zh"))
    assert len(updates) == len(targets) >= 20
    texts = [text for update in updates for name, text in update.items() if name != "__type__"]
    assert all("__i18n__" not in text for text in texts)
    assert "发送" in texts and "停止" in texts and any("思考预算" in text for text in texts)


@pytest.mark.parametrize("header, lang", [
    ("zh-CN,zh;q=0.9,en;q=0.8", "zh"), ("en-US,en;q=0.9", "en"), ("fr-FR, zh-TW;q=0.5", "zh"),
    ("de-DE", "en"), ("", "en"), (None, "en"), ("en;q=0.2, zh;q=0.8", "zh"), ("zh;q=abc, en", "en"),
])
def test_language_comes_from_accept_language(header, lang):
    assert language_of(header) == lang


def test_markers_are_replaced_and_other_text_kept():
    marked = "# " + str(__import__("ui.i18n.words", fromlist=["LABEL"]).LABEL("title"))
    assert translate_markers(marked, Words("zh")) == "# " + ZH_TEXTS["title"]
    assert translate_markers("plain", Words("zh")) == "plain" and translate_markers(None, Words("zh")) is None


def test_tables_cover_both_languages_only():
    assert set(TEXTS) == {"en", "zh"}


@pytest.fixture(scope="module")
def served(tiny_engine, launch):
    defaults = GenerationOptions.validated(answer_budget=16, max_tiles=2)
    return launch(build_app(tiny_engine, ModelInfo("tiny", is_tiny=True, device="CPU", defaults=defaults)))


def test_messages_follow_the_browsers_language(served):
    chinese = Client(served, verbose=False, headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    english = Client(served, verbose=False, headers={"Accept-Language": "en-GB"})
    for client, words in ((chinese, "温度必须在 0.0 到 2.0 之间"), (english, "Temperature must be between 0.0 and 2.0")):
        with pytest.raises(AppError, match=words):
            client.predict(images=[], question="q", temperature=-1, api_name="/reason")
    message = {"text": "How many red shapes are there?", "files": [handle_file(EXAMPLE)]}
    chatbot, _, stats = chinese.predict(message, 8, False, 16, 0.0, 0.95, 0, 1.05, 2, 1, api_name="/chat")
    assert stats.startswith(("已回答", "思考预算用完后作答", "回答被截断")) and "每秒" in stats
    assert chatbot[-2]["metadata"]["title"].startswith("思考了")
    assert "How many red shapes" in chatbot[-3]["content"][0]["text"]  # the person's own text is untouched


def test_the_sweep_plot_and_table_speak_chinese():
    from model.events import NO_LIMIT, FinishReason
    from ui.page.sweep import SweepRow, sweep_headers, sweep_plot, sweep_table

    rows = [SweepRow(0, "3", 1, 4, 0.2, FinishReason.BUDGET_THEN_ANSWERED),
            SweepRow(NO_LIMIT, "3", 30, 4, 0.9, FinishReason.ANSWERED)]
    words = Words("zh")
    figure = sweep_plot(rows, words)
    assert figure.axes[0].get_title() == "思考预算扫描" and figure.axes[1].get_xlabel() == "思考预算"
    assert [tick.get_text() for tick in figure.axes[1].get_xticklabels()] == ["0", "不限"]
    assert sweep_headers(words)[0] == "思考预算" and sweep_table(rows, words)[1][6] == "参照（最大预算）"


def test_a_refused_image_is_explained_in_chinese_to_a_chinese_browser(served, tmp_path):
    fake = tmp_path / "notes.png"
    fake.write_text("just text")
    chinese = Client(served, verbose=False, headers={"Accept-Language": "zh-CN"})
    with pytest.raises(AppError, match="notes.png 不是可读取的图片。支持的格式"):
        chinese.predict(images=[handle_file(str(fake))], question="这是什么？", api_name="/reason")
    english = Client(served, verbose=False, headers={"Accept-Language": "en"})
    with pytest.raises(AppError, match="notes.png is not a readable image"):
        english.predict(images=[handle_file(str(fake))], question="What is it?", api_name="/reason")


def test_loading_progress_is_worded_in_the_page_language():
    import threading

    from model.events import Status
    from model.local.loader import load
    from model.registry import resolve
    from tests.conftest import wait_until
    from ui.page.handlers import ModelSlot
    from ui.i18n.words import EN

    seen = []
    load(resolve("tiny"), device="cpu", progress=seen.append)
    assert [status.key for status in seen] == ["load.loading"] and seen[0].params["device"] == "CPU"
    gate = threading.Event()

    def factory(progress):
        progress(seen[0])
        gate.wait(10)
        raise RuntimeError("not loading further in this test")

    slot = ModelSlot(factory, ModelInfo("tiny"))
    slot.start()
    wait_until(lambda: slot.progress.key == "load.loading", 10, "the loader's first report")
    assert "正在把 tiny（official 格式）加载到 CPU" in slot.status_markdown(Words("zh"))
    assert "Loading tiny (official format) onto CPU" in slot.status_markdown(EN)
    gate.set()


def test_a_failed_load_is_reported_in_both_languages_and_the_page_keeps_serving():
    from ui.page.handlers import ModelSlot
    from ui.i18n.words import EN

    def factory(progress):
        raise RuntimeError("no weights in /models/x")

    slot = ModelSlot(factory, ModelInfo("x"))
    slot.start()
    assert not slot.wait(10) and slot.error == "no weights in /models/x"
    assert "⚠️ The model could not be loaded: no weights in /models/x" in slot.status_markdown(EN)
    assert "模型无法加载：no weights in /models/x" in slot.status_markdown(Words("zh"))
    assert slot.busy_message(Words("zh")) == "模型无法加载：no weights in /models/x"


def test_no_visitor_message_names_the_model_servers_address():
    """The endpoint is an internal address: the server's log names it, no text a visitor sees does."""
    for table in (EN_TEXTS, ZH_TEXTS):
        named = [key for key, text in table.items() if "endpoint" in fields_of(text)]
        assert named == [], named
