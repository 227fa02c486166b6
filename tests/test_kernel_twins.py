"""Every numba kernel against its NumPy twin (``compactemb._native``), on random inputs.

Each case builds the kernel's arguments; the kernel and its twin run on separate copies, then
every array argument (outputs and in-place updates) and the return value must agree: exactly
where the kernel is deterministic integer/copy work, within float32 rounding where it sums
(numba's fastmath may reorder a sum). Hogwild SGD kernels are compared with one worker.
"""

from __future__ import annotations

import copy
import importlib
import subprocess
import sys

import numpy as np
import pytest

from compactemb._native import kernels, native, twin_name, use_native
from compactemb.tables import HashedTable, Int4Table, Int8Table, MixedDimTable, PQTable, QRTable
from compactemb.tables._quantized import half_lut

EXACT = {"rtol": 0, "atol": 0}
FLOAT = {"rtol": 2e-5, "atol": 2e-6}


def _rng(seed=0):
    return np.random.default_rng(seed)


def _bags(rng, n_ids, n_rows):
    ids = rng.integers(0, n_rows, n_ids).astype(np.int64)
    cuts = np.sort(rng.integers(0, n_ids + 1, 6))
    starts = np.concatenate([[0], cuts]).astype(np.int64)
    ends = np.concatenate([cuts, [n_ids]]).astype(np.int64)
    return ids, starts, ends  # includes empty bags (equal cuts) in general


def _bag_args(rng, n_rows, dim, weighted, mean):
    ids, starts, ends = _bags(rng, 40, n_rows)
    w = rng.random(ids.size).astype(np.float32) if weighted else np.empty(0, np.float32)
    return [ids, starts, ends, w, weighted, mean, np.zeros((starts.size, dim), np.float32)]


def _x(rng, n=50, dim=12):
    return rng.normal(size=(n, dim)).astype(np.float32)


TABLES = "compactemb.tables._kernels"
COMPRESS = "compactemb.tables._compress_kernels"
CLUSTER = "compactemb.cluster._kernels"


def case_dense_bag(weighted, mean):
    def build(rng):
        return [_x(rng), *_bag_args(rng, 50, 12, weighted, mean)]
    return (TABLES, "dense_bag", build, FLOAT)


def build_half_gather(rng):
    w16 = _x(rng).astype(np.float16).view(np.uint16)
    ids = rng.integers(0, 50, 30).astype(np.int64)
    return [w16, ids, half_lut(), np.zeros((30, 12), np.float32)]


def _int8(rng, dim=12):
    return Int8Table.from_dense(_x(rng, dim=dim)).data


def _int4(rng, dim=11):
    return Int4Table.from_dense(_x(rng, dim=dim)).data


def build_int8_lookup(rng):
    return [_int8(rng), 12, rng.integers(0, 50, 30).astype(np.int64),
            np.zeros((30, 12), np.float32)]


def case_int8_bag(weighted, mean):
    def build(rng):
        return [_int8(rng), 12, *_bag_args(rng, 50, 12, weighted, mean)]
    return (COMPRESS, "int8_bag", build, FLOAT)


def build_int4_lookup(rng):
    return [_int4(rng), 11, half_lut(), rng.integers(0, 50, 30).astype(np.int64),
            np.zeros((30, 11), np.float32)]


def case_int4_bag(weighted, mean):
    def build(rng):
        return [_int4(rng), 11, half_lut(), *_bag_args(rng, 50, 11, weighted, mean)]
    return (COMPRESS, "int4_bag", build, FLOAT)


def _pq(rng):
    t = PQTable.from_dense(_x(rng, n=80), n_subvectors=3, n_centroids=8, n_iter=3)
    return t.codebooks, t.codes


def build_pq_lookup(rng):
    books, codes = _pq(rng)
    return [books, codes, rng.integers(0, 80, 30).astype(np.int64),
            np.zeros((30, 12), np.float32)]


def case_pq_bag(weighted, mean):
    def build(rng):
        books, codes = _pq(rng)
        return [books, codes, *_bag_args(rng, 80, 12, weighted, mean)]
    return (COMPRESS, "pq_bag", build, FLOAT)


def _hashed(rng):
    t = HashedTable.random(1000, 6, n_buckets=37, n_hashes=3, seed=int(rng.integers(100)))
    return t.weights, t.seeds


def build_hashed_lookup(rng):
    w, seeds = _hashed(rng)
    return [w, rng.integers(0, 1000, 40).astype(np.int64), seeds, np.zeros((40, 6), np.float32)]


def build_hashed_scatter(rng):
    w, seeds = _hashed(rng)
    ids = rng.integers(0, 60, 40).astype(np.int64)  # repeats: the same bucket hit twice
    return [w, ids, seeds, rng.normal(size=(40, 6)).astype(np.float32), np.float32(0.1)]


