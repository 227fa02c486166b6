"""numba kernels for table lookups. Imported lazily: ``import compactemb`` compiles nothing."""

from __future__ import annotations

import numba as nb

from ._compress_kernels import _bag_mean, _bag_zero


@nb.njit(cache=True, nogil=True, fastmath=True)
def dense_bag(weights, ids, starts, ends, per_sample, has_weights, mean, out):
    """out[b] = sum or mean of weights[ids[starts[b]:ends[b]]] (optionally scaled)."""
    dim = weights.shape[1]
    for b in range(starts.shape[0]):
        _bag_zero(out, b)
        s, e = starts[b], ends[b]
        for p in range(s, e):
            row = ids[p]
            if has_weights:
                w = per_sample[p]
                for j in range(dim):
                    out[b, j] += w * weights[row, j]
            else:
                for j in range(dim):
                    out[b, j] += weights[row, j]
        _bag_mean(out, b, e - s, mean)


@nb.njit(cache=True, nogil=True, fastmath=True)
def half_gather(w16, ids, lut, out):
    """out[i] = float32(w16[ids[i]]) with w16 the float16 table viewed as uint16 and ``lut`` the
    65,536-entry float32 value of every half bit pattern (4x numpy's gather + astype)."""
    for i in range(ids.shape[0]):
        r = ids[i]
        for j in range(w16.shape[1]):
            out[i, j] = lut[w16[r, j]]
