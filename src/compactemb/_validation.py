"""Declarative checks of parameters and inputs, with one message format.

Every check raises :class:`~compactemb.exceptions.InputError` worded as
``"<Owner>: <name> must be <what>, got <value>"``, e.g.
``"Word2Vec: epochs must be an integer >= 1, got 0"``. Trainers list their parameters once
(``{"epochs": Integer(low=1), ...}``) and call :func:`check_params` in ``fit``, as scikit-learn
validates in ``fit`` rather than in ``__init__``.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

from .exceptions import InputError

__all__ = ["Boolean", "Integer", "Options", "Real", "RANDOM_STATE", "check_params",
           "interaction_matrix", "fail"]


def fail(owner: str, name: str, what: str, value) -> None:
    """Raise the one-format error: ``"<owner>: <name> must be <what>, got <value!r>"``.

    Parameters
    ----------
    owner : str
        The class or function whose parameter is wrong, e.g. ``"ALS"``.
    name : str
        The parameter.
    what : str
        What it must be, e.g. ``"an integer >= 1"``.
    value : object
        What it was.

    Raises
    ------
    InputError
        Always.

    Examples
    --------
    >>> fail("ALS", "epochs", "an integer >= 0", -1)
    Traceback (most recent call last):
    ...
    compactemb.exceptions.InputError: ALS: epochs must be an integer >= 0, got -1
    """
    raise InputError(f"{owner}: {name} must be {what}, got {value!r}")


def _bounds(low, high, low_open: bool, high_open: bool) -> str:
    if low is not None and high is not None:
        return f" in {'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
    if low is not None:
        return f" {'>' if low_open else '>='} {low}"
    if high is not None:
        return f" {'<' if high_open else '<='} {high}"
    return ""


def _in_bounds(v, low, high, low_open, high_open) -> bool:
    if low is not None and (v <= low if low_open else v < low):
        return False
    return not (high is not None and (v >= high if high_open else v > high))


@dataclass(frozen=True)
class Integer:
    """An integer (not a bool) in ``[low, high]``; ``allow_none`` also accepts None."""

    low: int | None = None
    high: int | None = None
    allow_none: bool = False

    def check(self, owner: str, name: str, value) -> None:
        """Raise InputError unless ``value`` is such an integer."""
        if value is None and self.allow_none:
            return
        ok = isinstance(value, numbers.Integral) and not isinstance(value, bool) and \
            _in_bounds(value, self.low, self.high, False, False)
        if not ok:
            what = "an integer" + _bounds(self.low, self.high, False, False)
            fail(owner, name, what + (" or None" if self.allow_none else ""), value)


@dataclass(frozen=True)
class Real:
    """A finite real number (not a bool) in the given interval; ``allow_none`` accepts None."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    allow_none: bool = False

    def check(self, owner: str, name: str, value) -> None:
        """Raise InputError unless ``value`` is such a number."""
        if value is None and self.allow_none:
            return
        ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and \
            math.isfinite(value) and _in_bounds(value, self.low, self.high, self.low_open,
                                                self.high_open)
        if not ok:
            what = "a number" + _bounds(self.low, self.high, self.low_open, self.high_open)
            fail(owner, name, what + (" or None" if self.allow_none else ""), value)


@dataclass(frozen=True)
class Options:
    """One of a fixed set of values."""

    values: tuple

    def check(self, owner: str, name: str, value) -> None:
        """Raise InputError unless ``value`` is one of ``values``."""
        if value not in self.values:
            fail(owner, name, "one of " + ", ".join(map(repr, self.values)), value)


@dataclass(frozen=True)
class Boolean:
    """True or False (numpy bools too)."""

    def check(self, owner: str, name: str, value) -> None:
        """Raise InputError unless ``value`` is a bool."""
        if not (isinstance(value, bool) or type(value).__name__ == "bool_"):
            fail(owner, name, "True or False", value)


#: seeds: a non-negative integer (what numpy's generators accept and files can store)
RANDOM_STATE = Integer(low=0)
#: thread counts: None (all cores) or at least one
N_THREADS = Integer(low=1, allow_none=True)


def check_params(owner: str, params: dict, spec: dict) -> None:
    """Check each ``params[name]`` against ``spec[name]`` (an Integer, Real, Options ...).

    Parameters
    ----------
    owner : str
        Named first in the message, e.g. ``"Word2Vec"``.
    params : dict
        Parameter values by name (``est.get_params()``).
    spec : dict
        Checker by name; names absent from ``spec`` are not checked.

    Raises
    ------
    InputError
        For the first parameter that fails, as ``"<owner>: <name> must be ..., got ..."``.

    Examples
    --------
    >>> check_params("Word2Vec", {"epochs": 5}, {"epochs": Integer(low=1)})
    >>> check_params("Word2Vec", {"epochs": 0}, {"epochs": Integer(low=1)})
    Traceback (most recent call last):
    ...
    compactemb.exceptions.InputError: Word2Vec: epochs must be an integer >= 1, got 0
    """
    for name, checker in spec.items():
        checker.check(owner, name, params[name])


def interaction_matrix(data, owner: str):
    """A users x items matrix from an ``Interactions`` or a 2-D sparse or dense array.

    Parameters
    ----------
    data : Interactions, scipy.sparse matrix or 2-D array
        Rows are users, columns items, values weights (zeros are absent pairs).
    owner : str
        Named in error messages.

    Returns
    -------
    matrix : scipy.sparse.csr_matrix of float32
        Canonical (sorted indices, no duplicates).
    interactions : Interactions or None
        ``data`` when it was one (it carries the user and item vocabularies).

    Raises
    ------
    InputError
        Another type, not 2-D, no nonzero entry, or a non-finite weight.

    Examples
    --------
    >>> import numpy as np
    >>> m, inter = interaction_matrix(np.eye(3), "ALS")
    >>> m.nnz, inter
    (3, None)
    """
    import numpy as np
    import scipy.sparse as sp

    from .interactions import Interactions

    inter = None
    if isinstance(data, Interactions):
        m, inter = data.matrix, data
    elif sp.issparse(data):
        m = data
    elif isinstance(data, np.ndarray) and data.ndim == 2:
        m = sp.csr_matrix(data)
    else:
        fail(owner, "the training data", "an Interactions or a users x items (sparse) matrix",
             type(data).__name__)
    if m.ndim != 2:
        fail(owner, "the training data", "2-D (users x items)", m.shape)
    m = sp.csr_matrix(m, dtype=np.float32)
    if not m.has_canonical_format:
        m = m.copy()
        m.sum_duplicates()
    if m.nnz == 0:
        raise InputError(f"{owner}: no interactions to train on")
    if not np.isfinite(m.data).all():
        raise InputError(f"{owner}: interaction weights must be finite")
    return m, inter
