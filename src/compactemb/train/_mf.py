"""Matrix factorisation for implicit feedback: ALS and BPR.

ALS (Hu, Koren & Volinsky 2008) and BPR (Rendle et al. 2009), with NumPy twins of every kernel.

ALS minimises ``sum_ui c_ui (p_ui - x_u . y_i)^2 + reg (|X|^2 + |Y|^2)`` over all user-item
pairs, where ``p_ui = 1`` for observed pairs and the confidence ``c_ui`` comes from the weights
(:func:`~compactemb.interactions.confidence`; unobserved pairs have ``c = 1``). Each half-step
solves one small least-squares problem per row:

    (Y^T Y + reg I + Y^T (C_u - I) Y) x_u = Y^T C_u p_u

either exactly (Cholesky) or, by default, with a few conjugate-gradient steps warm-started from
the previous ``x_u`` (Takacs, Pilaszy & Tikk 2011), which never forms the k x k matrix per row.

BPR maximises ``sum log sigmoid(x_u . (y_i - y_j))`` over sampled triples (user u, a seen item
i, an item j), by SGD, lock-free over threads (Hogwild). Like implicit, negatives j are drawn by
popularity (the item of a random interaction; ``negatives="uniform"`` draws any item, as Rendle
et al. do) and rejected when the user has seen them, and the last factor column holds an item
bias (users hold 1 there).
"""

from __future__ import annotations

import time

import numpy as np
import scipy.sparse as sp

from .._native import kernels
from .._progress import progress
from .._threads import numba_threads, resolve_threads, run_hogwild
from .._validation import N_THREADS, RANDOM_STATE, Boolean, Integer, Options, Real
from ..exceptions import InputError
from ._base import Trainer, _Renamed, epoch_callback

_Threads = numba_threads  # the old private name (distributed/_als.py imports it)

# -- helpers ------------------------------------------------------------------------------------


def balanced_bounds(indptr: np.ndarray, row_cost: float, n_chunks: int) -> np.ndarray:
    """Split rows into ``n_chunks`` contiguous ranges of about equal work.

    The work of row u is ``row_cost + nnz_u``; returns int64 bounds of length <= n_chunks+1.
    """
    n = indptr.size - 1
    cost = np.diff(indptr).astype(np.float64) + row_cost
    cum = np.concatenate([[0.0], np.cumsum(cost)])
    targets = np.linspace(0, cum[-1], n_chunks + 1)
    bounds = np.searchsorted(cum, targets, side="left")
    bounds[0], bounds[-1] = 0, n
    return np.unique(bounds).astype(np.int64)


def _as_matrix(data, owner: str = "trainer"):
    """(csr float32 with sorted indices, Interactions or None) from Interactions or a matrix."""
    from .._validation import interaction_matrix

    return interaction_matrix(data, owner)


def _confidence_matrices(interactions, weighting: str, alpha: float, owner: str):
    """(matrix, Interactions or None, user x item confidences, their item x user transpose)."""
    from ..interactions import confidence

    m, inter = _as_matrix(interactions, owner)
    cui = confidence(m, weighting=weighting, alpha=alpha)
    ciu = cui.T.tocsr()
    ciu.sort_indices()
    return m, inter, cui, ciu


def _factor_model(inter, m, user_factors, item_factors, meta):
    from ..recommend import FactorModel
    from ..tables import DenseTable
    from ..vocab import Vocab

    if inter is not None:
        uv, iv = inter.user_vocab, inter.item_vocab
    else:  # a bare matrix: rows and columns are their own IDs
        uv = Vocab(np.arange(m.shape[0], dtype=np.int64), np.diff(m.indptr))
        iv = Vocab(np.arange(m.shape[1], dtype=np.int64),
                   np.bincount(m.indices, minlength=m.shape[1]))
    return FactorModel(uv, iv, DenseTable(user_factors), DenseTable(item_factors), seen=m,
                       meta=meta)


# -- NumPy twins of the kernels (slow, obviously correct; used by the tests) --------------------


