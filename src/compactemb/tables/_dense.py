"""DenseTable: one float32 (or float16) value per row and dimension."""

from __future__ import annotations

import numpy as np

from .._native import kernels
from ..exceptions import InputError
from ._base import EmbeddingTable, check_bag_inputs, check_ids, register_table

_DTYPES = {"float32": np.float32, "float16": np.float16}
_HALF_LUT: list = []


def _half_lut() -> np.ndarray:
    """float32 value of each of the 65,536 float16 bit patterns (256 KiB, built once)."""
    if not _HALF_LUT:
        bits = np.arange(65536, dtype=np.uint32).astype(np.uint16)
        _HALF_LUT.append(bits.view(np.float16).astype(np.float32))
    return _HALF_LUT[0]


@register_table
class DenseTable(EmbeddingTable):
    """A plain (n_rows, dim) matrix, float32 or float16; lookups always return float32.

    Parameters
    ----------
    weights : array-like of shape (n_rows, dim)
        Kept as is (no copy) when already a C-contiguous float32/float16 array, so a
        memory-mapped file stays memory-mapped.
    dtype : {"float32", "float16"}, optional
        Storage type; default: float16 input stays float16, anything else becomes float32.
    """

    kind = "dense"

    def __init__(self, weights, *, dtype: str | None = None):
        w = np.asarray(weights)
        if w.ndim != 2:
            raise InputError(f"a table needs a 2-D matrix, got shape {w.shape}")
        if dtype is None:
            dtype = "float16" if w.dtype == np.float16 else "float32"
        if dtype not in _DTYPES:
            raise InputError(f"dtype must be 'float32' or 'float16', got {dtype!r}")
        if dtype == "float16" and w.dtype != np.float16:
            finite = np.isfinite(w).all() if w.size else True
            if finite and w.size and np.abs(w).max() > np.finfo(np.float16).max:
                raise InputError("values exceed the float16 range (65504)")
        self.weights = np.ascontiguousarray(w, dtype=_DTYPES[dtype])
        self.dtype = dtype
        self.n_rows, self.dim = self.weights.shape
        self.meta: dict = {}

    def lookup(self, ids) -> np.ndarray:
        idx = check_ids(ids, self.n_rows)
        if self.dtype == "float32":
            return np.take(self.weights, idx, axis=0)
        half_gather = kernels("compactemb.tables._kernels").half_gather
        flat = idx.reshape(-1)
        out = np.empty((flat.size, self.dim), dtype=np.float32)
        half_gather(self.weights.view(np.uint16), flat, _half_lut(), out)
        return out.reshape(idx.shape + (self.dim,))

    def rows(self, start: int, stop: int) -> np.ndarray:
        return self.weights[start:stop].astype(np.float32, copy=False)

    def bag(self, ids, offsets=None, *, mode="mean", weights=None, include_last_offset=False):
        if self.dtype != "float32":
            return super().bag(ids, offsets, mode=mode, weights=weights,
                               include_last_offset=include_last_offset)
        dense_bag = kernels("compactemb.tables._kernels").dense_bag
        idx, starts, ends, w = check_bag_inputs(ids, offsets, self.n_rows, weights=weights,
                                                include_last_offset=include_last_offset,
                                                mode=mode)
        out = np.empty((starts.size, self.dim), dtype=np.float32)
        has_w = w is not None
        dense_bag(self.weights, idx, starts, ends, w if has_w else np.empty(0, np.float32),
                  has_w, mode == "mean", out)
        return out

    def arrays(self):
        return {"weights": self.weights}

    def attrs(self):
        return {"n_rows": self.n_rows, "dim": self.dim, "dtype": self.dtype}

    @classmethod
    def from_state(cls, attrs, arrays):
        w = arrays["weights"]
        if tuple(w.shape) != (attrs["n_rows"], attrs["dim"]) or str(w.dtype) != attrs["dtype"]:
            raise ValueError(f"weights {w.shape} {w.dtype} do not match the attributes "
                             f"{attrs['n_rows']} x {attrs['dim']} {attrs['dtype']}")
        return cls(w, dtype=attrs["dtype"])

    @classmethod
    def estimate_nbytes(cls, n_rows: int, dim: int, *, dtype: str = "float32", **_) -> int:
        return int(n_rows) * int(dim) * np.dtype(_DTYPES[dtype]).itemsize

    def to_dense(self) -> DenseTable:
        return self if self.dtype == "float32" else DenseTable(self.weights.astype(np.float32))

    def astype(self, dtype: str) -> DenseTable:
        """A copy stored as ``dtype`` ("float32" or "float16").

        Parameters
        ----------
        dtype : {"float32", "float16"}
            The storage type of the copy.

        Returns
        -------
        DenseTable
            The copy.
        """
        return DenseTable(self.weights, dtype=dtype)
