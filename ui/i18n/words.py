"""The page's words in English and Simplified Chinese, and which language each person sees.

- `TEXTS[lang][key]` holds every visible string; templates take `str.format` fields.
- `Words(lang)` formats a key for server-side text (messages, titles, the stats line);
  `Words.message(item)` words a model `Status`/`Error` event or a `UserFacingError` by its key,
  falling back to its English text.
- `i18n()` is the same table as a `gr.I18n` for Gradio's own translation of static labels, which
  follows the browser's language; `LABEL(key)` marks a static label for it.
- `translate_markers(text, words)` replaces Gradio's i18n markers in a label with `words`' text, so
  the language switch can relabel the page from the server.
- `language_of(accept_language)` picks "zh" or "en" from the browser's Accept-Language header.
The model's own output is never translated.
"""
from __future__ import annotations

import json
import re
from typing import Any

from ui.i18n.en import EN_TEXTS
from ui.i18n.zh import ZH_TEXTS

LANGUAGES = {"en": "English", "zh": "中文"}
TEXTS: dict[str, dict[str, str]] = {"en": EN_TEXTS, "zh": ZH_TEXTS}
DEFAULT_LANGUAGE = "en"
_MARKER = re.compile(r"__i18n__(\{.*?\})")


class Words:
    """One language's texts: `words(key, field=value)`."""

    def __init__(self, lang: str | None = DEFAULT_LANGUAGE):
        self.lang = lang if lang in TEXTS else DEFAULT_LANGUAGE

    def __call__(self, key: str, **fields: Any) -> str:
        template = TEXTS[self.lang].get(key) or EN_TEXTS[key]
        return template.format(**fields) if fields else template

    def message(self, item: Any) -> str:
        """A model message (an event with `message`, or an exception) in this language by its `key` and
        `params`; the model's own English text when the page is in English or the key is unknown."""
        english = item.message if hasattr(item, "message") else str(item)
        key, params = getattr(item, "key", None), getattr(item, "params", None)
        if key and key in EN_TEXTS and self.lang != "en":
            params = dict(params or {})
            if "setting" in params:  # a setting's name in this language
                name_key = f"setting.{params['setting']}"
                params["setting_label"] = self(name_key) if name_key in EN_TEXTS else params["setting"]
            try:
                return self(key, **params)
            except (KeyError, IndexError, ValueError):
                return english
        return english


EN = Words("en")


def i18n():
    """The tables for Gradio's frontend (zh also under zh-CN, the tag most browsers send)."""
    import gradio as gr

    return gr.I18n(en=EN_TEXTS, zh=ZH_TEXTS, **{"zh-CN": ZH_TEXTS})


def LABEL(key: str):  # noqa: N802 - reads like a constant in layouts
    """A static label Gradio translates in the browser."""
    if key not in EN_TEXTS:
        raise KeyError(f"no text for {key!r}")
    from gradio.i18n import I18nData

    return I18nData(key)


def translate_markers(text: Any, words: Words) -> Any:
    """`text` with every Gradio i18n marker replaced by `words`' text; non-strings as they are."""
    if not isinstance(text, str) or "__i18n__" not in text:
        return text

    def replace(match: re.Match) -> str:
        try:
            return words(json.loads(match.group(1))["key"])
        except (ValueError, KeyError):
            return match.group(0)

    return _MARKER.sub(replace, text)


def language_of(accept_language: str | None) -> str:
    """The first of our languages in an Accept-Language header, by its q-weights; English if none."""
    ranked = []
    for position, part in enumerate((accept_language or "").split(",")):
        tag, _, q = part.strip().partition(";q=")
        try:
            weight = float(q) if q else 1.0
        except ValueError:
            weight = 0.0
        ranked.append((-weight, position, tag.strip().lower().split("-")[0]))
    for _, _, primary in sorted(ranked):
        if primary in TEXTS:
            return primary
    return DEFAULT_LANGUAGE
