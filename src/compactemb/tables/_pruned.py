"""Vocabulary pruning: keep the most frequent rows, give every pruned row a fallback vector.

Rows are in frequency order (as :class:`~compactemb.vocab.Vocab` stores them), so pruning keeps
rows ``0 .. n_keep-1``. The kept rows and the fallback rows live in one inner table (any kind,
so pruning combines with int8/int4/PQ ...)::

    inner rows:  [ kept 0 .. n_keep-1 | fallback 0 .. n_fallback-1 ]
    row i  ->  inner[i]                                         if i < n_keep
           ->  inner[n_keep + hash(i) % n_fallback]             otherwise

Fallbacks (documented behaviour for pruned keys):

* ``"hash"`` (default): ``n_fallback`` buckets; a pruned row maps to bucket
  ``splitmix64(i) % n_fallback`` whose vector is the mean of the pruned rows hashed there (the
  least-squares best shared vector), so rare keys keep a coarse, stable vector of their own
  bucket;
* ``"shared"``: one bucket, the mean of all pruned rows.

For a fallback of each pruned row's own (1-bit codes of a few principal directions, a few bytes a
row), ``compress(obj, "pruned+<method>", fallback="lowbit")`` builds a
:class:`~compactemb.tables.TieredTable` instead (the same as ``"tiered+<method>"``).

The id map is computed, never stored: pruning costs no bytes per pruned row.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from ..exceptions import InputError
from ._base import EmbeddingTable, check_ids, register_table
from ._hashed import hash_ids

_FALLBACK_SEED = 0x5EED


@register_table
class PrunedTable(EmbeddingTable):
    """Kept rows plus fallback buckets in an inner table (see module docstring).

    Parameters
    ----------
    inner : EmbeddingTable with ``n_keep + n_fallback`` rows
    n_rows : int
        Rows addressed (the full vocabulary).
    n_keep : int
    fallback : {"hash", "shared"}
    """

    kind = "pruned"
    plot_params: ClassVar[dict] = {"keep": 0.2, "n_fallback": 1024}
    plot_label = "pruned to 20% (float32)"

    def __init__(self, inner: EmbeddingTable, n_rows: int, n_keep: int, *,
                 fallback: str = "hash"):
        if fallback not in ("hash", "shared"):
            raise InputError(f"prune option 'fallback' must be 'hash' or 'shared', got "
                             f"{fallback!r}")
        n_fallback = inner.n_rows - int(n_keep)
        if not 0 <= n_keep <= n_rows or n_fallback < (1 if n_keep < n_rows else 0):
            raise InputError(f"pruned table of {n_rows} rows keeping {n_keep} needs an inner "
                             f"table of n_keep + n_fallback rows (n_fallback >= 1); got "
                             f"{inner.n_rows}")
        if fallback == "shared" and n_fallback > 1:
            raise InputError("prune fallback 'shared' uses exactly one fallback row")
        self.inner, self.fallback = inner, fallback
        self.n_rows, self.dim, self.n_keep = int(n_rows), inner.dim, int(n_keep)
        self.n_fallback = n_fallback
        self.meta: dict = {}

    def inner_ids(self, ids) -> np.ndarray:
        """Inner row of each (validated, int64) id.

        Parameters
        ----------
        ids : array-like of int
            Row ids of the full table.

        Returns
        -------
        numpy.ndarray of int64
            Rows of the inner table: a kept row's own, else its fallback row.
        """
        ids = np.asarray(ids, dtype=np.int64)
        if self.n_fallback == 0:
            return ids
        bucket = hash_ids(ids, _FALLBACK_SEED, self.n_fallback).reshape(ids.shape)
        return np.where(ids < self.n_keep, ids, self.n_keep + bucket)

    @classmethod
    def from_dense(cls, table_or_array, *, keep, fallback: str = "hash",
                   n_fallback: int | None = None, inner=None) -> PrunedTable:
        """Prune a table: keep its first (most frequent) rows, others share fallback rows.

        Parameters
        ----------
        table_or_array : EmbeddingTable or array-like, shape (n_rows, dim)
            The rows, most frequent first.
        keep : int or float
            Rows kept, as a count in [1, n_rows] or a fraction in (0, 1].
        fallback : {"hash", "shared"}
            Pruned rows hash into ``n_fallback`` shared rows, or all share one row.
        n_fallback : int or None
            Fallback rows of ``hash``; None takes ``min(n_pruned, max(1, n_keep // 16))``.
        inner : callable or None
            ``inner(matrix) -> EmbeddingTable`` compresses the kept and fallback rows; None
            keeps them as a float32 dense table.

        Returns
        -------
        PrunedTable
            The pruned table.

        Raises
        ------
        InputError
            For ``keep`` or ``fallback`` out of range.
        """
        from ._dense import DenseTable

        x = table_or_array.to_dense().weights if isinstance(table_or_array, EmbeddingTable) \
            else np.ascontiguousarray(table_or_array, dtype=np.float32)
        n = x.shape[0]
        if isinstance(keep, float) and not isinstance(keep, bool):
            if not 0 < keep <= 1:
                raise InputError(f"prune option 'keep' as a fraction must be in (0, 1], "
                                 f"got {keep}")
            keep = max(1, int(round(keep * n)))
        if not isinstance(keep, (int, np.integer)) or not 1 <= keep <= n:
            raise InputError(f"prune option 'keep' must be a row count in [1, n_rows={n}] or a "
                             f"fraction in (0, 1], got {keep!r}")
        if fallback not in ("hash", "shared"):
            raise InputError(f"prune option 'fallback' must be 'hash' or 'shared', got "
                             f"{fallback!r}")
        n_pruned = n - keep
        if n_pruned == 0:
            nf = 0
        elif fallback == "shared":
            nf = 1
        else:
            nf = min(n_pruned, max(1, keep // 16)) if n_fallback is None else n_fallback
            if not isinstance(nf, (int, np.integer)) or nf < 1:
                raise InputError(f"prune option 'n_fallback' must be a positive integer, "
                                 f"got {n_fallback!r}")
        fb = np.zeros((nf, x.shape[1]), np.float32)
        if nf:
            pruned = np.arange(keep, n, dtype=np.int64)
            bucket = hash_ids(pruned, _FALLBACK_SEED, nf) if nf > 1 else np.zeros(n_pruned,
                                                                                    np.int64)
            counts = np.bincount(bucket, minlength=nf).astype(np.float64)
            sums = np.zeros((nf, x.shape[1]), np.float64)
            np.add.at(sums, bucket, x[keep:].astype(np.float64))
            fb = (sums / np.maximum(counts, 1)[:, None]).astype(np.float32)
        mat = np.concatenate([x[:keep], fb], axis=0)
        inner_table = DenseTable(mat) if inner is None else inner(mat)
        return cls(inner_table, n, int(keep), fallback=fallback)

    def lookup(self, ids) -> np.ndarray:
        idx = check_ids(ids, self.n_rows)
        return self.inner.lookup(self.inner_ids(idx))

    def rows(self, start: int, stop: int) -> np.ndarray:
        if stop <= self.n_keep:
            return self.inner.rows(start, stop)
        return self.inner.lookup(self.inner_ids(np.arange(start, stop, dtype=np.int64)))

    def bag(self, ids, offsets=None, *, mode="mean", weights=None, include_last_offset=False):
        from ._base import check_bag_inputs

        idx, starts, ends, w = check_bag_inputs(ids, offsets, self.n_rows, weights=weights,
                                                include_last_offset=include_last_offset,
                                                mode=mode)
        if starts.size == 0:
            return np.zeros((0, self.dim), np.float32)
        # bags tile the ids back to back: the inner table's own (numba) bag on remapped ids
        return self.inner.bag(self.inner_ids(idx), np.append(starts, ends[-1]), mode=mode,
                              weights=w, include_last_offset=True)

    def arrays(self):
        return {f"inner.{k}": v for k, v in self.inner.arrays().items()}

    def attrs(self):
        return {"n_rows": self.n_rows, "dim": self.dim, "n_keep": self.n_keep,
                "n_fallback": self.n_fallback, "fallback": self.fallback,
                "inner_kind": self.inner.kind, "inner": self.inner.attrs()}

    @classmethod
    def from_state(cls, attrs, arrays):
        from ..storage import component_class, state_int

        state_int(attrs, "n_keep", low=1, high=state_int(attrs, "n_rows"))
        inner_cls = component_class(attrs["inner_kind"])
        inner = inner_cls.from_state(attrs["inner"], {k[len("inner."):]: v for k, v in
                                                      arrays.items() if k.startswith("inner.")})
        return cls(inner, attrs["n_rows"], attrs["n_keep"], fallback=attrs["fallback"])

    @classmethod
    def estimate_nbytes(cls, n_rows: int, dim: int, *, keep: float = 0.2,
                        n_fallback: int = 1024, **_) -> int:
        n_keep = max(1, int(round(keep * int(n_rows)))) if isinstance(keep, float) else int(keep)
        return 4 * int(dim) * (n_keep + min(int(n_fallback), max(0, int(n_rows) - n_keep)))

