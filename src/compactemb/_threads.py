"""Threads: how many cores this process may use, and one runner for Hogwild training.

The Hogwild trainers (word2vec, the classifier, BPR) start ``n`` Python threads, each running a
numba job compiled with ``nogil=True``, so the threads run truly in parallel and update shared
weights without locks. :func:`run_hogwild` is the one place that starts them, reports progress,
re-raises the first error of a worker, and stops the workers on Ctrl-C.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable


def available_cpus() -> int:
    """Cores this process may run on.

    The affinity mask where the platform has one (Linux: it honours ``taskset`` and cgroup
    cpusets), else ``os.process_cpu_count`` (Python 3.13+), else ``os.cpu_count``; at least 1.
    """
    if hasattr(os, "sched_getaffinity"):
        try:
            return max(1, len(os.sched_getaffinity(0)))
        except OSError:  # some sandboxes refuse the call
            pass
    count = getattr(os, "process_cpu_count", os.cpu_count)()
    return max(1, int(count or 1))


def resolve_threads(n_threads: int | None) -> int:
    """``n_threads`` itself, or every available core for None or 0."""
    return available_cpus() if not n_threads else max(1, int(n_threads))


def run_hogwild(work: Callable[[int], object], n_threads: int, *,
                on_tick: Callable[[], object] | None = None, tick_seconds: float = 0.1,
                stop: threading.Event | None = None) -> None:
    """Run ``work(t)`` for t in ``range(n_threads)``, each in its own thread, and wait.

    Parameters
    ----------
    work : callable
        ``work(t)``; meant to call a ``nogil`` numba job so the threads run in parallel.
    n_threads : int
        With 1 and no ``on_tick``, ``work(0)`` runs in the calling thread (easy to debug).
    on_tick : callable, optional
        Called every ``tick_seconds`` while the workers run (progress bars), and once at the end.
    stop : threading.Event, optional
        Set when a worker fails or on KeyboardInterrupt; workers that run in several jobs
        check it between jobs to finish early (a numba job itself cannot be interrupted).

    Raises
    ------
    BaseException
        The first exception raised by a worker, after every worker has finished; a
        KeyboardInterrupt in the calling thread is re-raised once the workers have stopped.
    """
    stop = stop if stop is not None else threading.Event()
    if n_threads <= 1 and on_tick is None:
        work(0)
        return
    n_threads = max(1, n_threads)
    errors: list[BaseException] = []
    lock = threading.Lock()

    def run(t: int) -> None:
        try:
            work(t)
        except BaseException as exc:  # noqa: BLE001 - handed to the calling thread
            with lock:
                errors.append(exc)
            stop.set()

    threads = [threading.Thread(target=run, args=(t,), name=f"compactemb-hogwild-{t}",
                                daemon=True) for t in range(n_threads)]
    try:
        for th in threads:
            th.start()
        for th in threads:
            while th.is_alive():
                th.join(tick_seconds)
                if on_tick is not None:
                    on_tick()
    except BaseException:
        stop.set()
        for th in threads:
            th.join()
        raise
    if on_tick is not None:
        on_tick()
    if errors:
        raise errors[0]


class numba_threads:  # noqa: N801 - used as a function in ``with``
    """Run parallel numba kernels with ``n_threads`` threads, restoring the setting on exit.

    None means every available core, capped by numba's pool. ``as`` gives the count used.

    With the NumPy twins selected (``compactemb._native``) numba is not imported and the count
    is just :func:`resolve_threads`.
    """

    def __init__(self, n_threads: int | None):
        self.n_threads = n_threads
        self.previous: int | None = None

    def __enter__(self) -> int:
        from ._native import native

        n = resolve_threads(self.n_threads)
        if not native():
            return n
        import numba

        self.previous = numba.get_num_threads()
        numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
        return numba.get_num_threads()

    def __exit__(self, *exc) -> None:
        if self.previous is not None:
            import numba

            numba.set_num_threads(self.previous)
            self.previous = None
