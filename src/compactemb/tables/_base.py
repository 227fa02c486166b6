"""The table protocol shared by every kind of embedding table."""

from __future__ import annotations

import abc
from typing import ClassVar, Literal

import numpy as np

from ..exceptions import InputError

BagMode = Literal["sum", "mean"]
_CHUNK_ROWS = 16384


def register_table(cls):
    """Class decorator: make a table kind known to storage, ``load`` and the memory report.

    The kind goes into storage's one registry (:func:`compactemb.storage.register_component`);
    :func:`compactemb.tables.table_kinds` lists the registered classes that are tables.

    Parameters
    ----------
    cls : type
        An :class:`EmbeddingTable` subclass with a ``kind``.

    Returns
    -------
    type
        ``cls``, registered.
    """
    from ..storage import register_component

    return register_component(cls)


def check_ids(ids, n_rows: int, what: str = "id") -> np.ndarray:
    """Return ids as a C-contiguous int64 array, raising IndexError when out of range."""
    arr = np.asarray(ids)
    if arr.dtype.kind not in "iu":
        if arr.size == 0:
            arr = arr.astype(np.int64)
        else:
            raise InputError(f"{what}s must be integers, got dtype {arr.dtype}")
    arr = np.ascontiguousarray(arr, dtype=np.int64)
    if arr.size:
        lo, hi = int(arr.min()), int(arr.max())
        if lo < 0 or hi >= n_rows:
            bad = lo if lo < 0 else hi
            raise IndexError(f"{what} {bad} out of range for a table of {n_rows} rows")
    return arr


def check_bag_inputs(ids, offsets, n_rows: int, *, include_last_offset: bool = False,
                     weights=None, mode: str = "mean"):
    """Validate EmbeddingBag inputs; return (ids, starts, ends, weights) as flat arrays.

    Parameters
    ----------
    ids : array-like of int
        1-D ids with ``offsets``, or 2-D (n_bags, bag_size) ids without.
    offsets : array-like of int or None
        The start of each bag in ``ids`` (PyTorch's ``EmbeddingBag`` convention).
    n_rows : int
        The table's number of rows (ids are checked against it).
    include_last_offset : bool
        ``offsets`` ends with ``len(ids)``.
    weights : array-like of float or None
        One weight per id (``mode="sum"`` only).
    mode : {"sum", "mean"}
        How a bag's rows are combined.

    Returns
    -------
    tuple of numpy.ndarray
        (ids, starts, ends, weights or None), flat.

    Raises
    ------
    InputError
        For offsets, shapes or weights that do not describe bags of ``ids``.
    IndexError
        For an id out of range.
    """
    if mode not in ("sum", "mean"):
        raise InputError(f"bag mode must be 'sum' or 'mean', got {mode!r}")
    ids_arr = np.asarray(ids)
    if offsets is None:
        if ids_arr.ndim != 2:
            raise InputError("bag without offsets needs 2-D ids (n_bags, bag_size); "
                             f"got shape {ids_arr.shape}")
        n_bags, size = ids_arr.shape
        starts = np.arange(n_bags, dtype=np.int64) * size
        ends = starts + size
        ids_arr = ids_arr.reshape(-1)
    else:
        if ids_arr.ndim != 1:
            raise InputError(f"bag with offsets needs 1-D ids, got shape {ids_arr.shape}")
        offs = np.asarray(offsets, dtype=np.int64).ravel()
        if include_last_offset:
            if offs.size == 0:
                raise InputError("include_last_offset needs at least one offset")
            if offs[-1] != ids_arr.size:
                raise InputError(f"last offset {int(offs[-1])} must equal len(ids)={ids_arr.size}")
            starts, ends = offs[:-1], offs[1:]
        elif offs.size == 0:  # no bags
            starts = ends = offs
        else:
            starts = offs
            ends = np.append(offs[1:], ids_arr.size)
        if starts.size and (starts[0] != 0 or np.any(np.diff(offs) < 0) or ends[-1] > ids_arr.size
                            or starts[-1] > ids_arr.size):
            raise InputError("offsets must start at 0, be non-decreasing and stay within len(ids)")
    ids_arr = check_ids(ids_arr, n_rows)
    w = None
    if weights is not None:
        if mode != "sum":
            raise InputError("per-sample weights need mode='sum' (as torch's EmbeddingBag)")
        w = np.ascontiguousarray(weights, dtype=np.float32).ravel()
        if w.shape != ids_arr.shape:
            raise InputError(f"weights have {w.size} entries for {ids_arr.size} ids")
    return ids_arr, np.ascontiguousarray(starts), np.ascontiguousarray(ends), w


