"""numba kernels of the subword table: fastText's n-gram hashing and its exact vector mean.

Imported lazily (``compactemb._native.kernels``); the NumPy twins are in ``_subword_twins``.
"""

from __future__ import annotations

import numba as nb
import numpy as np

_FNV_OFFSET = 2166136261
_FNV_PRIME = 16777619
_MASK32 = 0xFFFFFFFF


@nb.njit(cache=True, nogil=True, inline="always")
def _byte(key_bytes, start, length, pos):
    """Byte ``pos`` of ``<word>`` (the word is ``key_bytes[start:start + length]``)."""
    if pos == 0:
        return 60  # '<'
    if pos == length + 1:
        return 62  # '>'
    return key_bytes[start + pos - 1]


@nb.njit(cache=True, nogil=True, inline="always")
def _ngram_row(bucket, kept, nwords):
    """Inner row of n-gram ``bucket``: -1 when ``kept`` is given and the bucket was pruned."""
    if kept.shape[0] == 0:
        return nwords + bucket
    lo, hi = 0, kept.shape[0]
    while lo < hi:
        mid = (lo + hi) // 2
        if kept[mid] < bucket:
            lo = mid + 1
        else:
            hi = mid
    if lo < kept.shape[0] and kept[lo] == bucket:
        return nwords + lo
    return -1


@nb.njit(cache=True, nogil=True)
def subword_rows(key_bytes, key_offsets, word_rows, minn, maxn, buckets, nwords, kept,
                 starts, out_ids, counts):
    """Inner rows of each word, as fastText's ``Dictionary::getSubwords`` lists them.

    Word ``i`` is ``key_bytes[key_offsets[i]:key_offsets[i + 1]]``; its rows are its own row
    ``word_rows[i]`` (when >= 0), then ``nwords + FNV-1a(ngram) % buckets`` for every n-gram of
    ``<word>`` of ``minn..maxn`` characters (UTF-8 aware), written from ``out_ids[starts[i]]``;
    ``counts[i]`` gets how many. An n-gram of a pruned bucket (not in ``kept``, when given) gets
    row -1: a zero row that still counts in the mean. ``</s>`` has no n-grams (fastText's EOS).
    """
    for i in range(word_rows.shape[0]):
        start = key_offsets[i]
        length = key_offsets[i + 1] - start
        at = starts[i]
        if word_rows[i] >= 0:
            out_ids[at] = word_rows[i]
            at += 1
        eos = (length == 4 and key_bytes[start] == 60 and key_bytes[start + 1] == 47
               and key_bytes[start + 2] == 115 and key_bytes[start + 3] == 62)
        if buckets > 0 and maxn >= minn and maxn > 0 and not eos:
            width = length + 2
            for p in range(width):
                if (_byte(key_bytes, start, length, p) & 0xC0) == 0x80:
                    continue
                h = np.int64(_FNV_OFFSET)
                j = p
                n = 1
                while j < width and n <= maxn:
                    c = np.int64(_byte(key_bytes, start, length, j))
                    if c >= 128:
                        c = c | 0xFFFFFF00  # fastText hashes int8_t(byte): sign-extended
                    h = ((h ^ c) * _FNV_PRIME) & _MASK32
                    j += 1
                    while j < width and (_byte(key_bytes, start, length, j) & 0xC0) == 0x80:
                        c = np.int64(_byte(key_bytes, start, length, j)) | 0xFFFFFF00
                        h = ((h ^ c) * _FNV_PRIME) & _MASK32
                        j += 1
                    if n >= minn and not (n == 1 and (p == 0 or j == width)):
                        out_ids[at] = _ngram_row(h % buckets, kept, nwords)
                        at += 1
                    n += 1
        counts[i] = at - starts[i]


@nb.njit(cache=True, nogil=True)
def subword_mean(weights, ids, starts, ends, out):
    """out[b] = mean of ``weights[ids[starts[b]:ends[b]]]`` (id -1: a zero row) computed as
    fastText does: float32 sums in order, then times float32(1 / n) (no fastmath: bit-exact)."""
    dim = weights.shape[1]
    for b in range(starts.shape[0]):
        for j in range(dim):
            out[b, j] = np.float32(0.0)
        for p in range(starts[b], ends[b]):
            r = ids[p]
            if r < 0:
                continue
            for j in range(dim):
                out[b, j] = out[b, j] + weights[r, j]
        n = ends[b] - starts[b]
        if n > 0:
            scale = np.float32(1.0 / n)
            for j in range(dim):
                out[b, j] = out[b, j] * scale
