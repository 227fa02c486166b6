"""numba kernels for co-occurrence counting. Imported lazily."""

from __future__ import annotations

import numba as nb
import numpy as np


@nb.njit(cache=True, nogil=True)
def count_pairs(tokens, window, weighting, rows, cols, vals):
    """Emit (w, c, weight) for every pair at distance 1..window inside a sentence.

    ``tokens`` holds row ids with -1 between sentences. Both directions are emitted. weighting:
    0 uniform, 1 harmonic (1/d), 2 linear ((window - d + 1) / window, the expected weight under
    word2vec's dynamic window). Returns the number of entries written.
    """
    n = tokens.shape[0]
    k = 0
    for i in range(n):
        w = tokens[i]
        if w < 0:
            continue
        for d in range(1, window + 1):
            j = i + d
            if j >= n:
                break
            c = tokens[j]
            if c < 0:
                break
            if weighting == 0:
                x = 1.0
            elif weighting == 1:
                x = 1.0 / d
            else:
                x = (window - d + 1.0) / window
            rows[k] = w
            cols[k] = c
            vals[k] = x
            rows[k + 1] = c
            cols[k + 1] = w
            vals[k + 1] = x
            k += 2
    return k


@nb.njit(cache=True, nogil=True)
def subsample_mask(tokens, keep_prob, seed):
    """Boolean mask keeping token i with probability keep_prob[tokens[i]] (separators kept)."""
    np.random.seed(seed)
    out = np.ones(tokens.shape[0], dtype=np.bool_)
    for i in range(tokens.shape[0]):
        t = tokens[i]
        if t >= 0 and np.random.random() >= keep_prob[t]:
            out[i] = False
    return out
