"""Search on the stored form of compressed tables, and an IVF index over a table's own rows.

Exact scores without decoding the table:

- **PQ** (asymmetric distance computation): for each query a lookup table ``lut[m, c]`` of the
  inner products of its m-th sub-vector with the centroids of sub-space m (``M x 256`` floats,
  the query rotated first for an OPQ table) gives ``q . row = sum_m lut[m, codes[row, m]]``,
  times the row's float16 scale for a ``normalize`` table;
- **row-wise int8 / int4**: ``q . row = scale * (q . codes) + bias * sum(q)`` on the bytes.

The scores equal the inner products with the decoded rows up to float32 rounding, so the
search over them ranks as the exact search over the decoded table (cosine divides by the
decoded rows' cached norms, as there).

For large tables an inverted-file index (:class:`IVFIndex`) partitions the rows by a spherical
k-means of a sample of decoded rows (``n_lists`` about ``sqrt(n_rows)``), and a query scores only
the rows of its ``nprobe`` nearest lists, on the same codes. It is built at the first
approximate search and cached on the table object (nothing is stored on disk); the search takes
it by default above :data:`IVF_MIN_ROWS` rows for PQ, int8 and int4 tables, and exact search
stays the default below.
"""

from __future__ import annotations

import numpy as np

from .._native import kernels
from ..exceptions import InputError

_KERNELS = "compactemb.tables._adc_kernels"

#: Tables with more rows than this are searched through the IVF index by default (PQ, int8
#: and int4 tables; ``approximate=False`` keeps the exact search).
IVF_MIN_ROWS = 200_000

#: The number of lists probed by default: recall@10 >= 0.95 against the exact search over the
#: decoded rows on clustered and word vectors (bench/serving_inprocess).
DEFAULT_NPROBE = 24


class RowRanges:
    """Presents a table to ``blocked_top_k`` as blocks of row ids (nothing decoded)."""

    def __init__(self, n_rows: int):
        self.n_rows = int(n_rows)

    def iter_blocks(self, block: int):
        """Yield ``(start, row ids)`` blocks covering the rows.

        Parameters
        ----------
        block : int
            Rows per block.

        Yields
        ------
        (int, numpy.ndarray)
            The first row and the int64 row ids of the block.
        """
        for s in range(0, self.n_rows, block):
            yield s, np.arange(s, min(self.n_rows, s + block), dtype=np.int64)


class RowScorer:
    """Inner products of queries with table rows, given by row ids.

    The base class decodes the rows (``table.lookup``); the subclasses score on the codes.

    Parameters
    ----------
    table : EmbeddingTable
        The rows scored.
    """

    def __init__(self, table):
        self.table = table

    def prepare(self, queries: np.ndarray):
        """The per-query state scored against rows (here the float32 queries themselves).

        Parameters
        ----------
        queries : numpy.ndarray, shape (n_queries, dim)
            float32 queries.

        Returns
        -------
        object
            Passed to :meth:`scores`.
        """
        return np.ascontiguousarray(queries, dtype=np.float32)

    def scores(self, state, qidx: np.ndarray, rows: np.ndarray,
               row_weight: np.ndarray | None = None) -> np.ndarray:
        """Inner products of queries ``qidx`` (of the prepared state) with rows ``rows``.

        Parameters
        ----------
        state : object
            From :meth:`prepare`.
        qidx : numpy.ndarray of int64
            Positions of the queries in the prepared batch.
        rows : numpy.ndarray of int64
            Table row ids.
        row_weight : numpy.ndarray of float32, shape (n_rows,), optional
            Multiplies each row's score.

        Returns
        -------
        numpy.ndarray, shape (len(qidx), len(rows))
            float32 scores.
        """
        s = state[qidx] @ self.table.lookup(rows).T
        if row_weight is not None:
            s *= row_weight[rows]
        return s


