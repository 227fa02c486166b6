"""Row-wise int8 and int4 tables in FBGEMM's fused layout.

Each row is one run of bytes, codes first, then the row's scale and bias::

    int8:  [ c0 c1 ... c(d-1) | scale fp32 | bias fp32 ]        d + 8 bytes
    int4:  [ c1c0 c3c2 ...    | scale fp16 | bias fp16 ]        ceil(d/2) + 4 bytes
             (low nibble = even column)

and ``value = code * scale + bias`` with ``bias = min(row)`` and ``scale = (max - min) / levels``,
as FBGEMM's ``FloatToFused8BitRowwiseQuantized`` / ``FloatToFusedNBitRowwiseQuantizedSBHalf``
store them, so the ``data`` array can be handed to that ecosystem unchanged. Rounding to the
nearest code bounds the error of every value by ``scale / 2``.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from .._native import kernels
from ..exceptions import InputError
from ._base import EmbeddingTable, check_bag_inputs, check_ids, register_table

_HALF_LUT: np.ndarray | None = None


def half_lut() -> np.ndarray:
    """float32 value of every float16 bit pattern (numba has no float16)."""
    global _HALF_LUT
    if _HALF_LUT is None:
        with np.errstate(invalid="ignore"):
            _HALF_LUT = np.arange(65536, dtype=np.uint32).astype(np.uint16) \
                .view(np.float16).astype(np.float32)
    return _HALF_LUT


def _as_float_matrix(x) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim != 2:
        raise InputError(f"a table needs a 2-D matrix, got shape {x.shape}")
    x = np.ascontiguousarray(x, dtype=np.float32)
    if x.size and not np.isfinite(x).all():
        raise InputError("the table holds NaN or infinite values; they cannot be quantised")
    return x


def _half_down(x: np.ndarray) -> np.ndarray:
    """Largest float16 <= x (elementwise), so a float16 bias never exceeds the row minimum."""
    h = x.astype(np.float16)
    over = h.astype(np.float32) > x
    h[over] = np.nextafter(h[over], np.float16(-np.inf))
    return h


def _half_up(x: np.ndarray) -> np.ndarray:
    h = x.astype(np.float16)
    under = h.astype(np.float32) < x
    h[under] = np.nextafter(h[under], np.float16(np.inf))
    return h


def quantize_rows(x, bits: int) -> np.ndarray:
    """Fused row-wise codes of ``x`` (n, d) float32.

    (n, d + 8) for 8 bits, (n, ceil(d/2) + 4) for 4 bits. The NumPy reference; it is also fast
    enough (vectorised).
    """
    x = _as_float_matrix(x)
    n, d = x.shape
    if n == 0 or d == 0:
        lo = hi = np.zeros(n, np.float32)
    else:
        lo, hi = x.min(axis=1), x.max(axis=1)
    levels = (1 << bits) - 1
    if bits == 8:
        bias = lo.astype(np.float32)
        scale = ((hi - lo) / np.float32(levels)).astype(np.float32)
        sb = np.stack([scale, bias], axis=1).view(np.uint8)  # (n, 8)
    elif bits == 4:
        # fp16 bias and scale: the row minimum and (max - min) / 15 must fit in float16
        if n and d and (np.abs(lo).max() > 65000 or ((hi - lo) / levels).max() > 65000):
            raise InputError("values exceed the float16 range of int4 scales and biases "
                             "(|min| and (max - min) / 15 must stay below 65000)")
        bias16 = _half_down(lo)
        scale16 = _half_up((hi - bias16.astype(np.float32)) / np.float32(levels))
        bias, scale = bias16.astype(np.float32), scale16.astype(np.float32)
        sb = np.stack([scale16, bias16], axis=1).view(np.uint8)  # (n, 4)
    else:
        raise InputError(f"bits must be 8 or 4, got {bits!r}")
    safe = np.where(scale > 0, scale, 1).astype(np.float32)
    codes = np.rint((x - bias[:, None]) / safe[:, None])
    codes = np.clip(codes, 0, levels).astype(np.uint8)
    if bits == 4:
        if d % 2:
            codes = np.concatenate([codes, np.zeros((n, 1), np.uint8)], axis=1)
        codes = codes[:, 0::2] | (codes[:, 1::2] << 4)
    return np.ascontiguousarray(np.concatenate([codes, sb], axis=1))


def dequantize_rows(data: np.ndarray, dim: int, bits: int) -> np.ndarray:
    """NumPy twin of the decode kernels: fused rows -> float32 (n, dim)."""
    data = np.asarray(data, dtype=np.uint8)
    n = data.shape[0]
    if bits == 8:
        sb = np.ascontiguousarray(data[:, dim:dim + 8]).view(np.float32).reshape(n, 2)
        codes = data[:, :dim].astype(np.float32)
    else:
        nbc = (dim + 1) // 2
        sb = np.ascontiguousarray(data[:, nbc:nbc + 4]).view(np.float16).reshape(n, 2) \
            .astype(np.float32)
        packed = data[:, :nbc]
        codes = np.empty((n, 2 * nbc), np.float32)
        codes[:, 0::2] = packed & 15
        codes[:, 1::2] = packed >> 4
        codes = codes[:, :dim]
    return (codes * sb[:, 0:1] + sb[:, 1:2]).astype(np.float32)


class _RowwiseQuantized(EmbeddingTable):
    bits: ClassVar[int] = 8

    def __init__(self, data, dim: int):
        data = np.asarray(data)
        dim = int(dim)
        if data.ndim != 2 or data.dtype != np.uint8:
            raise InputError(f"{self.kind} data must be a 2-D uint8 array, got {data.dtype} "
                             f"{data.shape}")
        if data.shape[1] != self.row_bytes(dim):
            raise InputError(f"{self.kind} rows of dim {dim} take {self.row_bytes(dim)} bytes, "
                             f"the data has {data.shape[1]}")
        self.data = np.ascontiguousarray(data)
        self.n_rows, self.dim = data.shape[0], dim
        self.meta: dict = {}

    @classmethod
    def row_bytes(cls, dim: int) -> int:
        raise NotImplementedError

    @classmethod
    def from_dense(cls, table_or_array):
        """Quantise a float table (any kind; decoded block by block) or a float matrix."""
        if isinstance(table_or_array, EmbeddingTable):
            t = table_or_array
            data = np.empty((t.n_rows, cls.row_bytes(t.dim)), np.uint8)
            for s, blk in t.iter_blocks():
                data[s:s + blk.shape[0]] = quantize_rows(blk, cls.bits)
            return cls(data, t.dim)
        x = _as_float_matrix(table_or_array)
        return cls(quantize_rows(x, cls.bits), x.shape[1])

    def _codes_args(self) -> tuple:
        """The leading arguments of this kind's lookup and bag kernels (the codes first)."""
        raise NotImplementedError

    def _lookup_flat(self, idx: np.ndarray) -> np.ndarray:
        lookup = getattr(kernels("compactemb.tables._compress_kernels"), f"{self.kind}_lookup")
        out = np.empty((idx.size, self.dim), np.float32)
        lookup(*self._codes_args(), idx, out)
        return out

    def bag(self, ids, offsets=None, *, mode="mean", weights=None, include_last_offset=False):
        bag = getattr(kernels("compactemb.tables._compress_kernels"), f"{self.kind}_bag")
        idx, starts, ends, w = check_bag_inputs(ids, offsets, self.n_rows, weights=weights,
                                                include_last_offset=include_last_offset,
                                                mode=mode)
        out = np.empty((starts.size, self.dim), np.float32)
        bag(*self._codes_args(), idx, starts, ends,
            w if w is not None else np.empty(0, np.float32), w is not None, mode == "mean", out)
        return out

    def lookup(self, ids) -> np.ndarray:
        idx = check_ids(ids, self.n_rows)
        return self._lookup_flat(idx.ravel()).reshape(idx.shape + (self.dim,))

    def rows(self, start: int, stop: int) -> np.ndarray:
        return self._lookup_flat(np.arange(start, stop, dtype=np.int64))

    def scale_bias(self) -> np.ndarray:
        """(n_rows, 2) float32: each row's scale and bias."""
        return self._scale_bias()

    def _scale_bias(self) -> np.ndarray:
        raise NotImplementedError

    def arrays(self):
        return {"data": self.data}

    def attrs(self):
        return {"n_rows": self.n_rows, "dim": self.dim, "bits": self.bits,
                "layout": "fbgemm-fused-rowwise"}

    @classmethod
    def from_state(cls, attrs, arrays):
        t = cls(arrays["data"], attrs["dim"])
        if t.n_rows != attrs["n_rows"]:
            raise ValueError(f"data has {t.n_rows} rows, the attributes say {attrs['n_rows']}")
        return t

    @classmethod
    def estimate_nbytes(cls, n_rows: int, dim: int, **_) -> int:
        return int(n_rows) * cls.row_bytes(int(dim))