def case_qr(name, combine):
    def build(rng):
        t = QRTable.random(100, 6, n_remainder=7, combine=combine, seed=1)
        ids = rng.integers(0, 100, 40).astype(np.int64)
        if name == "qr_lookup":
            return [t.quotient, t.remainder, ids, combine == "mul", np.zeros((40, 6), np.float32)]
        return [t.quotient, t.remainder, ids, rng.normal(size=(40, 6)).astype(np.float32),
                np.float32(0.1), combine == "mul"]
    return (COMPRESS, name, build, FLOAT)


def _mixed():
    return MixedDimTable.random([10, 20, 30], [6, 3, 1], 6, seed=2).kernel_args()


def build_mixed_lookup(rng):
    return [*_mixed(), rng.integers(0, 60, 40).astype(np.int64), np.zeros((40, 6), np.float32)]


def build_mixed_scatter(rng):
    return [*_mixed(), rng.integers(0, 60, 40).astype(np.int64),
            rng.normal(size=(40, 6)).astype(np.float32), np.float32(0.1)]


def build_center_sums(rng):
    x = _x(rng)
    return [x, rng.integers(0, 5, 50).astype(np.int64), np.zeros((5, 12)),
            np.zeros(5, np.int64)]


def build_cluster_distance_sums(rng):
    d = rng.random((20, 50))
    return [d, rng.integers(0, 4, 50).astype(np.int64), 4, np.zeros((20, 4))]


def build_nearest_centers(rng):
    x = _x(rng, n=200, dim=5)
    return [x, x[:9].copy() + 0.01, np.zeros(200, np.int64), np.zeros(200)]


def build_point_distances(rng):
    x = _x(rng, n=200, dim=5)
    return [x, _x(rng, n=4, dim=5), np.zeros((4, 200))]


CASES = {
    **{f"dense_bag-w{w:d}-mean{m:d}": case_dense_bag(w, m) for w in (0, 1) for m in (0, 1)},
    "half_gather": (TABLES, "half_gather", build_half_gather, EXACT),
    "int8_lookup": (COMPRESS, "int8_lookup", build_int8_lookup, FLOAT),
    **{f"int8_bag-w{w:d}-mean{m:d}": case_int8_bag(w, m) for w in (0, 1) for m in (0, 1)},
    "int4_lookup": (COMPRESS, "int4_lookup", build_int4_lookup, FLOAT),
    **{f"int4_bag-w{w:d}-mean{m:d}": case_int4_bag(w, m) for w in (0, 1) for m in (0, 1)},
    "pq_lookup": (COMPRESS, "pq_lookup", build_pq_lookup, EXACT),
    **{f"pq_bag-w{w:d}-mean{m:d}": case_pq_bag(w, m) for w in (0, 1) for m in (0, 1)},
    "hashed_lookup": (COMPRESS, "hashed_lookup", build_hashed_lookup, FLOAT),
    "hashed_scatter": (COMPRESS, "hashed_scatter", build_hashed_scatter, FLOAT),
    **{f"{n}-{c}": case_qr(n, c) for n in ("qr_lookup", "qr_scatter") for c in ("mul", "add")},
    "mixed_lookup": (COMPRESS, "mixed_lookup", build_mixed_lookup, FLOAT),
    "mixed_scatter": (COMPRESS, "mixed_scatter", build_mixed_scatter, FLOAT),
    "center_sums": (CLUSTER, "center_sums", build_center_sums, FLOAT),
    "cluster_distance_sums": (CLUSTER, "cluster_distance_sums", build_cluster_distance_sums,
                              FLOAT),
    "nearest_centers": (CLUSTER, "nearest_centers", build_nearest_centers, FLOAT),
    "point_distances": (CLUSTER, "point_distances", build_point_distances, FLOAT),
}


MF = "compactemb.train._mf_kernels"
COOC = "compactemb.train._cooc_kernels"
LINALG = "compactemb.train._linalg_kernels"
W2V = "compactemb.train._word2vec_kernels"


def _csr(rng, n_users=30, n_items=20, negative=True):
    import scipy.sparse as sp

    m = sp.random(n_users, n_items, density=0.25, random_state=int(rng.integers(1000)),
                  format="csr", dtype=np.float32)
    m.data = 1 + 4 * m.data
    if negative:  # "disliked" entries: negative confidence, preference 0
        m.data[::7] *= -1
    m = sp.csr_matrix(m.toarray() * (np.arange(n_users) != 3)[:, None])  # user 3: no row
    m.sort_indices()
    return m.indptr.astype(np.int64), m.indices.astype(np.int32), m.data.astype(np.float32)


def _factors(rng, n, k=5):
    return rng.random((n, k), dtype=np.float32)


