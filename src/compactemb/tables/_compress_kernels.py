"""numba kernels of the compressed and compositional tables (decode, bag, gradient scatter).

Imported lazily by the table modules, never by ``import compactemb``. Every kernel is a pure
function of arrays and scalars writing into outputs the caller allocated; each has a NumPy twin
in its table module that the tests compare against.

float16 has no numba type, so int4 scales/biases are read as raw uint16 bits and decoded
through a 65536-entry float32 table (``half_lut``).
"""

from __future__ import annotations

import numba as nb
import numpy as np

_SPLITMIX_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


@nb.njit(cache=True, nogil=True, inline="always")
def hash_id(row, seed, n_buckets):
    """splitmix64 of (row, seed) modulo ``n_buckets``; the NumPy twin is ``_hashing.hash_ids``."""
    z = np.uint64(row) * _SPLITMIX_GAMMA + np.uint64(seed)
    z = (z ^ (z >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    z = z ^ (z >> np.uint64(31))
    return np.int64(z % np.uint64(n_buckets))


# -- the bag skeleton shared by every table kind (inlined into each bag kernel) ---------------

@nb.njit(cache=True, nogil=True, inline="always")
def _bag_zero(out, b):
    for j in range(out.shape[1]):
        out[b, j] = 0.0


@nb.njit(cache=True, nogil=True, inline="always")
def _bag_mean(out, b, count, mean):
    """Divide bag ``b`` by its size when ``mean`` (an empty bag stays zero)."""
    if mean and count > 0:
        inv = np.float32(1.0 / count)
        for j in range(out.shape[1]):
            out[b, j] *= inv


# -- row-wise int8 / int4 (FBGEMM fused rows: codes then scale and bias) -----------------------

@nb.njit(cache=True, nogil=True, fastmath=True)
def int8_decode_into(data, dim, row, out, k, weight):
    """out[k] += weight * decoded row (codes * scale + bias; fp32 scale/bias after the codes)."""
    sb = data[row, dim:dim + 8].view(np.float32)
    scale = sb[0] * weight
    bias = sb[1] * weight
    for j in range(dim):
        out[k, j] += data[row, j] * scale + bias


@nb.njit(cache=True, nogil=True, fastmath=True)
def int8_lookup(data, dim, ids, out):
    for i in range(ids.shape[0]):
        row = ids[i]
        sb = data[row, dim:dim + 8].view(np.float32)
        scale, bias = sb[0], sb[1]
        for j in range(dim):
            out[i, j] = data[row, j] * scale + bias


@nb.njit(cache=True, nogil=True, fastmath=True)
def int8_bag(data, dim, ids, starts, ends, per_sample, has_weights, mean, out):
    for b in range(starts.shape[0]):
        _bag_zero(out, b)
        s, e = starts[b], ends[b]
        for p in range(s, e):
            w = per_sample[p] if has_weights else np.float32(1.0)
            int8_decode_into(data, dim, ids[p], out, b, w)
        _bag_mean(out, b, e - s, mean)


@nb.njit(cache=True, nogil=True, fastmath=True)
def int4_decode_into(data, dim, half_lut, row, out, k, weight):
    """Two codes per byte (low nibble first), then float16 scale and bias."""
    nb_codes = (dim + 1) // 2
    sb = data[row, nb_codes:nb_codes + 4].view(np.uint16)
    scale = half_lut[sb[0]] * weight
    bias = half_lut[sb[1]] * weight
    for j in range(dim):
        byte = data[row, j >> 1]
        code = (byte >> 4) if (j & 1) else (byte & 15)
        out[k, j] += code * scale + bias


@nb.njit(cache=True, nogil=True, fastmath=True)
def int4_lookup(data, dim, half_lut, ids, out):
    nb_codes = (dim + 1) // 2
    for i in range(ids.shape[0]):
        row = ids[i]
        sb = data[row, nb_codes:nb_codes + 4].view(np.uint16)
        scale, bias = half_lut[sb[0]], half_lut[sb[1]]
        for j2 in range(dim // 2):
            byte = data[row, j2]
            out[i, 2 * j2] = (byte & 15) * scale + bias
            out[i, 2 * j2 + 1] = (byte >> 4) * scale + bias
        if dim & 1:
            out[i, dim - 1] = (data[row, dim // 2] & 15) * scale + bias


@nb.njit(cache=True, nogil=True, fastmath=True)
def int4_bag(data, dim, half_lut, ids, starts, ends, per_sample, has_weights, mean, out):
    for b in range(starts.shape[0]):
        _bag_zero(out, b)
        s, e = starts[b], ends[b]
        for p in range(s, e):
            w = per_sample[p] if has_weights else np.float32(1.0)
            int4_decode_into(data, dim, half_lut, ids[p], out, b, w)
        _bag_mean(out, b, e - s, mean)


# -- product quantisation ----------------------------------------------------------------------

@nb.njit(cache=True, nogil=True, fastmath=True)
def pq_lookup(codebooks, codes, ids, out):
    """out[i] = concat_m codebooks[m, codes[ids[i], m]]."""
    n_sub, _, dsub = codebooks.shape
    for i in range(ids.shape[0]):
        row = ids[i]
        for m in range(n_sub):
            c = codes[row, m]
            base = m * dsub
            for j in range(dsub):
                out[i, base + j] = codebooks[m, c, j]


@nb.njit(cache=True, nogil=True, fastmath=True)
def pq_bag(codebooks, codes, ids, starts, ends, per_sample, has_weights, mean, out):
    n_sub, _, dsub = codebooks.shape
    for b in range(starts.shape[0]):
        _bag_zero(out, b)
        s, e = starts[b], ends[b]
        for p in range(s, e):
            w = per_sample[p] if has_weights else np.float32(1.0)
            row = ids[p]
            for m in range(n_sub):
                c = codes[row, m]
                base = m * dsub
                for j in range(dsub):
                    out[b, base + j] += w * codebooks[m, c, j]
        _bag_mean(out, b, e - s, mean)


# -- hashing trick -----------------------------------------------------------------------------

@nb.njit(cache=True, nogil=True, fastmath=True)
def hashed_lookup(weights, ids, seeds, out):
    """out[i] = sum_h weights[hash_h(ids[i])]."""
    n_buckets, dim = weights.shape
    for i in range(ids.shape[0]):
        for j in range(dim):
            out[i, j] = 0.0
        for h in range(seeds.shape[0]):
            bkt = hash_id(ids[i], seeds[h], n_buckets)
            for j in range(dim):
                out[i, j] += weights[bkt, j]


@nb.njit(cache=True, nogil=True, fastmath=True)
def hashed_scatter(weights, ids, seeds, grads, lr):
    """SGD step: every bucket a row sums gets ``-lr * grad`` of that row (d row / d bucket = 1)."""
    n_buckets, dim = weights.shape
    for i in range(ids.shape[0]):
        for h in range(seeds.shape[0]):
            bkt = hash_id(ids[i], seeds[h], n_buckets)
            for j in range(dim):
                weights[bkt, j] -= lr * grads[i, j]


# -- quotient-remainder ------------------------------------------------------------------------

@nb.njit(cache=True, nogil=True, fastmath=True)
def qr_lookup(quotient, remainder, ids, multiply, out):
    """out[i] = Q[id // R] * R[id % R] (multiply) or Q[id // R] + R[id % R]."""
    n_rem, dim = remainder.shape
    for i in range(ids.shape[0]):
        q = ids[i] // n_rem
        r = ids[i] - q * n_rem
        if multiply:
            for j in range(dim):
                out[i, j] = quotient[q, j] * remainder[r, j]
        else:
            for j in range(dim):
                out[i, j] = quotient[q, j] + remainder[r, j]


@nb.njit(cache=True, nogil=True, fastmath=True)
def qr_scatter(quotient, remainder, ids, grads, lr, multiply):
    """SGD step through the product (or sum): chain rule into both factors, sequentially."""
    n_rem, dim = remainder.shape
    for i in range(ids.shape[0]):
        q = ids[i] // n_rem
        r = ids[i] - q * n_rem
        if multiply:
            for j in range(dim):
                gq = grads[i, j] * remainder[r, j]
                gr = grads[i, j] * quotient[q, j]
                quotient[q, j] -= lr * gq
                remainder[r, j] -= lr * gr
        else:
            for j in range(dim):
                quotient[q, j] -= lr * grads[i, j]
                remainder[r, j] -= lr * grads[i, j]


# -- mixed dimension (frequency blocks, each with its own width and a projection) -------------

@nb.njit(cache=True, nogil=True, inline="always")
def _block_of(row, block_starts):
    b = np.searchsorted(block_starts, row, side="right") - 1
    return b


@nb.njit(cache=True, nogil=True, fastmath=True)
def mixed_lookup(emb, emb_offsets, proj, proj_offsets, block_starts, block_dims, ids, out):
    """out[i] = E_b[row] @ P_b for the frequency block b holding the row (flat arrays)."""
    dim = out.shape[1]
    for i in range(ids.shape[0]):
        row = ids[i]
        b = _block_of(row, block_starts)
        db = block_dims[b]
        e0 = emb_offsets[b] + (row - block_starts[b]) * db
        p0 = proj_offsets[b]
        for j in range(dim):
            out[i, j] = 0.0
        for t in range(db):
            v = emb[e0 + t]
            base = p0 + t * dim
            for j in range(dim):
                out[i, j] += v * proj[base + j]


@nb.njit(cache=True, nogil=True, fastmath=True)
def mixed_scatter(emb, emb_offsets, proj, proj_offsets, block_starts, block_dims, ids, grads,
                  lr):
    """SGD step: dE_b[row] = P_b @ g, dP_b = outer(E_b[row], g); sequential over ids."""
    dim = grads.shape[1]
    for i in range(ids.shape[0]):
        row = ids[i]
        b = _block_of(row, block_starts)
        db = block_dims[b]
        e0 = emb_offsets[b] + (row - block_starts[b]) * db
        p0 = proj_offsets[b]
        for t in range(db):
            base = p0 + t * dim
            ge = 0.0
            for j in range(dim):
                ge += proj[base + j] * grads[i, j]
            v = emb[e0 + t]
            for j in range(dim):
                proj[base + j] -= lr * v * grads[i, j]
            emb[e0 + t] = v - lr * ge
