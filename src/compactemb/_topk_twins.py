"""NumPy twin of ``_topk_kernels.py`` (same name, same signature); see ``compactemb._native``."""

from __future__ import annotations

import numpy as np


def merge_top_k(scores, offset, best_s, best_i):
    """Merge ``scores`` (n, b) of rows ``offset ...`` into the sorted running best (n, k) in
    place: the k best by score, then lower row; -inf and NaN never enter; empty slots
    (-inf, -1) last."""
    n, b = scores.shape
    k = best_s.shape[1]
    if k == 0:
        return
    rows = np.broadcast_to(np.arange(offset, offset + b, dtype=np.int64), (n, b))
    cand_s = np.concatenate([best_s, scores.astype(best_s.dtype)], axis=1)
    cand_i = np.concatenate([best_i, rows], axis=1)
    empty = (cand_i < 0) | ~(cand_s > -np.inf)
    cand_s = np.where(empty, -np.inf, cand_s).astype(best_s.dtype)
    cand_i = np.where(empty, -1, cand_i)
    # best first: filled slots before empty ones, higher score, then lower row
    order = np.lexsort((cand_i, -cand_s.astype(np.float64), empty), axis=-1)[:, :k]
    best_s[:] = np.take_along_axis(cand_s, order, axis=1)
    best_i[:] = np.take_along_axis(cand_i, order, axis=1)