@register_table
class Int8Table(_RowwiseQuantized):
    """Row-wise int8: per row ``d`` uint8 codes then fp32 scale and bias (FBGEMM fused 8-bit).

    ``|decoded - original| <= scale / 2`` for every value; 4 * d / (d + 8) times smaller
    than float32 (3.9x at d = 300).

    Parameters
    ----------
    data : numpy.ndarray of uint8, shape (n_rows, dim + 8)
        The fused rows; :meth:`from_dense` makes them from a float matrix.
    dim : int
        The decoded dimension.

    Examples
    --------
    >>> import numpy as np
    >>> t = Int8Table.from_dense(np.arange(12, dtype=np.float32).reshape(3, 4))
    >>> t.data.shape
    (3, 12)
    """

    kind = "int8"
    bits = 8
    plot_params: ClassVar[dict] = {"bits": 8}  # non-empty: the memory plot includes the kind
    plot_label = "row-wise int8"

    @classmethod
    def row_bytes(cls, dim: int) -> int:
        """Bytes of one stored row of ``dim`` values: the codes, then scale and bias.

        Parameters
        ----------
        dim : int
            Values per row.

        Returns
        -------
        int
            Bytes per stored row.
        """
        return int(dim) + 8

    def _codes_args(self) -> tuple:
        return (self.data, self.dim)

    def _scale_bias(self):
        return np.ascontiguousarray(self.data[:, self.dim:]).view(np.float32)


