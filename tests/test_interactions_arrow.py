"""The pyarrow reader of interaction files (issue 11) against the Python reader."""

from __future__ import annotations

import gzip

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from compactemb import InputError, interactions_io
from compactemb.interactions_io import read_interactions


def same(a, b):
    assert a.user_vocab.keys == b.user_vocab.keys and a.item_vocab.keys == b.item_vocab.keys
    assert a.user_vocab.key_type == b.user_vocab.key_type
    assert (a.matrix != b.matrix).nnz == 0 and a.matrix.shape == b.matrix.shape
    assert (a.timestamps is None) == (b.timestamps is None)
    if a.timestamps is not None:
        assert np.array_equal(a.timestamps, b.timestamps)


def rows(n=2000, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.zipf(1.5, n) * 31 + 7, rng.integers(0, 300, n) * 11 + 10**10,
            rng.integers(1, 6, n), rng.integers(10**9, 2 * 10**9, n))


CASES = {
    "csv-header.csv": lambda u, i, w, t: "userId,movieId,rating,timestamp\n" + "".join(
        f"{a},{b},{c},{d}\n" for a, b, c, d in zip(u, i, w, t)),
    "tabs.tsv": lambda u, i, w, t: "".join(f"u{a}\titem {b}\t{c}.5\n" for a, b, c, _ in
                                           zip(u, i, w, t)),
    "spaces.txt": lambda u, i, w, t: "".join(f"{a} {b} {c}\n" for a, b, c, _ in zip(u, i, w, t)),
    "quoted.csv": lambda u, i, w, t: "user,item,weight\n" + "".join(
        f'"{a},x",{b},{c}\n' for a, b, c, _ in zip(u, i, w, t)),
    "crlf.csv": lambda u, i, w, t: "".join(f"{a},{b},{c}\r\n" for a, b, c, _ in zip(u, i, w, t)),
    "blank-lines.txt": lambda u, i, w, t: "".join(f"{a}\t{b}\t{c}\n\n" for a, b, c, _ in
                                                  zip(u, i, w, t)),
    # files only the Python reader takes exactly: the fast path must step aside
    "comments.tsv": lambda u, i, w, t: "".join(f"{a}\t{b}\t{c}\n# note\n" for a, b, c, _ in
                                               zip(u, i, w, t)),
    "padded.csv": lambda u, i, w, t: "".join(f"{a}, {b} ,{c}\n" for a, b, c, _ in
                                             zip(u, i, w, t)),
    "leading-zeros.tsv": lambda u, i, w, t: "".join(f"{'0' if a % 2 else 'x'}{a}\t{b}\n"
                                                    for a, b, _, _ in zip(u, i, w, t)),
    "mixed-spacing.txt": lambda u, i, w, t: "".join(f"{a}{'  ' if a % 3 else ' '}{b}\n"
                                                    for a, b, _, _ in zip(u, i, w, t)),
    "extra-fields.tsv": lambda u, i, w, t: "".join(f"{a}\t{b}\t{c}" + "\tx" * (a % 2) + "\n"
                                                   for a, b, c, _ in zip(u, i, w, t)),
    "bom.csv": lambda u, i, w, t: "\ufeffu,i,w\n" + "".join(f"s{a},{b},{c}\n" for a, b, c, _ in
                                                           zip(u, i, w, t)),
}


FAST = {"csv-header.csv", "tabs.tsv", "spaces.txt", "quoted.csv", "crlf.csv", "blank-lines.txt",
        "bom.csv"}


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("compress", [False, True])
def test_arrow_reader_equals_python_reader(tmp_path, monkeypatch, name, compress):
    text = CASES[name](*rows())
    path = tmp_path / (name + (".gz" if compress else ""))
    data = text.encode("utf-8")
    path.write_bytes(gzip.compress(data) if compress else data)
    expected = read_interactions(path, engine="python")
    if name in FAST:  # these must not fall back to the Python reader
        def python_reader(*args, **kw):
            raise AssertionError("the Python reader ran")

        monkeypatch.setattr(interactions_io, "_rows_to_interactions", python_reader)
    same(read_interactions(path, engine="auto"), expected)


def test_named_columns_and_timestamps(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text(CASES["csv-header.csv"](*rows()))
    kw = {"user_col": "movieId", "item_col": "userId", "time_col": "timestamp"}
    fast = read_interactions(path, engine="pyarrow", **kw)
    same(fast, read_interactions(path, engine="python", **kw))
    assert fast.timestamps is not None and fast.user_vocab.key_type == "int"


@pytest.mark.parametrize("body,match", [
    ("1,2,3\n4,5\n", r"line 2: expected at least 3 fields"),
    ("1,2,3\n4,5,nan\n", r"line 2: weight 'nan' is not finite"),
    ("1,2,3\n4,5,x\n6,7,8\n", r"line 2: weight 'x' is not a number"),
    ("1,2,3\n,5,1\n", r"line 2: empty user ID"),
    ("1\t2\t3\n4\t\t1\n", r"line 2: empty item ID"),
])
def test_errors_still_name_the_line(tmp_path, body, match):
    path = tmp_path / ("bad.tsv" if "\t" in body else "bad.csv")
    path.write_text(body)
    with pytest.raises(InputError, match=match):
        read_interactions(path, engine="pyarrow", header=False)


def test_parquet_columns_go_straight_to_the_indexer(tmp_path):
    u, i, w, t = rows()
    table = pa.table({"user": [f"u{x}" for x in u], "item": i, "rating": w.astype(float),
                      "timestamp": t})
    pq.write_table(table, tmp_path / "r.parquet")
    csv = tmp_path / "r.tsv"
    csv.write_text("user\titem\trating\ttimestamp\n" + "".join(
        f"u{a}\t{b}\t{c}\t{d}\n" for a, b, c, d in zip(u, i, w, t)))
    same(read_interactions(tmp_path / "r.parquet"), read_interactions(csv, engine="python"))


def test_bad_engine():
    with pytest.raises(InputError, match="engine must be one of"):
        read_interactions("x.csv", engine="fast")
