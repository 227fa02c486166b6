"""Recommendations for every user written to a file (issue 11), against brute-force ranking."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pyarrow.parquet as pq
import pytest

from compactemb.batch_recommend import write_recommendations
from compactemb.cli import main
from compactemb.interactions import Interactions
from compactemb.train import ALS


@pytest.fixture(scope="module")
def model():
    rng = np.random.default_rng(4)
    users = rng.zipf(1.4, 3000) * 101 + 9
    items = np.array([f"item{v}" for v in (rng.zipf(1.3, 3000) % 150).tolist()], dtype=object)
    inter = Interactions.from_arrays(users, items)
    return ALS(dim=8, epochs=3, n_threads=1, random_state=0).fit(inter).model_, inter


def brute_force(model, inter, k):
    """Every user's scores against every item, seen items removed, ranked by score then row."""
    X, Y = np.asarray(model.user_table), np.asarray(model.item_table)
    seen = inter.matrix.toarray() > 0
    out = []
    for u in range(model.n_users):
        s = X[u] @ Y.T
        cand = [(-float(s[i]), i) for i in range(model.n_items) if not seen[u, i]]
        cand.sort()
        out.append([(inter.user_vocab.keys[u], r + 1, inter.item_vocab.keys[i], -ns)
                    for r, (ns, i) in enumerate(cand[:k])])
    return [row for rows in out for row in rows]


@pytest.mark.parametrize("name", ["recs.parquet", "recs.tsv", "recs.tsv.gz"])
def test_every_user_written_as_brute_force_ranks(model, tmp_path, name):
    m, inter = model
    info = write_recommendations(m, tmp_path / name, k=5, batch=37, show_progress=False)
    expected = brute_force(m, inter, 5)
    if name.endswith(".parquet"):
        t = pq.read_table(tmp_path / name).to_pydict()
        got = list(zip(t["user"], t["rank"], t["item"], t["score"]))
        assert pq.ParquetFile(tmp_path / name).metadata.num_row_groups > 1  # batch by batch
    else:
        opener = gzip.open if name.endswith(".gz") else open
        with opener(tmp_path / name, "rt", encoding="utf-8") as f:
            lines = f.read().splitlines()
        assert lines[0] == "user\trank\titem\tscore"
        got = [(int(u), int(r), i, float(s)) for u, r, i, s in
               (line.split("\t") for line in lines[1:])]
    assert info["rows"] == len(expected) and info["users"] == m.n_users
    assert [g[:3] for g in got] == [e[:3] for e in expected]
    np.testing.assert_allclose([g[3] for g in got], [e[3] for e in expected], rtol=1e-5,
                               atol=1e-6)
    assert not (tmp_path / (name + ".tmp")).exists()


def test_cli_recommend_all(model, tmp_path, capsys):
    m, _ = model
    m.save(tmp_path / "m.cemb")
    out = tmp_path / "all.parquet"
    code = main(["recommend", str(tmp_path / "m.cemb"), "--all", "-o", str(out), "-k", "3",
                 "--json"])
    info = json.loads(capsys.readouterr().out)
    assert code == 0 and info["users"] == m.n_users and info["format"] == "parquet"
    table = pq.read_table(out).to_pydict()
    first_user = table["user"][0]
    assert [i for u, i in zip(table["user"], table["item"]) if u == first_user] == \
        [i for i, _ in m.recommend(first_user, k=3)]


@pytest.mark.parametrize("argv,match", [
    (["--all"], "go together"),
    (["-o", "x.parquet"], "go together"),
    (["5", "--all", "-o", "x.parquet"], "no user IDs"),
    ([], "give user IDs"),
])
def test_cli_recommend_all_errors(model, tmp_path, capsys, argv, match):
    m, _ = model
    m.save(tmp_path / "m.cemb")
    code = main(["recommend", str(tmp_path / "m.cemb"), *argv])
    assert code != 0 and match in capsys.readouterr().err


def test_threaded_shares_equal_one_thread(model):
    m, inter = model
    rows = np.arange(m.n_users)
    one = m.recommend_rows(rows, k=4, batch=7, n_threads=1)
    two = m.recommend_rows(rows, k=4, batch=7, n_threads=2)
    assert np.array_equal(one.ids, two.ids)
    # BLAS may round a row's products differently inside differently shaped batches
    np.testing.assert_allclose(one.scores, two.scores, rtol=1e-5, atol=1e-6)
    expected = brute_force(m, inter, 4)
    got = [(inter.user_vocab.keys[u], r + 1, inter.item_vocab.keys[i])
           for u in range(m.n_users) for r, i in enumerate(two.ids[u].tolist()) if i >= 0]
    assert got == [e[:3] for e in expected]
