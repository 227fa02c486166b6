"""Train-time compact tables (hashed, quotient-remainder, mixed-dim): kernels vs NumPy twins,
and SGD training through ``apply_gradients`` against a NumPy reference."""

from __future__ import annotations

import numpy as np
import pytest

from compactemb import InputError, load
from compactemb.tables import HashedTable, MixedDimTable, QRTable
from compactemb.tables._hashed import hash_ids


def _kinds():
    return {
        "hashed": lambda: HashedTable.random(120, 6, n_buckets=40, n_hashes=3, seed=1,
                                             init_scale=0.3),
        "qr-mul": lambda: QRTable.random(120, 6, n_remainder=11, seed=2, init_scale=0.3),
        "qr-add": lambda: QRTable.random(120, 6, n_remainder=13, combine="add", seed=3,
                                         init_scale=0.3),
        "mixed": lambda: MixedDimTable.random([10, 30, 80], [6, 3, 1], 6, seed=4,
                                              init_scale=0.3),
    }


KINDS = _kinds()


@pytest.mark.parametrize("name", sorted(KINDS))
def test_lookup_kernel_matches_numpy_twin(name):
    t = KINDS[name]()
    ids = np.random.default_rng(0).integers(0, t.n_rows, 200)
    np.testing.assert_allclose(t.lookup(ids), t.lookup_reference(ids), rtol=1e-5, atol=1e-6)
    if hasattr(t, "lookup_kernel"):
        np.testing.assert_allclose(t.lookup_kernel(ids), t.lookup_reference(ids), rtol=1e-5,
                                   atol=1e-6)


@pytest.mark.parametrize("name", sorted(KINDS))
def test_apply_gradients_matches_numpy_twin(name):
    a, b = KINDS[name](), KINDS[name]()
    rng = np.random.default_rng(1)
    for _ in range(3):
        ids = rng.integers(0, a.n_rows, 64)  # repeats included: updates are sequential
        grads = rng.standard_normal((64, a.dim)).astype(np.float32)
        a.apply_gradients(ids, grads, 0.05)
        b.apply_gradients_reference(ids, grads, 0.05)
    for key, arr in a.parameters().items():
        np.testing.assert_allclose(arr, b.parameters()[key], rtol=1e-4, atol=1e-5)


def test_hash_kernel_matches_numpy_hash():
    t = HashedTable.random(10**6, 2, n_buckets=97, n_hashes=2, seed=5)
    ids = np.array([0, 1, 2, 999_999, 123_456])
    t.weights[:] = np.arange(97, dtype=np.float32)[:, None]
    expect = sum(hash_ids(ids, int(s), 97) for s in t.seeds)
    np.testing.assert_array_equal(t.lookup(ids)[:, 0], expect.astype(np.float32))
    b = t.buckets(np.arange(20000))
    # the hash spreads ids over the buckets (no bucket holds more than twice its share)
    assert np.bincount(b[:, 0], minlength=97).max() < 2 * 20000 / 97


def _sgd_mf(item_table, apply, epochs=30, lr=0.1, seed=0):
    """SGD matrix factorisation: dense user factors, item rows from ``item_table``."""
    rng = np.random.default_rng(seed)
    n_users, n_items, d = 40, item_table.n_rows, item_table.dim
    truth_u = rng.standard_normal((n_users, d)).astype(np.float32)
    truth_i = rng.standard_normal((n_items, d)).astype(np.float32)
    ratings = truth_u @ truth_i.T / d
    users = rng.standard_normal((n_users, d)).astype(np.float32) * 0.3
    pairs = np.array([(u, i) for u in range(n_users) for i in range(n_items)])
    losses = []
    for _ in range(epochs):
        order = rng.permutation(len(pairs))
        for s in range(0, len(pairs), 50):
            u, i = pairs[order[s:s + 50], 0], pairs[order[s:s + 50], 1]
            v = item_table.lookup(i)
            err = (users[u] * v).sum(1) - ratings[u, i]
            gu = err[:, None] * v
            apply(i, err[:, None] * users[u], lr)
            np.add.at(users, u, -lr * gu)
        pred = users @ item_table.to_dense().weights.T
        losses.append(float(((pred - ratings) ** 2).mean()))
    return losses