def build_als_cg_half(rng):
    indptr, indices, conf = _csr(rng)
    Y = _factors(rng, 20)
    A = (Y.T @ Y + 0.1 * np.eye(5)).astype(np.float32)
    return [indptr, indices, conf, _factors(rng, 30), Y, A, 3, np.array([0, 11, 30])]


def build_als_cholesky_half(rng):
    indptr, indices, conf = _csr(rng)
    Y = _factors(rng, 20)
    A = Y.T.astype(np.float64) @ Y + 0.5 * np.eye(5)
    return [indptr, indices, conf, _factors(rng, 30), Y, A, np.array([0, 11, 30]),
            np.zeros(2, np.int64)]


def build_als_loss_terms(rng):
    indptr, indices, conf = _csr(rng)
    X, Y = _factors(rng, 30), _factors(rng, 20)
    return [indptr, indices, conf, X, Y, (Y.T @ Y).astype(np.float32), np.array([0, 11, 30]),
            np.zeros((2, 2))]


def case_bpr(verify, uniform):
    def build(rng):
        indptr, indices, _ = _csr(rng, negative=False)
        userids = np.repeat(np.arange(30, dtype=np.int32), np.diff(indptr))
        X, Y = _factors(rng, 30, 6) - 0.5, _factors(rng, 20, 6) - 0.5
        X[:, 5] = 1
        return [userids, indices, indptr, X, Y, np.float32(0.05), np.float32(0.01), verify,
                uniform, np.array([987654321], np.uint64), np.zeros((1, 2), np.int64), 0]
    return (MF, "bpr_worker", build, {"rtol": 1e-5, "atol": 1e-6})


def _tokens(rng, n=200, vocab=15):
    t = rng.integers(0, vocab, n).astype(np.int32)
    t[rng.choice(n, 12, replace=False)] = -1
    return t


def case_count_pairs(weighting):
    def build(rng):
        t = _tokens(rng)
        cap = 2 * 3 * t.size
        return [t, 3, weighting, np.zeros(cap, np.int32), np.zeros(cap, np.int32),
                np.zeros(cap)]
    return (COOC, "count_pairs", build, FLOAT)


def build_subsample_mask(rng):
    return [_tokens(rng), rng.random(15), int(rng.integers(1000))]


def build_csr_dense_matmul(rng):
    indptr, indices, data = _csr(rng)
    return [indptr, indices, data, _factors(rng, 20, 7), np.zeros((30, 7), np.float32)]


def build_build_alias(rng):
    w = rng.random(40) ** 3
    return [w, np.zeros(40, np.uint64), np.zeros(40, np.int64)]


def case_train_job(sg, cbow_mean, shared):
    def build(rng):
        from compactemb.train._word2vec import alias_tables, keep_thresholds
        from compactemb.train._word2vec_kernels import sigmoid_tables

        counts = np.sort(rng.integers(1, 300, 15))[::-1].astype(np.int64)
        syn0 = ((rng.random((15, 6)) - 0.5) / 6).astype(np.float32)
        syn1 = ((rng.random((15, 6)) - 0.5) * 0.5).astype(np.float32)
        return [_tokens(rng), syn0, syn1, keep_thresholds(counts, 1e-2), *alias_tables(counts),
                *sigmoid_tables(), sg, cbow_mean, shared, 3, 4, 0.05, 0.01, 987654321]
    return (W2V, "train_job", build, {"rtol": 1e-5, "atol": 2e-6})


def case_train_job_qat(bits, sg, cbow_mean, shared):
    def build(rng):
        from compactemb.train._word2vec import alias_tables, keep_thresholds, word2bits_levels
        from compactemb.train._word2vec_kernels import sigmoid_tables

        counts = np.sort(rng.integers(1, 300, 15))[::-1].astype(np.int64)
        syn0 = (rng.random((15, 6)) - 0.5).astype(np.float32)  # Word2Bits' initial range
        syn1 = (rng.random((15, 6)) - 0.5).astype(np.float32)
        return [_tokens(rng), syn0, syn1, keep_thresholds(counts, 1e-2), *alias_tables(counts),
                *sigmoid_tables(), sg, cbow_mean, shared, 3, 4, bits, word2bits_levels(bits),
                0.05, 0.01, 987654321]
    return (W2V, "train_job_qat", build, {"rtol": 1e-5, "atol": 2e-6})


