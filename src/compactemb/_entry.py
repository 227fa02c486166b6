"""The console script's entry point: Ctrl-C is caught from the first line, before any import.

This module imports nothing heavy, so the only code that runs before ``main``'s ``try`` is the
interpreter's own start-up. Ctrl-C while numpy, numba or the command modules are being imported
exits 130 with one line, as it does during the work.
"""

from __future__ import annotations

import sys


def _quiet_interrupts(unraisable) -> None:
    """Drop a Ctrl-C that lands in a finalizer, such as llvmlite's while numba compiles.

    The interpreter would print it as "Exception ignored ... Traceback" beside our one line.
    """
    if issubclass(unraisable.exc_type, KeyboardInterrupt):
        return
    sys.__unraisablehook__(unraisable)


def main(argv=None) -> int:
    """Run the ``compactemb`` command line; returns the exit status (130 on Ctrl-C)."""
    sys.unraisablehook = _quiet_interrupts
    try:
        from .cli import main as cli_main

        return cli_main(argv)
    except KeyboardInterrupt:
        return interrupted()


def interrupted() -> int:
    """Print the one-line Ctrl-C note and return 130 (later Ctrl-C presses are ignored)."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second press must not add a traceback
    try:
        sys.stderr.write("compactemb: interrupted (no output file was written)\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass
    return 130


def run() -> None:
    """``compactemb`` executable: exit with :func:`main`'s status, ignoring Ctrl-C at shutdown."""
    try:
        code = main()
    except KeyboardInterrupt:  # between main's return paths and here
        code = interrupted()
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the work is done; shutting down is not optional
    sys.exit(code)
