"""TextClassifier: kernels against NumPy references, training, prediction, storage, bad input."""

from __future__ import annotations

import zlib

import numpy as np
import pytest
from conftest import shared_file

from compactemb.evaluation._classification import (
    classification_metrics,
    per_class_scores,
    precision_recall_at_k,
)
from compactemb.exceptions import InputError, NotFittedError
from compactemb.labelled import read_labelled
from compactemb.storage import load
from compactemb.train._classifier import EOS, TextClassifier

# -- NumPy references ------------------------------------------------------------------------------


def reference_step(w_in, w_out, ids, gold, target, loss, lr):
    """One fastText SGD step, written out plainly (float64)."""
    w_in, w_out = w_in.astype(np.float64), w_out.astype(np.float64)
    hidden = w_in[ids].mean(axis=0)
    scores = w_out @ hidden
    if loss == "softmax":
        p = np.exp(scores - scores.max())
        p /= p.sum()
        y = np.zeros(len(p))
        y[target] = 1.0
    else:
        p = 1.0 / (1.0 + np.exp(-scores))
        y = np.zeros(len(p))
        y[list(gold)] = 1.0
    alpha = lr * (y - p)
    grad = alpha @ w_out  # uses the output rows before their update
    w_out = w_out + np.outer(alpha, hidden)
    for i in ids:  # repeated ids get the update once per occurrence
        w_in[i] += grad / len(ids)
    return w_in, w_out


def reference_ngram_buckets(hashes, max_n, n_buckets):
    out = []
    for i in range(len(hashes)):
        h = int(hashes[i])
        for j in range(i + 1, min(len(hashes), i + max_n)):
            h = (h * 116049371 + int(hashes[j])) % 2**64
            out.append(h % n_buckets)
    return out


def toy_data(n=400, seed=0):
    rng = np.random.default_rng(seed)
    pos = ["great", "fine", "superb", "lovely"]
    neg = ["awful", "bad", "dull", "poor"]
    filler = ["the", "film", "was", "a", "plot", "and", "it", "really"]
    texts, labels = [], []
    for _ in range(n):
        lab = "pos" if rng.random() < 0.5 else "neg"
        words = list(rng.choice(filler, 5)) + [rng.choice(pos if lab == "pos" else neg)]
        rng.shuffle(words)
        texts.append(" ".join(words))
        labels.append(lab)
    return texts, labels


