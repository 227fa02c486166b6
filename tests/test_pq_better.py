"""Issue 15 part 4: PQ sized by a ratio, OPQ, residual quantisation, 4-bit fast-scan PQ, and
search on 1-/2-bit codes; each against a slow reference or brute force over decoded rows."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

from compactemb import KeyedVectors, Vocab
from compactemb._native import use_native
from compactemb.cli import main
from compactemb.compress import compress
from compactemb.exceptions import InputError
from compactemb.search import search
from compactemb.tables import Bit1Table, Bit2Table, DenseTable, PQ4Table, PQTable, RQTable
from compactemb.tables._adc import PQ4Scorer, code_scorer
from compactemb.tables._pq import pq_settings_for_bytes
from compactemb.tables._pq4 import pack_nibbles, unpack_nibbles
from compactemb.tables._rq import decode_rq, encode_rq, refit_codebooks


def correlated(n, dim, seed=0):
    """Rows with a few strong, mixed-up directions: where a rotation before PQ pays."""
    rng = np.random.default_rng(seed)
    scales = np.geomspace(4.0, 0.1, dim)
    basis = np.linalg.qr(rng.normal(size=(dim, dim)))[0]
    return ((rng.normal(size=(n, dim)) * scales) @ basis.T).astype(np.float32)


def rel_error(table, x):
    return float(((np.asarray(table) - x) ** 2).sum() / (x ** 2).sum())


def brute(w, q, k, metric, exclude=None):
    """Top-k by NumPy over the decoded rows (float64 scores)."""
    w, q = w.astype(np.float64), q.astype(np.float64)
    s = q @ w.T
    if metric == "cosine":
        n = np.linalg.norm(w, axis=1)
        s = np.where(n > 0, s / np.where(n > 0, n, 1), -np.inf)
        s /= np.linalg.norm(q, axis=1, keepdims=True)
    for r, ex in enumerate(exclude or []):
        s[r, ex] = -np.inf
    ids = np.argsort(-s, axis=1, kind="stable")[:, :k]
    return ids, np.take_along_axis(s, ids, 1)


def assert_same_results(res, ids, scores, tol=1e-4):
    """Scores within tol; ids equal wherever the reference's score is not tied within tol."""
    np.testing.assert_allclose(res.scores, scores, atol=tol, rtol=0)
    for r in range(ids.shape[0]):
        s = scores[r]
        for j in range(ids.shape[1]):
            if (np.abs(s - s[j]) <= tol).sum() == 1 and j < ids.shape[1] - 1:
                assert res.ids[r, j] == ids[r, j], (r, j)


# -- OPQ ------------------------------------------------------------------------------------------

def test_opq_rotation_is_orthogonal_and_beats_plain_pq():
    x = correlated(3000, 16)
    plain = PQTable.from_dense(x, n_subvectors=4, n_centroids=16, n_iter=10)
    opq = PQTable.from_dense(x, n_subvectors=4, n_centroids=16, n_iter=10, rotation=True)
    r = opq.rotation.astype(np.float64)
    np.testing.assert_allclose(r @ r.T, np.eye(16), atol=1e-5)
    assert rel_error(opq, x) <= rel_error(plain, x)
    # decoded rows are the sub-space centroids rotated back (the format's formula)
    codes = opq.codes
    dec = np.concatenate([opq.codebooks[m][codes[:, m]] for m in range(4)], axis=1)
    np.testing.assert_allclose(np.asarray(opq), dec @ opq.rotation.T, atol=1e-5)


# -- RQ -------------------------------------------------------------------------------------------

def test_rq_decode_equals_slow_reference_and_lookup():
    t = RQTable.from_dense(correlated(700, 6), n_stages=3, n_centroids=8, n_iter=5,
                           normalize=True)
    ref = np.array([[sum(float(t.codebooks[s, t.codes[i, s], j]) for s in range(3))
                     * float(t.norms[i]) for j in range(6)] for i in range(700)])
    np.testing.assert_allclose(np.asarray(t), ref, atol=1e-5)
    np.testing.assert_allclose(t.lookup([[5, 3], [0, 699]]), ref[[[5, 3], [0, 699]]], atol=1e-5)


