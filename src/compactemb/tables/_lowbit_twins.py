"""NumPy twins of ``_lowbit_kernels.py`` (same names, same signatures); see
``compactemb._native``. They unpack the codes with ``unpack_codes``, the reference of the
layout, and are slow and obviously correct."""

from __future__ import annotations

import numpy as np

from ._twins import bag_rows


def unpack_codes(codes: np.ndarray, dim: int, bits: int) -> np.ndarray:
    """(n, bytes) packed codes -> (n, dim) uint8 codes: column j is bits ``bits * (j % (8 //
    bits))`` upwards of byte ``j // (8 // bits)``."""
    per_byte = 8 // bits
    j = np.arange(dim)
    shifts = (bits * (j % per_byte)).astype(np.uint8)
    return (codes[:, j // per_byte] >> shifts) & np.uint8((1 << bits) - 1)


def _values(codes, dim, bits, levels, row_scales, has_row_scales, dim_scales, rows):
    vals = levels[unpack_codes(codes[rows], dim, bits)]
    if has_row_scales:
        vals = vals * row_scales[rows][:, None]
    return (vals * dim_scales[None, :]).astype(np.float32)


def lowbit_lookup(codes, dim, bits, levels, row_scales, has_row_scales, dim_scales, mean, ids,
                  out):
    out[:] = _values(codes, dim, bits, levels, row_scales, has_row_scales, dim_scales, ids) \
        + mean[None, :]


def lowbit_lookup_lut(codes, dim, per_byte, byte_values, ids, out):
    n_bytes = byte_values.shape[0]
    vals = byte_values[np.arange(n_bytes)[None, :], codes[ids]]  # (n, bytes, per_byte)
    out[:] = vals.reshape(ids.shape[0], -1)[:, :dim]


def lowbit_bag(codes, dim, bits, levels, row_scales, has_row_scales, dim_scales, ids, starts,
               ends, per_sample, has_weights, mean_mode, out):
    bag_rows(_values(codes, dim, bits, levels, row_scales, has_row_scales, dim_scales, ids),
             starts, ends, per_sample, has_weights, mean_mode, out)


def lowbit_scores(codes, lut, row_scales, has_row_scales, start, stop, out):
    n_bytes = lut.shape[1]
    rows = codes[start:stop]
    acc = lut[:, np.arange(n_bytes)[None, :], rows].sum(axis=2, dtype=np.float32)
    if has_row_scales:
        acc = acc * row_scales[start:stop][None, :]
    out[:] = acc


def hamming(query_codes, codes, start, stop, popcount, out):
    diff = query_codes[:, None, :] ^ codes[None, start:stop, :]
    out[:] = popcount[diff].sum(axis=2)
