"""numba kernels for word2vec (skip-gram / CBOW with negative sampling). Imported lazily.

One call trains one job: a slice of the int32 token stream (row ids, ``-1`` between
sentences). The kernel subsamples the slice into its own scratch buffer, then walks it sentence
by sentence with a reduced window, exactly as gensim's ``word2vec_inner.pyx`` does: same 48-bit
LCG, same sigmoid table over [-6, 6] (pairs outside it are skipped), negatives from the
unigram^0.75 distribution. Two differences, both for speed: negatives are drawn in O(1) by the
alias method (the same distribution as gensim's bisection of a cumulative table), and skip-gram
can share one draw of negatives across a centre word's window. Threads call it on different
jobs without locks (Hogwild), which is why the kernel is ``nogil``.
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
def _draw_negative(alias_prob, alias_index, state):
    """Walker's alias method: O(1) per draw (gensim bisects a cumulative table instead).

    Two LCG steps: the top 32 bits of the first pick a slot, those of the second accept the
    slot itself (below ``alias_prob``) or take its alias. Returns (row, new state).
    """
    state = _next(state)
    slot = (((state >> _SHIFT16) & _MASK32) * np.uint64(alias_prob.shape[0])) >> np.uint64(32)
    state = _next(state)
    if ((state >> _SHIFT16) & _MASK32) < np.uint64(alias_prob[slot]):
        return np.int64(slot), state
    return np.int64(alias_index[slot]), state


@nb.njit(inline="always")
def _draw_targets(word, negative, alias_prob, alias_index, state, targets, labels):
    """The positive target then ``negative`` draws (a draw equal to ``word`` is dropped, as in
    gensim). Returns (number of targets, new state)."""
    targets[0] = word
    labels[0] = 1.0
    nt = 1
    for _d in range(negative):
        target, state = _draw_negative(alias_prob, alias_index, state)
        if target == word:
            continue
        targets[nt] = target
        labels[nt] = 0.0
        nt += 1
    return nt, state


@nb.njit(cache=True, nogil=True)
def build_alias(weights, prob_out, alias_out):
    """Vose's alias tables for sampling i with probability weights[i] / sum(weights).

    ``prob_out[i]`` is the acceptance threshold of slot i scaled to 2**32 (uint64), and
    ``alias_out[i]`` the row taken otherwise.
    """
    n = weights.shape[0]
    scaled = weights * (n / weights.sum())
    small = np.empty(n, dtype=np.int64)
    large = np.empty(n, dtype=np.int64)
    ns = 0
    nl = 0
    for i in range(n):
        alias_out[i] = i
        if scaled[i] < 1.0:
            small[ns] = i
            ns += 1
        else:
            large[nl] = i
            nl += 1
    while ns > 0 and nl > 0:
        ns -= 1
        s = small[ns]
        g = large[nl - 1]
        prob_out[s] = np.uint64(scaled[s] * 4294967296.0)
        alias_out[s] = g
        scaled[g] = (scaled[g] + scaled[s]) - 1.0
        if scaled[g] < 1.0:
            nl -= 1
            small[ns] = g
            ns += 1
    for k in range(nl):
        prob_out[large[k]] = np.uint64(4294967296)
    for k in range(ns):  # left over by rounding: accept always
        prob_out[small[k]] = np.uint64(4294967296)


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
def train_job(tokens, syn0, syn1neg, keep_thresholds, alias_prob, alias_index, exp_table,
              log_table, sg, cbow_mean, shared_negatives, window, negative, alpha0, alpha1,
              seed):
    """Train on one slice of tokens; returns (loss sum, loss terms, words kept).

    Skip-gram with ``shared_negatives`` draws one set of negatives per centre word and uses it
    for every context word of its window (as pWord2Vec, Ji et al. 2016): the 1 + negative
    output rows stay in L1 across the window and there are ``2 * window`` times fewer draws.
    Without it every (centre, context) pair draws its own, as gensim does.

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
    targets = np.empty(negative + 1, dtype=np.int64)
    labels = np.empty(negative + 1, dtype=np.float32)
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
                if shared_negatives:
                    nt, state = _draw_targets(word, negative, alias_prob, alias_index, state,
                                              targets, labels)
                for j in range(lo, hi):
                    if j == i:
                        continue
                    if not shared_negatives:
                        nt, state = _draw_targets(word, negative, alias_prob, alias_index,
                                                  state, targets, labels)
                    l1 = syn0[buf[j]]
                    work[:] = zero
                    for d in range(nt):
                        loss += _neg_step(l1, syn1neg, targets[d], labels[d], alpha, work,
                                          exp_table, log_table)
                    n_terms += nt
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
                nt, state = _draw_targets(word, negative, alias_prob, alias_index, state,
                                          targets, labels)
                work[:] = zero
                for d in range(nt):
                    loss += _neg_step(neu1, syn1neg, targets[d], labels[d], alpha, work,
                                      exp_table, log_table)
                n_terms += nt
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


# -- quantisation-aware training (Word2Bits, Lam 2018) -------------------------------------------

@nb.njit(inline="always")
def _level_index(x, bits):
    """Code in [0, 2**bits) of ``x`` under Word2Bits' quantiser (``levels[code]`` its value).

    1 bit: the sign (0 counts as positive). ``bits`` >= 2: ``2**bits`` uniform mid-rise levels
    ``+-(2k + 1) / 2**bits`` over [-1, 1], cells closed above (Word2Bits' 2-bit rule: ``|x| <=
    0.5 -> 0.25``), values beyond +-1 clipped to the outermost level.
    """
    if bits == 1:
        return 1 if x >= 0 else 0
    half = 1 << (bits - 1)
    k = int(np.ceil(abs(x) * half)) - 1
    if k < 0:
        k = 0
    elif k > half - 1:
        k = half - 1
    return half + k if x >= 0 else half - 1 - k


