"""Count-based embeddings: co-occurrence -> PPMI -> truncated SVD (words), PureSVD (items).

Words follow Levy, Goldberg & Dagan (2015): co-occurrence counts within a window, positive PMI
with context-distribution smoothing (context counts raised to ``cds = 0.75``), an optional shift
by ``log(shift)``, then a truncated SVD ``M ~ U S V^T`` and embeddings ``U S^eig`` with eigenvalue
weighting ``eig = 0.5``. Items reuse the SVD on the user x item matrix (PureSVD, Cremonesi et al.
2010): users ``U S^eig``, items ``V S^(1-eig)``, so that ``user . item`` approximates the matrix.
"""

from __future__ import annotations

import os
import time

import numpy as np
import scipy.sparse as sp

from .._native import kernels
from .._progress import progress
from .._validation import RANDOM_STATE, Boolean, Integer, Options, Real
from ..exceptions import InputError
from ..keyed import KeyedVectors
from ..tables import DenseTable
from ..text import Tokenizer, describe
from ..vocab import Vocab
from ._base import Trainer, epoch_callback, renamed_params

WEIGHTINGS = {"uniform": 0, "harmonic": 1, "linear": 2}


def cooccurrence(chunks, n_rows: int, *, window: int = 2, weighting: str = "linear",
                 keep_prob: np.ndarray | None = None, random_state: int = 0,
                 **deprecated) -> sp.csr_matrix:
    """Symmetric co-occurrence counts (float64 CSR, n_rows x n_rows) from int32 token chunks.

    Each chunk holds row ids with -1 between sentences (``Vocab.encode_corpus``). With
    ``keep_prob``, tokens are first subsampled (kept with that probability), as word2vec does,
    drawn from ``random_state`` (old spelling: ``seed``).

    Parameters
    ----------
    chunks : iterable of numpy.ndarray of int32
        Row ids, -1 between sentences.
    n_rows : int
        The vocabulary size.
    window : int
        Context words on each side (>= 1).
    weighting : {"linear", "harmonic", "uniform"}
        The weight of a pair by its distance (see :class:`PPMISVD`).
    keep_prob : numpy.ndarray or None
        Per row, the probability a token is kept (subsampling); None keeps all.
    random_state : int
        Seed of the subsampling.
    **deprecated
        ``seed``, the old spelling of ``random_state``.

    Returns
    -------
    scipy.sparse.csr_matrix
        float64 counts, n_rows x n_rows, symmetric.

    Raises
    ------
    InputError
        For an unknown weighting or ``window < 1``.
    """
    cooc_kernels = kernels("compactemb.train._cooc_kernels")
    count_pairs, subsample_mask = cooc_kernels.count_pairs, cooc_kernels.subsample_mask

    seed = renamed_params("cooccurrence", deprecated, {"seed": "random_state"}).get(
        "random_state", random_state)

    if weighting not in WEIGHTINGS:
        raise InputError(f"weighting must be one of {sorted(WEIGHTINGS)}, got {weighting!r}")
    if window < 1:
        raise InputError(f"window must be >= 1, got {window}")
    total = sp.csr_matrix((n_rows, n_rows), dtype=np.float64)
    pending: list[sp.coo_matrix] = []
    pending_nnz = 0
    for n, chunk in enumerate(chunks):
        chunk = np.ascontiguousarray(chunk, dtype=np.int32)
        if keep_prob is not None:
            chunk = chunk[subsample_mask(chunk, keep_prob, seed + n)]
        cap = 2 * window * chunk.shape[0]
        rows = np.empty(cap, dtype=np.int32)
        cols = np.empty(cap, dtype=np.int32)
        vals = np.empty(cap, dtype=np.float64)
        k = count_pairs(chunk, window, WEIGHTINGS[weighting], rows, cols, vals)
        m = sp.coo_matrix((vals[:k], (rows[:k], cols[:k])), shape=(n_rows, n_rows)).tocsr()
        m.sum_duplicates()
        pending.append(m)
        pending_nnz += m.nnz
        if pending_nnz > 4 * max(total.nnz, 1 << 22):  # merge in batches: fewer full passes
            total = total + sum(pending[1:], pending[0])
            pending, pending_nnz = [], 0
    if pending:
        total = total + sum(pending[1:], pending[0])
    total.sum_duplicates()
    return total


