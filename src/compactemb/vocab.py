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
from itertools import repeat
from typing import Literal

import numpy as np

from ._progress import progress
from .exceptions import InputError, UnknownKeyError
from .storage import build_component, register_component, register_file_kind
from .text import (
    TokenInterner,
    Tokenizer,
    describe,
    iter_corpus_line_blocks,
    iter_token_blocks,
)

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
        self._str_keys: list | None = None
        self._int_keys: np.ndarray | None = None
        if isinstance(keys, np.ndarray) and keys.dtype.kind in "iu":
            self.key_type = "int"
            self._int_keys = np.ascontiguousarray(keys, dtype=np.int64)
        else:
            keys = list(keys)
            if keys and all(isinstance(k, (int, np.integer)) and not isinstance(k, bool)
                            for k in keys):
                self.key_type = "int"
                self._int_keys = np.asarray(keys, dtype=np.int64)
            else:
                bad = next((k for k in keys if not isinstance(k, str)), None)
                if bad is not None:
                    raise InputError(f"vocabulary keys must be all str or all int; got {bad!r}")
                self.key_type = "str"
                self._str_keys = keys
        n = len(self)
        self.counts = (np.ones(n, dtype=np.int64) if counts is None
                       else np.ascontiguousarray(counts, dtype=np.int64))
        if self.counts.shape != (n,):
            raise InputError(f"vocabulary has {n} keys but {self.counts.shape[0]} counts")
        self.build_info = dict(build_info or {})
        self._reset_caches()

    def _reset_caches(self) -> None:
        self._index: dict | None = None
        self._blob: tuple[np.ndarray, np.ndarray] | None = getattr(self, "_blob", None)
        self._sorted: tuple[np.ndarray, np.ndarray] | None = None
        self._key_list: list | None = None  # int keys as a list, built once if asked for
        self._key_objects: np.ndarray | None = None  # str keys as an object array (decode)

    # -- construction -------------------------------------------------------------------------
    @classmethod
    def from_counts(cls, counts: dict | Counter, *, min_count: int = 1, max_size: int | None = None,
                    build_info: dict | None = None) -> Vocab:
        """Keep keys with ``count >= min_count``, the ``max_size`` most frequent, by frequency.

        Parameters
        ----------
        counts : dict or collections.Counter
            Key -> count.
        min_count : int
            Keys seen fewer times are dropped.
        max_size : int or None
            Keep at most this many keys, the most frequent.
        build_info : dict or None
            A description of how the counts were made (stored with the vocabulary).

        Returns
        -------
        Vocab
            Keys by descending count, ties in the order of ``counts``.
        """
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

        Returns
        -------
        Vocab
            Keys by descending count, with ``build_info`` describing the scan.
        """
        counts = _count_file_tokens(corpus, tokenizer or Tokenizer(), max_scan_size)
        if counts is not None:
            info = {"tokens": sum(counts.values()), "pruned_during_scan": False,
                    "scan_prunes": 0, "scan_prune_threshold": None,
                    "max_scan_size": max_scan_size}
        else:
            counts, info = count_keys(iter_token_blocks(corpus, tokenizer),
                                      max_scan_size=max_scan_size, desc="counting tokens",
                                      blocks=True)
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
        """Index the raw IDs of a column (users, items, any categorical value).

        Keys are ordered by frequency, ties in first-seen order. Arrays (numpy, pandas,
        pyarrow) are indexed by hashing (:func:`factorize_ids`), without a Python object per
        value; ``max_scan_size`` bounds memory for a stream of values instead.

        Parameters
        ----------
        values : iterable of hashable, or an array / pandas / pyarrow column
            The raw IDs, repeats included.
        min_count : int
            IDs seen fewer times are dropped.
        max_size : int or None
            Keep at most this many IDs, the most frequent.
        max_scan_size : int or None
            Bound on distinct IDs held while counting a stream (the rarest are pruned).

        Returns
        -------
        Vocab
            The indexed IDs.
        """
        if max_scan_size is None and (isinstance(values, np.ndarray) or _is_column(values)):
            return cls.from_ids_encoded(values, min_count=min_count, max_size=max_size)[0]
        counts, info = count_keys([values], max_scan_size=max_scan_size, desc="counting ids")
        return cls.from_counts(counts, min_count=min_count, max_size=max_size, build_info=info)

    @classmethod
    def from_ids_encoded(cls, values, *, min_count: int = 1, max_size: int | None = None,
                         what: str = "ID") -> tuple[Vocab, np.ndarray]:
        """Index a column of raw IDs and return its codes too, in one hashing pass.

        Parameters
        ----------
        values : array-like (numpy, pandas Series, pyarrow Array, list)
            Integer IDs stay integers; any other values become strings.
        min_count, max_size : int
            Keys seen fewer than ``min_count`` times, or beyond the ``max_size`` most
            frequent, get no row (their code is -1).
        what : str
            Named in errors ("user", "item").

        Returns
        -------
        vocab : Vocab
            Keys by frequency, ties in first-seen order.
        codes : ndarray of int32 (int64 past 2**31 keys)
            The row of each value, -1 where it was cut.

        Raises
        ------
        InputError
            A missing value (None, NaN), naming its position.

        Examples
        --------
        >>> vocab, codes = Vocab.from_ids_encoded(np.array([70, 30, 70, 90]))
        >>> vocab.keys, codes.tolist()
        ([70, 30, 90], [0, 1, 0, 2])
        """
        if min_count < 1:
            raise InputError(f"min_count must be >= 1, got {min_count}")
        if max_size is not None and max_size < 1:
            raise InputError(f"max_size must be >= 1, got {max_size}")
        uniques, codes = factorize_ids(values, what=what)
        counts = np.bincount(codes, minlength=len(uniques))
        order = np.argsort(-counts, kind="stable")  # frequency, ties in first-seen order
        keep = order[counts[order] >= min_count]
        if max_size is not None:
            keep = keep[:max_size]
        code_type = np.int32 if len(uniques) < 2**31 else np.int64
        rank = np.full(len(uniques), -1, dtype=code_type)
        rank[keep] = np.arange(keep.size, dtype=code_type)
        codes = rank[codes]
        info = {"tokens": int(codes.size), "distinct_seen": int(len(uniques)),
                "min_count": min_count, "max_size": max_size, "kept": int(keep.size),
                "pruned_during_scan": False}
        if isinstance(uniques, np.ndarray):
            vocab = cls(uniques[keep], counts[keep], build_info=info)
        else:
            vocab = cls([uniques[i] for i in keep.tolist()], counts[keep], build_info=info)
        return vocab, codes

    # -- access --------------------------------------------------------------------------------
    @property
    def _ints(self) -> np.ndarray:
        """The int64 keys of an integer vocabulary."""
        assert self._int_keys is not None, "not an integer vocabulary"
        return self._int_keys

    def __len__(self) -> int:
        if self.key_type == "int":
            return int(self._ints.shape[0])
        if self._str_keys is None:
            return int(self._key_blob()[1].shape[0] - 1)
        return len(self._str_keys)

    @property
    def keys(self) -> list:
        """The keys in row order, as a list (built once and kept; see :attr:`key_array`)."""
        if self.key_type == "int":
            if self._key_list is None:
                self._key_list = self._ints.tolist()
            return self._key_list
        if self._str_keys is None:
            blob, offs = self._key_blob()
            data = bytes(blob)
            bounds = offs.tolist()
            self._str_keys = [data[a:b].decode("utf-8") for a, b in zip(bounds, bounds[1:])]
        return self._str_keys

    @property
    def key_array(self) -> np.ndarray:
        """The keys in row order as an array (read-only).

        The stored int64 array for integer keys (no Python object per key), an object array of the
        strings otherwise.
        """
        if self.key_type == "int":
            view = self._ints.view()
        else:
            if self._key_objects is None:
                self._key_objects = np.empty(len(self), dtype=object)
                self._key_objects[:] = self.keys
            view = self._key_objects.view()
        view.flags.writeable = False
        return view

    @property
    def index(self) -> dict:
        """key -> row dict, built on first use (integer keys are looked up without it)."""
        if self._index is None:
            keys = self.keys
            self._index = dict(zip(keys, range(len(keys))))
            if len(self._index) != len(keys):
                raise InputError("vocabulary keys are not unique")
        return self._index

    def __contains__(self, key) -> bool:
        if self.key_type == "int":
            return bool(self.encode([key], on_unknown="fill")[0] >= 0)
        return self._coerce(key) in self.index

    def __getitem__(self, key) -> int:
        if self.key_type == "int":
            return int(self.encode([key])[0])
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

        Parameters
        ----------
        keys : iterable of hashable
            The keys.
        on_unknown : {"raise", "skip", "fill"}
            ``raise``: :class:`UnknownKeyError` naming the missing keys; ``skip``: drop them
            (the result is shorter); ``fill``: put ``fill_value`` in their place.
        fill_value : int
            The row given to unknown keys with ``on_unknown="fill"``.

        Returns
        -------
        numpy.ndarray of int64
            One row per key (fewer with ``skip``).

        Raises
        ------
        UnknownKeyError
            With ``on_unknown="raise"``, naming the missing keys.
        """
        if on_unknown not in ("raise", "skip", "fill"):
            raise InputError(f"on_unknown must be 'raise', 'skip' or 'fill', got {on_unknown!r}")
        if self.key_type == "int":
            ints, ok = self._as_int_array(keys)
            out = np.full(ints.shape, -1, dtype=np.int64)
            out[ok] = self._encode_int_array(ints[ok])
            return self._finish_encode(out, keys, on_unknown, fill_value)
        index = self.index
        if not isinstance(keys, (list, tuple)):
            keys = keys.tolist() if isinstance(keys, np.ndarray) else list(keys)
        # str keys: no coercion needed (an integer is never a key of a str vocabulary)
        out = np.fromiter(map(index.get, keys, repeat(-1)), dtype=np.int64, count=len(keys))
        return self._finish_encode(out, keys, on_unknown, fill_value)

    def _finish_encode(self, out: np.ndarray, keys, on_unknown: str, fill_value: int):
        missing = out < 0
        if missing.any():
            if on_unknown == "raise":
                listed = list(keys) if not isinstance(keys, np.ndarray) else keys.tolist()
                raise UnknownKeyError(self._unknown_message(
                    [listed[i] for i in np.flatnonzero(missing).tolist()]))
            if on_unknown == "skip":
                return out[~missing]
            out[missing] = fill_value
        return out

    @staticmethod
    def _as_int_array(keys) -> tuple[np.ndarray, np.ndarray]:
        """Keys as int64 (digit strings too, as the CLI gives them) and which ones are ints."""
        if not isinstance(keys, np.ndarray):
            keys = list(keys) if not isinstance(keys, (list, tuple)) else keys
            try:
                arr = np.asarray(keys)
            except (ValueError, OverflowError):  # ragged input, huge integers
                arr = np.empty(0)
            if arr.dtype.kind not in "iu" or arr.ndim != 1 or arr.size != len(keys):
                arr = np.empty(len(keys), dtype=object)
                arr[:] = keys
        else:
            arr = keys.ravel()
        if arr.dtype.kind in "iu":
            if arr.dtype.kind == "u" and arr.size and arr.max() >= 2**63:
                ok = arr < 2**63
                return np.where(ok, arr, 0).astype(np.int64), ok
            return arr.astype(np.int64, copy=False), np.ones(arr.shape, dtype=bool)
        out = np.zeros(arr.shape, dtype=np.int64)
        ok = np.zeros(arr.shape, dtype=bool)
        for n, k in enumerate(arr.tolist()):
            if isinstance(k, (bool, np.bool_)):
                continue
            if isinstance(k, np.integer):
                k = int(k)
            elif isinstance(k, str):
                try:
                    k = int(k)
                except ValueError:
                    continue
            if isinstance(k, int) and -2**63 <= k < 2**63:
                out[n], ok[n] = k, True
        return out, ok

    def _encode_int_array(self, keys: np.ndarray) -> np.ndarray:
        """Rows of integer IDs (-1 where unknown): binary search in the sorted keys."""
        if self._sorted is None:
            order = np.argsort(self._ints, kind="stable")
            self._sorted = (self._ints[order], order)
        skeys, order = self._sorted
        if not len(skeys):
            return np.full(keys.shape, -1, dtype=np.int64)
        pos = np.searchsorted(skeys, keys)
        np.minimum(pos, len(skeys) - 1, out=pos)
        found = skeys[pos] == keys
        return np.where(found, order[pos], -1).astype(np.int64, copy=False)

    def decode(self, ids) -> list:
        """Map row indices back to keys (a list); an index out of range raises IndexError.

        Parameters
        ----------
        ids : array-like of int
            Row indices.

        Returns
        -------
        list
            The keys.
        """
        return self.decode_array(np.asarray(ids, dtype=np.int64).ravel()).tolist()

    def decode_array(self, ids) -> np.ndarray:
        """Map row indices back to keys in one array operation, keeping the shape of ``ids``.

        int64 for integer keys, an object array of str otherwise. Out of range: IndexError.

        Parameters
        ----------
        ids : array-like of int
            Row indices, any shape.

        Returns
        -------
        numpy.ndarray
            The keys, shaped as ``ids``.
        """
        ids = np.asarray(ids)
        if ids.dtype.kind not in "iu":
            ids = ids.astype(np.int64)
        n = len(self)
        if ids.size:
            lo, hi = int(ids.min()), int(ids.max())
            if lo < 0 or hi >= n:
                bad = lo if lo < 0 else hi
                raise IndexError(f"row index {bad} out of range for a vocabulary of {n}")
        return self.key_array[ids]

    def encode_corpus(self, corpus, *, tokenizer: Tokenizer | None = None,
                      chunk_tokens: int = 1 << 20) -> Iterator[np.ndarray]:
        """Stream a corpus as int32 chunks: known tokens' rows, ``-1`` between sentences.

        Unknown tokens are dropped (the word2vec convention), sentence boundaries kept (a
        sentence with no known token leaves no trace). Chunks end at sentence ends.

        Parameters
        ----------
        corpus : str, os.PathLike, Corpus or iterable
            A corpus file, lines, or token lists.
        tokenizer : Tokenizer or None
            Splits lines into tokens; None takes the default.
        chunk_tokens : int
            About this many tokens per chunk.

        Yields
        ------
        numpy.ndarray of int32
            Rows of known tokens, ``-1`` after each sentence.
        """
        get = self.index.get
        pending: list[np.ndarray] = []
        held = 0
        for tokens, lengths in iter_token_blocks(corpus, tokenizer):
            ids = np.fromiter(map(get, tokens, repeat(-1)), dtype=np.int32, count=len(tokens))
            known = ids >= 0
            if not known.all():
                sentence = np.repeat(np.arange(lengths.size), lengths)
                lengths = np.bincount(sentence[known], minlength=lengths.size)
                ids = ids[known]
            if ids.size:
                pending.append(join_sentences(ids, lengths))
                held += pending[-1].size
            if held >= chunk_tokens:
                yield np.concatenate(pending) if len(pending) > 1 else pending[0]
                pending, held = [], 0
        if pending:
            yield np.concatenate(pending) if len(pending) > 1 else pending[0]

    # -- storage -------------------------------------------------------------------------------
    def _key_blob(self) -> tuple[np.ndarray, np.ndarray]:
        if self._blob is None:
            assert self._str_keys is not None  # a vocabulary holds its keys one way or the other
            encoded = [k.encode("utf-8") for k in self._str_keys]
            offs = np.zeros(len(encoded) + 1, dtype=np.int64)
            np.cumsum([len(e) for e in encoded], out=offs[1:])
            self._blob = (np.frombuffer(b"".join(encoded), dtype=np.uint8), offs)
        return self._blob

    def arrays(self) -> dict[str, np.ndarray]:
        """The arrays that store this vocabulary (what is saved, and counted in ``nbytes``)."""
        if self.key_type == "int":
            return {"keys": self._ints, "counts": self.counts}
        blob, offs = self._key_blob()
        return {"key_bytes": blob, "key_offsets": offs, "counts": self.counts}

    def attrs(self) -> dict:
        """The JSON-able attributes stored beside :meth:`arrays` in a file."""
        return {"key_type": self.key_type, "size": len(self), "build_info": self.build_info}

    @classmethod
    def from_state(cls, attrs: dict, arrays: dict) -> Vocab:
        """The vocabulary a file stored (:meth:`attrs` and :meth:`arrays`), for the loader.

        Parameters
        ----------
        attrs : dict
            The stored attributes.
        arrays : dict of str to numpy.ndarray
            The stored arrays (possibly memory-mapped).

        Returns
        -------
        Vocab
            The vocabulary.
        """
        from .storage import state_array, state_choice, state_int

        info = attrs.get("build_info", {})
        if not isinstance(info, dict):
            raise ValueError("attribute 'build_info' is not an object")
        size = state_int(attrs, "size")
        state_array(arrays, "counts", ndim=1, kinds="iu", rows=size)
        if state_choice(attrs, "key_type", ("int", "str")) == "int":
            state_array(arrays, "keys", ndim=1, kinds="iu", rows=size)
            return cls(np.asarray(arrays["keys"]), arrays["counts"], build_info=info)
        blob = state_array(arrays, "key_bytes", ndim=1, kinds="u")
        offs = state_array(arrays, "key_offsets", ndim=1, kinds="iu")
        if blob.dtype != np.uint8:
            raise ValueError(f"array 'key_bytes' has dtype {blob.dtype}, expected uint8")
        if offs.ndim != 1 or offs.shape[0] != attrs["size"] + 1 or (
                offs.shape[0] and (offs[0] != 0 or offs[-1] != blob.shape[0]
                                   or np.any(np.diff(offs) < 0))):
            raise ValueError("vocabulary key offsets are inconsistent with the key bytes")
        # keys are decoded lazily: check now that every key is valid UTF-8 (the whole blob is,
        # and no key starts inside a character)
        try:
            blob.tobytes().decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ValueError(f"array 'key_bytes' is not valid UTF-8 (byte {exc.start})") from None
        starts = offs[:-1][offs[:-1] < blob.shape[0]]
        if starts.size and np.any((blob[starts] & 0xC0) == 0x80):
            raise ValueError("array 'key_offsets' splits a UTF-8 character")
        v = cls.__new__(cls)
        v.key_type, v._int_keys, v._str_keys = "str", None, None
        v._blob = (blob, offs)
        v.counts = arrays["counts"]
        if v.counts.shape != (attrs["size"],):
            raise ValueError("vocabulary counts do not match its size")
        v.build_info = info
        v._reset_caches()
        return v

    @property
    def nbytes(self) -> int:
        """Bytes of the stored arrays."""
        return int(sum(a.nbytes for a in self.arrays().values()))

    def memory_parts(self, prefix: str = "vocab") -> dict[str, int]:
        """Measured bytes: stored arrays, plus the key -> row dict if it has been built.

        Parameters
        ----------
        prefix : str
            The names' prefix (``"<prefix>.<array>"``).

        Returns
        -------
        dict of str to int
            Bytes by name.
        """
        parts = {f"{prefix}.{name}": int(a.nbytes) for name, a in self.arrays().items()}
        if self._index is not None:
            parts[f"{prefix}.index_dict"] = _dict_bytes(self._index)
        return parts

    def save(self, path, *, meta: dict | None = None) -> None:
        """Write the vocabulary to a compactemb file of kind ``vocab`` (atomic).

        Parameters
        ----------
        path : str or os.PathLike
            The file.
        meta : dict or None
            JSON-able metadata.
        """
        from .storage import save_components

        save_components(path, "vocab", {"vocab": self}, meta=meta)


