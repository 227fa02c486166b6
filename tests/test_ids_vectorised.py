"""Vectorised ID indexing (issue 11): hashing paths against plain-Python references."""

from __future__ import annotations

import builtins
from collections import Counter

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from compactemb import InputError, UnknownKeyError, Vocab
from compactemb.interactions import Interactions
from compactemb.vocab import factorize_ids


def reference_factorize(values):
    """First-seen order with a dict; non-int values as strings (the package's ID rule)."""
    listed = list(values)
    if not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in listed):
        listed = [str(v) for v in listed]
    else:
        listed = [int(v) for v in listed]
    first: dict = {}
    codes = [first.setdefault(v, len(first)) for v in listed]
    return list(first), codes


def reference_vocab(values, min_count=1, max_size=None):
    """Keys by frequency, ties in first-seen order (the slow obvious way)."""
    uniques, codes = reference_factorize(values)
    counts = Counter(uniques[c] for c in codes)
    ranked = sorted(uniques, key=lambda k: -counts[k])  # sorted is stable: first-seen ties
    ranked = [k for k in ranked if counts[k] >= min_count][:max_size]
    return ranked, [counts[k] for k in ranked]


RNG = np.random.default_rng(3)
INTS = (RNG.zipf(1.5, 5000) * 7919 + 10**12).astype(np.int64)  # raw, non-contiguous, repeated
STRS = np.array([f"u{v % 613}" for v in INTS.tolist()], dtype=object)


@pytest.mark.parametrize("values", [
    INTS, INTS.astype(np.uint32), INTS.astype(np.float64), STRS, STRS.astype(str),
    pd.Series(INTS), pd.Series(STRS), pd.Series(STRS.tolist(), dtype="string[pyarrow]"),
    pa.array(INTS), pa.array(STRS.tolist()), pa.chunked_array([STRS[:100].tolist(),
                                                               STRS[100:].tolist()]),
    list(STRS[:50]), [1, "1", 2, "x", 2],
])
def test_factorize_matches_first_seen_reference(values):
    uniques, codes = factorize_ids(values)
    ref_values = values.to_pylist() if isinstance(values, (pa.Array, pa.ChunkedArray)) \
        else list(values)
    if isinstance(values, np.ndarray) and values.dtype.kind in "uf":
        ref_values = [int(v) for v in ref_values]
    ref_uniques, ref_codes = reference_factorize(ref_values)
    got = uniques.tolist() if isinstance(uniques, np.ndarray) else uniques
    assert got == ref_uniques
    assert np.asarray(codes).tolist() == ref_codes


def test_factorize_without_pandas_gives_the_same(monkeypatch):
    real_import = builtins.__import__

    def no_pandas(name, *args, **kw):
        if name == "pandas":
            raise ImportError("pandas hidden by the test")
        return real_import(name, *args, **kw)

    expected = [factorize_ids(v) for v in (INTS, STRS, [3, "a", 3])]
    monkeypatch.setattr(builtins, "__import__", no_pandas)
    for values, (u_ref, c_ref) in zip((INTS, STRS, [3, "a", 3]), expected):
        uniques, codes = factorize_ids(values)
        assert list(uniques) == list(u_ref) and codes.tolist() == c_ref.tolist()
    with pytest.raises(InputError, match="row 1"):
        factorize_ids(np.array(["a", None], dtype=object))


@pytest.mark.parametrize("values,row", [
    (np.array([1.0, np.nan, 3.0]), 1),
    (np.array(["a", "b", None], dtype=object), 2),
    (pd.Series(["a", None, "c"], dtype="string[pyarrow]"), 1),
    (pa.array([1, 2, None]), 2),
])
def test_missing_ids_name_the_row(values, row):
    with pytest.raises(InputError, match=f"missing.*row {row}"):
        factorize_ids(values, what="user ID")


@pytest.mark.parametrize("min_count,max_size", [(1, None), (2, None), (1, 10), (3, 5)])
@pytest.mark.parametrize("values", [INTS, STRS])
def test_from_ids_encoded_matches_reference(values, min_count, max_size):
    vocab, codes = Vocab.from_ids_encoded(values, min_count=min_count, max_size=max_size)
    keys, counts = reference_vocab(values.tolist(), min_count, max_size)
    assert vocab.keys == keys and vocab.counts.tolist() == counts
    ref_rows = {k: n for n, k in enumerate(keys)}
    listed = [str(v) for v in values.tolist()] if values.dtype == object else values.tolist()
    assert codes.tolist() == [ref_rows.get(v, -1) for v in listed]
    assert codes.dtype == np.int32
    assert Vocab.from_ids(values, min_count=min_count, max_size=max_size).keys == keys


def test_int_vocab_has_no_python_object_per_key_and_caches_keys():
    vocab = Vocab.from_ids(INTS)
    assert vocab._index is None and vocab._key_list is None
    rows = vocab.encode(INTS)
    assert vocab._index is None and vocab._key_list is None  # encoded without a dict
    assert vocab.decode_array(rows).tolist() == INTS.tolist()
    assert vocab.decode(rows[:7]) == INTS[:7].tolist()
    arr = vocab.key_array
    assert arr.dtype == np.int64 and not arr.flags.writeable
    assert vocab.keys is vocab.keys  # built once, not per access
    assert vocab.decode_array(np.array([[0, 1], [2, 0]])).shape == (2, 2)
    with pytest.raises(IndexError, match="out of range"):
        vocab.decode_array([len(vocab)])


