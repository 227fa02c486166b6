"""``TextClassifier._encode_tokens`` against the earlier argsort-based encoder kept here."""

from __future__ import annotations

import itertools
import zlib

import numpy as np
import pytest

from compactemb._native import kernels
from compactemb.train import TextClassifier


def reference_encode_tokens(model, flat, lens):
    """The encoder before the linear-time ordering: a stable argsort of rows by example."""
    k = kernels("compactemb.train._classifier_kernels")
    n = lens.shape[0]
    if model.vocab_ is None:
        hashes = np.array([zlib.crc32(t.encode("utf-8")) for t in flat], dtype=np.uint64)
        wid = np.searchsorted(model.word_hashes_, hashes).astype(np.int64)
        ok = wid < model.word_hashes_.shape[0]
        ok[ok] = model.word_hashes_[wid[ok]] == hashes[ok]
        wid[~ok] = -1
        known = ok
    else:
        wid = np.fromiter(map(model.vocab_.index.get, flat, itertools.repeat(-1)),
                          dtype=np.int64, count=len(flat))
        known = wid >= 0
        hashes = np.array([zlib.crc32(t.encode("utf-8")) for t in flat], dtype=np.uint64)
    ends = np.cumsum(lens)
    starts = ends - lens
    example = np.repeat(np.arange(n, dtype=np.int64), lens)
    word_counts = np.bincount(example[known], minlength=n)
    if model.ngrams > 1:
        g_counts = k.count_ngrams(starts, ends, model.ngrams)
        g_offsets = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(g_counts, out=g_offsets[1:])
        buckets = np.empty(int(g_offsets[-1]), dtype=np.int64)
        k.hash_ngrams(hashes, starts, ends, model.ngrams, model.n_buckets, g_offsets, buckets)
        if model.bucket_ids_ is None:
            pos, found = buckets, np.ones(buckets.shape[0], dtype=bool)
        else:
            pos = np.searchsorted(model.bucket_ids_, buckets)
            found = pos < model.bucket_ids_.shape[0]
            found[found] = model.bucket_ids_[pos[found]] == buckets[found]
        g_example = np.repeat(np.arange(n, dtype=np.int64), g_counts)
        rows = np.concatenate([wid[known], model.n_words + pos[found]])
        owner = np.concatenate([example[known], g_example[found]])
        ids = rows[np.argsort(owner, kind="stable")]
        kept = word_counts + np.bincount(g_example[found], minlength=n)
        denom = (word_counts + g_counts) if model.missing_ngrams_ == "zero" else kept
    else:
        ids = wid[known]
        kept = denom = word_counts
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(kept, out=offsets[1:])
    return ids, offsets, denom.astype(np.float32)


def _texts(rng, n, words):
    return [" ".join(rng.choice(words, size=rng.integers(0, 9))) for _ in range(n)]


def _assert_identical(got, want):
    for g, w in zip(got, want):
        assert g.dtype == w.dtype
        np.testing.assert_array_equal(g, w)


@pytest.mark.parametrize("ngrams", [1, 2, 3])
def test_encode_matches_the_reference(ngrams):
    rng = np.random.default_rng(ngrams)
    words = [f"w{i}" for i in range(40)] + ["é", "ünï"]
    train = _texts(rng, 300, words[:30])
    labels = rng.choice(["a", "b", "c"], size=len(train)).tolist()
    model = TextClassifier(dim=8, ngrams=ngrams, n_buckets=997, epochs=1, min_count=2,
                           random_state=0).fit(train, labels)
    new = _texts(rng, 200, words) + ["", "w1", "unseen words only"]
    flat, lens = model._tokens(new)
    _assert_identical(model._encode_tokens(flat, lens), reference_encode_tokens(model, flat, lens))
    # the training encoding: every bucket has a row
    model.bucket_ids_ = None if ngrams > 1 else model.bucket_ids_
    _assert_identical(model._encode_tokens(flat, lens), reference_encode_tokens(model, flat, lens))


def test_encode_of_a_pruned_hashed_model_matches_the_reference():
    rng = np.random.default_rng(7)
    words = [f"w{i}" for i in range(60)]
    train = _texts(rng, 400, words[:50])
    labels = rng.choice(["a", "b"], size=len(train)).tolist()
    model = TextClassifier(dim=8, ngrams=2, n_buckets=5000, epochs=1, random_state=0)
    model.fit(train, labels)
    small = model.compress("int8", cutoff=30, hash_words=True)
    assert small.vocab_ is None and small.missing_ngrams_ == "drop"
    new = _texts(rng, 200, words) + [""]
    flat, lens = small._tokens(new)
    _assert_identical(small._encode_tokens(flat, lens), reference_encode_tokens(small, flat, lens))
