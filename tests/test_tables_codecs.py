"""Codec correctness: int8/int4 error bounds and layout, PQ exactness, low rank, pruning."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from compactemb import InputError
from compactemb.tables import DenseTable, Int4Table, Int8Table, LowRankTable, PQTable, PrunedTable
from compactemb.tables._hashed import hash_ids
from compactemb.tables._pq import decode_pq, encode_pq
from compactemb.tables._quantized import dequantize_rows, quantize_rows

finite = st.floats(-1e3, 1e3, allow_nan=False, width=32)


@settings(max_examples=40, deadline=None)
@given(arrays(np.float32, st.tuples(st.integers(1, 6), st.integers(1, 9)), elements=finite))
def test_int8_error_bound(x):
    t = Int8Table.from_dense(x)
    sb = t.scale_bias()
    dec = t.to_dense().weights
    # the numba kernel may fuse multiply-add: equal up to one rounding
    np.testing.assert_allclose(dec, dequantize_rows(t.data, x.shape[1], 8), rtol=1e-6,
                               atol=1e-6 * float(np.abs(x).max()) + 1e-7)
    np.testing.assert_allclose(sb[:, 1], x.min(axis=1))  # bias = row minimum (FBGEMM)
    slack = 1e-5 * np.abs(x).max(axis=1, initial=0) + 1e-6
    assert np.all(np.abs(dec - x) <= sb[:, :1] / 2 + slack[:, None])


@settings(max_examples=40, deadline=None)
@given(arrays(np.float32, st.tuples(st.integers(1, 6), st.integers(1, 9)), elements=finite))
def test_int4_error_bound(x):
    t = Int4Table.from_dense(x)
    sb = t.scale_bias()
    dec = t.to_dense().weights
    # the numba kernel may fuse multiply-add: equal up to one rounding
    np.testing.assert_allclose(dec, dequantize_rows(t.data, x.shape[1], 4), rtol=1e-6,
                               atol=1e-6 * float(np.abs(x).max()) + 1e-7)
    assert np.all(sb[:, 1] <= x.min(axis=1))  # fp16 bias rounded down: codes never clip
    slack = 1e-5 * np.abs(x).max(axis=1, initial=0) + 1e-6
    assert np.all(np.abs(dec - x) <= sb[:, :1] / 2 + slack[:, None])


def test_fused_row_layout_is_fbgemm():
    x = np.array([[0.0, 1.0, 2.0, 2.55], [-1.0, -1.0, -1.0, -1.0]], np.float32)
    t8 = Int8Table.from_dense(x)
    assert t8.data.shape == (2, 4 + 8)
    scale, bias = t8.data[0, 4:].view(np.float32)
    assert bias == 0.0 and scale == pytest.approx(2.55 / 255)
    np.testing.assert_array_equal(t8.data[0, :4], [0, 100, 200, 255])
    # a constant row: scale 0, every value decodes exactly to the bias
    np.testing.assert_array_equal(t8.lookup([1])[0], x[1])
    t4 = Int4Table.from_dense(np.array([[0.0, 15.0, 1.0]], np.float32))
    assert t4.data.shape == (1, 2 + 4)
    assert t4.data[0, 0] == 0 | (15 << 4) and t4.data[0, 1] == 1  # low nibble = even column
    scale16, bias16 = t4.data[0, 2:6].view(np.float16)
    assert float(scale16) == 1.0 and float(bias16) == 0.0


def test_quantized_sizes_and_bad_input():
    x = np.zeros((10, 300), np.float32)
    assert Int8Table.from_dense(x).nbytes * 3.5 <= x.nbytes
    assert Int4Table.from_dense(x).nbytes * 7 <= x.nbytes
    with pytest.raises(InputError, match="bits must be 8 or 4"):
        quantize_rows(x, 3)
    with pytest.raises(InputError, match="NaN"):
        Int8Table.from_dense(np.array([[np.nan, 1.0]], np.float32))
    with pytest.raises(InputError, match="float16 range"):
        Int4Table.from_dense(np.array([[-1e5, 1e5]], np.float32))


def test_pq_encoding_is_exact_on_codebook_built_inputs():
    rng = np.random.default_rng(0)
    books = rng.standard_normal((4, 256, 3)).astype(np.float32)
    codes = rng.integers(0, 256, size=(500, 4)).astype(np.uint8)
    x = decode_pq(codes, books)
    np.testing.assert_array_equal(encode_pq(x, books), codes)
    t = PQTable(books, codes)
    np.testing.assert_array_equal(t.lookup(np.arange(500)), x)
    np.testing.assert_array_equal(t.to_dense().weights, x)


def test_pq_training_recovers_well_separated_codewords():
    rng = np.random.default_rng(1)
    # 8 centroids per sub-space on a scaled grid: k-means with 8 centroids finds them
    books = (rng.permutation(np.arange(8))[:, None] * 100.0
             + rng.standard_normal((8, 2))).astype(np.float32)[None].repeat(3, axis=0)
    codes = np.tile(np.arange(8), 40).reshape(-1, 1).repeat(3, axis=1).astype(np.uint8)
    codes = rng.permuted(codes, axis=0)
    x = decode_pq(codes, books) + rng.normal(0, 0.01, (codes.shape[0], 6)).astype(np.float32)
    t = PQTable.from_dense(x, n_subvectors=3, n_centroids=8, n_iter=30, seed=3)
    err = np.abs(t.to_dense().weights - x).max()
    assert err < 0.1, err


def test_pq_error_falls_as_subvectors_rise():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2000, 24)).astype(np.float32)
    errs = [float(((PQTable.from_dense(x, n_subvectors=m, n_centroids=64, n_iter=8)
                    .to_dense().weights - x) ** 2).mean()) for m in (2, 6, 24)]
    assert errs[0] > errs[1] > errs[2], errs


def test_opq_rotation_helps_on_correlated_data():
    rng = np.random.default_rng(3)
    # energy concentrated in a few directions, spread over all coordinates by a rotation
    scales = np.geomspace(10, 0.1, 16)
    q, _ = np.linalg.qr(rng.standard_normal((16, 16)))
    x = ((rng.standard_normal((3000, 16)) * scales) @ q.T).astype(np.float32)
    plain = PQTable.from_dense(x, n_subvectors=4, n_centroids=32, n_iter=10, seed=0)
    rot = PQTable.from_dense(x, n_subvectors=4, n_centroids=32, n_iter=10, seed=0,
                             rotation=True, rotation_iter=6)
    r = rot.rotation
    np.testing.assert_allclose(r.T @ r, np.eye(16), atol=1e-4)
    e_plain = ((plain.to_dense().weights - x) ** 2).mean()
    e_rot = ((rot.to_dense().weights - x) ** 2).mean()
    assert e_rot < 0.9 * e_plain, (e_rot, e_plain)


def test_pq_normalize_keeps_norms_and_quantises_directions():
    rng = np.random.default_rng(8)
    # norms spread over three orders of magnitude, as word vectors' are
    x = (rng.standard_normal((1500, 8)) * np.geomspace(0.01, 10, 1500)[:, None]).astype(np.float32)
    x[5] = 0
    t = PQTable.from_dense(x, n_subvectors=2, n_centroids=32, n_iter=10, normalize=True)
    dec = t.to_dense().weights
    norms = np.linalg.norm(x, axis=1)
    np.testing.assert_allclose(np.linalg.norm(dec, axis=1), norms, rtol=2e-3, atol=1e-6)
    assert np.all(dec[5] == 0)

    def mean_cos(d):
        keep = norms > 0
        return float(np.mean(np.einsum("ij,ij->i", d[keep], x[keep])
                             / (np.linalg.norm(d[keep], axis=1) * norms[keep])))

    plain = PQTable.from_dense(x, n_subvectors=2, n_centroids=32, n_iter=10).to_dense().weights
    # plain PQ spends its centroids on the long rows; normalised PQ keeps every row's direction
    assert mean_cos(dec) > mean_cos(plain) + 0.05, (mean_cos(dec), mean_cos(plain))


@pytest.mark.parametrize("kwargs, match", [
    ({"n_subvectors": 5}, "'n_subvectors'=5 must divide the dimension dim=12"),
    ({"n_subvectors": 0}, "'n_subvectors' must be a positive integer"),
    ({"n_subvectors": 4, "n_centroids": 300}, r"'n_centroids' must be an integer in \[2, 256\]"),
    ({"n_subvectors": 4, "n_centroids": 256}, "at least n_centroids=256 rows"),
    ({"n_subvectors": 4, "n_centroids": 8, "n_iter": 0}, "'n_iter' must be a positive"),
    ({"n_subvectors": 4, "n_centroids": 8, "sample": -3}, "'sample' must be a positive"),
])
def test_pq_bad_options(kwargs, match):
    x = np.random.default_rng(0).standard_normal((100, 12)).astype(np.float32)
    with pytest.raises(InputError, match=match):
        PQTable.from_dense(x, **kwargs)


def test_lowrank_is_the_truncated_svd():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((80, 10)).astype(np.float32)
    t = LowRankTable.from_dense(x, rank=4)
    u, s, vt = np.linalg.svd(x.astype(np.float64), full_matrices=False)
    best = (u[:, :4] * s[:4]) @ vt[:4]
    np.testing.assert_allclose(t.to_dense().weights, best, atol=1e-4)
    assert t.nbytes == 4 * 4 * (80 + 10)
    with pytest.raises(InputError, match=r"'rank' must be an integer in \[1, min"):
        LowRankTable.from_dense(x, rank=11)


def test_pruning_keeps_rows_and_maps_the_rest_to_bucket_means():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((60, 4)).astype(np.float32)
    t = PrunedTable.from_dense(x, keep=20, n_fallback=3)
    dense = t.to_dense().weights
    np.testing.assert_array_equal(dense[:20], x[:20])
    bucket = hash_ids(np.arange(20, 60), 0x5EED, 3)
    for b in range(3):
        members = 20 + np.flatnonzero(bucket == b)
        np.testing.assert_allclose(dense[members], np.broadcast_to(x[members].mean(0),
                                                                   (members.size, 4)), rtol=1e-5)
    shared = PrunedTable.from_dense(x, keep=0.5, fallback="shared").to_dense().weights
    np.testing.assert_allclose(shared[30:], np.broadcast_to(x[30:].mean(0), (30, 4)), rtol=1e-5)
    assert t.nbytes == (20 + 3) * 4 * 4  # nothing stored per pruned row
    for kw, match in [({"keep": 0}, "'keep' must be a row count"),
                      ({"keep": 1.5}, r"'keep' as a fraction must be in \(0, 1\]"),
                      ({"keep": 10, "fallback": "zero"}, "'fallback' must be 'hash' or 'shared'"),
                      ({"keep": 10, "n_fallback": 0}, "'n_fallback' must be a positive")]:
        with pytest.raises(InputError, match=match):
            PrunedTable.from_dense(x, **kw)


def test_dense_float16_source_compresses():
    x = np.random.default_rng(6).standard_normal((30, 8)).astype(np.float16)
    t = Int8Table.from_dense(DenseTable(x))
    assert np.abs(t.to_dense().weights - x.astype(np.float32)).max() < 0.05
