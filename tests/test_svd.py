"""Count-based embeddings: co-occurrence, PPMI and SVD against slow NumPy references."""

from __future__ import annotations

import math

import numpy as np
import pytest

from compactemb import InputError, Vocab
from compactemb.interactions import Interactions
from compactemb.train import PPMISVD, PureSVD, cooccurrence, ppmi, randomized_svd


def reference_cooc(sentences, vocab, window, weighting):
    n = len(vocab)
    m = np.zeros((n, n))
    for sent in sentences:
        ids = [vocab.index[t] for t in sent if t in vocab.index]
        for i, w in enumerate(ids):
            for j in range(max(0, i - window), min(len(ids), i + window + 1)):
                if j == i:
                    continue
                d = abs(i - j)
                x = {"uniform": 1.0, "harmonic": 1.0 / d,
                     "linear": (window - d + 1) / window}[weighting]
                m[w, ids[j]] += x
    return m


def reference_ppmi(counts, cds, shift):
    n_w = counts.sum(axis=1)
    n_c = counts.sum(axis=0) ** cds
    total_c = n_c.sum()
    out = np.zeros_like(counts)
    for i in range(counts.shape[0]):
        for j in range(counts.shape[1]):
            if counts[i, j] > 0:
                pmi = math.log(counts[i, j] * total_c / (n_w[i] * n_c[j])) - math.log(shift)
                out[i, j] = max(pmi, 0.0)
    return out


def sentences_of(path):
    from compactemb.text import iter_sentences

    return list(iter_sentences(path))


@pytest.mark.parametrize("weighting", ["uniform", "harmonic", "linear"])
def test_cooccurrence_matches_reference(small_corpus, weighting):
    vocab = Vocab.from_corpus(small_corpus, min_count=30)  # drops rare words mid-sentence
    got = cooccurrence(vocab.encode_corpus(small_corpus, chunk_tokens=500), len(vocab),
                       window=3, weighting=weighting).toarray()
    ref = reference_cooc(sentences_of(small_corpus), vocab, 3, weighting)
    np.testing.assert_allclose(got, ref, rtol=1e-12)
    np.testing.assert_allclose(got, got.T)


@pytest.mark.parametrize("cds,shift", [(0.75, 1.0), (1.0, 5.0)])
def test_ppmi_matches_reference(small_corpus, cds, shift):
    vocab = Vocab.from_corpus(small_corpus, min_count=1)
    counts = cooccurrence(vocab.encode_corpus(small_corpus), len(vocab), window=2)
    got = ppmi(counts, cds=cds, shift=shift).toarray()
    np.testing.assert_allclose(got, reference_ppmi(counts.toarray(), cds, shift), rtol=1e-5,
                               atol=1e-6)
    assert (got >= 0).all()


def test_randomized_svd_matches_lapack():
    rng = np.random.default_rng(0)
    # a matrix with a decaying spectrum, as PPMI matrices have
    u, _ = np.linalg.qr(rng.standard_normal((300, 300)))
    v, _ = np.linalg.qr(rng.standard_normal((200, 200)))
    s = 1.0 / np.arange(1, 201) ** 1.0
    a = ((u[:, :200] * s) @ v.T).astype(np.float32)
    uu, ss, vt = randomized_svd(a, 10, n_iter=6, random_state=1)
    np.testing.assert_allclose(ss, s[:10], rtol=1e-3)
    ref = (u[:, :10] * s[:10]) @ v[:, :10].T
    np.testing.assert_allclose((uu * ss) @ vt, ref, atol=2e-4)
    uu2, _, _ = randomized_svd(a, 10, n_iter=6, random_state=1)
    np.testing.assert_array_equal(uu, uu2)  # deterministic for a seed


def test_ppmisvd_equals_dense_reference(small_corpus):
    model = PPMISVD(dim=5, window=2, min_count=1, n_iter=8, random_state=0).fit(small_corpus)
    vocab = model.vocab_
    counts = reference_cooc(sentences_of(small_corpus), vocab, 2, "linear")
    m = reference_ppmi(counts, 0.75, 1.0)
    u, s, _ = np.linalg.svd(m)
    ref = u[:, :5] * s[:5] ** 0.5
    got = model.table_.weights
    # compare sign-free: the Gram matrices of the embeddings
    np.testing.assert_allclose(got @ got.T, ref @ ref.T, atol=2e-3)
    np.testing.assert_allclose(model.singular_values_, s[:5], rtol=1e-3)
    assert model.meta_["params"]["dim"] == 5


def test_ppmisvd_learns_structure_on_austen(austen_path):
    kv = PPMISVD(dim=50, window=2, random_state=0).fit(austen_path).keyed_vectors()
    family = {k for k, _ in kv.neighbors(["brother"], k=10)[0]}
    assert {"sister", "father"} <= family
    assert kv.similarity("brother", "sister") > kv.similarity("brother", "carriage") + 0.2


def test_ppmisvd_bad_inputs(small_corpus, tmp_path):
    with pytest.raises(InputError, match="PPMISVD: dim must be an integer >= 1, got 0"):
        PPMISVD(dim=0).fit(small_corpus)
    with pytest.raises(InputError, match="smaller than the vocabulary size"):
        PPMISVD(dim=500, min_count=1).fit(small_corpus)
    one = tmp_path / "one.txt"
    one.write_text("alpha\nbeta\ngamma\ndelta\n")
    with pytest.raises(InputError, match="no word pairs"):
        PPMISVD(dim=2, min_count=1).fit(one)


def test_puresvd_factors_reconstruct_matrix():
    rng = np.random.default_rng(2)
    users = rng.integers(0, 40, 600)
    items = rng.integers(0, 25, 600)
    inter = Interactions.from_arrays(users, items, rng.random(600) + 0.5)
    model = PureSVD(dim=24, n_iter=8).fit(inter).model_
    x = inter.matrix.toarray()
    u, s, vt = np.linalg.svd(x)
    ref = (u[:, :24] * s[:24]) @ vt[:24]
    got = model.user_table.weights @ model.item_table.weights.T
    np.testing.assert_allclose(got, ref, atol=1e-3)
    recs = model.recommend([int(inter.user_vocab.keys[0])], k=3)[0]
    seen = set(np.asarray(inter.item_vocab.keys)[x[0] > 0].tolist())
    assert len(recs) == 3 and not seen & {r for r, _ in recs}
