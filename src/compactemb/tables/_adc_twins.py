"""NumPy twins of ``_adc_kernels`` (same names and signatures; see ``compactemb._native``)."""

from __future__ import annotations

import numpy as np


def pq_scores(lut, qidx, codes, rows, row_scale, has_scale, out):
    """out[i, j] = sum_m lut[qidx[i], m, codes[rows[j], m]] (times row_scale[rows[j]])."""
    c = codes[rows].astype(np.int64)  # (b, M)
    m = np.arange(codes.shape[1])
    s = lut[qidx][:, m[None, :], c].sum(axis=2, dtype=np.float32)  # (g, b)
    if has_scale:
        s *= row_scale[rows][None, :]
    out[:] = s


def int8_scores(queries, qidx, data, rows, scale_bias, out):
    """out[i, j] = scale * (q . codes) + bias * sum(q) for q = queries[qidx[i]], row rows[j]."""
    q = queries[qidx]
    codes = data[rows, :q.shape[1]].astype(np.float32)
    sb = scale_bias[rows]
    out[:] = (q @ codes.T) * sb[:, 0] + q.sum(axis=1, dtype=np.float32)[:, None] * sb[:, 1]


def int4_scores(queries, qidx, data, rows, scale_bias, out):
    """As ``int8_scores`` on packed nibbles; ``queries`` padded to an even width with zeros."""
    q = queries[qidx]
    n_bytes = q.shape[1] // 2
    packed = data[rows, :n_bytes]
    codes = np.empty((rows.size, 2 * n_bytes), np.float32)
    codes[:, 0::2] = packed & 15
    codes[:, 1::2] = packed >> 4
    sb = scale_bias[rows]
    out[:] = (q @ codes.T) * sb[:, 0] + q.sum(axis=1, dtype=np.float32)[:, None] * sb[:, 1]


def merge_top_k_rows(scores, qidx, rows, best_s, best_i):
    """Merge scores (g, b) of ``rows`` into the running best of queries ``qidx`` in place."""
    k = best_s.shape[1]
    if k == 0:
        return
    for g, qi in enumerate(qidx):
        s = np.concatenate([best_s[qi], scores[g]])
        r = np.concatenate([best_i[qi], rows])
        ok = (r >= 0) & (s > -np.inf)  # NaN compares False
        s, r = s[ok], r[ok]
        order = np.lexsort((r, -s))[:k]
        best_s[qi] = -np.inf
        best_i[qi] = -1
        best_s[qi, :order.size] = s[order]
        best_i[qi, :order.size] = r[order]


def pq_ivf_top_k(lut, probe, list_ptr, list_rows, list_codes, list_scale, has_scale,
                 list_weight, has_weight, best_s, best_i):
    """Best rows of each query among the entries of its probed lists, by ADC (in place)."""
    for i in range(probe.shape[0]):
        idx = np.concatenate([np.arange(list_ptr[lst], list_ptr[lst + 1]) for lst in probe[i]]
                             + [np.empty(0, np.int64)]).astype(np.int64)
        s = np.empty((1, idx.size), np.float32)
        pq_scores(lut, np.array([i]), list_codes, idx, list_scale, has_scale, s)
        s, rows = s[0], list_rows[idx]
        if has_weight:
            keep = list_weight[idx] != 0
            rows, s = rows[keep], s[keep] * list_weight[idx][keep]
        merge_top_k_rows(s[None, :], np.array([i]), rows, best_s, best_i)


def pq_lut(queries, codebooks, out):
    """out[i, m, c] = queries[i, m*dsub:(m+1)*dsub] . codebooks[m, c]."""
    n_sub, _, dsub = codebooks.shape
    sub = queries.reshape(queries.shape[0], n_sub, dsub)
    out[:] = np.einsum("imd,mcd->imc", sub, codebooks)


def pq4_scores(lut, qidx, codes, rows, row_scale, has_scale, out):
    """As ``pq_scores`` on 4-bit codes packed two a byte (code 2b in the low nibble of byte b)."""
    packed = codes[rows]
    unpacked = np.empty((rows.size, 2 * packed.shape[1]), np.int64)
    unpacked[:, 0::2] = packed & 15
    unpacked[:, 1::2] = packed >> 4
    m = np.arange(unpacked.shape[1])
    s = lut[qidx][:, m[None, :], unpacked].sum(axis=2, dtype=np.float32)
    if has_scale:
        s *= row_scale[rows][None, :]
    out[:] = s


def pq4_block_scores(lut, qidx, blocks, start, stop, row_scale, has_scale, out):
    """Rows start:stop of 4-bit codes in the fast-scan layout ``blocks[j // 32, b, j % 32]``."""
    codes = blocks.transpose(0, 2, 1).reshape(-1, blocks.shape[1])
    pq4_scores(lut, qidx, codes, np.arange(start, stop, dtype=np.int64), row_scale, has_scale,
               out)
