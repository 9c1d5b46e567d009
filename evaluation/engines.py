"""The engine and the settings the page would use, built by app.py's own factories.

`build(model, backend, endpoint, ...) -> (engine, defaults, model_name)`: "local" loads `model`
(registry name, Hub id or folder; default the bundled tiny model) through `app.engine_factory`
(loader, fast path, max seconds); "openai" connects `app.remote_engine_factory`'s RemoteEngine to
`endpoint`. `defaults` are `served_defaults` of the model: where the page's sliders start.
"""
from __future__ import annotations

import argparse
import sys
from typing import Any

from model.events import GenerationOptions


def _progress(message: Any) -> None:
    print(getattr(message, "message", message), file=sys.stderr, flush=True)


def build(model: str, backend: str = "local", endpoint: str | None = None, max_seconds: float = 600,
          timeout: float = 60, budget_mode: str = "auto", quantization: str = "",
          fast_path: str = "auto") -> tuple[Any, GenerationOptions, str]:
    import app  # the composition root: the same factories `python app.py` uses

    if backend == "openai":
        flags = argparse.Namespace(endpoint=endpoint, model=model, timeout=timeout, max_seconds=max_seconds,
                                   budget_mode=budget_mode)
        info = app.remote_info(flags)
        return app.remote_engine_factory(flags)(_progress), info.defaults, info.name
    from ui.serving.settings import served_defaults

    spec, _ = app.choose_model(model)
    engine = app.engine_factory(spec, max_seconds, quantization, fast_path)(_progress)
    return engine, served_defaults(spec), spec.name