def _is_column(values) -> bool:
    """A pandas Series / Index, polars Series or pyarrow (Chunked)Array (duck-typed, no import)."""
    mod = type(values).__module__.split(".")[0]
    return mod in ("pandas", "pyarrow", "polars")


def _first_missing(mask: np.ndarray, what: str) -> InputError:
    pos = int(np.flatnonzero(mask)[0])
    return InputError(f"{int(mask.sum())} {what}s are missing (None or NaN), the first at "
                      f"row {pos} (0-based)")


def factorize_ids(values, *, what: str = "ID") -> tuple[np.ndarray | list, np.ndarray]:
    """Distinct values in first-seen order and the code of each value, by hashing.

    Parameters
    ----------
    values : array-like
        numpy array, pandas or polars Series, pyarrow (Chunked)Array, or a list.
    what : str
        Named in errors.

    Returns
    -------
    uniques : int64 ndarray (integer IDs) or list of str (any other IDs)
    codes : ndarray of intp
        ``uniques[codes[n]]`` is value ``n``.

    Raises
    ------
    InputError
        A missing value (None or NaN), naming the first one's row.

    Examples
    --------
    >>> uniques, codes = factorize_ids(np.array([5, 9, 5]))
    >>> uniques.tolist(), codes.tolist()
    ([5, 9], [0, 1, 0])

    Notes
    -----
    Uses pyarrow's dictionary encoding for Arrow data and pandas' hash tables when pandas is
    installed; without them ``np.unique`` (a sort) gives the same result more slowly.
    Integer IDs stay integers; floats that are all whole numbers become integers; anything
    else becomes a string (so ``1`` and ``"1"`` are the same ID in a mixed column).
    """
    values = _to_numpy_or_arrow(values)
    if not isinstance(values, np.ndarray):
        return _factorize_arrow(values, what)
    if values.ndim != 1:
        values = values.ravel()
    kind = values.dtype.kind
    if kind == "b":
        values, kind = values.astype(np.int64), "i"
    if kind == "f":
        nan = np.isnan(values)
        if nan.any():
            raise _first_missing(nan, what)
        if values.size and np.all(values == np.round(values)):
            values, kind = values.astype(np.int64), "i"
    if kind in "iu":
        if kind == "u" and values.size and values.max() >= 2**63:
            raise InputError(f"{what}s above 2**63 - 1 are not supported as integers")
        uniques, codes = _hash_factorize(values.astype(np.int64, copy=False), what)
        return uniques, codes
    uniques, codes = _hash_factorize(values if kind == "O" else values.astype(object), what)
    listed = uniques.tolist()
    if kind == "O" and listed and all(type(v) is int for v in listed):
        return np.asarray(listed, dtype=np.int64), codes
    as_str = [v if type(v) is str else str(v) for v in listed]
    if len(set(as_str)) != len(as_str):  # 1 and "1" name the same ID
        merged, remap = _hash_factorize(np.asarray(as_str, dtype=object), what)
        return merged.tolist(), remap[codes]
    return as_str, codes


