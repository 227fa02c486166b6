"""Product quantisation: each row is M one-byte codes into M codebooks of sub-vectors.

The dimension splits into ``M`` sub-vectors of ``dim / M`` values; each sub-space has its own
codebook of (up to) 256 centroids trained by k-means on a sample of rows, and a row is stored as
the ``M`` indices of its nearest centroids::

    row (dim = 8, M = 4):  [x0 x1 | x2 x3 | x4 x5 | x6 x7]  ->  codes [17, 3, 250, 96]  (4 bytes)
    decode:               concat(C0[17], C1[3], C2[250], C3[96])

Optionally (``rotation=True``) an orthogonal rotation ``R`` is learned first (OPQ, Ge et al.
2013: alternate PQ training on ``X R`` and the Procrustes solution for ``R``); rows are then
decoded as ``decode(codes) @ R.T``.

With ``normalize=True`` the codes quantise the unit vectors ``x / |x|`` and a float16 scale per
row (2 bytes) restores the norm, ``row = scale * decode(codes)`` with ``scale = |x| / |decode|``,
so every decoded row keeps its original length. Word vectors are compared by cosine and their
norms vary widely; quantising directions spends the codes where cosine looks.
"""

from __future__ import annotations

import contextvars
from typing import ClassVar

import numpy as np

from .._native import kernels
from .._progress import progress
from ..cluster._kmeans import assign, kmeans
from ..exceptions import InputError
from ._base import EmbeddingTable, check_bag_inputs, check_ids, register_table


def train_pq(x: np.ndarray, n_subvectors: int, n_centroids: int, *, n_iter: int,
             rng: np.random.Generator, init=None) -> np.ndarray:
    """Codebooks (M, K, dsub) trained by k-means on each sub-space.

    The k-means is the package's one (``cluster._kmeans``): ``n_iter`` Lloyd iterations at most,
    fewer once no label changes.

    Seeding is classic k-means++ (one trial): the greedy variant's ``2 + log 256`` trials made
    training 1.7x slower for a reconstruction error 0.2% lower.
    """
    dsub = x.shape[1] // n_subvectors
    books = np.empty((n_subvectors, n_centroids, dsub), np.float32)
    for m in range(n_subvectors):
        sub = np.ascontiguousarray(x[:, m * dsub:(m + 1) * dsub], dtype=np.float32)
        books[m] = kmeans(sub, n_centroids, max_iter=n_iter, tol=0.0, random_state=rng, n_trials=1,
                          init=None if init is None else init[m])[1]
    return books


def encode_pq(x: np.ndarray, codebooks: np.ndarray) -> np.ndarray:
    """Codes (n, M) uint8: the nearest centroid of each sub-vector."""
    n_sub, _, dsub = codebooks.shape
    codes = np.empty((x.shape[0], n_sub), np.uint8)
    for m in range(n_sub):
        codes[:, m] = assign(np.ascontiguousarray(x[:, m * dsub:(m + 1) * dsub],
                                                  dtype=np.float32), codebooks[m])[0]
    return codes


def decode_pq(codes: np.ndarray, codebooks: np.ndarray) -> np.ndarray:
    """NumPy twin of the decode kernel: (n, M) codes -> (n, dim) float32."""
    n_sub = codebooks.shape[0]
    return np.concatenate([codebooks[m][codes[:, m]] for m in range(n_sub)], axis=1) \
        if codes.shape[0] else np.zeros((0, codebooks.shape[0] * codebooks.shape[2]),
                                        np.float32)


# encodes every row for PQTable.from_dense: a callable like encode_rows, or None for
# encode_rows itself; compactemb.distributed sets it to encode row ranges as Ray tasks
row_encoder: contextvars.ContextVar = contextvars.ContextVar("pq_row_encoder", default=None)


def encode_rows(x: np.ndarray, codebooks: np.ndarray, rotation: np.ndarray | None = None,
                start: int = 0, stop: int | None = None) -> np.ndarray:
    """PQ codes of rows ``start:stop`` of ``x`` (rotated first), in blocks of 65,536 rows.

    The blocks are counted from row 0 whatever ``start`` (a multiple of 65,536 when not 0), so
    codes of row ranges concatenate to the codes of the whole table, bit for bit.
    """
    stop = x.shape[0] if stop is None else stop
    codes = np.empty((stop - start, codebooks.shape[0]), np.uint8)
    for s in range(start, stop, 65536):
        blk = x[s:min(stop, s + 65536)]
        codes[s - start:s - start + blk.shape[0]] = encode_pq(
            blk @ rotation if rotation is not None else blk, codebooks)
    return codes


