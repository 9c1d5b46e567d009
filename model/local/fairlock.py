"""A first-come, first-served lock that says how many are ahead and can be given up.

`threading.Lock` wakes waiters in no particular order; a demo queue must serve people in the
order they asked. `FairLock.wait_turn(ticket, timeout)` returns True when the ticket's turn has
come, so a caller can poll (and report its place) instead of blocking where it cannot be stopped.
"""
from __future__ import annotations

import itertools
import threading


class FairLock:
    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._tickets = itertools.count()
        self._waiting: list[int] = []  # tickets in arrival order; the first one holds the lock

    def take_ticket(self) -> int:
        with self._cond:
            ticket = next(self._tickets)
            self._waiting.append(ticket)
            return ticket

    def ahead_of(self, ticket: int) -> int:
        with self._cond:
            return self._waiting.index(ticket) if ticket in self._waiting else 0

    def wait_turn(self, ticket: int, timeout: float) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: self._waiting[0] == ticket, timeout=timeout)

    def release(self, ticket: int) -> None:
        """Give up a ticket, whether it holds the lock or is still waiting."""
        with self._cond:
            if ticket in self._waiting:
                self._waiting.remove(ticket)
            self._cond.notify_all()

    @property
    def queue_length(self) -> int:
        with self._cond:
            return len(self._waiting)
