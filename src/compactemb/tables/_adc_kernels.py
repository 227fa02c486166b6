"""numba kernels scoring queries on compressed rows without decoding them (``tables._adc``).

PQ rows by asymmetric distance computation (a per-query lookup table of sub-vector inner
products summed over each row's codes), row-wise int8/int4 rows by ``scale * (q . codes) +
bias * sum(q)`` on the bytes, and the top-k merge of scores of arbitrary row ids (the inverted
lists of the IVF index). Parallel over chunks of rows. Imported lazily.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

_CHUNK = 512  # rows per parallel task: its codes stay in cache while every query scans them
_PQ_CHUNK = 4096  # PQ codes are short: 4096 rows (M bytes each) stay in L2


@njit(cache=True, nogil=True, parallel=True, fastmath=True)
def pq_scores(lut, qidx, codes, rows, row_scale, has_scale, out):
    """out[i, j] = sum_m lut[qidx[i], m, codes[rows[j], m]] (times row_scale[rows[j]]).

    One query at a time over a chunk of rows: its lookup table (M x 256 floats) stays in L1
    and the chunk's codes in L2 (measured faster than two queries per pass, whose tables
    together overflow L1); two rows per step, two independent sums (measured ~10% faster).
    """
    n_sub, n_cent = lut.shape[1], lut.shape[2]
    n_rows = rows.shape[0]
    flat = lut.reshape(lut.shape[0], n_sub * n_cent)
    for c in prange((n_rows + _PQ_CHUNK - 1) // _PQ_CHUNK):
        j0 = c * _PQ_CHUNK
        j1 = min(n_rows, j0 + _PQ_CHUNK)
        for i in range(qidx.shape[0]):
            table = flat[qidx[i]]
            dst = out[i]
            for j in range(j0, j1, 2):
                two = j + 1 < j1
                r0 = rows[j]
                r1 = rows[j + 1] if two else r0
                c0 = codes[r0]
                c1 = codes[r1]
                s0 = np.float32(0.0)
                s1 = np.float32(0.0)
                for m in range(n_sub):
                    # unsigned offsets: no negative-index wraparound test in the hot loop
                    base = np.uint32(m * n_cent)
                    s0 += table[base + np.uint32(c0[m])]
                    s1 += table[base + np.uint32(c1[m])]
                if has_scale:
                    s0 *= row_scale[r0]
                    s1 *= row_scale[r1]
                dst[j] = s0
                if two:
                    dst[j + 1] = s1


@njit(cache=True, nogil=True, parallel=True, fastmath=True)
def int8_scores(queries, qidx, data, rows, scale_bias, out):
    """out[i, j] = scale * (q . codes) + bias * sum(q) for q = queries[qidx[i]], row rows[j]."""
    dim = queries.shape[1]
    n_rows = rows.shape[0]
    for c in prange((n_rows + _CHUNK - 1) // _CHUNK):
        j0 = c * _CHUNK
        j1 = min(n_rows, j0 + _CHUNK)
        for i in range(qidx.shape[0]):
            q = queries[qidx[i]]
            q_sum = np.float32(0.0)
            for t in range(dim):
                q_sum += q[t]
            for j in range(j0, j1):
                r = rows[j]
                s = np.float32(0.0)
                for t in range(dim):
                    s += q[t] * np.float32(data[r, t])
                out[i, j] = scale_bias[r, 0] * s + scale_bias[r, 1] * q_sum


@njit(cache=True, nogil=True, parallel=True, fastmath=True)
def int4_scores(queries, qidx, data, rows, scale_bias, out):
    """As ``int8_scores`` on packed nibbles (low nibble = even column); ``queries`` padded to an
    even width with zeros."""
    n_bytes = queries.shape[1] // 2
    n_rows = rows.shape[0]
    for c in prange((n_rows + _CHUNK - 1) // _CHUNK):
        j0 = c * _CHUNK
        j1 = min(n_rows, j0 + _CHUNK)
        for i in range(qidx.shape[0]):
            q = queries[qidx[i]]
            q_sum = np.float32(0.0)
            for t in range(2 * n_bytes):
                q_sum += q[t]
            for j in range(j0, j1):
                r = rows[j]
                s = np.float32(0.0)
                for t in range(n_bytes):
                    b = data[r, t]
                    s += q[2 * t] * np.float32(b & 15) + q[2 * t + 1] * np.float32(b >> 4)
                out[i, j] = scale_bias[r, 0] * s + scale_bias[r, 1] * q_sum


@njit(cache=True, nogil=True, inline="always")
def _before(s1, i1, s2, i2):
    """(score s1, row i1) ranks before (s2, i2): higher score, then lower row; empty last."""
    if i2 < 0:
        return i1 >= 0
    if i1 < 0:
        return False
    return s1 > s2 or (s1 == s2 and i1 < i2)


@njit(cache=True, nogil=True, parallel=True)
def merge_top_k_rows(scores, qidx, rows, best_s, best_i):
    """Merge ``scores`` (g, b) of table rows ``rows`` (b,) into the running best of queries
    ``qidx`` (g distinct) in place, rows sorted best first (ties: lower row first). A -inf or
    NaN score never enters."""
    k = best_s.shape[1]
    if k == 0:
        return
    for g in prange(qidx.shape[0]):
        qi = qidx[g]
        for c in range(rows.shape[0]):
            s = scores[g, c]
            row = rows[c]
            if not s > -np.inf or not _before(s, row, best_s[qi, k - 1], best_i[qi, k - 1]):
                continue
            j = k - 1
            while j > 0 and _before(s, row, best_s[qi, j - 1], best_i[qi, j - 1]):
                best_s[qi, j] = best_s[qi, j - 1]
                best_i[qi, j] = best_i[qi, j - 1]
                j -= 1
            best_s[qi, j] = s
            best_i[qi, j] = row


@njit(cache=True, nogil=True, parallel=True, fastmath=True)
def pq_ivf_top_k(lut, probe, list_ptr, list_rows, list_codes, list_scale, has_scale,
                 list_weight, has_weight, best_s, best_i):
    """Best rows of each query among the rows of its probed lists, by ADC.

    The lists' entries ``list_ptr[l]:list_ptr[l + 1]`` hold, in list order, the row ids
    (``list_rows``), their codes (``list_codes``) and optionally a scale (``list_scale``) and a
    weight (``list_weight``, cosine's inverse norms; an entry of weight 0 is skipped), so a
    query streams through its lists contiguously. Query ``i`` scores the entries of lists
    ``probe[i]`` with its lookup table ``lut[i]`` and merges them into its sorted running best
    ``best_s[i]``/``best_i[i]`` in place (ties: lower row first). Parallel over queries.
    """
    n_sub, n_cent = lut.shape[1], lut.shape[2]
    k = best_s.shape[1]
    flat = lut.reshape(lut.shape[0], n_sub * n_cent)
    for i in prange(probe.shape[0]):
        if k == 0:
            continue
        table = flat[i]
        worst = best_s[i, k - 1]  # the score to beat (or tie), kept in a register
        for p in range(probe.shape[1]):
            lst = probe[i, p]
            for idx in range(list_ptr[lst], list_ptr[lst + 1]):
                code = list_codes[idx]
                s = np.float32(0.0)
                for m in range(n_sub):
                    s += table[np.uint32(m * n_cent) + np.uint32(code[m])]
                if has_scale:
                    s *= list_scale[idx]
                if has_weight:
                    if list_weight[idx] == 0:
                        continue
                    s *= list_weight[idx]
                if not s >= worst:  # most rows stop here (NaN too)
                    continue
                r = list_rows[idx]
                if not s > -np.inf or not _before(s, r, best_s[i, k - 1], best_i[i, k - 1]):
                    continue
                j = k - 1
                while j > 0 and _before(s, r, best_s[i, j - 1], best_i[i, j - 1]):
                    best_s[i, j] = best_s[i, j - 1]
                    best_i[i, j] = best_i[i, j - 1]
                    j -= 1
                best_s[i, j] = s
                best_i[i, j] = r
                worst = best_s[i, k - 1]


@njit(cache=True, nogil=True, parallel=True, fastmath=True)
def pq_lut(queries, codebooks, out):
    """out[i, m, c] = queries[i, m*dsub:(m+1)*dsub] . codebooks[m, c] (the ADC lookup tables).

    A loop, not batched BLAS: ``M`` products of ``dsub``-deep matrices are too small for BLAS,
    whose threads cost more than the work on a busy machine (measured 20x slower at times).
    """
    n_sub, n_cent, dsub = codebooks.shape
    for i in prange(queries.shape[0]):
        for m in range(n_sub):
            for c in range(n_cent):
                s = np.float32(0.0)
                for d in range(dsub):
                    s += queries[i, m * dsub + d] * codebooks[m, c, d]
                out[i, m, c] = s



@njit(cache=True, nogil=True, parallel=True, fastmath=True)
def pq4_scores(lut, qidx, codes, rows, row_scale, has_scale, out):
    """out[i, j] = sum_m lut[qidx[i], m, code m of row rows[j]] (times row_scale[rows[j]]) for
    4-bit codes packed two a byte (code 2b in the low nibble of byte b); ``lut`` has
    ``2 * codes.shape[1]`` sub-vectors (a padding one of zeros for an odd M).

    Rows by id (the IVF lists); contiguous ranges go through ``pq4_block_scores``.
    """
    n_bytes = codes.shape[1]
    n_rows = rows.shape[0]
    flat = lut.reshape(lut.shape[0], lut.shape[1] * 16)
    for c in prange((n_rows + _PQ_CHUNK - 1) // _PQ_CHUNK):
        j0 = c * _PQ_CHUNK
        j1 = min(n_rows, j0 + _PQ_CHUNK)
        for i in range(qidx.shape[0]):
            table = flat[qidx[i]]
            dst = out[i]
            for j in range(j0, j1):
                r = rows[j]
                code = codes[r]
                s0 = np.float32(0.0)
                s1 = np.float32(0.0)
                for b in range(n_bytes):
                    v = np.uint32(code[b])
                    base = np.uint32(32 * b)
                    s0 += table[base + (v & np.uint32(15))]
                    s1 += table[base + np.uint32(16) + (v >> np.uint32(4))]
                s = s0 + s1
                if has_scale:
                    s *= row_scale[r]
                dst[j] = s


_BLOCKS_PER_TASK = 128  # 32-row blocks a parallel task scans: 4096 rows, as _PQ_CHUNK


@njit(cache=True, nogil=True, parallel=True, fastmath=True)
def pq4_block_scores(lut, qidx, blocks, start, stop, row_scale, has_scale, out):
    """out[i, j - start] for rows ``start <= j < stop`` (``start`` a multiple of 32) of 4-bit
    codes in the fast-scan layout ``blocks[j // 32, b, j % 32]`` = byte b of row j.

    The 32 rows of a block are scored side by side: for each byte position the 32 codes are
    contiguous, so the two 16-entry table lookups of every row vectorise (gathers into the
    query's tables, ``2 * n_bytes x 16`` floats in L1) instead of one row at a time.
    """
    n_bytes = blocks.shape[1]
    b_first = start // 32
    b_last = (stop + 31) // 32
    n_tasks = (b_last - b_first + _BLOCKS_PER_TASK - 1) // _BLOCKS_PER_TASK
    flat = lut.reshape(lut.shape[0], lut.shape[1] * 16)
    for task in prange(n_tasks):
        t0 = b_first + task * _BLOCKS_PER_TASK
        t1 = min(b_last, t0 + _BLOCKS_PER_TASK)
        acc = np.empty(32, np.float32)
        for i in range(qidx.shape[0]):
            table = flat[qidx[i]]
            dst = out[i]
            for blk in range(t0, t1):
                acc[:] = 0
                for b in range(n_bytes):
                    base = 32 * b
                    codes = blocks[blk, b]
                    for r in range(32):
                        v = codes[r]
                        acc[r] += table[base + np.int64(v & 15)] + \
                            table[base + 16 + np.int64(v >> 4)]
                row0 = blk * 32
                for r in range(min(32, stop - row0)):
                    s = acc[r]
                    if has_scale:
                        s *= row_scale[row0 + r]
                    dst[row0 + r - start] = s
