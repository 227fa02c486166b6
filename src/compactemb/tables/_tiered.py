"""Tiered tables: frequent rows in one table, the rest in a smaller one.

Rows are in frequency order (as :class:`~compactemb.vocab.Vocab` stores them), so a tiered
table keeps rows ``0 .. n_head-1`` in a ``head`` table of any kind (e.g. 2-bit) and every other
row in a ``tail`` table of any kind (e.g. 1-bit codes of a few principal directions)::

    row i  ->  head[i]              if i < n_head
           ->  tail[i - n_head]     otherwise

Unlike pruning (:class:`~compactemb.tables.PrunedTable`), every rare row keeps a vector of its
own instead of sharing a hash bucket; at a few bytes a row this measures better than buckets on
word similarity (notes/issue-15.md, notes/issue-15-shrink.md).

``compress(obj, "tiered+<method>", keep=N, tail_components=K)`` (or ``"pruned+<method>"`` with
``fallback="lowbit"``) builds one: the head in ``<method>``, the tail as :func:`lowbit_tail`
(1-bit codes of the top ``K`` principal directions of the tail rows, ``ceil(K / 8)`` bytes a
row plus a float16 norm unless ``tail_normalize=False``).
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from ..exceptions import InputError
from ._base import EmbeddingTable, check_ids, register_table


def default_tail_components(dim: int) -> int:
    """Principal directions a 1-bit tail codes by default: a quarter of ``dim`` in whole bytes.

    Parameters
    ----------
    dim : int
        Embedding dimension.

    Returns
    -------
    int
        ``max(8, dim // 32 * 8)``, at most ``dim``.

    Examples
    --------
    >>> default_tail_components(100), default_tail_components(300), default_tail_components(4)
    (24, 72, 4)
    """
    return min(int(dim), max(8, int(dim) // 32 * 8))


def lowbit_tail(n_components: int | None = None, normalize: bool = True):
    """The tail constructor of a tiered table: 1-bit codes of the top principal directions.

    Parameters
    ----------
    n_components : int, optional
        Directions coded (bits a row); default :func:`default_tail_components` of the dim.
    normalize : bool, default True
        Code unit rows and keep a float16 norm per row (2 bytes a row).

    Returns
    -------
    callable
        ``matrix -> Bit1Table`` (``rotation="pca"``).

    Raises
    ------
    InputError
        When ``n_components`` is not a positive integer (checked here) or exceeds the dim
        (checked when called).

    Examples
    --------
    >>> x = np.random.default_rng(0).standard_normal((50, 16)).astype(np.float32)
    >>> lowbit_tail(8)(x).codes.shape
    (50, 1)
    """
    from ._lowbit import Bit1Table

    if n_components is not None and (isinstance(n_components, bool) or not isinstance(
            n_components, (int, np.integer)) or n_components < 1):
        raise InputError(f"tiered option 'tail_components' must be a positive integer, got "
                         f"{n_components!r}")

    def tail(x) -> EmbeddingTable:
        from ._dense import DenseTable

        dim = x.dim if isinstance(x, EmbeddingTable) else np.shape(x)[1]
        if (x.n_rows if isinstance(x, EmbeddingTable) else np.shape(x)[0]) == 0:
            return DenseTable(np.zeros((0, dim), np.float32))  # nothing dropped: no bytes
        k = default_tail_components(dim) if n_components is None else int(n_components)
        if k > dim:
            raise InputError(f"tiered option 'tail_components' ({k}) must be at most the "
                             f"dimension ({dim})")
        return Bit1Table.from_dense(x, rotation="pca", n_components=k, normalize=bool(normalize))

    return tail


@register_table
class TieredTable(EmbeddingTable):
    """Rows ``0 .. n_head-1`` from ``head``, the others from ``tail`` (see module docstring).

    Parameters
    ----------
    head : EmbeddingTable
        The first (most frequent) rows.
    tail : EmbeddingTable
        The remaining rows, same ``dim``.

    Raises
    ------
    InputError
        When the dimensions differ.

    Examples
    --------
    >>> from compactemb.tables import DenseTable
    >>> t = TieredTable(DenseTable(np.ones((2, 3))), DenseTable(np.zeros((4, 3))))
    >>> t.n_rows, t.lookup([1, 2]).tolist()
    (6, [[1.0, 1.0, 1.0], [0.0, 0.0, 0.0]])
    """

    kind = "tiered"
    plot_params: ClassVar[dict] = {}
    plot_label = "tiered (head + tail tables)"

    def __init__(self, head: EmbeddingTable, tail: EmbeddingTable):
        if not isinstance(head, EmbeddingTable) or not isinstance(tail, EmbeddingTable):
            raise InputError("a tiered table needs two tables (head and tail)")
        if head.dim != tail.dim:
            raise InputError(f"tiered head and tail must have the same dim, got {head.dim} and "
                             f"{tail.dim}")
        self.head, self.tail = head, tail
        self.n_head = head.n_rows
        self.n_rows, self.dim = head.n_rows + tail.n_rows, head.dim
        self.meta: dict = {}

    @classmethod
    def from_dense(cls, table_or_array, *, keep, head, tail) -> TieredTable:
        """Split a table after ``keep`` rows and compress each part.

        Parameters
        ----------
        table_or_array : EmbeddingTable or array of shape (n_rows, dim)
            Rows in frequency order.
        keep : int or float
            Rows in the head: a count in [0, n_rows] or a fraction in (0, 1].
        head, tail : callable
            ``matrix -> EmbeddingTable`` for each part (e.g. ``Bit2Table.from_dense``).

        Returns
        -------
        TieredTable

        Raises
        ------
        InputError
            On a ``keep`` out of range.

        Examples
        --------
        >>> from compactemb.tables import DenseTable, Int8Table
        >>> x = np.arange(12, dtype=np.float32).reshape(4, 3)
        >>> TieredTable.from_dense(x, keep=1, head=DenseTable, tail=Int8Table.from_dense).tail.kind
        'int8'
        """
        x = table_or_array.to_dense().weights if isinstance(table_or_array, EmbeddingTable) \
            else np.ascontiguousarray(table_or_array, dtype=np.float32)
        if x.ndim != 2:
            raise InputError(f"a table needs a 2-D matrix, got shape {x.shape}")
        n = x.shape[0]
        if isinstance(keep, float) and not isinstance(keep, bool):
            if not 0 < keep <= 1:
                raise InputError(f"tiered option 'keep' as a fraction must be in (0, 1], "
                                 f"got {keep}")
            keep = int(round(keep * n))
        if not isinstance(keep, (int, np.integer)) or not 0 <= keep <= n:
            raise InputError(f"tiered option 'keep' must be a row count in [0, n_rows={n}] or "
                             f"a fraction in (0, 1], got {keep!r}")
        return cls(head(x[:keep]), tail(x[keep:]))

    def _gather(self, idx: np.ndarray) -> np.ndarray:
        out = np.empty((idx.size, self.dim), np.float32)
        in_head = idx < self.n_head
        if in_head.any():
            out[in_head] = self.head.lookup(idx[in_head])
        if not in_head.all():
            out[~in_head] = self.tail.lookup(idx[~in_head] - self.n_head)
        return out

    def lookup(self, ids) -> np.ndarray:
        idx = check_ids(ids, self.n_rows)
        return self._gather(idx.ravel()).reshape(idx.shape + (self.dim,))

    def rows(self, start: int, stop: int) -> np.ndarray:
        if stop <= self.n_head:
            return self.head.rows(start, stop)
        if start >= self.n_head:
            return self.tail.rows(start - self.n_head, stop - self.n_head)
        return np.concatenate([self.head.rows(start, self.n_head),
                               self.tail.rows(0, stop - self.n_head)])

    def arrays(self):
        out = {f"head.{k}": v for k, v in self.head.arrays().items()}
        out.update({f"tail.{k}": v for k, v in self.tail.arrays().items()})
        return out

    def attrs(self):
        return {"n_rows": self.n_rows, "dim": self.dim, "n_head": self.n_head,
                "head_kind": self.head.kind, "head": self.head.attrs(),
                "tail_kind": self.tail.kind, "tail": self.tail.attrs()}

    @classmethod
    def from_state(cls, attrs, arrays):
        from ..storage import component_class

        parts = {}
        for part in ("head", "tail"):
            sub = component_class(attrs[f"{part}_kind"])
            prefix = f"{part}."
            parts[part] = sub.from_state(attrs[part], {k[len(prefix):]: v for k, v in
                                                       arrays.items() if k.startswith(prefix)})
        t = cls(parts["head"], parts["tail"])
        if (t.n_rows, t.n_head) != (attrs["n_rows"], attrs["n_head"]):
            raise ValueError(f"parts give {t.n_rows} rows ({t.n_head} in the head), the "
                             f"attributes {attrs['n_rows']} ({attrs['n_head']})")
        return t
