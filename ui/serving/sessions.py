"""Per browser session: the running answer's Stop flag, and the language chosen with the switch.

- `SessionRuns`: at most one running answer (or sweep) per session; `stop(session)` sets its flag.
- `SessionLanguages`: the language a session picked, else the browser's (Accept-Language); at most
  `max_sessions` choices are kept, the oldest forgotten first.
- `SessionChoice`: a yes/no page setting a session picked (e.g. "Keep thinking open"), else the default.
- `session_of(request)`: Gradio's session hash, or None outside a page session.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

from ui.i18n.words import Words, language_of


def session_of(request: Any) -> str | None:
    return getattr(request, "session_hash", None)


class SessionRuns:
    """One running answer per browser session, and the Stop flag of each."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stops: dict[str, threading.Event] = {}

    def begin(self, session: str) -> threading.Event | None:
        with self._lock:
            if session in self._stops:
                return None
            self._stops[session] = threading.Event()
            return self._stops[session]

    def end(self, session: str, stop: threading.Event) -> None:
        with self._lock:
            if self._stops.get(session) is stop:
                del self._stops[session]

    def running(self, session: str) -> bool:
        with self._lock:
            return session in self._stops

    def stop(self, session: str) -> bool:
        with self._lock:
            stop = self._stops.get(session)
        if stop is not None:
            stop.set()
        return stop is not None


class SessionLanguages:
    """The language each session picked with the switch; else the browser's (Accept-Language).
    At most `max_sessions` choices are kept, the oldest forgotten first."""

    def __init__(self, max_sessions: int = 10_000):
        self.max_sessions = max_sessions
        self._chosen: OrderedDict[str, str] = OrderedDict()
        self._lock = threading.Lock()

    def choose(self, request: Any, lang: str) -> None:
        session = session_of(request)
        if not session:
            return
        with self._lock:
            self._chosen.pop(session, None)
            self._chosen[session] = lang
            while len(self._chosen) > self.max_sessions:
                self._chosen.popitem(last=False)

    def lang(self, request: Any) -> str:
        with self._lock:
            chosen = self._chosen.get(session_of(request) or "")
        headers = getattr(request, "headers", None) or {}
        return chosen or language_of(headers.get("accept-language"))

    def words(self, request: Any) -> Words:
        return Words(self.lang(request))


class SessionChoice:
    """One yes/no page setting per session (e.g. "Keep thinking open"), else `default`; at most
    `max_sessions` choices are kept, the oldest forgotten first."""

    def __init__(self, default: bool, max_sessions: int = 10_000):
        self.default, self.max_sessions = default, max_sessions
        self._chosen: OrderedDict[str, bool] = OrderedDict()
        self._lock = threading.Lock()

    def choose(self, request: Any, value: bool) -> None:
        session = session_of(request)
        if not session:
            return
        with self._lock:
            self._chosen.pop(session, None)
            self._chosen[session] = bool(value)
            while len(self._chosen) > self.max_sessions:
                self._chosen.popitem(last=False)

    def get(self, request: Any) -> bool:
        with self._lock:
            return self._chosen.get(session_of(request) or "", self.default)
