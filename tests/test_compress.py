"""compress(), the frontier and the compress/frontier commands."""

from __future__ import annotations

import hashlib
import json
import os

import numpy as np
import pytest

from compactemb import InputError, load
from compactemb.cli import main
from compactemb.compress import compress, default_subvectors, parse_method
from compactemb.frontier import frontier, pareto_front, word_evaluator
from compactemb.keyed import KeyedVectors
from compactemb.recommend import FactorModel
from compactemb.tables import DenseTable, Int8Table, PQTable, PrunedTable
from compactemb.vocab import Vocab


@pytest.fixture(scope="module")
def kv():
    rng = np.random.default_rng(0)
    n, d = 600, 16
    keys = [f"w{i}" for i in range(n)]
    return KeyedVectors(Vocab(keys, counts=np.arange(n, 0, -1)),
                        DenseTable(rng.standard_normal((n, d)).astype(np.float32)))


def test_methods_and_combinations(kv):
    x = kv.table.weights.copy()
    for method, kind in [("fp16", "dense"), ("int8", "int8"), ("int4", "int4"), ("svd", "lowrank"),
                         ("mixed", "mixed"), ("prune", "pruned"), ("prune+pq", "pruned")]:
        out = compress(kv, method, **({"n_centroids": 16} if "pq" in method else {}))
        assert isinstance(out, KeyedVectors) and out.table.kind == kind
        assert out.vocab is kv.vocab and out.meta["compression"]["method"] == method
        assert out.table.nbytes < kv.table.nbytes
    pp = compress(kv.table, "prune+pq", keep=200, n_subvectors=4, n_centroids=16)
    assert isinstance(pp, PrunedTable) and isinstance(pp.inner, PQTable)
    assert pp.inner.n_subvectors == 4 and pp.n_keep == 200
    np.testing.assert_array_equal(kv.table.weights, x)  # the input is untouched
    assert default_subvectors(300) == 75 and default_subvectors(16) == 4
    assert default_subvectors(3) == 1


@pytest.mark.parametrize("method, options, match", [
    ("zip", {}, "unknown compression method 'zip'"),
    ("pq+prune", {}, "only 'pruned\\+<method>' combinations"),
    ("int8+pq", {}, "only 'pruned\\+<method>' combinations"),
    ("int8", {"keep": 3}, "needs pruned first, e.g. pruned\\+int8"),
    ("int8", {"retrain": True}, "retrain apply to classifiers only"),
    ("pq", {"seed": 1, "random_state": 2}, "'seed' and 'random_state' disagree"),
    ("int8", {"rank": 3}, "option\\(s\\) rank do not apply to method 'int8'"),
    ("pq", {"n_subvectors": 5}, "'n_subvectors'=5 must divide the dimension dim=16"),
    ("pq", {"bits": 9}, "'bits' must be an integer in \\[1, 8\\]"),
    ("pq", {"n_centroids": 256, "n_subvectors": 4}, "at least n_centroids=256 rows"),
    ("svd", {"rank": 0}, "'rank' must be an integer in \\[1, min"),
    ("prune", {"keep": 2.0}, "'keep' as a fraction must be in"),
])
def test_bad_options_name_the_option(method, options, match):
    small = DenseTable(np.random.default_rng(1).standard_normal((100, 16)))
    with pytest.raises(InputError, match=match):
        compress(small, method, **options)


def test_prune_needs_frequency_order(kv):
    shuffled = KeyedVectors(Vocab(kv.vocab.keys, counts=np.arange(1, 601)), kv.table)
    with pytest.raises(InputError, match="not in decreasing frequency order"):
        compress(shuffled, "prune")
    assert parse_method("PRUNE + int4") == ["pruned", "int4"]
    assert parse_method("prune+fp16") == ["pruned", "float16"] == parse_method("pruned+float16")


def test_factor_model_compression_keeps_seen_items():
    rng = np.random.default_rng(2)
    users, items = Vocab(np.arange(30)), Vocab(np.arange(50))
    seen = (rng.random((30, 50)) < 0.2).astype(np.float32)
    m = FactorModel(users, items, DenseTable(rng.standard_normal((30, 8))),
                    DenseTable(rng.standard_normal((50, 8))), seen=seen)
    c = compress(m, "int8")
    assert c.user_table.kind == c.item_table.kind == "int8"
    recs = c.recommend([0], k=5)[0]
    assert not set(r[0] for r in recs) & set(np.flatnonzero(seen[0]).tolist())
    mixed = compress(m, "int4", item_method="prune+int4", keep=20)
    assert mixed.user_table.kind == "int4" and mixed.item_table.kind == "pruned"
    assert mixed.item_table.n_keep == 20 and mixed.item_table.inner.kind == "int4"
    np.testing.assert_array_equal(mixed.user_table.data, c_int4(m).data)
    with pytest.raises(InputError, match="apply to factor models only"):
        compress(m.user_table, "int8", item_method="int4")


