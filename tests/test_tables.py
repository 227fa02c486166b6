"""DenseTable and the table protocol, against NumPy references."""

from __future__ import annotations

import numpy as np
import pytest

from compactemb import DenseTable, InputError, load


def reference_bag(w, ids, starts, ends, mode, weights=None):
    out = np.zeros((len(starts), w.shape[1]), dtype=np.float64)
    for b, (s, e) in enumerate(zip(starts, ends)):
        for p in range(s, e):
            out[b] += w[ids[p]].astype(np.float64) * (1.0 if weights is None else weights[p])
        if mode == "mean" and e > s:
            out[b] /= e - s
    return out


@pytest.fixture
def table():
    rng = np.random.default_rng(1)
    return DenseTable(rng.standard_normal((50, 8)).astype(np.float32))


def test_lookup_any_shape(table):
    ids = np.array([[3, 4], [49, 0]])
    got = table.lookup(ids)
    assert got.shape == (2, 2, 8) and got.dtype == np.float32
    np.testing.assert_array_equal(got[1, 0], table.weights[49])
    with pytest.raises(IndexError, match="50 out of range"):
        table.lookup([50])
    with pytest.raises(IndexError, match="-1"):
        table.lookup([-1])
    with pytest.raises(InputError, match="integers"):
        table.lookup([1.5])


@pytest.mark.parametrize("mode", ["sum", "mean"])
@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_bag_matches_reference(table, mode, dtype):
    t = table.astype(dtype)
    ids = np.array([3, 7, 7, 1, 4, 9, 0])
    offsets = np.array([0, 3, 5, 5])  # bags: [3,7,7] [1,4] [] [9,0]
    got = t.bag(ids, offsets, mode=mode)
    ref = reference_bag(t.weights, ids, [0, 3, 5, 5], [3, 5, 5, 7], mode)
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)
    assert np.all(got[2] == 0)
    last = t.bag(ids, np.append(offsets, ids.size), mode=mode, include_last_offset=True)
    np.testing.assert_allclose(last, got, rtol=1e-6)


def test_bag_weights_and_fixed_size(table):
    ids = np.array([[1, 2, 3], [4, 5, 6]])
    got = table.bag(ids, mode="mean")
    np.testing.assert_allclose(got, table.weights[ids].mean(axis=1), rtol=1e-5)
    w = np.array([0.5, 2.0, -1.0, 1.0, 1.0, 1.0], dtype=np.float32)
    got = table.bag(ids.ravel(), [0, 3], mode="sum", weights=w)
    ref = reference_bag(table.weights, ids.ravel(), [0, 3], [3, 6], "sum", w)
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6)
    generic = type(table).__mro__[1].bag(table, ids.ravel(), [0, 3], mode="sum", weights=w)
    np.testing.assert_allclose(generic, ref, rtol=1e-5, atol=1e-6)  # the protocol's default


def test_bag_input_errors(table):
    with pytest.raises(InputError, match="mode"):
        table.bag([1], [0], mode="max")
    with pytest.raises(InputError, match="offsets"):
        table.bag([1, 2], [1])
    with pytest.raises(InputError, match="weights need mode='sum'"):
        table.bag([1, 2], [0], weights=[1, 1])
    with pytest.raises(InputError, match="2-D ids"):
        table.bag([1, 2])


def test_nbytes_and_save_load_mmap(tmp_path, table):
    assert table.nbytes == 50 * 8 * 4
    assert table.astype("float16").nbytes == 50 * 8 * 2
    table.save(tmp_path / "t.cemb", meta={"note": "x"})
    for mmap in (False, True):
        t2 = load(tmp_path / "t.cemb", mmap=mmap)
        np.testing.assert_array_equal(t2.weights, table.weights)
        assert t2.meta == {"note": "x"}
    t3 = load(tmp_path / "t.cemb", mmap=True)
    assert not t3.weights.flags.writeable  # memory-mapped views are read-only
    np.testing.assert_allclose(t3.row_norms(), np.linalg.norm(table.weights, axis=1), rtol=1e-6)


def test_float16_range_and_to_dense(table):
    with pytest.raises(InputError, match="float16 range"):
        DenseTable(np.full((2, 2), 1e6, np.float32), dtype="float16")
    h = table.astype("float16")
    d = h.to_dense()
    assert d.dtype == "float32"
    np.testing.assert_allclose(d.weights, table.weights, rtol=1e-3, atol=1e-3)


def test_no_bags(table):
    assert table.bag([], []).shape == (0, 8)
    assert table.astype("float16").bag(np.array([], np.int64), []).shape == (0, 8)


def test_float16_lookup_equals_numpy_cast_for_every_bit_pattern():
    bits = np.arange(65536, dtype=np.uint32).astype(np.uint16).reshape(-1, 16)
    t = DenseTable(bits.view(np.float16))
    ids = np.random.default_rng(0).permutation(t.n_rows)
    got = t.lookup(ids.reshape(64, -1))
    ref = bits.view(np.float16)[ids].astype(np.float32).reshape(64, -1, 16)
    np.testing.assert_array_equal(got, ref)  # NaNs compare equal here