@register_table
class Int4Table(_RowwiseQuantized):
    """Row-wise int4: two codes per byte then fp16 scale and bias (FBGEMM fused 4-bit).

    ``|decoded - original| <= scale / 2``; 4 * d / (ceil(d/2) + 4) times smaller than float32
    (7.8x at d = 300).

    Parameters
    ----------
    data : numpy.ndarray of uint8, shape (n_rows, ceil(dim / 2) + 4)
        The fused rows; :meth:`from_dense` makes them from a float matrix.
    dim : int
        The decoded dimension.
    """

    kind = "int4"
    bits = 4
    plot_params: ClassVar[dict] = {"bits": 4}
    plot_label = "row-wise int4"

    @classmethod
    def row_bytes(cls, dim: int) -> int:
        """Bytes of one stored row of ``dim`` values: the codes, then scale and bias.

        Parameters
        ----------
        dim : int
            Values per row.

        Returns
        -------
        int
            Bytes per stored row.
        """
        return (int(dim) + 1) // 2 + 4

    def _codes_args(self) -> tuple:
        return (self.data, self.dim, half_lut())

    def _scale_bias(self):
        nbc = (self.dim + 1) // 2
        return np.ascontiguousarray(self.data[:, nbc:nbc + 4]).view(np.float16) \
            .astype(np.float32)
