"""Errors raised by compactemb.

Every error that a user can cause (bad files, bad options, unknown keys) subclasses
:class:`CompactEmbError`, so the command line can print it as one line without a traceback.
"""

from __future__ import annotations


class CompactEmbError(Exception):
    """Base class of the errors a user can cause."""


class InputError(CompactEmbError, ValueError):
    """An input file or value is unusable (empty, malformed, wrong encoding, bad option)."""


class FormatError(CompactEmbError, ValueError):
    """A compactemb file is truncated, corrupt, or of an unknown version."""


class UnknownKeyError(CompactEmbError, KeyError):
    """A token or ID is not in the vocabulary."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0]) if self.args else ""


class NotFittedError(CompactEmbError, AttributeError):
    """A model was used before ``fit``."""


class OptionalDependencyError(CompactEmbError, ImportError):
    """An optional dependency is missing; the message names the extra that installs it."""


def require(module: str, extra: str):
    """Import an optional module or raise an error naming the pip extra that provides it.

    Parameters
    ----------
    module : str
        The module's import name (``"matplotlib.pyplot"``).
    extra : str
        The compactemb extra that installs it (``"plot"``).

    Returns
    -------
    module
        The imported module.

    Raises
    ------
    OptionalDependencyError
        When the module cannot be imported.
    """
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise OptionalDependencyError(
            f"{module} is needed for this; install it with: pip install 'compactemb[{extra}]'"
        ) from exc
