"""NumPy twins of ``_word2vec_kernels.py`` (same names, same signatures); see
``compactemb._native``. ``train_job`` is ``_word2vec.reference_train_job`` (same RNG stream);
``train_job_qat`` is the same with its ``bits``."""

from __future__ import annotations

import numpy as np

from ._word2vec import reference_train_job as train_job  # noqa: F401 - the twin


def build_alias(weights, prob_out, alias_out):
    """Vose's alias tables, the kernel's steps in the same order (so the same tables)."""
    n = weights.shape[0]
    scaled = (weights * (n / weights.sum())).astype(np.float64)
    alias_out[:] = np.arange(n)
    small = [i for i in range(n) if scaled[i] < 1.0]  # stacks: popped from the end
    large = [i for i in range(n) if scaled[i] >= 1.0]
    while small and large:
        s = small.pop()
        g = large[-1]
        prob_out[s] = np.uint64(scaled[s] * 4294967296.0)
        alias_out[s] = g
        scaled[g] = (scaled[g] + scaled[s]) - 1.0
        if scaled[g] < 1.0:
            large.pop()
            small.append(g)
    for i in large + small:
        prob_out[i] = np.uint64(4294967296)


def train_job_qat(tokens, syn0, syn1neg, keep_thresholds, alias_prob, alias_index, exp_table,
                  log_table, sg, cbow_mean, shared_negatives, window, negative, bits, levels,
                  alpha0, alpha1, seed):
    """The reference training step with quantised forward passes (``bits``, ``levels``)."""
    return train_job(tokens, syn0, syn1neg, keep_thresholds, alias_prob, alias_index, exp_table,
                     log_table, sg, cbow_mean, shared_negatives, window, negative, alpha0,
                     alpha1, seed, bits=bits, levels=levels)
