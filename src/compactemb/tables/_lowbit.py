"""1-bit and 2-bit tables: bit-packed codes with scales per row and/or per dimension.

Values are centred, optionally rotated or projected, and optionally stored with row norms.

A row is stored as ``k`` codes (``k = dim`` unless a projection keeps fewer components) of
``bits`` bits packed into ``ceil(k * bits / 8)`` bytes (column ``j`` in byte ``j // (8 //
bits)``, starting at bit ``bits * (j % (8 // bits))``), and decodes as::

    y[j] = levels[code[j]] * row_scale * dim_scale[j]        (a scale that is absent is 1)
    row  = norm * (y @ rotation.T + mean)                    (rotation, mean, norm optional)

``rotation`` is (dim, k) with orthonormal columns: a random rotation (k = dim) or the top ``k``
principal directions of the centred rows (``rotation="pca"``, fewer bytes a row). With
``normalize=True`` the codes are taken of the unit rows and a float16 ``norm`` per row restores
each decoded row's length.

1 bit keeps the sign of each centred value (``levels = [-1, 1]``); 2 bits keep four levels
fitted to the data (Lloyd-Max on the scaled values). Scales are refitted by least squares for
the chosen codes, so each decoded value is the best one its code and scales can give. Centring
removes the common direction word vectors share (the mean is far from zero in most embeddings,
and a sign code cannot express it); a random orthogonal rotation spreads every direction over
all dimensions, which helps sign codes when a few dimensions carry most of the variance.

Search can score a float query against the codes without decoding the table
(:func:`lowbit_search`): ``q . row = row_scale * sum_bytes lut[byte] + q . mean`` with a
256-entry table per byte position of the code. For 1-bit tables :meth:`Bit1Table.hamming`
counts differing bits to encoded queries.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from .._native import kernels
from ..exceptions import InputError
from ._base import EmbeddingTable, check_bag_inputs, check_ids, register_table

SCALES = ("row", "dim", "both")
_KERNELS = "compactemb.tables._lowbit_kernels"
_POPCOUNT = np.array([bin(i).count("1") for i in range(256)], dtype=np.int32)


def _float_matrix(table_or_array) -> np.ndarray:
    x = table_or_array.to_dense().weights if isinstance(table_or_array, EmbeddingTable) \
        else np.asarray(table_or_array)
    if x.ndim != 2:
        raise InputError(f"a table needs a 2-D matrix, got shape {x.shape}")
    x = np.ascontiguousarray(x, dtype=np.float32)
    if x.size and not np.isfinite(x).all():
        raise InputError("the table holds NaN or infinite values; they cannot be quantised")
    return x


def pack_codes(codes: np.ndarray, bits: int) -> np.ndarray:
    """(n, dim) integer codes in [0, 2**bits) -> (n, ceil(dim * bits / 8)) packed uint8 bytes.

    Parameters
    ----------
    codes : array of shape (n, dim)
        Codes, each below ``2**bits``.
    bits : {1, 2}
        Bits a code.

    Returns
    -------
    ndarray of uint8
        The packed codes (the layout of the module docstring).

    Examples
    --------
    >>> pack_codes(np.array([[1, 0, 1, 1, 0, 0, 0, 0, 1]]), 1)
    array([[13,  1]], dtype=uint8)
    """
    codes = np.asarray(codes, dtype=np.uint8)
    per_byte = 8 // bits
    n, dim = codes.shape
    n_bytes = -(-dim // per_byte)
    padded = np.zeros((n, n_bytes * per_byte), np.uint8)
    padded[:, :dim] = codes
    padded = padded.reshape(n, n_bytes, per_byte)
    out = np.zeros((n, n_bytes), np.uint8)
    for k in range(per_byte):
        out |= padded[:, :, k] << np.uint8(bits * k)
    return out


def random_rotation(dim: int, random_state=0) -> np.ndarray:
    """A random orthogonal (dim, dim) float32 matrix (QR of a Gaussian matrix, signs fixed).

    Parameters
    ----------
    dim : int
        Size.
    random_state : int or numpy.random.Generator, default 0
        Seed.

    Returns
    -------
    ndarray of float32
        An orthogonal matrix, Haar-distributed.

    Examples
    --------
    >>> r = random_rotation(4)
    >>> bool(np.allclose(r @ r.T, np.eye(4), atol=1e-6))
    True
    """
    rng = np.random.default_rng(random_state)
    q, r = np.linalg.qr(rng.standard_normal((dim, dim)))
    return (q * np.sign(np.diag(r))[None, :]).astype(np.float32)


def _lloyd_levels(u: np.ndarray, n_levels: int, n_iter: int = 30) -> np.ndarray:
    """Symmetric Lloyd-Max levels for the values ``u`` (sorted ascending)."""
    a = np.abs(u.ravel()).astype(np.float64)
    half = n_levels // 2
    lv = np.quantile(a, (np.arange(half) + 0.5) / half) if a.size else np.arange(1, half + 1.0)
    for _ in range(n_iter):
        edges = (lv[1:] + lv[:-1]) / 2
        cell = np.searchsorted(edges, a)
        sums = np.bincount(cell, weights=a, minlength=half)
        counts = np.bincount(cell, minlength=half)
        lv = np.where(counts > 0, sums / np.maximum(counts, 1), lv)
    lv = np.sort(lv)
    return np.concatenate([-lv[::-1], lv]).astype(np.float32)


def _nearest_level(u: np.ndarray, levels: np.ndarray) -> np.ndarray:
    edges = (levels[1:] + levels[:-1]) / 2
    return np.searchsorted(edges, u).astype(np.uint8)


def _fit(z: np.ndarray, bits: int, scale: str, n_iter: int):
    """Fit codes, levels and scales to the centred, rotated values ``z`` (alternating LS).

    Returns codes, levels, row scales (float16 or None) and dim scales (float32 or None).
    """
    n, dim = z.shape
    use_row, use_dim = scale in ("row", "both"), scale in ("dim", "both")
    z64 = z.astype(np.float64)
    r = np.ones(n) if not use_row else np.sqrt((z64 ** 2).mean(axis=1)) + 1e-30
    s = np.ones(dim) if not use_dim else np.sqrt((z64 ** 2).mean(axis=0)) + 1e-30
    u = z64 / r[:, None] / s[None, :]
    if bits == 1:
        levels = np.array([-1.0, 1.0], np.float32)
    else:
        sample = u if n <= 20000 else u[np.random.default_rng(0).choice(n, 20000, replace=False)]
        levels = _lloyd_levels(sample, 1 << bits)
    codes = _nearest_level(u, levels)
    lv = levels.astype(np.float64)[codes]
    for it in range(n_iter):
        if use_row:
            num = (z64 * lv * s[None, :]).sum(axis=1)
            den = ((lv * s[None, :]) ** 2).sum(axis=1)
            r = np.where(den > 0, num / np.maximum(den, 1e-300), 0.0)
            if it == n_iter - 1 or not use_dim:
                r = r.astype(np.float16).astype(np.float64)  # what is stored
        if use_dim:
            num = (z64 * lv * r[:, None]).sum(axis=0)
            den = ((lv * r[:, None]) ** 2).sum(axis=0)
            s = np.where(den > 0, num / np.maximum(den, 1e-300), 0.0)
        if bits > 1 and it < n_iter - 1:
            rs = r[:, None] * s[None, :]
            safe = np.where(rs != 0, rs, 1.0)
            codes = _nearest_level(z64 / safe, levels)
            lv = levels.astype(np.float64)[codes]
    row_scales = r.astype(np.float16) if use_row else None
    dim_scales = s.astype(np.float32) if use_dim else None
    return codes, levels, row_scales, dim_scales


class LowBitTable(EmbeddingTable):
    """Base of the 1-bit and 2-bit tables (see the module docstring for the layout).

    Parameters
    ----------
    codes : uint8 array of shape (n_rows, ceil(dim * bits / 8))
        Packed codes.
    dim : int
        Columns.
    levels : float32 array of shape (2 ** bits,)
        Value of each code, ascending.
    row_scales : float16 array of shape (n_rows,), optional
    dim_scales : float32 array of shape (k,), optional
    mean : float32 array of shape (dim,), optional
        Added after the rotation (the centre the codes were taken around).
    rotation : float32 array of shape (dim, k), optional
        Orthonormal columns; decoded rows are ``y @ rotation.T + mean``. ``k`` (the code
        columns) is ``dim`` without it.
    norms : float16 array of shape (n_rows,), optional
        Multiplies each decoded row.
    """

    bits: ClassVar[int] = 1

    def __init__(self, codes, dim: int, levels, *, row_scales=None, dim_scales=None, mean=None,
                 rotation=None, norms=None):
        codes = np.asarray(codes)
        dim = int(dim)
        self.rotation = None
        code_dim = dim
        if rotation is not None:
            rot = np.asarray(rotation)
            if rot.dtype != np.float32 or rot.ndim != 2 or rot.shape[0] != dim \
                    or not 1 <= rot.shape[1] <= dim:
                raise InputError(f"{self.kind} rotation must be float32 ({dim}, k) with k <= "
                                 f"{dim}, got {rot.dtype} {rot.shape}")
            self.rotation = np.ascontiguousarray(rot)
            code_dim = rot.shape[1]
        n_bytes = self.row_bytes(code_dim)
        if codes.ndim != 2 or codes.dtype != np.uint8 or codes.shape[1] != n_bytes:
            raise InputError(f"{self.kind} codes of {code_dim} columns must be uint8 of shape "
                             f"(n_rows, {n_bytes}); got {codes.dtype} {codes.shape}")
        self.codes = np.ascontiguousarray(codes)
        self.n_rows, self.dim, self.code_dim = codes.shape[0], dim, code_dim
        self.levels = self._vector(levels, 1 << self.bits, np.float32, "levels")
        self.row_scales = None if row_scales is None else self._vector(
            row_scales, self.n_rows, np.float16, "row_scales")
        self.dim_scales = None if dim_scales is None else self._vector(
            dim_scales, code_dim, np.float32, "dim_scales")
        self.mean = None if mean is None else self._vector(mean, dim, np.float32, "mean")
        self.norms = None if norms is None else self._vector(norms, self.n_rows, np.float16,
                                                             "norms")
        self.meta: dict = {}

    def _vector(self, a, size: int, dtype, name: str) -> np.ndarray:
        a = np.asarray(a)
        if a.dtype != dtype or a.shape != (size,):
            raise InputError(f"{self.kind} {name} must be {np.dtype(dtype).name} of shape "
                             f"({size},), got {a.dtype} {a.shape}")
        if not np.isfinite(a).all():
            raise InputError(f"{self.kind} {name} holds NaN or infinite values")
        return np.ascontiguousarray(a)

    @classmethod
    def row_bytes(cls, dim: int) -> int:
        """Bytes of one row's codes."""
        return -(-int(dim) * cls.bits // 8)

    @property
    def scale(self) -> str:
        """Which scales the table has: "row", "dim", "both" (or "none")."""
        return {(True, True): "both", (True, False): "row", (False, True): "dim",
                (False, False): "none"}[(self.row_scales is not None,
                                         self.dim_scales is not None)]

    @classmethod
    def from_dense(cls, table_or_array, *, scale: str = "dim", center: bool = True,
                   rotation: bool | str = False, n_components: int | None = None,
                   normalize: bool = False, n_iter: int = 4, random_state=0) -> LowBitTable:
        """Quantise a float table (any kind, decoded) or matrix.

        Parameters
        ----------
        table_or_array : EmbeddingTable or array of shape (n_rows, dim)
            The values.
        scale : {"dim", "row", "both"}, default "dim"
            Scales kept: one float32 per dimension (free), one float16 per row (2 bytes a row),
            or both.
        center : bool, default True
            Subtract the column mean before coding (kept as ``mean``).
        rotation : bool or "pca", default False
            Rotate before coding: ``True`` a random orthogonal rotation, ``"pca"`` the
            principal directions of the centred rows (``dim * k`` float32 stored).
        n_components : int, optional
            Code columns ``k`` (default ``dim``); fewer keep the top principal directions only
            (needs ``rotation="pca"``, or a random one).
        normalize : bool, default False
            Code the unit rows; a float16 norm per row (2 bytes) restores each row's length.
        n_iter : int, default 4
            Alternating least-squares rounds for the scales (and 2-bit codes).
        random_state : int, default 0
            Seed of the rotation.

        Returns
        -------
        LowBitTable
            The coded table.

        Raises
        ------
        InputError
            For an unknown ``scale``, a non-matrix, or NaN/infinite values.

        Examples
        --------
        >>> x = np.random.default_rng(0).standard_normal((100, 16)).astype(np.float32)
        >>> Bit2Table.from_dense(x).codes.shape
        (100, 4)
        """
        if scale not in SCALES:
            raise InputError(f"{cls.kind} option 'scale' must be one of {', '.join(SCALES)}, "
                             f"got {scale!r}")
        if not isinstance(n_iter, (int, np.integer)) or n_iter < 1:
            raise InputError(f"{cls.kind} option 'n_iter' must be a positive integer, "
                             f"got {n_iter!r}")
        if rotation not in (False, True, "pca"):
            raise InputError(f"{cls.kind} option 'rotation' must be False, True or 'pca', got "
                             f"{rotation!r}")
        x = _float_matrix(table_or_array)
        n, dim = x.shape
        k = dim if n_components is None else n_components
        if not isinstance(k, (int, np.integer)) or not 1 <= k <= max(1, dim):
            raise InputError(f"{cls.kind} option 'n_components' must be an integer in [1, "
                             f"dim={dim}], got {n_components!r}")
        if k < dim and rotation is False:
            raise InputError(f"{cls.kind} option 'n_components' < dim needs rotation='pca' "
                             "(or True)")
        if normalize:
            row_norms = np.linalg.norm(x, axis=1)
            if row_norms.max(initial=0) > 65000:
                raise InputError(f"row norms exceed the float16 range of {cls.kind} norms")
            x = x / np.where(row_norms > 0, row_norms, 1)[:, None].astype(np.float32)
        mean = x.mean(axis=0, dtype=np.float64).astype(np.float32) if center and n else None
        z = x - mean[None, :] if mean is not None else x
        rot = None
        if rotation == "pca" and dim:
            sample = z if n <= 50000 else z[np.random.default_rng(random_state).choice(
                n, 50000, replace=False)]
            _, _, vt = np.linalg.svd(sample.astype(np.float64), full_matrices=False)
            rot = np.zeros((dim, k), np.float32)
            rot[:, :min(k, vt.shape[0])] = vt[:k].T
        elif rotation and dim:
            rot = np.ascontiguousarray(random_rotation(dim, random_state)[:, :k])
        if rot is not None:
            z = z @ rot
        codes = np.empty((n, cls.row_bytes(int(k))), np.uint8)
        if n == 0:
            levels = np.array([-1.0, 1.0], np.float32) if cls.bits == 1 else \
                np.array([-1.5, -0.5, 0.5, 1.5], np.float32)
            r = np.zeros(0, np.float16) if scale in ("row", "both") else None
            s = np.ones(k, np.float32) if scale in ("dim", "both") else None
            return cls(codes, dim, levels, row_scales=r, dim_scales=s, mean=mean, rotation=rot,
                       norms=np.zeros(0, np.float16) if normalize else None)
        c, levels, r, s = _fit(z, cls.bits, scale, int(n_iter))
        codes[:] = pack_codes(c, cls.bits)
        table = cls(codes, dim, levels, row_scales=r, dim_scales=s, mean=mean, rotation=rot)
        if normalize:
            dec = np.linalg.norm(table.rows(0, n), axis=1)
            table.norms = np.where(dec > 0, row_norms / np.maximum(dec, 1e-30), 0) \
                .astype(np.float16)
        return table

    # -- decode --------------------------------------------------------------------------------
    def _kernel_args(self):
        has_rows = self.row_scales is not None
        rows = self.row_scales.astype(np.float32) if self.row_scales is not None else \
            np.empty(0, np.float32)
        dims = self.dim_scales if self.dim_scales is not None else \
            np.ones(self.code_dim, np.float32)
        return rows, has_rows, dims

    def _byte_values(self, mean: np.ndarray) -> np.ndarray:
        """(row_bytes, 256, 8 // bits) float32: ``level * dim_scale + mean`` per byte value.

        Every slot of every byte value at every byte position (cached; 1 KiB per byte position).
        Each value is computed as the plain decode computes it, so the two agree bit for bit.
        """
        cached = getattr(self, "_byte_values_cache", None)
        if cached is None:
            per_byte = 8 // self.bits
            n_bytes = self.row_bytes(self.code_dim)
            byte = np.arange(256)
            slots = self.levels[(byte[:, None] >> (self.bits * np.arange(per_byte))[None, :])
                                & ((1 << self.bits) - 1)]  # (256, per_byte)
            dims = np.ones(n_bytes * per_byte, np.float32)
            add = np.zeros(n_bytes * per_byte, np.float32)
            if self.dim_scales is not None:
                dims[:self.code_dim] = self.dim_scales
            add[:self.code_dim] = mean
            vals = slots[None, :, :] * dims.reshape(n_bytes, 1, per_byte)
            cached = np.ascontiguousarray(vals + add.reshape(n_bytes, 1, per_byte),
                                          dtype=np.float32)
            self._byte_values_cache = cached
        return cached

    def _decode_flat(self, idx: np.ndarray) -> np.ndarray:
        k = kernels(_KERNELS)
        rows, has_rows, dims = self._kernel_args()
        add_mean = self.mean is not None and self.rotation is None
        mean = self.mean if add_mean and self.mean is not None else \
            np.zeros(self.code_dim, np.float32)
        out = np.empty((idx.size, self.code_dim), np.float32)
        if has_rows:
            k.lowbit_lookup(self.codes, self.code_dim, self.bits, self.levels, rows, has_rows,
                            dims, mean, idx, out)
        else:  # a table read per byte: several columns at once
            k.lowbit_lookup_lut(self.codes, self.code_dim, 8 // self.bits,
                                self._byte_values(mean), idx, out)
        if self.rotation is not None:
            out = out @ self.rotation.T
            if self.mean is not None:
                out += self.mean
        if self.norms is not None:
            out *= self.norms[idx].astype(np.float32)[:, None]
        return out

    def lookup(self, ids) -> np.ndarray:
        idx = check_ids(ids, self.n_rows)
        return self._decode_flat(idx.ravel()).reshape(idx.shape + (self.dim,))

    def rows(self, start: int, stop: int) -> np.ndarray:
        return self._decode_flat(np.arange(start, stop, dtype=np.int64))

    def bag(self, ids, offsets=None, *, mode="mean", weights=None, include_last_offset=False):
        idx, starts, ends, w = check_bag_inputs(ids, offsets, self.n_rows, weights=weights,
                                                include_last_offset=include_last_offset,
                                                mode=mode)
        rows, has_rows, dims = self._kernel_args()
        if self.norms is not None:  # a row's norm is one more weight of the row
            scale = self.norms[idx].astype(np.float32)
            w = scale if w is None else w * scale
        out = np.empty((starts.size, self.code_dim), np.float32)
        kernels(_KERNELS).lowbit_bag(self.codes, self.code_dim, self.bits, self.levels, rows,
                                     has_rows, dims, idx, starts, ends,
                                     w if w is not None else np.empty(0, np.float32),
                                     w is not None, False, out)
        # decoding is linear: the rotation and mean apply once per bag
        if self.rotation is not None:
            out = out @ self.rotation.T
        count = (ends - starts).astype(np.float32)
        if self.mean is not None:
            if w is not None:
                csum = np.concatenate([[0.0], np.cumsum(w, dtype=np.float64)])
                total = (csum[ends] - csum[starts]).astype(np.float32)
            else:
                total = count
            out += total[:, None] * self.mean[None, :]
        if mode == "mean":
            np.divide(out, count[:, None], out=out, where=count[:, None] > 0)
        return out

    # -- scoring without decoding --------------------------------------------------------------
    def byte_lut(self, queries) -> np.ndarray:
        """(n_queries, row_bytes, 256) float32: query dot products per byte value and position.

        Each query's dot product with the values (before row scale and mean) that every byte value
        codes at every byte position.
        """
        q = np.atleast_2d(np.asarray(queries, dtype=np.float32))
        if self.rotation is not None:
            q = q @ self.rotation
        if self.dim_scales is not None:
            q = q * self.dim_scales[None, :]
        per_byte = 8 // self.bits
        n_bytes = self.row_bytes(self.code_dim)
        w: np.ndarray = np.zeros((q.shape[0], n_bytes * per_byte), np.float32)
        w[:, :self.code_dim] = q
        w = w.reshape(q.shape[0], n_bytes, per_byte)
        byte = np.arange(256)
        mask = (1 << self.bits) - 1
        # values[b, k]: the level that byte value b holds in slot k
        values = self.levels[(byte[:, None] >> (self.bits * np.arange(per_byte))[None, :]) & mask]
        return np.ascontiguousarray(np.einsum("qpk,bk->qpb", w, values, dtype=np.float32))

    def scores(self, queries, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Dot products of float queries with rows ``start:stop``, computed from the codes.

        Parameters
        ----------
        queries : array of shape (n_queries, dim) or (dim,)
            Float queries.
        start, stop : int
            The rows scored (default all).

        Returns
        -------
        ndarray of float32, shape (n_queries, stop - start)
            ``queries @ decoded_rows.T`` up to float32 rounding, without decoding the rows.

        Raises
        ------
        InputError
            When the queries do not have ``dim`` columns or the range is invalid.

        Examples
        --------
        >>> x = np.random.default_rng(0).standard_normal((50, 8)).astype(np.float32)
        >>> t = Bit1Table.from_dense(x)
        >>> bool(np.allclose(t.scores(x[:2]), x[:2] @ t.to_dense().weights.T, atol=1e-4))
        True
        """
        q = np.atleast_2d(np.asarray(queries, dtype=np.float32))
        if q.ndim != 2 or q.shape[1] != self.dim:
            raise InputError(f"queries of shape {q.shape} do not match the table's dim "
                             f"{self.dim}")
        stop = self.n_rows if stop is None else int(stop)
        if not 0 <= start <= stop <= self.n_rows:
            raise InputError(f"rows {start}:{stop} out of range for {self.n_rows} rows")
        rows, has_rows, _ = self._kernel_args()
        out = np.empty((q.shape[0], stop - start), np.float32)
        kernels(_KERNELS).lowbit_scores(self.codes, self.byte_lut(q), rows, has_rows, int(start),
                                        stop, out)
        if self.mean is not None:
            out += (q @ self.mean)[:, None]
        if self.norms is not None:
            out *= self.norms[start:stop].astype(np.float32)[None, :]
        return out

    # -- storage -------------------------------------------------------------------------------
    def arrays(self):
        out = {"codes": self.codes, "levels": self.levels}
        for name in ("row_scales", "dim_scales", "mean", "rotation", "norms"):
            if getattr(self, name) is not None:
                out[name] = getattr(self, name)
        return out

    def attrs(self):
        out = {"n_rows": self.n_rows, "dim": self.dim, "bits": self.bits, "scale": self.scale,
               "center": self.mean is not None, "rotation": self.rotation is not None}
        if self.code_dim != self.dim:
            out["n_components"] = self.code_dim
        if self.norms is not None:
            out["normalize"] = True
        return out

    @classmethod
    def from_state(cls, attrs, arrays):
        if int(attrs.get("bits", cls.bits)) != cls.bits:
            raise ValueError(f"a {cls.kind} table has {cls.bits}-bit codes, the attributes "
                             f"say {attrs['bits']}")
        t = cls(arrays["codes"], attrs["dim"], arrays["levels"],
                row_scales=arrays.get("row_scales"), dim_scales=arrays.get("dim_scales"),
                mean=arrays.get("mean"), rotation=arrays.get("rotation"),
                norms=arrays.get("norms"))
        if t.n_rows != attrs["n_rows"]:
            raise ValueError(f"codes have {t.n_rows} rows, the attributes say {attrs['n_rows']}")
        return t

    @classmethod
    def estimate_nbytes(cls, n_rows: int, dim: int, *, scale: str = "dim", center: bool = True,
                        rotation: bool | str = False, n_components: int | None = None,
                        normalize: bool = False, **_) -> int:
        n_rows, dim = int(n_rows), int(dim)
        k = dim if n_components is None else int(n_components)
        return (n_rows * (cls.row_bytes(k) + (2 if normalize else 0)) + 4 * (1 << cls.bits)
                + (2 * n_rows if scale in ("row", "both") else 0)
                + (4 * k if scale in ("dim", "both") else 0)
                + (4 * dim if center else 0) + (4 * dim * k if rotation else 0))


@register_table
class Bit1Table(LowBitTable):
    """1-bit table: the sign of each centred value, scaled per dimension and/or per row.

    ``dim / 8`` bytes a row (rounded up): 32x smaller than float32 when ``dim`` is a
    multiple of 8 and only per-dimension scales are kept. See :class:`LowBitTable`.

    Examples
    --------
    >>> x = np.random.default_rng(0).standard_normal((100, 16)).astype(np.float32)
    >>> t = Bit1Table.from_dense(x)
    >>> t.codes.shape, t.lookup([0]).shape
    ((100, 2), (1, 16))
    """

    kind = "bit1"
    bits = 1
    plot_params: ClassVar[dict] = {"scale": "dim"}
    plot_label = "1-bit (centred, per-dim scale)"

    def encode_queries(self, queries) -> np.ndarray:
        """Packed sign codes of float queries; compare them with :meth:`hamming`.

        The queries are taken as the table's rows are (centred and rotated).

        Parameters
        ----------
        queries : array of shape (n_queries, dim) or (dim,)

        Returns
        -------
        ndarray of uint8, shape (n_queries, row_bytes)

        Examples
        --------
        >>> x = np.random.default_rng(0).standard_normal((20, 8)).astype(np.float32)
        >>> t = Bit1Table.from_dense(x)
        >>> bool((t.encode_queries(x) == t.codes).all())
        True
        """
        q: np.ndarray = np.atleast_2d(np.asarray(queries, dtype=np.float32))
        if q.shape[1] != self.dim:
            raise InputError(f"queries of shape {q.shape} do not match the table's dim "
                             f"{self.dim}")
        if self.norms is not None:
            qn = np.linalg.norm(q, axis=1, keepdims=True)
            q = q / np.where(qn > 0, qn, 1)
        z = q - self.mean[None, :] if self.mean is not None else q
        if self.rotation is not None:
            z = z @ self.rotation
        return pack_codes(_nearest_level(z.astype(np.float64), self.levels), 1)

    def hamming(self, query_codes, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Number of differing bits between packed query codes and rows ``start:stop``.

        Parameters
        ----------
        query_codes : uint8 array of shape (n_queries, row_bytes)
            From :meth:`encode_queries` (or rows of ``codes``).
        start, stop : int
            The rows compared (default all).

        Returns
        -------
        ndarray of int32, shape (n_queries, stop - start)

        Raises
        ------
        InputError
            When the codes have the wrong shape or the range is invalid.

        Examples
        --------
        >>> t = Bit1Table.from_dense(np.eye(8, dtype=np.float32))
        >>> t.hamming(t.codes[:1], 0, 2).tolist()
        [[0, 2]]
        """
        qc = np.atleast_2d(np.asarray(query_codes))
        if qc.dtype != np.uint8 or qc.shape[1] != self.codes.shape[1]:
            raise InputError(f"query codes must be uint8 with {self.codes.shape[1]} bytes a "
                             f"row, got {qc.dtype} {qc.shape}")
        stop = self.n_rows if stop is None else int(stop)
        if not 0 <= start <= stop <= self.n_rows:
            raise InputError(f"rows {start}:{stop} out of range for {self.n_rows} rows")
        out = np.empty((qc.shape[0], stop - start), np.int32)
        kernels(_KERNELS).hamming(np.ascontiguousarray(qc), self.codes, int(start), stop,
                                  _POPCOUNT, out)
        return out


@register_table
class Bit2Table(LowBitTable):
    """2-bit table: four fitted levels per centred value, scaled per dimension and/or per row.

    ``dim / 4`` bytes a row (rounded up): 16x smaller than float32 at per-dimension scales.
    See :class:`LowBitTable`.

    Examples
    --------
    >>> x = np.random.default_rng(0).standard_normal((100, 16)).astype(np.float32)
    >>> Bit2Table.from_dense(x, scale="row").row_scales.dtype
    dtype('float16')
    """

    kind = "bit2"
    bits = 2
    plot_params: ClassVar[dict] = {"scale": "dim"}
    plot_label = "2-bit (centred, per-dim scale)"


class _CodeBlocks:
    """Presents a low-bit table to ``blocked_top_k`` as blocks of row ranges (no decoding)."""

    def __init__(self, table: LowBitTable):
        self.n_rows = table.n_rows

    def iter_blocks(self, block: int):
        for s in range(0, self.n_rows, block):
            yield s, np.arange(s, min(self.n_rows, s + block))


def lowbit_search(table: LowBitTable, queries, *, k: int = 10, metric: str = "cosine",
                  exclude=None, block_rows: int = 16384, query_batch: int = 256):
    """Exact top-k rows of a 1-bit or 2-bit table for float queries, scored on the codes.

    Parameters
    ----------
    table : Bit1Table or Bit2Table
        The table searched.
    queries : array of shape (n_queries, dim) or (dim,)
        Float queries.
    k : int, default 10
        Results per query.
    metric : {"cosine", "dot"}, default "cosine"
        Cosine divides by the decoded rows' norms (cached; all-zero rows are skipped).
    exclude : optional
        Rows never returned, as in :func:`compactemb.search.search`.
    block_rows, query_batch : int
        Rows and queries scored at once.

    Returns
    -------
    compactemb.search.SearchResult
        ``ids`` and ``scores`` (n_queries, k), best first; the same ranking as
        :func:`compactemb.search.search` on the decoded table up to float32 rounding.

    Raises
    ------
    InputError
        For an unknown metric, ``k < 1`` or queries of the wrong width.

    Examples
    --------
    >>> x = np.random.default_rng(0).standard_normal((100, 16)).astype(np.float32)
    >>> t = Bit2Table.from_dense(x)
    >>> lowbit_search(t, t.lookup([3]), k=1).ids
    array([[3]])
    """
    from ..search import blocked_top_k

    if metric not in ("cosine", "dot"):
        raise InputError(f"metric must be 'cosine' or 'dot', got {metric!r}")
    if not isinstance(table, LowBitTable):
        raise InputError(f"lowbit_search needs a 1-bit or 2-bit table, got {type(table).__name__}")
    q: np.ndarray = np.atleast_2d(np.asarray(queries, dtype=np.float32))
    if q.ndim != 2 or q.shape[1] != table.dim:
        raise InputError(f"queries of shape {q.shape} do not match the table's dim {table.dim}")
    inv = None
    if metric == "cosine":
        qn = np.linalg.norm(q, axis=1, keepdims=True)
        q = q / np.where(qn > 0, qn, 1)
        norms = table.row_norms()
        inv = np.where(norms > 0, 1.0 / np.maximum(norms, 1e-30), 0).astype(np.float32)

    def score(q0, q1, start, rows):
        s = table.scores(q[q0:q1], start, start + rows.size)
        if inv is not None:
            part = inv[start:start + rows.size]
            s *= part
            s[:, part == 0] = -np.inf
        return s

    return blocked_top_k(score, q.shape[0], _CodeBlocks(table), k=k, exclude=exclude,
                         block_rows=block_rows, query_batch=query_batch)
