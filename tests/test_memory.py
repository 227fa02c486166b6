"""Memory accounting: arithmetic equals the issue's figures; reports equal the arrays' sizes."""

from __future__ import annotations

import numpy as np
import pytest

from compactemb import (
    DenseTable,
    KeyedVectors,
    OneHotEncoder,
    Vocab,
    interaction_memory,
    memory_report,
    onehot_vs_embedding,
    plot_memory_growth,
)
from compactemb.onehot import csr_nbytes


def test_vocabulary_arithmetic():
    r = onehot_vs_embedding(10_000, 300)
    assert r["onehot_dense_bytes"] == 400_000_000  # 10,000 x 10,000 float32
    assert r["table_bytes"] == 12_000_000  # 10,000 x 300 float32
    assert r["ratio_onehot_dense_to_table"] == pytest.approx(33.333, abs=1e-3)
    assert (r["onehot_values_per_row"], r["embedding_values_per_row"]) == (10_000, 300)
    # CSR: one float32 value + one int32 index per row + int32 indptr
    assert r["onehot_sparse_bytes"] == 10_000 * 8 + 10_001 * 4


def test_recommender_arithmetic():
    r = interaction_memory(1_000_000, 100_000, 50)
    assert r["onehot_width_per_interaction"] == 1_100_000
    assert r["embedding_values_per_interaction"] == 100
    assert r["user_table_bytes"] == 1_000_000 * 50 * 4
    assert r["item_table_bytes"] == 100_000 * 50 * 4
    assert r["onehot_dense_bytes_per_interaction"] == 4_400_000
    r = interaction_memory(10, 5, 2, n_interactions=7)
    assert r["onehot_dense_bytes_all_interactions"] == 7 * 15 * 4
    assert r["embedded_bytes_all_interactions"] == 7 * 2 * 2 * 4


def test_onehot_encoder_real_objects_match_arithmetic():
    enc = OneHotEncoder(1000)
    ids = np.array([3, 999, 0, 3])
    dense = enc.dense(ids)
    assert dense.shape == (4, 1000) and dense.sum() == 4 and dense[1, 999] == 1
    sparse = enc.sparse(ids)
    np.testing.assert_array_equal(sparse.toarray(), dense)
    assert dense.nbytes == enc.dense_bytes(4)
    all_rows = enc.sparse(np.arange(1000))
    assert csr_nbytes(all_rows) == onehot_vs_embedding(1000, 10)["onehot_sparse_bytes"]
    assert enc.dense(np.arange(1000)).nbytes == onehot_vs_embedding(1000, 10)["onehot_dense_bytes"]


def test_measured_report_sums_real_array_sizes():
    vocab = Vocab(["a", "bb", "ccc"], [3, 2, 1])
    table = DenseTable(np.zeros((3, 5), np.float32))
    kv = KeyedVectors(vocab, table)
    rep = memory_report(kv)
    assert rep.parts["table.weights"] == table.weights.nbytes == 60
    assert rep.parts["vocab.key_bytes"] == 6
    assert rep.parts["vocab.key_offsets"] == 4 * 8
    assert rep.total == sum(rep.parts.values())
    d = rep.to_dict()
    assert d["onehot_comparison"]["vocab_size"] == 3 and d["table_bytes_measured"] == 60
    assert "table.weights" in str(rep)
    half = memory_report(table.astype("float16"))
    assert half.parts == {"table.weights": 30}


def test_memory_plot_is_a_png(tmp_path):
    pytest.importorskip("matplotlib")
    path = tmp_path / "m.png"
    curves = plot_memory_growth(path, dim=300, marks={"x": (1000, 1_200_000)})
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    v = np.array(curves["vocab_sizes"])
    dense = np.array(curves["bytes"]["one-hot dense"], dtype=float)
    table = np.array(curves["bytes"]["dense float32"], dtype=float)
    np.testing.assert_allclose(dense, v.astype(float) ** 2 * 4)  # quadratic
    np.testing.assert_allclose(table, v * 300 * 4.0)  # linear
