"""numba kernels for word2vec (skip-gram / CBOW with negative sampling). Imported lazily.

One call trains one job: a slice of the int32 token stream (row ids, ``-1`` between
sentences). The kernel subsamples the slice into its own scratch buffer, then walks it sentence
by sentence with a reduced window, exactly as gensim's ``word2vec_inner.pyx`` does: same 48-bit
LCG, same sigmoid table over [-6, 6] (pairs outside it are skipped), same cumulative unigram^0.75
table for negatives. Threads call it on different jobs without locks (Hogwild), which is why the
kernel is ``nogil``.
"""

from __future__ import annotations

import numba as nb
import numpy as np

MAX_EXP = 6.0
EXP_TABLE_SIZE = 1000

_LCG_MUL = np.uint64(25214903917)
_LCG_ADD = np.uint64(11)
_LCG_MASK = np.uint64(281474976710655)  # 2**48 - 1
_SHIFT16 = np.uint64(16)
_MASK32 = np.uint64(0xFFFFFFFF)


def sigmoid_tables() -> tuple[np.ndarray, np.ndarray]:
    """(sigmoid, log-sigmoid) sampled at EXP_TABLE_SIZE points over [-MAX_EXP, MAX_EXP)."""
    x = (np.arange(EXP_TABLE_SIZE) / EXP_TABLE_SIZE * 2 - 1) * MAX_EXP
    e = np.exp(x)
    sig = e / (e + 1)
    return sig.astype(np.float32), np.log(sig).astype(np.float32)


@nb.njit(inline="always")
def _next(state):
    return (state * _LCG_MUL + _LCG_ADD) & _LCG_MASK


@nb.njit(inline="always")
def _draw_negative(cum_table, state):
    """bisect_left(cum_table, (state >> 16) % cum_table[-1])."""
    n = cum_table.shape[0]
    target = (state >> _SHIFT16) % np.uint64(cum_table[n - 1])
    lo = 0
    hi = n
    while lo < hi:
        mid = (lo + hi) >> 1
        if np.uint64(cum_table[mid]) < target:
            lo = mid + 1
        else:
            hi = mid
    return lo


@nb.njit(inline="always")
def _table_index(f):
    return int((f + MAX_EXP) * (EXP_TABLE_SIZE / MAX_EXP / 2))


@nb.njit(inline="always")
def _neg_step(l1, syn1neg, target, label, alpha, work, exp_table, log_table):
    """One (input vector, target row) update of negative sampling; returns the loss term.

    ``work`` accumulates the input vector's gradient; the output row is updated at once.
    """
    dim = l1.shape[0]
    out = syn1neg[target]
    f = np.float32(0.0)
    for k in range(dim):
        f += l1[k] * out[k]
    if f <= -MAX_EXP or f >= MAX_EXP:  # saturated: gensim skips the pair
        x = f if label > 0 else -f
        return -x if x < 0 else 0.0
    g = (label - exp_table[_table_index(f)]) * alpha
    for k in range(dim):
        work[k] += g * out[k]
    for k in range(dim):
        out[k] += g * l1[k]
    x = f if label > 0 else -f
    if x <= -MAX_EXP or x >= MAX_EXP:
        return 0.0
    return -log_table[_table_index(x)]


@nb.njit(cache=True, nogil=True, fastmath=True)
def train_job(tokens, syn0, syn1neg, keep_thresholds, cum_table, exp_table, log_table, sg,
              cbow_mean, window, negative, alpha0, alpha1, seed):
    """Train on one slice of tokens; returns (loss sum, loss terms, words kept).

    ``keep_thresholds[w]`` is P(keep w) * 2**32 (uint64): a token is kept when the next
    32 random bits are below it. The learning rate moves linearly from ``alpha0`` at the start
    of the slice to ``alpha1`` at its end.
    """
    n = tokens.shape[0]
    dim = syn0.shape[1]
    state = np.uint64(seed) & _LCG_MASK
    buf = np.empty(n + 1, dtype=np.int32)
    m = 0
    for i in range(n):  # subsample; keep one -1 between non-empty sentences
        t = tokens[i]
        if t < 0:
            if m > 0 and buf[m - 1] >= 0:
                buf[m] = -1
                m += 1
            continue
        state = _next(state)
        if np.uint64(keep_thresholds[t]) <= ((state >> _SHIFT16) & _MASK32):
            continue
        buf[m] = t
        m += 1
    if m == 0 or buf[m - 1] >= 0:
        buf[m] = -1
        m += 1

    work = np.empty(dim, dtype=np.float32)
    neu1 = np.empty(dim, dtype=np.float32)
    loss = 0.0
    n_terms = 0
    kept = 0
    fa0 = np.float32(alpha0)
    fslope = np.float32((alpha1 - alpha0) / max(m, 1))
    one = np.float32(1.0)
    zero = np.float32(0.0)
    s = 0
    while s < m:
        e = s
        while buf[e] >= 0:
            e += 1
        kept += e - s
        for i in range(s, e):
            alpha = fa0 + fslope * np.float32(i)
            state = _next(state)
            b = int(state % np.uint64(window))
            lo = max(s, i - window + b)
            hi = min(e, i + window + 1 - b)
            word = buf[i]
            if sg:
                for j in range(lo, hi):
                    if j == i:
                        continue
                    l1 = syn0[buf[j]]
                    work[:] = zero
                    loss += _neg_step(l1, syn1neg, word, one, alpha, work, exp_table,
                                      log_table)
                    n_terms += 1
                    for _d in range(negative):
                        state = _next(state)
                        target = _draw_negative(cum_table, state)
                        if target == word:
                            continue
                        loss += _neg_step(l1, syn1neg, target, zero, alpha, work,
                                          exp_table, log_table)
                        n_terms += 1
                    for k in range(dim):
                        l1[k] += work[k]
            else:
                count = 0
                neu1[:] = zero
                for j in range(lo, hi):
                    if j == i:
                        continue
                    row = syn0[buf[j]]
                    for k in range(dim):
                        neu1[k] += row[k]
                    count += 1
                if count == 0:
                    continue
                inv = one / np.float32(count)
                if cbow_mean:
                    for k in range(dim):
                        neu1[k] *= inv
                work[:] = zero
                loss += _neg_step(neu1, syn1neg, word, one, alpha, work, exp_table, log_table)
                n_terms += 1
                for _d in range(negative):
                    state = _next(state)
                    target = _draw_negative(cum_table, state)
                    if target == word:
                        continue
                    loss += _neg_step(neu1, syn1neg, target, zero, alpha, work, exp_table,
                                      log_table)
                    n_terms += 1
                if not cbow_mean:
                    for k in range(dim):
                        work[k] *= inv
                for j in range(lo, hi):
                    if j == i:
                        continue
                    row = syn0[buf[j]]
                    for k in range(dim):
                        row[k] += work[k]
        s = e + 1
    return loss, n_terms, kept
