"""shrink(): size parsing, budgets met or refused with the closest point, the search against an
exhaustive reference over the same candidates, evaluators, and the command line."""

from __future__ import annotations

import json

import numpy as np
import pytest

from compactemb import KeyedVectors, Vocab, load
from compactemb.cli import main
from compactemb.exceptions import InputError
from compactemb.shrink import (
    _build,
    estimate_bytes,
    float32_bytes,
    neighbour_recall,
    parse_size,
    shrink,
    table_bytes,
)
from compactemb.tables import DenseTable


def _kv(n=3000, dim=32, seed=0):
    rng = np.random.default_rng(seed)
    # clustered vectors: neighbours are meaningful, compression loses them gradually
    centres = rng.standard_normal((60, dim)) * 2
    x = centres[rng.integers(0, 60, n)] + rng.standard_normal((n, dim))
    vocab = Vocab([f"w{i}" for i in range(n)], np.arange(n, 0, -1))
    return KeyedVectors(vocab, DenseTable(x.astype(np.float32)), {"trainer": "test"})


@pytest.fixture(scope="module")
def kv():
    return _kv()


def test_parse_size():
    assert parse_size("5MB") == 5_000_000
    assert parse_size("300KiB") == 300 * 1024
    assert parse_size("1.5 GiB") == int(1.5 * 2**30)
    assert parse_size("123456") == 123456
    assert parse_size(77) == 77
    assert parse_size("32x", 3200) == 100
    for bad in ("5 parsecs", "x", "-3MB", "0.5x", "0"):
        with pytest.raises(InputError):
            parse_size(bad, 100)
    with pytest.raises(InputError, match="float32"):
        parse_size("8x")


@pytest.mark.parametrize("method,options", [
    ("float16", {}), ("int8", {}), ("int4", {}), ("bit1", {}), ("bit2", {}),
    ("bit1", {"rotation": True}),
    ("pq", {"n_subvectors": 8}), ("pruned+int4", {"keep": 700}),
    ("pruned+bit2", {"keep": 1234}), ("pruned+pq", {"keep": 2900, "n_subvectors": 8}),
    ("tiered+bit2", {"keep": 1000, "tail_components": 8}),
    ("tiered+int4", {"keep": 10, "tail_components": 3}),
    ("tiered+bit1", {"keep": 2000, "tail_components": 8, "tail_normalize": False}),
    ("bit2", {"scale": "row"}), ("pruned+bit2", {"keep": 900, "scale": "row"}),
    ("tiered+bit2", {"keep": 1000, "scale": "row", "tail_components": 8}),
])
def test_estimates_equal_measured_bytes(kv, method, options):
    assert estimate_bytes(kv, method, options) == table_bytes(_build(kv, method, options))


def test_tiered_keeps_rare_rows_closer_than_hash_buckets(kv):
    x = kv.table.weights
    budget = estimate_bytes(kv, "tiered+bit2", {"keep": 1000, "tail_components": 8})
    keep = max(k for k in range(1000, 3000, 50)
               if estimate_bytes(kv, "pruned+bit2", {"keep": k}) <= budget)

    def cosine_to_input(method, opts):  # mean cosine of the rare rows to their input rows
        dec = np.asarray(_build(kv, method, opts).table)[keep:]
        ref = x[keep:]
        return np.mean((dec * ref).sum(1) / np.linalg.norm(dec, axis=1)
                       / np.linalg.norm(ref, axis=1))

    tiered = cosine_to_input("tiered+bit2", {"keep": 1000, "tail_components": 8})
    pruned = cosine_to_input("pruned+bit2", {"keep": keep})
    assert tiered > pruned + 0.1


def test_recall_of_the_input_is_one_and_drops_with_compression(kv):
    ev = neighbour_recall(kv, n_queries=200)
    assert ev(kv) == {"recall@10": 1.0}
    r8 = ev(_build(kv, "int8", {}))["recall@10"]
    r1 = ev(_build(kv, "bit1", {}))["recall@10"]
    assert 1.0 >= r8 > r1 > 0.05


def _exhaustive(kv, ev, budget):
    """Best quality within the budget over a dense grid of the same families (the reference)."""
    best = -1.0
    n = kv.table.n_rows
    grid = [("float16", {}), ("int8", {}), ("int4", {}), ("bit2", {}), ("bit1", {})]
    grid += [("pq", {"n_subvectors": m}) for m in (1, 2, 4, 8, 16)]
    for value in ("int8", "int4", "bit2", "bit1"):
        grid += [(f"pruned+{value}", {"keep": int(f * n)}) for f in np.linspace(0.1, 0.9, 9)]
    for method, opts in grid:
        if estimate_bytes(kv, method, opts) <= budget:
            best = max(best, np.mean(list(ev(_build(kv, method, opts)).values())))
    return best


