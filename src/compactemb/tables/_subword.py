"""SubwordTable: fastText-style word vectors, built from a word row and character n-gram rows.

The table holds one inner matrix (any table kind: dense, int8, int4, PQ ...)::

    inner rows:  [ word 0 .. n_words-1 | n-gram bucket 0 .. buckets-1 (or the kept ones) ]

and the words themselves. The vector of word ``w`` is the mean of its own row (when ``w`` is in
the table's vocabulary) and the rows of the character n-grams of ``<w>`` of ``minn..maxn``
characters, each hashed with fastText's FNV-1a (over the UTF-8 bytes taken as int8) into
``nwords + hash % buckets``: exactly fastText's ``getWordVector``, so a word outside the
vocabulary (a typo, an inflection) still gets a vector. Row ``i`` of the table (the protocol's
``lookup``) is the vector of word ``i``; :meth:`SubwordTable.lookup_words` takes any words.

With ``kept_buckets`` (sorted bucket ids) only those buckets have rows, in that order; an n-gram
whose bucket was pruned counts as a zero row (so the vector keeps the direction fastText's own
pruning gives, and a plain ``.bin`` with zero rows there reproduces it exactly). With
``skip_pruned=True`` such an n-gram is left out of the mean instead, as fastText's pruned
(``.ftz``) dictionaries do it (``Dictionary::pushHash``): the same direction, another length.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from .._native import kernels
from ..exceptions import InputError
from ._base import EmbeddingTable, check_ids, register_table

_KERNELS = "compactemb.tables._subword_kernels"
_BATCH_NGRAMS = 1 << 20  # n-gram rows gathered per block of words (bounds the memory)


def _encode_words(words) -> tuple[np.ndarray, np.ndarray]:
    encoded = [w.encode("utf-8") for w in words]
    offs = np.zeros(len(encoded) + 1, dtype=np.int64)
    np.cumsum([len(e) for e in encoded], out=offs[1:])
    return np.frombuffer(b"".join(encoded), dtype=np.uint8), offs


@register_table
class SubwordTable(EmbeddingTable):
    """Word vectors composed from word and character n-gram rows (see the module docstring).

    Parameters
    ----------
    inner : EmbeddingTable
        ``n_words + n_buckets`` rows: the words' rows, then the n-gram buckets' rows
        (``n_buckets`` = ``buckets``, or ``len(kept_buckets)`` when given).
    words : sequence of str
        The vocabulary, row ``i`` of the table for ``words[i]``.
    minn, maxn : int
        Shortest and longest n-gram in characters (fastText's -minn/-maxn); ``maxn=0``: none.
    buckets : int
        Hash buckets (fastText's -bucket).
    kept_buckets : array-like of int, optional
        Sorted ids of the buckets that have rows (the rest were pruned).
    skip_pruned : bool, default False
        An n-gram of a pruned bucket is left out of a word's mean (fastText's ``.ftz``) instead
        of counting as a zero row.

    Examples
    --------
    >>> import numpy as np
    >>> from compactemb.tables import DenseTable
    >>> inner = DenseTable(np.eye(2 + 8, 4, dtype=np.float32))
    >>> t = SubwordTable(inner, ["cat", "dog"], minn=3, maxn=3, buckets=8)
    >>> t.lookup_words(["cats"]).shape
    (1, 4)
    """

    kind = "subword"
    plot_params: ClassVar[dict] = {}

    def __init__(self, inner: EmbeddingTable, words, *, minn: int = 3, maxn: int = 6,
                 buckets: int = 2_000_000, kept_buckets=None, skip_pruned: bool = False,
                 _blob=None):
        if _blob is None:
            words = list(words)
            bad = next((w for w in words if not isinstance(w, str)), None)
            if bad is not None:
                raise InputError(f"a subword table needs str words, got {bad!r}")
            _blob = _encode_words(words)
        self.key_bytes, self.key_offsets = _blob
        n_words = self.key_offsets.shape[0] - 1
        minn, maxn, buckets = int(minn), int(maxn), int(buckets)
        if minn < 0 or maxn < 0 or buckets < 0 or (maxn > 0 and (minn < 1 or minn > maxn)):
            raise InputError(f"subword n-grams need 1 <= minn <= maxn (or maxn = 0) and "
                             f"buckets >= 0; got minn={minn}, maxn={maxn}, buckets={buckets}")
        if maxn > 0 and buckets == 0:
            raise InputError("subword n-grams (maxn > 0) need buckets > 0")
        # bucket ids are < 2**31 (fastText's int32): 4 bytes a kept bucket, and an int32 array
        # loaded by mmap stays the file's read-only view
        kept_dtype = np.int32 if buckets < 1 << 31 else np.int64
        if kept_buckets is None:
            self.kept_buckets = np.zeros(0, dtype=kept_dtype)
            n_ngram_rows = buckets
        else:
            kept = np.asarray(kept_buckets).ravel()
            if kept.size and not np.issubdtype(kept.dtype, np.integer):
                raise InputError("kept_buckets must be integer bucket ids")
            kept = np.ascontiguousarray(kept, dtype=kept_dtype)
            if kept.size and (kept[0] < 0 or kept[-1] >= buckets or np.any(np.diff(kept) <= 0)):
                raise InputError("kept_buckets must be sorted, distinct ids in [0, buckets)")
            self.kept_buckets, n_ngram_rows = kept, int(kept.size)
        if inner.n_rows != n_words + n_ngram_rows:
            raise InputError(f"a subword table of {n_words} words and {n_ngram_rows} n-gram "
                             f"rows needs an inner table of {n_words + n_ngram_rows} rows, got "
                             f"{inner.n_rows}")
        self.inner = inner
        self.minn, self.maxn, self.buckets = minn, maxn, buckets
        self.pruned = kept_buckets is not None
        self.skip_pruned = bool(skip_pruned) and self.pruned
        self.n_rows, self.dim = n_words, inner.dim
        self._index: dict | None = None
        self._words: list | None = None
        self.meta: dict = {}

    # -- words ---------------------------------------------------------------------------------
    @property
    def words(self) -> list[str]:
        """The vocabulary (decoded once, on first use)."""
        if self._words is None:
            blob = bytes(memoryview(self.key_bytes))
            offs = self.key_offsets.tolist()
            self._words = [blob[offs[i]:offs[i + 1]].decode("utf-8") for i in range(self.n_rows)]
        return self._words

    @property
    def index(self) -> dict:
        """word -> row."""
        if self._index is None:
            self._index = {w: i for i, w in enumerate(self.words)}
        return self._index

    @property
    def n_ngram_rows(self) -> int:
        """Rows of the inner table that hold n-gram buckets."""
        return self.inner.n_rows - self.n_rows

    def _rows_of(self, key_bytes, key_offsets, word_rows):
        """(ids, starts, ends) of the inner rows each word's vector averages."""
        n = word_rows.shape[0]
        lengths = np.diff(key_offsets)
        span = max(0, self.maxn - self.minn + 1) if self.maxn > 0 else 0
        cap = 1 + (lengths + 2) * span
        starts = np.zeros(n, dtype=np.int64)
        np.cumsum(cap[:-1], out=starts[1:])
        out_ids = np.empty(int(cap.sum()), dtype=np.int64)
        counts = np.zeros(n, dtype=np.int64)
        kernels(_KERNELS).subword_rows(key_bytes, key_offsets, word_rows, self.minn, self.maxn,
                                       self.buckets, self.n_rows, self.kept_buckets, starts,
                                       out_ids, counts)
        keep = np.repeat(starts, counts) + (np.arange(int(counts.sum()))
                                            - np.repeat(np.cumsum(counts) - counts, counts))
        ids = out_ids[keep]
        ends = np.cumsum(counts)
        starts = ends - counts
        if self.skip_pruned:  # fastText's pruned dictionary: such an n-gram is not listed
            listed = ids >= 0
            upto = np.zeros(ids.shape[0] + 1, dtype=np.int64)
            np.cumsum(listed, out=upto[1:])
            ids, starts, ends = ids[listed], upto[starts], upto[ends]
        return ids, starts, ends

    def subword_rows(self, words) -> list[np.ndarray]:
        """The inner rows whose mean is each word's vector (its own row first, when known).

        Parameters
        ----------
        words : sequence of str
            Any words.

        Returns
        -------
        list of numpy.ndarray
            One int64 array of inner row ids per word.
        """
        blob, offs = _encode_words(list(words))
        rows = np.array([self.index.get(w, -1) for w in words], dtype=np.int64)
        ids, starts, ends = self._rows_of(blob, offs, rows)
        return [ids[s:e] for s, e in zip(starts.tolist(), ends.tolist())]

    def _compose(self, key_bytes, key_offsets, word_rows) -> np.ndarray:
        out = np.empty((word_rows.shape[0], self.dim), dtype=np.float32)
        mean = kernels(_KERNELS).subword_mean
        dense = getattr(self.inner, "dtype", None) == "float32" and self.inner.kind == "dense"
        # blocks of words, so the gathered n-gram rows stay bounded
        per_word = 1 + (self.maxn - self.minn + 1) * 12 if self.maxn > 0 else 1
        step = max(1, _BATCH_NGRAMS // per_word)
        for s in range(0, word_rows.shape[0], step):
            e = min(word_rows.shape[0], s + step)
            offs = key_offsets[s:e + 1]
            ids, starts, ends = self._rows_of(key_bytes, offs, word_rows[s:e])
            if dense:
                weights = self.inner.weights  # type: ignore[attr-defined]  # a float32 DenseTable
                mean(weights, ids, starts, ends, out[s:e])
            else:
                uniq, local = np.unique(ids, return_inverse=True)  # -1 (pruned) sorts first
                local = local.astype(np.int64).ravel()
                if uniq.size and uniq[0] < 0:
                    uniq, local = uniq[1:], local - 1
                mean(self.inner.lookup(uniq), local, starts, ends, out[s:e])
        return out

    def lookup_words(self, words) -> np.ndarray:
        """Vectors of any words: known words with their own row, unseen ones from n-grams only.

        A word with no n-gram row (shorter than ``minn``, or all its buckets pruned) and not in
        the vocabulary gets zeros, as in fastText.

        Parameters
        ----------
        words : sequence of str
            The words.

        Returns
        -------
        numpy.ndarray
            float32 (len(words), dim).

        Raises
        ------
        InputError
            For a word that is not a str.
        """
        words = list(words)
        bad = next((w for w in words if not isinstance(w, str)), None)
        if bad is not None:
            raise InputError(f"subword lookups need str words, got {bad!r}")
        blob, offs = _encode_words(words)
        rows = np.array([self.index.get(w, -1) for w in words], dtype=np.int64)
        return self._compose(blob, offs, rows)

    # -- the protocol --------------------------------------------------------------------------
    def lookup(self, ids) -> np.ndarray:
        idx = check_ids(ids, self.n_rows)
        flat = idx.reshape(-1)
        if flat.size == 0:
            return np.zeros(idx.shape + (self.dim,), np.float32)
        lo = self.key_offsets[flat]
        lengths = self.key_offsets[flat + 1] - lo
        offs = np.zeros(flat.size + 1, dtype=np.int64)
        np.cumsum(lengths, out=offs[1:])
        pos = np.repeat(lo - offs[:-1], lengths) + np.arange(int(offs[-1]))
        blob = np.ascontiguousarray(self.key_bytes[pos])
        return self._compose(blob, offs, flat.astype(np.int64)).reshape(idx.shape + (self.dim,))

    def rows(self, start: int, stop: int) -> np.ndarray:
        start, stop = max(0, int(start)), min(self.n_rows, int(stop))
        offs = self.key_offsets[start:stop + 1] - self.key_offsets[start]
        blob = np.ascontiguousarray(self.key_bytes[self.key_offsets[start]:
                                                   self.key_offsets[stop]])
        return self._compose(blob, offs, np.arange(start, stop, dtype=np.int64))

    def with_inner(self, inner: EmbeddingTable, kept_buckets=None) -> SubwordTable:
        """The same words and n-gram settings over another inner table (a compressed one).

        Parameters
        ----------
        inner : EmbeddingTable
            The new inner table.
        kept_buckets : array-like of int, optional
            Sorted bucket ids the new inner table holds (default: those of this table).

        Returns
        -------
        SubwordTable
            The new table.
        """
        kept = (self.kept_buckets if self.pruned else None) if kept_buckets is None \
            else kept_buckets
        return SubwordTable(inner, None, minn=self.minn, maxn=self.maxn, buckets=self.buckets,
                            kept_buckets=kept, skip_pruned=self.skip_pruned,
                            _blob=(self.key_bytes, self.key_offsets))

    def prune_buckets(self, keep, *, fold: bool = True) -> SubwordTable:
        """Keep the n-gram buckets of largest norm (compress-fasttext's pruning), as float32.

        A pruned bucket's n-grams then count as zero rows: unseen words still get vectors
        from the n-grams that remain. Word rows are all kept. Only buckets that an n-gram of
        a vocabulary word falls in are kept: training never updates the others, so their rows
        are their random initial values, noise for an unseen word (``keep`` is capped there).

        With ``fold`` (the default) each word's row also takes over what its pruned n-grams
        added, ``row' = row + n * (v - u)`` (``v`` its vector before, ``u`` after pruning, ``n``
        the rows its mean counts), so every vocabulary word keeps its vector (to float32
        rounding) at no extra byte; only unseen words lose the pruned n-grams.

        Parameters
        ----------
        keep : int or float
            Buckets kept: a count, or a fraction in (0, 1] of the n-gram rows.
        fold : bool, default True
            Fold the pruned n-grams' part of each word's vector into the word's row.

        Returns
        -------
        SubwordTable
            Over a dense inner table of the words' rows and the kept buckets' rows.

        Raises
        ------
        InputError
            For a ``keep`` out of range.
        """
        from ._dense import DenseTable

        n = self.n_ngram_rows
        if isinstance(keep, float) and not isinstance(keep, bool):
            if not 0 < keep <= 1:
                raise InputError(f"keep as a fraction must be in (0, 1], got {keep}")
            keep = max(1, int(round(keep * n)))
        if not isinstance(keep, (int, np.integer)) or not 0 <= keep:
            raise InputError(f"keep must be a bucket count >= 0 or a fraction, got {keep!r}")
        keep = min(int(keep), n)
        norms = np.empty(n, dtype=np.float32)
        for s in range(0, n, 1 << 16):
            blk = self.inner.rows(self.n_rows + s, self.n_rows + min(n, s + (1 << 16)))
            norms[s:s + blk.shape[0]] = np.sqrt(np.einsum("ij,ij->i", blk, blk))
        used = self.used_ngram_rows()
        keep = min(keep, int(used.sum()))
        norms[~used] = -1.0
        rows = np.sort(np.argsort(-norms, kind="stable")[:keep])
        old = self.kept_buckets if self.pruned else np.arange(n, dtype=np.int64)
        matrix = np.concatenate([self.inner.rows(0, self.n_rows),
                                 self.inner.lookup(self.n_rows + rows)])
        pruned = self.with_inner(DenseTable(matrix), kept_buckets=old[rows])
        if fold and self.n_rows:
            folded = np.empty((self.n_rows, self.dim), dtype=np.float32)
            step = 1 << 14
            for s in range(0, self.n_rows, step):
                e = min(self.n_rows, s + step)
                before, after = self.rows(s, e), pruned.rows(s, e)
                offs = self.key_offsets[s:e + 1] - self.key_offsets[s]
                blob = np.ascontiguousarray(self.key_bytes[self.key_offsets[s]:
                                                           self.key_offsets[e]])
                _, starts, ends = pruned._rows_of(blob, offs, np.arange(s, e, dtype=np.int64))
                rows_s = (ends - starts).astype(np.float32)[:, None]
                folded[s:e] = matrix[s:e] + rows_s * (before - after)
            matrix = np.concatenate([folded, matrix[self.n_rows:]])
        return self.with_inner(DenseTable(matrix), kept_buckets=old[rows])

    def used_ngram_rows(self) -> np.ndarray:
        """Which n-gram rows an n-gram of a vocabulary word falls in.

        Returns
        -------
        numpy.ndarray
            bool (n_ngram_rows,): True for a row some word of the vocabulary uses.
        """
        used = np.zeros(self.n_ngram_rows, dtype=bool)
        step = 1 << 16
        for s in range(0, self.n_rows, step):
            e = min(self.n_rows, s + step)
            offs = self.key_offsets[s:e + 1] - self.key_offsets[s]
            blob = np.ascontiguousarray(self.key_bytes[self.key_offsets[s]:self.key_offsets[e]])
            ids = self._rows_of(blob, offs, np.full(e - s, -1, dtype=np.int64))[0]
            used[ids[ids >= 0] - self.n_rows] = True
        return used

    def prune_words(self, keep) -> SubwordTable:
        """Keep the rows of the first ``keep`` words only, as float32.

        In a frequency-ordered vocabulary these are the most frequent words; the others then
        get vectors from their n-grams only (compress-fasttext's ``prune_ft_freq``).

        Parameters
        ----------
        keep : int or float
            Words kept: a count (capped to the words there are), or a fraction in (0, 1].

        Returns
        -------
        SubwordTable
            Over a dense inner table of the kept words' rows and every n-gram row.

        Raises
        ------
        InputError
            For a ``keep`` out of range.
        """
        from ._dense import DenseTable

        if isinstance(keep, float) and not isinstance(keep, bool):
            if not 0 < keep <= 1:
                raise InputError(f"keep_words as a fraction must be in (0, 1], got {keep}")
            keep = max(1, int(round(keep * self.n_rows)))
        if not isinstance(keep, (int, np.integer)) or isinstance(keep, bool) or keep < 1:
            raise InputError(f"keep_words must be a word count >= 1 or a fraction, got {keep!r}")
        n = min(int(keep), self.n_rows)
        ngram_rows = np.arange(self.n_rows, self.inner.n_rows, dtype=np.int64)
        matrix = np.concatenate([self.inner.rows(0, n), self.inner.lookup(ngram_rows)])
        blob = (np.ascontiguousarray(self.key_bytes[:self.key_offsets[n]]),
                np.ascontiguousarray(self.key_offsets[:n + 1]))
        return SubwordTable(DenseTable(matrix), None, minn=self.minn, maxn=self.maxn,
                            buckets=self.buckets,
                            kept_buckets=self.kept_buckets if self.pruned else None,
                            skip_pruned=self.skip_pruned, _blob=blob)

    def arrays(self):
        out = {f"inner.{k}": v for k, v in self.inner.arrays().items()}
        out["key_bytes"], out["key_offsets"] = self.key_bytes, self.key_offsets
        if self.pruned:
            out["kept_buckets"] = self.kept_buckets
        return out

    def attrs(self):
        out = {"n_rows": self.n_rows, "dim": self.dim, "minn": self.minn, "maxn": self.maxn,
               "buckets": self.buckets, "pruned": self.pruned, "inner_kind": self.inner.kind,
               "inner": self.inner.attrs()}
        if self.skip_pruned:  # written only when set: files without it read as before
            out["skip_pruned"] = True
        return out

    @classmethod
    def from_state(cls, attrs, arrays):
        from ..storage import component_class, state_array, state_int

        n = state_int(attrs, "n_rows")
        for name in ("minn", "maxn"):
            state_int(attrs, name, high=1 << 10)
        state_int(attrs, "buckets", high=1 << 31)
        blob = state_array(arrays, "key_bytes", ndim=1, kinds="u")
        offs = state_array(arrays, "key_offsets", ndim=1, kinds="i", rows=n + 1)
        if blob.dtype != np.uint8 or offs.dtype != np.int64:
            raise ValueError("subword keys must be uint8 bytes with int64 offsets")
        if offs[0] != 0 or offs[-1] != blob.shape[0] or np.any(np.diff(offs) < 0):
            raise ValueError("subword key offsets are inconsistent with the key bytes")
        try:
            blob.tobytes().decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ValueError(f"array 'key_bytes' is not valid UTF-8 (byte {exc.start})") from None
        kept = None
        if attrs.get("pruned"):
            kept = state_array(arrays, "kept_buckets", ndim=1, kinds="i")
        inner = component_class(attrs["inner_kind"]).from_state(
            attrs["inner"], {k[len("inner."):]: v for k, v in arrays.items()
                             if k.startswith("inner.")})
        skip = attrs.get("skip_pruned", False)
        if not isinstance(skip, bool):
            raise ValueError(f"attribute 'skip_pruned' must be a bool, got {skip!r}")
        return cls(inner, None, minn=attrs["minn"], maxn=attrs["maxn"], buckets=attrs["buckets"],
                   kept_buckets=kept, skip_pruned=skip, _blob=(blob, offs))

    @classmethod
    def estimate_nbytes(cls, n_rows: int, dim: int, *, buckets: int = 2_000_000, **_) -> int:
        return 4 * int(dim) * (int(n_rows) + int(buckets))
