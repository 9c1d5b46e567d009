"""What every view of the page shares, built once by the composition root (`app.py`; `build_app`
for the tests, which start the app as `python app.py` does).

`Services.create(engine_or_factory, info, ...)` builds: the model slot with its admission, rate
limit, request log, sessions and languages (`ui.serving.shared.Serving`), the history options, the
share links' store and the turns' signer, the verdict and vote stores, the Compare tab's second
backend, and the page's own defaults (frames per second, "Keep thinking open", per session). Each
view takes this one object beside its own components; nothing here builds or draws a component.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Union

from ui.i18n.words import Words
from ui.serving.sessions import SessionChoice
from ui.serving.shared import Engine, EngineFactory, ModelInfo, ModelSlot, Serving, ServingPolicy
from ui.store.feedback import VerdictStore
from ui.store.history import SHARE_KEY_FILE, HistoryOptions, kept_secret
from ui.store.share import ShareLimits, ShareStore
from ui.store.signing import TurnSigner
from ui.store.votes import VoteStore


@dataclass
class Services:
    """The one object the composition root hands to each view."""

    serving: Serving
    history: HistoryOptions
    shares: ShareStore | None  # None with --no-share-links
    signer: TurnSigner
    verdicts: VerdictStore
    votes: VoteStore
    keep_open: SessionChoice  # the page's "Keep thinking open" box, per session
    compare_engine: Engine | None = None  # column B of the Compare tab (--compare-endpoint)
    max_updates_per_s: float = 15.0

    @classmethod
    def create(cls, engine: Union[Engine, EngineFactory], info: ModelInfo, *, policy: ServingPolicy | None = None,
               history: HistoryOptions | None = None, compare_engine: Engine | None = None,
               max_updates_per_s: float = 15.0, keep_thinking_open: bool = False) -> "Services":
        history = history or HistoryOptions.from_env()
        shares = ShareStore(history.folder / "shares", ShareLimits.from_env()) if history.share_links else None
        signer = TurnSigner(history.share_key or kept_secret(history.folder, SHARE_KEY_FILE))
        return cls(serving=Serving(ModelSlot(engine, info), policy), history=history, shares=shares, signer=signer,
                   verdicts=VerdictStore(history.folder, history.feedback),
                   votes=VoteStore(history.folder, history.feedback), keep_open=SessionChoice(keep_thinking_open),
                   compare_engine=compare_engine, max_updates_per_s=max_updates_per_s)

    @property
    def slot(self) -> ModelSlot:
        return self.serving.slot

    @property
    def info(self) -> ModelInfo:
        return self.serving.slot.info

    def words(self, request: Any) -> Words:
        """The words of the request's page language."""
        return self.serving.languages.words(request)