@pytest.mark.parametrize("ratio", ["6x", "20x"])
def test_max_bytes_meets_the_budget_near_the_best_of_a_grid(kv, ratio):
    ev = neighbour_recall(kv, n_queries=200)
    r = shrink(kv, max_bytes=ratio, evaluator=ev)
    budget = parse_size(ratio, float32_bytes(kv))
    assert r.met and r.bytes <= budget and table_bytes(r.obj) == r.bytes
    assert r.quality >= _exhaustive(kv, ev, budget) - 0.02
    assert r.candidates_tried == len(r.candidates) <= 12
    meta = r.obj.meta["shrink"]
    assert meta["bytes"] == r.bytes and meta["quality"] == pytest.approx(r.quality, abs=1e-6)
    assert r.obj.meta["trainer"] == "test"


def test_min_quality_gives_the_smallest_candidate_keeping_it(kv):
    ev = neighbour_recall(kv, n_queries=200)
    r = shrink(kv, min_quality=0.8, evaluator=ev)
    assert r.met and r.quality >= 0.8
    # nothing tried that keeps the quality is smaller
    assert all(c["bytes"] >= r.bytes for c in r.candidates if c["quality"] >= 0.8)
    # and the fixed 2-bit table (a candidate that may or may not keep 0.8) is consistent
    q2 = np.mean(list(ev(_build(kv, "bit2", {})).values()))
    if q2 >= 0.8:
        assert r.bytes <= estimate_bytes(kv, "bit2", {})


def test_impossible_budget_reports_the_closest():
    kv = _kv(1200, 16)
    r = shrink(kv, max_bytes=100)
    assert not r.met and "no method meets" in r.message and "closest" in r.message
    assert r.bytes == min(c["bytes"] for c in r.candidates)
    r = shrink(kv, min_quality=1.5)
    assert not r.met and r.quality == max(c["quality"] for c in r.candidates)


def test_bad_arguments(kv):
    with pytest.raises(InputError, match="budget"):
        shrink(kv)
    with pytest.raises(InputError, match="min_quality"):
        shrink(kv, min_quality=-1)
    with pytest.raises(InputError, match="cannot shrink"):
        shrink("words", max_bytes=10)


def test_user_evaluator_is_relative_to_the_input(kv):
    calls = []

    def spread(obj):  # a made-up metric: mean row norm
        calls.append(1)
        return {"norm": float(np.linalg.norm(np.asarray(obj.table), axis=1).mean())}

    r = shrink(kv, max_bytes="4x", evaluator=spread)
    direct = spread(r.obj)["norm"] / spread(kv)["norm"]
    assert r.quality == pytest.approx(direct, rel=1e-6)


def test_factor_models_and_tables(kv):
    from compactemb.recommend import FactorModel

    rng = np.random.default_rng(1)
    users = Vocab(np.arange(400), np.arange(400, 0, -1))
    items = Vocab(np.arange(3000), np.arange(3000, 0, -1))
    model = FactorModel(users, items, DenseTable(rng.standard_normal((400, 16))),
                        DenseTable(kv.table.weights[:, :16]))
    r = shrink(model, max_bytes="10x")
    assert r.met and r.bytes <= float32_bytes(model) / 10
    assert type(r.obj) is FactorModel and "shrink" in r.obj.meta
    r = shrink(kv.table, min_quality=0.9)
    assert r.met and r.quality >= 0.9 and r.obj.kind != "dense"


def test_cli_shrink(kv, tmp_path):
    src, out = tmp_path / "in.cemb", tmp_path / "out.cemb"
    kv.save(src)
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        rc = main(["shrink", str(src), "-o", str(out), "--max-bytes", "16x", "--json",
                   "--queries", "200"])
    assert rc == 0
    res = json.loads(buf.getvalue())
    for key in ("bytes", "ratio", "quality", "method", "options", "candidates_tried",
                "seconds"):
        assert key in res
    small = load(out)
    assert table_bytes(small) == res["bytes"] <= float32_bytes(kv) / 16
    assert small.meta["shrink"]["quality"] == pytest.approx(res["quality"], abs=1e-5)


