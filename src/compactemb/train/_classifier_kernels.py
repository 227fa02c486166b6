"""numba kernels of the text classifier: SGD over jagged bags, word n-gram hashing.

Imported lazily by ``_classifier.py``. Training kernels release the GIL (``nogil``) so that
several Python threads run them at once over disjoint example ranges, writing the shared weight
matrices without locks (Hogwild, as fastText does). ``train_epochs`` runs some epochs and can be
called again to go on (one call per epoch lets a callback stop training); with ``bits`` the
input rows enter the forward pass quantised (quantisation-aware training). Char n-gram buckets
come from the subword table's kernel (``tables._subword_kernels.subword_rows``).

Examples are jagged::

    ids     = [ 4, 9, 130, 77 | 2, 130 | ... ]     input rows (words, then hashed n-grams)
    offsets = [ 0,             4,       6, ... ]    n_examples + 1 entries
    labels  = [ 1 | 0, 3 | ... ]  label_offsets = [0, 1, 3, ...]
"""

from __future__ import annotations

import numba as nb
import numpy as np

LOSS_SOFTMAX = 0
LOSS_OVA = 1
_NGRAM_MULT = np.uint64(116049371)  # fastText's word n-gram hash multiplier


@nb.njit(cache=True, nogil=True, fastmath=True)
def _next_random(state):
    """xorshift64*: advances ``state[0]``, returns a 53-bit uniform in [0, 1)."""
    x = state[0]
    x ^= x >> np.uint64(12)
    x ^= x << np.uint64(25)
    x ^= x >> np.uint64(27)
    state[0] = x
    return ((x * np.uint64(2685821657736338717)) >> np.uint64(11)) * (1.0 / 9007199254740992.0)


@nb.njit(cache=True, nogil=True, fastmath=True)
def _add_quantized_row(w_in, row, bits, levels, out, scratch):
    """out += the row as the stored low-bit table decodes it (quantisation-aware training).

    bits 1 and 2: a code per value (1: its sign; 2: the nearest of ``levels`` x the row's RMS),
    then the row scale that fits those codes best (least squares): ``levels[code] * scale``.
    bits 4: row-wise min/max codes of 15 steps, ``code * step + min`` (the int4 table's form).
    Branch-free passes over the row (they vectorise); ``scratch`` holds the 2-bit levels.
    """
    dim = w_in.shape[1]
    if bits == 1:
        total = 0.0
        for j in range(dim):
            total += abs(w_in[row, j])
        scale = np.float32(total / dim)  # least squares for signs: the mean |value|
        for j in range(dim):
            out[j] += scale if w_in[row, j] > 0 else -scale
    elif bits == 2:
        squares = 0.0
        for j in range(dim):
            squares += w_in[row, j] * w_in[row, j]
        rms = np.sqrt(squares / dim)
        l0, l1, l2, l3 = levels[0], levels[1], levels[2], levels[3]
        t0 = np.float32((l0 + l1) / np.float32(2.0) * rms)
        t1 = np.float32((l1 + l2) / np.float32(2.0) * rms)
        t2 = np.float32((l2 + l3) / np.float32(2.0) * rms)
        num = np.float32(0.0)
        den = np.float32(0.0)
        for j in range(dim):
            v = w_in[row, j]
            lv = l0
            lv = l1 if v > t0 else lv
            lv = l2 if v > t1 else lv
            lv = l3 if v > t2 else lv
            scratch[j] = lv
            num += v * lv
            den += lv * lv
        scale = np.float32(num / den) if den > 0 else np.float32(0.0)
        for j in range(dim):
            out[j] += scratch[j] * scale
    else:
        lo = w_in[row, 0]
        hi = w_in[row, 0]
        for j in range(1, dim):
            lo = min(lo, w_in[row, j])
            hi = max(hi, w_in[row, j])
        step = (hi - lo) / np.float32(15.0)
        if step > 0:
            inv = np.float32(1.0) / step
            for j in range(dim):
                c = np.rint((w_in[row, j] - lo) * inv)
                out[j] += min(max(c, np.float32(0.0)), np.float32(15.0)) * step + lo
        else:
            for j in range(dim):
                out[j] += lo