def test_int_vocab_encode_policies_against_dict_reference():
    vocab = Vocab(np.array([70, 30, 90, 10]), [4, 3, 2, 1])
    ref = {70: 0, 30: 1, 90: 2, 10: 3}
    queries = [10, 70, "30", np.int64(90), 55, "x", True, 2**70]
    expect = [ref.get(q if not isinstance(q, str) or not q.isdigit() else int(q), -1)
              if not isinstance(q, bool) else -1 for q in queries]
    expect = [e if isinstance(q, (int, str, np.integer)) else -1 for q, e in zip(queries, expect)]
    assert vocab.encode(queries, on_unknown="fill").tolist() == expect
    assert vocab.encode(queries, on_unknown="skip").tolist() == [e for e in expect if e >= 0]
    with pytest.raises(UnknownKeyError, match="55"):
        vocab.encode([10, 55])
    assert vocab.encode(np.array([90, 11], np.uint8), on_unknown="fill").tolist() == [2, -1]
    assert 30 in vocab and "30" in vocab and 31 not in vocab and vocab["90"] == 2
    with pytest.raises(UnknownKeyError):
        vocab[31]


def test_str_vocab_decode_array_and_encode():
    vocab = Vocab(["b", "a", "c"], [3, 2, 1])
    assert vocab.decode_array(np.array([[2, 0]])).tolist() == [["c", "b"]]
    assert vocab.encode(np.array(["c", "zz", "a"]), on_unknown="fill").tolist() == [2, -1, 1]
    assert vocab.encode(iter(["a"])).tolist() == [1]


def reference_matrix(users, items, weights, times=None):
    """Sum of weights (and latest time) per (user, item) with dicts."""
    sums: dict = {}
    latest: dict = {}
    for n, (u, i, w) in enumerate(zip(users, items, weights)):
        sums[(u, i)] = sums.get((u, i), 0.0) + w
        if times is not None:
            latest[(u, i)] = max(latest.get((u, i), -np.inf), times[n])
    return sums, latest


@pytest.mark.parametrize("kind", ["int", "str", "pandas", "arrow-table"])
@pytest.mark.parametrize("with_time", [False, True])
def test_from_arrays_matches_dict_reference(kind, with_time):
    rng = np.random.default_rng(5)
    n = 3000
    users = rng.zipf(1.6, n) * 1009 + 5
    items = rng.integers(0, 200, n) * 13 + 10**9
    weights = rng.integers(1, 5, n).astype(np.float32)
    times = rng.random(n) * 1000 if with_time else None
    if kind == "str":
        users = np.array([f"user{u}" for u in users.tolist()], dtype=object)
    if kind in ("pandas", "arrow-table"):
        df = pd.DataFrame({"user": users, "item": [f"i{i}" for i in items.tolist()],
                           "w": weights, "t": times if with_time else 0.0})
        items = df["item"].to_numpy()
        table = df if kind == "pandas" else pa.Table.from_pandas(df)
        inter = Interactions.from_dataframe(table, "user", "item", "w",
                                            "t" if with_time else None)
    else:
        inter = Interactions.from_arrays(users, items, weights, times)
    sums, latest = reference_matrix(users.tolist(), items.tolist(), weights.tolist(),
                                    times.tolist() if with_time else None)
    coo = inter.matrix.tocoo()
    ukeys, ikeys = inter.user_vocab.decode(coo.row), inter.item_vocab.decode(coo.col)
    got = dict(zip(zip(ukeys, ikeys), coo.data.tolist()))
    assert got == pytest.approx(sums)
    assert inter.matrix.has_sorted_indices and inter.matrix.indices.dtype == np.int32
    m = inter.matrix
    for r in range(m.shape[0]):  # sorted and unique within every row
        assert np.all(np.diff(m.indices[m.indptr[r]:m.indptr[r + 1]]) > 0)
    assert inter.user_vocab.keys == reference_vocab(users.tolist())[0]
    if with_time:
        got_t = dict(zip(zip(ukeys, ikeys), inter.timestamps.tolist()))
        assert got_t == latest


def test_from_arrays_with_given_vocab_and_unknowns():
    train = Interactions.from_arrays(np.array([1, 2, 3]), np.array(["a", "b", "a"]))
    test = Interactions.from_arrays(np.array([3, 9, 1]), np.array(["b", "a", "z"]),
                                    user_vocab=train.user_vocab, item_vocab=train.item_vocab,
                                    on_unknown="skip")
    assert test.nnz == 1 and test.to_rows()[0] == [3] and test.to_rows()[1] == ["b"]
    with pytest.raises(InputError, match="1 interactions have an unknown user: 9"):
        Interactions.from_arrays(np.array([3, 9]), np.array(["b", "a"]),
                                 user_vocab=train.user_vocab, item_vocab=train.item_vocab)
    back, dropped = test.reindex(train.user_vocab, train.item_vocab)
    assert dropped == 0 and back.nnz == 1