CASES.update({
    **{f"train_job_qat-bits{q}-sg{a:d}-mean{b:d}-shared{c:d}": case_train_job_qat(q, a, b, c)
       for q in (1, 2, 4) for a, b, c in ((1, 1, 1), (0, 1, 0), (0, 0, 0))},
    "als_cg_half": (MF, "als_cg_half", build_als_cg_half, {"rtol": 2e-3, "atol": 2e-4}),
    "als_cholesky_half": (MF, "als_cholesky_half", build_als_cholesky_half,
                          {"rtol": 1e-4, "atol": 1e-5}),
    "als_loss_terms": (MF, "als_loss_terms", build_als_loss_terms, {"rtol": 1e-5, "atol": 0}),
    **{f"bpr_worker-verify{v:d}-uniform{u:d}": case_bpr(v, u) for v in (0, 1) for u in (0, 1)},
    **{f"count_pairs-{w}": case_count_pairs(w) for w in (0, 1, 2)},
    "subsample_mask": (COOC, "subsample_mask", build_subsample_mask, EXACT),
    "csr_dense_matmul": (LINALG, "csr_dense_matmul", build_csr_dense_matmul, FLOAT),
    "build_alias": (W2V, "build_alias", build_build_alias, EXACT),
    **{f"train_job-sg{a:d}-mean{b:d}-shared{c:d}": case_train_job(a, b, c)
       for a, b, c in ((1, 1, 1), (1, 1, 0), (0, 1, 0), (0, 0, 0))},
})


CLASSIFIER = "compactemb.train._classifier_kernels"


def _examples(rng, n=12, rows=30, n_labels=4, multi=True):
    lengths = rng.integers(1, 6, n)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    ids = rng.integers(0, rows, offsets[-1]).astype(np.int64)
    n_lab = rng.integers(1, 3 if multi else 2, n)
    label_offsets = np.concatenate([[0], np.cumsum(n_lab)]).astype(np.int64)
    labels = np.concatenate([rng.choice(n_labels, c, replace=False) for c in n_lab])
    return ids, offsets, labels.astype(np.int64), label_offsets, lengths.astype(np.float64)


def case_sgd_example(loss):
    def build(rng):
        ids, offsets, labels, label_offsets, _ = _examples(rng)
        w_in = rng.normal(size=(30, 6)).astype(np.float32)
        w_out = rng.normal(size=(4, 6)).astype(np.float32)
        return [w_in, w_out, ids, 0, int(offsets[3]), labels, 0, int(label_offsets[3]),
                int(labels[0]), loss, 0.3, np.zeros(6, np.float32), np.zeros(6, np.float32),
                np.zeros(4, np.float32)]
    return (CLASSIFIER, "sgd_example", build, {"rtol": 1e-5, "atol": 1e-6})


def case_train_range(loss, update_input, shuffle):
    def build(rng):
        ids, offsets, labels, label_offsets, weights = _examples(rng)
        w_in = rng.normal(scale=0.1, size=(30, 6)).astype(np.float32)
        w_out = np.zeros((4, 6), np.float32)
        examples = rng.permutation(12).astype(np.int64)
        return [w_in, w_out, ids, offsets, labels, label_offsets, weights, examples, 3, 0.2,
                loss, 7, np.zeros(2, np.int64), 1, update_input, shuffle]
    return (CLASSIFIER, "train_range", build, {"rtol": 1e-4, "atol": 1e-6})


def build_count_ngrams(rng):
    starts = np.sort(rng.integers(0, 40, 8))
    return [starts, starts + rng.integers(0, 7, 8), 3]


def build_hash_ngrams(rng):
    starts = np.array([0, 4, 5, 5, 12], np.int64)
    ends = np.array([4, 5, 5, 12, 20], np.int64)
    counts = np.array([3 + 2, 0, 0, 6 + 5, 7 + 6])  # n = 2 and 3
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    return [rng.integers(0, 2**63, 20, dtype=np.int64).astype(np.uint64), starts, ends, 3,
            1000, offsets, np.zeros(offsets[-1], np.int64)]


def _qat_levels(bits):
    from compactemb.train._classifier import LEVELS_2BIT

    return {1: np.array([-1.0, 1.0], np.float32), 2: LEVELS_2BIT}.get(bits,
                                                                       np.zeros(0, np.float32))


def case_train_epochs(loss, shuffle, bits):
    def build(rng):
        ids, offsets, labels, label_offsets, weights = _examples(rng)
        w_in = rng.normal(scale=0.1, size=(30, 6)).astype(np.float32)
        w_out = np.zeros((4, 6), np.float32)
        state = np.array([rng.integers(1, 2**62)], np.uint64)
        schedule = np.array([0.0, 0.0]) if bits != 2 else np.array([3.0, 200.0])  # resumed
        return [w_in, w_out, ids, offsets, labels, label_offsets, weights,
                rng.permutation(12).astype(np.int64), state, schedule, 2, 3, 0.2, loss,
                np.zeros(2, np.int64), 1, True, shuffle, bits, _qat_levels(bits)]
    return (CLASSIFIER, "train_epochs", build, {"rtol": 1e-4, "atol": 1e-6})


def case_quantize_rows(bits):
    def build(rng):
        w = rng.normal(size=(40, 7)).astype(np.float32)
        w[3] = 0.0  # an all-zero row
        w[5] = 0.25  # a constant row
        return [w, bits, _qat_levels(bits), np.zeros((40, 7), np.float32)]
    return (CLASSIFIER, "quantize_rows", build, {"rtol": 1e-5, "atol": 1e-6})