def _to_numpy_or_arrow(values):
    """A numpy array, or a pyarrow Array / ChunkedArray for Arrow-backed data."""
    if isinstance(values, np.ndarray):
        return values
    mod = type(values).__module__.split(".")[0]
    if mod == "pyarrow":
        return values
    if mod == "polars":
        return values.to_arrow()
    if mod == "pandas":
        dtype = str(getattr(values, "dtype", ""))
        if "pyarrow" in dtype or dtype in ("str", "string"):
            import pyarrow as pa

            try:
                return pa.array(values, from_pandas=True)
            except (pa.ArrowInvalid, pa.ArrowTypeError):
                pass
        if dtype == "category":
            values = values.astype(object)
        return np.asarray(values.to_numpy())
    return np.asarray(values if isinstance(values, (list, tuple)) else list(values))


def _factorize_arrow(arr, what: str):
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks() if arr.num_chunks != 1 else arr.chunk(0)
    if isinstance(arr.type, pa.DictionaryType):
        arr = arr.dictionary_decode()
    if arr.null_count:
        raise _first_missing(np.asarray(arr.is_null()), what)
    if pa.types.is_integer(arr.type) or pa.types.is_floating(arr.type):
        return factorize_ids(arr.to_numpy(zero_copy_only=False), what=what)
    if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
        arr = pc.cast(arr, pa.string())
    enc = pc.dictionary_encode(arr)
    return enc.dictionary.to_pylist(), enc.indices.to_numpy().astype(np.intp, copy=False)


