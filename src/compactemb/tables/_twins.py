"""NumPy twins of ``_kernels.py`` (same names, same signatures); see ``compactemb._native``."""

from __future__ import annotations

import numpy as np


def bag_rows(rows, starts, ends, per_sample, has_weights, mean, out):
    """out[b] = sum (or mean) of ``rows[starts[b]:ends[b]]``, each row scaled by its
    ``per_sample`` weight when ``has_weights``: the bag step every table kind shares."""
    if has_weights:
        rows = rows * per_sample[:, None]
    for b in range(starts.shape[0]):
        s, e = int(starts[b]), int(ends[b])
        out[b] = rows[s:e].sum(axis=0, dtype=np.float32) if e > s else 0.0
        if mean and e > s:
            out[b] *= np.float32(1.0 / (e - s))


def dense_bag(weights, ids, starts, ends, per_sample, has_weights, mean, out):
    """out[b] = sum or mean of weights[ids[starts[b]:ends[b]]] (optionally scaled)."""
    bag_rows(weights[ids], starts, ends, per_sample, has_weights, mean, out)


def half_gather(w16, ids, lut, out):
    """out[i] = float32(w16[ids[i]]), w16 the float16 table viewed as uint16."""
    out[:] = w16[ids].view(np.float16).astype(np.float32)