CASES.update({
    **{f"train_epochs-loss{a}-shuffle{b:d}-bits{c}": case_train_epochs(a, b, c)
       for a, b, c in ((0, True, 0), (1, False, 0), (0, False, 1), (0, True, 2), (1, True, 4))},
    **{f"quantize_rows-bits{b}": case_quantize_rows(b) for b in (1, 2, 4)},
    **{f"sgd_example-loss{loss}": case_sgd_example(loss) for loss in (0, 1)},
    **{f"train_range-loss{a}-input{b:d}-shuffle{c:d}": case_train_range(a, b, c)
       for a in (0, 1) for b in (True, False) for c in (True, False)},
    "count_ngrams": (CLASSIFIER, "count_ngrams", build_count_ngrams, EXACT),
    "hash_ngrams": (CLASSIFIER, "hash_ngrams", build_hash_ngrams, EXACT),
})


TOPK = "compactemb._topk_kernels"


def build_merge_top_k(rng):
    """Scores with many ties, -inf and NaN, merged into a running best already half full."""
    best_s = np.full((9, 5), -np.inf, np.float32)
    best_i = np.full((9, 5), -1, np.int64)
    best_s[:, :2] = [[4.0, 2.0]] * 9
    best_i[:, :2] = [[3, 1]] * 9
    scores = rng.integers(0, 6, (9, 30)).astype(np.float32)
    scores[rng.random((9, 30)) < 0.2] = -np.inf
    scores[rng.random((9, 30)) < 0.05] = np.nan
    return [scores, 10, best_s, best_i]


CASES["merge_top_k"] = (TOPK, "merge_top_k", build_merge_top_k, EXACT)

TEXT = "compactemb._text_kernels"


def build_intern_block(rng):
    """Lines of words drawn from a small alphabet (many repeats), an empty line, punctuation and
    a non-ASCII letter; a table with one key already in it."""
    from compactemb.text import _run_table

    words = ["ab", "b", "abc", "ça", "ba", "a"]
    lines = [" ".join(rng.choice(words, int(rng.integers(0, 6)))) + "." for _ in range(8)]
    codes = np.frombuffer("\n".join(lines + ["", "ab ab"]).encode("utf-32-le"), np.uint32)
    table = np.full(64, -1, np.int32)
    key_hash = np.zeros(40, np.uint64)
    key_start, key_len, counts = (np.zeros(40, np.int64) for _ in range(3))
    key_chars = np.zeros(200, np.uint32)
    twin = importlib.import_module(twin_name(TEXT))
    state = np.zeros(2, np.int64)
    twin.intern_block(np.frombuffer("zz".encode("utf-32-le"), np.uint32),
                      _run_table(r"[^\W\d_]+"), table, key_hash, key_start, key_len, key_chars,
                      counts, state, np.zeros(4, np.int32))
    return [codes, _run_table(r"[^\W\d_]+"), table, key_hash, key_start, key_len, key_chars,
            counts, state, np.zeros(codes.size + 2, np.int32)]


def build_rehash(rng):
    return [np.full(64, -1, np.int32),
            rng.integers(0, 2**63, 20, dtype=np.int64).astype(np.uint64), 20]


CASES["intern_block"] = (TEXT, "intern_block", build_intern_block, EXACT)
CASES["rehash"] = (TEXT, "rehash", build_rehash, EXACT)


SUBWORD = "compactemb.tables._subword_kernels"


def case_subword_rows(pruned):
    def build(rng):
        from compactemb.tables._subword import _encode_words

        words = ["cat", "naïve", "日本語", "</s>", "a", "", "ωmega-x", "zz"]
        blob, offs = _encode_words(words)
        rows = np.where(rng.random(len(words)) < 0.5, np.arange(len(words)), -1)
        kept = np.sort(rng.choice(50, 20, replace=False)) if pruned else np.zeros(0)
        cap = 1 + (np.diff(offs) + 2) * 3
        starts = np.concatenate([[0], np.cumsum(cap)[:-1]])
        return [blob, offs, rows.astype(np.int64), 2, 4, 50, len(words),
                kept.astype(np.int64), starts.astype(np.int64), np.zeros(int(cap.sum()), np.int64),
                np.zeros(len(words), np.int64)]
    return (SUBWORD, "subword_rows", build, EXACT)


def build_subword_mean(rng):
    ids, starts, ends = _bags(rng, 40, 50)
    return [_x(rng), ids, starts, ends, np.zeros((starts.size, 12), np.float32)]


CASES.update({
    **{f"subword_rows-pruned{p:d}": case_subword_rows(p) for p in (0, 1)},
    "subword_mean": (SUBWORD, "subword_mean", build_subword_mean, EXACT),  # fastText's order
})


