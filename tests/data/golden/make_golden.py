"""Writes the golden files of format version 1: one per file kind and per component type.

Run it deliberately, when a kind is added or a layout change is accepted:
    python tests/data/golden/make_golden.py
The files are committed. tests/test_storage.py checks that every registered kind has one, that
each still loads to the values that docs/FORMAT.md's layout gives (decoded by a slow reference
in the test), and that saving the same objects gives the same bytes. Every object is built
directly from small literal arrays (no training, no random numbers), so the bytes are
deterministic. Existing files are never rewritten unless --overwrite is given: old files are
what proves that old files still load.
"""

import sys
from pathlib import Path

import numpy as np

import compactemb
from compactemb import DenseTable, KeyedVectors, Vocab
from compactemb.recommend import FactorModel
from compactemb.tables import (
    Bit1Table,
    Bit2Table,
    HashedTable,
    Int4Table,
    Int8Table,
    LowRankTable,
    MixedDimTable,
    PQ4Table,
    PQTable,
    PrunedTable,
    QRTable,
    RQTable,
    SubwordTable,
    TieredTable,
)

HERE = Path(__file__).parent / "v1"
# a 4 x 4 matrix whose values float16, int8 and int4 codes can hold exactly
MATRIX = np.array([[1.0, -2.0, 0.5, 4.0],
                   [-3.0, 0.0, 1.5, 2.0],
                   [0.25, 0.75, -1.0, 1.0],
                   [2.0, 2.0, 2.0, -2.0]], dtype=np.float32)


def _classifier():
    """A fitted-looking TextClassifier built from literal arrays (2 words, 2 n-gram rows)."""
    from compactemb.text import Tokenizer
    from compactemb.train import TextClassifier

    clf = TextClassifier(dim=2, ngrams=2, n_buckets=16, epochs=1, n_threads=1,
                         tokenizer=Tokenizer(lowercase=False))
    clf.vocab_ = Vocab(["good", "bad"], [3, 2])
    clf.word_hashes_ = None
    clf.labels_ = Vocab(["pos", "neg"], [3, 2])
    clf.bucket_ids_ = np.array([3, 11], dtype=np.int64)
    clf.table_ = DenseTable(np.array([[1.0, 0.5], [-1.0, 0.25], [0.5, 0.5], [0.0, -0.5]],
                                     dtype=np.float32))
    clf.output_ = np.array([[2.0, 0.0], [-2.0, 0.0]], dtype=np.float32)
    clf.row_counts_ = np.array([3, 2, 1, 1], dtype=np.int64)
    clf.missing_ngrams_ = "zero"
    clf.train_info_ = {"examples": 5}
    clf.meta = {"golden": True}
    return clf


def _classifier_subwords():
    """A TextClassifier with char n-grams (minn 2, maxn 3): 2 words, 3 kept n-gram buckets."""
    from compactemb.text import Tokenizer
    from compactemb.train import TextClassifier

    clf = TextClassifier(dim=2, ngrams=1, n_buckets=16, epochs=1, n_threads=1, minn=2, maxn=3,
                         tokenizer=Tokenizer(r"\S+", lowercase=False))
    clf.vocab_ = Vocab(["good", "</s>"], [3, 3])
    clf.word_hashes_ = None
    clf.labels_ = Vocab(["pos", "neg"], [2, 1])
    clf.bucket_ids_ = np.array([1, 3, 11], dtype=np.int64)  # 3 of the buckets of "good"
    clf.table_ = DenseTable(np.array([[1.0, 0.5], [0.0, 0.25], [0.5, -0.5], [2.0, 0.0],
                                      [-1.0, 1.0]], dtype=np.float32))
    clf.output_ = np.array([[1.0, 0.0], [-1.0, 0.5]], dtype=np.float32)
    clf.row_counts_ = np.array([3, 3, 3, 3, 3], dtype=np.int64)
    clf.missing_ngrams_ = "zero"
    clf.train_info_ = {"examples": 3}
    clf.meta = {"golden": True}
    return clf