def ppmi(counts: sp.spmatrix, *, cds: float = 0.75, shift: float = 1.0) -> sp.csr_matrix:
    """Positive PMI of a co-occurrence matrix (rows = words, columns = contexts).

    ``PMI(w, c) = log(#(w,c) * sum_c' #(c')^cds / (#(w) * #(c)^cds)) - log(shift)``, kept where
    positive. ``#(w)`` and ``#(c)`` are the row and column sums of ``counts``.

    Parameters
    ----------
    counts : scipy.sparse matrix
        Co-occurrence counts.
    cds : float
        Context distribution smoothing exponent (> 0; 0.75 as Levy et al. 2015).
    shift : float
        Shifted PMI's ``k`` (>= 1; 1 is no shift).

    Returns
    -------
    scipy.sparse.csr_matrix
        float32 PPMI, zeros dropped.

    Raises
    ------
    InputError
        For ``cds <= 0`` or ``shift < 1``.
    """
    if cds <= 0:
        raise InputError(f"cds must be > 0, got {cds}")
    if shift < 1:
        raise InputError(f"shift must be >= 1, got {shift}")
    m = sp.csr_matrix(counts, dtype=np.float64, copy=True)
    m.sum_duplicates()
    w = np.asarray(m.sum(axis=1)).ravel()
    c = np.asarray(m.sum(axis=0)).ravel() ** cds
    c_total = c.sum()
    rows = np.repeat(np.arange(m.shape[0]), np.diff(m.indptr))
    with np.errstate(divide="ignore"):
        m.data = np.log(m.data * c_total / (w[rows] * c[m.indices])) - np.log(shift)
    m.data[~np.isfinite(m.data)] = 0
    m.data[m.data < 0] = 0
    m.eliminate_zeros()
    return m.astype(np.float32)


def randomized_svd(a, k: int, *, n_oversamples: int = 20, n_iter: int = 5,
                   random_state: int = 0, desc: str = "svd", **deprecated):
    """Truncated SVD by randomized subspace iteration (Halko, Martinsson & Tropp 2011).

    Deterministic for a ``random_state`` (old spelling: ``seed``); signs are fixed so that each
    left vector's largest entry is positive.

    Parameters
    ----------
    a : numpy.ndarray or scipy.sparse matrix, shape (n, m)
        The matrix.
    k : int
        The number of components, in [1, min(n, m) - 1].
    n_oversamples : int
        Extra random directions beyond ``k`` (accuracy).
    n_iter : int
        Power iterations (accuracy for slowly decaying spectra).
    random_state : int
        Seed of the random start.
    desc : str
        The progress bar's label.
    **deprecated
        ``seed``, the old spelling of ``random_state``.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray, numpy.ndarray)
        U (n, k), S (k,) descending, Vt (k, m).

    Raises
    ------
    InputError
        For ``k`` out of range.
    """
    seed = renamed_params("randomized_svd", deprecated, {"seed": "random_state"}).get(
        "random_state", random_state)
    n, m = a.shape
    if not 0 < k < min(n, m):
        raise InputError(f"dim must be between 1 and {min(n, m) - 1} for a {n} x {m} matrix, "
                         f"got {k}")
    rng = np.random.default_rng(seed)
    ell = min(k + n_oversamples, min(n, m))
    if sp.issparse(a):
        a = sp.csr_matrix(a, dtype=np.float32)
        at = a.T.tocsr()
    else:
        a = np.asarray(a, dtype=np.float32)
        at = a.T
    q = _matmul(a, rng.standard_normal((m, ell), dtype=np.float32))
    bar = progress(total=n_iter + 1, desc=desc, unit="pass")
    try:
        q = _orthonormalize(q)
        for _ in range(n_iter):
            z = _orthonormalize(_matmul(at, q))
            q = _orthonormalize(_matmul(a, z))
            bar.update(1)
        b = _matmul(at, q).T  # (ell, m) = q^T a
        ub, s, vt = np.linalg.svd(b, full_matrices=False)
        bar.update(1)
    finally:
        bar.close()
    u = q @ ub[:, :k]
    s, vt = s[:k], vt[:k]
    signs = np.sign(u[np.abs(u).argmax(axis=0), np.arange(k)])
    signs[signs == 0] = 1
    return (u * signs).astype(np.float32), s.astype(np.float32), \
        (vt * signs[:, None]).astype(np.float32)