# -- kernels ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("loss", ["softmax", "ova"])
def test_one_sgd_step_matches_numpy(loss):
    from compactemb.train._classifier import LOSSES
    from compactemb.train._classifier_kernels import sgd_example

    rng = np.random.default_rng(1)
    w_in = rng.normal(size=(12, 6)).astype(np.float32)
    w_out = rng.normal(size=(4, 6)).astype(np.float32)
    ids = np.array([3, 7, 7, 0, 11], dtype=np.int64)
    labels = np.array([2, 0], dtype=np.int64)
    ref_in, ref_out = reference_step(w_in, w_out, ids, [2, 0], 2, loss, 0.3)
    hidden, grad, scores = (np.empty(6, np.float32), np.empty(6, np.float32),
                            np.empty(4, np.float32))
    sgd_example(w_in, w_out, ids, 0, ids.size, labels, 0, 2, 2, LOSSES[loss], 0.3,
                hidden, grad, scores)
    np.testing.assert_allclose(w_in, ref_in, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(w_out, ref_out, rtol=1e-5, atol=1e-6)


def test_training_epochs_match_numpy_loop():
    """Two epochs in file order, one thread: the kernel equals reference steps with the
    fastText learning-rate schedule (linear decay by tokens)."""
    from compactemb.train._classifier import LOSSES
    from compactemb.train._classifier_kernels import train_range

    rng = np.random.default_rng(3)
    w_in = rng.normal(scale=0.1, size=(20, 5)).astype(np.float32)
    w_out = np.zeros((3, 5), dtype=np.float32)
    lengths = [3, 1, 4, 2, 5]
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    ids = rng.integers(0, 20, offsets[-1]).astype(np.int64)
    labels = np.array([0, 2, 1, 0, 2], dtype=np.int64)
    label_offsets = np.arange(6, dtype=np.int64)
    weights = np.array(lengths, dtype=np.float64) + 1
    ref_in, ref_out = w_in.copy(), w_out.copy()
    seen, total = 0.0, 2 * weights.sum()
    for _ in range(2):
        for x in range(5):
            lr = 0.2 * (1 - seen / total)
            seen += weights[x]
            ref_in, ref_out = reference_step(ref_in, ref_out, ids[offsets[x]:offsets[x + 1]],
                                             [labels[x]], labels[x], "softmax", lr)
    train_range(w_in, w_out, ids, offsets, labels, label_offsets, weights,
                np.arange(5, dtype=np.int64), 2, 0.2, LOSSES["softmax"], 0,
                np.zeros(1, np.int64), 0, True, False)
    np.testing.assert_allclose(w_in, ref_in, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(w_out, ref_out, rtol=1e-4, atol=1e-6)


def test_ngram_hashing_matches_python():
    from compactemb.train._classifier_kernels import count_ngrams, hash_ngrams

    rng = np.random.default_rng(2)
    hashes = rng.integers(0, 2**32, size=9).astype(np.uint64)
    starts, ends = np.array([0, 4, 5]), np.array([4, 5, 9])
    counts = count_ngrams(starts, ends, 3)
    offsets = np.concatenate([[0], np.cumsum(counts)])
    out = np.empty(offsets[-1], dtype=np.int64)
    hash_ngrams(hashes, starts, ends, 3, 1000, offsets, out)
    expected = []
    for s, e in zip(starts, ends):
        expected += reference_ngram_buckets(hashes[s:e], 3, 1000)
    assert out.tolist() == expected
    assert counts.tolist() == [5, 0, 5]


# -- training and prediction -----------------------------------------------------------------------

def test_learns_planted_keywords_and_predicts():
    texts, labels = toy_data()
    clf = TextClassifier(dim=16, n_buckets=5000, epochs=10, learning_rate=0.5, n_threads=1,
                         random_state=0).fit(texts, labels)
    test, gold = toy_data(200, seed=1)
    res = clf.evaluate(test, gold)
    assert res["accuracy"] == 1.0
    assert sorted(clf.classes_) == ["neg", "pos"]
    p = clf.predict_proba(["superb film", "dull film"])
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-6)
    top = clf.predict(["superb film"], k=2, return_proba=True)[0]
    assert top[0][0] == "pos" and top[0][1] > top[1][1]


def test_predict_proba_matches_full_fasttext_matrix():
    """The compact table equals fastText's (n_words + n_buckets) matrix with unseen rows zero."""
    texts, labels = toy_data(200)
    clf = TextClassifier(dim=8, n_buckets=997, ngrams=3, epochs=3, n_threads=1).fit(texts,
                                                                                      labels)
    nw = len(clf.vocab_)
    full = np.zeros((nw + clf.n_buckets, clf.dim), dtype=np.float64)
    full[:nw] = clf.table_.rows(0, nw)
    full[nw + clf.bucket_ids_] = clf.table_.rows(nw, clf.n_rows)
    queries = ["great plot unknownword", "never seen words at all", "the film was"]
    for q, prob in zip(queries, clf.predict_proba(queries)):
        toks = q.split() + [EOS]
        rows = [clf.vocab_.index[t] for t in toks if t in clf.vocab_.index]
        rows += [nw + b for b in reference_ngram_buckets(
            [zlib.crc32(t.encode()) for t in toks], 3, clf.n_buckets)]
        hidden = full[rows].mean(axis=0)
        z = clf.output_.astype(np.float64) @ hidden
        ref = np.exp(z - z.max())
        np.testing.assert_allclose(prob, ref / ref.sum(), rtol=1e-4, atol=1e-6)


def test_single_thread_is_reproducible_and_threads_learn():
    texts, labels = toy_data(300)
    a = TextClassifier(dim=8, n_buckets=1000, n_threads=1, random_state=3).fit(texts, labels)
    b = TextClassifier(dim=8, n_buckets=1000, n_threads=1, random_state=3).fit(texts, labels)
    np.testing.assert_array_equal(a.table_.weights, b.table_.weights)
    c = TextClassifier(dim=8, n_buckets=1000, epochs=10, learning_rate=0.5, n_threads=2,
                       random_state=3).fit(texts, labels)
    assert c.evaluate(*toy_data(100, seed=5))["accuracy"] == 1.0


def test_multilabel_ova():
    rng = np.random.default_rng(4)
    topics = {"sport": ["goal", "match"], "money": ["bank", "price"], "food": ["soup", "bread"]}
    texts, labels = [], []
    for _ in range(600):
        chosen = list(rng.choice(list(topics), size=rng.integers(1, 3), replace=False))
        words = [w for t in chosen for w in rng.choice(topics[t], 1)] + ["news", "today"]
        rng.shuffle(words)
        texts.append(" ".join(words))
        labels.append(chosen)
    clf = TextClassifier(dim=12, n_buckets=2000, loss="ova", epochs=15, learning_rate=0.5,
                         n_threads=1).fit(texts, labels)
    preds = clf.predict(texts[:200], k=3, threshold=0.5)
    res = classification_metrics(labels[:200], preds, k=2)
    assert res["multi_label"]
    p_at_1, r_at_3 = precision_recall_at_k(labels[:200], preds, 1)[0], \
        precision_recall_at_k(labels[:200], preds, 3)[1]
    assert p_at_1 > 0.95 and r_at_3 > 0.95
    assert all(0.0 <= v <= 1.0 for v in clf.predict_proba(["goal bank"]).ravel())


# -- compression -----------------------------------------------------------------------------------

def test_cutoff_keeps_largest_norm_rows_and_drops_the_rest():
    texts, labels = toy_data(300)
    clf = TextClassifier(dim=8, n_buckets=3000, n_threads=1, epochs=5).fit(texts, labels)
    small = clf.compress("float32", cutoff=20, score="norm")
    assert small.n_rows == 20 and small.missing_ngrams_ == "drop"
    norms = np.linalg.norm(clf.table_.to_dense().weights, axis=1)
    norms[clf.vocab_.index[EOS]] = np.inf
    keep = np.sort(np.argsort(-norms, kind="stable")[:20])
    np.testing.assert_array_equal(small.table_.to_dense().weights, clf.table_.lookup(keep))
    # prediction with pruned rows dropped from the mean, against NumPy on the original rows
    nw = len(clf.vocab_)
    q = "superb film the"
    toks = q.split() + [EOS]
    rows = [clf.vocab_.index[t] for t in toks if t in clf.vocab_.index]
    buckets = reference_ngram_buckets([zlib.crc32(t.encode()) for t in toks], 2, clf.n_buckets)
    rows += [nw + int(np.searchsorted(clf.bucket_ids_, b)) for b in buckets
             if b in set(clf.bucket_ids_.tolist())]
    rows = [r for r in rows if r in set(keep.tolist())]
    hidden = clf.table_.lookup(np.array(rows)).mean(axis=0)
    z = clf.output_ @ hidden
    ref = np.exp(z - z.max())
    np.testing.assert_allclose(small.predict_proba([q])[0], ref / ref.sum(), rtol=1e-4)


def test_usage_score_ranks_by_norm_times_sqrt_training_count():
    texts, labels = toy_data(300)
    clf = TextClassifier(dim=8, n_buckets=3000, n_threads=1, epochs=3).fit(texts, labels)
    ids, _, _ = clf.encode(texts)
    counts = np.bincount(ids, minlength=clf.n_rows)  # every training occurrence of each row
    np.testing.assert_array_equal(clf.row_counts_, counts)
    score = np.linalg.norm(clf.table_.to_dense().weights, axis=1) * np.sqrt(counts)
    score[clf.vocab_.index[EOS]] = np.inf
    keep = np.sort(np.argsort(-score, kind="stable")[:25])
    small = clf.compress("float32", cutoff=25)  # "usage" is the default with row counts
    assert small.train_info_["compression"]["score"] == "usage"
    np.testing.assert_array_equal(small.table_.to_dense().weights, clf.table_.lookup(keep))
    assert small.row_counts_ is None
    assert small.compress("float32", cutoff=10).train_info_["compression"]["score"] == "norm"


@pytest.mark.parametrize("method,options", [("float16", {}), ("int8", {}), ("int4", {}),
                                            ("pq", {"n_subvectors": 4, "n_centroids": 16})])
def test_compressed_kinds_keep_accuracy_and_shrink(method, options, tmp_path):
    texts, labels = toy_data(400)
    clf = TextClassifier(dim=16, n_buckets=4000, epochs=10, learning_rate=0.5,
                         n_threads=1).fit(texts, labels)
    small = clf.compress(method, cutoff=60, retrain=True, texts=texts, labels=labels,
                         **options)
    assert small.table_.kind == ("dense" if method == "float16" else method)
    assert small.nbytes < clf.nbytes / 4
    test, gold = toy_data(200, seed=9)
    assert small.evaluate(test, gold)["accuracy"] >= 0.97
    path = tmp_path / "small.cemb"
    small.save(path)
    back = load(path)
    np.testing.assert_allclose(back.predict_proba(test), small.predict_proba(test), rtol=1e-6)


def test_hashed_words_predict_as_the_word_list(tmp_path):
    texts, labels = toy_data(300)
    clf = TextClassifier(dim=8, n_buckets=3000, n_threads=1, epochs=3).fit(texts, labels)
    hashed = clf.compress("float32", hash_words=True)
    assert hashed.vocab_ is None and hashed.word_hashes_.dtype == np.uint32
    assert np.all(np.diff(hashed.word_hashes_.astype(np.int64)) > 0)
    assert hashed.word_hashes_.tolist() == sorted(zlib.crc32(w.encode())
                                                  for w in clf.vocab_.keys)
    queries = texts[:50] + ["superb unknownword film", ""]
    np.testing.assert_allclose(hashed.predict_proba(queries), clf.predict_proba(queries),
                               rtol=1e-6)
    assert hashed.nbytes < clf.nbytes
    np.testing.assert_array_equal(np.sort(hashed.row_counts_), np.sort(clf.row_counts_))
    small = clf.compress("int8", cutoff=30, hash_words=True)
    path = tmp_path / "h.cemb"
    small.save(path)
    back = load(path)
    assert back.vocab_ is None
    assert not any(k.startswith("vocab.") for k in back.memory_parts(stored_only=True))
    np.testing.assert_array_equal(back.predict_proba(queries), small.predict_proba(queries))
    with pytest.raises(InputError, match="stores its words as hashes"):
        back.word_vectors()


def test_unknown_compression_method():
    clf = TextClassifier(dim=4, n_buckets=100, epochs=1, n_threads=1).fit(*toy_data(50))
    with pytest.raises(InputError, match="unknown compression method 'zip'"):
        clf.compress("zip")
    with pytest.raises(InputError, match="needs the training texts"):
        clf.compress("int8", retrain=True)


# -- storage ---------------------------------------------------------------------------------------

def test_save_load_roundtrip(tmp_path):
    texts, labels = toy_data(200)
    clf = TextClassifier(dim=8, n_buckets=500, n_threads=1, epochs=2).fit(texts, labels)
    path = tmp_path / "clf.cemb"
    clf.save(path)
    back = load(path, mmap=True)
    assert isinstance(back, TextClassifier)
    assert back.classes_ == clf.classes_ and back.missing_ngrams_ == "zero"
    np.testing.assert_array_equal(back.predict_proba(texts), clf.predict_proba(texts))
    parts = back.memory_parts()
    assert parts["input_table.weights"] == clf.n_rows * 8 * 4
    assert back.fasttext_form_nbytes() == \
        (len(clf.vocab_) + 500) * 8 * 4


# -- reading and bad input -------------------------------------------------------------------------

def test_read_fasttext_and_tsv_and_csv(tmp_path):
    ft = tmp_path / "a.txt"
    ft.write_text("__label__pos __label__fun good movie\nbad one __label__neg\n\n",
                  encoding="utf-8")
    texts, labels = read_labelled(ft)
    assert texts == ["good movie", "bad one"] and labels == [["pos", "fun"], ["neg"]]
    tsv = tmp_path / "a.tsv"
    tsv.write_text("label\tsentence\r\n0\ta \"quoted\" text\r\n1\tnice\r\n", encoding="utf-8")
    assert read_labelled(tsv) == (['a "quoted" text', "nice"], [["0"], ["1"]])
    csv_ = tmp_path / "a.csv"
    csv_.write_text('id,body,tags\n1,"hello, world",x|y\n2,bye,z\n', encoding="utf-8")
    texts, labels = read_labelled(csv_, text_column="body", label_column="tags", label_sep="|")
    assert texts == ["hello, world", "bye"] and labels == [["x", "y"], ["z"]]


def test_bad_input_errors(tmp_path):
    ft = tmp_path / "train.txt"
    ft.write_text("__label__a fine\nno label here\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"train.txt: line 2: no label"):
        read_labelled(ft)
    assert read_labelled(ft, unlabelled="skip") == (["fine"], [["a"]])
    empty = tmp_path / "empty.txt"
    empty.write_text("\n", encoding="utf-8")
    with pytest.raises(InputError, match="no labelled examples"):
        read_labelled(empty)
    with pytest.raises(InputError, match="training set is empty"):
        TextClassifier().fit([], [])
    with pytest.raises(InputError, match="single class"):
        TextClassifier().fit(["a", "b"], ["x", "x"])
    with pytest.raises(InputError, match="2 texts but 1 labels"):
        TextClassifier().fit(["a", "b"], ["x"])
    with pytest.raises(InputError, match="^TextClassifier: dim must be an integer >= 1, got 0$"):
        TextClassifier(dim=0).fit(["a", "b"], ["x", "y"])
    with pytest.raises(InputError, match="TextClassifier: loss must be one of 'softmax', 'ova'"):
        TextClassifier(loss="hinge").fit(["a", "b"], ["x", "y"])
    with pytest.raises(NotFittedError):
        TextClassifier().predict(["a"])
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b,c\n1,2,3\n", encoding="utf-8")
    with pytest.raises(InputError, match="cannot tell the text and label columns apart"):
        read_labelled(bad)


def test_unseen_test_labels_are_reported_and_count_as_errors():
    clf = TextClassifier(dim=8, n_buckets=500, epochs=10, learning_rate=0.5,
                         n_threads=1).fit(*toy_data(200))
    res = clf.evaluate(["superb film", "dull film", "a plot"], ["pos", "neg", "meh"])
    assert res["unseen_labels"] == ["meh"] and res["unseen_examples"] == 1
    assert res["accuracy"] == pytest.approx(2 / 3)


# -- metrics ---------------------------------------------------------------------------------------

def test_metrics_match_sklearn():
    sk = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, 300).astype(str)
    p = np.where(rng.random(300) < 0.6, y, rng.integers(0, 5, 300).astype(str))
    res = classification_metrics(list(y), [[x] for x in p])
    assert res["accuracy"] == pytest.approx(sk.accuracy_score(y, p))
    for name in ("precision", "recall", "f1"):
        fn = getattr(sk, f"{name}_score")
        assert res[f"macro_{name}"] == pytest.approx(fn(y, p, average="macro",
                                                        zero_division=0))


def test_metrics_by_hand():
    per = per_class_scores(["a", "a", "b", "c"], [["a"], ["b"], ["b"], ["a"]])
    assert per["a"] == {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2}
    assert per["b"]["precision"] == 0.5 and per["b"]["recall"] == 1.0
    assert per["c"]["f1"] == 0.0
    p, r = precision_recall_at_k([["a", "b"], ["c"]], [["a", "c"], ["c", "a"]], 2)
    assert (p, r) == (0.5, 2 / 3)


# -- real data -------------------------------------------------------------------------------------

@pytest.mark.slow
def test_sst2_accuracy():
    train = shared_file("sst2", "train.tsv")
    test = shared_file("sst2", "test.tsv")
    texts, labels = read_labelled(train)
    clf = TextClassifier(dim=20, n_buckets=200_000, n_threads=2).fit(texts, labels)
    acc = clf.evaluate(*read_labelled(test))["accuracy"]
    assert acc > 0.80, f"SST-2 test accuracy {acc:.3f}; fastText gets about 0.83"