@nb.njit(cache=True, nogil=True, fastmath=True)
def _example_step(w_in, w_out, ids, s, e, labels, ls, le, target, loss, lr, hidden, grad, scores,
                  update_input, bits, levels, qrow):
    """One fastText update: hidden = mean(w_in[ids]), softmax or one-vs-all loss, backprop into
    ``w_out`` and, with ``update_input``, into the input rows. Returns the example's loss.

    ``bits`` > 0: the rows enter the mean quantised (``_add_quantized_row``); their gradient goes
    to the full-precision rows unchanged (straight-through estimator)."""
    dim = w_in.shape[1]
    n_labels = w_out.shape[0]
    n = e - s
    for j in range(dim):
        hidden[j] = 0.0
        if update_input:
            grad[j] = 0.0
    for p in range(s, e):
        row = ids[p]
        if bits == 0:
            for j in range(dim):
                hidden[j] += w_in[row, j]
        else:
            _add_quantized_row(w_in, row, bits, levels, hidden, qrow)
    inv = 1.0 / n
    for j in range(dim):
        hidden[j] *= inv
    total = 0.0
    if loss == LOSS_SOFTMAX:
        top = -np.inf
        for i in range(n_labels):
            acc = 0.0
            for j in range(dim):
                acc += w_out[i, j] * hidden[j]
            scores[i] = acc
            if acc > top:
                top = acc
        z = 0.0
        for i in range(n_labels):
            scores[i] = np.exp(scores[i] - top)
            z += scores[i]
        for i in range(n_labels):
            prob = scores[i] / z
            gold = 1.0 if i == target else 0.0
            if i == target:
                total = -np.log(max(prob, 1e-10))
            alpha = lr * (gold - prob)
            for j in range(dim):
                if update_input:
                    grad[j] += alpha * w_out[i, j]
                w_out[i, j] += alpha * hidden[j]
    else:
        for i in range(n_labels):
            gold = 0.0
            for q in range(ls, le):
                if labels[q] == i:
                    gold = 1.0
            acc = 0.0
            for j in range(dim):
                acc += w_out[i, j] * hidden[j]
            prob = 1.0 / (1.0 + np.exp(-acc))
            total -= np.log(max(prob if gold > 0 else 1.0 - prob, 1e-10))
            alpha = lr * (gold - prob)
            for j in range(dim):
                if update_input:
                    grad[j] += alpha * w_out[i, j]
                w_out[i, j] += alpha * hidden[j]
    if update_input:
        for j in range(dim):
            grad[j] *= inv
        for p in range(s, e):
            row = ids[p]
            for j in range(dim):
                w_in[row, j] += grad[j]
    return total


@nb.njit(cache=True, nogil=True, fastmath=True)
def sgd_example(w_in, w_out, ids, s, e, labels, ls, le, target, loss, lr, hidden, grad, scores):
    """One fastText update of both layers (see ``_example_step``); returns the example's loss.

    ``target`` is the gold label used by the softmax loss; one-vs-all uses all of
    ``labels[ls:le]``.
    """
    return _example_step(w_in, w_out, ids, s, e, labels, ls, le, target, loss, lr, hidden,
                         grad, scores, True, 0, np.zeros(0, np.float32), hidden)


@nb.njit(cache=True, nogil=True, fastmath=True)
def quantize_rows(w_in, bits, levels, out):
    """out[i] = row i of ``w_in`` as training sees it with ``bits`` (``_add_quantized_row``)."""
    scratch = np.empty(w_in.shape[1], dtype=np.float32)
    for i in range(w_in.shape[0]):
        out[i] = 0.0
        _add_quantized_row(w_in, i, bits, levels, out[i], scratch)