def _orthonormalize(x: np.ndarray) -> np.ndarray:
    """An orthonormal basis of the columns of a tall x: Cholesky-QR twice (CholeskyQR2).

    Two Gram matrices and two matrix products (BLAS-3) instead of Householder QR, which is 5x
    slower here for 43,000 x 320; the Gram is formed in float64. Falls back to Householder QR
    when the columns are (numerically) dependent.
    """
    import scipy.linalg as sla

    q = x.astype(np.float64)
    try:
        for _ in range(2):
            chol = np.linalg.cholesky(q.T @ q)
            inv_t = sla.solve_triangular(chol, np.eye(chol.shape[0]), lower=True).T
            q = q @ inv_t
    except np.linalg.LinAlgError:
        q, _ = np.linalg.qr(x.astype(np.float64))
    return q.astype(np.float32)


def _matmul(a, x: np.ndarray) -> np.ndarray:
    """a @ x in float32; sparse a goes through a multi-threaded numba kernel (scipy's is serial)."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    if not sp.issparse(a):
        return np.asarray(a @ x, dtype=np.float32)
    csr_dense_matmul = kernels("compactemb.train._linalg_kernels").csr_dense_matmul
    out = np.empty((a.shape[0], x.shape[1]), dtype=np.float32)
    csr_dense_matmul(a.indptr, a.indices, a.data, x, out)
    return out


class PPMISVD(Trainer):
    """Word embeddings from PPMI + truncated SVD (count-based, deterministic for a seed).

    Parameters
    ----------
    dim : int, default 100
    window : int, default 2
        Context words on each side (short windows suit PPMI-SVD, Levy et al. 2015).
    weighting : {"linear", "harmonic", "uniform"}, default "linear"
        Weight of a pair at distance d: ``(window-d+1)/window`` (word2vec's dynamic window in
        expectation), ``1/d``, or 1.
    min_count, max_size : vocabulary cut (see :class:`Vocab`).
    cds : float, default 0.75
        Context-distribution smoothing exponent.
    shift : float, default 1.0
        Shifted PPMI: subtract ``log(shift)`` (word2vec's negative count k).
    eig : float, default 0.5
        Eigenvalue weighting: embeddings are ``U S^eig``.
    subsample : float or None, default None
        word2vec-style subsampling threshold of frequent words applied before counting.
    n_iter : int, default 5
        Power iterations of the randomized SVD.
    tokenizer : Tokenizer, optional
        How lines of a text corpus become tokens (default: lowercase runs of letters).
    random_state : int, default 0

    Attributes
    ----------
    model_ : KeyedVectors
        The trained vectors (the same as ``keyed_vectors()``).
    vocab_ : Vocab
    table_ : DenseTable of shape (len(vocab_), dim)
    singular_values_ : ndarray of shape (dim,)
    meta_ : dict (parameters, timings, matrix sizes)

    Examples
    --------
    >>> from compactemb.demo import demo_corpus_path
    >>> kv = PPMISVD(dim=20).fit(demo_corpus_path()).model_
    """

    _param_spec = {"dim": Integer(low=1), "window": Integer(low=1),
                   "weighting": Options(tuple(WEIGHTINGS)), "min_count": Integer(low=1),
                   "max_size": Integer(low=1, allow_none=True), "cds": Real(low=0, low_open=True),
                   "shift": Real(low=1), "eig": Real(), "subsample": Real(low=0, allow_none=True),
                   "n_iter": Integer(low=0), "random_state": RANDOM_STATE}

    def __init__(self, dim: int = 100, *, window: int = 2, weighting: str = "linear",
                 min_count: int = 5, max_size: int | None = None, cds: float = 0.75,
                 shift: float = 1.0, eig: float = 0.5, subsample: float | None = None,
                 n_iter: int = 5, tokenizer: Tokenizer | None = None, random_state: int = 0):
        self.dim = dim
        self.window = window
        self.weighting = weighting
        self.min_count = min_count
        self.max_size = max_size
        self.cds = cds
        self.shift = shift
        self.eig = eig
        self.subsample = subsample
        self.n_iter = n_iter
        self.tokenizer = tokenizer
        self.random_state = random_state

    def fit(self, corpus, *, vocab: Vocab | None = None, callback=None) -> PPMISVD:
        """Count, weight and factorise.

        Parameters
        ----------
        corpus : path, iterable of str or iterable of list of str
            A text file (plain/.gz/.xz/.bz2), lines of text, or token lists.
        vocab : Vocab, optional
            Use this vocabulary as is (e.g. ``Vocab.load`` of a ``compactemb vocab`` file).
        callback : callable, optional
            ``callback(0, info)`` once, when done (the SVD is a single pass); ``info`` has
            ``seconds``.

        Returns
        -------
        PPMISVD
            ``self``, with ``model_`` (KeyedVectors).

        Raises
        ------
        InputError
            Bad parameters, an empty corpus, or ``dim`` not below the vocabulary size.
        """
        from ._word2vec import tokenize_to_cache

        self._validate()
        notify = epoch_callback(callback, "PPMISVD")

        t0 = time.perf_counter()
        from .._scratch import scratch_dir

        with scratch_dir("svd") as tmp:  # removed on exit and SIGTERM; stale ones cleaned
            # one pass: count and encode at once into an int32 file, read back in chunks that
            # end at sentence ends (bounded memory, no second tokenisation)
            cache = os.path.join(tmp, "tokens.i32")
            vocab, stats = tokenize_to_cache(corpus, cache, tokenizer=self.tokenizer,
                                             vocab=vocab, min_count=self.min_count,
                                             max_size=self.max_size, job_tokens=1 << 21)
            if self.dim >= len(vocab):
                raise InputError(f"dim={self.dim} must be smaller than the vocabulary size "
                                 f"{len(vocab)} of {describe(corpus)}")
            t1 = time.perf_counter()
            keep = None
            if self.subsample:
                freq = vocab.counts / vocab.counts.sum()
                keep = np.minimum(1.0, np.sqrt(self.subsample / freq)).astype(np.float64)
            bounds = stats["bounds"]
            chunks = (np.fromfile(cache, dtype=np.int32, count=int(b - a), offset=int(a) * 4)
                      for a, b in zip(bounds[:-1], bounds[1:]))
            counts = cooccurrence(chunks, len(vocab), window=self.window,
                                  weighting=self.weighting, keep_prob=keep,
                                  random_state=self.random_state)
        m, t2, t3, t4 = self._factorize(counts, vocab, describe(corpus))
        self.meta_ = {
            "trainer": "ppmi_svd", "params": self._meta_params("svd"),
            "corpus": describe(corpus),
            "vocab_size": len(vocab), "cooccurrence_nnz": int(counts.nnz),
            "ppmi_nnz": int(m.nnz),
            "corpus_tokens": stats["corpus_tokens"], "token_cache_bytes": stats["cache_bytes"],
            "timings_s": {"tokenize": round(t1 - t0, 3), "count": round(t2 - t1, 3),
                          "ppmi": round(t3 - t2, 3), "svd": round(t4 - t3, 3),
                          "total": round(t4 - t0, 3)},
        }
        self.model_ = KeyedVectors(self.vocab_, self.table_, self.meta_)
        notify(0, {"seconds": t4 - t0})
        return self

    def _factorize(self, counts, vocab: Vocab, name: str):
        """PPMI then SVD of ``counts``: sets ``vocab_``, ``table_``, ``singular_values_``.

        Returns the PPMI matrix and the times after counting, PPMI and SVD.
        """
        if counts.nnz == 0:
            raise InputError(f"{name}: no word pairs within the window "
                             "(are all sentences one word long?)")
        t2 = time.perf_counter()
        m = ppmi(counts, cds=self.cds, shift=self.shift)
        t3 = time.perf_counter()
        u, s, _ = randomized_svd(m, self.dim, n_iter=self.n_iter,
                                 random_state=self.random_state, desc="ppmi svd")
        t4 = time.perf_counter()
        self.vocab_ = vocab
        self.table_ = DenseTable(u * s[None, :] ** self.eig)
        self.singular_values_ = s
        return m, t2, t3, t4

    def keyed_vectors(self) -> KeyedVectors:
        """The trained vectors as :class:`KeyedVectors` (``model_``, metadata included).

        Returns
        -------
        KeyedVectors

        Raises
        ------
        NotFittedError
            Before ``fit``.
        """
        self._check_fitted()
        return self.model_


class PureSVD(Trainer):
    """User and item embeddings from a truncated SVD of the user x item matrix (PureSVD).

    Parameters
    ----------
    dim : int, default 64
    eig : float, default 0.5
        Users get ``U S^eig``, items ``V S^(1-eig)``.
    binary : bool, default False
        Use 1 for every observed pair instead of the weights.
    n_iter : int, default 5
        Power iterations of the randomized SVD.
    random_state : int, default 0

    Attributes
    ----------
    model_ : FactorModel
    singular_values_ : ndarray of shape (dim,)

    Examples
    --------
    >>> import scipy.sparse as sp
    >>> m = sp.random(30, 20, density=0.3, format="csr", random_state=0)
    >>> PureSVD(dim=4).fit(m).model_.dim
    4
    """

    _param_spec = {"dim": Integer(low=1), "eig": Real(), "binary": Boolean(),
                   "n_iter": Integer(low=0),
                   "random_state": RANDOM_STATE}

    def __init__(self, dim: int = 64, *, eig: float = 0.5, binary: bool = False,
                 n_iter: int = 5, random_state: int = 0):
        self.dim = dim
        self.eig = eig
        self.binary = binary
        self.n_iter = n_iter
        self.random_state = random_state

    def fit(self, interactions, *, callback=None) -> PureSVD:
        """Factorise the users x items matrix.

        Parameters
        ----------
        interactions : Interactions, scipy.sparse matrix or 2-D array
            Users x items weights.
        callback : callable, optional
            ``callback(0, info)`` once, when done (a single pass); ``info`` has ``seconds``.

        Returns
        -------
        PureSVD
            ``self``, with ``model_`` (a FactorModel).

        Raises
        ------
        InputError
            Bad parameters, empty data, or ``dim`` not below both matrix sides.
        """
        from ._mf import _factor_model

        self._validate()
        notify = epoch_callback(callback, "PureSVD")
        t0 = time.perf_counter()
        m, inter = _as_interaction_matrix(interactions)
        x = m
        if self.binary:
            x = m.copy()
            x.data[:] = 1
        u, s, vt = randomized_svd(x, self.dim, n_iter=self.n_iter,
                                  random_state=self.random_state, desc="pure svd")
        seconds = time.perf_counter() - t0
        meta = {"trainer": "pure_svd", "params": self._meta_params("svd"),
                "n_interactions": int(x.nnz), "timings_s": {"total": round(seconds, 3)}}
        self.model_ = _factor_model(inter, m, u * s ** self.eig, vt.T * s ** (1 - self.eig),
                                    meta)
        self.singular_values_ = s
        notify(0, {"seconds": seconds})
        return self


def _as_interaction_matrix(data):
    from .._validation import interaction_matrix

    return interaction_matrix(data, "PureSVD")
