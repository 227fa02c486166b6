"""Progress bars: shown on a terminal, silent when output is not a TTY or when quiet."""

from __future__ import annotations

import sys

_QUIET = False


def set_quiet(quiet: bool) -> None:
    """Silence (or re-enable) every progress bar of the process; the CLI's ``--quiet``."""
    global _QUIET
    _QUIET = bool(quiet)


def progress(total=None, desc: str = "", unit: str = "it", quiet: bool | None = None, **kw):
    """Return a tqdm bar writing to stderr, disabled when quiet or stderr is not a terminal."""
    from tqdm.auto import tqdm

    disable = _QUIET if quiet is None else quiet
    disable = disable or not sys.stderr.isatty()
    return tqdm(
        total=total, desc=desc, unit=unit, disable=disable, file=sys.stderr,
        unit_scale=True, dynamic_ncols=True, leave=False, **kw,
    )
