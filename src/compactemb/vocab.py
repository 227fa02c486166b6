"""Vocabularies and ID indexes: key (token or raw ID) <-> row index.

A :class:`Vocab` holds keys in frequency order (most frequent first, ties in first-seen order)
with their counts. Keys are either all strings (words, any categorical value) or all integers
(user and item IDs). It is stored as plain arrays (a UTF-8 blob with offsets, or an int64 array,
and int64 counts) so it saves without pickle and memory-maps; the key -> index dict is built on
first use and its real size shows in the memory report.
"""

from __future__ import annotations

import os
import sys
import warnings
from collections import Counter
from collections.abc import Hashable, Iterable, Iterator, Sequence
from typing import Literal

import numpy as np

from ._progress import progress
from .exceptions import InputError, UnknownKeyError
from .storage import build_component, register_component, register_file_kind
from .text import Tokenizer, describe, iter_sentences

OnUnknown = Literal["raise", "skip", "fill"]


@register_component
class Vocab:
    """An ordered set of keys with counts.

    Parameters
    ----------
    keys : sequence of str or int
        Row ``i`` is ``keys[i]``. Keys must be unique.
    counts : array-like of int, optional
        Occurrence count of each key (default: all ones).

    Attributes
    ----------
    key_type : {"str", "int"}
    build_info : dict
        How the vocabulary was built (min_count, max_size, tokens seen, pruning during the scan).
    """

    component_type = "vocab"

    def __init__(self, keys: Sequence[Hashable] | np.ndarray, counts=None, *, build_info=None):
        keys = list(keys) if not isinstance(keys, np.ndarray) else keys
        if isinstance(keys, np.ndarray) and keys.dtype.kind in "iu":
            self.key_type = "int"
            self._int_keys = np.ascontiguousarray(keys, dtype=np.int64)
            self._str_keys = None
        else:
            keys = list(keys)
            if keys and all(isinstance(k, (int, np.integer)) and not isinstance(k, bool)
                            for k in keys):
                self.key_type = "int"
                self._int_keys = np.asarray(keys, dtype=np.int64)
                self._str_keys = None
            else:
                bad = next((k for k in keys if not isinstance(k, str)), None)
                if bad is not None:
                    raise InputError(f"vocabulary keys must be all str or all int; got {bad!r}")
                self.key_type = "str"
                self._str_keys = keys
                self._int_keys = None
        n = len(self)
        self.counts = (np.ones(n, dtype=np.int64) if counts is None
                       else np.ascontiguousarray(counts, dtype=np.int64))
        if self.counts.shape != (n,):
            raise InputError(f"vocabulary has {n} keys but {self.counts.shape[0]} counts")
        self.build_info = dict(build_info or {})
        self._index: dict | None = None
        self._blob: tuple[np.ndarray, np.ndarray] | None = None
        self._sorted: tuple[np.ndarray, np.ndarray] | None = None

    # -- construction -------------------------------------------------------------------------
    @classmethod
    def from_counts(cls, counts: dict | Counter, *, min_count: int = 1, max_size: int | None = None,
                    build_info: dict | None = None) -> Vocab:
        """Keep keys with ``count >= min_count``, the ``max_size`` most frequent, by frequency."""
        if min_count < 1:
            raise InputError(f"min_count must be >= 1, got {min_count}")
        if max_size is not None and max_size < 1:
            raise InputError(f"max_size must be >= 1, got {max_size}")
        items = [(k, c) for k, c in counts.items() if c >= min_count]
        items.sort(key=lambda kc: -kc[1])  # stable: ties keep first-seen order
        if max_size is not None:
            items = items[:max_size]
        info = dict(build_info or {})
        info.update(min_count=min_count, max_size=max_size,
                    distinct_seen=len(counts), kept=len(items))
        return cls([k for k, _ in items], [c for _, c in items], build_info=info)

    @classmethod
    def from_corpus(cls, corpus, *, tokenizer: Tokenizer | None = None, min_count: int = 5,
                    max_size: int | None = None, max_scan_size: int | None = 10_000_000) -> Vocab:
        """Count the tokens of a corpus in one streaming pass.

        Parameters
        ----------
        corpus : path, iterable of str, or iterable of token lists
        min_count, max_size : int
            Final cut: keys seen fewer than ``min_count`` times are dropped, then only the
            ``max_size`` most frequent are kept.
        max_scan_size : int or None, default 10,000,000
            Bounds memory while counting: whenever more distinct keys than this are held, the
            rarest are dropped (counts below a threshold that rises each time, as gensim does).
            That it happened, and the last threshold, are in ``build_info`` and warned about.
        """
        counts, info = count_keys(iter_sentences(corpus, tokenizer), max_scan_size=max_scan_size,
                                  desc="counting tokens")
        if info["tokens"] == 0:
            raise InputError(f"{describe(corpus)}: the corpus has no tokens")
        info["tokenizer"] = (tokenizer or Tokenizer()).to_dict()
        vocab = cls.from_counts(counts, min_count=min_count, max_size=max_size, build_info=info)
        if len(vocab) == 0:
            raise InputError(f"{describe(corpus)}: no token occurs at least min_count={min_count} "
                             f"times ({info['tokens']} tokens, {len(counts)} distinct)")
        return vocab

    @classmethod
    def from_ids(cls, values: Iterable[Hashable], *, min_count: int = 1,
                 max_size: int | None = None, max_scan_size: int | None = None) -> Vocab:
        """Index the raw IDs of a column (users, items, any categorical value)."""
        if isinstance(values, np.ndarray) and values.dtype.kind in "iu" and max_scan_size is None:
            uniq, first, cnt = np.unique(values, return_index=True, return_counts=True)
            order = np.lexsort((first, -cnt))  # frequency, then first seen
            keep = order[cnt[order] >= min_count]
            if max_size is not None:
                keep = keep[:max_size]
            info = {"tokens": int(values.size), "distinct_seen": int(uniq.size),
                    "min_count": min_count, "max_size": max_size, "kept": int(keep.size),
                    "pruned_during_scan": False}
            return cls(uniq[keep], cnt[keep], build_info=info)
        counts, info = count_keys([values], max_scan_size=max_scan_size, desc="counting ids")
        return cls.from_counts(counts, min_count=min_count, max_size=max_size, build_info=info)

    # -- access --------------------------------------------------------------------------------
    def __len__(self) -> int:
        if self.key_type == "int":
            return int(self._int_keys.shape[0])
        if self._str_keys is None:
            return int(self._blob[1].shape[0] - 1)
        return len(self._str_keys)

    @property
    def keys(self) -> list:
        """The keys in row order (a list)."""
        if self.key_type == "int":
            return self._int_keys.tolist()
        if self._str_keys is None:
            blob, offs = self._blob
            data = bytes(blob)
            self._str_keys = [data[offs[i]:offs[i + 1]].decode("utf-8")
                              for i in range(len(offs) - 1)]
        return self._str_keys

    @property
    def index(self) -> dict:
        """key -> row dict, built on first use."""
        if self._index is None:
            keys = self.keys
            self._index = dict(zip(keys, range(len(keys))))
            if len(self._index) != len(keys):
                raise InputError("vocabulary keys are not unique")
        return self._index

    def __contains__(self, key) -> bool:
        return self._coerce(key) in self.index

    def __getitem__(self, key) -> int:
        try:
            return self.index[self._coerce(key)]
        except KeyError:
            raise UnknownKeyError(self._unknown_message([key])) from None

    def __iter__(self) -> Iterator:
        return iter(self.keys)

    def __repr__(self) -> str:
        return f"Vocab({len(self)} {self.key_type} keys)"

    def _coerce(self, key):
        if self.key_type == "int" and isinstance(key, str):
            try:
                return int(key)
            except ValueError:
                return key
        if isinstance(key, np.integer):
            return int(key)
        return key

    def _unknown_message(self, missing) -> str:
        shown = ", ".join(repr(m) for m in list(missing)[:5])
        more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        return f"not in the vocabulary ({len(self)} keys): {shown}{more}"

    def encode(self, keys: Iterable[Hashable], *, on_unknown: OnUnknown = "raise",
               fill_value: int = -1) -> np.ndarray:
        """Map keys to row indices (int64).

        on_unknown : {"raise", "skip", "fill"}
            ``raise``: :class:`UnknownKeyError` naming the missing keys; ``skip``: drop them
            (the result is shorter); ``fill``: put ``fill_value`` in their place.
        """
        if on_unknown not in ("raise", "skip", "fill"):
            raise InputError(f"on_unknown must be 'raise', 'skip' or 'fill', got {on_unknown!r}")
        if (self.key_type == "int" and isinstance(keys, np.ndarray) and keys.dtype.kind in "iu"
                and keys.ndim == 1):
            return self._encode_int_array(keys, on_unknown, fill_value)
        index = self.index
        keys = [self._coerce(k) for k in keys]
        if on_unknown == "skip":
            return np.fromiter((index[k] for k in keys if k in index), dtype=np.int64)
        out = np.fromiter((index.get(k, -1) for k in keys), dtype=np.int64, count=len(keys))
        missing = out < 0
        if missing.any():
            if on_unknown == "raise":
                raise UnknownKeyError(self._unknown_message(
                    [k for k, m in zip(keys, missing) if m]))
            out[missing] = fill_value
        return out

    def _encode_int_array(self, keys: np.ndarray, on_unknown: str, fill_value: int) -> np.ndarray:
        """Vectorised encode of integer IDs: binary search in the sorted keys."""
        if getattr(self, "_sorted", None) is None:
            order = np.argsort(self._int_keys, kind="stable")
            self._sorted = (self._int_keys[order], order)
        skeys, order = self._sorted
        k = keys.astype(np.int64, copy=False)
        pos = np.minimum(np.searchsorted(skeys, k), max(len(skeys) - 1, 0))
        found = (skeys[pos] == k) if len(skeys) else np.zeros(k.shape, bool)
        out = np.where(found, order[pos] if len(skeys) else 0, -1).astype(np.int64)
        if not found.all():
            if on_unknown == "raise":
                raise UnknownKeyError(self._unknown_message(k[~found].tolist()))
            if on_unknown == "skip":
                return out[found]
            out[~found] = fill_value
        return out

    def decode(self, ids) -> list:
        """Map row indices back to keys; an index out of range raises IndexError."""
        ids = np.asarray(ids, dtype=np.int64).ravel()
        n = len(self)
        bad = (ids < 0) | (ids >= n)
        if bad.any():
            raise IndexError(f"row index {int(ids[bad][0])} out of range for a vocabulary of {n}")
        keys = self.keys
        return [keys[i] for i in ids]

    def encode_corpus(self, corpus, *, tokenizer: Tokenizer | None = None,
                      chunk_tokens: int = 1 << 20) -> Iterator[np.ndarray]:
        """Stream a corpus as int32 chunks: known tokens' rows, ``-1`` between sentences.

        Unknown tokens are dropped (the word2vec convention), sentence boundaries kept.
        """
        index = self.index
        get = index.get
        buf: list[int] = []
        for sent in iter_sentences(corpus, tokenizer):
            ids = [i for i in map(get, sent) if i is not None]
            if ids:
                buf.extend(ids)
                buf.append(-1)
                if len(buf) >= chunk_tokens:
                    yield np.asarray(buf, dtype=np.int32)
                    buf = []
        if buf:
            yield np.asarray(buf, dtype=np.int32)

    # -- storage -------------------------------------------------------------------------------
    def _key_blob(self) -> tuple[np.ndarray, np.ndarray]:
        if self._blob is None:
            encoded = [k.encode("utf-8") for k in self._str_keys]
            offs = np.zeros(len(encoded) + 1, dtype=np.int64)
            np.cumsum([len(e) for e in encoded], out=offs[1:])
            self._blob = (np.frombuffer(b"".join(encoded), dtype=np.uint8), offs)
        return self._blob

    def arrays(self) -> dict[str, np.ndarray]:
        """The arrays that store this vocabulary (what is saved, and counted in ``nbytes``)."""
        if self.key_type == "int":
            return {"keys": self._int_keys, "counts": self.counts}
        blob, offs = self._key_blob()
        return {"key_bytes": blob, "key_offsets": offs, "counts": self.counts}

    def attrs(self) -> dict:
        return {"key_type": self.key_type, "size": len(self), "build_info": self.build_info}

    @classmethod
    def from_state(cls, attrs: dict, arrays: dict) -> Vocab:
        info = attrs.get("build_info", {})
        if attrs["key_type"] == "int":
            return cls(np.asarray(arrays["keys"]), arrays["counts"], build_info=info)
        blob, offs = arrays["key_bytes"], arrays["key_offsets"]
        if offs.ndim != 1 or offs.shape[0] != attrs["size"] + 1 or (
                offs.shape[0] and (offs[0] != 0 or offs[-1] != blob.shape[0]
                                   or np.any(np.diff(offs) < 0))):
            raise ValueError("vocabulary key offsets are inconsistent with the key bytes")
        v = cls.__new__(cls)
        v.key_type, v._int_keys, v._str_keys = "str", None, None
        v._blob = (blob, offs)
        v.counts = arrays["counts"]
        if v.counts.shape != (attrs["size"],):
            raise ValueError("vocabulary counts do not match its size")
        v.build_info, v._index, v._sorted = info, None, None
        return v

    @property
    def nbytes(self) -> int:
        """Bytes of the stored arrays."""
        return int(sum(a.nbytes for a in self.arrays().values()))

    def memory_parts(self, prefix: str = "vocab") -> dict[str, int]:
        """Measured bytes: stored arrays, plus the key -> row dict if it has been built."""
        parts = {f"{prefix}.{name}": int(a.nbytes) for name, a in self.arrays().items()}
        if self._index is not None:
            parts[f"{prefix}.index_dict"] = _dict_bytes(self._index)
        return parts

    def save(self, path, *, meta: dict | None = None) -> None:
        from .storage import save_components

        save_components(path, "vocab", {"vocab": self}, meta=meta)


