"""The table protocol, checked over every table kind against NumPy references."""

from __future__ import annotations

import numpy as np
import pytest

from compactemb import load
from compactemb.tables import (
    Bit1Table,
    Bit2Table,
    DenseTable,
    HashedTable,
    Int4Table,
    Int8Table,
    LowRankTable,
    MixedDimTable,
    PQ4Table,
    PQTable,
    PrunedTable,
    QRTable,
    RQTable,
    SubwordTable,
    TieredTable,
    table_kinds,
)

N, D = 400, 12


def _matrix():
    rng = np.random.default_rng(7)
    return rng.standard_normal((N, D)).astype(np.float32)


BUILDERS = {
    "dense": lambda x: DenseTable(x),
    "int8": lambda x: Int8Table.from_dense(x),
    "int4": lambda x: Int4Table.from_dense(x),
    "int4-odd-dim": lambda x: Int4Table.from_dense(x[:, :11]),
    "pq": lambda x: PQTable.from_dense(x, n_subvectors=4, n_centroids=32, n_iter=5),
    "pq-opq": lambda x: PQTable.from_dense(x, n_subvectors=3, n_centroids=16, n_iter=4,
                                           rotation=True, rotation_iter=2),
    "pq-normalized": lambda x: PQTable.from_dense(x, n_subvectors=2, n_centroids=16, n_iter=4,
                                                  normalize=True),
    "pq4-opq-normalized": lambda x: PQ4Table.from_dense(x, n_subvectors=3, n_iter=4,
                                                        rotation=True, rotation_iter=2,
                                                        normalize=True),
    "rq": lambda x: RQTable.from_dense(x, n_stages=3, n_centroids=32, n_iter=4, beam=4),
    "rq-normalized": lambda x: RQTable.from_dense(x, n_stages=2, n_centroids=16, n_iter=4,
                                                  normalize=True),
    "lowrank": lambda x: LowRankTable.from_dense(x, rank=5),
    "pruned-hash": lambda x: PrunedTable.from_dense(x, keep=100, n_fallback=7),
    "pruned-shared+int8": lambda x: PrunedTable.from_dense(x, keep=0.5, fallback="shared",
                                                           inner=Int8Table.from_dense),
    "hashed": lambda x: HashedTable.random(N, D, n_buckets=50, n_hashes=2, seed=3),
    "qr-mul": lambda x: QRTable.random(N, D, n_remainder=30, seed=1),
    "qr-add": lambda x: QRTable.random(N, D, n_remainder=17, combine="add", seed=2),
    "mixed": lambda x: MixedDimTable.from_dense(x, n_blocks=3, shrink=2.0),
    "bit1": lambda x: Bit1Table.from_dense(x),
    "bit2-rotated-both": lambda x: Bit2Table.from_dense(x, scale="both", rotation=True),
    "tiered": lambda x: TieredTable.from_dense(
        x, keep=150, head=Int8Table.from_dense,
        tail=lambda m: Bit1Table.from_dense(m, rotation="pca", n_components=5, normalize=True)),
    # words "w0".."w399" composed from their row and the rows of their character n-grams
    "subword": lambda x: SubwordTable(
        DenseTable(np.concatenate([x, x[:64] * 0.5])), [f"w{i}" for i in range(N)], minn=2,
        maxn=4, buckets=64),
    "subword-pruned+int8": lambda x: SubwordTable(
        Int8Table.from_dense(np.concatenate([x, x[:20]])), [f"w{i}" for i in range(N)], minn=3,
        maxn=3, buckets=64, kept_buckets=np.arange(0, 60, 3)),
}


@pytest.fixture(scope="module", params=sorted(BUILDERS))
def table(request):
    return BUILDERS[request.param](_matrix())


def reference_bag(w, ids, starts, ends, mode, weights=None):
    out = np.zeros((len(starts), w.shape[1]), dtype=np.float64)
    for b, (s, e) in enumerate(zip(starts, ends)):
        for p in range(s, e):
            out[b] += w[ids[p]].astype(np.float64) * (1.0 if weights is None else weights[p])
        if mode == "mean" and e > s:
            out[b] /= e - s
    return out


def test_every_compressed_kind_is_covered():
    kinds = {BUILDERS[name](_matrix()).kind for name in BUILDERS}
    assert kinds == set(table_kinds()), set(table_kinds()) - kinds


