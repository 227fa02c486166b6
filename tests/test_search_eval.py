"""Exact search, analogies and similarity against brute-force references."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import spearmanr

from compactemb import DenseTable, KeyedVectors, Vocab
from compactemb.evaluation import (
    evaluate_analogies,
    evaluate_similarity,
    read_analogies,
    read_similarity,
)
from compactemb.search import search


def brute_cosine_topk(w, q, k, exclude=None):
    wn = w / np.linalg.norm(w, axis=1, keepdims=True)
    qn = q / np.linalg.norm(q, axis=1, keepdims=True)
    s = qn @ wn.T
    if exclude is not None:
        for r, ex in enumerate(exclude):
            s[r, ex] = -np.inf
    return np.argsort(-s, axis=1, kind="stable")[:, :k], np.sort(s, axis=1)[:, ::-1][:, :k]


@pytest.fixture
def kv():
    rng = np.random.default_rng(3)
    words = [f"w{i}" for i in range(300)]
    return KeyedVectors(Vocab(words), DenseTable(rng.standard_normal((300, 16)).astype("f4")))


def test_search_matches_brute_force_across_blocks(kv):
    rng = np.random.default_rng(4)
    q = rng.standard_normal((7, 16)).astype(np.float32)
    exclude = [[0, 1], [], [5], [], [], [299], [3]]
    res = search(kv.table, q, k=5, exclude=exclude, block_rows=64, query_batch=3)
    ids, scores = brute_cosine_topk(kv.table.weights, q, 5, exclude)
    np.testing.assert_array_equal(res.ids, ids)
    np.testing.assert_allclose(res.scores, scores, rtol=1e-5)
    dot = search(kv.table, q, k=3, metric="dot")
    np.testing.assert_array_equal(dot.ids, np.argsort(-(q @ kv.table.weights.T), axis=1)[:, :3])


def test_search_caps_k_at_rows_and_pads_exclusions():
    t = DenseTable(np.eye(3, dtype=np.float32))
    res = search(t, np.ones((1, 3), np.float32), k=5, exclude=[[0]])
    assert res.ids.shape == (1, 3)  # k is capped at the number of candidates
    assert sorted(res.ids[0].tolist()[:2]) == [1, 2] and res.ids[0, 2] == -1
    assert np.isneginf(res.scores[0, 2])
    huge = search(t, np.ones((2, 3), np.float32), k=10**12)  # no (2, 10**12) allocation
    assert huge.ids.shape == (2, 3)


def test_analogies_match_reference(kv, tmp_path):
    words = kv.vocab.keys
    rng = np.random.default_rng(5)
    qs = [("sec", tuple(words[i] for i in rng.choice(300, 4, replace=False))) for _ in range(40)]
    # make some questions exactly solvable: d = b - a + c
    w = kv.table.weights.copy()
    for j in range(10):
        a, b, c, d = (words.index(x) for x in qs[j][1])
        w[d] = w[b] - w[a] + w[c]
    kv2 = KeyedVectors(kv.vocab, DenseTable(w))
    qs.append(("sec", ("w0", "w1", "w2", "UNKNOWN")))
    res = evaluate_analogies(kv2, qs)
    wn = w / np.linalg.norm(w, axis=1, keepdims=True)
    correct = 0
    for _, (a, b, c, d) in qs[:-1]:
        ia, ib, ic, id_ = (words.index(x) for x in (a, b, c, d))
        s = wn @ (wn[ib] - wn[ia] + wn[ic])
        s[[ia, ib, ic]] = -np.inf
        correct += int(np.argmax(s) == id_)
    assert res.answered == 40 and res.total == 41
    assert res.coverage == pytest.approx(40 / 41)
    assert res.correct == correct and correct >= 10
    # 3CosMul on the same questions: a brute-force reference
    mul = evaluate_analogies(kv2, qs, method="mul")
    correct_mul = 0
    for _, (a, b, c, d) in qs[:-1]:
        ia, ib, ic, id_ = (words.index(x) for x in (a, b, c, d))
        cos = lambda i: (wn @ wn[i] + 1) / 2  # noqa: E731
        s = cos(ib) * cos(ic) / (cos(ia) + 1e-3)
        s[[ia, ib, ic]] = -np.inf
        correct_mul += int(np.argmax(s) == id_)
    assert mul.correct == correct_mul


def test_similarity_matches_scipy(kv, tmp_path):
    path = tmp_path / "sim.tsv"
    rows = [("w1", "w2", 3.0), ("W3", "w4", 1.0), ("w5", "w9", 7.5), ("w7", "nope", 2.0),
            ("w10", "w11", 0.5)]
    path.write_text("# comment\n" + "".join(f"{a}\t{b}\t{s}\n" for a, b, s in rows))
    res = evaluate_similarity(kv, path)
    w = kv.table.weights
    cos = [w[int(a[1:])] @ w[int(b[1:])] / np.linalg.norm(w[int(a[1:])]) /
           np.linalg.norm(w[int(b[1:])]) for a, b, _ in [rows[0], rows[1], rows[2], rows[4]]]
    assert res.spearman == pytest.approx(spearmanr(cos, [3.0, 1.0, 7.5, 0.5]).statistic)
    assert res.coverage == pytest.approx(4 / 5) and res.pairs_used == 4


def test_readers_reject_malformed(tmp_path):
    from compactemb import InputError

    p = tmp_path / "q.txt"
    p.write_text(": s\na b c\n")
    with pytest.raises(InputError, match="line 2: an analogy needs 4 words"):
        read_analogies(p)
    p.write_text("a b\n")
    with pytest.raises(InputError, match="line 1"):
        read_similarity(p)


def test_keyed_vectors_api(kv):
    assert kv["w3"].shape == (16,)
    assert kv[["w3", "w4"]].shape == (2, 16)
    s = kv.similarity("w1", "w2")
    w = kv.table.weights
    assert s == pytest.approx(w[1] @ w[2] / np.linalg.norm(w[1]) / np.linalg.norm(w[2]),
                              rel=1e-5)
    nb = kv.neighbors(["w1"], k=4)[0]
    assert "w1" not in [k for k, _ in nb] and len(nb) == 4
    ids, _ = brute_cosine_topk(w, w[[1]], 5)
    assert [k for k, _ in nb] == [f"w{i}" for i in ids[0] if i != 1][:4]


def _brute_top_k(scores, k, excluded):
    """Reference: full score matrix, excluded and -inf entries dropped, stable sort."""
    ids = np.full((scores.shape[0], k), -1)
    out = np.full((scores.shape[0], k), -np.inf, np.float32)
    for r, row in enumerate(scores):
        row = row.copy()
        row[list(excluded[r])] = -np.inf
        order = [i for i in np.argsort(-row, kind="stable") if np.isfinite(row[i])][:k]
        ids[r, :len(order)] = order
        out[r, :len(order)] = row[order]
    return ids, out


@pytest.mark.parametrize("k, block_rows, query_batch", [(5, 7, 2), (1, 1000, 1000), (50, 9, 4)])
@pytest.mark.parametrize("exclude_form", ["lists", "padded", "callable", None])
def test_blocked_top_k_matches_brute_force(k, block_rows, query_batch, exclude_form):
    from compactemb.search import blocked_top_k

    rng = np.random.default_rng(11)
    n_queries, n_rows = 9, 40
    full = rng.standard_normal((n_queries, n_rows)).astype(np.float32)
    full[2, 5:] = -np.inf  # a query with fewer than k scorable rows: padded
    excluded = [set(rng.choice(n_rows, size=r % 4, replace=False).tolist())
                for r in range(n_queries)]
    if exclude_form is None:
        excluded = [set() for _ in range(n_queries)]
        exclude = None
    elif exclude_form == "lists":
        exclude = [sorted(e) for e in excluded]
    elif exclude_form == "padded":
        exclude = np.full((n_queries, 3), -1)
        for r, e in enumerate(excluded):
            exclude[r, :len(e)] = sorted(e)
    else:
        def exclude(q0, q1):
            pairs = [(r - q0, c) for r in range(q0, q1) for c in sorted(excluded[r])]
            return (np.array([p[0] for p in pairs], np.int64),
                    np.array([p[1] for p in pairs], np.int64))
    table = DenseTable(np.zeros((n_rows, 2), np.float32))
    seen_blocks = []

    def score(q0, q1, start, rows):
        seen_blocks.append((q0, q1, start, rows.shape[0]))
        return full[q0:q1, start:start + rows.shape[0]].copy()

    res = blocked_top_k(score, n_queries, table, k=k, exclude=exclude, block_rows=block_rows,
                        query_batch=query_batch)
    ids, scores = _brute_top_k(full, k, excluded)
    width = min(k, n_rows)  # k is capped at the number of candidate rows
    np.testing.assert_array_equal(res.ids, ids[:, :width])
    np.testing.assert_array_equal(res.scores, scores[:, :width])
    assert res.ids.dtype == np.int64 and res.scores.dtype == np.float32
    assert max(b[3] for b in seen_blocks) <= block_rows
    assert max(b[1] - b[0] for b in seen_blocks) <= query_batch


def test_result_shapes_single_key_flat_batch_nested(kv):
    one = kv.neighbors("w1", k=3)
    batch = kv.neighbors(["w1", "w2"], k=3)
    assert isinstance(one[0], tuple) and len(one) == 3 and len(batch) == 2
    assert [key for key, _ in one] == [key for key, _ in batch[0]]  # scores: BLAS rounding
    np.testing.assert_allclose([s for _, s in one], [s for _, s in batch[0]], rtol=1e-5)
    assert all(isinstance(r, list) and isinstance(r[0], tuple) for r in batch)
    assert isinstance(kv.most_similar(["w1", "w2"], ["w3"], k=2)[0], tuple)
    assert isinstance(kv.analogy("w1", "w2", "w3", k=2)[0], tuple)


@pytest.mark.parametrize("kind", ["dense", "float16", "int8", "pq"])
def test_asarray_and_vectors_give_the_decoded_float32_matrix(kv, kind):
    from compactemb.tables import Int8Table, PQTable

    w = kv.table.weights
    table = {"dense": lambda: kv.table, "float16": lambda: DenseTable(w, dtype="float16"),
             "int8": lambda: Int8Table.from_dense(w),
             "pq": lambda: PQTable.from_dense(w, n_subvectors=4, n_centroids=16)}[kind]()
    expected = table.lookup(np.arange(table.n_rows))  # row by row, the reference decode
    got = np.asarray(table)
    assert got.dtype == np.float32 and got.shape == (300, 16)
    np.testing.assert_array_equal(got, expected)
    kv2 = KeyedVectors(kv.vocab, table)
    np.testing.assert_array_equal(kv2.vectors, expected)
    np.testing.assert_array_equal(np.asarray(kv2), expected)
    assert (np.asarray(table) is table.arrays().get("weights")) == (kind == "dense")  # no copy
    np.testing.assert_array_equal(np.asarray(table, dtype=np.float64), expected)
