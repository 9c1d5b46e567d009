"""ZeroGPU: with a stand-in `spaces` module and SPACES_ZERO_GPU set, importing the app loads the
model at module level and every answer runs through the `@spaces.GPU` function, with arguments and
yields that pickle (ZeroGPU runs it in a forked process)."""
from __future__ import annotations

import importlib
import importlib.machinery
import pickle
import sys
import threading
import types

import pytest

from model.events import AnswerDelta, Done, FinishReason, GenerationOptions, Request, ThinkingDelta
from tests.helpers import tiny_folder  # noqa: F401 (fixtures)
from tests.test_engine import png
from ui.serving.zerogpu import MAX_SECONDS, enabled, gpu_seconds


class StandInSpaces(types.ModuleType):
    """Records each decorated call; checks what ZeroGPU would pickle."""

    def __init__(self):
        super().__init__("spaces")
        self.__spec__ = importlib.machinery.ModuleSpec("spaces", None)
        self.calls: list[int] = []

    def GPU(self, duration):  # noqa: N802 - the real API's name
        def decorate(function):
            def on_gpu(*args):
                pickle.dumps(args)
                self.calls.append(duration(*args))
                for item in function(*args):
                    pickle.dumps(item)
                    yield item
            return on_gpu
        return decorate


@pytest.fixture
def zero_gpu_app(monkeypatch, tiny_folder):
    spaces = StandInSpaces()
    monkeypatch.setitem(sys.modules, "spaces", spaces)
    monkeypatch.setenv("SPACES_ZERO_GPU", "1")
    monkeypatch.setenv("R1V_MODEL", str(tiny_folder))
    sys.modules.pop("app", None)
    app = importlib.import_module("app")
    yield app, spaces
    sys.modules.pop("app", None)


def test_nothing_happens_without_the_variable(monkeypatch):
    monkeypatch.delenv("SPACES_ZERO_GPU", raising=False)
    assert not enabled()


def test_generation_runs_inside_the_gpu_function(zero_gpu_app):
    app, spaces = zero_gpu_app
    assert app.ZERO_GPU_ENGINE is not None  # loaded at import, as ZeroGPU requires
    image, question = png(1)
    options = GenerationOptions.validated(temperature=0, thinking_budget=64, answer_budget=32, max_tiles=4)
    events = list(app.ZERO_GPU_ENGINE.stream(Request(question, (image,), options=options, stop=threading.Event())))
    assert spaces.calls == [gpu_seconds(Request(question, options=options))]
    assert any(isinstance(e, ThinkingDelta) for e in events) and any(isinstance(e, AnswerDelta) for e in events)
    assert isinstance(events[-1], Done)
    fast = app.ZERO_GPU_ENGINE.engine.fast  # the static caches, without torch.compile (not on ZeroGPU)
    assert fast is not None and not fast.compile and fast._caches


def test_stop_is_honoured_outside_the_forked_call(zero_gpu_app):
    app, _ = zero_gpu_app
    stop = threading.Event()
    image, question = png(2)
    options = GenerationOptions.validated(temperature=0, min_thinking=200, answer_budget=32, max_tiles=4)
    events = []
    for event in app.ZERO_GPU_ENGINE.stream(Request(question, (image,), options=options, stop=stop)):
        events.append(event)
        if isinstance(event, ThinkingDelta):
            stop.set()
    assert events[-1] == Done(FinishReason.STOPPED)
    assert sum(isinstance(e, ThinkingDelta) for e in events) == 1


def test_gpu_duration_grows_with_the_budgets_and_is_capped():
    short = gpu_seconds(Request("q", options=GenerationOptions.validated(thinking_budget=0, answer_budget=64)))
    long = gpu_seconds(Request("q", options=GenerationOptions.validated(thinking_budget=4096, answer_budget=1024)))
    unlimited = gpu_seconds(Request("q", options=GenerationOptions.validated(thinking_budget=-1)))
    assert short < long <= unlimited == MAX_SECONDS
