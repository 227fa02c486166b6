"""Interactions: loaders, confidence weighting, splits (checked against plain Python)."""

from __future__ import annotations

import collections

import numpy as np
import pytest
from conftest import shared_file

from compactemb.exceptions import InputError
from compactemb.interactions import (
    Interactions,
    confidence,
    leave_k_out_split,
    read_interactions,
    temporal_split,
    train_test_split,
)


def _as_dict(inter: Interactions) -> dict:
    """{(user key, item key): weight} of every stored pair."""
    users, items, w, _ = inter.to_rows()
    return {(u, i): float(x) for u, i, x in zip(users, items, w)}


def _write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def test_text_without_header_sums_duplicates(tmp_path):
    p = _write(tmp_path, "x.txt", "1 10 2\n2 10 1\n1 11 0.5\n1 10 3\n# comment\n\n")
    inter = read_interactions(p)
    assert _as_dict(inter) == {(1, 10): 5.0, (2, 10): 1.0, (1, 11): 0.5}
    assert inter.shape == (2, 2) and inter.nnz == 3
    assert inter.timestamps is None


def test_csv_with_header_columns_by_name(tmp_path):
    p = _write(tmp_path, "plays.csv",
               "when,song,listener,plays\n5,\"a, b\",ann,3\n6,c,bob,1\n7,c,ann,2\n")
    inter = read_interactions(p, user_col="listener", item_col="song", weight_col="plays",
                              time_col="when")
    assert _as_dict(inter) == {("ann", "a, b"): 3.0, ("bob", "c"): 1.0, ("ann", "c"): 2.0}
    ts = dict(zip(zip(*inter.to_rows()[:2]), inter.timestamps))
    assert ts[("ann", "c")] == 7 and ts[("bob", "c")] == 6


def test_tsv_columns_by_position_and_no_weights(tmp_path):
    p = _write(tmp_path, "x.tsv", "x\tu1\ti1\n x\tu2\ti1\n")
    inter = read_interactions(p, header=False, user_col=1, item_col=2, weight_col=None)
    assert _as_dict(inter) == {("u1", "i1"): 1.0, ("u2", "i1"): 1.0}


def test_movielens_u_data_and_ratings_csv(tmp_path):
    p = _write(tmp_path, "u.data", "196\t242\t3\t881250949\n186\t302\t3\t891717742\n")
    inter = read_interactions(p)
    assert _as_dict(inter) == {(196, 242): 3.0, (186, 302): 3.0}
    assert sorted(inter.timestamps) == [881250949, 891717742]
    p = _write(tmp_path, "ratings.csv",
               "userId,movieId,rating,timestamp\n1,1,4.0,964982703\n1,3,4.5,964981247\n")
    inter = read_interactions(p)
    assert _as_dict(inter) == {(1, 1): 4.0, (1, 3): 4.5}
    assert sorted(inter.timestamps) == [964981247, 964982703]


def test_dataframe_and_parquet(tmp_path):
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame({"u": ["a", "b", "a"], "i": [1, 2, 2], "rating": [1.0, 2.0, 3.0],
                       "timestamp": [3, 2, 1]})
    inter = Interactions.from_dataframe(df, "u", "i", "rating", "timestamp")
    assert _as_dict(inter) == {("a", 1): 1.0, ("b", 2): 2.0, ("a", 2): 3.0}
    with pytest.raises(InputError, match="IDs are missing"):
        Interactions.from_arrays(np.array([1.0, np.nan]), np.array([1, 2]))
    pytest.importorskip("pyarrow")
    path = tmp_path / "x.parquet"
    df.to_parquet(path)
    got = read_interactions(path, user_col="u", item_col="i")
    assert _as_dict(got) == _as_dict(inter)
    assert sorted(got.timestamps) == [1, 2, 3]


@pytest.mark.parametrize("text, reason", [
    ("1 2 3\n1 2 x\n", "line 2: weight 'x' is not a number"),
    ("1 2 3\n7\n", "line 2: expected at least 3 fields"),
    ("1 2 3\n1 2 inf\n", "line 2: weight 'inf' is not finite"),
])
def test_malformed_rows_name_file_and_line(tmp_path, text, reason):
    p = _write(tmp_path, "bad.txt", text)
    with pytest.raises(InputError, match=reason) as exc:
        read_interactions(p)
    assert str(p) in str(exc.value)


def test_bad_timestamp_and_missing_named_column(tmp_path):
    p = _write(tmp_path, "u.data", "1\t2\t3\t100\n1\t3\t3\tnoon\n")
    with pytest.raises(InputError, match=r"line 2: timestamp 'noon' is not a number"):
        read_interactions(p)
    p = _write(tmp_path, "x.csv", "user,item\n1,2\n3,4\n")
    assert _as_dict(read_interactions(p)) == {(1, 2): 1.0, (3, 4): 1.0}  # header detected
    with pytest.raises(InputError, match="no weight column named 'stars'"):
        read_interactions(p, weight_col="stars")
    p = _write(tmp_path, "y.txt", "1 2\n")
    with pytest.raises(InputError, match="has no header"):
        read_interactions(p, header=False, user_col="user")