def check_pq_options(n_rows: int, dim: int, n_subvectors, n_centroids, n_iter) -> None:
    """Clear errors for incompatible PQ options (naming the option and the constraint)."""
    if not isinstance(n_subvectors, (int, np.integer)) or n_subvectors < 1:
        raise InputError(f"pq option 'n_subvectors' must be a positive integer, "
                         f"got {n_subvectors!r}")
    if dim % n_subvectors:
        raise InputError(f"pq option 'n_subvectors'={n_subvectors} must divide the dimension "
                         f"dim={dim}")
    if not isinstance(n_centroids, (int, np.integer)) or not 2 <= n_centroids <= 256:
        raise InputError(f"pq option 'n_centroids' must be an integer in [2, 256] (one byte per "
                         f"code), got {n_centroids!r}")
    if n_rows < n_centroids:
        raise InputError(f"pq needs at least n_centroids={n_centroids} rows to train its "
                         f"codebooks; the table has {n_rows} (lower 'n_centroids')")
    if not isinstance(n_iter, (int, np.integer)) or n_iter < 1:
        raise InputError(f"pq option 'n_iter' must be a positive integer, got {n_iter!r}")


def pq_settings_for_bytes(n_rows: int, dim: int, max_bytes: int, *, rotation: bool = False,
                          normalize: bool = False, n_centroids: int | None = None) -> dict:
    """``n_subvectors`` and ``n_centroids`` of the PQ table that best uses ``max_bytes``.

    Among the settings whose bytes (codes + codebooks, + rotation and scales when asked) fit,
    the one with the most code bits a row (``M * log2(K)``) wins, ties to more centroids (fewer,
    wider sub-vectors quantise better at equal bits); with a byte a code, fewer centroids only
    make the codebooks smaller. ``M`` runs over the divisors of dim, ``K`` over the powers of
    two up to 256 (and up to the row count) unless ``n_centroids`` is given.

    Parameters
    ----------
    n_rows, dim : int
        The table's shape.
    max_bytes : int
        The budget for the table's arrays.
    rotation, normalize : bool
        Options of :meth:`PQTable.from_dense` whose bytes count too.
    n_centroids : int, optional
        Keep this codebook size; only ``n_subvectors`` is chosen.

    Returns
    -------
    dict
        ``{"n_subvectors": M, "n_centroids": K}``.

    Raises
    ------
    InputError
        When not even one sub-vector of the fewest centroids fits the budget.

    Examples
    --------
    >>> pq_settings_for_bytes(42843, 100, 42843 * 100 * 4 // 32)
    {'n_subvectors': 10, 'n_centroids': 256}
    >>> pq_settings_for_bytes(42843, 100, 42843 * 100 * 4 // 100)
    {'n_subvectors': 2, 'n_centroids': 128}
    """
    sizes = [n_centroids] if n_centroids is not None else \
        [1 << b for b in range(1, 9) if 1 << b <= max(2, n_rows)]
    best, best_key = None, None
    for m in (m for m in range(1, dim + 1) if dim % m == 0):
        for k in sizes:
            size = PQTable.estimate_nbytes(n_rows, dim, n_subvectors=m, n_centroids=k,
                                           rotation=rotation, normalize=normalize)
            key = (m * np.log2(k), k)
            if size <= max_bytes and (best_key is None or key > best_key):
                best, best_key = {"n_subvectors": m, "n_centroids": k}, key
    if best is None:
        least = PQTable.estimate_nbytes(n_rows, dim, n_subvectors=1, n_centroids=min(sizes),
                                        rotation=rotation, normalize=normalize)
        raise InputError(f"no pq table of {n_rows:,} x {dim} fits {int(max_bytes):,} bytes: the "
                         f"smallest (1 sub-vector, {min(sizes)} centroids"
                         f"{', rotation' if rotation else ''}) takes {least:,}")
    return best


def checked_rotation(rotation, dim: int) -> np.ndarray | None:
    """A stored ``dim x dim`` float32 rotation (or None), checked."""
    if rotation is None:
        return None
    r = np.ascontiguousarray(rotation, dtype=np.float32)
    if r.shape != (dim, dim):
        raise InputError(f"rotation must be {dim} x {dim}, got {r.shape}")
    return r