def test_lookup_matches_to_dense(table):
    dense = table.to_dense().weights
    assert dense.shape == (table.n_rows, table.dim) and dense.dtype == np.float32
    rng = np.random.default_rng(0)
    ids = rng.integers(0, table.n_rows, size=(3, 5))
    got = table.lookup(ids)
    assert got.shape == (3, 5, table.dim) and got.dtype == np.float32
    np.testing.assert_allclose(got, dense[ids], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(table.rows(10, 40), dense[10:40], rtol=1e-5, atol=1e-6)
    blocks = np.concatenate([b for _, b in table.iter_blocks(block=64)])
    np.testing.assert_allclose(blocks, dense, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(table.row_norms(), np.linalg.norm(dense, axis=1), rtol=1e-4,
                               atol=1e-6)
    assert table.lookup(np.array([], dtype=np.int64)).shape == (0, table.dim)
    with pytest.raises(IndexError, match="out of range"):
        table.lookup([table.n_rows])
    with pytest.raises(IndexError):
        table.lookup([-1])


@pytest.mark.parametrize("mode", ["sum", "mean"])
def test_bag_matches_reference(table, mode):
    dense = table.to_dense().weights
    ids = np.array([3, 7, 7, 1, 4, 399, 0, 250, 251, 399])
    offsets = np.array([0, 3, 5, 5, 8])  # bags: [3,7,7] [1,4] [] [399,0,250] [251,399]
    starts, ends = [0, 3, 5, 5, 8], [3, 5, 5, 8, 10]
    got = table.bag(ids, offsets, mode=mode)
    np.testing.assert_allclose(got, reference_bag(dense, ids, starts, ends, mode), rtol=1e-4,
                               atol=1e-5)
    assert np.all(got[2] == 0)
    last = table.bag(ids, np.append(offsets, ids.size), mode=mode, include_last_offset=True)
    np.testing.assert_allclose(last, got, rtol=1e-6, atol=1e-7)
    fixed = table.bag(ids[:8].reshape(2, 4), mode=mode)
    np.testing.assert_allclose(fixed, reference_bag(dense, ids, [0, 4], [4, 8], mode),
                               rtol=1e-4, atol=1e-5)


def test_bag_per_sample_weights(table):
    dense = table.to_dense().weights
    ids = np.array([5, 6, 7, 8, 9, 5])
    w = np.array([0.5, 2.0, -1.0, 1.0, 3.0, 0.25], dtype=np.float32)
    got = table.bag(ids, [0, 2], mode="sum", weights=w)
    ref = reference_bag(dense, ids, [0, 2], [2, 6], "sum", w)
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-5)


def test_nbytes_is_the_sum_of_the_arrays(table):
    arrays = table.arrays()
    assert table.nbytes == sum(a.nbytes for a in arrays.values())
    parts = table.memory_parts()
    assert sum(parts.values()) == table.nbytes
    assert all(k.startswith("table.") for k in parts)


def test_save_load_mmap_round_trip(table, tmp_path):
    path = tmp_path / f"{table.kind}.cemb"
    table.save(path)
    for mmap in (False, True):
        back = load(path, mmap=mmap)
        assert type(back) is type(table) and back.kind == table.kind
        assert (back.n_rows, back.dim, back.nbytes) == (table.n_rows, table.dim, table.nbytes)
        for name, a in table.arrays().items():
            np.testing.assert_array_equal(back.arrays()[name], a)
            if mmap:
                assert not back.arrays()[name].flags.writeable
        ids = np.arange(0, table.n_rows, 7)
        np.testing.assert_array_equal(back.lookup(ids), table.lookup(ids))


def test_estimate_nbytes_matches_measured_bytes():
    x = _matrix()
    cases = [
        (Int8Table.from_dense(x), {}),
        (Int4Table.from_dense(x[:, :11]), {}),
        (PQTable.from_dense(x, n_subvectors=4, n_centroids=256, n_iter=2), {"n_subvectors": 4}),
        (PQTable.from_dense(x, n_subvectors=4, n_centroids=256, n_iter=2, normalize=True),
         {"n_subvectors": 4, "normalize": True}),
        (LowRankTable.from_dense(x, rank=5), {"rank": 5}),
        (HashedTable.random(N, D, n_buckets=50, n_hashes=3), {"n_buckets": 50, "n_hashes": 3}),
        (QRTable.random(N, D, n_remainder=30), {"n_remainder": 30}),
        (PrunedTable.from_dense(x, keep=100, n_fallback=7), {"keep": 100, "n_fallback": 7}),
    ]
    for t, params in cases:
        assert type(t).estimate_nbytes(t.n_rows, t.dim, **params) == t.nbytes, t.kind


def test_memory_growth_curves_include_the_compressed_kinds():
    from compactemb.memory import growth_curves

    curves = growth_curves(300, [1000, 100_000])["bytes"]
    for cls in (Int8Table, Int4Table, PQTable, LowRankTable, HashedTable, QRTable, MixedDimTable,
                PrunedTable):
        assert cls.plot_label in curves
    assert curves["row-wise int8"] == [1000 * 308, 100_000 * 308]
    assert curves["row-wise int4"] == [1000 * 154, 100_000 * 154]
