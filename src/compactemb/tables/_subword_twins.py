"""NumPy twins of ``_subword_kernels`` (slow, obviously correct; see ``compactemb._native``)."""

from __future__ import annotations

import numpy as np


def _fnv1a_int8(data: bytes) -> int:
    """fastText's ``Dictionary::hash``: FNV-1a over the bytes taken as int8_t."""
    h = 2166136261
    for b in data:
        h = ((h ^ (b | 0xFFFFFF00 if b >= 128 else b)) * 16777619) & 0xFFFFFFFF
    return h


def subword_rows(key_bytes, key_offsets, word_rows, minn, maxn, buckets, nwords, kept,
                 starts, out_ids, counts):
    kept_list = np.asarray(kept).tolist()
    position = {b: i for i, b in enumerate(kept_list)}
    for i in range(word_rows.shape[0]):
        word = bytes(key_bytes[key_offsets[i]:key_offsets[i + 1]])
        rows = [int(word_rows[i])] if word_rows[i] >= 0 else []
        if buckets > 0 and maxn >= minn and maxn > 0 and word != b"</s>":
            text = "<" + word.decode("utf-8") + ">"
            for p in range(len(text)):
                for n in range(minn, maxn + 1):
                    if p + n > len(text) or (n == 1 and (p == 0 or p + n == len(text))):
                        continue
                    bucket = _fnv1a_int8(text[p:p + n].encode("utf-8")) % buckets
                    if not kept_list:
                        rows.append(nwords + bucket)
                    else:
                        rows.append(nwords + position[bucket] if bucket in position else -1)
        out_ids[starts[i]:starts[i] + len(rows)] = rows
        counts[i] = len(rows)


def subword_mean(weights, ids, starts, ends, out):
    for b in range(starts.shape[0]):
        acc = np.zeros(weights.shape[1], np.float32)
        for p in range(starts[b], ends[b]):
            if ids[p] >= 0:
                acc += weights[ids[p]]
        n = ends[b] - starts[b]
        out[b] = acc * np.float32(1.0 / n) if n > 0 else acc