def checked_norms(norms, n_rows: int) -> np.ndarray | None:
    """Stored float16 per-row scales (or None), checked."""
    if norms is None:
        return None
    nm = np.asarray(norms)
    if nm.dtype != np.float16 or nm.shape != (n_rows,):
        raise InputError(f"norms must be float16 of shape ({n_rows},), got {nm.dtype} "
                         f"{nm.shape}")
    return np.ascontiguousarray(nm)


@register_table
class PQTable(EmbeddingTable):
    """Product-quantised table: ``codes`` (n_rows, M) uint8 + ``codebooks`` (M, K, dim/M).

    Parameters
    ----------
    codebooks : float32 array of shape (n_subvectors, n_centroids, dim // n_subvectors)
    codes : uint8 array of shape (n_rows, n_subvectors)
    rotation : float32 array of shape (dim, dim), optional
        Orthogonal; rows decode as ``concat(codebooks[m, codes[:, m]]) @ rotation.T``.
    """

    kind = "pq"
    plot_params: ClassVar[dict] = {"n_subvectors": 10}
    plot_label = "PQ (M=10, 10 B/row)"

    def __init__(self, codebooks, codes, rotation=None, norms=None):
        cb = np.ascontiguousarray(codebooks, dtype=np.float32)
        cd = np.asarray(codes)
        if cb.ndim != 3 or cd.ndim != 2 or cd.dtype != np.uint8 or cd.shape[1] != cb.shape[0]:
            raise InputError(f"pq needs codebooks (M, K, dsub) and uint8 codes (n, M); got "
                             f"{cb.shape} and {cd.dtype} {cd.shape}")
        if cd.size and int(cd.max()) >= cb.shape[1]:
            raise InputError(f"code {int(cd.max())} out of range for {cb.shape[1]} centroids")
        self.codebooks, self.codes = cb, np.ascontiguousarray(cd)
        self.n_subvectors, self.n_centroids, self.dsub = cb.shape
        self.n_rows, self.dim = cd.shape[0], self.n_subvectors * self.dsub
        self.rotation = checked_rotation(rotation, self.dim)
        self.norms = checked_norms(norms, self.n_rows)
        self.meta: dict = {}

    @classmethod
    def from_dense(cls, table_or_array, *, n_subvectors: int, n_centroids: int = 256,
                   n_iter: int = 20, sample: int | None = 65536, rotation: bool = False,
                   rotation_iter: int = 8, normalize: bool = False, seed: int = 0) -> PQTable:
        """Train codebooks on a sample of rows (k-means per sub-space) and encode every row.

        Parameters
        ----------
        n_subvectors : int
            M, must divide dim; bytes per row = M.
        n_centroids : int, default 256
            Centroids per sub-space (at most 256: one byte per code).
        n_iter : int, default 20
            k-means iterations.
        sample : int or None, default 65536
            Rows drawn (without replacement) to train on; None = all.
        rotation : bool, default False
            Learn an OPQ rotation (``rotation_iter`` alternations) before quantising.
        normalize : bool, default False
            Quantise unit vectors and keep a float16 scale per row (see the module docstring).

        Returns
        -------
        PQTable
            The codes and codebooks.

        Raises
        ------
        InputError
            When ``n_subvectors`` does not divide dim, or an option is out of range.
        """
        x = table_or_array.to_dense().weights if isinstance(table_or_array, EmbeddingTable) \
            else np.ascontiguousarray(table_or_array, dtype=np.float32)
        if x.ndim != 2:
            raise InputError(f"a table needs a 2-D matrix, got shape {x.shape}")
        if x.size and not np.isfinite(x).all():
            raise InputError("the table holds NaN or infinite values; they cannot be quantised")
        n, dim = x.shape
        check_pq_options(n, dim, n_subvectors, n_centroids, n_iter)
        if sample is not None and (not isinstance(sample, (int, np.integer)) or sample < 1):
            raise InputError(f"pq option 'sample' must be a positive integer, got {sample!r}")
        rng = np.random.default_rng(seed)
        norms = None
        if normalize:
            norms = np.linalg.norm(x, axis=1)
            if norms.max(initial=0) > 65000:
                raise InputError("row norms exceed the float16 range of pq 'normalize' scales")
            x = x / np.where(norms > 0, norms, 1)[:, None].astype(np.float32)
        train = x if sample is None or sample >= n else x[np.sort(rng.choice(n, sample,
                                                                            replace=False))]
        rot = None
        with progress(total=(rotation_iter if rotation else 0) + 2, desc="pq") as bar:
            if rotation:
                rot = np.eye(dim, dtype=np.float32)
                books = None
                for _ in range(rotation_iter):
                    xr = train @ rot
                    books = train_pq(xr, n_subvectors, n_centroids, n_iter=max(2, n_iter // 4),
                                     rng=rng, init=books)
                    y = decode_pq(encode_pq(xr, books), books)
                    u, _, vt = np.linalg.svd(train.T.astype(np.float64) @ y, full_matrices=False)
                    rot = (u @ vt).astype(np.float32)
                    bar.update()
                xr = train @ rot
                books = train_pq(xr, n_subvectors, n_centroids, n_iter=n_iter, rng=rng,
                                 init=books)
            else:
                books = train_pq(train, n_subvectors, n_centroids, n_iter=n_iter, rng=rng)
            bar.update()
            codes = (row_encoder.get() or encode_rows)(x, books, rot)
            bar.update()
        scales = None
        if norms is not None:
            dec_norm = np.linalg.norm(decode_pq(codes, books), axis=1)  # rotation keeps norms
            scales = np.where(dec_norm > 0, norms / np.maximum(dec_norm, 1e-30), 0) \
                .astype(np.float16)
        return cls(books, codes, rot, scales)

    def _lookup_flat(self, idx: np.ndarray) -> np.ndarray:
        pq_lookup = kernels("compactemb.tables._compress_kernels").pq_lookup
        out = np.empty((idx.size, self.dim), np.float32)
        pq_lookup(self.codebooks, self.codes, idx, out)
        if self.norms is not None:
            out *= self.norms[idx].astype(np.float32)[:, None]
        return out if self.rotation is None else out @ self.rotation.T

    def lookup(self, ids) -> np.ndarray:
        idx = check_ids(ids, self.n_rows)
        return self._lookup_flat(idx.ravel()).reshape(idx.shape + (self.dim,))

    def rows(self, start: int, stop: int) -> np.ndarray:
        return self._lookup_flat(np.arange(start, stop, dtype=np.int64))

    def bag(self, ids, offsets=None, *, mode="mean", weights=None, include_last_offset=False):
        pq_bag = kernels("compactemb.tables._compress_kernels").pq_bag
        idx, starts, ends, w = check_bag_inputs(ids, offsets, self.n_rows, weights=weights,
                                                include_last_offset=include_last_offset,
                                                mode=mode)
        out = np.empty((starts.size, self.dim), np.float32)
        if self.norms is not None:  # per-row scales are per-sample weights of the bag
            scale = self.norms[idx].astype(np.float32)
            w = scale if w is None else w * scale
        pq_bag(self.codebooks, self.codes, idx, starts, ends,
               w if w is not None else np.empty(0, np.float32), w is not None,
               mode == "mean", out)
        # decoding is linear, so the rotation applies once per bag
        return out if self.rotation is None else out @ self.rotation.T

    def arrays(self):
        out = {"codebooks": self.codebooks, "codes": self.codes}
        if self.rotation is not None:
            out["rotation"] = self.rotation
        if self.norms is not None:
            out["norms"] = self.norms
        return out

    def attrs(self):
        return {"n_rows": self.n_rows, "dim": self.dim, "n_subvectors": self.n_subvectors,
                "n_centroids": self.n_centroids, "rotation": self.rotation is not None,
                "normalize": self.norms is not None}

    @classmethod
    def from_state(cls, attrs, arrays):
        t = cls(arrays["codebooks"], arrays["codes"], arrays.get("rotation"),
                arrays.get("norms"))
        if (t.n_rows, t.dim) != (attrs["n_rows"], attrs["dim"]):
            raise ValueError(f"arrays give {t.n_rows} x {t.dim}, the attributes "
                             f"{attrs['n_rows']} x {attrs['dim']}")
        return t

    @classmethod
    def estimate_nbytes(cls, n_rows: int, dim: int, *, n_subvectors: int = 10,
                        n_centroids: int = 256, rotation: bool = False,
                        normalize: bool = False, **_) -> int:
        return (int(n_rows) * (int(n_subvectors) + (2 if normalize else 0))
                + int(n_centroids) * int(dim) * 4 + (int(dim) * int(dim) * 4 if rotation else 0))
