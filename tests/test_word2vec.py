"""Word2Vec (skip-gram / CBOW with negative sampling): kernel against its NumPy twin, the
token cache against the vocabulary code, determinism, quality on the bundled Austen corpus,
CLI, bad input and interruption."""

from __future__ import annotations

import gzip
import math
import os

import numpy as np
import pytest

from compactemb import InputError, KeyedVectors, load
from compactemb.cli import main
from compactemb.exceptions import NotFittedError
from compactemb.text import Tokenizer
from compactemb.train import Word2Vec
from compactemb.train._word2vec import (
    alias_distribution,
    alias_tables,
    keep_thresholds,
    reference_train_job,
    tokenize_to_cache,
)
from compactemb.vocab import Vocab


def _tiny_job(seed=0, vocab_size=25, dim=6, n=240):
    rng = np.random.default_rng(seed)
    counts = np.sort(rng.integers(1, 300, vocab_size))[::-1].astype(np.int64)
    tokens = rng.integers(0, vocab_size, n).astype(np.int32)
    tokens[rng.choice(n, 15, replace=False)] = -1
    tokens[-1] = -1
    syn0 = ((rng.random((vocab_size, dim)) - 0.5) / dim).astype(np.float32)
    syn1 = ((rng.random((vocab_size, dim)) - 0.5) * 0.5).astype(np.float32)  # not all zero
    return counts, tokens, syn0, syn1


@pytest.mark.parametrize("sg,cbow_mean,shared", [(True, True, True), (True, True, False),
                                                 (False, True, False), (False, False, False)])
def test_kernel_matches_numpy_reference(sg, cbow_mean, shared):
    from compactemb.train._word2vec_kernels import sigmoid_tables, train_job

    counts, tokens, syn0, syn1 = _tiny_job()
    exp_t, log_t = sigmoid_tables()
    args = (keep_thresholds(counts, 1e-2), *alias_tables(counts), exp_t, log_t, sg, cbow_mean,
            shared, 3, 4, 0.05, 0.01, 987654321)
    a0, a1 = syn0.copy(), syn1.copy()
    b0, b1 = syn0.copy(), syn1.copy()
    got = train_job(tokens, a0, a1, *args)
    want = reference_train_job(tokens, b0, b1, *args)
    assert got[1:] == want[1:]  # same examples and kept words: same RNG stream and windows
    assert got[0] == pytest.approx(want[0], rel=1e-5)
    np.testing.assert_allclose(a0, b0, atol=2e-6)
    np.testing.assert_allclose(a1, b1, atol=2e-6)
    assert np.abs(a0 - syn0).max() > 1e-3  # it did train
    assert np.abs(a1 - syn1).max() > 1e-3


def test_reference_step_is_the_sgns_gradient():
    """Two words, window 1, one negative that is always row 0: the twin's update is the
    hand-written gradient step of log sigmoid(u.v) + log sigmoid(-u.n) (up to the table)."""
    from compactemb.train._word2vec_kernels import sigmoid_tables

    _, _, syn0, syn1 = _tiny_job(seed=3)
    exp_t, log_t = sigmoid_tables()
    keep = np.full(syn0.shape[0], 2**32, dtype=np.uint64)  # keep every token
    never = np.zeros(syn0.shape[0], dtype=np.uint64)  # no slot accepted: always the alias,
    only_row0 = np.zeros(syn0.shape[0], dtype=np.int32)  # which is row 0
    got0, got1 = syn0.copy(), syn1.copy()
    loss, terms, kept = reference_train_job(np.array([2, 5, -1], np.int32), got0, got1, keep,
                                            never, only_row0, exp_t, log_t, True, True, False,
                                            1, 1, 0.1, 0.1, 5)
    want0, want1 = syn0.astype(np.float64), syn1.astype(np.float64)
    expected_loss = 0.0
    for center, context in ((2, 5), (5, 2)):  # each word predicts the other
        u = want0[context].copy()
        grad = np.zeros_like(u)
        for target, label in ((center, 1), (0, 0)):
            f = u @ want1[target]
            g = 0.1 * (label - 1 / (1 + np.exp(-f)))
            expected_loss += np.log1p(np.exp(-f if label else f))
            grad += g * want1[target]
            want1[target] += g * u
        want0[context] += grad
    assert (kept, terms) == (2, 4)
    assert loss == pytest.approx(expected_loss, rel=2e-2)
    np.testing.assert_allclose(got0, want0, rtol=0, atol=2e-4)
    np.testing.assert_allclose(got1, want1, rtol=0, atol=2e-4)
    assert np.abs(want1 - syn1).max() > 5e-3  # the step is large enough to be checked


