"""The engine's one generation thread (model/local/generation_thread.py): order, outcomes, and a fork."""
from __future__ import annotations

import os
import threading

import pytest

from model.local.generation_thread import GenerationThread


def test_jobs_run_in_order_on_one_thread_and_report_their_outcome():
    runner, order, gate = GenerationThread(), [], threading.Event()
    first = runner.submit(lambda: (gate.wait(10), order.append(("first", threading.get_ident())))[1])
    later = [runner.submit(lambda n=n: order.append((n, threading.get_ident()))) for n in range(5)]
    assert first.is_alive() and all(job.is_alive() for job in later)  # queued behind the first
    gate.set()
    for job in later:
        job.join(10)
    assert [name for name, _ in order] == ["first", 0, 1, 2, 3, 4]
    assert {ident for _, ident in order} == {runner.ident} != {threading.get_ident()}
    assert not first.is_alive() and runner.call(lambda: 41 + 1) == 42
    with pytest.raises(ZeroDivisionError):
        runner.call(lambda: 1 / 0)
    assert runner.call(threading.get_ident) == runner.ident  # a failed job leaves the thread serving


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork here")
def test_a_forked_child_gets_a_thread_of_its_own():
    runner = GenerationThread()
    parent_thread = runner.call(threading.get_ident)
    child = os.fork()
    if child == 0:  # ZeroGPU answers in a forked process, where the parent's thread does not run
        job = runner.submit(lambda: 7)
        job.join(20)
        os._exit(0 if not job.is_alive() and job.result() == 7 else 1)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert runner.call(threading.get_ident) == parent_thread
