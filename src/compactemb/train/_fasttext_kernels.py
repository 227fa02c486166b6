"""numba kernel of fastText-style training: word2vec whose input vector of a word is the mean
of its own row and its character n-gram rows. Imported lazily.

Skip-gram (``sg``) follows fastText's ``Model::update``: for each context word of a centre word's
window, the hidden vector is the mean of the centre word's rows (recomputed, since the previous
pair updated them), the context word is the positive target with ``negative`` draws, and the
hidden gradient is added, whole, to every row of the centre word. CBOW: the hidden vector is the
mean over the rows of all context words, the centre word the target, the gradient added to each
of those rows. Subsampling, the window draw, negatives (alias method) and the sigmoid table are
word2vec's (``_word2vec_kernels``), so one job runs in the same way; the logistic step is
fastText's (saturated pairs still update, with the sigmoid clipped to 0 or 1).
"""

from __future__ import annotations

import numba as nb
import numpy as np

from ._word2vec_kernels import (
    _LCG_MASK,
    _MASK32,
    _SHIFT16,
    MAX_EXP,
    _draw_negative,
    _draw_targets,
    _next,
    _table_index,
)


@nb.njit(inline="always")
def _logistic_step(l1, syn1neg, target, label, alpha, work, exp_table, log_table):
    """One negative-sampling update as fastText's ``binaryLogistic``: the sigmoid is clipped to
    0 or 1 outside the table (word2vec skips those pairs; fastText still learns from them).
    Returns the loss term."""
    dim = l1.shape[0]
    out = syn1neg[target]
    f = np.float32(0.0)
    for k in range(dim):
        f += l1[k] * out[k]
    if f <= -MAX_EXP:
        sig = np.float32(0.0)
    elif f >= MAX_EXP:
        sig = np.float32(1.0)
    else:
        sig = exp_table[_table_index(f)]
    g = (label - sig) * alpha
    for k in range(dim):
        work[k] += g * out[k]
    for k in range(dim):
        out[k] += g * l1[k]
    x = f if label > 0 else -f
    if x >= MAX_EXP:
        return 0.0
    if x <= -MAX_EXP:
        return -x
    return -log_table[_table_index(x)]


@nb.njit(inline="always")
def _draw_targets_redraw(word, negative, alias_prob, alias_index, state, targets, labels):
    """The positive target then ``negative`` draws, a draw equal to ``word`` drawn again
    (fastText's ``NegativeSamplingLoss::getNegative``). Returns (targets, new state)."""
    targets[0] = word
    labels[0] = 1.0
    for d in range(1, negative + 1):
        while True:
            target, state = _draw_negative(alias_prob, alias_index, state)
            if target != word or alias_prob.shape[0] == 1:
                break
        targets[d] = target
        labels[d] = 0.0
    return negative + 1, state


@nb.njit(inline="always")
def _mean_rows(syn0, sub_ids, lo, hi, neu1):
    neu1[:] = np.float32(0.0)
    for p in range(lo, hi):
        row = syn0[sub_ids[p]]
        for k in range(neu1.shape[0]):
            neu1[k] += row[k]
    inv = np.float32(1.0) / np.float32(hi - lo)
    for k in range(neu1.shape[0]):
        neu1[k] *= inv


@nb.njit(cache=True, nogil=True, fastmath=True)
def train_job_subwords(tokens, syn0, syn1neg, sub_ids, sub_offsets, keep_thresholds,
                       alias_prob, alias_index, exp_table, log_table, sg, window, negative,
                       eos, redraw, alpha0, alpha1, seed):
    """Train on one slice of tokens; returns (loss sum, loss terms, words kept).

    Word ``w``'s rows are ``sub_ids[sub_offsets[w]:sub_offsets[w + 1]]`` (its own row, then its
    n-gram rows). Same slice, RNG and learning-rate rules as ``train_job``. With ``eos >= 0``
    every sentence that kept a word ends with word ``eos`` (subsampled as any word), as
    fastText's lines end with ``</s>``; with ``redraw`` a negative equal to the target is drawn
    again (fastText) instead of dropped (word2vec, gensim).
    """
    n = tokens.shape[0]
    dim = syn0.shape[1]
    state = np.uint64(seed) & _LCG_MASK
    buf = np.empty(2 * n + 2, dtype=np.int32)
    m = 0
    for i in range(n):  # subsample; keep one -1 between non-empty sentences
        t = tokens[i]
        if t < 0:
            if m > 0 and buf[m - 1] >= 0:
                if eos >= 0:
                    state = _next(state)
                    if np.uint64(keep_thresholds[eos]) > ((state >> _SHIFT16) & _MASK32):
                        buf[m] = eos
                        m += 1
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
                r0, r1 = sub_offsets[word], sub_offsets[word + 1]
                for j in range(lo, hi):
                    if j == i:
                        continue
                    if redraw:
                        nt, state = _draw_targets_redraw(buf[j], negative, alias_prob,
                                                         alias_index, state, targets, labels)
                    else:
                        nt, state = _draw_targets(buf[j], negative, alias_prob, alias_index,
                                                  state, targets, labels)
                    _mean_rows(syn0, sub_ids, r0, r1, neu1)
                    work[:] = zero
                    for d in range(nt):
                        loss += _logistic_step(neu1, syn1neg, targets[d], labels[d], alpha, work,
                                          exp_table, log_table)
                    n_terms += nt
                    for p in range(r0, r1):
                        row = syn0[sub_ids[p]]
                        for k in range(dim):
                            row[k] += work[k]
            else:
                count = 0
                neu1[:] = zero
                for j in range(lo, hi):
                    if j == i:
                        continue
                    for p in range(sub_offsets[buf[j]], sub_offsets[buf[j] + 1]):
                        row = syn0[sub_ids[p]]
                        for k in range(dim):
                            neu1[k] += row[k]
                        count += 1
                if count == 0:
                    continue
                inv = np.float32(1.0) / np.float32(count)
                for k in range(dim):
                    neu1[k] *= inv
                if redraw:
                    nt, state = _draw_targets_redraw(word, negative, alias_prob, alias_index,
                                                     state, targets, labels)
                else:
                    nt, state = _draw_targets(word, negative, alias_prob, alias_index, state,
                                              targets, labels)
                work[:] = zero
                for d in range(nt):
                    loss += _logistic_step(neu1, syn1neg, targets[d], labels[d], alpha, work,
                                      exp_table, log_table)
                n_terms += nt
                for j in range(lo, hi):
                    if j == i:
                        continue
                    for p in range(sub_offsets[buf[j]], sub_offsets[buf[j] + 1]):
                        row = syn0[sub_ids[p]]
                        for k in range(dim):
                            row[k] += work[k]
        s = e + 1
    return loss, n_terms, kept