def c_int4(m):
    return compress(m.user_table, "int4")


def test_pareto_front_against_brute_force():
    rng = np.random.default_rng(3)
    for _ in range(20):
        pts = [(int(b), float(q)) for b, q in zip(rng.integers(1, 20, 12), rng.random(12))]
        got = pareto_front(pts)
        for i, (b, q) in enumerate(pts):
            dominated = any((b2 < b and q2 >= q) or (b2 == b and q2 > q) or
                            (b2 == b and q2 == q and j < i) for j, (b2, q2) in enumerate(pts)
                            if j != i)
            assert got[i] == (not dominated), (pts, i)


def test_frontier_on_word_vectors(kv, tmp_path):
    sim = tmp_path / "sim.txt"
    rng = np.random.default_rng(4)
    pairs = [(f"w{a}", f"w{b}") for a, b in rng.integers(0, 600, (40, 2))]
    # human scores = the float32 cosines, so the baseline Spearman is exactly 1
    lines = [f"{a}\t{b}\t{kv.similarity(a, b):.6f}" for a, b in pairs]
    sim.write_text("\n".join(lines) + "\n")
    evaluate, primary = word_evaluator(similarity=[sim])
    grid = [("int8", {}), ("int4", {}), ("pq", {"n_subvectors": 2, "n_centroids": 16})]
    res = frontier(kv, evaluate, primary, grid=grid)
    rows = res["rows"]
    assert [r["label"] for r in rows][:3] == ["float32", "int8", "int4"]
    assert rows[0][primary] == pytest.approx(1.0)
    assert rows[1]["bytes"] == Int8Table.estimate_nbytes(600, 16)
    assert rows[1]["ratio"] == pytest.approx(64 / 24, rel=1e-3)
    assert rows[1][primary] > 0.99 and rows[3][primary] < rows[1][primary]
    assert rows[-1]["pareto"]  # the smallest table is always on the front