FASTTEXT = "compactemb.train._fasttext_kernels"


def case_train_job_subwords(sg, fasttext_lines=False):
    def build(rng):
        from compactemb.train._word2vec import alias_tables, keep_thresholds
        from compactemb.train._word2vec_kernels import sigmoid_tables

        counts = np.sort(rng.integers(1, 300, 15))[::-1].astype(np.int64)
        n_sub = rng.integers(1, 5, 15)  # each word: its row, then 0..3 of 10 n-gram rows
        offsets = np.concatenate([[0], np.cumsum(n_sub)]).astype(np.int64)
        ids = np.concatenate([[w, *(15 + rng.integers(0, 10, k - 1))]
                              for w, k in enumerate(n_sub)]).astype(np.int64)
        syn0 = ((rng.random((25, 6)) - 0.5) / 6).astype(np.float32)
        syn1 = ((rng.random((15, 6)) - 0.5) * 0.5).astype(np.float32)
        # fastText's lines: word 14 stands for </s> at each sentence end; negatives redrawn
        eos, redraw = (14, True) if fasttext_lines else (-1, False)
        return [_tokens(rng), syn0, syn1, ids, offsets, keep_thresholds(counts, 1e-2),
                *alias_tables(counts), *sigmoid_tables(), sg, 3, 4, eos, redraw, 0.05, 0.01,
                987654321]
    # every pair updates all rows of the centre word: a dot product one rounding apart can pick
    # the neighbouring sigmoid-table entry, a step of about 3e-5 in the rows it touches
    return (FASTTEXT, "train_job_subwords", build, {"rtol": 1e-5, "atol": 1e-4})


CASES.update({f"train_job_subwords-sg{sg:d}-lines{lines:d}": case_train_job_subwords(sg, lines)
              for sg in (0, 1) for lines in (0, 1)})


ADC = "compactemb.tables._adc_kernels"


def case_pq_scores(scaled):
    def build(rng):
        lut = rng.normal(size=(4, 3, 16)).astype(np.float32)
        codes = rng.integers(0, 16, (5000, 3)).astype(np.uint8)
        rows = rng.permutation(5000)[:4499].astype(np.int64)  # > one chunk, odd, any order
        scale = rng.random(5000).astype(np.float32) if scaled else np.empty(0, np.float32)
        return [lut, np.array([2, 0, 3], np.int64), codes, rows, scale, scaled,
                np.zeros((3, 4499), np.float32)]
    return (ADC, "pq_scores", build, FLOAT)


def case_rowwise_scores(bits, dim):
    def build(rng):
        table = (Int8Table if bits == 8 else Int4Table).from_dense(_x(rng, 700, dim))
        q = rng.normal(size=(4, dim + (dim % 2 if bits == 4 else 0))).astype(np.float32)
        if bits == 4 and dim % 2:
            q[:, -1] = 0
        return [q, np.array([3, 1], np.int64), table.data, rng.permutation(700).astype(np.int64),
                table.scale_bias().astype(np.float32), np.zeros((2, 700), np.float32)]
    return (ADC, f"int{bits}_scores", build, {"rtol": 1e-4, "atol": 1e-4})


def build_merge_top_k_rows(rng):
    """Tied scores, -inf and NaN, rows in any order, into a running best already half full."""
    best_s = np.full((6, 5), -np.inf, np.float32)
    best_i = np.full((6, 5), -1, np.int64)
    best_s[:, :2] = [[4.0, 2.0]] * 6
    best_i[:, :2] = [[40, 41]] * 6
    scores = rng.integers(0, 6, (4, 30)).astype(np.float32)
    scores[rng.random((4, 30)) < 0.2] = -np.inf
    scores[rng.random((4, 30)) < 0.05] = np.nan
    return [scores, np.array([5, 0, 2, 3], np.int64), rng.permutation(30).astype(np.int64),
            best_s, best_i]


def case_pq_ivf_top_k(scaled, weighted):
    def build(rng):
        lut = rng.integers(-3, 4, size=(5, 3, 16)).astype(np.float32)  # many tied scores
        codes = rng.integers(0, 16, (200, 3)).astype(np.uint8)
        labels = rng.integers(0, 6, 200)
        list_rows = np.argsort(labels, kind="stable").astype(np.int64)
        list_ptr = np.concatenate([[0], np.cumsum(np.bincount(labels, minlength=6))])
        probe = np.stack([rng.permutation(6)[:3] for _ in range(5)]).astype(np.int64)
        scale = rng.random(200).astype(np.float32) if scaled else np.empty(0, np.float32)
        weight = np.where(rng.random(200) < 0.1, 0, rng.random(200)).astype(np.float32) \
            if weighted else np.empty(0, np.float32)
        best_s = np.full((5, 7), -np.inf, np.float32)
        best_i = np.full((5, 7), -1, np.int64)
        return [lut, probe, list_ptr.astype(np.int64), list_rows, codes[list_rows], scale,
                scaled, weight, weighted, best_s, best_i]
    return (ADC, "pq_ivf_top_k", build, FLOAT)