class PQScorer(RowScorer):
    """Asymmetric distance computation over PQ codes (the module docstring)."""

    def __init__(self, table):
        super().__init__(table)
        self.row_scale = np.empty(0, np.float32) if table.norms is None \
            else table.norms.astype(np.float32)

    def prepare(self, queries):
        """Per-query lookup tables ``(n_queries, M, K)`` (queries rotated for OPQ).

        Parameters
        ----------
        queries : numpy.ndarray, shape (n_queries, dim)
            float32 queries.

        Returns
        -------
        numpy.ndarray, shape (n_queries, n_subvectors, n_centroids)
            float32 inner products of each query sub-vector with each centroid.
        """
        t = self.table
        q = np.asarray(queries, dtype=np.float32)
        if t.rotation is not None:  # row = dec @ R.T, so q . row = (q @ R) . dec
            q = q @ t.rotation
        lut = np.empty((q.shape[0], t.n_subvectors, t.n_centroids), np.float32)
        kernels(_KERNELS).pq_lut(np.ascontiguousarray(q), t.codebooks, lut)
        return lut

    def scores(self, state, qidx, rows, row_weight=None):
        """ADC scores (see :meth:`RowScorer.scores`).

        Parameters
        ----------
        state : numpy.ndarray
            The lookup tables from :meth:`prepare`.
        qidx, rows : numpy.ndarray of int64
            Queries and table rows.
        row_weight : numpy.ndarray of float32, shape (n_rows,), optional
            Multiplies each row's score inside the kernel (cosine's inverse norms: no second
            pass over the scores).

        Returns
        -------
        numpy.ndarray, shape (len(qidx), len(rows))
            float32 scores.
        """
        scale = self.row_scale
        if row_weight is not None:
            cached = getattr(self, "_weighted", None)
            if cached is None or cached[0] is not row_weight:
                w = np.asarray(row_weight, dtype=np.float32)
                cached = (row_weight, w * self.row_scale if self.row_scale.size else w)
                self._weighted = cached
            scale = cached[1]
        out = np.empty((qidx.size, rows.size), np.float32)
        kernels(_KERNELS).pq_scores(state, qidx, self.table.codes, rows, scale, scale.size > 0,
                                    out)
        return out


class RQScorer(PQScorer):
    """ADC over residual-quantised codes: ``lut[s, c] = q . C_s[c]``, summed as for PQ."""

    def prepare(self, queries):
        """Per-query lookup tables ``(n_queries, S, K)``: one BLAS product with all centroids.

        Parameters
        ----------
        queries : numpy.ndarray, shape (n_queries, dim)
            float32 queries.

        Returns
        -------
        numpy.ndarray, shape (n_queries, n_stages, n_centroids)
            float32 inner products of each query with each stage's centroids.
        """
        t = self.table
        q = np.ascontiguousarray(queries, dtype=np.float32)
        flat = t.codebooks.reshape(t.n_stages * t.n_centroids, t.dim)
        return np.ascontiguousarray((q @ flat.T).reshape(q.shape[0], t.n_stages,
                                                          t.n_centroids))