def als_solve_reference(conf: sp.csr_matrix, Y: np.ndarray, reg: float) -> np.ndarray:
    """Exact ALS rows by the normal equations, in float64 (twin of the Cholesky half-step)."""
    conf = sp.csr_matrix(conf)
    k = Y.shape[1]
    Y64 = Y.astype(np.float64)
    base = Y64.T @ Y64 + reg * np.eye(k)
    X = np.zeros((conf.shape[0], k))
    for u in range(conf.shape[0]):
        s, e = conf.indptr[u], conf.indptr[u + 1]
        if s == e:
            continue
        c = conf.data[s:e].astype(np.float64)
        yu = Y64[conf.indices[s:e]]
        a = base + yu.T @ ((np.abs(c) - 1)[:, None] * yu)
        b = yu.T @ np.where(c > 0, c, 0.0)
        X[u] = np.linalg.solve(a, b)
    return X


def _als_half(mf_kernels, solver: str, cg_steps: int, indptr, indices, data, factors, other,
              gram, bounds) -> np.ndarray | None:
    """One ALS half step in place over the rows ``bounds`` cut (``mf_kernels``' solvers).

    Returns None for CG; for Cholesky, per chunk, 0 or 1 + the first row whose system is not
    positive definite (the caller names it in its error).
    """
    if solver == "cg":
        mf_kernels.als_cg_half(indptr, indices, data, factors, other, gram, cg_steps, bounds)
        return None
    failed = np.zeros(bounds.size - 1, dtype=np.int64)
    mf_kernels.als_cholesky_half(indptr, indices, data, factors, other,
                                 gram.astype(np.float64), bounds, failed)
    return failed


def als_cg_reference(conf: sp.csr_matrix, X: np.ndarray, Y: np.ndarray, reg: float,
                     cg_steps: int) -> np.ndarray:
    """``cg_steps`` warm-started CG steps per row in float64 (the twin of ``als_cg_half``)."""
    from ._mf_twins import als_cg_half

    conf = sp.csr_matrix(conf)
    Y64 = Y.astype(np.float64)
    out = X.astype(np.float64)
    als_cg_half(conf.indptr, conf.indices, conf.data, out, Y,
                Y64.T @ Y64 + reg * np.eye(Y.shape[1]), cg_steps,
                np.array([0, conf.shape[0]]))
    return out


def als_loss_reference(conf: sp.csr_matrix, X, Y, reg: float) -> float:
    """The ALS objective over all user-item pairs, normalised like implicit's loss."""
    conf = sp.csr_matrix(conf)
    c = np.ones(conf.shape)
    p = np.zeros(conf.shape)
    dense = conf.toarray()
    mask = dense != 0
    c[mask] = np.abs(dense[mask])
    p[mask & (dense > 0)] = 1
    err = (p - X.astype(np.float64) @ Y.astype(np.float64).T) ** 2
    loss = (c * err).sum() + reg * ((X.astype(np.float64) ** 2).sum()
                                    + (Y.astype(np.float64) ** 2).sum())
    return float(loss / (np.abs(conf.data).sum() + conf.shape[0] * conf.shape[1] - conf.nnz))


def xorshift_next(state: int) -> tuple[int, int]:
    """Python twin of the kernels' RNG step (xorshift64*): (new state, 32 random bits)."""
    mask = (1 << 64) - 1
    state ^= state >> 12
    state ^= (state << 25) & mask
    state ^= state >> 27
    return state, ((state * 2685821657736338717) & mask) >> 32


def bpr_epoch_reference(userids, indices, indptr, X, Y, lr, reg, verify, uniform, state: int):
    """One single-worker BPR epoch in plain Python/NumPy.

    The twin of ``bpr_worker`` with one state. Updates X and Y in place; returns (new state,
    correct, skipped).
    """
    from ._mf_twins import bpr_worker

    states = np.array([state], dtype=np.uint64)
    stats = np.zeros((1, 2), dtype=np.int64)
    bpr_worker(userids, indices, indptr, X, Y, lr, reg, verify, uniform, states, stats, 0)
    return int(states[0]), int(stats[0, 0]), int(stats[0, 1])


# -- estimators ---------------------------------------------------------------------------------


