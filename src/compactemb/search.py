"""Exact nearest-neighbour search over any table, in blocks (bounded memory, BLAS matmuls).

Rows are decoded block by block through the table protocol, so compressed and memory-mapped
tables are searched without materialising a dense or normalised copy; cosine similarity divides
by cached row norms (``n_rows`` floats).
"""

from __future__ import annotations

from typing import Literal, NamedTuple

import numpy as np

from .exceptions import InputError

Metric = Literal["cosine", "dot"]


class SearchResult(NamedTuple):
    """Top-k results, best first: ``ids`` (n_queries, k) int64 padded with -1, ``scores``
    (n_queries, k) float32 padded with -inf."""

    ids: np.ndarray
    scores: np.ndarray


def _merge_topk(best_s, best_i, s, offset, k):
    """Merge a block of scores (n, b) into the running top-k (n, k)."""
    cand_s = np.concatenate([best_s, s], axis=1)
    cand_i = np.concatenate([best_i, np.broadcast_to(
        np.arange(offset, offset + s.shape[1], dtype=np.int64), s.shape)], axis=1)
    if cand_s.shape[1] > k:
        part = np.argpartition(-cand_s, k - 1, axis=1)[:, :k]
        cand_s = np.take_along_axis(cand_s, part, axis=1)
        cand_i = np.take_along_axis(cand_i, part, axis=1)
    return cand_s, cand_i


def flatten_exclusions(exclude, q0: int, q1: int) -> tuple[np.ndarray, np.ndarray]:
    """(query row, table row) pairs of ``exclude[q0:q1]`` (a list of id arrays, or a 2-D array
    padded with -1), rows relative to ``q0``."""
    if isinstance(exclude, np.ndarray) and exclude.ndim == 2:
        part = exclude[q0:q1]
        rows = np.repeat(np.arange(part.shape[0]), part.shape[1])
        cols = part.reshape(-1).astype(np.int64)
    else:
        lists = [np.asarray(exclude[r], dtype=np.int64).ravel() for r in range(q0, q1)]
        rows = np.repeat(np.arange(len(lists)), [len(x) for x in lists])
        cols = np.concatenate(lists) if lists else np.empty(0, np.int64)
    keep = cols >= 0
    return rows[keep], cols[keep]


def _mask_excluded(scores: np.ndarray, rows: np.ndarray, cols: np.ndarray, start: int) -> None:
    inside = (cols >= start) & (cols < start + scores.shape[1])
    scores[rows[inside], cols[inside] - start] = -np.inf


def search(table, queries, *, k: int = 10, metric: Metric = "cosine", exclude=None,
           block_rows: int = 16384, query_batch: int = 1024) -> SearchResult:
    """Exact top-k rows of ``table`` for each query vector.

    Parameters
    ----------
    queries : array of shape (n_queries, dim) or (dim,)
    exclude : sequence of arrays of row ids, one per query, optional
        Rows never returned for that query (e.g. the query words themselves).
    """
    if metric not in ("cosine", "dot"):
        raise InputError(f"metric must be 'cosine' or 'dot', got {metric!r}")
    if k < 1:
        raise InputError(f"k must be >= 1, got {k}")
    q = np.atleast_2d(np.asarray(queries, dtype=np.float32))
    if q.ndim != 2 or q.shape[1] != table.dim:
        raise InputError(f"queries of shape {q.shape} do not match the table's dim {table.dim}")
    if metric == "cosine":
        qn = np.linalg.norm(q, axis=1, keepdims=True)
        q = q / np.where(qn > 0, qn, 1)
        norms = table.row_norms()
        inv = np.where(norms > 0, 1.0 / np.maximum(norms, 1e-30), 0).astype(np.float32)
    n = q.shape[0]
    kk = min(k, table.n_rows)
    out_i = np.full((n, k), -1, dtype=np.int64)
    out_s = np.full((n, k), -np.inf, dtype=np.float32)
    for q0 in range(0, n, query_batch):
        qb = q[q0:q0 + query_batch]
        ex_rows = ex_cols = None
        if exclude is not None:
            ex_rows, ex_cols = flatten_exclusions(exclude, q0, q0 + qb.shape[0])
        best_s = np.full((qb.shape[0], 0), -np.inf, dtype=np.float32)
        best_i = np.empty((qb.shape[0], 0), dtype=np.int64)
        for start, blk in table.iter_blocks(block_rows):
            s = qb @ blk.T
            if metric == "cosine":
                s *= inv[start:start + blk.shape[0]]
                s[:, norms[start:start + blk.shape[0]] == 0] = -np.inf
            if ex_rows is not None:
                _mask_excluded(s, ex_rows, ex_cols, start)
            best_s, best_i = _merge_topk(best_s, best_i, s, start, kk)
        order = np.argsort(-best_s, axis=1, kind="stable")
        best_s = np.take_along_axis(best_s, order, axis=1)
        best_i = np.take_along_axis(best_i, order, axis=1)
        best_i = np.where(np.isfinite(best_s), best_i, -1)
        out_s[q0:q0 + qb.shape[0], :kk] = best_s
        out_i[q0:q0 + qb.shape[0], :kk] = best_i
    return SearchResult(out_i, out_s)
