"""One composition root: `python app.py` builds one `Services` and hands it to every view.

- `app.main` builds the services once from its flags (policy, data folder, share links, feedback,
  "Keep thinking open") and passes them to `build_page`, whose Blocks is what `serve` launches.
- Every handler the page registers works on that one `Serving` (model slot, sessions, languages,
  rate limit, request log), `/reason` and the MCP tool included; no handler object holds another
  view's handlers (no hub).
"""
from __future__ import annotations

import inspect

import pytest

import app
from ui.page.handlers import ModelInfo
from ui.page.layout import build_page
from ui.page.services import Services
from ui.store.history import HistoryOptions


class Served(Exception):
    """Raised by the stand-in for `serve`, so `main` ends there."""


def test_main_builds_one_services_from_its_flags_and_serves_the_page_built_on_it(monkeypatch, tmp_path):
    built, served = [], []

    def build(services, **options):
        built.append((services, options))
        return object()

    def serve(demo, **options):
        served.append(demo)
        raise Served

    monkeypatch.setenv("R1V_DATA_DIR", str(tmp_path))
    monkeypatch.setattr(app, "build_page", build)
    monkeypatch.setattr(app, "serve", serve)
    with pytest.raises(Served):
        app.main(["--model", "tiny", "--feedback", "off", "--no-share-links", "--rate-limit", "3",
                  "--keep-thinking-open", "--max-queue", "7"])
    [(services, options)] = built
    assert isinstance(services, Services) and served == [served[0]]
    assert services.history.folder == tmp_path and services.shares is None
    assert not services.verdicts.enabled and not services.votes.enabled
    assert services.serving.policy.rate_limit_per_minute == 3 and services.keep_open.default is True
    assert services.info.name == "tiny" and options["max_queue"] == 7


def handler_owners(demo) -> list[object]:
    """The objects whose bound methods the page registered as event functions."""
    owners = {id(fn.fn.__self__): fn.fn.__self__ for fn in demo.fns.values()
              if inspect.ismethod(getattr(fn, "fn", None))}
    return list(owners.values())


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    services = Services.create(object(), ModelInfo("tiny", is_tiny=True),
                               history=HistoryOptions(folder=tmp_path_factory.mktemp("data"), secret="s"))
    return services, build_page(services, start_loading=False)


def test_every_handler_of_the_page_works_on_the_one_serving(page):
    services, demo = page
    owners = handler_owners(demo)
    kinds = {type(owner).__name__ for owner in owners}
    assert {"ChatHandlers", "ViewHandlers", "HistoryView", "CompareHandlers", "Verdicts"} <= kinds
    for owner in owners:
        serving = getattr(owner, "serving", None)
        assert serving is None or serving is services.serving, type(owner).__name__
    assert demo.http.tool.reason.serving is services.serving  # /reason and the MCP tool


def test_no_handler_object_holds_another_views_handlers(page):
    services, demo = page
    owners = [owner for owner in handler_owners(demo) if owner is not services.serving]  # shared by all
    for owner in owners:
        held = [name for name, value in vars(owner).items() if any(value is other for other in owners)]
        assert held == [], f"{type(owner).__name__} holds {held}"