def case_pq4_scores(scaled):
    def build(rng):
        lut = rng.normal(size=(4, 6, 16)).astype(np.float32)
        codes = rng.integers(0, 256, (5000, 3)).astype(np.uint8)
        rows = rng.permutation(5000)[:4499].astype(np.int64)
        scale = rng.random(5000).astype(np.float32) if scaled else np.empty(0, np.float32)
        return [lut, np.array([2, 0, 3], np.int64), codes, rows, scale, scaled,
                np.zeros((3, 4499), np.float32)]
    return (ADC, "pq4_scores", build, FLOAT)


def case_pq4_block_scores(scaled):
    def build(rng):  # rows 4128..8999 of 9001: more than one task, a partial last block
        lut = rng.normal(size=(4, 6, 16)).astype(np.float32)
        blocks = rng.integers(0, 256, (282, 3, 32)).astype(np.uint8)
        scale = rng.random(9001).astype(np.float32) if scaled else np.empty(0, np.float32)
        return [lut, np.array([2, 0, 3], np.int64), blocks, 4128, 8999, scale, scaled,
                np.zeros((3, 8999 - 4128), np.float32)]
    return (ADC, "pq4_block_scores", build, FLOAT)


def build_pq_lut(rng):
    return [rng.normal(size=(5, 12)).astype(np.float32),
            rng.normal(size=(3, 16, 4)).astype(np.float32), np.zeros((5, 3, 16), np.float32)]


CASES.update({
    "pq_lut": (ADC, "pq_lut", build_pq_lut, FLOAT),
    **{f"pq_ivf_top_k-scaled{s:d}-weighted{w:d}": case_pq_ivf_top_k(s, w)
       for s in (0, 1) for w in (0, 1)},
    **{f"pq_scores-scaled{s:d}": case_pq_scores(s) for s in (0, 1)},
    **{f"pq4_scores-scaled{s:d}": case_pq4_scores(s) for s in (0, 1)},
    **{f"pq4_block_scores-scaled{s:d}": case_pq4_block_scores(s) for s in (0, 1)},
    **{f"int{b}_scores-dim{d}": case_rowwise_scores(b, d) for b in (8, 4) for d in (12, 13)},
    "merge_top_k_rows": (ADC, "merge_top_k_rows", build_merge_top_k_rows, EXACT),
})


def _assert_same(got, want, tol, what):
    if isinstance(got, np.ndarray) or isinstance(want, np.ndarray):
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), err_msg=what, **tol)
    elif isinstance(got, tuple):
        for i, (g, w) in enumerate(zip(got, want, strict=True)):
            _assert_same(g, w, tol, f"{what}[{i}]")
    elif isinstance(got, float) or isinstance(want, float):
        assert got == pytest.approx(want, rel=max(tol["rtol"], 1e-12), abs=tol["atol"]), what
    else:
        assert got == want, what


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
@pytest.mark.parametrize("seed", [0, 1])
def test_kernel_equals_twin(case, seed):
    module, name, build, tol = CASES[case]
    args = build(_rng(seed))
    native_args, twin_args = copy.deepcopy(args), copy.deepcopy(args)
    got = getattr(importlib.import_module(module), name)(*native_args)
    want = getattr(importlib.import_module(twin_name(module)), name)(*twin_args)
    _assert_same(got, want, tol, f"{name} return value")
    for i, (g, w) in enumerate(zip(native_args, twin_args)):
        if isinstance(g, np.ndarray):
            _assert_same(g, w, tol, f"{name} argument {i}")


KERNEL_MODULES = [TABLES, COMPRESS, CLUSTER, MF, COOC, LINALG, W2V, CLASSIFIER, TOPK,
                  TEXT, SUBWORD, FASTTEXT, ADC]


@pytest.mark.parametrize("module", KERNEL_MODULES)
def test_every_kernel_has_a_twin_and_a_case(module):
    """A new kernel without a twin (or without a case here) fails this test."""
    import numba.core.registry

    kern = importlib.import_module(module)
    twin = importlib.import_module(twin_name(module))
    names = {n for n, f in vars(kern).items()
             if isinstance(f, numba.core.registry.CPUDispatcher) and f.__module__ == module}
    covered = {name for mod, name, _, _ in CASES.values() if mod == module}
    helpers = {n for n in names if n.startswith("_") or n.endswith("_decode_into")
               or n == "hash_id"}  # inlined into the kernels, tested through them
    assert names - helpers - covered == set()
    assert {n for n in names - helpers if not callable(getattr(twin, n, None))} == set()


