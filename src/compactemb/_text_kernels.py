"""numba kernels of the token interner (``text.TokenInterner``): a block of text as code
points -> token ids (first-seen order over the whole corpus, ``-1`` after each line that has
tokens) and counts, through an open-addressing hash table keyed by the tokens' code points.
No Python object per token. Imported lazily."""

from __future__ import annotations

import numpy as np
from numba import njit

_FNV_OFFSET = np.uint64(14695981039346656037)
_FNV_PRIME = np.uint64(1099511628211)


@njit(cache=True, nogil=True)
def intern_block(codes, in_class, table, key_hash, key_start, key_len, key_chars, counts,
                 state, out):
    """Tokenize ``codes`` (lines joined by newlines; tokens are maximal runs of code points
    with ``in_class[c]``) and intern each token.

    ``table`` (power-of-two size, -1 = empty) holds key ids; key ``j`` has hash
    ``key_hash[j]``, code points ``key_chars[key_start[j]:key_start[j] + key_len[j]]`` and
    ``counts[j]`` occurrences. ``state`` = [number of keys, code points used in key_chars].
    The caller sizes every array for the block (see ``TokenInterner``). Writes the ids, with
    ``-1`` after every line holding a token, to ``out``; returns how many were written.
    """
    n = codes.shape[0]
    mask = table.shape[0] - 1
    n_keys = state[0]
    used = state[1]
    w = 0
    line_tokens = 0
    i = 0
    while i <= n:
        if i == n or codes[i] == 10:  # end of a line
            if line_tokens > 0:
                out[w] = -1
                w += 1
            line_tokens = 0
            i += 1
            continue
        c = codes[i]
        if not in_class[c]:
            i += 1
            continue
        start = i
        h = _FNV_OFFSET
        while i < n and in_class[codes[i]]:
            h = (h ^ np.uint64(codes[i])) * _FNV_PRIME
            i += 1
        length = i - start
        slot = np.int64(h & np.uint64(mask))
        while True:
            key = table[slot]
            if key < 0:  # a new key
                key = n_keys
                table[slot] = key
                key_hash[key] = h
                key_start[key] = used
                key_len[key] = length
                for j in range(length):
                    key_chars[used + j] = codes[start + j]
                used += length
                n_keys += 1
                break
            if key_hash[key] == h and key_len[key] == length:
                s = key_start[key]
                same = True
                for j in range(length):
                    if key_chars[s + j] != codes[start + j]:
                        same = False
                        break
                if same:
                    break
            slot = (slot + 1) & mask
        counts[key] += 1
        out[w] = key
        w += 1
        line_tokens += 1
    state[0] = n_keys
    state[1] = used
    return w


@njit(cache=True, nogil=True)
def rehash(table, key_hash, n_keys):
    """Insert keys ``0 .. n_keys - 1`` (by their hashes) into an empty ``table``."""
    mask = table.shape[0] - 1
    for key in range(n_keys):
        slot = np.int64(key_hash[key] & np.uint64(mask))
        while table[slot] >= 0:
            slot = (slot + 1) & mask
        table[slot] = key