def test_rq_beam_search_is_exhaustive_when_the_beam_holds_every_path():
    rng = np.random.default_rng(3)
    books = rng.normal(size=(3, 4, 5)).astype(np.float32)
    x = rng.normal(size=(60, 5)).astype(np.float32)
    codes = encode_rq(x, books, beam=4 ** 3)
    for i in range(60):  # the best of all 64 code triples
        best = min(itertools.product(range(4), repeat=3),
                   key=lambda c: float(((x[i] - sum(books[s, c[s]] for s in range(3))) ** 2)
                                       .sum()))
        got = ((x[i] - decode_rq(codes[i:i + 1], books)[0]) ** 2).sum()
        want = ((x[i] - sum(books[s, best[s]] for s in range(3))) ** 2).sum()
        assert got == pytest.approx(want, rel=1e-5, abs=1e-6)
    # beam 1 = greedy: each stage the nearest centroid of the residual
    greedy = encode_rq(x, books, beam=1)
    for i in range(60):
        r = x[i].astype(np.float64)
        for s in range(3):
            c = int(np.argmin(((r - books[s]) ** 2).sum(1)))
            assert greedy[i, s] == c
            r = r - books[s, c]


def test_rq_codebook_refit_is_the_least_squares_solution():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(400, 3))
    codes = rng.integers(0, 4, (400, 2)).astype(np.uint8)
    books = np.zeros((2, 4, 3), np.float32)
    got = refit_codebooks(x, codes, books, ridge=1e-9)
    onehot = np.zeros((400, 8))
    onehot[np.arange(400), codes[:, 0]] = 1
    onehot[np.arange(400), 4 + codes[:, 1]] = 1
    # the solution is unique up to a constant moved between stages: compare the decoded rows
    ref = onehot @ np.linalg.lstsq(onehot, x, rcond=None)[0]
    np.testing.assert_allclose(decode_rq(codes, got), ref, atol=1e-4)


def test_rq_beam_and_refit_lower_the_error_and_beat_pq_of_equal_codes():
    x = correlated(4000, 16, seed=1)
    greedy = RQTable.from_dense(x, n_stages=4, n_centroids=16, n_iter=8, beam=1, refine_iter=0)
    full = RQTable.from_dense(x, n_stages=4, n_centroids=16, n_iter=8)
    pq = PQTable.from_dense(x, n_subvectors=4, n_centroids=16, n_iter=8)
    assert rel_error(full, x) < rel_error(greedy, x) < rel_error(pq, x)
    assert full.nbytes == RQTable.estimate_nbytes(4000, 16, n_stages=4, n_centroids=16)


# -- ratio / max_bytes ----------------------------------------------------------------------------

def _reference_choice(n, dim, budget, rotation=False):
    """Every (M, K): the most code bits a row that fits, ties to more centroids."""
    fits = [(m * np.log2(k), k, m) for m in range(1, dim + 1) if dim % m == 0
            for k in (2, 4, 8, 16, 32, 64, 128, 256)
            if n * m + k * dim * 4 + (dim * dim * 4 if rotation else 0) <= budget]
    _, k, m = max(fits)
    return {"n_subvectors": m, "n_centroids": k}


@pytest.mark.parametrize("ratio", [4, 8, 16, 32, 64])
def test_pq_ratio_hits_the_budget_with_the_most_code_bits(ratio):
    x = correlated(3000, 24)
    t = compress(x, "pq", ratio=ratio, n_iter=2, rotation=False)
    budget = x.nbytes // ratio
    assert t.nbytes <= budget and t.rotation is None
    assert {"n_subvectors": t.n_subvectors, "n_centroids": t.n_centroids} == \
        _reference_choice(3000, 24, budget)
    if ratio <= 32:  # the 24 x 24 rotation alone takes 2,304 bytes
        assert pq_settings_for_bytes(3000, 24, budget, rotation=True) == \
            _reference_choice(3000, 24, budget, rotation=True)


@pytest.mark.parametrize("ratio", [8, 32, 64, 100])
def test_pq_ratio_takes_opq_when_its_rotation_leaves_most_code_bits(ratio):
    n, dim = 42843, 100  # the word vectors of bench/pq, by arithmetic only
    from compactemb.compress import _pq_kwargs

    budget = n * dim * 4 // ratio
    plain, rotated = _reference_choice(n, dim, budget), _reference_choice(n, dim, budget, True)
    bits = {k: v["n_subvectors"] * np.log2(v["n_centroids"]) for k, v in
            (("plain", plain), ("rotated", rotated))}
    want = ({**rotated, "rotation": True}
            if bits["rotated"] >= 0.75 * bits["plain"] and bits["plain"] <= dim
            else {**plain, "rotation": False})
    got = _pq_kwargs({"ratio": ratio}, dim, n)
    assert {k: got[k] for k in want} == want
    # 8x: 2 code bits a dimension, plain PQ; 64x: 4 sub-vectors instead of 5 (80%), OPQ
    assert got["rotation"] == (ratio != 8)
    tiny = _pq_kwargs({"ratio": 32}, 16, 1200)  # the 16 x 16 rotation would leave 1 bit of 4
    assert tiny["rotation"] is False and tiny["n_centroids"] == 16


