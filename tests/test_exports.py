"""Transcript exports are written after every answer; a long-running server must not keep them all."""
from __future__ import annotations

from model.events import FinishReason
from ui.handlers import MAX_EXPORT_DIRS, Handlers, ModelInfo, ModelSlot
from ui.render import TurnRecord


class _NoEngine:
    def stream(self, request):
        return iter(())


def test_export_folders_are_bounded():
    handlers = Handlers(ModelSlot(_NoEngine(), ModelInfo(name="test")))
    record = TurnRecord("Q?", (), "thought", "answer $x^2$", 3, 0.5, False, FinishReason.ANSWERED)
    every_folder = []
    for _ in range(MAX_EXPORT_DIRS + 10):
        handlers.exports((record,))
        every_folder.append(handlers._export_dirs[-1])
    kept = [folder for folder in every_folder if folder.exists()]
    assert kept == every_folder[-MAX_EXPORT_DIRS:]
    assert (kept[-1] / "r1v-transcript.html").read_text().count("x^2") >= 1
