"""Scratch folders of the trainers (token caches).

One prefix, removed on exit and on SIGTERM; those left by dead processes (kill -9) are removed by
the next trainer.

A scratch folder is named ``compactemb-scratch-<pid>-<what>-<random>`` in the temporary
directory (or the trainer's ``cache_dir``), so the process that owns it can be checked.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import tempfile
import threading

PREFIX = "compactemb-scratch-"
_LIVE: set[str] = set()
_LOCK = threading.Lock()
_INSTALLED = False


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True  # someone else's live process (or not a pid): leave its files alone
    return True


def dead_owner_names(directory: str, prefix: str) -> list[str]:
    """Names in ``directory`` of the form ``<prefix><pid>-...`` whose process ``pid`` is gone.

    An unreadable ``directory`` gives an empty list.
    """
    try:
        names = os.listdir(directory)
    except OSError:
        return []
    dead = []
    for name in names:
        if not name.startswith(prefix):
            continue
        pid = name[len(prefix):].split("-", 1)[0]
        if pid.isdigit() and len(pid) <= 9 and not _pid_alive(int(pid)):
            dead.append(name)
    return dead


def remove_stale(directory: str | None = None) -> list[str]:
    """Remove scratch folders whose owning process is gone.

    They are looked for in ``directory`` (default: the temporary directory). Returns the removed
    paths.

    Parameters
    ----------
    directory : str, optional

    Returns
    -------
    list of str

    Examples
    --------
    >>> isinstance(remove_stale(), list)
    True
    """
    directory = directory or tempfile.gettempdir()
    removed: list[str] = []
    for name in dead_owner_names(directory, PREFIX):
        path = os.path.join(directory, name)
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
    return removed


def _remove_live() -> None:
    with _LOCK:
        paths = list(_LIVE)
        _LIVE.clear()
    for path in paths:
        shutil.rmtree(path, ignore_errors=True)


def _on_sigterm(signum, frame):
    _remove_live()
    raise SystemExit(128 + signum)  # unwinds: atomic writes remove their temporary files too


def install_sigterm_cleanup() -> None:
    """Make SIGTERM unwind the program (exit 143) so scratch folders and temporary files go.

    Unless the application installed its own handler. Main thread only.
    """
    global _INSTALLED
    if _INSTALLED or threading.current_thread() is not threading.main_thread():
        return
    try:
        if signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):
            signal.signal(signal.SIGTERM, _on_sigterm)
        _INSTALLED = True
    except (ValueError, OSError):  # not the main interpreter
        pass


@contextlib.contextmanager
def scratch_dir(what: str, directory: str | None = None):
    """A fresh scratch folder for the duration of the block, removed afterwards.

    It is removed whatever happens (an error, Ctrl-C, SIGTERM, interpreter exit); stale folders of
    dead processes in the same place are removed first.

    Parameters
    ----------
    what : str
        A short name of the user, e.g. ``"w2v"``.
    directory : str, optional
        Where to create it (default: the temporary directory).

    Yields
    ------
    str
        The folder's path.

    Examples
    --------
    >>> with scratch_dir("doc") as d:
    ...     os.path.isdir(d)
    True
    """
    path = make_scratch(what, directory)
    try:
        yield path
    finally:
        remove_scratch(path)


def make_scratch(what: str, directory: str | None = None) -> str:
    """Create a scratch folder (see :func:`scratch_dir`); pair with :func:`remove_scratch`."""
    remove_stale(directory)
    install_sigterm_cleanup()
    path = tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-{what}-", dir=directory)
    with _LOCK:
        _LIVE.add(path)
    return path


def remove_scratch(path: str) -> None:
    """Remove a folder made by :func:`make_scratch`."""
    with _LOCK:
        _LIVE.discard(path)
    shutil.rmtree(path, ignore_errors=True)


atexit.register(_remove_live)
