"""NumPy twins of ``_compress_kernels.py`` (same names, same signatures); see
``compactemb._native``. Scatter twins apply the updates in the kernels' order (row by row), so
a row hit twice gets both updates in sequence, as in the kernel."""

from __future__ import annotations

import numpy as np

from ._hashed import hash_ids
from ._pq import decode_pq
from ._quantized import dequantize_rows
from ._twins import bag_rows


def hash_id(row, seed, n_buckets):
    """splitmix64 of (row, seed) modulo ``n_buckets``."""
    return int(hash_ids(np.array([row]), int(seed), int(n_buckets))[0])


# -- row-wise int8 / int4 ---------------------------------------------------------------------

def int8_lookup(data, dim, ids, out):
    out[:] = dequantize_rows(data[ids], dim, 8)


def int8_bag(data, dim, ids, starts, ends, per_sample, has_weights, mean, out):
    bag_rows(dequantize_rows(data[ids], dim, 8), starts, ends, per_sample, has_weights, mean,
             out)


def int4_lookup(data, dim, half_lut, ids, out):
    out[:] = dequantize_rows(data[ids], dim, 4)


def int4_bag(data, dim, half_lut, ids, starts, ends, per_sample, has_weights, mean, out):
    bag_rows(dequantize_rows(data[ids], dim, 4), starts, ends, per_sample, has_weights, mean,
             out)


# -- product quantisation ---------------------------------------------------------------------

def pq_lookup(codebooks, codes, ids, out):
    out[:] = decode_pq(codes[ids], codebooks)


def pq_bag(codebooks, codes, ids, starts, ends, per_sample, has_weights, mean, out):
    bag_rows(decode_pq(codes[ids], codebooks), starts, ends, per_sample, has_weights, mean, out)


# -- hashing trick ----------------------------------------------------------------------------

def _buckets(ids, seeds, n_buckets):
    return np.stack([hash_ids(ids, int(s), n_buckets) for s in seeds], axis=1) \
        if ids.size else np.zeros((0, seeds.shape[0]), np.int64)


def hashed_lookup(weights, ids, seeds, out):
    out[:] = weights[_buckets(ids, seeds, weights.shape[0])].sum(axis=1)


def hashed_scatter(weights, ids, seeds, grads, lr):
    b = _buckets(ids, seeds, weights.shape[0])
    for h in range(b.shape[1]):  # np.add.at applies repeated buckets one after another
        np.add.at(weights, b[:, h], -np.float32(lr) * grads)


# -- quotient-remainder -----------------------------------------------------------------------

def qr_lookup(quotient, remainder, ids, multiply, out):
    n_rem = remainder.shape[0]
    q, r = quotient[ids // n_rem], remainder[ids % n_rem]
    out[:] = q * r if multiply else q + r


def qr_scatter(quotient, remainder, ids, grads, lr, multiply):
    n_rem = remainder.shape[0]
    lr = np.float32(lr)
    for i, g in zip(ids, grads):
        q, r = i // n_rem, i % n_rem
        gq, gr = (g * remainder[r], g * quotient[q]) if multiply else (g, g)
        quotient[q] -= lr * gq
        remainder[r] -= lr * gr


# -- mixed dimension --------------------------------------------------------------------------

def _mixed_block(emb, emb_offsets, proj, proj_offsets, block_starts, block_dims, row, dim):
    """Views of the row's vector E_b[row] (db,) and its block's projection P_b (db, dim)."""
    b = int(np.searchsorted(block_starts, row, side="right") - 1)
    db = int(block_dims[b])
    e0 = int(emb_offsets[b] + (row - block_starts[b]) * db)
    p0 = int(proj_offsets[b])
    return emb[e0:e0 + db], proj[p0:p0 + db * dim].reshape(db, dim)


def mixed_lookup(emb, emb_offsets, proj, proj_offsets, block_starts, block_dims, ids, out):
    dim = out.shape[1]
    for i, row in enumerate(ids):
        vec, p = _mixed_block(emb, emb_offsets, proj, proj_offsets, block_starts, block_dims,
                              row, dim)
        out[i] = vec @ p


def mixed_scatter(emb, emb_offsets, proj, proj_offsets, block_starts, block_dims, ids, grads,
                  lr):
    dim = grads.shape[1]
    lr = np.float32(lr)
    for row, g in zip(ids, grads):
        vec, p = _mixed_block(emb, emb_offsets, proj, proj_offsets, block_starts, block_dims,
                              row, dim)
        ge = p @ g
        p -= lr * np.outer(vec, g)
        vec -= lr * ge
