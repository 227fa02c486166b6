"""FactorModel use (recommend, similar, cold start, memory, save/load), ranking metrics against
plain-Python definitions and implicit's evaluation, and the command line."""

from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.sparse as sp
from conftest import shared_file

from compactemb.cli import main
from compactemb.evaluation import metrics_from_recommendations, ranking_metrics
from compactemb.exceptions import UnknownKeyError
from compactemb.interactions import Interactions, train_test_split
from compactemb.memory import memory_report
from compactemb.recommend import FactorModel
from compactemb.storage import load
from compactemb.tables import DenseTable
from compactemb.vocab import Vocab


@pytest.fixture
def model_and_data():
    rng = np.random.default_rng(0)
    n_users, n_items, dim = 70, 50, 6
    users = rng.integers(0, n_users, 900)
    items = rng.integers(0, n_items, 900)
    inter = Interactions.from_arrays(users, items)
    uf = rng.standard_normal((len(inter.user_vocab), dim)).astype(np.float32)
    itf = rng.standard_normal((len(inter.item_vocab), dim)).astype(np.float32)
    model = FactorModel(inter.user_vocab, inter.item_vocab, DenseTable(uf), DenseTable(itf),
                        seen=inter.matrix)
    return model, inter, uf, itf


def _brute_topk(uf, itf, seen, rows, k):
    scores = uf[rows] @ itf.T
    out = []
    for r, s in zip(rows, scores):
        s = s.astype(np.float64)
        if seen is not None:
            s[seen[r].indices] = -np.inf
        order = [i for i in np.argsort(-s, kind="stable") if np.isfinite(s[i])]
        out.append(order[:k])
    return out


@pytest.mark.parametrize("batch, block", [(None, 16384), (7, 9), (1, 1)])
def test_recommend_rows_equals_brute_force(model_and_data, batch, block):
    model, inter, uf, itf = model_and_data
    rows = np.arange(model.n_users)
    res = model.recommend_rows(rows, k=8, batch=batch, block_rows=block)
    expected = _brute_topk(uf, itf, inter.matrix, rows, 8)
    for got, exp in zip(res.ids, expected):
        assert got[:len(exp)].tolist() == exp
    free = model.recommend_rows(rows, k=8, exclude_seen=False, batch=batch, block_rows=block)
    for got, exp in zip(free.ids, _brute_topk(uf, itf, None, rows, 8)):
        assert got.tolist() == exp
    chunks = list(model.iter_recommendations(k=8, batch=13))
    np.testing.assert_array_equal(np.concatenate([r.ids for _, r in chunks]), res.ids)


def test_recommend_pads_when_user_has_seen_almost_everything():
    inter = Interactions.from_arrays([1, 1, 1, 2], [10, 11, 12, 10])
    model = FactorModel(inter.user_vocab, inter.item_vocab, DenseTable(np.ones((2, 2))),
                        DenseTable(np.eye(3, 2)), seen=inter.matrix)
    res = model.recommend_rows([inter.user_vocab[1]], k=2)
    assert res.ids[0].tolist() == [-1, -1] and np.isneginf(res.scores[0]).all()
    assert model.recommend([1], k=2) == [[]]


def test_raw_ids_unknown_users_and_cold_start(model_and_data):
    model, inter, uf, itf = model_and_data
    key = inter.user_vocab.keys[5]
    recs = model.recommend([key], k=3)[0]
    exp = _brute_topk(uf, itf, inter.matrix, [5], 3)[0]
    assert [i for i, _ in recs] == [inter.item_vocab.keys[j] for j in exp]
    assert recs[0][1] == pytest.approx(float(uf[5] @ itf[exp[0]]), rel=1e-5)
    with pytest.raises(UnknownKeyError, match=r"unknown user: 12345 .*cold_start='popular'"):
        model.recommend([12345])
    got = model.recommend([12345, key], k=3, cold_start="popular")
    pop = np.bincount(inter.matrix.indices, minlength=model.n_items)
    top = np.argsort(-pop, kind="stable")[:3]
    assert got[0] == [(inter.item_vocab.keys[i], float(pop[i])) for i in top]
    assert got[1] == recs
    assert model.recommend(key, k=3) == recs  # one user: one flat list
    assert model.recommend(12345, k=3, cold_start="popular") == got[0]
    assert model.similar_items(inter.item_vocab.keys[0], k=2) == \
        model.similar_items([inter.item_vocab.keys[0]], k=2)[0]
    with pytest.raises(UnknownKeyError, match="unknown items: 777, 778"):
        model.similar_items([777, 778])


