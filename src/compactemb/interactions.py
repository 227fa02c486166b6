"""User-item interactions: raw IDs indexed by vocabularies, weights in a CSR matrix."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from .exceptions import InputError
from .text import iter_lines
from .vocab import Vocab


@dataclass
class Interactions:
    """A users x items CSR matrix of weights with the vocabularies of the raw IDs.

    Duplicate (user, item) pairs are summed.
    """

    user_vocab: Vocab
    item_vocab: Vocab
    matrix: sp.csr_matrix

    @classmethod
    def from_arrays(cls, users, items, weights=None) -> Interactions:
        users, items = np.asarray(users), np.asarray(items)
        if users.shape != items.shape or users.ndim != 1:
            raise InputError(f"users {users.shape} and items {items.shape} must be 1-D of one "
                             "length")
        if users.size == 0:
            raise InputError("no interactions")
        w = np.ones(users.size, np.float32) if weights is None else \
            np.asarray(weights, dtype=np.float32)
        if w.shape != users.shape:
            raise InputError(f"{w.size} weights for {users.size} interactions")
        uv, iv = Vocab.from_ids(users), Vocab.from_ids(items)
        m = sp.csr_matrix((w, (uv.encode(users.tolist()), iv.encode(items.tolist()))),
                          shape=(len(uv), len(iv)), dtype=np.float32)
        m.sum_duplicates()
        return cls(uv, iv, m)

    @property
    def shape(self) -> tuple[int, int]:
        return self.matrix.shape

    @property
    def nnz(self) -> int:
        return int(self.matrix.nnz)


def _parse_id(tok: str):
    try:
        return int(tok)
    except ValueError:
        return tok


def read_interactions(path: str | os.PathLike, *, sep: str | None = None) -> Interactions:
    """Read ``user item [weight ...]`` rows (whitespace, tab or comma separated).

    A first row whose weight column is not a number is taken as a header. Extra columns
    (timestamps) are ignored. A malformed row raises :class:`InputError` naming file and line.
    """
    path = os.fspath(path)
    splitter = re.compile(r"[,\t ]+" if sep is None else re.escape(sep))
    users, items, weights = [], [], []
    has_weight = None
    for lineno, line in enumerate(iter_lines(path), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = splitter.split(line)
        if len(parts) < 2:
            raise InputError(f"{path}: line {lineno}: expected 'user item [weight]', "
                             f"got {line[:60]!r}")
        w = 1.0
        if len(parts) >= 3:
            try:
                w = float(parts[2])
            except ValueError:
                if not users:  # header row
                    continue
                raise InputError(f"{path}: line {lineno}: weight {parts[2]!r} is not a "
                                 "number") from None
            if not np.isfinite(w):
                raise InputError(f"{path}: line {lineno}: weight {parts[2]!r} is not finite")
        if has_weight is None:
            has_weight = len(parts) >= 3
        users.append(_parse_id(parts[0]))
        items.append(_parse_id(parts[1]))
        weights.append(w)
    if not users:
        raise InputError(f"{path}: no interactions in the file")
    if len({type(u) for u in users}) > 1:  # mixed ints and strings: index as strings
        users = [str(u) for u in users]
    if len({type(i) for i in items}) > 1:
        items = [str(i) for i in items]
    return Interactions.from_arrays(np.asarray(users), np.asarray(items),
                                    np.asarray(weights, np.float32))