@nb.njit(cache=True, nogil=True, fastmath=True)
def train_epochs(w_in, w_out, ids, offsets, labels, label_offsets, weights, order, state,
                 schedule, epochs, total_epochs, lr0, loss, done, slot, update_input, shuffle,
                 bits, levels):
    """``epochs`` epochs of SGD over the examples ``order`` (row numbers), resumable.

    ``order`` is reshuffled in place each epoch when ``shuffle`` (else kept: fastText's file
    order), ``state`` (uint64[1]) is the xorshift state, ``schedule`` (float64[2]) holds the
    weight seen so far and the total over ``total_epochs`` epochs (0 on the first call: computed
    then): the learning rate decays linearly to 0 by token count (fastText) over all
    ``total_epochs``, however the epochs are split into calls. ``done[slot]`` counts finished
    examples (for the progress bar); returns the summed loss of the last epoch run.

    With ``update_input`` False the input rows stay fixed (retraining the output layer only);
    ``bits`` > 0 trains them quantisation-aware (``_example_step``).
    """
    dim = w_in.shape[1]
    n_labels = w_out.shape[0]
    hidden = np.empty(dim, dtype=np.float32)
    grad = np.empty(dim, dtype=np.float32)
    qrow = np.empty(dim, dtype=np.float32)
    scores = np.empty(n_labels, dtype=np.float32)
    m = order.shape[0]
    if schedule[1] == 0.0:
        total_w = 0.0
        for t in range(m):
            total_w += weights[order[t]]
        schedule[1] = total_w * total_epochs
    total_w = schedule[1]
    seen_w = schedule[0]
    last = 0.0
    for _ in range(epochs):
        if shuffle:
            for t in range(m - 1, 0, -1):  # Fisher-Yates
                u = int(_next_random(state) * (t + 1))
                tmp = order[t]
                order[t] = order[u]
                order[u] = tmp
        epoch_loss = 0.0
        for t in range(m):
            x = order[t]
            s, e = offsets[x], offsets[x + 1]
            ls, le = label_offsets[x], label_offsets[x + 1]
            lr = lr0 * (1.0 - seen_w / total_w)
            seen_w += weights[x]
            if e > s and le > ls:
                target = labels[ls]
                if le - ls > 1:  # softmax with several gold labels: one at random (fastText)
                    target = labels[ls + int(_next_random(state) * (le - ls))]
                epoch_loss += _example_step(w_in, w_out, ids, s, e, labels, ls, le, target,
                                            loss, lr, hidden, grad, scores, update_input, bits,
                                            levels, qrow)
            done[slot] += 1
        last = epoch_loss
    schedule[0] = seen_w
    return last


@nb.njit(cache=True, nogil=True, fastmath=True)
def train_range(w_in, w_out, ids, offsets, labels, label_offsets, weights, examples, epochs,
                lr0, loss, seed, done, slot, update_input, shuffle):
    """All ``epochs`` of ``train_epochs`` in one call, from ``seed``, full precision."""
    state = np.empty(1, dtype=np.uint64)
    state[0] = np.uint64(seed) * np.uint64(2654435761) + np.uint64(88172645463325252)
    return train_epochs(w_in, w_out, ids, offsets, labels, label_offsets, weights,
                        examples.copy(), state, np.zeros(2), epochs, epochs, lr0, loss, done,
                        slot, update_input, shuffle, 0, np.zeros(0, np.float32))


@nb.njit(cache=True, nogil=True)
def count_ngrams(starts, ends, max_n):
    """Number of word n-grams (2 <= n <= max_n) per example."""
    out = np.zeros(starts.shape[0], dtype=np.int64)
    for x in range(starts.shape[0]):
        length = ends[x] - starts[x]
        c = 0
        for n in range(2, max_n + 1):
            if length >= n:
                c += length - n + 1
        out[x] = c
    return out


@nb.njit(cache=True, nogil=True)
def hash_ngrams(hashes, starts, ends, max_n, n_buckets, out_offsets, out):
    """Bucket of every word n-gram, n = 2..max_n, of each example's token hashes (uint64).

    fastText's scheme: ``h = h * 116049371 + hash(next word)`` in uint64, bucket ``h % n``.
    """
    mult = np.uint64(116049371)
    nb_ = np.uint64(n_buckets)
    for x in range(starts.shape[0]):
        s, e = starts[x], ends[x]
        q = out_offsets[x]
        for i in range(s, e):
            h = hashes[i]
            for j in range(i + 1, min(e, i + max_n)):
                h = h * mult + hashes[j]
                out[q] = np.int64(h % nb_)
                q += 1
