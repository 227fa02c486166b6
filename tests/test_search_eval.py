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


def test_search_pads_when_k_exceeds_rows():
    t = DenseTable(np.eye(3, dtype=np.float32))
    res = search(t, np.ones((1, 3), np.float32), k=5, exclude=[[0]])
    assert res.ids[0].tolist()[2:] == [-1, -1, -1]
    assert np.isneginf(res.scores[0, 2:]).all()


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