def test_confidence_weightings():
    inter = Interactions.from_arrays([1, 1, 2], [5, 6, 5], [2.0, 0.0, 9.0])
    w = inter.matrix.data.astype(np.float64)
    np.testing.assert_allclose(confidence(inter.matrix, alpha=3).data, 1 + 3 * w, rtol=1e-6)
    np.testing.assert_allclose(confidence(inter.matrix, weighting="log", alpha=2, eps=0.5).data,
                               1 + 2 * np.log(1 + w / 0.5), rtol=1e-6)
    np.testing.assert_allclose(confidence(inter.matrix, weighting="binary", alpha=4).data, 5)
    np.testing.assert_allclose(confidence(inter.matrix, weighting="none").data, w)
    with pytest.raises(InputError, match="weighting must be one of"):
        confidence(inter.matrix, weighting="bm25")


@pytest.fixture
def random_inter():
    rng = np.random.default_rng(3)
    n = 3000
    users = rng.integers(0, 60, n)
    items = rng.integers(0, 200, n)
    return Interactions.from_arrays(users, items, rng.integers(1, 5, n),
                                    timestamps=rng.permutation(n).astype(float))


def _check_partition(inter, train, test):
    full, a, b = _as_dict(inter), _as_dict(train), _as_dict(test)
    assert not set(a) & set(b)
    assert {**a, **b} == full
    for part in (train, test):  # timestamps stay with their pairs
        ts_full = dict(zip(zip(*inter.to_rows()[:2]), inter.timestamps))
        assert all(ts_full[k] == t for k, t in zip(zip(*part.to_rows()[:2]), part.timestamps))


def test_random_split_per_user_fraction_and_seed(random_inter):
    train, test = train_test_split(random_inter, 0.25, random_state=1)
    _check_partition(random_inter, train, test)
    n_u = np.diff(random_inter.matrix.indptr)
    n_test = np.diff(test.matrix.indptr)
    expected = np.minimum(np.rint(n_u * 0.25), np.maximum(n_u - 1, 0))
    np.testing.assert_array_equal(n_test, expected)
    again = train_test_split(random_inter, 0.25, random_state=1)[1]
    assert _as_dict(again) == _as_dict(test)
    other = train_test_split(random_inter, 0.25, random_state=2)[1]
    assert _as_dict(other) != _as_dict(test)


def test_leave_k_out_split(random_inter):
    train, test = leave_k_out_split(random_inter, 2, random_state=0)
    _check_partition(random_inter, train, test)
    n_u = np.diff(random_inter.matrix.indptr)
    np.testing.assert_array_equal(np.diff(test.matrix.indptr), np.where(n_u > 3, 2, 0))


def test_temporal_split_holds_out_latest(random_inter):
    train, test = temporal_split(random_inter, 0.2)
    _check_partition(random_inter, train, test)
    by_user = collections.defaultdict(list)
    for u, _, _, t in zip(*random_inter.to_rows()[:3], random_inter.timestamps):
        by_user[u].append(t)
    test_rows = test.to_rows()
    for u in by_user:
        ts = sorted(by_user[u], reverse=True)
        n_test = int(min(np.rint(len(ts) * 0.2), len(ts) - 1))
        got = sorted((t for uu, t in zip(test_rows[0], test.timestamps) if uu == u),
                     reverse=True)
        assert got == ts[:n_test]
    _, test_global = temporal_split(random_inter, 0.1, per_user=False)
    assert test_global.timestamps.min() > train.timestamps.min()
    no_time = Interactions.from_arrays([1, 2], [1, 2])
    with pytest.raises(InputError, match="needs timestamps"):
        temporal_split(no_time)


def test_reindex_and_write_roundtrip(tmp_path, random_inter):
    p = tmp_path / "out.tsv"
    random_inter.write(p)
    back = read_interactions(p)
    assert _as_dict(back) == _as_dict(random_inter)
    aligned, dropped = back.reindex(random_inter.user_vocab, random_inter.item_vocab)
    assert dropped == 0
    assert (aligned.matrix != random_inter.matrix).nnz == 0
    small = Interactions.from_arrays([0, 999], [0, 0])
    aligned, dropped = small.reindex(random_inter.user_vocab, random_inter.item_vocab)
    assert dropped == 1 and aligned.nnz == 1


def test_shared_movielens_and_lastfm_counts():
    ml = read_interactions(shared_file("movielens-100k", "u.data"))
    assert (ml.nnz, ml.shape) == (100_000, (943, 1682))
    assert ml.matrix.data.min() == 1 and ml.matrix.data.max() == 5
    fm = read_interactions(shared_file("lastfm-hetrec2011-2k", "user_artists.dat"))
    assert (fm.nnz, fm.shape) == (92_834, (1892, 17_632))
    assert fm.matrix[fm.user_vocab[2], fm.item_vocab[51]] == 13883
