"""The blocked top-k (issue 11): kernel and twin paths against a brute-force ranking."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from compactemb import DenseTable
from compactemb.search import blocked_top_k


def brute(scores, k):
    """Best first by score, ties by lower row; -inf never returned (padded with -1)."""
    ids = np.full((scores.shape[0], k), -1)
    for r, row in enumerate(scores):
        order = np.lexsort((np.arange(row.size), -row.astype(np.float64)))  # score, then row
        order = order[row[order] > -np.inf][:k]
        ids[r, :order.size] = order
    return ids


@pytest.mark.parametrize("n_queries,n_rows,k", [(3, 50, 5), (150, 40_000, 7), (5, 4, 10)])
def test_blocked_top_k_equals_brute_force(n_queries, n_rows, k):
    rng = np.random.default_rng(n_rows)
    table = DenseTable(rng.integers(-3, 4, (n_rows, 4)).astype(np.float32))  # many ties
    q = rng.integers(-2, 3, (n_queries, 4)).astype(np.float32)
    scores = q @ np.asarray(table).T
    scores[:, ::7] = -np.inf  # excluded rows are never returned

    def score(q0, q1, start, rows):
        return scores[q0:q1, start:start + rows.shape[0]].copy()

    res = blocked_top_k(score, n_queries, table, k=k, block_rows=1000, query_batch=64)
    width = res.ids.shape[1]
    assert width in (k, min(k, n_rows))  # results may be capped at the number of rows
    expected = brute(scores, k)[:, :width]
    assert np.array_equal(res.ids, expected)
    got = np.where(res.ids >= 0, res.scores, -np.inf)
    want = np.take_along_axis(scores, np.maximum(expected, 0), axis=1)
    assert np.array_equal(got, np.where(expected >= 0, want, -np.inf))


def test_a_small_search_does_not_import_numba():
    code = ("import sys, numpy as np\n"
            "from compactemb import DenseTable\n"
            "from compactemb.search import search\n"
            "t = DenseTable(np.eye(50, dtype=np.float32))\n"
            "res = search(t, np.eye(50, dtype=np.float32)[:2], k=3)\n"
            "assert res.ids[:, 0].tolist() == [0, 1], res\n"
            "assert 'numba' not in sys.modules\n")
    subprocess.run([sys.executable, "-c", code], check=True)