# kernel modules whose twins are not written yet (listed in notes/issue-9.md)
WITHOUT_TWINS = {"compactemb.tables._lowbit_kernels"}


def test_every_kernel_module_is_covered_here():
    """A new ``*_kernels.py`` anywhere in the package must get a twin module and cases here."""
    from pathlib import Path

    import compactemb

    root = Path(compactemb.__file__).parent
    found = {".".join(("compactemb",) + p.relative_to(root).with_suffix("").parts)
             for p in root.rglob("*_kernels.py")}
    assert found == set(KERNEL_MODULES) | WITHOUT_TWINS


def test_use_native_switches_and_restores():
    assert native()
    with use_native(False):
        assert not native()
        assert kernels(COMPRESS).__name__ == twin_name(COMPRESS)
    assert native() and kernels(COMPRESS).__name__ == COMPRESS


def test_twins_serve_the_api_without_numba():
    """With the twins selected, tables (PQ training included) and k-means never import numba,
    and give what the kernels give."""
    code = """
import sys
import numpy as np
from compactemb._native import use_native
from compactemb.cluster import KMeans
from compactemb.tables import Int4Table, PQTable
use_native(False)
x = np.random.default_rng(0).normal(size=(300, 8)).astype(np.float32)
pq = PQTable.from_dense(x, n_subvectors=2, n_centroids=16, n_iter=5)
km = KMeans(4, random_state=0).fit(x)
out = [pq.codes, pq.bag([1, 2, 3], [0, 1]), Int4Table.from_dense(x).lookup([5, 7]),
       km.labels_]
assert "numba" not in sys.modules, "numba imported"
np.savez(sys.argv[1], *out)
"""
    x = np.random.default_rng(0).normal(size=(300, 8)).astype(np.float32)
    from compactemb.cluster import KMeans

    pq = PQTable.from_dense(x, n_subvectors=2, n_centroids=16, n_iter=5)
    want = [pq.codes, pq.bag([1, 2, 3], [0, 1]), Int4Table.from_dense(x).lookup([5, 7]),
            KMeans(4, random_state=0).fit(x).labels_]
    import os
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "twins.npz")
        subprocess.run([sys.executable, "-c", code, path], check=True)
        got = np.load(path)
        for i, w in enumerate(want):
            np.testing.assert_allclose(got[f"arr_{i}"], w, rtol=1e-5, atol=1e-6)


_CACHED_PARALLEL = """
import json, sys
import numpy as np
from compactemb.train import _linalg_kernels as L, _mf_kernels as K
from compactemb.train import _linalg_twins, _mf_twins

rng = np.random.default_rng(0)
n, m, k = 300, 200, 8
indptr = np.concatenate([[0], np.cumsum(rng.integers(0, 12, n))]).astype(np.int64)
indices = rng.integers(0, m, indptr[-1]).astype(np.int32)
conf = (1 + 4 * rng.random(indptr[-1])).astype(np.float32)
X, Y = rng.random((n, k), dtype=np.float32), rng.random((m, k), dtype=np.float32)
A = (Y.T @ Y + 0.1 * np.eye(k)).astype(np.float32)
bounds = np.linspace(0, n, 9).astype(np.int64)
got, want = X.copy(), X.copy()
K.als_cg_half(indptr, indices, conf, got, Y, A, 3, bounds)
_mf_twins.als_cg_half(indptr, indices, conf, want, Y, A, 3, bounds)
prod, prod_twin = np.zeros((n, k), np.float32), np.zeros((n, k), np.float32)
L.csr_dense_matmul(indptr, indices, conf, Y, prod)
_linalg_twins.csr_dense_matmul(indptr, indices, conf, Y, prod_twin)
np.testing.assert_allclose(got, want, rtol=2e-3, atol=2e-4)
np.testing.assert_allclose(prod, prod_twin, rtol=1e-5, atol=1e-5)
hits = sum(sum(f.stats.cache_hits.values()) for f in (K.als_cg_half, L.csr_dense_matmul))
json.dump({"hits": hits}, sys.stdout)
"""


def test_cached_parallel_kernels_load_under_other_thread_counts(tmp_path):
    """The parallel kernels are disk-cached: a cache written under 2 threads is loaded under 1
    and 3 (the numba#7518 crash) and gives what the twins give under each (checked inside)."""
    import json
    import os

    runs = {}
    for threads in (2, 1, 3):
        env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path), "NUMBA_NUM_THREADS": str(threads)}
        out = subprocess.run([sys.executable, "-c", _CACHED_PARALLEL], env=env, check=True,
                             capture_output=True, text=True).stdout
        runs[threads] = json.loads(out)
    assert runs[2]["hits"] == 0  # compiled and written
    assert runs[1]["hits"] == 2 and runs[3]["hits"] == 2  # both kernels loaded from the cache
