"""Per-IP rate limit for the endpoints that run the model.

`RateLimiter(per_minute)` keeps, per client address, the start times of its requests in the last
60 s; `check(address)` records a request and returns 0 when it may go on, else the seconds until
it may. `per_minute=0` turns the limit off. At most `max_clients` addresses are remembered (the
least recently seen is forgotten first), so a flood of addresses cannot grow memory without bound.
`client_address(request, trust_forwarded)` is the address to count: the `X-Forwarded-For` client
when the app runs behind a proxy it trusts (Hugging Face Spaces), else the socket's peer.
Gradio has no rate limit of its own (its queue limits concurrency, not requests per person).
"""
from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from typing import Any, Callable

WINDOW_S = 60.0


class RateLimiter:
    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic, max_clients: int = 10_000):
        self.per_minute, self.clock, self.max_clients = per_minute, clock, max_clients
        self._recent: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.per_minute > 0

    def check(self, address: str) -> float:
        """0 if this request may run (and it is counted), else seconds to wait."""
        if not self.enabled:
            return 0.0
        now = self.clock()
        with self._lock:
            times = self._times(address)
            while times and now - times[0] >= WINDOW_S:
                times.popleft()
            if len(times) >= self.per_minute:
                return max(0.1, WINDOW_S - (now - times[0]))
            times.append(now)
            return 0.0

    def _times(self, address: str) -> deque[float]:
        times = self._recent.pop(address, None) or deque()
        self._recent[address] = times
        while len(self._recent) > self.max_clients:
            self._recent.popitem(last=False)
        return times


def client_address(request: Any, trust_forwarded: bool) -> str:
    headers = getattr(request, "headers", None) or {}
    forwarded = headers.get("x-forwarded-for", "") if trust_forwarded else ""
    if forwarded:
        return forwarded.split(",")[0].strip()
    client = getattr(request, "client", None)
    return getattr(client, "host", None) or "unknown"
