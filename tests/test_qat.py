"""Quantisation-aware word2vec (Word2Bits, Lam 2018): the quantiser against a literal
transcription of Word2Bits' rules, the QAT kernel against its NumPy twin and against a
hand-written SGD step, trained tables exactly on the levels, the CLI's ``--bits``."""

from __future__ import annotations

import json

import numpy as np
import pytest

from compactemb import InputError, load
from compactemb.cli import main
from compactemb.keyed import KeyedVectors
from compactemb.tables import Bit1Table, Bit2Table, Int4Table
from compactemb.train import FastText, Word2Vec
from compactemb.train._word2vec import (
    alias_tables,
    keep_thresholds,
    qat_table,
    reference_train_job,
    word2bits_codes,
    word2bits_levels,
)

KINDS = {1: Bit1Table, 2: Bit2Table, 4: Int4Table}


def _word2bits_value(x: float, bits: int) -> float:
    """Word2Bits' ``quantize`` written out: the sign, then the cell of ``|x|``."""
    if bits == 1:
        return 1 / 3 if x >= 0 else -1 / 3
    sign = -1.0 if x < 0 else 1.0
    half = 2 ** (bits - 1)
    for k in range(half):
        if abs(x) <= (k + 1) / half:  # 2 bits: |x| <= 0.5 -> 0.25, else 0.75
            return sign * (2 * k + 1) / (2 * half)
    return sign * (2 * half - 1) / (2 * half)  # clipped


def _probe_values() -> np.ndarray:
    """Every cell boundary of every bit width (exactly and one float32 step off), 0, -0.0,
    values beyond +-1 and random values."""
    edges = np.concatenate([np.arange(-8, 9) / 8, np.arange(-2, 3) / 2])
    x = np.concatenate([edges, np.nextafter(edges.astype(np.float32), np.float32(2)),
                        np.nextafter(edges.astype(np.float32), np.float32(-2)),
                        [0.0, -0.0, 3.5, -7.0, 1e-30, -1e-30],
                        np.random.default_rng(0).normal(0, 0.7, 500)])
    return x.astype(np.float32)


@pytest.mark.parametrize("bits", [1, 2, 4])
def test_quantiser_matches_word2bits_rules(bits):
    from compactemb.train._word2vec_kernels import _level_index, _quantize_units

    x = _probe_values()
    want = np.array([_word2bits_value(float(v), bits) for v in x])
    levels = word2bits_levels(bits)
    assert levels.size == 2 ** bits and np.all(np.diff(levels) > 0)
    np.testing.assert_allclose(levels[word2bits_codes(x, bits)], want, rtol=1e-7, atol=0)
    # the kernel's two forms: code index (for the table) and value in units (for training)
    assert [_level_index(v, bits) for v in x] == word2bits_codes(x, bits).tolist()
    units = np.empty_like(x)
    _quantize_units(x, bits, units)
    unit = np.float32(levels[-1] / np.float32(2 ** bits - 1))
    np.testing.assert_array_equal(units * unit, levels[word2bits_codes(x, bits)])


def test_quantiser_rejects_other_widths():
    with pytest.raises(InputError, match="bits must be one of 1, 2, 4, got 3"):
        word2bits_levels(3)
    with pytest.raises(InputError, match="bits must be one of 1, 2, 4, got 8"):
        word2bits_codes([0.1], 8)


def _job(seed, vocab_size=15, dim=6, n=200):
    from compactemb.train._word2vec_kernels import sigmoid_tables

    rng = np.random.default_rng(seed)
    counts = np.sort(rng.integers(1, 300, vocab_size))[::-1].astype(np.int64)
    tokens = rng.integers(0, vocab_size, n).astype(np.int32)
    tokens[rng.choice(n, 12, replace=False)] = -1
    syn0 = (rng.random((vocab_size, dim)) - 0.5).astype(np.float32)
    syn1 = (rng.random((vocab_size, dim)) - 0.5).astype(np.float32)
    return tokens, syn0, syn1, (keep_thresholds(counts, 1e-2), *alias_tables(counts),
                                *sigmoid_tables())