class EmbeddingTable(abc.ABC):
    """A lookup table of ``n_rows`` vectors of ``dim`` float32 values (possibly stored compressed).

    Bags follow torch's ``EmbeddingBag``: with 1-D ``ids`` and ``offsets`` (bag starts), bag ``b``
    is ``ids[offsets[b]:offsets[b+1]]`` (the last runs to the end; with
    ``include_last_offset=True`` offsets has ``n_bags + 1`` entries)::

        ids      = [ 3, 7, 7 | 1, 4 | (empty) | 9 ]
        offsets  = [ 0,        3,     5,        5 ]
        bag(...) -> 4 rows: f(e3, e7, e7), f(e1, e4), zeros, f(e9)    f = sum or mean

    With 2-D ``ids`` of shape (n_bags, bag_size) and no offsets, each row is one bag.
    ``weights`` (one per id) scale the rows, mode ``"sum"`` only. Empty bags give zeros.

    ``np.asarray(table)`` gives the decoded float32 matrix of any kind (see ``__array__``).
    """

    kind: ClassVar[str] = ""
    component_type: ClassVar[str] = ""

    def __init_subclass__(cls, **kw):
        super().__init_subclass__(**kw)
        if cls.kind:
            cls.component_type = cls.kind

    n_rows: int
    dim: int
    meta: dict  # free-form metadata saved with the table (compression settings, ...)
    _norms: np.ndarray | None  # cached row norms, None until computed or after an update

    # -- the protocol -------------------------------------------------------------------------
    @abc.abstractmethod
    def lookup(self, ids) -> np.ndarray:
        """Rows for ``ids`` (any shape) as float32, shape ``ids.shape + (dim,)``.

        Parameters
        ----------
        ids : array-like of int
            Row ids, any shape.

        Returns
        -------
        numpy.ndarray of float32
            The decoded rows.

        Raises
        ------
        IndexError
            For an id out of range.
        """

    def bag(self, ids, offsets=None, *, mode: BagMode = "mean", weights=None,
            include_last_offset: bool = False) -> np.ndarray:
        """Pooled rows per bag (EmbeddingBag semantics, see the class docstring).

        Parameters
        ----------
        ids : array-like of int
            1-D ids with ``offsets``, or 2-D (n_bags, bag_size) ids without.
        offsets : array-like of int or None
            The start of each bag in ``ids``.
        mode : {"mean", "sum"}
            How a bag's rows are combined.
        weights : array-like of float or None
            One weight per id (``mode="sum"`` only).
        include_last_offset : bool
            ``offsets`` ends with ``len(ids)``.

        Returns
        -------
        numpy.ndarray, shape (n_bags, dim)
            float32 pooled rows (zeros for an empty bag).

        Raises
        ------
        InputError
            For offsets, shapes or weights that do not describe bags (see :func:`check_bag_inputs`).
        """
        ids, starts, ends, w = check_bag_inputs(ids, offsets, self.n_rows, weights=weights,
                                                include_last_offset=include_last_offset,
                                                mode=mode)
        out = np.zeros((starts.size, self.dim), dtype=np.float32)
        step = _CHUNK_ROWS
        # decode in slices of ids so that memory stays bounded for any kind
        for b0 in range(0, starts.size, max(1, step // 8)):
            b1 = min(starts.size, b0 + max(1, step // 8))
            lo, hi = int(starts[b0]), int(ends[b1 - 1])
            rows = self.lookup(ids[lo:hi])
            if w is not None:
                rows *= w[lo:hi, None]
            csum = np.zeros((rows.shape[0] + 1, self.dim), dtype=np.float64)
            np.cumsum(rows, axis=0, out=csum[1:])
            s, e = starts[b0:b1] - lo, ends[b0:b1] - lo
            out[b0:b1] = csum[e] - csum[s]
        if mode == "mean":
            n = (ends - starts).astype(np.float32)
            np.divide(out, n[:, None], out=out, where=n[:, None] > 0)
        return out

    @abc.abstractmethod
    def arrays(self) -> dict[str, np.ndarray]:
        """The arrays that hold the table: what is saved and what ``nbytes`` counts."""

    @abc.abstractmethod
    def attrs(self) -> dict:
        """JSON-able parameters needed to rebuild the table from its arrays."""

    @classmethod
    @abc.abstractmethod
    def from_state(cls, attrs: dict, arrays: dict[str, np.ndarray]) -> EmbeddingTable:
        """Rebuild from ``attrs()`` and ``arrays()`` (possibly memory-mapped).

        Parameters
        ----------
        attrs : dict
            The stored attributes.
        arrays : dict of str to numpy.ndarray
            The stored arrays.

        Returns
        -------
        EmbeddingTable
            The table.
        """

    @classmethod
    def estimate_nbytes(cls, n_rows: int, dim: int, **params) -> int:
        """Bytes a table of this kind would take (arithmetic, for planning and plots).

        Parameters
        ----------
        n_rows, dim : int
            The table's shape.
        **params
            The kind's parameters (``rank``, ``n_subvectors``, ...).

        Returns
        -------
        int
            The bytes the arrays would take.
        """
        raise NotImplementedError

    # -- derived -------------------------------------------------------------------------------
    @property
    def nbytes(self) -> int:
        """Bytes of the arrays that hold the table, measured."""
        return int(sum(a.nbytes for a in self.arrays().values()))

    @property
    def shape(self) -> tuple[int, int]:
        """(n_rows, dim)."""
        return (self.n_rows, self.dim)

    def __len__(self) -> int:
        return self.n_rows

    def rows(self, start: int, stop: int) -> np.ndarray:
        """Rows ``start:stop`` as float32 (a block decode, used for scans).

        Parameters
        ----------
        start, stop : int
            The row range.

        Returns
        -------
        numpy.ndarray, shape (stop - start, dim)
            float32 rows.
        """
        return self.lookup(np.arange(start, stop, dtype=np.int64))

    def iter_blocks(self, block: int = _CHUNK_ROWS):
        """Yield (start, float32 rows) blocks covering the table.

        Parameters
        ----------
        block : int
            Rows per block.

        Yields
        ------
        (int, numpy.ndarray)
            The first row of the block and its float32 rows.
        """
        for s in range(0, self.n_rows, block):
            yield s, self.rows(s, min(self.n_rows, s + block))

    def to_dense(self):
        """The table decoded to a float32 :class:`DenseTable`."""
        from ._dense import DenseTable

        out = np.empty((self.n_rows, self.dim), dtype=np.float32)
        for s, blk in self.iter_blocks():
            out[s:s + blk.shape[0]] = blk
        return DenseTable(out)

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        """The whole table as a float32 ``(n_rows, dim)`` matrix: ``np.asarray(table)``.

        Compressed kinds are decoded (a new array); a float32 dense table gives its own
        ``weights`` without a copy. ``.weights`` itself is the stored parameter array of a
        kind (float16 in a float16 table, the bucket matrix of a hashed table), not
        necessarily the decoded matrix.

        Raises
        ------
        ValueError
            With ``copy=False`` (NumPy 2) when the table must be decoded, so a copy is needed.

        Examples
        --------
        >>> import numpy as np
        >>> from compactemb.tables import DenseTable
        >>> np.asarray(DenseTable(np.ones((2, 3), np.float16)))
        array([[1., 1., 1.],
               [1., 1., 1.]], dtype=float32)
        """
        dense = self.to_dense()
        matrix = dense.weights
        if copy is False and dense is not self:
            raise ValueError(f"a {self.kind} table is decoded into a new array; copy=False "
                             "cannot be honoured")
        if dtype is not None and np.dtype(dtype) != matrix.dtype:
            return matrix.astype(dtype)
        return matrix.copy() if copy else matrix

    def row_norms(self) -> np.ndarray:
        """L2 norm of every row (float32), cached: n_rows floats, not a normalised copy."""
        cached = getattr(self, "_norms", None)
        if cached is None:
            cached = np.empty(self.n_rows, dtype=np.float32)
            for s, blk in self.iter_blocks():
                cached[s:s + blk.shape[0]] = np.sqrt(np.einsum("ij,ij->i", blk, blk))
            self._norms = cached
        return cached

    def memory_parts(self, prefix: str = "table") -> dict[str, int]:
        """Measured bytes of each array, named ``<prefix>.<array>``.

        Parameters
        ----------
        prefix : str
            The names' prefix.

        Returns
        -------
        dict of str to int
            Bytes by name.
        """
        return {f"{prefix}.{name}": int(a.nbytes) for name, a in self.arrays().items()}

    def save(self, path, *, meta: dict | None = None) -> None:
        """Save as a compactemb file of kind ``table`` (atomic).

        Parameters
        ----------
        path : str or os.PathLike
            The file; :func:`compactemb.load` reads it back.
        meta : dict or None
            Metadata to store (the table's own ``meta`` when None).
        """
        from ..storage import save_components

        save_components(path, "table", {"table": self}, meta=meta or getattr(self, "meta", None))

    @classmethod
    def load(cls, path, *, mmap: bool = False, verify: bool = True):
        """Read a table from a compactemb file (a table file, or the table of keyed vectors).

        Parameters
        ----------
        path : str or os.PathLike
            The file.
        mmap : bool
            Map the arrays from the file instead of reading them.
        verify : bool
            Check the arrays' checksums.

        Returns
        -------
        EmbeddingTable
            The table.

        Raises
        ------
        InputError
            When the file holds no table.
        """
        from ..storage import load

        obj = load(path, mmap=mmap, verify=verify)
        if not isinstance(obj, EmbeddingTable):
            table = getattr(obj, "table", None)
            if table is None:
                raise InputError(f"{path}: holds a {type(obj).__name__}, not a table")
            obj = table
        return obj

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.n_rows} x {self.dim}, {self.nbytes:,} bytes)"
