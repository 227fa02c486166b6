"""Private switch between the numba kernels and their NumPy twins (implicit's ``use_native``).

Every kernel module ``<package>._<name>_kernels`` has a twin module ``<package>._<name>_twins``
with the same function names and signatures, written in plain NumPy. API code fetches its
kernels through :func:`kernels`, so ``use_native(False)`` makes every call that follows run the
twins: for debugging a kernel, or to compare the two (tests/test_kernel_twins.py). The twins
are slow; they exist to be obviously correct, not to be used in production.

``use_native`` works as a call (the setting stays) or as a context manager (restored on exit)::

    with use_native(False):
        table.lookup(ids)        # NumPy twin of the lookup kernel
"""

from __future__ import annotations

import importlib
from types import ModuleType

_native = True


class use_native:  # noqa: N801 - reads as a function, as implicit's keyword does
    """Select the numba kernels (True, the default) or their NumPy twins (False)."""

    def __init__(self, enabled: bool = True):
        global _native
        self.previous = _native
        _native = bool(enabled)

    def __enter__(self) -> use_native:
        return self

    def __exit__(self, *exc) -> None:
        global _native
        _native = self.previous


def native() -> bool:
    """Whether API calls run the numba kernels (else the NumPy twins)."""
    return _native


def twin_name(kernel_module: str) -> str:
    """``pkg._x_kernels`` -> ``pkg._x_twins``."""
    if not kernel_module.endswith("_kernels"):
        raise ValueError(f"{kernel_module!r} is not a kernel module (name ending in _kernels)")
    return kernel_module[: -len("_kernels")] + "_twins"


def kernels(kernel_module: str) -> ModuleType:
    """The kernel module named ``kernel_module`` (absolute dotted name), or its NumPy twin.

    The twin module is taken when ``use_native(False)`` is in effect. Imported on first use.
    """
    return importlib.import_module(kernel_module if _native else twin_name(kernel_module))