def test_similar_items_and_users_are_cosine_neighbours(model_and_data):
    model, inter, uf, itf = model_and_data
    for table, vocab, fn in ((itf, inter.item_vocab, model.similar_items),
                             (uf, inter.user_vocab, model.similar_users)):
        normed = table / np.linalg.norm(table, axis=1, keepdims=True)
        sims = normed @ normed[2]
        sims[2] = -np.inf
        exp = np.argsort(-sims)[:4]
        got = fn([vocab.keys[2]], k=4)[0]
        assert [k for k, _ in got] == [vocab.keys[i] for i in exp]
        np.testing.assert_allclose([s for _, s in got], sims[exp], rtol=1e-5)


def test_memory_report_has_the_seed_comparison(model_and_data):
    model, inter, uf, itf = model_and_data
    rep = memory_report(model).to_dict()
    c = rep["onehot_comparison"]
    assert c["onehot_width_per_interaction"] == model.n_users + model.n_items
    assert c["embedding_values_per_interaction"] == 2 * 6
    assert c["user_table_bytes_measured"] == uf.nbytes == rep["parts"]["user_table.weights"]
    assert c["item_table_bytes_measured"] == itf.nbytes
    assert c["interactions"] == inter.nnz


def test_save_load_keeps_recommendations(tmp_path, model_and_data):
    model, *_ = model_and_data
    path = tmp_path / "m.cemb"
    model.save(path)
    back = load(path, mmap=True)
    rows = np.arange(model.n_users)
    np.testing.assert_array_equal(back.recommend_rows(rows, k=5).ids,
                                  model.recommend_rows(rows, k=5).ids)


def _metrics_by_definition(rec, test, n_items, k):
    """Each metric spelled out per user, as implicit's evaluation loop computes it."""
    rel = pr_div = 0
    ndcg = ap_sum = auc_sum = recall = 0.0
    users = 0
    for u in range(test.shape[0]):
        likes = set(test[u].indices.tolist())
        if not likes:
            continue
        users += 1
        pr_div += min(k, len(likes))
        hit = miss = 0
        ap = auc = dcg = 0.0
        idcg = sum(1 / np.log2(i + 2) for i in range(min(k, len(likes))))
        for i in range(k):
            if rec[u][i] in likes:
                rel += 1
                hit += 1
                ap += hit / (i + 1)
                dcg += 1 / np.log2(i + 2)
            else:
                miss += 1
                auc += hit
        n_neg = n_items - len(likes)
        auc += (hit + len(likes)) / 2.0 * (n_neg - miss)
        auc_sum += auc / (len(likes) * n_neg)
        ap_sum += ap / min(k, len(likes))
        ndcg += dcg / idcg
        recall += hit / len(likes)
    return {"precision": rel / pr_div, "recall": recall / users, "ndcg": ndcg / users,
            "map": ap_sum / users, "auc": auc_sum / users}


def test_metrics_follow_the_definitions():
    rng = np.random.default_rng(1)
    n_users, n_items, k = 40, 30, 5
    rec = np.array([rng.permutation(n_items)[:k] for _ in range(n_users)])
    rec[3, 2:] = -1  # fewer than k recommendations
    test = sp.random(n_users, n_items, density=0.15, random_state=2, format="csr")
    exp = _metrics_by_definition(rec, test, n_items, k)
    got = metrics_from_recommendations(rec, test, n_items, k)
    n = got["users"]
    assert got["relevant"] / got["pr_div"] == pytest.approx(exp["precision"])
    for name in ("recall", "ndcg", "map", "auc"):
        assert got[name] / n == pytest.approx(exp[name]), name


