"""numba kernels of the 1-bit and 2-bit tables (decode, bag, asymmetric and Hamming scoring).

Imported lazily by ``_lowbit.py``, never by ``import compactemb``; the NumPy twins with the same
names are in ``_lowbit_twins.py``. Codes are packed little-end first: with ``b`` bits a code,
column ``j`` of a row is bits ``b * (j % (8 // b))`` upwards of byte ``j // (8 // b)``.

Decoding is not compiled with fastmath, so each value is computed in the twin's order
(``level * row_scale``, then ``* dim_scale``, then ``+ mean``) and the two agree bit for bit.
"""

from __future__ import annotations

import numba as nb
import numpy as np


@nb.njit(cache=True, nogil=True)
def lowbit_lookup(codes, dim, bits, levels, row_scales, has_row_scales, dim_scales, mean, ids,
                  out):
    """out[i] = levels[code] * row_scale * dim_scale + mean for row ids[i]."""
    per_byte = 8 // bits
    mask = (1 << bits) - 1
    for i in range(ids.shape[0]):
        row = ids[i]
        rs = row_scales[row] if has_row_scales else np.float32(1.0)
        for j in range(dim):
            byte = codes[row, j // per_byte]
            code = (byte >> (bits * (j % per_byte))) & mask
            v = levels[code] * rs
            v = v * dim_scales[j]
            out[i, j] = v + mean[j]


@nb.njit(cache=True, nogil=True)
def _copy_bytes8(codes, full, flat, ids, out):
    for i in range(ids.shape[0]):
        row = ids[i]
        for p in range(full):
            base = (p * 256 + np.int64(codes[row, p])) * 8
            j0 = p * 8
            for k in range(8):  # a literal count: the copy is unrolled
                out[i, j0 + k] = flat[base + k]


@nb.njit(cache=True, nogil=True)
def _copy_bytes4(codes, full, flat, ids, out):
    for i in range(ids.shape[0]):
        row = ids[i]
        for p in range(full):
            base = (p * 256 + np.int64(codes[row, p])) * 4
            j0 = p * 4
            for k in range(4):
                out[i, j0 + k] = flat[base + k]


@nb.njit(cache=True, nogil=True)
def lowbit_lookup_lut(codes, dim, per_byte, byte_values, ids, out):
    """out[i] = the decoded values, a byte at a time: ``byte_values[p, b]`` holds the
    ``per_byte`` values (level * dim scale + mean, computed once in the plain decode's order)
    that byte value ``b`` decodes to at byte position ``p``; for tables without row scales."""
    flat = byte_values.reshape(-1)
    full = dim // per_byte
    if per_byte == 8:
        _copy_bytes8(codes, full, flat, ids, out)
    else:
        _copy_bytes4(codes, full, flat, ids, out)
    if full * per_byte < dim:
        for i in range(ids.shape[0]):
            base = (full * 256 + np.int64(codes[ids[i], full])) * per_byte
            for j in range(full * per_byte, dim):
                out[i, j] = flat[base + j - full * per_byte]


@nb.njit(cache=True, nogil=True, fastmath=True)
def lowbit_bag(codes, dim, bits, levels, row_scales, has_row_scales, dim_scales, ids, starts,
               ends, per_sample, has_weights, mean_mode, out):
    """out[b] = sum (or mean) of the bag's rows before the mean and rotation are applied
    (``sum w * levels[code] * row_scale * dim_scale``); the caller adds those (linear)."""
    per_byte = 8 // bits
    mask = (1 << bits) - 1
    for b in range(starts.shape[0]):
        for j in range(dim):
            out[b, j] = 0.0
        s, e = starts[b], ends[b]
        for p in range(s, e):
            row = ids[p]
            w = per_sample[p] if has_weights else np.float32(1.0)
            if has_row_scales:
                w = w * row_scales[row]
            for j in range(dim):
                byte = codes[row, j // per_byte]
                code = (byte >> (bits * (j % per_byte))) & mask
                out[b, j] += levels[code] * w * dim_scales[j]
        if mean_mode and e > s:
            inv = np.float32(1.0 / (e - s))
            for j in range(dim):
                out[b, j] *= inv


@nb.njit(cache=True, nogil=True, fastmath=True)
def lowbit_scores(codes, lut, row_scales, has_row_scales, start, stop, out):
    """out[q, i - start] = row_scale[i] * sum_p lut[q, p, codes[i, p]] for rows start:stop.

    ``lut[q, p, byte]`` is query q's dot product with the decoded values a byte holds, so a
    row costs one table read per byte instead of one multiply-add per dimension."""
    n_q, n_bytes = lut.shape[0], lut.shape[1]
    for i in range(start, stop):
        rs = row_scales[i] if has_row_scales else np.float32(1.0)
        for q in range(n_q):
            acc = np.float32(0.0)
            for p in range(n_bytes):
                acc += lut[q, p, codes[i, p]]
            out[q, i - start] = acc * rs


@nb.njit(cache=True, nogil=True)
def hamming(query_codes, codes, start, stop, popcount, out):
    """out[q, i - start] = number of differing bits between query q's codes and row i's."""
    n_q, n_bytes = query_codes.shape
    for i in range(start, stop):
        for q in range(n_q):
            d = 0
            for p in range(n_bytes):
                d += popcount[query_codes[q, p] ^ codes[i, p]]
            out[q, i - start] = d