@pytest.mark.parametrize("name", sorted(KINDS))
def test_sgd_training_through_the_kernel_matches_the_numpy_reference(name):
    fast, slow = KINDS[name](), KINDS[name]()
    lf = _sgd_mf(fast, fast.apply_gradients, epochs=8)
    ls = _sgd_mf(slow, slow.apply_gradients_reference, epochs=8)
    np.testing.assert_allclose(lf, ls, rtol=1e-3)
    assert lf[-1] < 0.9 * lf[0], lf  # it learns (hashing shares 40 buckets among 120 items)


def test_fit_rows_distils_a_table():
    rng = np.random.default_rng(2)
    target = rng.standard_normal((120, 6)).astype(np.float32)
    # full-width blocks can represent any table: the fit drives the error towards zero
    t = MixedDimTable.random([20, 100], [6, 6], 6, seed=0, init_scale=0.1)
    losses = t.fit_rows(target, epochs=60, lr=0.1, batch=16)
    assert losses[-1] < 0.02 * losses[0], losses[::10]
    h = HashedTable.random(120, 6, n_buckets=60, n_hashes=2, seed=0)
    hl = h.fit_rows(target, epochs=20, lr=0.05)
    assert hl[-1] < hl[0] and hl[-1] < 1.0  # shares buckets: can not reach zero


def test_trainable_errors_and_storage(tmp_path):
    t = QRTable.random(50, 4, n_remainder=8)
    with pytest.raises(InputError, match=r"grads must have shape \(2, 4\)"):
        t.apply_gradients([1, 2], np.zeros((3, 4)), 0.1)
    with pytest.raises(IndexError, match="out of range"):
        t.apply_gradients([50], np.zeros((1, 4)), 0.1)
    with pytest.raises(InputError, match="'n_buckets' must be an integer >= 1"):
        HashedTable.random(10, 4, n_buckets=0)
    with pytest.raises(InputError, match="'combine' must be 'mul' or 'add'"):
        QRTable.random(10, 4, n_remainder=3, combine="concat")
    with pytest.raises(InputError, match="'block_sizes' must be positive and sum to n_rows"):
        MixedDimTable.random([3, 0], [2, 1], 4)
    with pytest.raises(InputError, match=r"'block_dims' needs one width in \[1, dim=4\]"):
        MixedDimTable.random([3, 4], [8, 1], 4)
    path = tmp_path / "qr.cemb"
    t.save(path)
    mm = load(path, mmap=True)
    with pytest.raises(InputError, match="read-only"):
        mm.apply_gradients([1], np.zeros((1, 4)), 0.1)
    back = load(path)
    back.apply_gradients([1], np.ones((1, 4)), 0.1)  # a normal load trains


def test_mixed_full_width_block_is_exact_and_trains():
    rng = np.random.default_rng(9)
    x = rng.standard_normal((30, 5)).astype(np.float32)
    t = MixedDimTable.from_dense(x, block_sizes=[10, 20], block_dims=[5, 2])
    np.testing.assert_array_equal(t.lookup(np.arange(10)), x[:10])  # identity projection
    u, s, vt = np.linalg.svd(x[10:].astype(np.float64), full_matrices=False)
    np.testing.assert_allclose(t.lookup(np.arange(10, 30)), (u[:, :2] * s[:2]) @ vt[:2],
                               atol=1e-4)
    ids = np.array([0, 3, 12])
    t.apply_gradients(ids, rng.standard_normal((3, 5)).astype(np.float32), 0.1)
    # the projection moved off the identity: lookups follow it
    np.testing.assert_allclose(t.lookup(ids), t.lookup_reference(ids), rtol=1e-5, atol=1e-6)
    assert not np.allclose(t.lookup([1]), x[1])