@pytest.mark.parametrize("bits", [1, 2, 4])
@pytest.mark.parametrize("sg,cbow_mean,shared", [(True, True, True), (True, True, False),
                                                 (False, True, False), (False, False, False)])
def test_qat_kernel_equals_twin(bits, sg, cbow_mean, shared):
    from compactemb.train._word2vec_kernels import train_job_qat
    from compactemb.train._word2vec_twins import train_job_qat as twin

    tokens, syn0, syn1, tables = _job(bits)
    args = (*tables, sg, cbow_mean, shared, 3, 4, bits, word2bits_levels(bits), 0.05, 0.01,
            987654321)
    a0, a1, b0, b1 = syn0.copy(), syn1.copy(), syn0.copy(), syn1.copy()
    got = train_job_qat(tokens, a0, a1, *args)
    want = twin(tokens, b0, b1, *args)
    assert got[1:] == want[1:]
    assert got[0] == pytest.approx(want[0], rel=1e-6)
    np.testing.assert_allclose(a0, b0, atol=1e-6)
    np.testing.assert_allclose(a1, b1, atol=1e-6)
    assert np.abs(a0 - syn0).max() > 1e-2 and np.abs(a1 - syn1).max() > 1e-2  # it trained


@pytest.mark.parametrize("bits", [1, 2, 4])
def test_qat_step_is_the_straight_through_gradient(bits):
    """Two words, window 1, one negative that is always row 0: the kernel's and the twin's
    update is the gradient of log sigmoid(Q(u).Q(v)) + log sigmoid(-Q(u).Q(n)) with respect to
    the quantised values, applied to the full-precision rows."""
    from compactemb.train._word2vec_kernels import sigmoid_tables, train_job_qat

    rng = np.random.default_rng(7)
    syn0 = (rng.random((6, 5)) - 0.5).astype(np.float32)
    syn1 = (rng.random((6, 5)) - 0.5).astype(np.float32)
    exp_t, log_t = sigmoid_tables()
    keep = np.full(6, 2**32, dtype=np.uint64)
    never, only_row0 = np.zeros(6, dtype=np.uint64), np.zeros(6, dtype=np.int32)
    levels = word2bits_levels(bits)

    def q(v):
        return np.array([_word2bits_value(float(x), bits) for x in v])

    want0, want1 = syn0.astype(np.float64), syn1.astype(np.float64)
    for center, context in ((2, 5), (5, 2)):
        u = q(want0[context])
        grad = np.zeros_like(u)
        for target, label in ((center, 1), (0, 0)):
            out = q(want1[target])
            f = u @ out
            g = 0.1 * (label - 1 / (1 + np.exp(-f)))
            grad += g * out
            want1[target] += g * u
        want0[context] += grad
    for step in (reference_train_job, None):
        got0, got1 = syn0.copy(), syn1.copy()
        job_args = (np.array([2, 5, -1], np.int32), got0, got1, keep, never, only_row0, exp_t,
                    log_t, True, True, False, 1, 1)
        if step is None:
            train_job_qat(*job_args, bits, levels, 0.1, 0.1, 5)
        else:
            step(*job_args, 0.1, 0.1, 5, bits=bits, levels=levels)
        np.testing.assert_allclose(got0, want0, rtol=0, atol=3e-4)
        np.testing.assert_allclose(got1, want1, rtol=0, atol=3e-4)
    assert np.abs(want1 - syn1).max() > 5e-3


