"""Exact nearest-neighbour search over any table, in blocks (bounded memory, BLAS matmuls).

Rows are decoded block by block through the table protocol, so compressed and memory-mapped
tables are searched without materialising a dense or normalised copy; cosine similarity divides
by cached row norms (``n_rows`` floats).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Literal, NamedTuple

import numpy as np

from ._native import kernels
from .exceptions import InputError

Metric = Literal["cosine", "dot"]


class SearchResult(NamedTuple):
    """Top-k results of a batch of queries, best first.

    Attributes
    ----------
    ids : numpy.ndarray, shape (n_queries, min(k, n_rows))
        int64 row ids, padded with -1.
    scores : numpy.ndarray, shape (n_queries, min(k, n_rows))
        float32 scores, padded with -inf.
    """

    ids: np.ndarray
    scores: np.ndarray


def is_single_key(query) -> bool:
    """True for one key (a str, bytes or integer), False for a sequence of keys.

    The result-shape rule of the package: a single query gives one list of ``(key, score)``,
    a sequence of queries gives one such list per query.

    Parameters
    ----------
    query : object
        A key or a sequence of keys.

    Returns
    -------
    bool
        Whether ``query`` is a single key.
    """
    return isinstance(query, (str, bytes, int, np.integer))


def keyed_results(res: SearchResult, keys) -> list[list[tuple]]:
    """``SearchResult`` rows as lists of ``(keys[id], score)``, padding (-1) dropped.

    Parameters
    ----------
    res : SearchResult
        Row-level results.
    keys : sequence
        The key of each row id.

    Returns
    -------
    list of list of (key, float)
        One list per query, best first.
    """
    return [[(keys[i], float(s)) for i, s in zip(ri, rs) if i >= 0]
            for ri, rs in zip(res.ids.tolist(), res.scores)]


def _merge_kernel(n_scores: int):
    """The top-k merge: the numba kernel, or its NumPy twin for a small job.

    The twin (the same results) is taken in a process that has not loaded numba yet, where importing
    it costs more than the job.
    """
    if n_scores <= 1 << 24 and "numba" not in sys.modules:
        from . import _topk_twins

        return _topk_twins.merge_top_k
    return kernels("compactemb._topk_kernels").merge_top_k


def flatten_exclusions(exclude, q0: int, q1: int) -> tuple[np.ndarray, np.ndarray]:
    """The (query row, table row) pairs to exclude for queries ``q0:q1``.

    Parameters
    ----------
    exclude : list of array-like of int, or numpy.ndarray of shape (n_queries, m)
        Row ids per query; a 2-D array may be padded with -1.
    q0, q1 : int
        The queries' range.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        Query rows (relative to ``q0``) and table rows, padding dropped.
    """
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


def blocked_top_k(score_block: Callable[[int, int, int, np.ndarray], np.ndarray],
                  n_queries: int, table, *, k: int, exclude=None, block_rows: int = 16384,
                  query_batch: int = 1024) -> SearchResult:
    """Exact top-k rows of ``table`` for ``n_queries`` queries, scored block by block.

    The one top-k loop of the package (``search``, 3CosMul in ``KeyedVectors`` and
    ``FactorModel.recommend_rows`` all use it): the table is decoded ``block_rows`` rows at a
    time, each block scored for ``query_batch`` queries at once (a BLAS matrix product in the
    callers), and the running best ``k`` kept by a parallel kernel (``_topk_kernels``), so
    memory stays about ``query_batch x (block_rows + k)`` floats whatever the table's size.

    Parameters
    ----------
    score_block : callable
        ``score_block(q0, q1, start, rows)`` returns the float32 scores, shape
        ``(q1 - q0, len(rows))``, of queries ``q0:q1`` against table rows ``start:start +
        len(rows)`` (``rows`` decoded as float32). A score of ``-inf`` is never returned. The
        array may be modified in place.
    n_queries : int
        Number of queries.
    table : EmbeddingTable
        The rows searched (anything with ``n_rows`` and ``iter_blocks``).
    k : int
        Results per query; fewer rows than ``k`` pad the result.
    exclude : optional
        Rows never returned: one array of row ids per query, a 2-D array of row ids padded
        with -1, or a callable ``(q0, q1) -> (query positions relative to q0, row ids)``.
    block_rows, query_batch : int
        Rows decoded and queries scored at once.

    Returns
    -------
    SearchResult
        ``ids`` (n_queries, min(k, n_rows)) int64 padded with -1 and ``scores`` float32
        padded with -inf,
        best first (ties in row order).

    Raises
    ------
    InputError
        When ``k < 1``.

    Examples
    --------
    >>> from compactemb import DenseTable
    >>> t = DenseTable(np.array([[1, 0], [0, 1], [1, 1]], np.float32))
    >>> q = np.array([[1, 0]], np.float32)
    >>> blocked_top_k(lambda q0, q1, s, rows: q[q0:q1] @ rows.T, 1, t, k=2).ids
    array([[0, 2]])
    """
    if k < 1:
        raise InputError(f"k must be >= 1, got {k}")
    merge_top_k = _merge_kernel(n_queries * table.n_rows)
    # k is capped at the number of candidates: -k 1000000000 on 1,000 rows asks for 1,000
    kk = min(k, table.n_rows)
    out_i = np.full((n_queries, kk), -1, dtype=np.int64)
    out_s = np.full((n_queries, kk), -np.inf, dtype=np.float32)
    if exclude is None or callable(exclude):
        exclusions = exclude
    else:
        def exclusions(q0, q1):
            return flatten_exclusions(exclude, q0, q1)
    for q0 in range(0, n_queries, max(1, query_batch)):
        q1 = min(n_queries, q0 + max(1, query_batch))
        no_pairs = np.empty(0, np.int64)
        ex_rows, ex_cols = exclusions(q0, q1) if exclusions is not None else (no_pairs, no_pairs)
        # the running best k of each query, merged block by block in a parallel kernel
        best_s = np.full((q1 - q0, kk), -np.inf, dtype=np.float32)
        best_i = np.full((q1 - q0, kk), -1, dtype=np.int64)
        for start, blk in table.iter_blocks(max(1, block_rows)):
            s = score_block(q0, q1, start, blk)
            if ex_rows.size:
                _mask_excluded(s, ex_rows, ex_cols, start)
            merge_top_k(np.ascontiguousarray(s, dtype=np.float32), start, best_s, best_i)
        out_s[q0:q1, :kk] = best_s
        out_i[q0:q1, :kk] = best_i
    return SearchResult(out_i, out_s)


def inverse_norms(table) -> np.ndarray:
    """``1 / row norm`` of every row (float32), 0 for all-zero rows.

    Parameters
    ----------
    table : EmbeddingTable
        The table (its cached ``row_norms()`` are used).

    Returns
    -------
    numpy.ndarray, shape (n_rows,)
        float32 inverse norms.
    """
    from ._limits import check_memory

    # a compressed table's row count can be a claim (hashed and pruned rows share storage):
    # the norms and their temporaries take ~24 bytes a row
    check_memory(24 * int(table.n_rows), f"the norms of the table's {table.n_rows:,} rows")
    norms = table.row_norms()
    return np.where(norms > 0, 1.0 / np.maximum(norms, 1e-30), 0).astype(np.float32)


def search(table, queries, *, k: int = 10, metric: Metric = "cosine", exclude=None,
           block_rows: int = 16384, query_batch: int = 1024, approximate: bool | None = None,
           nprobe: int | None = None) -> SearchResult:
    """Top-k rows of ``table`` for each query vector: exact, or through an IVF index.

    PQ, int8 and int4 tables are scored on their codes (``compactemb.tables._adc``: a lookup
    table per query for PQ, ``scale * (q . codes) + bias * sum(q)`` for int8/int4), 1-bit and
    2-bit tables by their asymmetric scorer (``tables._lowbit.lowbit_search``), other
    compressed kinds are decoded block by block; either way the results are those of the exact
    search over the decoded rows up to float32 rounding. Above ``IVF_MIN_ROWS`` (200,000) rows
    a PQ, int8 or int4 table is searched through an IVF index over its own rows (built at the
    first search, cached on the table) unless ``approximate=False``.

    Parameters
    ----------
    table : EmbeddingTable
        Any table kind.
    queries : array of shape (n_queries, dim) or (dim,)
        Query vectors.
    k : int, default 10
        Results per query.
    metric : {"cosine", "dot"}, default "cosine"
        Cosine ignores all-zero rows; dot scores every row.
    exclude : sequence of arrays of row ids, one per query, optional
        Rows never returned for that query (e.g. the query words themselves).
    block_rows, query_batch : int
        Rows decoded and queries scored at once (memory about their product in floats).
    approximate : bool or None, default None
        True searches through the IVF index (any kind), False exactly; None decides by size
        (IVF for PQ, int8 and int4 tables above 200,000 rows).
    nprobe : int or None
        Lists of the IVF index scored per query (default 24); more is slower and closer to
        exact.

    Returns
    -------
    SearchResult
        ``ids`` and ``scores`` of shape (n_queries, min(k, n_rows)), best first, padded with
        -1 / -inf.

    Raises
    ------
    InputError
        For an unknown metric, ``k < 1``, ``nprobe < 1`` or queries of the wrong width.

    Examples
    --------
    >>> from compactemb import DenseTable
    >>> t = DenseTable(np.array([[1, 0], [0, 1], [1, 1]], np.float32))
    >>> search(t, [1, 0.1], k=2).ids
    array([[0, 2]])
    """
    if metric not in ("cosine", "dot"):
        raise InputError(f"metric must be 'cosine' or 'dot', got {metric!r}")
    if k < 1:
        raise InputError(f"k must be >= 1, got {k}")
    q = np.atleast_2d(np.asarray(queries, dtype=np.float32))
    if q.ndim != 2 or q.shape[1] != table.dim:
        raise InputError(f"queries of shape {q.shape} do not match the table's dim {table.dim}")
    from .tables._adc import IVF_MIN_ROWS, PQScorer, RowRanges, code_scorer, ivf_index
    from .tables._lowbit import LowBitTable, lowbit_search

    scorer = code_scorer(table)
    if approximate is None:
        approximate = scorer is not None and table.n_rows > IVF_MIN_ROWS
    if approximate:
        return ivf_index(table).search(table, q, k=k, metric=metric, nprobe=nprobe,
                                       exclude=exclude, query_batch=query_batch)
    if isinstance(table, LowBitTable):  # 1-/2-bit codes: asymmetric scores, nothing decoded
        return lowbit_search(table, q, k=k, metric=metric, exclude=exclude,
                             block_rows=block_rows, query_batch=min(query_batch, 256))
    if metric == "cosine":
        qn = np.linalg.norm(q, axis=1, keepdims=True)
        q = (q / np.where(qn > 0, qn, 1)).astype(np.float32, copy=False)
        inv = inverse_norms(table)
    prepared: dict[int, object] = {}
    fused_weight = metric == "cosine" and isinstance(scorer, PQScorer)
    zero_rows = fused_weight and not inv.all()

    def score(q0, q1, start, rows):
        if scorer is None:
            s = q[q0:q1] @ rows.T
        else:  # rows are row ids: scored on the codes
            if q0 not in prepared:  # the lookup tables of a batch, made once for all blocks
                prepared.clear()
                prepared[q0] = scorer.prepare(q[q0:q1])
            if fused_weight:  # PQ: the inverse norms multiply inside the kernel
                s = scorer.scores(prepared[q0], np.arange(q1 - q0, dtype=np.int64), rows,
                                  row_weight=inv)
                if zero_rows:
                    s[:, inv[start:start + rows.shape[0]] == 0] = -np.inf
                return s
            s = scorer.scores(prepared[q0], np.arange(q1 - q0, dtype=np.int64), rows)
        if metric == "cosine":
            part = inv[start:start + rows.shape[0]]
            s *= part
            s[:, part == 0] = -np.inf
        return s

    return blocked_top_k(score, q.shape[0], table if scorer is None else RowRanges(table.n_rows),
                         k=k, exclude=exclude, block_rows=block_rows,
                         query_batch=query_batch if scorer is None else min(query_batch, 256))
