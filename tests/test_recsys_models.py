"""ALS and BPR: numba kernels against their NumPy twins, fits against the normal equations,
determinism, planted structure, and implicit's own ALS where it is installed."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from compactemb.exceptions import InputError
from compactemb.interactions import Interactions, confidence
from compactemb.train import ALS, BPR
from compactemb.train._mf import (
    als_cg_reference,
    als_loss_reference,
    als_solve_reference,
    balanced_bounds,
    bpr_epoch_reference,
)


def _random_conf(n_users=40, n_items=30, density=0.2, seed=1, negative=False):
    m = sp.random(n_users, n_items, density=density, random_state=seed, format="csr",
                  dtype=np.float32)
    m.data = 1 + 4 * m.data
    if negative:  # a few "disliked" entries: negative confidence, preference 0
        m.data[::7] *= -1
    m = sp.lil_matrix(m)
    m[3, :] = 0  # a user without interactions gets a zero vector
    m = sp.csr_matrix(m)
    m.eliminate_zeros()
    m.sort_indices()
    return m


def _kernel_args(m):
    return m.indptr.astype(np.int64), m.indices.astype(np.int32), m.data.astype(np.float32)


@pytest.mark.parametrize("negative", [False, True])
def test_cg_kernel_equals_numpy_twin(negative):
    from compactemb.train._mf_kernels import als_cg_half

    m = _random_conf(negative=negative)
    rng = np.random.default_rng(0)
    k, reg = 6, 0.1
    X = rng.random((m.shape[0], k), dtype=np.float32)
    Y = rng.random((m.shape[1], k), dtype=np.float32)
    A = (Y.T @ Y + reg * np.eye(k)).astype(np.float32)
    got = X.copy()
    als_cg_half(*_kernel_args(m), got, Y, A, 3, balanced_bounds(m.indptr, k / 2, 5))
    np.testing.assert_allclose(got, als_cg_reference(m, X, Y, reg, 3), rtol=2e-3, atol=2e-4)
    assert not got[3].any()


@pytest.mark.parametrize("negative", [False, True])
def test_cholesky_and_converged_cg_solve_the_normal_equations(negative):
    from compactemb.train._mf_kernels import als_cg_half, als_cholesky_half

    m = _random_conf(negative=negative)
    rng = np.random.default_rng(1)
    k, reg = 5, 0.5
    Y = rng.random((m.shape[1], k), dtype=np.float32)
    A = Y.T.astype(np.float64) @ Y + reg * np.eye(k)
    exact = als_solve_reference(m, Y, reg)
    bounds = balanced_bounds(m.indptr, k / 2, 3)
    X = np.zeros((m.shape[0], k), dtype=np.float32)
    failed = np.zeros(bounds.size - 1, dtype=np.int64)
    als_cholesky_half(*_kernel_args(m), X, Y, A, bounds, failed)
    assert not failed.any()
    np.testing.assert_allclose(X, exact, rtol=1e-4, atol=1e-5)
    X = np.zeros((m.shape[0], k), dtype=np.float32)
    for _ in range(4):  # CG reaches the exact solution after enough warm-started rounds
        als_cg_half(*_kernel_args(m), X, Y, A.astype(np.float32), k, bounds)
    np.testing.assert_allclose(X, exact, rtol=1e-3, atol=1e-4)


def test_loss_kernel_equals_dense_objective():
    from compactemb.train._mf_kernels import als_loss_terms

    m = _random_conf(negative=True)
    rng = np.random.default_rng(2)
    X = rng.random((m.shape[0], 4), dtype=np.float32)
    Y = rng.random((m.shape[1], 4), dtype=np.float32)
    bounds = balanced_bounds(m.indptr, 2, 4)
    out = np.zeros((bounds.size - 1, 2))
    als_loss_terms(*_kernel_args(m), X, Y, (Y.T @ Y).astype(np.float32), bounds, out)
    reg = 0.3
    loss = (out[:, 0].sum() + reg * ((X.astype(float) ** 2).sum() + (Y.astype(float) ** 2)
                                     .sum())) / (out[:, 1].sum() + m.shape[0] * m.shape[1]
                                                 - m.nnz)
    assert loss == pytest.approx(als_loss_reference(m, X, Y, reg), rel=1e-5)


def test_balanced_bounds_cover_rows_in_order():
    indptr = np.concatenate([[0], np.cumsum([100, 0, 1, 1, 1, 50, 2, 2])])
    b = balanced_bounds(indptr, 1.0, 4)
    assert b[0] == 0 and b[-1] == 8 and np.all(np.diff(b) > 0)
    assert b.size <= 5


def test_als_cholesky_fit_is_exact_alternation():
    """One iteration = users solved from the initial items, then items from those users."""
    m = _random_conf(30, 25, 0.3, seed=4)
    est = ALS(4, regularization=0.2, alpha=2.0, epochs=1, solver="cholesky",
              random_state=7).fit(m)
    rng = np.random.default_rng(7)
    rng.random((30, 4), dtype=np.float32)  # the initial users (overwritten)
    Y0 = rng.random((25, 4), dtype=np.float32) * np.float32(0.01)
    conf = confidence(m, alpha=2.0)
    X1 = als_solve_reference(conf, Y0, 0.2)
    Y1 = als_solve_reference(conf.T.tocsr(), X1.astype(np.float32), 0.2)
    np.testing.assert_allclose(est.user_factors_, X1, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(est.item_factors_, Y1, rtol=1e-3, atol=1e-5)


def test_als_loss_falls_and_threads_do_not_change_results():
    m = _random_conf(60, 50, 0.15, seed=5)
    one = ALS(8, epochs=6, compute_loss=True, n_threads=1, random_state=3).fit(m)
    two = ALS(8, epochs=6, compute_loss=True, n_threads=2, random_state=3).fit(m)
    np.testing.assert_array_equal(one.user_factors_, two.user_factors_)
    np.testing.assert_array_equal(one.item_factors_, two.item_factors_)
    assert one.loss_[-1] < one.loss_[0]
    assert len(one.iteration_seconds_) == 6


@pytest.mark.parametrize("uniform", [False, True])
def test_bpr_kernel_equals_python_twin(uniform):
    from compactemb.train._mf_kernels import bpr_worker

    m = _random_conf(30, 20, 0.3, seed=6)
    rng = np.random.default_rng(0)
    k = 5
    X = rng.random((30, k + 1), dtype=np.float32) - 0.5
    X[:, k] = 1
    Y = rng.random((20, k + 1), dtype=np.float32) - 0.5
    userids = np.repeat(np.arange(30, dtype=np.int32), np.diff(m.indptr))
    indptr, indices, _ = _kernel_args(m)
    X1, Y1 = X.copy(), Y.copy()
    states = np.array([987654321], dtype=np.uint64)
    stats = np.zeros((1, 2), dtype=np.int64)
    for _ in range(3):
        bpr_worker(userids, indices, indptr, X1, Y1, np.float32(0.05), np.float32(0.01),
                   True, uniform, states, stats, 0)
    X2, Y2 = X.copy(), Y.copy()
    state = 987654321
    for _ in range(3):
        state, correct, skipped = bpr_epoch_reference(userids, indices, indptr, X2, Y2, 0.05,
                                                      0.01, True, uniform, state)
    assert int(states[0]) == state
    assert tuple(stats[0]) == (correct, skipped) and skipped > 0
    np.testing.assert_allclose(X1, X2, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(Y1, Y2, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(X1[:, k], 1)  # the users' bias column stays 1


def test_bpr_single_thread_is_deterministic():
    m = _random_conf(50, 40, 0.2, seed=8)
    a = BPR(8, epochs=5, n_threads=1, random_state=2).fit(m)
    b = BPR(8, epochs=5, n_threads=1, random_state=2).fit(m)
    np.testing.assert_array_equal(a.user_factors_, b.user_factors_)
    np.testing.assert_array_equal(a.item_factors_, b.item_factors_)
    c = BPR(8, epochs=5, n_threads=1, random_state=3).fit(m)
    assert not np.array_equal(a.item_factors_, c.item_factors_)


def _planted(seed=0):
    """Two user groups, each interacting only with its own half of the items."""
    rng = np.random.default_rng(seed)
    users, items = [], []
    for u in range(80):
        group = u % 2
        for i in rng.choice(30, size=12, replace=False):
            users.append(f"u{u}")
            items.append(f"i{group * 30 + i}")
    return Interactions.from_arrays(np.array(users), np.array(items))


@pytest.mark.parametrize("est", [ALS(4, epochs=10, alpha=5.0),
                                 BPR(8, epochs=60, learning_rate=0.05, random_state=1)],
                         ids=["als", "bpr"])
def test_planted_structure_is_recovered(est):
    inter = _planted()
    model = est.fit(inter).model_
    recs = model.recommend([f"u{u}" for u in range(80)], k=5)
    for u, rec in enumerate(recs):
        assert len(rec) == 5
        assert all((int(i[1:]) >= 30) == bool(u % 2) for i, _ in rec), (u, rec)
    sims = model.similar_users(["u0"], k=5)[0]
    assert all(int(v[1:]) % 2 == 0 for v, _ in sims), sims


def test_parameter_validation():
    m = _random_conf()
    with pytest.raises(InputError, match="^ALS: dim must be an integer >= 1, got 0$"):
        ALS(0).fit(m)
    with pytest.raises(InputError, match="ALS: solver must be one of 'cg', 'cholesky', got 'lu'"):
        ALS(4, solver="lu").fit(m)
    with pytest.raises(InputError, match="BPR: learning_rate must be a number >= 0, got -1"):
        BPR(4, learning_rate=-1).fit(m)
    with pytest.raises(InputError, match="BPR: negatives must be one of"):
        BPR(4, negatives="hard").fit(m)
    with pytest.raises(InputError, match="no interactions"):
        ALS(4).fit(sp.csr_matrix((3, 3), dtype=np.float32))


def test_als_matches_implicit_from_the_same_start():
    """implicit draws its initial factors from default_rng(seed) like we do, so with the same
    confidences, regularisation and CG steps both runs agree up to float32 rounding."""
    implicit_als = pytest.importorskip("implicit.cpu.als")
    pytest.importorskip("threadpoolctl")
    from threadpoolctl import threadpool_limits

    m = _random_conf(120, 90, 0.1, seed=9)
    conf = confidence(m, alpha=3.0)
    ours = ALS(16, regularization=0.05, weighting="none", epochs=3, random_state=11).fit(conf)
    with threadpool_limits(1, "blas"):
        peer = implicit_als.AlternatingLeastSquares(factors=16, regularization=0.05,
                                                    iterations=3, random_state=11,
                                                    num_threads=1)
        peer.fit(conf, show_progress=False)
    # float32 CG sums in another order: the factors drift a little, the scores hardly
    ours_scores = ours.user_factors_ @ ours.item_factors_.T
    peer_scores = peer.user_factors @ peer.item_factors.T
    assert np.linalg.norm(ours_scores - peer_scores) < 3e-3 * np.linalg.norm(peer_scores)
    close = np.isclose(ours.user_factors_, peer.user_factors, rtol=1e-2, atol=1e-3)
    assert close.mean() > 0.95