class ALS(Trainer):
    """Implicit-feedback alternating least squares (Hu, Koren & Volinsky 2008).

    Parameters
    ----------
    dim : int, default 64
        Factors per user and per item.
    regularization : float, default 0.01
    alpha : float, default 1.0
        Confidence scale: ``c = 1 + alpha * w`` (``weighting="linear"``), see
        :func:`~compactemb.interactions.confidence`.
    weighting : {"linear", "log", "binary", "none"}, default "linear"
        How weights become confidences; ``"none"`` takes the matrix as confidences.
    epochs : int, default 15
        Iterations; each updates all users, then all items (old spelling: ``iterations``).
    solver : {"cg", "cholesky"}, default "cg"
        ``cg``: ``cg_steps`` warm-started conjugate-gradient steps per row (inexact, fast);
        ``cholesky``: the exact solve (O(k^3) per row).
    cg_steps : int, default 3
    compute_loss : bool, default False
        Compute the training loss after each iteration (costs about a fifth of an iteration);
        shown on the progress bar and kept in ``loss_``.
    n_threads : int or None, default None
        Threads of the numba kernels (None: all cores). Results do not depend on it.
    random_state : int, default 0
        Seed of the initial factors (uniform in [0, 0.01), as implicit does).

    Attributes
    ----------
    model_ : FactorModel
        User and item tables (``n_users x dim``, ``n_items x dim``) with the vocabularies and
        the training interactions (to exclude seen items).
    user_factors_, item_factors_ : ndarray of float32
    iteration_seconds_ : list of float
    loss_ : list of float (with ``compute_loss``)

    Examples
    --------
    >>> from compactemb.interactions import read_interactions      # doctest: +SKIP
    >>> model = ALS(dim=64, epochs=15).fit(read_interactions("u.data")).model_  # doctest: +SKIP
    >>> model.recommend(196, k=10)                                  # doctest: +SKIP
    """

    _renames = {"iterations": "epochs"}
    _param_spec = {"dim": Integer(low=1), "regularization": Real(low=0), "alpha": Real(low=0),
                   "weighting": Options(("linear", "log", "binary", "none")),
                   "epochs": Integer(low=0), "solver": Options(("cg", "cholesky")),
                   "cg_steps": Integer(low=1), "compute_loss": Boolean(),
                   "n_threads": N_THREADS, "random_state": RANDOM_STATE}
    iterations = _Renamed("epochs")

    def __init__(self, dim: int = 64, *, regularization: float = 0.01, alpha: float = 1.0,
                 weighting: str = "linear", epochs: int = 15, solver: str = "cg",
                 cg_steps: int = 3, compute_loss: bool = False, n_threads: int | None = None,
                 random_state: int = 0, **deprecated):
        self.dim = dim
        self.regularization = regularization
        self.alpha = alpha
        self.weighting = weighting
        self.epochs = epochs
        self.solver = solver
        self.cg_steps = cg_steps
        self.compute_loss = compute_loss
        self.n_threads = n_threads
        self.random_state = random_state
        self._set_renamed(deprecated)

    def fit(self, interactions, *, callback=None) -> ALS:
        """Factorise ``interactions`` (an :class:`Interactions` or a users x items matrix).

        Parameters
        ----------
        interactions : Interactions, scipy.sparse matrix or 2-D array
            Users x items weights.
        callback : callable, optional
            ``callback(epoch, info)`` after each iteration; ``info`` has ``seconds`` and
            ``loss`` (None unless ``compute_loss``). Returning False stops training.

        Returns
        -------
        ALS
            ``self``, with ``model_`` (a FactorModel).

        Raises
        ------
        InputError
            Bad parameters, empty or non-finite data, or a diverged or singular solve.
        """
        mf_kernels = kernels("compactemb.train._mf_kernels")
        als_loss_terms = mf_kernels.als_loss_terms

        self._validate()
        notify = epoch_callback(callback, "ALS")
        t0 = time.perf_counter()
        m, inter, cui, ciu = _confidence_matrices(interactions, self.weighting, self.alpha,
                                                   "ALS")
        rng = np.random.default_rng(self.random_state)
        n_users, n_items = m.shape
        X = rng.random((n_users, self.dim), dtype=np.float32) * np.float32(0.01)
        Y = rng.random((n_items, self.dim), dtype=np.float32) * np.float32(0.01)
        reg = np.float32(self.regularization)
        eye = reg * np.eye(self.dim, dtype=np.float32)
        self.iteration_seconds_, self.loss_ = [], []
        bar = progress(total=self.epochs, desc="als", unit="iter")
        with numba_threads(self.n_threads) as n_threads:
            n_chunks = 8 * n_threads
            sides = []
            for c in (cui, ciu):
                # copy=False: no second copy of the matrix when it is already int32/float32
                sides.append((c.indptr.astype(np.int64), c.indices.astype(np.int32, copy=False),
                              c.data.astype(np.float32, copy=False),
                              balanced_bounds(c.indptr, self.dim / 2, n_chunks)))
            try:
                for it in range(self.epochs):
                    ts = time.perf_counter()
                    for (indptr, indices, data, bounds), A, B in ((sides[0], X, Y),
                                                                  (sides[1], Y, X)):
                        gram = (B.T @ B + eye).astype(np.float32)
                        failed = _als_half(mf_kernels, self.solver, self.cg_steps, indptr,
                                           indices, data, A, B, gram, bounds)
                        if failed is not None and failed.any():
                            raise InputError(
                                f"ALS: the system of row {int(failed[failed > 0][0]) - 1} "
                                "is not positive definite; increase the regularization")
                    seconds = time.perf_counter() - ts
                    self.iteration_seconds_.append(seconds)
                    loss = None
                    if self.compute_loss:
                        loss = self._loss(als_loss_terms, sides[0], X, Y, cui)
                        self.loss_.append(loss)
                        bar.set_postfix(loss=f"{loss:.5f}")
                    bar.update(1)
                    if notify(it, {"seconds": seconds, "loss": loss}):
                        break
            finally:
                bar.close()
        if not (np.isfinite(X).all() and np.isfinite(Y).all()):
            raise InputError("ALS diverged (NaN or inf factors); increase the regularization "
                             "or lower alpha")
        self.user_factors_, self.item_factors_ = X, Y
        meta = {"trainer": "als", "params": self._meta_params("als"),
                "n_interactions": int(m.nnz),
                "timings_s": {"total": round(time.perf_counter() - t0, 3),
                              "per_iteration": [round(s, 4) for s in self.iteration_seconds_]}}
        if self.loss_:
            meta["loss"] = self.loss_
        self.model_ = _factor_model(inter, m, X, Y, meta)
        return self

    def _loss(self, kernel, side, X, Y, cui) -> float:
        indptr, indices, data, bounds = side
        out = np.zeros((bounds.size - 1, 2), dtype=np.float64)
        kernel(indptr, indices, data, X, Y, (Y.T @ Y).astype(np.float32), bounds, out)
        loss = out[:, 0].sum() + self.regularization * (
            float(np.square(X, dtype=np.float64).sum()) + float(np.square(Y, dtype=np.float64)
                                                                .sum()))
        n_users, n_items = cui.shape
        return float(loss / (out[:, 1].sum() + n_users * n_items - cui.nnz))