@nb.njit(inline="always")
def _quantize_units(row, bits, out):
    """``out[k]`` = the level of ``row[k]`` in units (an odd integer: level = units * unit).

    The same levels as ``_level_index``, computed without branches or table reads so the loop
    vectorises. Scores summed in units are exact (small integers) whatever the order of the
    sum: a quantised score is often exactly 0 or on another sigmoid-table boundary.
    """
    one = np.float32(1.0)
    if bits == 1:
        for k in range(row.shape[0]):
            out[k] = one if row[k] >= 0 else -one
    else:
        half = np.float32(1 << (bits - 1))
        top = half - one
        zero = np.float32(0.0)
        for k in range(row.shape[0]):
            x = row[k]
            v = np.float32(2.0) * min(max(np.ceil(abs(x) * half) - one, zero), top) + one
            out[k] = v if x >= 0 else -v


@nb.njit(inline="always")
def _neg_step_qat(l1q, l1u, fscale, syn1neg, target, label, alpha, work, outu, bits, unit,
                  exp_table, log_table):
    """``_neg_step`` on quantised vectors with straight-through gradients.

    The score uses the quantised input (``l1q``; ``l1u`` in units, ``fscale`` turns a sum of
    units into a score) and the quantised output row; the gradients are those of the quantised
    values, applied to the full-precision rows (the output row at once, the input's accumulated
    in ``work``). Saturated scores are not skipped (as word2vec.c and Word2Bits): quantised
    scores often pass +-6, and a wrong one must still move.
    """
    dim = l1q.shape[0]
    out = syn1neg[target]
    _quantize_units(out, bits, outu)
    fu = np.float32(0.0)
    for k in range(dim):
        fu += l1u[k] * outu[k]
    f = fu * fscale
    if f >= MAX_EXP:
        g = (label - np.float32(1.0)) * alpha
    elif f <= -MAX_EXP:
        g = label * alpha
    else:
        g = (label - exp_table[_table_index(f)]) * alpha
    gu = g * unit
    for k in range(dim):
        work[k] += gu * outu[k]
    for k in range(dim):
        out[k] += g * l1q[k]
    x = f if label > 0 else -f
    if x <= -MAX_EXP or x >= MAX_EXP:
        return -x if x < 0 else 0.0
    return -log_table[_table_index(x)]


@nb.njit(cache=True, nogil=True, fastmath=True)
def train_job_qat(tokens, syn0, syn1neg, keep_thresholds, alias_prob, alias_index, exp_table,
                  log_table, sg, cbow_mean, shared_negatives, window, negative, bits, levels,
                  alpha0, alpha1, seed):
    """``train_job`` with ``bits``-bit input and output vectors in the forward pass.

    Same slice, RNG stream, windows, negatives and learning rate as ``train_job``; each input
    row is quantised (``levels[_level_index(x, bits)]``) when it is used, each output row when
    it is scored; ``syn0`` and ``syn1neg`` hold the full-precision shadow weights that the
    straight-through gradients update. Returns (loss sum, loss terms, words kept).
    """
    n = tokens.shape[0]
    dim = syn0.shape[1]
    state = np.uint64(seed) & _LCG_MASK
    buf = np.empty(n + 1, dtype=np.int32)
    m = 0
    for i in range(n):
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

    unit = np.float32(levels[levels.shape[0] - 1] / np.float32((1 << bits) - 1))
    unit2 = unit * unit
    work = np.empty(dim, dtype=np.float32)
    l1q = np.empty(dim, dtype=np.float32)
    l1u = np.empty(dim, dtype=np.float32)
    outu = np.empty(dim, dtype=np.float32)
    targets = np.empty(negative + 1, dtype=np.int64)
    labels = np.empty(negative + 1, dtype=np.float32)
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
                if shared_negatives:
                    nt, state = _draw_targets(word, negative, alias_prob, alias_index, state,
                                              targets, labels)
                for j in range(lo, hi):
                    if j == i:
                        continue
                    if not shared_negatives:
                        nt, state = _draw_targets(word, negative, alias_prob, alias_index,
                                                  state, targets, labels)
                    l1 = syn0[buf[j]]
                    _quantize_units(l1, bits, l1u)
                    for k in range(dim):
                        l1q[k] = l1u[k] * unit
                    work[:] = zero
                    for d in range(nt):
                        loss += _neg_step_qat(l1q, l1u, unit2, syn1neg, targets[d], labels[d],
                                              alpha, work, outu, bits, unit, exp_table,
                                              log_table)
                    n_terms += nt
                    for k in range(dim):
                        l1[k] += work[k]
            else:
                count = 0
                l1u[:] = zero
                for j in range(lo, hi):
                    if j == i:
                        continue
                    _quantize_units(syn0[buf[j]], bits, outu)
                    for k in range(dim):
                        l1u[k] += outu[k]
                    count += 1
                if count == 0:
                    continue
                inv = one / np.float32(count)
                fscale = unit2 * inv if cbow_mean else unit2
                qscale = unit * inv if cbow_mean else unit
                for k in range(dim):
                    l1q[k] = l1u[k] * qscale
                nt, state = _draw_targets(word, negative, alias_prob, alias_index, state,
                                          targets, labels)
                work[:] = zero
                for d in range(nt):
                    loss += _neg_step_qat(l1q, l1u, fscale, syn1neg, targets[d], labels[d],
                                          alpha, work, outu, bits, unit, exp_table, log_table)
                n_terms += nt
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
