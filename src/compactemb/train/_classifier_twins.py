"""NumPy twins of ``_classifier_kernels.py`` (same names, same signatures); see
``compactemb._native``. ``train_range`` draws from the same xorshift stream as the kernel, so
with one thread the twin and the kernel agree to float32 rounding."""

from __future__ import annotations

import numpy as np

LOSS_SOFTMAX = 0
_MASK = (1 << 64) - 1


def _next_random(state):
    """xorshift64*: advances ``state[0]``, returns a 53-bit uniform in [0, 1)."""
    x = int(state[0])
    x ^= x >> 12
    x ^= (x << 25) & _MASK
    x ^= x >> 27
    state[0] = x
    return (((x * 2685821657736338717) & _MASK) >> 11) * (1.0 / 9007199254740992.0)


def _quantize(rows, bits, levels):
    """Rows as ``_quantize_row`` gives them (float64 in, float64 out)."""
    if bits == 4:  # in float32, as the kernel
        rows = np.asarray(rows, dtype=np.float32)
        lo, hi = rows.min(axis=1, keepdims=True), rows.max(axis=1, keepdims=True)
        step = (hi - lo) / np.float32(15.0)
        inv = np.float32(1.0) / np.where(step > 0, step, np.float32(1.0))
        codes = np.clip(np.rint((rows - lo) * inv), 0, 15)
        return np.where(step > 0, codes * step + lo, lo).astype(np.float64)
    rows = np.asarray(rows, dtype=np.float64)
    if bits == 1:
        codes = (rows > 0).astype(np.int64)
    else:  # nearest level x RMS: above how many midpoints x RMS the value lies
        rms = np.sqrt((rows ** 2).mean(axis=1, keepdims=True))
        edges = ((levels[1:] + levels[:-1]) / np.float32(2)).astype(np.float64)
        codes = (rows[:, :, None] > edges[None, None, :] * rms[:, :, None]).sum(axis=2)
    lv = np.asarray(levels, dtype=np.float64)[codes]
    scale = (rows * lv).sum(axis=1, keepdims=True) / (lv * lv).sum(axis=1, keepdims=True)
    return lv * scale


def quantize_rows(w_in, bits, levels, out):
    """out[i] = row i of ``w_in`` as training sees it with ``bits``."""
    out[:] = _quantize(w_in, bits, levels).astype(np.float32)


def _example_step(w_in, w_out, ids, s, e, labels, ls, le, target, loss, lr, update_input,
                  scratch=None, bits=0, levels=None):
    """The update; ``scratch`` = (hidden, grad, scores) get what the kernel leaves there."""
    rows = ids[s:e]
    x = w_in[rows].astype(np.float64)
    if bits:
        x = _quantize(x, bits, levels)  # straight-through: the gradient goes to w_in as is
    hidden = x.mean(axis=0)
    acc = w_out.astype(np.float64) @ hidden
    if loss == LOSS_SOFTMAX:
        prob = np.exp(acc - acc.max())
        if scratch is not None:
            scratch[2][:] = prob
        prob /= prob.sum()
        gold = np.zeros(w_out.shape[0])
        gold[target] = 1.0
        total = -np.log(max(prob[target], 1e-10))
    else:
        prob = 1.0 / (1.0 + np.exp(-acc))
        gold = np.isin(np.arange(w_out.shape[0]), labels[ls:le]).astype(np.float64)
        total = -np.log(np.maximum(np.where(gold > 0, prob, 1.0 - prob), 1e-10)).sum()
    alpha = lr * (gold - prob)
    grad = alpha @ w_out.astype(np.float64) / (e - s)  # before w_out moves, as the kernel
    w_out += np.outer(alpha, hidden).astype(np.float32)
    if scratch is not None:
        scratch[0][:], scratch[1][:] = hidden, grad
    if update_input:
        for row in rows:  # a word twice in the example gets the step twice
            w_in[row] += grad.astype(np.float32)
    return float(total)


def sgd_example(w_in, w_out, ids, s, e, labels, ls, le, target, loss, lr, hidden, grad, scores):
    """One fastText update of both layers; returns the example's loss."""
    return _example_step(w_in, w_out, ids, s, e, labels, ls, le, target, loss, lr, True,
                         (hidden, grad, scores))


def train_epochs(w_in, w_out, ids, offsets, labels, label_offsets, weights, order, state,
                 schedule, epochs, total_epochs, lr0, loss, done, slot, update_input, shuffle,
                 bits, levels):
    """``epochs`` resumable epochs with the kernel's shuffles, label draws and learning-rate
    decay over ``total_epochs``; returns the summed loss of the last epoch run."""
    rng_state = np.array([int(state[0])], dtype=object)
    m = order.shape[0]
    if schedule[1] == 0.0:
        total_w = 0.0
        for t in range(m):  # in order, as the kernel sums
            total_w += float(weights[order[t]])
        schedule[1] = total_w * total_epochs
    total_w, seen_w = float(schedule[1]), float(schedule[0])
    last = 0.0
    for _ in range(epochs):
        if shuffle:
            for t in range(m - 1, 0, -1):  # Fisher-Yates
                u = int(_next_random(rng_state) * (t + 1))
                order[t], order[u] = order[u], order[t]
        epoch_loss = 0.0
        for x in order:
            s, e = offsets[x], offsets[x + 1]
            ls, le = label_offsets[x], label_offsets[x + 1]
            lr = lr0 * (1.0 - seen_w / total_w)
            seen_w += weights[x]
            if e > s and le > ls:
                target = labels[ls]
                if le - ls > 1:
                    target = labels[ls + int(_next_random(rng_state) * (le - ls))]
                epoch_loss += _example_step(w_in, w_out, ids, s, e, labels, ls, le, target,
                                            loss, lr, update_input, bits=bits, levels=levels)
            done[slot] += 1
        last = epoch_loss
    state[0] = np.uint64(rng_state[0])
    schedule[0] = seen_w
    return last


def train_range(w_in, w_out, ids, offsets, labels, label_offsets, weights, examples, epochs,
                lr0, loss, seed, done, slot, update_input, shuffle):
    """All epochs of ``train_epochs`` in one call, from ``seed``, full precision."""
    state = np.array([(int(seed) * 2654435761 + 88172645463325252) & _MASK], dtype=np.uint64)
    return train_epochs(w_in, w_out, ids, offsets, labels, label_offsets, weights,
                        examples.copy(), state, np.zeros(2), epochs, epochs, lr0, loss, done,
                        slot, update_input, shuffle, 0, np.zeros(0, np.float32))


def count_ngrams(starts, ends, max_n):
    """Number of word n-grams (2 <= n <= max_n) per example."""
    length = (ends - starts).astype(np.int64)
    return sum(np.maximum(length - n + 1, 0) for n in range(2, max_n + 1)) \
        if max_n >= 2 else np.zeros(starts.shape[0], np.int64)


def hash_ngrams(hashes, starts, ends, max_n, n_buckets, out_offsets, out):
    """Bucket of every word n-gram, n = 2..max_n: ``h = h * 116049371 + hash(next)`` (uint64),
    bucket ``h % n_buckets``."""
    for x in range(starts.shape[0]):
        s, e = int(starts[x]), int(ends[x])
        q = int(out_offsets[x])
        for i in range(s, e):
            h = int(hashes[i])
            for j in range(i + 1, min(e, i + max_n)):
                h = (h * 116049371 + int(hashes[j])) & _MASK
                out[q] = h % int(n_buckets)
                q += 1
