"""``python -m compactemb.distributed._launch start ...``: Ray's own ``ray`` command.

The node address is kept on loopback when it is given as 127.0.0.1 (see :func:`pin_loopback`).

On Linux the node also ends with the process that started it: SIGTERM (sent by
:meth:`LocalCluster.stop`, or by the kernel when the parent dies, e.g. a test run killed by a
timeout) ends every process under it, by pid, so no raylet or GCS outlives its cluster.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import sys
import time

from ._cluster import _children, pin_loopback


def _descendants() -> list[int]:
    tree = _children()
    todo, out = list(tree.get(os.getpid(), [])), []
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(tree.get(pid, []))
    return out


def _end_tree(signum, frame) -> None:
    """End this process's tree on SIGTERM that comes before Ray's node is up.

    Ray then installs its own handler, which ends the node's processes the same way and exits.
    """
    pids = _descendants()
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            with contextlib.suppress(OSError):
                os.kill(pid, sig)
        time.sleep(1.0)
    sys.exit(0)


def _remove_temp_dir() -> None:
    temp_dir = _option("--temp-dir")
    if "--head" in sys.argv and temp_dir and os.path.basename(temp_dir).startswith("cemb-ray-"):
        for _ in range(3):  # a LocalCluster's own dir; the other nodes may still write there
            shutil.rmtree(temp_dir, ignore_errors=True)
            time.sleep(1.0)


def _option(name: str) -> str | None:
    args = sys.argv
    for i, arg in enumerate(args):
        if arg == name and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return None


def _die_with_parent() -> None:
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


if __name__ == "__main__":
    atexit.register(_remove_temp_dir)
    signal.signal(signal.SIGTERM, _end_tree)
    _die_with_parent()
    pin_loopback()
    from ray.scripts.scripts import main

    sys.argv = ["ray", *sys.argv[1:]]
    main()
