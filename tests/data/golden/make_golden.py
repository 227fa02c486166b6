"""Writes the golden files of format version 1. Run once when a format version is added:
    python tests/data/golden/make_golden.py
The files are committed; tests/test_storage.py checks that they still load, with the values
written literally in the test, and that saving the same objects gives the same bytes."""

from pathlib import Path

import numpy as np

import compactemb
from compactemb import DenseTable, KeyedVectors, Vocab


def golden_objects():
    vocab = Vocab(["alpha", "beta", "γάμμα"], [5, 3, 2], build_info={"min_count": 1})
    table = DenseTable(np.array([[1.0, -2.0], [0.5, 4.0], [-3.25, 6.0]], dtype=np.float32))
    kv = KeyedVectors(vocab, table, {"trainer": "golden", "quality": {"note": "fixed values"}})
    half = DenseTable(np.array([[1.5, 2.0, -0.25]], dtype=np.float16))
    return kv, half


if __name__ == "__main__":
    assert compactemb.__version__ == "0.1.0", "golden files are written with version 0.1.0"
    here = Path(__file__).parent / "v1"
    kv, half = golden_objects()
    kv.save(here / "keyed_vectors.cemb")
    half.save(here / "table_float16.cemb", meta={"golden": True})