def _digest(path) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def test_cli_compress_never_touches_the_input(kv, tmp_path, capsys):
    src = tmp_path / "w.cemb"
    kv.save(src)
    digest, mtime = _digest(src), os.stat(src).st_mtime_ns
    out = tmp_path / "w4.cemb"
    assert main(["compress", str(src), "-o", str(out), "--method", "int4", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["table_bytes_after"] == load(out).table.nbytes
    assert info["ratio"] == pytest.approx(16 * 4 / 12, rel=1e-3)
    assert main(["compress", str(src), "-o", str(src), "--method", "int8"]) == 1
    assert "never overwrites its input" in capsys.readouterr().err
    assert main(["compress", str(src), "-o", str(tmp_path / "x.cemb"), "--method", "pq",
                 "--n-subvectors", "5"]) == 1
    assert "'n_subvectors'=5 must divide the dimension dim=16" in capsys.readouterr().err
    assert not (tmp_path / "x.cemb").exists()
    assert main(["compress", str(src), "-o", str(tmp_path / "p.cemb"), "--method", "prune+pq",
                 "--keep", "300", "--n-subvectors", "4", "--n-centroids", "32", "-q"]) == 0
    capsys.readouterr()
    p = load(tmp_path / "p.cemb", mmap=True)
    assert p.table.kind == "pruned" and p.table.n_keep == 300
    assert _digest(src) == digest
    assert os.stat(src).st_mtime_ns == mtime


def test_cli_frontier_words_and_items(kv, tmp_path, capsys):
    src = tmp_path / "w.cemb"
    kv.save(src)
    sim = tmp_path / "sim.txt"
    sim.write_text("w1 w2 1.0\nw3 w4 2.0\nw5 w9 3.0\nw10 w30 0.5\n")
    out = tmp_path / "front"
    assert main(["frontier", str(src), "--similarity", str(sim), "--out", str(out),
                 "--grid", "int8", "--grid", "svd:rank=4", "--no-plot", "-q"]) == 0
    md = capsys.readouterr().out
    assert "| int8 |" in md and "| svd (r=4) |" in md
    res = json.loads((out / "frontier.json").read_text())
    assert [r["label"] for r in res["rows"]] == ["float32", "int8", "svd (r=4)"]
    assert main(["frontier", str(src), "--out", str(out)]) == 1
    assert "needs --analogies and/or --similarity" in capsys.readouterr().err

    rng = np.random.default_rng(5)
    lines = [f"u{u} i{i}" for u in range(40) for i in rng.choice(60, 12, replace=False)]
    train, test = tmp_path / "train.txt", tmp_path / "test.txt"
    train.write_text("\n".join(lines[i] for i in range(len(lines)) if i % 4) + "\n")
    test.write_text("\n".join(lines[i] for i in range(len(lines)) if i % 4 == 0) + "\n")
    model = tmp_path / "m.cemb"
    assert main(["train", "items", str(train), "-o", str(model), "--dim", "8", "-q"]) == 0
    capsys.readouterr()
    assert main(["frontier", str(model), "--out", str(out), "--test", str(test), "--grid",
                 "int8", "--grid", "int4", "--json", "-q"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["primary"] == "ndcg@10" and len(res["rows"]) == 3
    assert all(0 <= r["ndcg@10"] <= 1 for r in res["rows"])
    assert os.path.exists(res["files"]["png"])
    assert main(["frontier", str(model), "--out", str(out)]) == 1
    assert "give --test" in capsys.readouterr().err


# -- one grammar: table kind names, aliases, every object kind -------------------------------------

def test_method_names_are_the_table_kinds_and_old_names_are_aliases():
    from compactemb.compress import ALIASES, METHODS, available_methods
    from compactemb.tables import LowRankTable, table_kinds

    compressors = {k for k, c in table_kinds().items() if hasattr(c, "from_dense")}
    assert set(METHODS) - {"float32", "float16"} <= compressors
    assert set(available_methods()) == compressors | {"float32", "float16"}
    t = DenseTable(np.random.default_rng(3).standard_normal((200, 16)).astype(np.float32))
    ref = LowRankTable.from_dense(t, rank=4)
    for name in ("lowrank", "svd", " SVD "):
        np.testing.assert_array_equal(compress(t, name, rank=4).to_dense().weights,
                                      ref.to_dense().weights)
    for old, new in ALIASES.items():
        a, b = compress(t, old), compress(t, new)
        assert a.kind == b.kind
        np.testing.assert_array_equal(a.to_dense().weights, b.to_dense().weights)
    assert compress(t, "float16").to_dense().weights.tolist() == \
        t.weights.astype(np.float16).astype(np.float32).tolist()
    seeded = compress(t, "pq", n_subvectors=4, n_centroids=16, seed=3)
    np.testing.assert_array_equal(
        seeded.codes, compress(t, "pq", n_subvectors=4, n_centroids=16, random_state=3).codes)


def test_keep_above_the_row_count_is_capped(kv):
    from compactemb.compress import keep_capped

    big = compress(kv, "pruned+int8", keep=10_000)
    assert big.table.n_keep == 600 and keep_capped(big) == [("table", 10_000, 600)]
    np.testing.assert_array_equal(big.table.to_dense().weights,
                                  Int8Table.from_dense(kv.table).to_dense().weights)
    assert keep_capped(compress(kv, "pruned+int8", keep=100)) == []


def test_factor_model_one_side():
    rng = np.random.default_rng(4)
    m = FactorModel(Vocab(np.arange(20)), Vocab(np.arange(40)),
                    DenseTable(rng.standard_normal((20, 8))),
                    DenseTable(rng.standard_normal((40, 8))))
    c = compress(m, "int8", side="item")
    assert c.user_table is m.user_table and c.item_table.kind == "int8"
    np.testing.assert_array_equal(c.item_table.data, Int8Table.from_dense(m.item_table).data)
    assert c.meta["compression"]["user"] is None
    with pytest.raises(InputError, match="side must be one of"):
        compress(m, "int8", side="items")
    with pytest.raises(InputError, match="apply to factor models only"):
        compress(m.user_table, "int8", side="user")


def _toy_classifier():
    from compactemb.train import TextClassifier

    rng = np.random.default_rng(0)
    texts, labels = [], []
    for _ in range(200):
        lab = "pos" if rng.random() < 0.5 else "neg"
        word = rng.choice(["superb", "lovely"] if lab == "pos" else ["dull", "awful"])
        texts.append(" ".join([*rng.choice(["the", "film", "was", "plot"], 4), word]))
        labels.append(lab)
    clf = TextClassifier(dim=8, n_buckets=500, epochs=5, n_threads=1).fit(texts, labels)
    return clf, texts, labels


def _same_classifier(a, b):
    assert a.table_.kind == b.table_.kind and a.n_rows == b.n_rows
    np.testing.assert_array_equal(a.table_.to_dense().weights, b.table_.to_dense().weights)
    np.testing.assert_array_equal(a.output_, b.output_)
    np.testing.assert_array_equal(a.bucket_ids_, b.bucket_ids_)
    assert a.train_info_["compression"] == b.train_info_["compression"]


def test_compress_a_classifier_is_textclassifier_compress():
    clf, texts, labels = _toy_classifier()
    opts = {"n_subvectors": 4, "n_centroids": 16}
    _same_classifier(compress(clf, "pruned+pq", keep=30, score="norm", **opts),
                     clf.compress("pq", cutoff=30, score="norm", **opts))
    _same_classifier(compress(clf, "prune+int8", keep=25, retrain=True, texts=texts,
                              labels=labels, hash_words=True),
                     clf.compress("int8", cutoff=25, retrain=True, texts=texts, labels=labels,
                                  hash_words=True))
    _same_classifier(compress(clf, "fp16"), clf.compress("float16"))
    half = compress(clf, "pruned", keep=0.5)
    _same_classifier(half, clf.compress("float32", cutoff=round(0.5 * clf.n_rows)))
    # pq by default: 2 dimensions a byte, as the quantize command always did
    assert compress(clf, "pq", n_centroids=16).table_.n_subvectors == 4
    from compactemb.compress import keep_capped

    capped = compress(clf, "pruned+int8", keep=10 ** 6)
    assert capped.n_rows == clf.n_rows
    assert keep_capped(capped) == [("table", 10 ** 6, clf.n_rows)]
    with pytest.raises(InputError, match="fallback do not apply"):
        compress(clf, "pruned+int8", keep=10, fallback="shared")
    with pytest.raises(InputError, match="needs pruned first"):
        compress(clf, "int8", keep=10)
    with pytest.raises(InputError, match="retrain apply to classifiers only"):
        compress(clf.word_vectors(), "int8", retrain=True)


def test_cli_compress_factor_side_and_bare_table(tmp_path, capsys):
    rng = np.random.default_rng(6)
    m = FactorModel(Vocab(np.arange(20)), Vocab(np.arange(40)),
                    DenseTable(rng.standard_normal((20, 8)).astype(np.float32)),
                    DenseTable(rng.standard_normal((40, 8)).astype(np.float32)))
    m.save(tmp_path / "m.cemb")
    assert main(["compress", str(tmp_path / "m.cemb"), "-o", str(tmp_path / "mi.cemb"),
                 "--method", "int8", "--side", "item", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["kind"] == "factor_model" and info["keep_capped"] == []
    out = load(tmp_path / "mi.cemb")
    np.testing.assert_array_equal(out.user_table.weights, m.user_table.weights)
    np.testing.assert_array_equal(out.item_table.data, Int8Table.from_dense(m.item_table).data)
    table = DenseTable(rng.standard_normal((50, 8)).astype(np.float32))
    table.save(tmp_path / "t.cemb")
    assert main(["compress", str(tmp_path / "t.cemb"), "-o", str(tmp_path / "t2.cemb"),
                 "--method", "svd", "--rank", "2", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["kind"] == "table"
    from compactemb.tables import LowRankTable

    np.testing.assert_allclose(load(tmp_path / "t2.cemb").to_dense().weights,
                               LowRankTable.from_dense(table, rank=2).to_dense().weights)
    assert main(["compress", str(tmp_path / "t.cemb"), "-o", str(tmp_path / "t3.cemb"),
                 "--method", "int8", "--side", "user"]) == 1
    assert "apply to factor models only" in capsys.readouterr().err
    assert main(["compress", str(tmp_path / "t.cemb"), "-o", str(tmp_path / "t3.cemb"),
                 "--method", "int8", "--keep", "2.5"]) == 2
    assert "a row count must be a whole number" in capsys.readouterr().err