def test_sampling_tables_follow_word2vec_formulas():
    counts = np.array([1000, 300, 10, 1], dtype=np.int64)
    thr = keep_thresholds(counts, 1e-2)
    total = counts.sum()
    for c, t in zip(counts, thr):
        p = min(1.0, (math.sqrt(c / (1e-2 * total)) + 1) * 1e-2 * total / c)
        assert int(t) == round(p * 2**32)
    assert (keep_thresholds(counts, 0) == 2**32).all()


@pytest.mark.parametrize("exponent", [0.75, 1.0, 0.0])
def test_alias_tables_give_the_unigram_power_distribution(exponent):
    rng = np.random.default_rng(2)
    counts = np.sort(rng.integers(1, 10_000, 300))[::-1].astype(np.int64)
    prob, alias = alias_tables(counts, exponent)
    w = counts.astype(np.float64) ** exponent
    np.testing.assert_allclose(alias_distribution(prob, alias), w / w.sum(), rtol=1e-6,
                               atol=1e-12)
    # and the kernel's sampler draws from it: frequencies of 200,000 draws
    import numba as nb

    from compactemb.train._word2vec_kernels import _draw_negative

    @nb.njit
    def draw_many(prob, alias, n, seed):
        out = np.zeros(prob.shape[0], np.int64)
        state = np.uint64(seed)
        for _ in range(n):
            row, state = _draw_negative(prob, alias, state)
            out[row] += 1
        return out

    freq = draw_many(prob, alias, 300_000, 11) / 300_000
    total_variation = 0.5 * np.abs(freq - w / w.sum()).sum()
    assert total_variation < 0.02, total_variation  # ~0.013 expected from sampling noise alone
    assert freq[0] > freq[-1] or exponent == 0.0


def test_sampling_tables_without_counts():
    zero = np.zeros(4, dtype=np.int64)  # e.g. a vocabulary given without counts
    assert (keep_thresholds(zero, 1e-3) == 2**32).all()
    np.testing.assert_allclose(alias_distribution(*alias_tables(zero)), 0.25)


def test_sampling_matches_gensim():
    pytest.importorskip("gensim")
    from gensim.models import Word2Vec as GensimW2V

    sentences = [["a"] * 50 + ["b"] * 20 + ["c"] * 5 + ["d"] * 2] * 3
    g = GensimW2V(sentences, vector_size=4, min_count=1, sample=1e-2, epochs=1, workers=1)
    counts = np.array([g.wv.get_vecattr(k, "count") for k in g.wv.index_to_key])
    gensim_p = np.diff(np.concatenate([[0], g.cum_table])) / float(g.cum_table[-1])
    np.testing.assert_allclose(alias_distribution(*alias_tables(counts)), gensim_p, rtol=1e-6)
    gensim_keep = np.array([g.wv.get_vecattr(k, "sample_int") for k in g.wv.index_to_key])
    np.testing.assert_allclose(keep_thresholds(counts, 1e-2).astype(np.float64),
                               gensim_keep.astype(np.float64), rtol=1e-6)


def test_token_cache_matches_vocab_and_encoding(tmp_path, small_corpus):
    cache = str(tmp_path / "tokens.i32")
    vocab, stats = tokenize_to_cache(small_corpus, cache, min_count=2, job_tokens=300)
    ref = Vocab.from_corpus(small_corpus, min_count=2)
    assert vocab.keys == ref.keys
    np.testing.assert_array_equal(vocab.counts, ref.counts)
    stream = np.concatenate(list(ref.encode_corpus(small_corpus)))
    np.testing.assert_array_equal(np.fromfile(cache, dtype=np.int32), stream)
    assert stats["tokens"] == int((stream >= 0).sum())
    bounds = stats["bounds"]
    assert bounds[0] == 0 and bounds[-1] == stream.size and np.all(np.diff(bounds) > 0)
    assert all(stream[b - 1] == -1 for b in bounds[1:])  # jobs end at sentence ends
    # an explicit vocabulary gives the same stream
    cache2 = str(tmp_path / "tokens2.i32")
    _, stats2 = tokenize_to_cache(small_corpus, cache2, vocab=ref, job_tokens=300)
    np.testing.assert_array_equal(np.fromfile(cache2, dtype=np.int32), stream)