def golden_objects():
    """{file name: (object, keyword arguments of its save)} of every golden file."""
    vocab = Vocab(["alpha", "beta", "γάμμα"], [5, 3, 2], build_info={"min_count": 1})
    table = DenseTable(np.array([[1.0, -2.0], [0.5, 4.0], [-3.25, 6.0]], dtype=np.float32))
    kv = KeyedVectors(vocab, table, {"trainer": "golden", "quality": {"note": "fixed values"}})
    half = DenseTable(np.array([[1.5, 2.0, -0.25]], dtype=np.float16))
    users = Vocab(np.array([7, 3], dtype=np.int64), [2, 1])
    items = Vocab(np.array([10, 20, 30], dtype=np.int64), [2, 1, 1])
    seen = np.array([[1, 0, 1], [0, 1, 0]], dtype=np.float32)
    factors = FactorModel(users, items, DenseTable(MATRIX[:2, :2]), DenseTable(MATRIX[1:, 2:]),
                          seen=seen, meta={"trainer": "golden"})
    pq = PQTable(codebooks=np.array([[[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]],
                                     [[-1.0, 2.0], [0.25, 0.25], [0.0, 0.0]]], np.float32),
                 codes=np.array([[0, 1], [2, 0], [1, 2]], np.uint8),
                 rotation=np.eye(4, dtype=np.float32)[[1, 0, 3, 2]],
                 norms=np.array([1.0, 0.5, 2.0], np.float16))
    # 2 stages of 2 full-width centroids; a float16 scale per row
    rq = RQTable(codebooks=np.array([[[1.0, 0.0, 0.5], [0.0, 1.0, -1.0]],
                                     [[0.25, 0.25, 0.0], [-0.5, 0.0, 2.0]]], np.float32),
                 codes=np.array([[0, 1], [1, 0], [1, 1]], np.uint8),
                 norms=np.array([1.0, 0.5, 2.0], np.float16))
    # M = 3 (odd): byte 1's high nibble is unused (0); a permutation as the rotation
    pq4 = PQ4Table(codebooks=(np.arange(48, dtype=np.float32).reshape(3, 16, 1) * 0.25 - 3),
                   codes=np.array([[0x21, 0x03], [0xF0, 0x0A]], np.uint8),
                   rotation=np.eye(3, dtype=np.float32)[[2, 0, 1]])
    mixed = MixedDimTable(emb=np.array([1.0, 2.0, 3.0, 4.0, 0.5, -0.5], np.float32),
                          proj=np.array([1, 0, 0, 1, 2, -1], np.float32),
                          block_starts=[0, 2], block_dims=[2, 1], n_rows=4, dim=2)
    bit1 = Bit1Table(np.array([[0b10110010, 0b01], [0b01001101, 0b10], [0xFF, 0b00]], np.uint8),
                     10, np.array([-1.0, 1.0], np.float32),
                     row_scales=np.array([0.5, 2.0, 1.25], np.float16),
                     mean=np.linspace(-1, 1, 10).astype(np.float32))
    bit2 = Bit2Table(np.array([[0b11100100, 0b01], [0b00011011, 0b10]], np.uint8), 5,
                     np.array([-1.5, -0.5, 0.5, 1.5], np.float32),
                     dim_scales=np.array([1.0, 0.5, 2.0, 0.25, 4.0], np.float32),
                     rotation=np.eye(5, dtype=np.float32)[[1, 0, 2, 4, 3]] * np.float32(-1))
    # 1-bit codes of 3 principal directions of 4-d rows, with a float16 norm per row
    bit1_projected = Bit1Table(np.array([[0b101], [0b010]], np.uint8), 4,
                               np.array([-1.0, 1.0], np.float32),
                               dim_scales=np.array([2.0, 1.0, 0.5], np.float32),
                               mean=np.array([0.5, 0.0, -0.5, 1.0], np.float32),
                               rotation=np.eye(4, dtype=np.float32)[:, [2, 0, 3]],
                               norms=np.array([1.5, 0.25], np.float16))
    return {
        "keyed_vectors.cemb": (kv, {}),
        "table_float16.cemb": (half, {"meta": {"golden": True}}),
        "table_dense.cemb": (DenseTable(MATRIX), {}),
        "table_int8.cemb": (Int8Table.from_dense(MATRIX), {}),
        "table_int4.cemb": (Int4Table.from_dense(MATRIX), {}),
        "table_pq.cemb": (pq, {}),
        "table_rq.cemb": (rq, {}),
        "table_pq4.cemb": (pq4, {}),
        "table_lowrank.cemb": (LowRankTable(MATRIX[:, :2], MATRIX[2:, :3]), {}),
        "table_pruned.cemb": (PrunedTable(Int8Table.from_dense(MATRIX), n_rows=8, n_keep=2,
                                          fallback="hash"), {}),
        "table_hashed.cemb": (HashedTable(MATRIX[:3, :2], n_rows=5,
                                          seeds=np.array([1, 2**40 + 5], np.uint64)), {}),
        "table_qr.cemb": (QRTable(MATRIX[:2, :3], MATRIX[2:, :3], n_rows=4, combine="mul"), {}),
        "table_mixed.cemb": (mixed, {}),
        "table_bit1.cemb": (bit1, {}),
        "table_bit2.cemb": (bit2, {}),
        "table_bit1_projected.cemb": (bit1_projected, {}),
        "table_tiered.cemb": (TieredTable(Int8Table.from_dense(MATRIX[:2]), bit1_projected), {}),
        # 2 words + 5 buckets of n-grams of 2..3 characters; the pruned one keeps buckets 1, 3
        "table_subword.cemb": (SubwordTable(DenseTable(np.arange(14, dtype=np.float32)
                                                       .reshape(7, 2)), ["ab", "ñ"], minn=2,
                                            maxn=3, buckets=5), {}),
        "table_subword_pruned.cemb": (SubwordTable(Int8Table.from_dense(MATRIX[:, :2]),
                                                   ["ab", "ñ"], minn=2, maxn=3, buckets=5,
                                                   kept_buckets=[1, 3]), {}),
        # fastText's .ftz pruning: an n-gram of a pruned bucket is left out of the mean
        "table_subword_skip.cemb": (SubwordTable(DenseTable(np.arange(8, dtype=np.float32)
                                                            .reshape(4, 2)), ["ab", "ñ"],
                                                 minn=2, maxn=3, buckets=5,
                                                 kept_buckets=[1, 3], skip_pruned=True), {}),
        "vocab.cemb": (Vocab(np.array([42, 7, 1000], dtype=np.int64), [9, 4, 1]),
                       {"meta": {"golden": True}}),
        "factors.cemb": (factors, {}),
        "classifier.cemb": (_classifier(), {}),
        "classifier_subwords.cemb": (_classifier_subwords(), {}),
    }


if __name__ == "__main__":
    assert compactemb.__version__ == "0.1.0", "golden files are written with version 0.1.0"
    overwrite = "--overwrite" in sys.argv[1:]
    for name, (obj, kwargs) in golden_objects().items():
        path = HERE / name
        if path.exists() and not overwrite:
            continue
        obj.save(path, **kwargs)
        sys.stdout.write(f"wrote {path}\n")
