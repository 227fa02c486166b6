"""The thread helper: portable core count and the one Hogwild runner."""

from __future__ import annotations

import os
import threading
import time

import pytest

from compactemb import _threads
from compactemb._threads import available_cpus, resolve_threads, run_hogwild


def test_cpu_count_follows_affinity_and_falls_back(monkeypatch):
    if hasattr(os, "sched_getaffinity"):
        assert available_cpus() == len(os.sched_getaffinity(0))
        monkeypatch.delattr(os, "sched_getaffinity")  # as on macOS and Windows
    monkeypatch.setattr(os, "process_cpu_count", lambda: 5, raising=False)
    assert available_cpus() == 5
    monkeypatch.delattr(os, "process_cpu_count")  # Python < 3.13
    monkeypatch.setattr(os, "cpu_count", lambda: None)  # "undetermined"
    assert available_cpus() == 1
    assert resolve_threads(None) == 1 and resolve_threads(0) == 1 and resolve_threads(3) == 3


def test_every_worker_runs_once_in_its_own_thread():
    seen: dict[int, str] = {}
    ticks = []

    def work(t):
        time.sleep(0.05)
        seen[t] = threading.current_thread().name

    run_hogwild(work, 4, on_tick=lambda: ticks.append(1), tick_seconds=0.01)
    assert sorted(seen) == [0, 1, 2, 3]
    assert len(set(seen.values())) == 4 and threading.current_thread().name not in seen.values()
    assert ticks  # progress was reported


def test_one_thread_without_progress_runs_in_the_caller():
    names = []
    run_hogwild(lambda t: names.append((t, threading.current_thread().name)), 1)
    assert names == [(0, threading.current_thread().name)]


def test_first_error_is_raised_after_all_workers_stop():
    finished = []
    stop = threading.Event()

    def work(t):
        if t == 1:
            raise ValueError("worker 1 failed")
        while not stop.is_set():  # a multi-job worker checks between jobs
            time.sleep(0.01)
        finished.append(t)

    with pytest.raises(ValueError, match="worker 1 failed"):
        run_hogwild(work, 3, stop=stop, tick_seconds=0.01)
    assert stop.is_set() and sorted(finished) == [0, 2]


def test_interrupt_sets_stop_and_waits_for_workers(monkeypatch):
    stop = threading.Event()
    finished = []

    def work(t):
        stop.wait(5)
        finished.append(t)

    def interrupt():
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_hogwild(work, 2, on_tick=interrupt, stop=stop, tick_seconds=0.01)
    assert stop.is_set() and sorted(finished) == [0, 1]
    assert not any(th.name.startswith("compactemb-hogwild") for th in threading.enumerate())


def test_numba_threads_restores_the_setting():
    numba = pytest.importorskip("numba")
    before = numba.get_num_threads()
    with _threads.numba_threads(1) as used:
        assert used == 1 == numba.get_num_threads()
    assert numba.get_num_threads() == before