def test_one_huge_line_trains_in_full(tmp_path):
    rng = np.random.default_rng(1)
    words = [f"w{i}" for i in range(40)]
    text = " ".join(rng.choice(words, 250_000))  # ~1.2 MB, no newline at all
    path = tmp_path / "oneline.txt.gz"
    with gzip.open(path, "wt", encoding="utf-8") as f:
        f.write(text)
    model = Word2Vec(8, epochs=1, n_threads=1, min_count=1,
                     tokenizer=Tokenizer(r"\S+")).fit(path)
    assert model.meta_["corpus_tokens"] == 250_000  # gensim would keep 10,000
    assert model.meta_["trained_tokens"] == 250_000
    assert model.meta_["jobs_per_epoch"] >= 2


def test_single_thread_is_deterministic(small_corpus):
    def vectors(seed):
        return Word2Vec(16, epochs=2, n_threads=1, min_count=1, job_tokens=1000,
                        random_state=seed).fit(small_corpus).table_.weights

    a, b, c = vectors(7), vectors(7), vectors(8)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_fit_result_and_metadata(tmp_path, small_corpus):
    model = Word2Vec(12, sg=False, epochs=3, n_threads=2, min_count=1, job_tokens=1000)
    with pytest.raises(NotFittedError):
        model.keyed_vectors()
    assert model.fit(small_corpus) is model
    kv = model.keyed_vectors()
    assert kv.dim == 12 and len(kv) == len(model.vocab_)
    log = kv.meta["training_log"]
    assert [e["epoch"] for e in log] == [1, 2, 3]
    assert all(e["loss"] > 0 and e["examples"] > 0 for e in log)
    assert model.loss_[-1] < model.loss_[0]
    assert model.output_weights_.shape == (len(kv), 12)
    parts = model.memory_parts()
    assert parts["input_vectors.weights"] == len(kv) * 12 * 4
    assert parts["token_cache_file (disk, deleted after fit)"] == model.meta_["token_cache_bytes"]
    out = tmp_path / "v.cemb"
    kv.save(out)
    back = load(out)
    assert isinstance(back, KeyedVectors)
    assert back.meta["training_log"][2]["loss"] == pytest.approx(log[2]["loss"])
    np.testing.assert_array_equal(back.table.to_dense().weights, kv.table.weights)


def test_initial_vectors_use_gensims_range():
    vocab = Vocab([f"w{i}" for i in range(400)], np.arange(400, 0, -1))
    state = Word2Vec(50, random_state=3)._init_state(vocab)
    syn0 = state["syn0"]
    assert syn0.dtype == np.float32 and syn0.shape == (400, 50)
    assert syn0.min() >= -1 / 50 and syn0.max() < 1 / 50  # gensim 4: uniform [-1/dim, 1/dim)
    assert syn0.min() < -0.9 / 50 and syn0.max() > 0.9 / 50
    assert not state["syn1neg"].any()


def test_iterable_corpus_of_token_lists():
    sents = [["a", "b", "c", "a", "b"], ["c", "a", "d"]] * 50
    model = Word2Vec(5, min_count=2, epochs=1, n_threads=1).fit(sents)
    assert set(model.vocab_.keys) == {"a", "b", "c", "d"}
    assert model.meta_["corpus_tokens"] == 400


@pytest.mark.parametrize("params,match", [
    ({"dim": 0}, "^Word2Vec: dim must be an integer >= 1, got 0$"),
    ({"window": 0}, "Word2Vec: window must be an integer >= 1"),
    ({"negative": 0}, "Word2Vec: negative must"), ({"epochs": 1.5}, "Word2Vec: epochs must"),
    ({"learning_rate": 0.0}, r"Word2Vec: learning_rate must be a number > 0, got 0\.0"),
    ({"sample": -1.0}, "Word2Vec: sample must be a number >= 0"),
    ({"min_learning_rate": 0.5}, "Word2Vec: min_learning_rate must be <= learning_rate=0.025"),
    ({"n_threads": 0}, "Word2Vec: n_threads must be an integer >= 1 or None, got 0"),
])
def test_bad_parameters(small_corpus, params, match):
    with pytest.raises(InputError, match=match):
        Word2Vec(**params).fit(small_corpus)