class PQ4Scorer(RowScorer):
    """Fast-scan ADC over 4-bit PQ codes: 16-entry lookup tables, 32 rows scored side by side.

    The first scan copies the packed codes into the fast-scan layout (blocks of 32 rows, byte
    position major: ``blocks[j // 32, b, j % 32]``), kept while the scorer lives (the codes'
    bytes again, as the IVF index's list order). Ranges of rows starting at a multiple of 32
    are scanned block by block; other row sets (IVF lists) row by row.
    """

    def __init__(self, table):
        super().__init__(table)
        self.row_scale = np.empty(0, np.float32) if table.norms is None \
            else table.norms.astype(np.float32)
        self._blocks: np.ndarray | None = None

    def blocks(self) -> np.ndarray:
        """The codes in the fast-scan layout, (ceil(n_rows / 32), n_bytes, 32) uint8."""
        if self._blocks is None:
            codes = self.table.codes
            n_blocks = -(-codes.shape[0] // 32)
            padded = np.zeros((n_blocks * 32, codes.shape[1]), np.uint8)
            padded[:codes.shape[0]] = codes
            self._blocks = np.ascontiguousarray(
                padded.reshape(n_blocks, 32, codes.shape[1]).transpose(0, 2, 1))
        return self._blocks

    def prepare(self, queries):
        """Per-query 16-entry lookup tables ``(n_queries, 2 * n_bytes, 16)``.

        Zeros pad an odd M; queries are rotated first for OPQ.

        Parameters
        ----------
        queries : numpy.ndarray, shape (n_queries, dim)
            float32 queries.

        Returns
        -------
        numpy.ndarray, shape (n_queries, 2 * ceil(M / 2), 16)
            float32 inner products of each query sub-vector with each centroid.
        """
        t = self.table
        q = np.asarray(queries, dtype=np.float32)
        if t.rotation is not None:
            q = q @ t.rotation
        lut = np.empty((q.shape[0], t.n_subvectors, 16), np.float32)
        kernels(_KERNELS).pq_lut(np.ascontiguousarray(q), t.codebooks, lut)
        if t.n_subvectors % 2:
            lut = np.concatenate([lut, np.zeros((q.shape[0], 1, 16), np.float32)], axis=1)
        return lut

    def scores(self, state, qidx, rows, row_weight=None):
        """Fast-scan ADC scores (see :meth:`RowScorer.scores`).

        Parameters
        ----------
        state : numpy.ndarray
            The lookup tables from :meth:`prepare`.
        qidx, rows : numpy.ndarray of int64
            Queries and table rows.
        row_weight : numpy.ndarray of float32, shape (n_rows,), optional
            Multiplies each row's score.

        Returns
        -------
        numpy.ndarray, shape (len(qidx), len(rows))
            float32 scores.
        """
        scale = self.row_scale
        if row_weight is not None:
            w = np.asarray(row_weight, dtype=np.float32)
            scale = w * scale if scale.size else w
        out = np.empty((qidx.size, rows.size), np.float32)
        k = kernels(_KERNELS)
        start = int(rows[0]) if rows.size else 0
        if rows.size and start % 32 == 0 and int(rows[-1]) == start + rows.size - 1 \
                and np.array_equal(rows, np.arange(start, start + rows.size)):
            k.pq4_block_scores(state, qidx, self.blocks(), start, start + rows.size, scale,
                               scale.size > 0, out)
        else:
            k.pq4_scores(state, qidx, self.table.codes, rows, scale, scale.size > 0, out)
        return out


class RowwiseScorer(RowScorer):
    """``scale * (q . codes) + bias * sum(q)`` on row-wise int8 / int4 bytes."""

    def __init__(self, table):
        super().__init__(table)
        self.scale_bias = np.ascontiguousarray(table.scale_bias(), dtype=np.float32)

    def prepare(self, queries):
        """The float32 queries, padded with a zero column to an even width for int4.

        Parameters
        ----------
        queries : numpy.ndarray, shape (n_queries, dim)
            float32 queries.

        Returns
        -------
        numpy.ndarray
            float32 queries.
        """
        q = np.ascontiguousarray(queries, dtype=np.float32)
        if self.table.bits == 4 and q.shape[1] % 2:
            q = np.concatenate([q, np.zeros((q.shape[0], 1), np.float32)], axis=1)
        return q

    def scores(self, state, qidx, rows, row_weight=None):
        """int8 / int4 scores (see :meth:`RowScorer.scores`).

        Parameters
        ----------
        state : numpy.ndarray
            The queries from :meth:`prepare`.
        qidx, rows : numpy.ndarray of int64
            Queries and table rows.
        row_weight : numpy.ndarray of float32, shape (n_rows,), optional
            Multiplies each row's score.

        Returns
        -------
        numpy.ndarray, shape (len(qidx), len(rows))
            float32 scores.
        """
        out = np.empty((qidx.size, rows.size), np.float32)
        k = kernels(_KERNELS)
        kernel = k.int8_scores if self.table.bits == 8 else k.int4_scores
        kernel(state, qidx, self.table.data, rows, self.scale_bias, out)
        if row_weight is not None:
            out *= row_weight[rows]
        return out


def code_scorer(table) -> RowScorer | None:
    """The scorer working on ``table``'s codes, or None for kinds searched decoded.

    PQ, 4-bit PQ, RQ, int8 and int4 tables have one; it is cached on the table.

    Parameters
    ----------
    table : EmbeddingTable
        Any table.

    Returns
    -------
    RowScorer or None
        The code scorer of a PQ, 4-bit PQ, RQ, int8 or int4 table.

    Examples
    --------
    >>> from compactemb.tables import DenseTable, Int8Table
    >>> x = np.random.default_rng(0).normal(size=(20, 4)).astype(np.float32)
    >>> type(code_scorer(Int8Table.from_dense(x))).__name__, code_scorer(DenseTable(x))
    ('RowwiseScorer', None)
    """
    from ._pq import PQTable
    from ._pq4 import PQ4Table
    from ._quantized import Int4Table, Int8Table
    from ._rq import RQTable

    scorers: dict[type, type[RowScorer]] = {
        PQTable: PQScorer, RQTable: RQScorer, PQ4Table: PQ4Scorer, Int8Table: RowwiseScorer,
        Int4Table: RowwiseScorer}
    if type(table) not in scorers:
        return None
    cached = getattr(table, "_code_scorer", None)
    if cached is None or cached.table is not table:
        cached = scorers[type(table)](table)
        table._code_scorer = cached
    return cached


def row_scorer(table) -> RowScorer:
    """The code scorer of ``table`` when it has one, else one that decodes the scored rows.

    Parameters
    ----------
    table : EmbeddingTable
        Any table.

    Returns
    -------
    RowScorer
        Its scorer.
    """
    return code_scorer(table) or RowScorer(table)


def head(table, n_rows: int):
    """The first ``n_rows`` rows of ``table``, compressed kinds kept compressed (views).

    Parameters
    ----------
    table : EmbeddingTable
        Any table.
    n_rows : int
        Rows kept.

    Returns
    -------
    EmbeddingTable
        A PQ, int8 or int4 table over the same arrays, or a decoded :class:`DenseTable`.
    """
    from ._dense import DenseTable
    from ._pq import PQTable
    from ._quantized import Int4Table, Int8Table

    n = min(int(n_rows), table.n_rows)
    from ._pq4 import PQ4Table
    from ._rq import RQTable

    if type(table) is PQ4Table:
        return PQ4Table(table.codebooks, table.codes[:n], table.rotation,
                        None if table.norms is None else table.norms[:n])
    if type(table) is PQTable:
        return PQTable(table.codebooks, table.codes[:n], table.rotation,
                       None if table.norms is None else table.norms[:n])
    if type(table) is RQTable:
        return RQTable(table.codebooks, table.codes[:n],
                       None if table.norms is None else table.norms[:n])
    if type(table) in (Int8Table, Int4Table):
        return type(table)(table.data[:n], table.dim)
    return DenseTable(table.rows(0, n))


def _padded_exclusions(exclude, q0: int, q1: int) -> np.ndarray:
    """Excluded row ids of queries q0:q1 as a (q1 - q0, e) array padded with -1."""
    from ..search import flatten_exclusions

    if exclude is None:
        return np.full((q1 - q0, 0), -1, np.int64)
    rows, cols = exclude(q0, q1) if callable(exclude) else flatten_exclusions(exclude, q0, q1)
    rows, cols = np.asarray(rows, np.int64), np.asarray(cols, np.int64)
    counts = np.bincount(rows, minlength=q1 - q0)
    out = np.full((q1 - q0, int(counts.max(initial=0))), -1, np.int64)
    order = np.argsort(rows, kind="stable")
    rows, cols = rows[order], cols[order]
    pos = np.arange(rows.size) - np.repeat(np.cumsum(counts) - counts, counts)
    out[rows, pos] = cols
    return out


class IVFIndex:
    """Inverted lists of a table's row ids around spherical k-means centroids.

    Parameters
    ----------
    centroids : numpy.ndarray, shape (n_lists, dim)
        Unit-length float32 centroids.
    list_ptr : numpy.ndarray, shape (n_lists + 1,)
        int64 offsets of each list in ``list_rows``.
    list_rows : numpy.ndarray, shape (n_rows,)
        int64 row ids, list by list, ascending within a list.

    Examples
    --------
    >>> from compactemb.tables import PQTable
    >>> x = np.random.default_rng(0).normal(size=(2000, 8)).astype(np.float32)
    >>> t = PQTable.from_dense(x, n_subvectors=4, n_centroids=16)
    >>> index = IVFIndex.build(t, n_lists=16)
    >>> index.search(t, t.lookup([5]), k=1, nprobe=4).ids
    array([[5]])
    """

    def __init__(self, centroids, list_ptr, list_rows):
        self.centroids = np.ascontiguousarray(centroids, dtype=np.float32)
        self.list_ptr = np.asarray(list_ptr, dtype=np.int64)
        self.list_rows = np.asarray(list_rows, dtype=np.int64)
        self.n_lists = self.centroids.shape[0]

    @classmethod
    def build(cls, table, *, n_lists: int | None = None, sample: int | None = None,
              max_iter: int = 10, random_state: int = 0) -> IVFIndex:
        """Cluster a sample of decoded, unit-normalised rows; list every row by its centroid.

        Parameters
        ----------
        table : EmbeddingTable
            The rows indexed (decoded block by block, never whole).
        n_lists : int or None
            Number of lists; None takes ``round(sqrt(n_rows))`` (at least 1).
        sample : int or None
            Rows the centroids are trained on; None takes ``64 * n_lists`` (all rows when
            fewer).
        max_iter : int, default 10
            Lloyd iterations.
        random_state : int, default 0
            Seed of the sample and the k-means.

        Returns
        -------
        IVFIndex
            The index.

        Raises
        ------
        InputError
            For ``n_lists`` outside ``[1, n_rows]``.
        """
        from ..cluster._kmeans import assign, kmeans, normalise_rows

        n = table.n_rows
        if n_lists is None:
            n_lists = max(1, int(round(np.sqrt(n))))
        if not isinstance(n_lists, (int, np.integer)) or not 1 <= n_lists <= max(1, n):
            raise InputError(f"n_lists must be an integer in [1, {n}], got {n_lists!r}")
        rng = np.random.default_rng(random_state)
        size = min(n, 64 * int(n_lists) if sample is None else int(sample))
        ids = np.sort(rng.choice(n, size, replace=False)) if size < n else np.arange(n)
        x = normalise_rows(table.lookup(ids).astype(np.float32))
        centers = kmeans(x, int(n_lists), max_iter=max_iter, tol=0.0, spherical=True,
                         random_state=rng, n_trials=1)[1]
        centers = normalise_rows(np.asarray(centers, dtype=np.float32))
        labels = np.empty(n, np.int64)
        for s, blk in table.iter_blocks(65536):
            labels[s:s + blk.shape[0]] = assign(normalise_rows(blk), centers)[0]
        order = np.argsort(labels, kind="stable")
        ptr = np.concatenate([[0], np.cumsum(np.bincount(labels, minlength=int(n_lists)))])
        return cls(centers, ptr, order)

    def _list_order(self, table, scorer) -> tuple[np.ndarray, np.ndarray]:
        """A PQ table's codes (and scales) in list order, made once and kept.

        As FAISS's IVF lists keep theirs: a probed list is then read contiguously, not
        gathered row by row. Costs the codes' bytes again while the index lives.
        """
        cached = getattr(self, "_codes_for", None)
        if cached is None or cached[0] is not table:
            scale = scorer.row_scale[self.list_rows] if scorer.row_scale.size \
                else scorer.row_scale
            cached = (table, np.ascontiguousarray(table.codes[self.list_rows]), scale)
            self._codes_for = cached
        return cached[1], cached[2]

    def search(self, table, queries, *, k: int = 10, metric: str = "cosine",
               nprobe: int | None = None, exclude=None, query_batch: int = 1024):
        """Approximate top-k: the rows of each query's ``nprobe`` nearest lists, scored exactly.

        Parameters
        ----------
        table : EmbeddingTable
            The table the index was built on.
        queries : array of shape (n_queries, dim) or (dim,)
            Query vectors.
        k : int, default 10
            Results per query.
        metric : {"cosine", "dot"}, default "cosine"
            As :func:`compactemb.search.search`.
        nprobe : int or None
            Lists scored per query; None takes :data:`DEFAULT_NPROBE`.
        exclude : optional
            Rows never returned, as in :func:`compactemb.search.blocked_top_k`.
        query_batch : int
            Queries prepared at once.

        Returns
        -------
        compactemb.search.SearchResult
            ``ids`` and ``scores`` of shape (n_queries, min(k, n_rows)), best first.

        Raises
        ------
        InputError
            For an unknown metric, ``k < 1``, ``nprobe < 1`` or queries of the wrong width.
        """
        from ..search import SearchResult, inverse_norms

        if metric not in ("cosine", "dot"):
            raise InputError(f"metric must be 'cosine' or 'dot', got {metric!r}")
        if k < 1:
            raise InputError(f"k must be >= 1, got {k}")
        nprobe = DEFAULT_NPROBE if nprobe is None else nprobe
        if not isinstance(nprobe, (int, np.integer)) or nprobe < 1:
            raise InputError(f"nprobe must be a positive integer, got {nprobe!r}")
        if self.list_rows.size != table.n_rows:
            raise InputError(f"the index lists {self.list_rows.size} rows, the table has "
                             f"{table.n_rows}")
        q = np.atleast_2d(np.asarray(queries, dtype=np.float32))
        if q.ndim != 2 or q.shape[1] != table.dim:
            raise InputError(f"queries of shape {q.shape} do not match the table's dim "
                             f"{table.dim}")
        inv = None
        if metric == "cosine":
            qn = np.linalg.norm(q, axis=1, keepdims=True)
            q = (q / np.where(qn > 0, qn, 1)).astype(np.float32)
            inv = inverse_norms(table)
        nprobe = min(int(nprobe), self.n_lists)
        merge = kernels(_KERNELS).merge_top_k_rows
        scorer = row_scorer(table)
        kk = min(k, table.n_rows)
        out_i = np.full((q.shape[0], kk), -1, np.int64)
        out_s = np.full((q.shape[0], kk), -np.inf, np.float32)
        for q0 in range(0, q.shape[0], max(1, query_batch)):
            q1 = min(q.shape[0], q0 + max(1, query_batch))
            ex = _padded_exclusions(exclude, q0, q1)
            width = min(table.n_rows, kk + ex.shape[1])  # room for the excluded rows
            best_s = np.full((q1 - q0, width), -np.inf, np.float32)
            best_i = np.full((q1 - q0, width), -1, np.int64)
            sims = q[q0:q1] @ self.centroids.T
            probe = np.argpartition(-sims, nprobe - 1, axis=1)[:, :nprobe] \
                if nprobe < self.n_lists else np.tile(np.arange(self.n_lists), (q1 - q0, 1))
            state = scorer.prepare(q[q0:q1])
            if isinstance(scorer, PQScorer):  # one kernel call: each query scans its lists
                codes, scale = self._list_order(table, scorer)
                weight = np.empty(0, np.float32) if inv is None else inv[self.list_rows]
                kernels(_KERNELS).pq_ivf_top_k(
                    state, np.ascontiguousarray(probe, dtype=np.int64), self.list_ptr,
                    self.list_rows, codes, scale, scale.size > 0, weight, inv is not None,
                    best_s, best_i)
                lists = starts = ends = np.empty(0, np.int64)
            else:  # list by list, the queries probing a list scored together
                flat = probe.ravel()
                order = np.argsort(flat, kind="stable")
                qs_sorted = (order // nprobe).astype(np.int64)
                lists, starts = np.unique(flat[order], return_index=True)
                ends = np.append(starts[1:], flat.size)
            for lst, a, b in zip(lists.tolist(), starts.tolist(), ends.tolist()):
                rows = self.list_rows[self.list_ptr[lst]:self.list_ptr[lst + 1]]
                if rows.size == 0:
                    continue
                qidx = qs_sorted[a:b]
                s = scorer.scores(state, qidx, rows)
                if inv is not None:
                    part = inv[rows]
                    s *= part
                    s[:, part == 0] = -np.inf
                merge(s, qidx, rows, best_s, best_i)
            if ex.shape[1]:
                hit = ((best_i[:, :, None] == ex[:, None, :]) & (ex[:, None, :] >= 0)).any(-1)
                keep = np.argsort(hit, axis=1, kind="stable")[:, :kk]
                best_i = np.where(np.take_along_axis(hit, keep, 1), -1,
                                  np.take_along_axis(best_i, keep, 1))
                best_s = np.where(best_i < 0, -np.inf, np.take_along_axis(best_s, keep, 1))
            out_s[q0:q1] = best_s[:, :kk]
            out_i[q0:q1] = best_i[:, :kk]
        return SearchResult(out_i, out_s.astype(np.float32))


def ivf_index(table, *, n_lists: int | None = None) -> IVFIndex:
    """The IVF index of ``table``, built at the first call and cached on the table object.

    Parameters
    ----------
    table : EmbeddingTable
        The rows indexed.
    n_lists : int or None
        As :meth:`IVFIndex.build`; another value rebuilds the cached index.

    Returns
    -------
    IVFIndex
        The cached index.
    """
    cached = getattr(table, "_ivf_index", None)
    if cached is None or cached.list_rows.size != table.n_rows or \
            (n_lists is not None and cached.n_lists != n_lists):
        cached = IVFIndex.build(table, n_lists=n_lists)
        table._ivf_index = cached
    return cached
