"""NumPy twin of ``_fasttext_kernels`` (slow, obvious; same arguments, same RNG stream)."""

from __future__ import annotations

import numpy as np

_LCG_MASK = (1 << 48) - 1


def train_job_subwords(tokens, syn0, syn1neg, sub_ids, sub_offsets, keep_thresholds,
                       alias_prob, alias_index, exp_table, log_table, sg, window, negative,
                       eos, redraw, alpha0, alpha1, seed):
    max_exp, size = 6.0, exp_table.shape[0]

    def rand(state):
        return (state * 25214903917 + 11) & _LCG_MASK

    def draw(state):
        state = rand(state)
        slot = (((state >> 16) & 0xFFFFFFFF) * len(alias_prob)) >> 32
        state = rand(state)
        accept = ((state >> 16) & 0xFFFFFFFF) < int(alias_prob[slot])
        return (slot if accept else int(alias_index[slot])), state

    def draw_targets(positive, state):
        rows = [positive]
        for _ in range(negative):
            target, state = draw(state)
            while redraw and target == positive and len(alias_prob) > 1:
                target, state = draw(state)
            if target != positive or redraw:
                rows.append(target)
        return rows, state

    def rows_of(word):
        return sub_ids[sub_offsets[word]:sub_offsets[word + 1]]

    def index(f):
        return int((f + max_exp) * (size / max_exp / 2))

    def learn(hidden, targets, alpha):
        """Negative sampling on ``hidden``; returns (input gradient, loss)."""
        grad, loss = np.zeros(syn0.shape[1], np.float32), 0.0
        for d, target in enumerate(targets):
            label = 1 if d == 0 else 0
            f = np.float32(np.dot(hidden, syn1neg[target]))
            x = f if label else -f
            sig = 0.0 if f <= -max_exp else 1.0 if f >= max_exp else exp_table[index(f)]
            g = np.float32((label - np.float32(sig)) * alpha)
            grad += g * syn1neg[target]
            syn1neg[target] += g * hidden
            loss += (0.0 if x >= max_exp else -float(x) if x <= -max_exp
                     else -float(log_table[index(x)]))
        return grad, loss

    state = int(seed) & _LCG_MASK
    buf: list[int] = []
    for t in (int(x) for x in tokens):
        if t < 0:
            if buf and buf[-1] >= 0:
                if eos >= 0:
                    state = rand(state)
                    if int(keep_thresholds[eos]) > (state >> 16) & 0xFFFFFFFF:
                        buf.append(eos)
                buf.append(-1)
            continue
        state = rand(state)
        if int(keep_thresholds[t]) > (state >> 16) & 0xFFFFFFFF:
            buf.append(t)
    if not buf or buf[-1] >= 0:
        buf.append(-1)
    slope = np.float32((alpha1 - alpha0) / max(len(buf), 1))
    total_loss, terms, kept, start = 0.0, 0, 0, 0
    for end in [i for i, t in enumerate(buf) if t < 0]:
        kept += end - start
        for i in range(start, end):
            alpha = np.float32(alpha0) + slope * np.float32(i)
            state = rand(state)
            b = state % window
            context = [j for j in range(max(start, i - window + b), min(end, i + window + 1 - b))
                       if j != i]
            if sg:
                for j in context:
                    targets, state = draw_targets(buf[j], state)
                    rows = rows_of(buf[i])
                    hidden = syn0[rows].sum(0, dtype=np.float32) * (
                        np.float32(1) / np.float32(len(rows)))
                    grad, loss = learn(hidden, targets, alpha)
                    total_loss, terms = total_loss + loss, terms + len(targets)
                    for r in rows:  # one at a time: a row listed twice is updated twice
                        syn0[r] += grad
            elif context:
                rows = np.concatenate([rows_of(buf[j]) for j in context])
                hidden = syn0[rows].sum(0, dtype=np.float32) * (
                    np.float32(1) / np.float32(len(rows)))
                targets, state = draw_targets(buf[i], state)
                grad, loss = learn(hidden, targets, alpha)
                total_loss, terms = total_loss + loss, terms + len(targets)
                for r in rows:
                    syn0[r] += grad
        start = end + 1
    return total_loss, terms, kept