def test_bad_corpora(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("  \n 123 \n", encoding="utf-8")
    with pytest.raises(InputError, match="no tokens"):
        Word2Vec(8).fit(empty)
    rare = tmp_path / "rare.txt"
    rare.write_text("one two three\n", encoding="utf-8")
    with pytest.raises(InputError, match="min_count=5"):
        Word2Vec(8).fit(rare)
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"fine line\n\xff\xfe broken\n")
    with pytest.raises(InputError, match="line 2"):
        Word2Vec(8, min_count=1).fit(bad)


@pytest.mark.slow
@pytest.mark.parametrize("sg", [True, False])
def test_quality_on_austen(austen_path, sg):
    kv = Word2Vec(50, sg=sg, epochs=3 if sg else 5, n_threads=2,
                  random_state=1).fit(austen_path).keyed_vectors()
    near = [w for w, _ in kv.neighbors(["brother"], k=10)[0]]
    assert "sister" in near, near
    related = [("brother", "sister"), ("mother", "father"), ("aunt", "uncle"),
               ("daughter", "son"), ("happy", "glad"), ("morning", "evening")]
    rng = np.random.default_rng(0)
    words = kv.vocab.keys[:2000]
    rand = [kv.similarity(*rng.choice(words, 2, replace=False)) for _ in range(300)]
    sims = [kv.similarity(a, b) for a, b in related]
    assert np.mean(sims) > np.percentile(rand, 95), (sims, np.percentile(rand, 95))
    assert min(sims) > np.median(rand), (sims, np.median(rand))
    # an ordinary table: 3CosAdd and 3CosMul work unchanged
    for method in ("add", "mul"):
        answers = [w for w, _ in kv.analogy("brother", "sister", "father", k=5, method=method)]
        assert "mother" in answers, (method, answers)


def test_cli_train_words_sgns_and_cbow(tmp_path, small_corpus, capsys):
    for method in ("sgns", "cbow"):
        out = tmp_path / f"{method}.cemb"
        rc = main(["train", "words", str(small_corpus), "--method", method, "--dim", "10",
                   "--epochs", "2", "--threads", "1", "--min-count", "1", "--negative", "3",
                   "--sample", "0", "--learning-rate", "0.03", "-o", str(out), "--json", "--quiet"])
        assert rc == 0
        kv = load(out)
        assert kv.dim == 10
        params = kv.meta["params"]
        assert params["method"] == method and params["window"] == 5
        assert params["negative"] == 3 and params["learning_rate"] == 0.03 and params["sample"] == 0
        assert len(kv.meta["training_log"]) == 2
    capsys.readouterr()
    rc = main(["neighbors", str(tmp_path / "sgns.cemb"), "cat", "-k", "3"])
    assert rc == 0 and "cat:" in capsys.readouterr().out


def test_cli_bad_options_and_missing_directory(tmp_path, small_corpus, capsys):
    rc = main(["train", "words", str(small_corpus), "--method", "sgns", "--negative", "0",
               "-o", str(tmp_path / "x.cemb")])
    assert rc == 1 and "--negative must be > 0" in capsys.readouterr().err
    rc = main(["train", "words", str(small_corpus), "--method", "cbow",
               "-o", str(tmp_path / "nodir" / "x.cemb")])
    assert rc == 1 and "does not exist" in capsys.readouterr().err


def test_interrupt_leaves_no_output(tmp_path, small_corpus, monkeypatch, capsys):
    import tempfile

    from compactemb.train import _word2vec_kernels

    calls = {"n": 0}
    real = _word2vec_kernels.train_job

    def interrupted(*args):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real(*args)

    monkeypatch.setattr(_word2vec_kernels, "train_job", interrupted)
    cache_dir = tmp_path / "cache"
    cache_dir.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(cache_dir))
    out = tmp_path / "out.cemb"
    rc = main(["train", "words", str(small_corpus), "--method", "sgns", "--dim", "8",
               "--min-count", "1", "--threads", "2", "--epochs", "3", "-o", str(out)])
    assert rc == 130 and "interrupted" in capsys.readouterr().err
    assert not out.exists()
    assert os.listdir(cache_dir) == []  # the token cache is removed too