class BPR(Trainer):
    """Bayesian personalised ranking by lock-free SGD (Rendle et al. 2009).

    Parameters
    ----------
    dim : int, default 64
        Factors per user and item; the tables get one more column for the item bias
        (users hold 1 there), so ``user . item`` is the full score.
    learning_rate : float, default 0.01
    regularization : float, default 0.01
    epochs : int, default 100
        Each draws as many samples as there are interactions (old spelling: ``iterations``).
    verify_negatives : bool, default True
        Reject a sampled negative the user has seen (the step is skipped).
    negatives : {"popularity", "uniform"}, default "popularity"
        How negatives are drawn: the item of a random interaction (implicit's choice), or any
        item with equal probability (Rendle et al.'s). Which ranks better depends on the data:
        uniform gave a much higher ndcg@10 on MovieLens 100K and a much lower one on Last.fm
        (see notes/issue-4.md).
    n_threads : int or None, default None
        Hogwild workers (None: all cores). With ``n_threads=1`` and a seed the result is
        bit-identical from run to run; with more it is not (lock-free updates race).
    random_state : int, default 0

    Attributes
    ----------
    model_ : FactorModel
    user_factors_, item_factors_ : ndarray of float32, shape (n, dim + 1)
    iteration_seconds_ : list of float
    train_auc_ : list of float
        Per epoch, the fraction of sampled pairs ranked correctly before their update.
    """

    _renames = {"iterations": "epochs"}
    _param_spec = {"dim": Integer(low=1), "learning_rate": Real(low=0),
                   "regularization": Real(low=0), "epochs": Integer(low=0),
                   "verify_negatives": Boolean(), "negatives": Options(("popularity", "uniform")),
                   "n_threads": N_THREADS, "random_state": RANDOM_STATE}
    iterations = _Renamed("epochs")

    def __init__(self, dim: int = 64, *, learning_rate: float = 0.01,
                 regularization: float = 0.01, epochs: int = 100,
                 verify_negatives: bool = True, negatives: str = "popularity",
                 n_threads: int | None = None, random_state: int = 0, **deprecated):
        self.dim = dim
        self.learning_rate = learning_rate
        self.regularization = regularization
        self.epochs = epochs
        self.verify_negatives = verify_negatives
        self.negatives = negatives
        self.n_threads = n_threads
        self.random_state = random_state
        self._set_renamed(deprecated)

    def fit(self, interactions, *, callback=None) -> BPR:
        """Train on ``interactions`` (weights are ignored: every stored pair is a positive).

        Parameters
        ----------
        interactions : Interactions, scipy.sparse matrix or 2-D array
            Users x items; every stored pair is a positive.
        callback : callable, optional
            ``callback(epoch, info)`` after each epoch; ``info`` has ``seconds`` and
            ``train_auc``. Returning False stops training.

        Returns
        -------
        BPR
            ``self``, with ``model_`` (a FactorModel of ``dim + 1`` columns: the last holds
            the item bias, users hold 1 there).

        Raises
        ------
        InputError
            Bad parameters, empty or non-finite data, or diverged training.
        """
        bpr_worker = kernels("compactemb.train._mf_kernels").bpr_worker

        self._validate()
        notify = epoch_callback(callback, "BPR")
        t0 = time.perf_counter()
        m, inter = _as_matrix(interactions, "BPR")
        m.sort_indices()
        n_users, n_items = m.shape
        if m.nnz >= 2**32:
            raise InputError("BPR supports fewer than 2**32 interactions")
        rng = np.random.default_rng(self.random_state)
        counts_u = np.diff(m.indptr)
        counts_i = np.bincount(m.indices, minlength=n_items)
        X = (rng.random((n_users, self.dim + 1), dtype=np.float32) - 0.5) / self.dim
        Y = (rng.random((n_items, self.dim + 1), dtype=np.float32) - 0.5) / self.dim
        X[counts_u == 0] = 0
        Y[counts_i == 0] = 0
        X[:, self.dim] = 1.0
        indptr = m.indptr.astype(np.int64)
        indices = m.indices.astype(np.int32, copy=False)
        userids = np.repeat(np.arange(n_users, dtype=np.int32), counts_u)
        lr, reg = np.float32(self.learning_rate), np.float32(self.regularization)
        self.iteration_seconds_, self.train_auc_ = [], []
        bar = progress(total=self.epochs, desc="bpr", unit="epoch")
        n_threads = resolve_threads(self.n_threads)
        states = rng.integers(1, 2**63 - 1, size=n_threads, dtype=np.int64).astype(np.uint64)
        stats = np.zeros((n_threads, 2), dtype=np.int64)
        args = (userids, indices, indptr, X, Y, lr, reg, bool(self.verify_negatives),
                self.negatives == "uniform", states, stats)
        try:
            for epoch in range(self.epochs):
                ts = time.perf_counter()
                run_hogwild(lambda t: bpr_worker(*args, t), n_threads)
                seconds = time.perf_counter() - ts
                correct, skipped = stats.sum(axis=0)
                used = m.nnz - skipped
                auc = float(correct / used) if used else float("nan")
                self.iteration_seconds_.append(seconds)
                self.train_auc_.append(auc)
                bar.set_postfix(train_auc=f"{auc:.4f}",
                                skipped=f"{skipped / m.nnz:.2%}")
                bar.update(1)
                if notify(epoch, {"seconds": seconds, "train_auc": auc}):
                    break
        finally:
            bar.close()
        if not (np.isfinite(X).all() and np.isfinite(Y).all()):
            raise InputError("BPR diverged (NaN or inf factors); lower the learning rate")
        self.user_factors_, self.item_factors_ = X, Y
        meta = {"trainer": "bpr", "params": self._meta_params("bpr"),
                "n_interactions": int(m.nnz),
                "bias_column": self.dim,
                "timings_s": {"total": round(time.perf_counter() - t0, 3),
                              "per_iteration": [round(s, 4) for s in self.iteration_seconds_]},
                "train_auc": self.train_auc_[-1] if self.train_auc_ else None}
        self.model_ = _factor_model(inter, m, X, Y, meta)
        return self