def test_pq_max_bytes_sizes_and_keyed_vectors_and_cli(tmp_path, capsys):
    x = correlated(1200, 16)
    t = compress(x, "pq", max_bytes="20kB", n_iter=2)
    assert t.nbytes <= 20_000 and t.meta["compression"]["options"]["max_bytes"] == "20kB"
    kv = KeyedVectors(Vocab([f"w{i}" for i in range(1200)]), DenseTable(x))
    small = compress(kv, "pq", ratio="32x", rotation=True, n_iter=2)
    assert small.table.nbytes <= x.nbytes / 32 and small.table.rotation is not None
    src, out = tmp_path / "v.cemb", tmp_path / "o.cemb"
    kv.save(src)
    assert main(["compress", str(src), "-o", str(out), "--method", "pq", "--ratio", "32x",
                 "--n-iter", "2", "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["ratio"] >= 32 and rep["table_bytes_after"] <= x.nbytes / 32
    assert main(["compress", str(src), "-o", str(out), "--method", "pq", "--max-bytes",
                 "5000", "--n-iter", "2", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["table_bytes_after"] <= 5000
    assert main(["compress", str(src), "-o", str(out), "--method", "pq", "--ratio", "8",
                 "--no-rotation", "--n-iter", "2", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["options"]["rotation"] is False
    assert KeyedVectors.load(out).table.rotation is None


@pytest.mark.parametrize("options, match", [
    ({"ratio": 8, "n_subvectors": 4}, "chooses n_subvectors"),
    ({"ratio": 8, "max_bytes": 100}, "give one"),
    ({"ratio": "lots"}, "ratio' must be a number"),
    ({"ratio": 0.5}, "at least 1x"),
    ({"max_bytes": 50}, "no pq table of 1,200 x 16 fits 50 bytes"),
    ({"max_bytes": "5 parsecs"}, "size '5 parsecs'"),
])
def test_bad_pq_size_options_give_clear_errors(options, match):
    with pytest.raises(InputError, match=match):
        compress(correlated(1200, 16), "pq", **options)


def test_size_options_refused_where_they_do_not_apply(tmp_path, capsys):
    x = correlated(1200, 16)
    with pytest.raises(InputError, match="use shrink"):
        compress(x, "pruned+pq", ratio=8)
    with pytest.raises(InputError, match="do not apply to method 'int8'"):
        compress(x, "int8", ratio=8)
    with pytest.raises(InputError, match="n_stages"):
        RQTable.from_dense(x, n_stages=0)
    with pytest.raises(InputError, match="beam"):
        RQTable.from_dense(x, beam=0)
    with pytest.raises(InputError, match="n_centroids"):
        RQTable.from_dense(x, n_centroids=300)
    with pytest.raises(InputError, match="must divide"):
        PQ4Table.from_dense(x, n_subvectors=5)
    with pytest.raises(InputError, match="ceil"):
        PQ4Table(np.zeros((3, 16, 2), np.float32), np.zeros((4, 3), np.uint8))
    src = tmp_path / "t.cemb"
    DenseTable(x).save(src)
    assert main(["compress", str(src), "-o", str(tmp_path / "o.cemb"), "--method", "int4",
                 "--ratio", "8"]) != 0
    assert "ratio" in capsys.readouterr().err


# -- 4-bit fast scan ------------------------------------------------------------------------------

def test_nibble_packing_round_trips():
    codes = np.random.default_rng(0).integers(0, 16, (50, 7)).astype(np.uint8)
    packed = pack_nibbles(codes)
    assert packed.shape == (50, 4) and not (packed[:, -1] >> 4).any()
    assert packed[3, 1] == codes[3, 2] | (codes[3, 3] << 4)
    np.testing.assert_array_equal(unpack_nibbles(packed, 7), codes)


@pytest.mark.parametrize("n_sub, options", [(4, {}), (5, {"rotation": True, "rotation_iter": 2,
                                                          "normalize": True})])
def test_fast_scan_adc_equals_exact_distances(n_sub, options):
    x = correlated(2111, 20)
    t = PQ4Table.from_dense(x, n_subvectors=n_sub, n_iter=4, **options)
    assert t.nbytes == PQ4Table.estimate_nbytes(2111, 20, n_subvectors=n_sub, **options)
    w = np.asarray(t).astype(np.float64)
    q = np.random.default_rng(5).normal(size=(6, 20)).astype(np.float32)
    scorer = code_scorer(t)
    assert isinstance(scorer, PQ4Scorer)
    state = scorer.prepare(q)
    exact = q.astype(np.float64) @ w.T
    qidx = np.arange(6, dtype=np.int64)
    for rows in (np.arange(64, 2111), np.random.default_rng(1).permutation(2111)[:700]):
        for native in (True, False):
            with use_native(native):
                got = scorer.scores(state, qidx, rows.astype(np.int64))
            np.testing.assert_allclose(got, exact[:, rows], atol=1e-4, rtol=1e-5)
    # the same codes at one byte each in a PQ table score the same (8-bit ADC)
    pq = PQTable(t.codebooks, t.unpacked_codes(), t.rotation, t.norms)
    np.testing.assert_allclose(np.asarray(pq), np.asarray(t), atol=1e-6)


@pytest.mark.parametrize("kind", ["pq4", "rq"])
@pytest.mark.parametrize("metric", ["cosine", "dot"])
def test_pq4_and_rq_search_equals_brute_force(kind, metric):
    x = correlated(1500, 15)
    x[7] = 0
    t = PQ4Table.from_dense(x, n_subvectors=5, n_iter=4) if kind == "pq4" else \
        RQTable.from_dense(x, n_stages=3, n_centroids=16, n_iter=4, beam=4)
    q = np.random.default_rng(1).normal(size=(9, 15)).astype(np.float32)
    exclude = [[0, 1], [], [5], [], [], [1499], [3], [], [2, 4, 6]]
    res = search(t, q, k=12, metric=metric, exclude=exclude, block_rows=416, query_batch=4)
    assert_same_results(res, *brute(np.asarray(t), q, 12, metric, exclude))
    ivf = search(t, q, k=12, metric=metric, exclude=exclude, approximate=True, nprobe=1000)
    assert_same_results(ivf, *brute(np.asarray(t), q, 12, metric, exclude))


# -- search on 1-/2-bit tables --------------------------------------------------------------------

@pytest.mark.parametrize("cls, options", [(Bit1Table, {}), (Bit2Table, {"rotation": True}),
                                          (Bit2Table, {"scale": "both"})])
@pytest.mark.parametrize("metric", ["cosine", "dot"])
def test_lowbit_search_scores_codes_and_equals_brute_force(cls, options, metric, monkeypatch):
    x = correlated(1300, 24)
    t = cls.from_dense(x, **options)
    w = np.asarray(t)
    t.row_norms()

    def refuse(*args, **kwargs):
        raise AssertionError("rows decoded")

    monkeypatch.setattr(t, "_decode_flat", refuse)
    monkeypatch.setattr(t, "rows", refuse)
    q = np.random.default_rng(2).normal(size=(5, 24)).astype(np.float32)
    exclude = [[0], [], [1299, 3], [], [10]]
    res = search(t, q, k=8, metric=metric, exclude=exclude, block_rows=300)
    assert_same_results(res, *brute(w, q, 8, metric, exclude))


def test_neighbors_on_a_lowbit_table_go_through_its_scorer(monkeypatch):
    import compactemb.tables._lowbit as lowbit

    x = correlated(400, 16)
    kv = KeyedVectors(Vocab([f"w{i}" for i in range(400)]), Bit2Table.from_dense(x))
    calls = []
    real = lowbit.lowbit_search

    def spy(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(lowbit, "lowbit_search", spy)
    got = kv.neighbors(["w3", "w9"], k=5)
    assert calls
    w = np.asarray(kv.table)
    ids, scores = brute(w, w[[3, 9]], 5, "cosine", [[3], [9]])
    for row, want_ids, want_scores in zip(got, ids, scores):
        assert [s for _, s in row] == pytest.approx(list(want_scores), abs=1e-4)
        assert row[0][0] == f"w{want_ids[0]}"


# -- shrink knows the new kinds' bytes ------------------------------------------------------------

@pytest.mark.parametrize("method, options", [
    ("pq", {"n_subvectors": 4, "rotation": True}), ("pq", {"n_subvectors": 4, "n_centroids": 32}),
    ("pq4", {"n_subvectors": 8}), ("pq4", {"n_subvectors": 2, "normalize": True}),
    ("rq", {"n_stages": 2, "n_centroids": 32}), ("rq", {"n_stages": 1, "normalize": True})])
def test_shrink_estimates_equal_the_measured_bytes_of_the_new_kinds(method, options):
    from compactemb.shrink import _build, estimate_bytes, table_bytes

    x = correlated(1000, 16)
    kv = KeyedVectors(Vocab([f"w{i}" for i in range(1000)], list(range(1000, 0, -1))),
                      DenseTable(x))
    opts = {**options, "n_iter": 2}
    assert estimate_bytes(kv, method, opts) == table_bytes(_build(kv, method, opts))