def _dict_bytes(d: dict) -> int:
    """Measured size of a key -> int dict: the table plus each key object (sys.getsizeof)."""
    total = sys.getsizeof(d)
    for k, v in d.items():
        total += sys.getsizeof(k)
        if v > 256:  # CPython shares the small ints; larger row numbers are objects of their own
            total += sys.getsizeof(v)
    return total


def count_keys(groups: Iterable[Iterable[Hashable]], *, max_scan_size: int | None = None,
               desc: str = "counting") -> tuple[Counter, dict]:
    """Count keys over groups (sentences), pruning the rarest when more than ``max_scan_size``
    distinct keys are held. Returns the counts and a dict describing the scan."""
    counts: Counter = Counter()
    threshold = 1
    prunes = 0
    removed = 0  # occurrences of keys dropped by pruning, so the token total stays exact
    shown = 0
    bar = progress(desc=desc, unit="tok")
    try:
        for n, group in enumerate(groups):
            counts.update(group)
            if n % 4096 == 4095:
                done = counts.total() + removed
                bar.update(done - shown)
                shown = done
            if max_scan_size is not None and len(counts) > max_scan_size:
                threshold += 1
                prunes += 1
                for k in [k for k, c in counts.items() if c < threshold]:
                    removed += counts.pop(k)
    finally:
        bar.close()
    info = {"tokens": counts.total() + removed, "pruned_during_scan": prunes > 0,
            "scan_prunes": prunes, "scan_prune_threshold": threshold if prunes else None,
            "max_scan_size": max_scan_size}
    if prunes:
        warnings.warn(
            f"more than max_scan_size={max_scan_size} distinct keys: pruned {prunes} times during "
            f"the scan; keys seen fewer than {threshold} times may be lost or undercounted",
            stacklevel=3)
    return counts, info


def read_vocab_file(path: str | os.PathLike) -> list[str]:
    """Read keys one per line (the first whitespace-separated field), for ``--keys`` options."""
    from .text import iter_lines

    keys = [line.split()[0] for line in iter_lines(path) if line.strip()]
    if not keys:
        raise InputError(f"{os.fspath(path)}: no keys in the file")
    return keys


def _load_vocab_file(stored) -> Vocab:
    return build_component(stored, "vocab")


register_file_kind("vocab", _load_vocab_file)
