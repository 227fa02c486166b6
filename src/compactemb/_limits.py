"""Checks that an allocation sized by a number from a file or the command line fits.

They run before the allocation, so the error names the real cause instead of a bare MemoryError.
"""

from __future__ import annotations

import os

from .exceptions import InputError


def available_memory() -> int | None:
    """Bytes of memory available to a new allocation (Linux: MemAvailable), or None."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _size(n: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB", "TB"):
        if n < 1024 or unit == "TB":
            return f"{n:,.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"  # pragma: no cover


def check_memory(nbytes: int, cause: str) -> None:
    """Refuse an allocation of ``nbytes`` that cannot fit in the available memory.

    Parameters
    ----------
    nbytes : int
        What the operation is about to allocate.
    cause : str
        What sized it, for the message (e.g. ``"the table's 134,217,728 rows"``).

    Raises
    ------
    InputError
        ``"<cause> need <size>, only <size> of memory is available"``.

    Examples
    --------
    >>> check_memory(1024, "a small table")
    >>> check_memory(1 << 62, "a table claiming 2^60 rows")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    compactemb.exceptions.InputError: a table claiming 2^60 rows need 4194304.0 TB, only ...
    """
    avail = available_memory()
    if avail is not None and nbytes > avail:
        raise InputError(f"{cause} need {_size(nbytes)}, only {_size(avail)} of memory is "
                         "available")
