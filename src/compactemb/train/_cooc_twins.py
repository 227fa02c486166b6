"""NumPy twins of ``_cooc_kernels.py`` (same names, same signatures); see
``compactemb._native``."""

from __future__ import annotations

import numpy as np


def count_pairs(tokens, window, weighting, rows, cols, vals):
    """Emit (w, c, weight) for every pair at distance 1..window inside a sentence, both ways,
    in the kernel's order; returns the number of entries written."""
    k = 0
    n = tokens.shape[0]
    for i in range(n):
        w = tokens[i]
        if w < 0:
            continue
        for d in range(1, window + 1):
            if i + d >= n or tokens[i + d] < 0:
                break
            c = tokens[i + d]
            x = (1.0, 1.0 / d, (window - d + 1.0) / window)[weighting]
            rows[k:k + 2] = w, c
            cols[k:k + 2] = c, w
            vals[k:k + 2] = x
            k += 2
    return k


def subsample_mask(tokens, keep_prob, seed):
    """Keep token i with probability keep_prob[tokens[i]] (separators kept); the draws are
    NumPy's legacy Mersenne Twister seeded with ``seed``, the generator numba reimplements."""
    draws = np.random.RandomState(seed)
    out = np.ones(tokens.shape[0], dtype=np.bool_)
    words = np.flatnonzero(tokens >= 0)
    out[words] = draws.random_sample(words.size) < keep_prob[tokens[words]]
    return out
