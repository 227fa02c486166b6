"""Residual quantisation: each row is the sum of one centroid from each of S full-width codebooks.

Stage 1 quantises the row, stage 2 what stage 1 left over, and so on::

    row ~= C0[codes[i, 0]] + C1[codes[i, 1]] + ... + C{S-1}[codes[i, S-1]]    (S bytes a row)

Unlike PQ every codebook spans the whole dimension, so each byte refines the whole vector (no
split into independent sub-spaces). Training (on a sample of rows):

1. greedy: k-means on the residuals, stage by stage;
2. ``refine_iter`` rounds of: encode the sample by beam search (keep the ``beam`` best partial
   sums at each stage, as FAISS's ``ResidualQuantizer``), then refit all codebooks jointly by
   least squares for those codes (the codebook update of LSQ, Martinez et al. 2016).

Every row is then encoded by beam search. With ``normalize=True`` the codes quantise unit
vectors and a float16 scale per row restores each row's length (as in PQ).

Scoring a query against the codes needs one lookup table ``lut[s, c] = q . C_s[c]`` (S x K
floats) and the same sum over the codes as PQ's asymmetric distance computation
(``tables._adc``).
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from .._progress import progress
from ..cluster._kmeans import kmeans
from ..exceptions import InputError
from ._base import EmbeddingTable, check_ids, register_table
from ._pq import checked_norms

_ENCODE_BLOCK = 2048  # rows beam-searched at once: (rows x beam x K) distances in memory


def decode_rq(codes: np.ndarray, codebooks: np.ndarray) -> np.ndarray:
    """(n, S) codes -> (n, dim) float32: the sum of each stage's centroid.

    Parameters
    ----------
    codes : numpy.ndarray of uint8, shape (n, S)
        Codes.
    codebooks : numpy.ndarray of float32, shape (S, K, dim)
        Codebooks.

    Returns
    -------
    numpy.ndarray of float32, shape (n, dim)
        Decoded rows.
    """
    out = np.zeros((codes.shape[0], codebooks.shape[2]), np.float32)
    for s in range(codebooks.shape[0]):
        out += codebooks[s][codes[:, s]]
    return out


def encode_rq(x: np.ndarray, codebooks: np.ndarray, beam: int = 1) -> np.ndarray:
    """Codes (n, S) uint8 of ``x`` by beam search over the stages (beam 1 = greedy).

    At each stage every kept partial sum is extended by every centroid and the ``beam`` extensions
    of least squared error are kept; the best at the last stage wins.

    Parameters
    ----------
    x : numpy.ndarray, shape (n, dim)
        Rows to encode.
    codebooks : numpy.ndarray of float32, shape (S, K, dim)
        Codebooks.
    beam : int, default 1
        Partial encodings kept per row.

    Returns
    -------
    numpy.ndarray of uint8, shape (n, S)
        Codes.
    """
    n_stages, n_cent, _ = codebooks.shape
    sq_norms = np.einsum("skd,skd->sk", codebooks, codebooks)
    codes = np.empty((x.shape[0], n_stages), np.uint8)
    for a in range(0, x.shape[0], _ENCODE_BLOCK):
        blk = np.ascontiguousarray(x[a:a + _ENCODE_BLOCK], dtype=np.float32)
        n = blk.shape[0]
        resid = blk[:, None, :]  # (n, b, dim): the residual of each kept partial encoding
        err = np.einsum("nbd,nbd->nb", resid, resid)
        path = np.zeros((n, 1, 0), np.uint8)
        for s in range(n_stages):
            b = resid.shape[1]
            # |r - c|^2 = |r|^2 - 2 r.c + |c|^2 for every (kept encoding, centroid)
            dots = (resid.reshape(n * b, -1) @ codebooks[s].T).reshape(n, b, n_cent)
            cand = err[:, :, None] - 2 * dots + sq_norms[s][None, None, :]
            flat = cand.reshape(n, b * n_cent)
            width = min(beam, b * n_cent)
            if width < flat.shape[1]:
                pick = np.argpartition(flat, width - 1, axis=1)[:, :width]
            else:
                pick = np.broadcast_to(np.arange(flat.shape[1]), (n, flat.shape[1]))
            parent, cent = pick // n_cent, (pick % n_cent).astype(np.uint8)
            rows = np.arange(n)[:, None]
            resid = resid[rows, parent] - codebooks[s][cent]
            err = np.take_along_axis(flat, pick, axis=1)
            path = np.concatenate([path[rows, parent], cent[:, :, None]], axis=2)
        best = np.argmin(err, axis=1)
        codes[a:a + n] = path[np.arange(n), best]
    return codes


def refit_codebooks(x: np.ndarray, codes: np.ndarray, codebooks: np.ndarray,
                    ridge: float = 1e-3) -> np.ndarray:
    """All codebooks jointly by least squares for fixed codes (LSQ's codebook update).

    Minimises ``|x - sum_s C_s[codes[:, s]]|^2 + ridge * |C - C_old|^2``: the normal equations
    of the one-hot code matrix B (n x S*K), ``(B'B + ridge I) C = B'x + ridge C_old``; the ridge
    keeps unused centroids where they were.

    Parameters
    ----------
    x : numpy.ndarray, shape (n, dim)
        Training rows.
    codes : numpy.ndarray of uint8, shape (n, S)
        Their codes.
    codebooks : numpy.ndarray of float32, shape (S, K, dim)
        Current codebooks.
    ridge : float
        Pull towards the current codebooks.

    Returns
    -------
    numpy.ndarray of float32, shape (S, K, dim)
        Refitted codebooks.
    """
    import scipy.sparse as sp

    n_stages, n_cent, dim = codebooks.shape
    n = codes.shape[0]
    cols = (codes.astype(np.int64) + n_cent * np.arange(n_stages)[None, :]).ravel()
    onehot = sp.csr_matrix((np.ones(cols.size), (np.repeat(np.arange(n), n_stages), cols)),
                           shape=(n, n_stages * n_cent))
    gram = (onehot.T @ onehot).toarray() + ridge * np.eye(n_stages * n_cent)
    rhs = onehot.T @ x.astype(np.float64) + ridge * codebooks.reshape(-1, dim)
    sol = np.linalg.solve(gram, rhs)
    return sol.reshape(n_stages, n_cent, dim).astype(np.float32)


def check_rq_options(n_rows: int, n_stages, n_centroids, n_iter, beam, refine_iter) -> None:
    """Clear errors for out-of-range RQ options (naming the option and the constraint)."""
    for name, value in (("n_stages", n_stages), ("n_iter", n_iter), ("beam", beam)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
            raise InputError(f"rq option '{name}' must be a positive integer, got {value!r}")
    if not isinstance(refine_iter, (int, np.integer)) or refine_iter < 0:
        raise InputError(f"rq option 'refine_iter' must be an integer >= 0, got {refine_iter!r}")
    if not isinstance(n_centroids, (int, np.integer)) or not 2 <= n_centroids <= 256:
        raise InputError(f"rq option 'n_centroids' must be an integer in [2, 256] (one byte per "
                         f"code), got {n_centroids!r}")
    if n_rows < n_centroids:
        raise InputError(f"rq needs at least n_centroids={n_centroids} rows to train its "
                         f"codebooks; the table has {n_rows} (lower 'n_centroids')")


@register_table
class RQTable(EmbeddingTable):
    """Residual-quantised table: ``codes`` (n_rows, S) uint8 + ``codebooks`` (S, K, dim).

    Parameters
    ----------
    codebooks : float32 array of shape (n_stages, n_centroids, dim)
        One full-width codebook per stage.
    codes : uint8 array of shape (n_rows, n_stages)
        A row decodes as ``sum_s codebooks[s, codes[i, s]]``.
    norms : float16 array of shape (n_rows,), optional
        Per-row scales (``normalize``): the row is multiplied by ``norms[i]``.

    Examples
    --------
    >>> x = np.random.default_rng(0).standard_normal((500, 8)).astype(np.float32)
    >>> t = RQTable.from_dense(x, n_stages=2, n_centroids=16, n_iter=5)
    >>> t.codes.shape, t.nbytes
    ((500, 2), 2024)
    """

    kind = "rq"
    plot_params: ClassVar[dict] = {"n_stages": 4}
    plot_label = "RQ (4 stages, 4 B/row)"

    def __init__(self, codebooks, codes, norms=None):
        cb = np.ascontiguousarray(codebooks, dtype=np.float32)
        cd = np.asarray(codes)
        if cb.ndim != 3 or cd.ndim != 2 or cd.dtype != np.uint8 or cd.shape[1] != cb.shape[0]:
            raise InputError(f"rq needs codebooks (S, K, dim) and uint8 codes (n, S); got "
                             f"{cb.shape} and {cd.dtype} {cd.shape}")
        if cd.size and int(cd.max()) >= cb.shape[1]:
            raise InputError(f"code {int(cd.max())} out of range for {cb.shape[1]} centroids")
        self.codebooks, self.codes = cb, np.ascontiguousarray(cd)
        self.n_stages, self.n_centroids, self.dim = cb.shape
        self.n_rows = cd.shape[0]
        self.norms = checked_norms(norms, self.n_rows)
        self.meta: dict = {}

    @classmethod
    def from_dense(cls, table_or_array, *, n_stages: int = 4, n_centroids: int = 256,
                   n_iter: int = 20, sample: int | None = 65536, beam: int = 8,
                   refine_iter: int = 2, normalize: bool = False,
                   random_state: int = 0) -> RQTable:
        """Train the codebooks on a sample of rows and encode every row (module docstring).

        Parameters
        ----------
        n_stages : int, default 4
            S, bytes per row.
        n_centroids : int, default 256
            Centroids per stage (at most 256: one byte per code).
        n_iter : int, default 20
            k-means iterations of each stage's greedy training.
        sample : int or None, default 65536
            Rows drawn (without replacement) to train on; None = all.
        beam : int, default 8
            Partial encodings kept per row by the beam search (1 = greedy).
        refine_iter : int, default 2
            Rounds of beam encoding + joint least-squares codebook refit after the greedy
            training.
        normalize : bool, default False
            Quantise unit vectors and keep a float16 scale per row.
        random_state : int, default 0
            Seed of the sample and the k-means.

        Returns
        -------
        RQTable
            The codes and codebooks.

        Raises
        ------
        InputError
            When an option is out of range or the table has fewer rows than centroids.
        """
        x = table_or_array.to_dense().weights if isinstance(table_or_array, EmbeddingTable) \
            else np.ascontiguousarray(table_or_array, dtype=np.float32)
        if x.ndim != 2:
            raise InputError(f"a table needs a 2-D matrix, got shape {x.shape}")
        if x.size and not np.isfinite(x).all():
            raise InputError("the table holds NaN or infinite values; they cannot be quantised")
        n, dim = x.shape
        check_rq_options(n, n_stages, n_centroids, n_iter, beam, refine_iter)
        if sample is not None and (not isinstance(sample, (int, np.integer)) or sample < 1):
            raise InputError(f"rq option 'sample' must be a positive integer, got {sample!r}")
        rng = np.random.default_rng(random_state)
        norms = None
        if normalize:
            norms = np.linalg.norm(x, axis=1)
            if norms.max(initial=0) > 65000:
                raise InputError("row norms exceed the float16 range of rq 'normalize' scales")
            x = x / np.where(norms > 0, norms, 1)[:, None].astype(np.float32)
        train = x if sample is None or sample >= n else x[np.sort(rng.choice(n, sample,
                                                                            replace=False))]
        books = np.empty((n_stages, n_centroids, dim), np.float32)
        with progress(total=n_stages + refine_iter + 1, desc="rq") as bar:
            resid = train.copy()
            for s in range(n_stages):  # greedy: k-means of what the earlier stages left
                labels, centers = kmeans(resid, n_centroids, max_iter=n_iter, tol=0.0,
                                         random_state=rng, n_trials=1)[:2]
                books[s] = centers
                resid -= books[s][labels]
                bar.update()
            for _ in range(refine_iter):
                books = refit_codebooks(train, encode_rq(train, books, beam), books)
                bar.update()
            codes = encode_rq(x, books, beam)
            bar.update()
        scales = None
        if norms is not None:
            dec_norm = np.linalg.norm(decode_rq(codes, books), axis=1)
            scales = np.where(dec_norm > 0, norms / np.maximum(dec_norm, 1e-30), 0) \
                .astype(np.float16)
        return cls(books, codes, scales)

    def _lookup_flat(self, idx: np.ndarray) -> np.ndarray:
        out = decode_rq(self.codes[idx], self.codebooks)
        if self.norms is not None:
            out *= self.norms[idx].astype(np.float32)[:, None]
        return out

    def lookup(self, ids) -> np.ndarray:
        idx = check_ids(ids, self.n_rows)
        return self._lookup_flat(idx.ravel()).reshape(idx.shape + (self.dim,))

    def rows(self, start: int, stop: int) -> np.ndarray:
        return self._lookup_flat(np.arange(start, stop, dtype=np.int64))

    def arrays(self):
        out = {"codebooks": self.codebooks, "codes": self.codes}
        if self.norms is not None:
            out["norms"] = self.norms
        return out

    def attrs(self):
        return {"n_rows": self.n_rows, "dim": self.dim, "n_stages": self.n_stages,
                "n_centroids": self.n_centroids, "normalize": self.norms is not None}

    @classmethod
    def from_state(cls, attrs, arrays):
        t = cls(arrays["codebooks"], arrays["codes"], arrays.get("norms"))
        if (t.n_rows, t.dim) != (attrs["n_rows"], attrs["dim"]):
            raise ValueError(f"arrays give {t.n_rows} x {t.dim}, the attributes "
                             f"{attrs['n_rows']} x {attrs['dim']}")
        return t

    @classmethod
    def estimate_nbytes(cls, n_rows: int, dim: int, *, n_stages: int = 4,
                        n_centroids: int = 256, normalize: bool = False, **_) -> int:
        return (int(n_rows) * (int(n_stages) + (2 if normalize else 0))
                + int(n_stages) * int(n_centroids) * int(dim) * 4)