def test_cli_shrink_impossible(kv, tmp_path, capsys):
    src, out = tmp_path / "in.cemb", tmp_path / "out.cemb"
    kv.save(src)
    rc = main(["shrink", str(src), "-o", str(out), "--max-bytes", "100", "--json", "-q"])
    cap = capsys.readouterr()
    assert rc == 1 and not out.exists()
    assert json.loads(cap.out)["met"] is False
    assert cap.err.count("\n") == 1 and "no method meets" in cap.err
    rc = main(["shrink", str(src), "-o", str(out)])
    assert rc == 1 and "budget" in capsys.readouterr().err
    rc = main(["shrink", str(src), "-o", str(out), "--max-bytes", "10 parsecs"])
    assert rc == 1 and "size" in capsys.readouterr().err


def test_classifier_with_accuracy_evaluator():
    from compactemb.shrink import accuracy_evaluator
    from compactemb.train import TextClassifier

    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(400)]
    texts, labels = [], []
    for _ in range(600):
        label = int(rng.integers(2))
        pool = words[:200] if label else words[200:]
        texts.append(" ".join(rng.choice(pool, 6)))
        labels.append(str(label))
    clf = TextClassifier(dim=16, ngrams=1, epochs=5, n_threads=1, random_state=0)
    clf.fit(texts, labels)
    ev = accuracy_evaluator(texts, labels)
    r = shrink(clf, max_bytes="6x", evaluator=ev)
    assert r.met and r.bytes <= float32_bytes(clf) / 6
    assert r.metrics["accuracy"] == pytest.approx(clf_accuracy(r.obj, texts, labels))
    with pytest.raises(InputError, match="labelled test file"):
        shrink(clf, max_bytes="6x")


def clf_accuracy(clf, texts, labels):
    pred = [p[0][0] for p in clf.predict(texts)]
    return float(np.mean([a == b for a, b in zip(pred, labels)]))


def test_cli_factor_model_with_held_out_interactions(tmp_path, capsys):
    from compactemb.recommend import FactorModel

    rng = np.random.default_rng(2)
    users = Vocab(np.arange(300), np.arange(300, 0, -1))
    items = Vocab(np.arange(1200), np.arange(1200, 0, -1))
    model = FactorModel(users, items, DenseTable(rng.standard_normal((300, 16))),
                        DenseTable(rng.standard_normal((1200, 16))))
    src, out, test = tmp_path / "m.cemb", tmp_path / "o.cemb", tmp_path / "test.tsv"
    model.save(src)
    # each user's held-out items: its float32 top-3, so ndcg@10 of the input is high
    top = np.argsort(-(model.user_table.weights @ model.item_table.weights.T), axis=1)[:, :3]
    test.write_text("".join(f"{u}\t{i}\n" for u in range(300) for i in top[u]))
    rc = main(["shrink", str(src), "-o", str(out), "--max-bytes", "8x", "--test", str(test),
               "--json", "-q"])
    res = json.loads(capsys.readouterr().out)
    assert rc == 0 and res["met"] and "ndcg@10" in res["metrics"]
    assert res["baseline"]["ndcg@10"] > 0.5
    assert res["bytes"] <= float32_bytes(model) / 8
    assert isinstance(load(out), FactorModel)


# -- part 5: the low-bit fallback of pruned (= tiered+<method>) in compress's grammar ----------