def test_metrics_equal_implicits_on_the_same_factors_and_split():
    evaluation = pytest.importorskip("implicit.evaluation")
    implicit_als = pytest.importorskip("implicit.cpu.als")
    from compactemb.interactions import read_interactions

    inter = read_interactions(shared_file("movielens-100k", "u.data"))
    train, test = train_test_split(inter, 0.2, random_state=0)
    rng = np.random.default_rng(0)
    uf = rng.standard_normal((inter.shape[0], 16), dtype=np.float32)
    itf = rng.standard_normal((inter.shape[1], 16), dtype=np.float32)
    threadpoolctl = pytest.importorskip("threadpoolctl")
    with threadpoolctl.threadpool_limits(1, "blas"):  # implicit warns about BLAS threads
        peer = implicit_als.AlternatingLeastSquares(factors=16, num_threads=1)
        peer.user_factors, peer.item_factors = uf, itf
        theirs = evaluation.ranking_metrics_at_k(peer, train.matrix, test.matrix, K=10,
                                                 show_progress=False)
    model = FactorModel(inter.user_vocab, inter.item_vocab, DenseTable(uf), DenseTable(itf),
                        seen=train.matrix)
    ours = ranking_metrics(model, test, k=10)
    assert ours["users"] == inter.shape[0]
    for name, key in (("precision", "precision@10"), ("ndcg", "ndcg@10"), ("map", "map@10"),
                      ("auc", "auc")):
        assert ours[key] == pytest.approx(theirs[name], rel=1e-9), name
    ours2 = ranking_metrics((uf, itf), test.matrix, train=train.matrix, k=10)
    assert ours2["ndcg@10"] == ours["ndcg@10"]


# -- command line -------------------------------------------------------------------------------

def _planted_file(tmp_path):
    rng = np.random.default_rng(0)
    lines = ["user,item,rating,timestamp"]
    t = 0
    for u in range(60):
        for i in rng.choice(20, size=10, replace=False):
            t += 1
            lines.append(f"user{u},item{(u % 2) * 20 + i},{1 + i % 5},{t}")
    p = tmp_path / "ratings.csv"
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return p


@pytest.mark.parametrize("method", ["als", "bpr"])
def test_cli_split_train_eval_recommend(tmp_path, capsys, method):
    data = _planted_file(tmp_path)
    tr, te, out = tmp_path / "train.tsv", tmp_path / "test.tsv", tmp_path / "m.cemb"
    assert main(["split", str(data), "--method", "temporal", "--train-out", str(tr),
                 "--test-out", str(te), "--json", "-q"]) == 0
    split = json.loads(capsys.readouterr().out)
    assert split["train_interactions"] + split["test_interactions"] == 600
    extra = ["--alpha", "2", "--weighting", "log"] if method == "als" else \
        ["--learning-rate", "0.05", "--epochs", "80", "--negatives", "uniform"]
    assert main(["train", "items", str(tr), "--method", method, "--dim", "4", "--threads", "1",
                 "--regularization", "0.05", "-o", str(out), "-q", "--json", *extra]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["users"] == 60 and info["method"] == method
    assert main(["eval", "items", str(out), "--test", str(te), "--k", "5", "--json", "-q"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    for key in ("precision@5", "recall@5", "ndcg@5", "map@5", "auc"):
        assert 0 <= metrics[key] <= 1, key
    assert metrics["precision@5"] > 0.3  # within-group items only: chance is 0.5 * 10/40
    assert main(["recommend", str(out), "user3", "-k", "4", "--json"]) == 0
    recs = json.loads(capsys.readouterr().out)["user3"]
    assert len(recs) == 4 and all(int(r["item"][4:]) >= 20 for r in recs)
    assert main(["recommend", str(out), "nobody"]) == 1
    assert "unknown user: 'nobody'" in capsys.readouterr().err
    assert main(["recommend", str(out), "nobody", "--cold-start", "popular", "--json"]) == 0


def test_cli_reports_malformed_input(tmp_path, capsys):
    bad = tmp_path / "bad.tsv"
    bad.write_text("u1\ti1\t1\nu2\ti2\tlots\n", encoding="utf-8")
    assert main(["train", "items", str(bad), "--method", "als", "-o",
                 str(tmp_path / "x.cemb")]) == 1
    err = capsys.readouterr().err
    assert f"{bad}: line 2: weight 'lots' is not a number" in err
    assert not (tmp_path / "x.cemb").exists()
    good = tmp_path / "good.tsv"
    good.write_text("a\tb\t1\nc\td\t1\n", encoding="utf-8")
    assert main(["train", "items", str(good), "--method", "als", "--user-col", "userId",
                 "-o", str(tmp_path / "x.cemb")]) == 1
    assert "has no header" in capsys.readouterr().err
    vocab_only = tmp_path / "v.cemb"
    Vocab(["a"]).save(vocab_only)
    assert main(["recommend", str(vocab_only), "a"]) == 1
    assert "not a recommender" in capsys.readouterr().err
