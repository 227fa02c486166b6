"""1-bit and 2-bit tables against slow NumPy references: decode bit for bit, scores equal to
the decoded dot products, Hamming distances, bags, search and storage round trips."""

from __future__ import annotations

import numpy as np
import pytest

from compactemb import load
from compactemb.exceptions import InputError
from compactemb.search import search
from compactemb.tables import Bit1Table, Bit2Table, DenseTable
from compactemb.tables._lowbit import lowbit_search, pack_codes

KINDS = [Bit1Table, Bit2Table]
OPTIONS = [dict(scale="dim"), dict(scale="row", center=False), dict(scale="both"),
           dict(scale="dim", rotation=True), dict(scale="dim", normalize=True),
           dict(scale="both", rotation="pca", n_components=7, normalize=True)]


def _x(n=120, dim=13, seed=0):
    rng = np.random.default_rng(seed)
    # anisotropic, off-centre: what word vectors look like
    return (rng.standard_normal((n, dim)) * np.linspace(0.2, 3, dim) + 0.7).astype(np.float32)


def reference_decode(t) -> np.ndarray:
    """The layout of docs/FORMAT.md, bit by bit, in plain Python loops."""
    per_byte = 8 // t.bits
    out = np.zeros((t.n_rows, t.code_dim), np.float32)
    for i in range(t.n_rows):
        for j in range(t.code_dim):
            code = (int(t.codes[i, j // per_byte]) >> (t.bits * (j % per_byte))) \
                & ((1 << t.bits) - 1)
            v = t.levels[code]
            if t.row_scales is not None:
                v = np.float32(v * np.float32(t.row_scales[i]))
            if t.dim_scales is not None:
                v = np.float32(v * t.dim_scales[j])
            out[i, j] = v
    if t.rotation is not None:
        out = out @ t.rotation.T
    if t.mean is not None:
        out = out + t.mean
    if t.norms is not None:
        out = out * t.norms.astype(np.float32)[:, None]
    return out


@pytest.mark.parametrize("cls", KINDS)
@pytest.mark.parametrize("opts", OPTIONS)
def test_decode_equals_reference(cls, opts):
    t = cls.from_dense(_x(), **opts)
    ref = reference_decode(t)
    got = t.lookup(np.arange(t.n_rows))
    if t.rotation is None and t.norms is None:
        np.testing.assert_array_equal(got, ref)  # bit for bit
    else:
        np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)
    ids = np.array([[5, 0], [119, 5]])
    # a rotation is a BLAS product, whose rounding may depend on the batch
    same = np.testing.assert_array_equal if t.rotation is None and t.norms is None else \
        (lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6))
    same(t.lookup(ids), got[ids])
    same(t.rows(7, 30), got[7:30])


def test_pack_codes_layout():
    codes = np.array([[3, 0, 1, 2, 1]])
    # 2 bits: byte 0 = 3 | 0 << 2 | 1 << 4 | 2 << 6, byte 1 = 1
    assert pack_codes(codes, 2).tolist() == [[3 + 16 + 128, 1]]


def test_one_bit_keeps_the_signs_of_centred_values():
    x = _x()
    t = Bit1Table.from_dense(x, scale="dim")
    mean = x.mean(axis=0)
    dec = t.to_dense().weights
    assert np.array_equal(dec > mean, x > mean)
    # per-dimension scale: the least-squares value mean |x - mean| of the column
    np.testing.assert_allclose(t.dim_scales, np.abs(x - mean).mean(axis=0), rtol=1e-4)


def test_normalize_keeps_row_norms_and_pca_keeps_the_top_directions():
    x = _x(400, 16)
    t = Bit2Table.from_dense(x, normalize=True)
    np.testing.assert_allclose(np.linalg.norm(t.to_dense().weights, axis=1),
                               np.linalg.norm(x, axis=1), rtol=2e-3)
    # 4 of 16 components: the projection is the top principal subspace of the centred rows
    p = Bit1Table.from_dense(x, rotation="pca", n_components=4)
    _, _, vt = np.linalg.svd(x - x.mean(0), full_matrices=False)
    np.testing.assert_allclose(np.abs(p.rotation.T @ vt[:4].T), np.eye(4), atol=1e-4)
    assert p.codes.shape == (400, 1)
    with pytest.raises(InputError, match="n_components"):
        Bit1Table.from_dense(x, n_components=4)


def test_two_bits_are_closer_than_one_bit():
    x = _x(500, 16)
    err1 = np.linalg.norm(Bit1Table.from_dense(x).to_dense().weights - x)
    err2 = np.linalg.norm(Bit2Table.from_dense(x).to_dense().weights - x)
    assert err2 < 0.6 * err1


@pytest.mark.parametrize("cls", KINDS)
@pytest.mark.parametrize("opts", OPTIONS)
def test_scores_equal_decoded_dot(cls, opts):
    x = _x()
    t = cls.from_dense(x, **opts)
    q = np.random.default_rng(1).standard_normal((4, x.shape[1])).astype(np.float32)
    dec = reference_decode(t).astype(np.float64)
    np.testing.assert_allclose(t.scores(q), q @ dec.T, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(t.scores(q, 10, 25), (q @ dec.T)[:, 10:25], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("cls", KINDS)
@pytest.mark.parametrize("metric", ["cosine", "dot"])
def test_lowbit_search_matches_search_on_decoded(cls, metric):
    x = _x(300, 16)
    t = cls.from_dense(x, scale="both")
    q = x[:6] + 0.1
    got = lowbit_search(t, q, k=5, metric=metric, block_rows=64, exclude=[[0], [], [], [], [],
                                                                          [5]])
    ref = search(DenseTable(reference_decode(t)), q, k=5, metric=metric, block_rows=64,
                 exclude=[[0], [], [], [], [], [5]])
    np.testing.assert_array_equal(got.ids, ref.ids)
    np.testing.assert_allclose(got.scores, ref.scores, rtol=1e-4, atol=1e-4)


def test_hamming_counts_differing_bits():
    x = _x(60, 21)
    t = Bit1Table.from_dense(x, rotation=True)
    q = t.encode_queries(x[:3])
    np.testing.assert_array_equal(q, t.codes[:3])
    bits = np.unpackbits(t.codes, axis=1, bitorder="little")[:, :21].astype(int)
    ref = np.abs(bits[:3, None, :] - bits[None, :, :]).sum(axis=2)
    np.testing.assert_array_equal(t.hamming(q), ref)
    np.testing.assert_array_equal(t.hamming(q, 5, 9), ref[:, 5:9])
    with pytest.raises(InputError, match="query codes"):
        t.hamming(np.zeros((1, 2), np.uint8))


@pytest.mark.parametrize("cls", KINDS)
@pytest.mark.parametrize("mode", ["sum", "mean"])
@pytest.mark.parametrize("weighted", [False, True])
def test_bag_equals_pooled_decoded_rows(cls, mode, weighted):
    if weighted and mode == "mean":
        return
    t = cls.from_dense(_x(), scale="both", rotation="pca", n_components=9, normalize=True)
    dec = reference_decode(t)
    ids = np.array([3, 9, 9, 1, 4, 7])
    offsets = np.array([0, 3, 5, 5])
    w = np.linspace(0.5, 2, ids.size).astype(np.float32) if weighted else None
    got = t.bag(ids, offsets, mode=mode, weights=w)
    rows = dec[ids] * (w[:, None] if weighted else 1)
    ref = np.stack([rows[0:3].sum(0), rows[3:5].sum(0), np.zeros(t.dim), rows[5:].sum(0)])
    if mode == "mean":
        ref = ref / np.array([3, 2, 1, 1])[:, None]
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("cls", KINDS)
@pytest.mark.parametrize("opts", OPTIONS)
def test_storage_round_trip(cls, opts, tmp_path):
    t = cls.from_dense(_x(), **opts)
    path = tmp_path / "t.cemb"
    t.save(path)
    for mmap in (False, True):
        back = load(path, mmap=mmap)
        assert type(back) is cls and back.attrs() == t.attrs()
        np.testing.assert_array_equal(back.to_dense().weights, t.to_dense().weights)
    assert t.nbytes == cls.estimate_nbytes(t.n_rows, t.dim, **opts)


def test_sizes():
    x = np.zeros((10000, 96), np.float32)
    t1, t2 = Bit1Table.from_dense(x, center=False), Bit2Table.from_dense(x, center=False)
    assert t1.codes.nbytes == 10000 * 12 and t2.codes.nbytes == 10000 * 24
    assert x.nbytes / t1.nbytes > 31.5 and x.nbytes / t2.nbytes > 15.8


def test_bad_input_is_named():
    with pytest.raises(InputError, match="scale"):
        Bit1Table.from_dense(_x(), scale="col")
    with pytest.raises(InputError, match="NaN"):
        Bit2Table.from_dense(np.array([[np.nan, 1.0]], np.float32))
    with pytest.raises(InputError, match="codes"):
        Bit1Table(np.zeros((3, 5), np.uint8), 16, np.array([-1, 1], np.float32))
    t = Bit1Table.from_dense(_x())
    with pytest.raises(InputError, match="dim"):
        t.scores(np.zeros((1, 4), np.float32))
    with pytest.raises(IndexError):
        t.lookup([1000])


def test_kernels_equal_twins():
    from compactemb._native import use_native

    t = Bit2Table.from_dense(_x(), scale="both", rotation=True)
    q = _x(3, 13, seed=4)
    ids = np.array([4, 4, 0, 119, 17])
    native = (t.lookup(ids), t.bag(ids, [0, 2]), t.scores(q))
    b = Bit1Table.from_dense(_x())
    native_h = b.hamming(b.codes[:4])
    with use_native(False):
        twin = (t.lookup(ids), t.bag(ids, [0, 2]), t.scores(q))
        twin_h = b.hamming(b.codes[:4])
    np.testing.assert_array_equal(native[0], twin[0])
    np.testing.assert_allclose(native[1], twin[1], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(native[2], twin[2], rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(native_h, twin_h)


def test_empty_table():
    t = Bit2Table.from_dense(np.zeros((0, 8), np.float32), center=False)
    assert t.n_rows == 0 and t.lookup(np.zeros(0, np.int64)).shape == (0, 8)