def _unpack_bits(codes, k):
    """Slow reference: bit j of each row, little-end first in each byte."""
    return np.array([[(int(row[j // 8]) >> (j % 8)) & 1 for j in range(k)] for row in codes])


def test_lowbit_fallback_matches_a_slow_reference(kv):
    from compactemb.compress import compress

    x = kv.table.weights.astype(np.float64)
    keep, k = 700, 8
    t = compress(kv.table, "pruned+int4", keep=keep, fallback="lowbit", tail_components=k)
    assert t.kind == "tiered" and t.n_head == keep and t.n_rows == x.shape[0]
    # kept rows: the int4 table of the kept rows alone
    head = compress(kv.table.weights[:keep], "int4")
    np.testing.assert_array_equal(t.lookup(np.arange(keep)), head.lookup(np.arange(keep)))
    # dropped rows, from scratch: unit rows, centred, top-k principal directions, signs
    tail = x[keep:]
    unit = tail / np.linalg.norm(tail, axis=1, keepdims=True)
    centred = unit - unit.mean(0)
    top = np.linalg.svd(centred, full_matrices=False)[2][:k]
    rot = t.tail.rotation.astype(np.float64)
    np.testing.assert_allclose(np.abs(np.sum(rot * top.T, axis=0)), 1, atol=1e-4)
    bits = _unpack_bits(t.tail.codes, k)
    y = t.tail.levels[bits] * t.tail.dim_scales
    assert np.mean(np.sign(y) == np.sign(centred @ rot)) > 0.999
    decoded = (y @ rot.T + unit.mean(0)) * t.tail.norms.astype(np.float64)[:, None]
    got = t.lookup(np.arange(keep, x.shape[0]))
    np.testing.assert_allclose(got, decoded, rtol=1e-4, atol=1e-5)
    # the float16 norms give each decoded row the input row's length
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), np.linalg.norm(tail, axis=1),
                               rtol=2e-3)
    # one grammar, two spellings; bytes as estimated
    same = compress(kv.table, "tiered+int4", keep=keep, tail_components=k)
    np.testing.assert_array_equal(same.lookup(np.arange(x.shape[0])),
                                  t.lookup(np.arange(x.shape[0])))
    assert estimate_bytes(kv.table, "pruned+int4", {"keep": keep, "fallback": "lowbit",
                                                    "tail_components": k}) == t.nbytes


def test_lowbit_fallback_beats_hash_buckets_at_equal_bytes(kv):
    from compactemb.compress import compress

    x = kv.table.weights
    low = compress(kv, "pruned+int4", keep=900, fallback="lowbit", tail_components=8)
    budget = table_bytes(low)
    keep = max(k for k in range(900, 3000, 10)
               if estimate_bytes(kv, "pruned+int4", {"keep": k}) <= budget)
    hashed = compress(kv, "pruned+int4", keep=keep)
    assert table_bytes(hashed) <= budget

    def cosine(small):  # mean cosine of the rows hash-pruned drops to their input rows
        dec, ref = np.asarray(small.table)[keep:], x[keep:]
        return np.mean((dec * ref).sum(1) / np.linalg.norm(dec, axis=1)
                       / np.linalg.norm(ref, axis=1))

    assert cosine(low) > cosine(hashed) + 0.1


@pytest.mark.parametrize("method,options", [
    ("tiered", {}), ("tiered+bit2", {"keep": 0.3}), ("pruned", {"fallback": "lowbit"}),
    ("pruned+bit1", {"keep": 500, "fallback": "lowbit", "tail_normalize": False}),
    ("tiered+int8", {"keep": 3000}), ("pruned+int4", {"keep": 2000, "fallback": "shared"}),
    ("pruned+int8", {"keep": 1000, "n_fallback": 7}),
])
def test_grammar_estimates_equal_measured_bytes(kv, method, options):
    assert estimate_bytes(kv, method, options) == table_bytes(_build(kv, method, options))


def test_tiered_grammar_errors(kv):
    from compactemb.compress import compress
    from compactemb.train import TextClassifier

    with pytest.raises(InputError, match="fallback"):
        compress(kv, "pruned+int4", fallback="nearest")
    with pytest.raises(InputError, match="n_fallback"):
        compress(kv, "pruned+int4", fallback="lowbit", n_fallback=10)
    with pytest.raises(InputError, match="lowbit"):
        compress(kv, "pruned+int4", tail_components=8)
    with pytest.raises(InputError, match="at most the dimension"):
        compress(kv, "tiered+int4", tail_components=64)
    with pytest.raises(InputError, match="positive integer"):
        compress(kv, "tiered+int4", tail_components=0)
    with pytest.raises(InputError, match="only 'pruned"):
        compress(kv, "int4+tiered")
    unordered = KeyedVectors(Vocab(["a", "b", "c"], [1, 5, 2]),
                             DenseTable(np.eye(3, dtype=np.float32)))
    with pytest.raises(InputError, match="frequency"):
        compress(unordered, "tiered+int8", keep=1)
    clf = TextClassifier(dim=8, n_buckets=50, epochs=1, n_threads=1).fit(["a b", "c d"],
                                                                         ["x", "y"])
    with pytest.raises(InputError, match="classifier"):
        compress(clf, "tiered+bit2")
    with pytest.raises(InputError, match="do not apply"):
        compress(clf, "pruned+bit2", keep=2, fallback="lowbit")


def test_cli_compress_tiered(kv, tmp_path, capsys):
    src = tmp_path / "in.cemb"
    kv.save(src)
    for i, argv in enumerate((["--method", "tiered+bit2", "--keep", "800", "--tail-components",
                               "16"],
                              ["--method", "pruned+int4", "--keep", "0.2", "--fallback",
                               "lowbit", "--no-tail-norms"])):
        out = tmp_path / f"out{i}.cemb"
        assert main(["compress", str(src), "-o", str(out), "--json", *argv]) == 0
        res = json.loads(capsys.readouterr().out)
        small = load(out)
        assert small.table.kind == "tiered" and res["table_bytes_after"] == small.table.nbytes
        assert small.table.n_head == (800 if i == 0 else 600)
        assert small.table.tail.norms is (None if i else small.table.tail.norms)
        if i == 0:
            assert small.table.tail.code_dim == 16
    rc = main(["compress", str(src), "-o", str(tmp_path / "x.cemb"), "--method", "int4",
               "--tail-components", "8"])
    assert rc == 1 and "tail_components" in capsys.readouterr().err


# -- low-bit classifiers ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def clf_data():
    from compactemb.train import TextClassifier

    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(400)]
    texts, labels = [], []
    for _ in range(600):
        label = int(rng.integers(2))
        pool = words[:200] if label else words[200:]
        texts.append(" ".join(rng.choice(pool, 6)))
        labels.append(str(label))
    clf = TextClassifier(dim=16, ngrams=2, n_buckets=5000, epochs=5, n_threads=1,
                         random_state=0).fit(texts, labels)
    return clf, texts, labels


@pytest.mark.parametrize("method,options", [("bit2", {}), ("bit1", {"rotation": True}),
                                            ("pruned+bit2", {"keep": 600})])
def test_low_bit_classifier_predicts_as_its_decoded_table(clf_data, method, options):
    from compactemb.compress import compress
    from compactemb.tables import Bit1Table, Bit2Table

    clf, texts, labels = clf_data
    small = compress(clf, method, **options)
    value = method.split("+")[-1]
    assert small.table_.kind == value
    if method == "pruned+bit2":
        assert small.table_.n_rows == 600
    else:  # the table is the low-bit kind's own coding of the input rows
        cls = Bit2Table if value == "bit2" else Bit1Table
        # classifiers default to a float16 scale a row (the bag sums rows)
        ref = cls.from_dense(clf.table_.to_dense().weights, **{"scale": "row", **options})
        assert ref.row_scales is not None
        np.testing.assert_array_equal(small.table_.codes, ref.codes)
    # predictions through the low-bit bag kernel equal a float32 copy of the decoded rows
    peer = compress(small, "float32")
    assert peer.table_.kind == "dense"
    assert clf_accuracy(small, texts, labels) == clf_accuracy(peer, texts, labels)
    np.testing.assert_allclose(small.predict_proba(texts[:50]), peer.predict_proba(texts[:50]),
                               rtol=1e-4, atol=1e-6)
    assert estimate_bytes(clf, method, options) == table_bytes(small)


def test_shrink_classifier_meets_budgets_with_low_bit(clf_data):
    from compactemb.shrink import accuracy_evaluator

    clf, texts, labels = clf_data
    ev = accuracy_evaluator(texts, labels)
    for ratio in ("20x", "40x"):
        r = shrink(clf, max_bytes=ratio, evaluator=ev)
        assert r.met and r.bytes <= parse_size(ratio, float32_bytes(clf))
        assert {"bit2", "bit1"} & {c["method"].split("+")[-1] for c in r.candidates}
        assert r.metrics["accuracy"] == pytest.approx(clf_accuracy(r.obj, texts, labels))
        assert not any(c["method"].startswith("tiered") for c in r.candidates)


def test_factor_models_get_row_scaled_low_bit_candidates():
    from compactemb.recommend import FactorModel

    rng = np.random.default_rng(3)
    users = Vocab(np.arange(500), np.arange(500, 0, -1))
    items = Vocab(np.arange(2000), np.arange(2000, 0, -1))
    # item norms spread widely (popularity): dot-product top-k depends on each row's length
    item_rows = rng.standard_normal((2000, 16)) * np.exp(rng.standard_normal((2000, 1)))
    model = FactorModel(users, items, DenseTable(rng.standard_normal((500, 16))),
                        DenseTable(item_rows))
    ev = neighbour_recall(model, n_queries=300)
    plain = ev(_build(model, "bit2", {}))["recall@10"]
    row = ev(_build(model, "bit2", {"scale": "row"}))["recall@10"]
    assert row > plain + 0.05
    r = shrink(model, max_bytes="14x", evaluator=ev)
    assert r.met and r.bytes <= float32_bytes(model) / 14
    assert any(c["options"].get("scale") == "row" for c in r.candidates)
