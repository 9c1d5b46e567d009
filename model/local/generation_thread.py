"""One long-lived thread that runs every generation of an engine, in the order handed to it.

Why one thread: with `torch.compile(mode="reduce-overhead")` inductor records CUDA graphs through its
cudagraph trees, which keep one tree manager per device *per thread* (thread-local state in
`torch/_inductor/cudagraph_trees.py`). Graphs recorded while warming up on one thread are not
replayed on another: each new thread would record them again (and hold its own graph memory pool).
So the warm-up at load and every answer afterwards run here, on the same thread.

`GenerationThread.submit(fn, *args) -> Job` queues a call; `Job` answers `join(timeout)`,
`is_alive()` (as a `threading.Thread` does, for the call rather than the thread) and `result()`.
`call(fn, *args)` submits and waits, re-raising the call's exception. The thread is a daemon, so a
server can exit mid-answer (`concurrent.futures.ThreadPoolExecutor` joins its workers at exit, which
would hold the process until the answer ends). After a fork (ZeroGPU runs each answer in a forked
process, where the parent's thread does not exist) a fresh thread is started in the child.
"""
from __future__ import annotations

import os
import queue
import threading
from typing import Any, Callable


class Job:
    """One queued call: waited on like a thread, its outcome kept."""

    def __init__(self, fn: Callable[..., Any], args: tuple):
        self._fn, self._args = fn, args
        self._done = threading.Event()
        self._value: Any = None
        self._error: BaseException | None = None

    def run(self) -> None:
        try:
            self._value = self._fn(*self._args)
        except BaseException as error:  # noqa: BLE001 - handed to whoever waits on the job
            self._error = error
        finally:
            self._done.set()

    def join(self, timeout: float | None = None) -> None:
        self._done.wait(timeout)

    def is_alive(self) -> bool:
        return not self._done.is_set()

    def result(self) -> Any:
        self._done.wait()
        if self._error is not None:
            raise self._error
        return self._value


class GenerationThread:
    def __init__(self, name: str = "generate"):
        self.name = name
        self._lock = threading.Lock()
        self._jobs: "queue.Queue[Job]" = queue.Queue()
        self._thread: threading.Thread | None = None
        self._pid = 0

    @property
    def ident(self) -> int | None:
        """The running thread's id (None before the first job)."""
        return self._thread.ident if self._thread is not None else None

    def submit(self, fn: Callable[..., Any], *args: Any) -> Job:
        job = Job(fn, args)
        with self._lock:
            if self._thread is None or self._pid != os.getpid() or not self._thread.is_alive():
                self._start()
            self._jobs.put(job)
        return job

    def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        return self.submit(fn, *args).result()

    def _start(self) -> None:
        self._jobs, self._pid = queue.Queue(), os.getpid()  # a forked child must not wait on the parent's
        self._thread = threading.Thread(target=self._serve, args=(self._jobs,), name=self.name, daemon=True)
        self._thread.start()

    @staticmethod
    def _serve(jobs: "queue.Queue[Job]") -> None:
        while True:
            jobs.get().run()