def _hash_factorize(values: np.ndarray, what: str) -> tuple[np.ndarray, np.ndarray]:
    """(uniques in first-seen order, codes): pandas' hash table, else np.unique (a sort)."""
    try:
        import pandas as pd
    except ImportError:
        pd = None
    if pd is not None:
        codes, uniques = pd.factorize(values, use_na_sentinel=True)
        if codes.size and (codes < 0).any():
            raise _first_missing(codes < 0, what)
        return np.asarray(uniques), codes
    if values.dtype == object:
        missing = np.fromiter((v is None or (isinstance(v, float) and v != v) for v in values),
                              dtype=bool, count=values.size)
        if missing.any():
            raise _first_missing(missing, what)
    try:
        uniq, first, inverse = np.unique(values, return_index=True, return_inverse=True)
    except TypeError:  # mixed types do not sort: index them as strings
        values = np.asarray([str(v) for v in values.tolist()], dtype=object)
        uniq, first, inverse = np.unique(values, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")
    rank = np.empty(order.size, dtype=np.intp)
    rank[order] = np.arange(order.size)
    return uniq[order], rank[inverse.ravel()]


def _dict_bytes(d: dict) -> int:
    """Measured size of a key -> int dict: the table plus each key object (sys.getsizeof)."""
    total = sys.getsizeof(d)
    for k, v in d.items():
        total += sys.getsizeof(k)
        if v > 256:  # CPython shares the small ints; larger row numbers are objects of their own
            total += sys.getsizeof(v)
    return total


def _worth_numba(corpus) -> bool:
    """Whether the interner's kernel pays for importing numba.

    It does when numba is loaded already, or the corpus holds more than about 64 MB of text
    (compressed files count four times their size). Below that, Counter over NumPy-tokenised blocks
    is as fast in a fresh process.
    """
    if "numba" in sys.modules:
        return True
    paths = [corpus] if isinstance(corpus, (str, os.PathLike)) else corpus.paths
    total = 0
    for path in paths:
        size = os.path.getsize(path) if os.path.isfile(path) else 0
        total += 4 * size if os.fspath(path).endswith((".gz", ".xz", ".bz2")) else size
    return total > 64 << 20


def _count_file_tokens(corpus, tokenizer: Tokenizer, max_scan_size: int | None) -> dict | None:
    """Token counts of a file corpus through :class:`~compactemb.text.TokenInterner`.

    First-seen order is kept. None where it does not apply: an in-memory corpus, a pattern that is
    not one character class, or more than ``max_scan_size`` distinct tokens (the pruning scan).
    """
    blocks = iter_corpus_line_blocks(corpus)
    if blocks is None or not TokenInterner.supports(tokenizer) or not _worth_numba(corpus):
        return None
    interner = TokenInterner(tokenizer)
    bar = progress(desc="counting tokens", unit="tok")
    try:
        for lines in blocks:
            ids = interner.add_lines(lines)
            bar.update(int(np.count_nonzero(ids >= 0)))
            if max_scan_size is not None and len(interner) > max_scan_size:
                return None
    finally:
        bar.close()
    return dict(zip(interner.keys(), interner.counts().tolist()))


def join_sentences(ids: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Token ids of consecutive sentences as one int32 array, ``-1`` after each sentence.

    Empty sentences add nothing (no separator).

    Parameters
    ----------
    ids : numpy.ndarray of int
        The token ids of all sentences, one after the other.
    lengths : array-like of int
        ``lengths[j]`` ids belong to sentence ``j``.

    Returns
    -------
    numpy.ndarray of int32
        The ids with a ``-1`` after each non-empty sentence.

    Examples
    --------
    >>> join_sentences(np.array([4, 5, 6]), np.array([2, 0, 1])).tolist()
    [4, 5, -1, 6, -1]
    """
    lengths = np.asarray(lengths, dtype=np.int64)
    nonempty = lengths > 0
    sep_at = np.cumsum(lengths)[nonempty] + np.arange(int(nonempty.sum()))
    out = np.empty(ids.size + sep_at.size, dtype=np.int32)
    is_sep = np.zeros(out.size, dtype=bool)
    is_sep[sep_at] = True
    out[is_sep] = -1
    out[~is_sep] = ids
    return out


def count_keys(groups: Iterable, *, max_scan_size: int | None = None,
               desc: str = "counting", blocks: bool = False) -> tuple[Counter, dict]:
    """Count keys over groups (sentences), pruning the rarest past ``max_scan_size`` keys.

    With ``blocks=True`` each group is a ``(tokens, lengths)`` block of
    :func:`~compactemb.text.iter_token_blocks`, counted at C level with one ``Counter.update``
    (the bound is then checked once per block).

    Parameters
    ----------
    groups : iterable
        Sequences of keys (sentences), or blocks with ``blocks=True``.
    max_scan_size : int or None
        When more distinct keys than this are held, the rarest are dropped (word2vec's
        ``max_vocab_size`` rule); None keeps all.
    desc : str
        The progress bar's label.
    blocks : bool
        The groups are ``(tokens, lengths)`` blocks.

    Returns
    -------
    (collections.Counter, dict)
        The counts, and a description of the scan (tokens, prunes, threshold).

    Warns
    -----
    UserWarning
        When keys were pruned during the scan (rare keys may be undercounted).
    """
    counts: Counter = Counter()
    threshold = 1
    prunes = 0
    removed = 0  # occurrences of keys dropped by pruning, so the token total stays exact
    shown = 0
    bar = progress(desc=desc, unit="tok")
    try:
        for n, group in enumerate(groups):
            counts.update(group[0] if blocks else group)
            if blocks or n % 4096 == 4095:
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
    """Read keys one per line (the first whitespace-separated field), for ``--keys`` options.

    Parameters
    ----------
    path : str or os.PathLike
        The file (a ``compactemb vocab`` TSV works too).

    Returns
    -------
    list of str
        The keys in file order.

    Raises
    ------
    InputError
        For a file without keys.
    """
    from .text import iter_lines

    keys = [line.split()[0] for line in iter_lines(path) if line.strip()]
    if not keys:
        raise InputError(f"{os.fspath(path)}: no keys in the file")
    return keys


def _load_vocab_file(stored) -> Vocab:
    return build_component(stored, "vocab")


register_file_kind("vocab", _load_vocab_file)
