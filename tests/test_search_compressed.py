"""Search on compressed codes (PQ by ADC, int8/int4 on the bytes) and the IVF index, against
brute-force search over the decoded rows."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from compactemb import KeyedVectors, Vocab
from compactemb._native import use_native
from compactemb.evaluation import evaluate_analogies
from compactemb.exceptions import InputError
from compactemb.recommend import FactorModel
from compactemb.search import search
from compactemb.tables import DenseTable, Int4Table, Int8Table, PQTable, _adc
from compactemb.tables._adc import IVFIndex, code_scorer, head, ivf_index


def clustered(n, dim, seed=0, centres=40):
    rng = np.random.default_rng(seed)
    c = rng.normal(size=(centres, dim))
    return (c[rng.integers(0, centres, n)] + 0.4 * rng.normal(size=(n, dim))).astype(np.float32)


def make(kind, x):
    if kind == "pq":
        return PQTable.from_dense(x, n_subvectors=5, n_centroids=32, n_iter=4)
    if kind == "opq-normalize":
        return PQTable.from_dense(x, n_subvectors=5, n_centroids=32, n_iter=4, rotation=True,
                                  rotation_iter=2, normalize=True)
    return {"int8": Int8Table, "int4": Int4Table}[kind].from_dense(x)


KINDS = ["pq", "opq-normalize", "int8", "int4"]


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
            tied = (np.abs(s - s[j]) <= tol).sum() > 1 or j == ids.shape[1] - 1
            if not tied:
                assert res.ids[r, j] == ids[r, j], (r, j)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("metric", ["cosine", "dot"])
def test_code_search_equals_brute_force_over_decoded_rows(kind, metric):
    x = clustered(1500, 15)  # odd dim: int4's last byte holds one value
    x[7] = 0  # an all-zero row: cosine never returns it
    t = make(kind, x)
    assert code_scorer(t) is not None
    w = np.asarray(t)
    q = np.random.default_rng(1).normal(size=(9, 15)).astype(np.float32)
    exclude = [[0, 1], [], [5], [], [], [1499], [3], [], [2, 4, 6]]
    res = search(t, q, k=12, metric=metric, exclude=exclude, block_rows=400, query_batch=4)
    ids, scores = brute(w, q, 12, metric, exclude)
    assert_same_results(res, ids, scores)
    if metric == "cosine":
        assert 7 not in res.ids


@pytest.mark.parametrize("kind", KINDS)
def test_code_search_never_decodes_the_table(kind, monkeypatch):
    t = make(kind, clustered(800, 10))
    w = np.asarray(t)
    t.row_norms()  # cached once (n_rows floats); the search itself must not decode

    def refuse(*args, **kwargs):
        raise AssertionError("rows decoded")

    monkeypatch.setattr(t, "_lookup_flat", refuse)
    monkeypatch.setattr(t, "rows", refuse)
    q = w[:3] + 0.05
    ids, scores = brute(w, q, 5, "cosine")
    assert_same_results(search(t, q, k=5), ids, scores)


@pytest.mark.parametrize("kind", ["pq", "int4"])
def test_twins_give_the_kernels_results(kind):
    t = make(kind, clustered(600, 10))
    q = np.asarray(t)[:4]
    want = search(t, q, k=6)
    with use_native(False):
        got = search(t, q, k=6)
    np.testing.assert_array_equal(got.ids, want.ids)
    np.testing.assert_allclose(got.scores, want.scores, atol=1e-5)


@pytest.mark.parametrize("kind", KINDS)
def test_neighbors_analogies_and_eval_on_codes(kind):
    x = clustered(600, 10, seed=2)
    t = make(kind, x)
    words = [f"w{i}" for i in range(600)]
    kv = KeyedVectors(Vocab(words), t)
    w = np.asarray(t).astype(np.float64)
    wn = w / np.linalg.norm(w, axis=1, keepdims=True)
    got = kv.neighbors(["w3", "w10"], k=5)
    for row, i in zip(got, (3, 10)):
        ids, scores = brute(w, w[i:i + 1], 5, "cosine", [[i]])
        assert [key for key, _ in row][:4] == [words[j] for j in ids[0][:4]]
        np.testing.assert_allclose([s for _, s in row], scores[0], atol=1e-4)
    rng = np.random.default_rng(3)
    quads = [tuple(int(i) for i in rng.choice(600, 4, replace=False)) for _ in range(30)]
    for a, b, c, _ in quads:
        v = wn[b] - wn[a] + wn[c]
        add = wn @ v / np.linalg.norm(v)  # the cosine with the query vector
        cos = [(wn @ wn[i] + 1) / 2 for i in (a, b, c)]
        mul = cos[1] * cos[2] / (cos[0] + 1e-3)
        for method, ref in (("add", add), ("mul", mul)):
            ref[[a, b, c]] = -np.inf
            (key, score), = kv.analogy(words[a], words[b], words[c], method=method)
            # the reference's best, or a row tied with it (rows with the same codes)
            assert ref[words.index(key)] >= ref.max() - 1e-4, method
            assert score == pytest.approx(ref.max(), abs=1e-4)
    # evaluation over the first 500 rows (restrict): the head stays compressed; half the
    # questions are answerable by construction (d = the reference's answer over the head)
    wh = wn[:500]

    def head_scores(a, b, c):
        s = wh @ (wh[b] - wh[a] + wh[c])
        s[[a, b, c]] = -np.inf
        return s

    def head_answer(a, b, c):
        return int(np.argmax(head_scores(a, b, c)))

    def untied(a, b, c):  # rows with the same codes tie: any of them may be the answer
        top = np.sort(head_scores(a, b, c))[-2:]
        return top[1] - top[0] > 1e-4

    small = [(a, b, c, d) for a, b, c, d in quads
             if max(a, b, c, d) < 500 and untied(a, b, c)]
    qs = [("s", tuple(words[i] for i in quad)) for quad in small]
    qs += [("s", tuple(words[i] for i in (a, b, c, head_answer(a, b, c))))
           for a, b, c, _ in small]
    ref = sum(int(head_answer(*(words.index(v) for v in quad[:3])) == words.index(quad[3]))
              for _, quad in qs)
    res = evaluate_analogies(kv, qs, restrict=500)
    assert res.answered == len(qs) and res.correct == ref >= len(small) >= 5
    assert type(head(t, 500)) is type(t) and head(t, 500).n_rows == 500
    np.testing.assert_allclose(np.asarray(head(t, 500)), np.asarray(t)[:500], atol=1e-5)


@pytest.mark.parametrize("kind", ["pq", "int8"])
def test_recommend_scores_items_on_codes(kind):
    rng = np.random.default_rng(4)
    users = rng.normal(size=(20, 10)).astype(np.float32)
    items = make(kind, clustered(700, 10, seed=5))
    seen = sp.random(20, 700, density=0.02, random_state=1, format="csr")
    model = FactorModel(Vocab(list(range(20))), Vocab(list(range(700))), DenseTable(users),
                        items, seen=seen)
    res = model.recommend_rows(np.arange(20), k=8, n_threads=1, block_rows=256)
    w = np.asarray(items)
    exclude = [seen[u].indices for u in range(20)]
    ids, scores = brute(w, users, 8, "dot", exclude)
    assert_same_results(res, ids, scores)


def test_ivf_recall_nprobe_and_exclusions():
    x = clustered(6000, 16, seed=6, centres=80)
    t = make("pq", np.ascontiguousarray(x[:, :15]))
    w = np.asarray(t)
    q = w[:50] + 0.05 * np.random.default_rng(7).normal(size=(50, 15)).astype(np.float32)
    exclude = [[i] for i in range(50)]
    ids, scores = brute(w, q, 10, "cosine", exclude)
    index = ivf_index(t)
    assert index is ivf_index(t)  # built once, cached on the table
    assert index.n_lists == round(np.sqrt(6000))
    assert sorted(index.list_rows.tolist()) == list(range(6000))
    res = search(t, q, k=10, approximate=True, exclude=exclude)
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(res.ids, ids)])
    assert recall >= 0.95
    for r, ex in enumerate(exclude):
        assert not set(ex) & set(res.ids[r])
    # the found rows carry their exact scores
    np.testing.assert_allclose(res.scores, np.take_along_axis(
        brute(w, q, 6000, "cosine")[1], np.argsort(brute(w, q, 6000, "cosine")[0], 1), 1)
        [np.arange(50)[:, None], res.ids], atol=1e-4)
    # every list probed: the exact results
    full = search(t, q, k=10, approximate=True, nprobe=index.n_lists, exclude=exclude)
    assert_same_results(full, ids, scores)
    # fewer lists probed: fewer rows scored, lower recall
    one = search(t, q, k=10, approximate=True, nprobe=1, exclude=exclude)
    assert np.mean([len(set(a) & set(b)) / 10 for a, b in zip(one.ids, ids)]) < recall
    with pytest.raises(InputError, match="nprobe"):
        search(t, q, approximate=True, nprobe=0)


def test_ivf_is_the_default_above_the_size_threshold(monkeypatch):
    t = make("int8", clustered(3000, 12, seed=8))
    q = np.asarray(t)[:5]
    monkeypatch.setattr(_adc, "IVF_MIN_ROWS", 2000)
    calls = []
    real = IVFIndex.search

    def spy(self, *args, **kwargs):
        calls.append(kwargs.get("nprobe"))
        return real(self, *args, **kwargs)

    monkeypatch.setattr(IVFIndex, "search", spy)
    search(t, q, k=3, nprobe=5)
    assert calls == [5]
    search(t, q, k=3, approximate=False)  # exact when asked
    search(DenseTable(np.asarray(t)), q, k=3)  # a dense table stays exact
    assert calls == [5]
    monkeypatch.setattr(_adc, "IVF_MIN_ROWS", 5000)
    search(t, q, k=3)
    assert calls == [5]


def test_ivf_over_a_dense_table_when_asked():
    x = clustered(2000, 8, seed=9)
    t = DenseTable(x)
    res = search(t, x[:10], k=1, approximate=True)
    assert res.ids[:, 0].tolist() == list(range(10))


def test_cli_neighbors_exact_and_approximate(capsys, tmp_path):
    import json

    from compactemb.cli import main

    x = clustered(3000, 10, seed=10)
    path = tmp_path / "pq.cemb"
    words = [f"w{i}" for i in range(3000)]
    KeyedVectors(Vocab(words), make("pq", x)).save(path)
    w = np.asarray(make("pq", x))  # the same seed: the same codes
    answers = {}
    for flags in (["--exact"], ["--approximate", "--nprobe", "55"], ["--approximate"]):
        capsys.readouterr()
        assert main(["neighbors", str(path), "w3", "-k", "5", "--json", *flags]) == 0
        answers[flags[-1]] = json.loads(capsys.readouterr().out)["w3"]
    ids, scores = brute(w, w[3:4], 5, "cosine", [[3]])
    assert [a["score"] for a in answers["--exact"]] == pytest.approx(scores[0], abs=1e-4)
    # all 55 lists probed: the exact answer
    assert [a["score"] for a in answers["55"]] == pytest.approx(scores[0], abs=1e-4)
    assert main(["neighbors", str(path), "w3", "--nprobe", "0"]) == 1
    assert "--nprobe must be > 0" in capsys.readouterr().err
