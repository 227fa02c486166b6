"""NumPy/Python twins of ``_text_kernels.py`` (same names, same signatures, the same hash and
probing, so every array comes out identical); see ``compactemb._native``."""

from __future__ import annotations

import numpy as np

_FNV_OFFSET = 14695981039346656037
_FNV_PRIME = 1099511628211
_MASK64 = (1 << 64) - 1


def _fnv(points) -> int:
    h = _FNV_OFFSET
    for c in points:
        h = ((h ^ int(c)) * _FNV_PRIME) & _MASK64
    return h


def intern_block(codes, in_class, table, key_hash, key_start, key_len, key_chars, counts,
                 state, out):
    """Tokens are maximal runs of code points in the class; each is looked up (or added, in
    first-seen order) by hash and content; ``-1`` follows every line holding a token."""
    text = codes.tolist()
    mask = table.shape[0] - 1
    n_keys, used = int(state[0]), int(state[1])
    w = 0
    for line in _split_lines(text):
        had = False
        for token in _runs(line, in_class):
            h = _fnv(token)
            slot = h & mask
            while True:
                key = int(table[slot])
                if key < 0:
                    key = n_keys
                    table[slot] = key
                    key_hash[key] = h
                    key_start[key] = used
                    key_len[key] = len(token)
                    key_chars[used:used + len(token)] = token
                    used += len(token)
                    n_keys += 1
                    break
                s = int(key_start[key])
                if int(key_hash[key]) == h and key_chars[s:s + int(key_len[key])].tolist() == \
                        token:
                    break
                slot = (slot + 1) & mask
            counts[key] += 1
            out[w] = key
            w += 1
            had = True
        if had:
            out[w] = -1
            w += 1
    state[0], state[1] = n_keys, used
    return w


def _split_lines(text: list[int]):
    line: list[int] = []
    for c in text:
        if c == 10:
            yield line
            line = []
        else:
            line.append(c)
    yield line


def _runs(line: list[int], in_class):
    run: list[int] = []
    for c in line:
        if in_class[c]:
            run.append(c)
        elif run:
            yield run
            run = []
    if run:
        yield run


def rehash(table, key_hash, n_keys):
    """Insert keys ``0 .. n_keys - 1`` (by their hashes) into an empty ``table``."""
    mask = table.shape[0] - 1
    for key in range(n_keys):
        slot = int(np.uint64(key_hash[key])) & mask
        while table[slot] >= 0:
            slot = (slot + 1) & mask
        table[slot] = key