def test_saturated_scores_still_move_the_weights():
    """A negative scored above +6 (all 16 columns at +3/4 . +3/4 = 9) gets the limit of the
    gradient, -alpha * Q(u); the float kernel skips such pairs (as gensim)."""
    from compactemb.train._word2vec_kernels import sigmoid_tables, train_job_qat

    syn0 = np.full((3, 16), 0.9, np.float32)
    syn1 = np.full((3, 16), 0.9, np.float32)
    exp_t, log_t = sigmoid_tables()
    keep = np.full(3, 2**32, dtype=np.uint64)
    never, only_row0 = np.zeros(3, dtype=np.uint64), np.zeros(3, dtype=np.int32)
    got0, got1 = syn0.copy(), syn1.copy()
    train_job_qat(np.array([1, 2, -1], np.int32), got0, got1, keep, never, only_row0, exp_t,
                  log_t, True, True, False, 1, 1, 2, word2bits_levels(2), 0.1, 0.1, 5)
    # row 0 is the negative of both pairs: twice -0.1 * 0.75 per column
    np.testing.assert_allclose(got1[0], 0.9 - 2 * 0.1 * 0.75, rtol=1e-6)


@pytest.mark.parametrize("bits", [1, 2, 4])
def test_qat_table_decodes_to_the_levels(bits):
    w = np.random.default_rng(1).normal(0, 0.6, (40, 13)).astype(np.float32)
    table = qat_table(w, bits)
    assert isinstance(table, KINDS[bits])
    want = word2bits_levels(bits)[word2bits_codes(w, bits)]
    np.testing.assert_array_equal(table.lookup(np.arange(40)), want)
    row_bytes = -(-13 * bits // 8) + (4 if bits == 4 else 0)
    assert table.nbytes <= 40 * row_bytes + 64  # codes, plus levels/scales of a few bytes


def _group_margin(kv) -> float:
    """Mean cosine of two animals (or two foods) minus that of an animal and a food."""
    animals, foods = ["cat", "dog", "horse", "cow"], ["bread", "cheese", "apple", "soup"]
    x = kv[animals + foods].astype(np.float64)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    sims = x @ x.T
    same = np.kron(np.eye(2), np.ones((4, 4))).astype(bool)
    return float(sims[same & ~np.eye(8, dtype=bool)].mean() - sims[~same].mean())


@pytest.mark.parametrize("bits,sg", [(1, True), (2, True), (4, True), (1, False)])
def test_training_gives_vectors_on_the_levels(small_corpus, tmp_path, bits, sg):
    model = Word2Vec(16, sg=sg, bits=bits, epochs=5, min_count=1, n_threads=1, window=3,
                     sample=0, random_state=1).fit(small_corpus)
    kv = model.model_
    assert isinstance(kv, KeyedVectors) and isinstance(kv.table, KINDS[bits])
    values = kv.table.lookup(np.arange(len(kv)))
    assert set(np.unique(values)) <= set(word2bits_levels(bits).tolist())
    np.testing.assert_array_equal(  # Word2Bits' output: codes of input + output weights
        values, word2bits_levels(bits)[word2bits_codes(
            model.shadow_weights_ + model.output_weights_, bits)])
    # float32 vectors give 0.6 (skip-gram) and 0.17 (CBOW); random ones about 0
    assert _group_margin(kv) > 0.15
    assert kv.meta["qat"]["bits"] == bits and kv.meta["params"]["bits"] == bits
    assert model.memory_parts()["input_vectors.shadow_weights (training)"] == \
        model.shadow_weights_.nbytes
    kv.save(tmp_path / "q.cemb")
    again = load(tmp_path / "q.cemb")
    assert again.table.kind == kv.table.kind
    np.testing.assert_array_equal(again.table.lookup(np.arange(len(kv))), values)


def test_input_vectors_option_and_single_thread_determinism(small_corpus):
    def fit(**kw):
        return Word2Vec(8, bits=1, epochs=2, min_count=1, n_threads=1, random_state=3,
                        **kw).fit(small_corpus)

    a, b, c = fit(), fit(), fit(qat_vectors="input")
    np.testing.assert_array_equal(a.table_.codes, b.table_.codes)
    np.testing.assert_array_equal(a.shadow_weights_, c.shadow_weights_)  # same training
    np.testing.assert_array_equal(
        c.table_.lookup(np.arange(c.table_.n_rows)),
        word2bits_levels(1)[word2bits_codes(c.shadow_weights_, 1)])


@pytest.mark.parametrize("params,match", [
    ({"bits": 3}, "Word2Vec: bits must be one of None, 1, 2, 4, got 3"),
    ({"bits": 1, "qat_vectors": "output"},
     "Word2Vec: qat_vectors must be one of 'sum', 'input', got 'output'"),
])
def test_bad_qat_parameters(small_corpus, params, match):
    with pytest.raises(InputError, match=match):
        Word2Vec(8, min_count=1, **params).fit(small_corpus)


def test_float_training_and_fasttext_are_untouched(small_corpus):
    model = Word2Vec(8, epochs=1, min_count=1, n_threads=1).fit(small_corpus)
    assert model.table_.kind == "dense" and model.shadow_weights_ is None
    assert "qat" not in model.meta_
    assert "bits" not in FastText().get_params()


def test_cli_bits_writes_the_compact_kind(tmp_path, small_corpus, capsys):
    for bits, method in ((1, "sgns"), (2, "cbow"), (4, "sgns")):
        out = tmp_path / f"q{bits}.cemb"
        rc = main(["train", "words", str(small_corpus), "--method", method, "--dim", "16",
                   "--epochs", "2", "--threads", "1", "--min-count", "1", "--bits", str(bits),
                   "-o", str(out), "--json", "--quiet"])
        assert rc == 0
        report = json.loads(capsys.readouterr().out)
        kv = load(out)
        assert kv.table.kind == KINDS[bits].kind == report["table_kind"]
        assert report["table_bytes"] == kv.table.nbytes
        assert kv.meta["params"]["bits"] == bits


@pytest.mark.parametrize("extra,message", [
    (["--method", "sgns", "--bits", "3"], "--bits must be 1, 2 or 4, got 3"),
    (["--method", "sgns", "--bits", "0"], "--bits must be 1, 2 or 4, got 0"),
    (["--method", "sgns", "--bits", "1", "--subwords"], "--bits does not apply to --subwords"),
    (["--method", "svd", "--bits", "1"], "--bits applies to --method sgns or cbow, not svd"),
])
def test_cli_bad_bits(tmp_path, small_corpus, capsys, extra, message):
    out = tmp_path / "x.cemb"
    rc = main(["train", "words", str(small_corpus), *extra, "-o", str(out)])
    assert rc == 1 and message in capsys.readouterr().err
    assert not out.exists()


def test_float_warm_start_epochs(small_corpus, monkeypatch):
    """``float_epochs=1``: the first epoch runs the float kernel, the next the QAT kernel."""
    from compactemb.train import _word2vec_kernels as kern

    calls = []
    for name in ("train_job", "train_job_qat"):
        real = getattr(kern, name)

        def record(*args, _real=real, _name=name):
            calls.append(_name)
            return _real(*args)

        monkeypatch.setattr(kern, name, record)
    model = Word2Vec(16, bits=2, epochs=2, float_epochs=1, min_count=1, n_threads=1,
                     window=3, sample=0, job_tokens=1000, random_state=1).fit(small_corpus)
    jobs = model.meta_["jobs_per_epoch"]
    assert jobs >= 2 and calls == ["train_job"] * jobs + ["train_job_qat"] * jobs
    values = model.table_.lookup(np.arange(model.table_.n_rows))
    assert set(np.unique(values)) <= set(word2bits_levels(2).tolist())
    assert _group_margin(model.model_) > 0.15
    with pytest.raises(InputError, match="float_epochs must be < epochs=2 with bits, got 2"):
        Word2Vec(8, bits=1, epochs=2, float_epochs=2, min_count=1).fit(small_corpus)
