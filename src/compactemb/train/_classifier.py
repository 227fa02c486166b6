"""A fastText-style supervised text classifier (its compression: ``_classifier_compress``).

Model (Joulin et al. 2016, "Bag of Tricks for Efficient Text Classification")::

    text -> tokens + "</s>" -> rows: known words (vocab)  +  hashed word n-grams (2..ngrams)
                                    +  hashed char n-grams of each token (minn..maxn)
         -> hidden = mean of those rows (an embedding bag)   (dim,)
         -> scores = output @ hidden                          (n_labels,)
         -> softmax (one label per text), or one-vs-all sigmoids (multi-label, loss="ova")

Training is plain SGD with the learning rate decaying linearly to zero over the tokens of all
epochs; ``n_threads`` Python threads run a GIL-free numba kernel over disjoint shuffled parts of
the data and update the shared weights without locks (Hogwild, as fastText does). With
``n_threads=1`` and a seed, results are bit-reproducible; with more threads they are not.

The input table holds the vocabulary's words and only the n-gram buckets that occur in the
training data (``bucket_ids_``, sorted). That is exactly fastText's ``n_words + n_buckets``
matrix with unseen buckets at zero: an n-gram never seen in training still counts in the mean
(``missing_ngrams_ = "zero"``) but adds nothing. fastText leaves such rows at their random
initial values; zero is the better guess and costs nothing to store.

With ``bits`` the input rows are quantised in the forward pass (straight-through gradients to
full-precision shadow rows) and stored quantised: quantisation-aware training.

Compression (Joulin et al. 2016, "FastText.zip") keeps the ``cutoff`` rows of largest norm
(pruned words and n-grams are then dropped from the input, ``missing_ngrams_ = "drop"``),
optionally fine-tunes the pruned model, and stores the kept rows in any table kind
(float16, int8, int4, product quantisation ...).
"""

from __future__ import annotations

import itertools
import os
import time
import zlib
from collections import Counter
from collections.abc import Sequence

import numpy as np

from .._native import kernels
from .._progress import progress
from .._threads import resolve_threads, run_hogwild
from .._validation import N_THREADS, RANDOM_STATE, Boolean, Integer, Options, Real
from ..exceptions import InputError, NotFittedError
from ..labelled import LABEL_PREFIX, read_labelled  # noqa: F401 (old import path)
from ..storage import register_component, register_file_kind
from ..tables import DenseTable
from ..text import Tokenizer
from ..vocab import Vocab
from ._base import Trainer, epoch_callback

EOS = "</s>"
LOSSES = {"softmax": 0, "ova": 1}
MAX_NGRAMS = 16  # word n-grams longer than this are never useful; a file may not ask for more
MAX_CHAR_NGRAM = 64  # longest char n-gram (fastText uses 3..6); bounds what a file may ask
QAT_BITS = (None, 1, 2, 4)
# 2-bit levels in units of the row's RMS: Lloyd-Max for a Gaussian (ratio 1.5104 / 0.4528)
LEVELS_2BIT = np.array([-1.5104, -0.4528, 0.4528, 1.5104], dtype=np.float32)
_BATCH = 8192


# -- the stored head: output layer and n-gram buckets -----------------------------------------

@register_component
class _ClassifierHead:
    """Everything of a classifier except its vocabularies and input table (a storage component)."""

    component_type = "classifier_head"

    def __init__(self, output, bucket_ids, row_counts, word_hashes, attrs):
        self.output = output
        self.bucket_ids = bucket_ids
        self.row_counts = row_counts
        self.word_hashes = word_hashes
        self._attrs = attrs

    def arrays(self):
        return {"output": self.output, "bucket_ids": self.bucket_ids,
                "row_counts": self.row_counts, "word_hashes": self.word_hashes}

    def attrs(self):
        return self._attrs

    @classmethod
    def from_state(cls, attrs, arrays):
        from .._validation import check_params
        from ..storage import state_array, state_choice, state_int

        # every attribute that sizes or bounds a loop is checked here, before it is used
        dim = state_int(attrs, "dim", low=1, high=1 << 16)
        state_int(attrs, "ngrams", low=1, high=MAX_NGRAMS)
        n_buckets = state_int(attrs, "n_buckets", low=1, high=(1 << 31) - 1)
        state_choice(attrs, "loss", tuple(LOSSES))
        state_choice(attrs, "missing_ngrams", ("zero", "drop"))
        state_choice(attrs, "hashed_words", (True, False), default=False)
        if not isinstance(attrs.get("tokenizer", {}), dict):
            raise ValueError("attribute 'tokenizer' is not an object")
        params = attrs.get("params", {})
        allowed = set(TextClassifier._param_spec) - {"dim", "ngrams", "n_buckets", "loss"}
        if not isinstance(params, dict) or set(params) - allowed:
            raise ValueError(f"attribute 'params' {str(params)[:80]}: expected an object with "
                             f"the fields {', '.join(sorted(allowed))}")
        spec = {k: v for k, v in TextClassifier._param_spec.items() if k in params}
        check_params("stored classifier", params, spec)
        if (params.get("n_threads") or 1) > 4096:
            raise ValueError(f"attribute 'params.n_threads' is {params['n_threads']}")
        minn, maxn = params.get("minn", 0), params.get("maxn", 0)
        if maxn > 0 and not 1 <= minn <= maxn:
            raise ValueError(f"attributes 'params.minn' {minn} and 'params.maxn' {maxn}: "
                             "expected 1 <= minn <= maxn or maxn = 0")
        if params.get("bits") not in QAT_BITS:
            raise ValueError(f"attribute 'params.bits' is {params['bits']!r}: expected one of "
                             "null, 1, 2, 4")
        output = state_array(arrays, "output", ndim=2, kinds="f")
        if output.shape[1] != dim:
            raise ValueError(f"array 'output' has {output.shape[1]} columns, dim is {dim}")
        bucket_ids = state_array(arrays, "bucket_ids", ndim=1, kinds="iu")
        if bucket_ids.size and (int(bucket_ids.min()) < 0 or int(bucket_ids.max()) >= n_buckets
                                or np.any(np.diff(bucket_ids) <= 0)):
            raise ValueError("array 'bucket_ids' is not a sorted list of buckets below n_buckets")
        empty = np.empty(0, np.uint32)  # optional arrays
        return cls(output, bucket_ids, arrays.get("row_counts", empty),
                   arrays.get("word_hashes", empty), attrs)


def _places(firsts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """``firsts[x] + 0 .. firsts[x] + counts[x] - 1`` for every x, concatenated."""
    before = np.cumsum(counts) - counts
    return np.arange(int(counts.sum()), dtype=np.int64) + np.repeat(firsts - before, counts)


def char_ngram_buckets(words, minn: int, maxn: int, n_buckets: int):
    """fastText's character n-gram buckets of each word (supervised ``-minn/-maxn``).

    The n-grams of ``<word>`` of ``minn..maxn`` code points, each hashed with fastText's
    FNV-1a over its UTF-8 bytes, bucket ``hash % n_buckets`` (fastText's input row is
    ``nwords + bucket``); ``"</s>"`` has none. The subword table's kernel computes them.

    Parameters
    ----------
    words : sequence of str
        The words.
    minn, maxn : int
        Shortest and longest n-gram in characters; ``maxn = 0``: none.
    n_buckets : int
        Hash buckets (fastText's ``-bucket``).

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        CSR offsets (``len(words) + 1`` entries) and the int64 buckets, each word's in
        fastText's order.

    Examples
    --------
    >>> offsets, buckets = char_ngram_buckets(["ab"], 3, 3, 1000)
    >>> offsets.tolist(), len(buckets)
    ([0, 2], 2)
    """
    from ..tables._subword import _encode_words

    blob, key_offsets = _encode_words(words)
    n = len(words)
    offsets = np.zeros(n + 1, dtype=np.int64)
    if maxn <= 0 or n == 0:
        return offsets, np.zeros(0, dtype=np.int64)
    width = np.diff(key_offsets) + 2  # bytes of <word>: at least its code points
    cap = np.zeros(n, dtype=np.int64)
    for size in range(max(minn, 1), maxn + 1):
        cap += np.maximum(width - size + 1, 0)
    starts = np.zeros(n, dtype=np.int64)
    np.cumsum(cap[:-1], out=starts[1:])
    out = np.empty(int(cap.sum()), dtype=np.int64)
    counts = np.zeros(n, dtype=np.int64)
    kernels("compactemb.tables._subword_kernels").subword_rows(
        blob, key_offsets, np.full(n, -1, dtype=np.int64), int(minn), int(maxn),
        int(n_buckets), 0, np.zeros(0, dtype=np.int64), starts, out, counts)
    np.cumsum(counts, out=offsets[1:])
    return offsets, out[_places(starts, counts)]


def qat_table(weights: np.ndarray, bits: int):
    """The compact table of quantisation-aware trained rows: what the forward pass used.

    1 and 2 bits: :class:`~compactemb.tables.Bit1Table` / ``Bit2Table`` with a float16 scale per
    row (signs, or ``LEVELS_2BIT`` x the row's RMS, scale refitted by least squares); 4 bits:
    :class:`~compactemb.tables.Int4Table` (row-wise min/max). Decoded rows equal the training
    kernel's quantised rows up to the float16 rounding of the scales.

    Parameters
    ----------
    weights : ndarray of shape (n_rows, dim), float32
        The full-precision (shadow) rows.
    bits : {1, 2, 4}
        Bits a value.

    Returns
    -------
    EmbeddingTable
        The quantised table.

    Examples
    --------
    >>> qat_table(np.array([[0.5, -0.25]], np.float32), 1).lookup([0])
    array([[ 0.375, -0.375]], dtype=float32)
    """
    from ..tables import Bit1Table, Bit2Table, Int4Table
    from ..tables._lowbit import pack_codes

    if bits == 4:
        return Int4Table.from_dense(weights)
    w = np.asarray(weights, dtype=np.float64)
    if bits == 1:
        levels = np.array([-1.0, 1.0], np.float32)
        codes = (w > 0).astype(np.uint8)
    else:
        levels = LEVELS_2BIT
        rms = np.sqrt((w ** 2).mean(axis=1, keepdims=True))
        edges = ((levels[1:] + levels[:-1]) / np.float32(2)).astype(np.float64)
        codes = np.zeros(w.shape, dtype=np.uint8)
        for edge in edges:  # as the kernel: above how many midpoints x RMS the value lies
            codes += w > edge * rms
    lv = levels.astype(np.float64)[codes]
    scale = (w * lv).sum(axis=1) / np.maximum((lv * lv).sum(axis=1), 1e-300)
    kind = Bit1Table if bits == 1 else Bit2Table
    return kind(pack_codes(codes, bits), w.shape[1], levels, row_scales=scale.astype(np.float16))


def _load_classifier(stored):
    from ..storage import build_component

    head = build_component(stored, "head")
    a = head.attrs()
    model = TextClassifier(dim=a["dim"], ngrams=a["ngrams"], n_buckets=a["n_buckets"],
                           loss=a["loss"],
                           tokenizer=Tokenizer.from_dict(a.get("tokenizer"), untrusted=True),
                           **a.get("params", {}))
    hashed = a.get("hashed_words", False)
    # None: the words are stored as hashes (fit always builds a vocabulary)
    model.vocab_ = None if hashed else build_component(stored, "vocab")  # type: ignore[assignment]
    model.word_hashes_ = head.word_hashes if hashed else None
    model.labels_ = build_component(stored, "labels")
    model.table_ = build_component(stored, "table")
    model.output_ = head.output
    model.bucket_ids_ = head.bucket_ids
    model.row_counts_ = head.row_counts if head.row_counts.shape[0] else None  # type: ignore[assignment]
    model.missing_ngrams_ = a["missing_ngrams"]
    model.train_info_ = a.get("train_info", {})
    model.meta = stored.meta
    n_rows = model.n_words + model.bucket_ids_.shape[0]
    if model.table_.n_rows != n_rows or model.output_.shape != (len(model.labels_), model.dim):
        from ..exceptions import FormatError

        raise FormatError(f"{stored.path}: classifier parts do not fit together (table "
                          f"{model.table_.n_rows} rows for {n_rows}; output "
                          f"{model.output_.shape})")
    return model


register_file_kind("classifier", _load_classifier)


# -- the classifier ---------------------------------------------------------------------------

class TextClassifier(Trainer):
    """Bag of words and hashed word n-grams -> mean embedding -> linear layer -> softmax.

    Parameters
    ----------
    dim : int, default 100
        Embedding dimension.
    ngrams : int, default 2
        Longest word n-gram (fastText's ``-wordNgrams``); 1 = bag of words only.
    n_buckets : int, default 2,000,000
        Hash space of the word n-grams (fastText's ``-bucket``).
    epochs : int, default 5
    learning_rate : float, default 0.1
        Start of the linearly decaying SGD step.
    min_count : int, default 1
        Words seen fewer times get no row of their own (their n-grams still do).
    loss : {"softmax", "ova"}, default "softmax"
        ``ova``: one independent sigmoid per label, for multi-label data.
    tokenizer : Tokenizer, optional
        Default: whitespace-separated tokens, case kept (fastText's reading).
    n_threads : int, optional
        Hogwild threads; default: the number of CPUs.
    shuffle : bool, default True
        Visit the examples in a new random order each epoch. False: in the given order, each
        thread over its own contiguous part (fastText's way; sorted data then trains badly).
    random_state : int, default 0
    minn, maxn : int, default 0
        Character n-grams of ``<word>`` of ``minn..maxn`` code points join each token's
        rows (fastText supervised ``-minn/-maxn``; ``maxn=0``: none), hashed with fastText's
        FNV-1a into the same ``n_buckets`` as the word n-grams; an unseen word at prediction
        still gets the rows of its n-grams seen in training.
    bits : {None, 1, 2, 4}, default None
        Quantisation-aware training of the input table: its rows enter the forward pass
        quantised as stored (1 bit: signs, 2 bits: four levels, each with a float16 scale a
        row; 4 bits: row-wise int4), gradients go straight through to full-precision rows, and
        the fitted table is stored quantised (``Bit1Table``, ``Bit2Table``, ``Int4Table``).

    Attributes
    ----------
    vocab_ : Vocab or None
        Words with a row (rows ``0 .. n_words - 1``); None when the words are stored as hashes.
    word_hashes_ : ndarray of shape (n_words,) or None
        Sorted CRC-32 of each word with a row, instead of ``vocab_``, in models compressed with
        ``hash_words=True`` (4 bytes a word instead of its text, 8-byte offset and count; an
        unseen word is taken for a kept one only on a 32-bit hash collision).
    labels_ : Vocab
        Labels, most frequent first; ``classes_`` lists them.
    bucket_ids_ : ndarray of shape (n_kept_buckets,)
        Sorted n-gram buckets with a row (row ``n_words + i`` is bucket ``bucket_ids_[i]``).
    table_ : EmbeddingTable of shape (n_words + n_kept_buckets, dim)
    output_ : ndarray of shape (n_labels, dim), float32
    row_counts_ : ndarray of shape (n_rows,) or None
        Occurrences of each row in the training data (for ``compress(score="usage")``);
        None in pruned models.
    missing_ngrams_ : {"zero", "drop"}
        How an n-gram without a row counts in the mean: as a zero row, or not at all (pruned).
    train_info_ : dict
        Examples, tokens, seconds, final loss.

    Examples
    --------
    >>> clf = TextClassifier(dim=10, n_buckets=1000, epochs=20, n_threads=1)
    >>> clf = clf.fit(["good film", "bad film", "good", "bad"], ["pos", "neg", "pos", "neg"])
    >>> clf.predict(["good"])
    [['pos']]
    """

    def __init__(self, dim: int = 100, *, ngrams: int = 2, n_buckets: int = 2_000_000,
                 epochs: int = 5, learning_rate: float = 0.1, min_count: int = 1,
                 loss: str = "softmax", tokenizer: Tokenizer | None = None,
                 n_threads: int | None = None, shuffle: bool = True, random_state: int = 0,
                 minn: int = 0, maxn: int = 0, bits: int | None = None):
        self.dim = dim
        self.ngrams = ngrams
        self.n_buckets = n_buckets
        self.epochs = epochs
        self.learning_rate = learning_rate
        self.min_count = min_count
        self.loss = loss
        self.tokenizer = tokenizer
        self.n_threads = n_threads
        self.shuffle = shuffle
        self.random_state = random_state
        self.minn = minn
        self.maxn = maxn
        self.bits = bits

    _param_spec = {"dim": Integer(low=1), "ngrams": Integer(low=1), "n_buckets": Integer(low=1),
                   "epochs": Integer(low=1), "learning_rate": Real(low=0, low_open=True),
                   "min_count": Integer(low=1), "loss": Options(tuple(LOSSES)),
                   "n_threads": N_THREADS, "shuffle": Boolean(), "random_state": RANDOM_STATE,
                   "minn": Integer(low=0, high=MAX_CHAR_NGRAM),
                   "maxn": Integer(low=0, high=MAX_CHAR_NGRAM),
                   "bits": Integer(allow_none=True)}

    @property
    def meta(self) -> dict:
        """Free metadata saved with the model (not a parameter)."""
        return self.__dict__.setdefault("_meta", {})

    @meta.setter
    def meta(self, value: dict) -> None:
        self.__dict__["_meta"] = value

    @property
    def model_(self) -> TextClassifier:
        """The fitted classifier itself (every trainer's trained object is in ``model_``)."""
        self._check_fitted()
        return self

    # -- parameters -----------------------------------------------------------------------------
    def _check_params(self) -> None:
        self._validate()
        if self.maxn > 0 and not 1 <= self.minn <= self.maxn:
            raise InputError(f"TextClassifier: char n-grams need 1 <= minn <= maxn (or maxn = "
                             f"0: none), got minn={self.minn}, maxn={self.maxn}")
        if self.bits not in QAT_BITS:
            raise InputError(f"TextClassifier: bits must be one of None, 1, 2, 4, got "
                             f"{self.bits!r}")

    def _default_tokenizer(self) -> Tokenizer:
        return self._tok()

    def _tok(self) -> Tokenizer:
        return self.tokenizer if self.tokenizer is not None else Tokenizer(r"\S+",
                                                                           lowercase=False)

    def _check_fitted(self) -> None:
        if not hasattr(self, "output_"):
            raise NotFittedError("this TextClassifier is not fitted yet; call fit() first")

    @property
    def classes_(self) -> list[str]:
        """The labels, in the order of the output layer's rows."""
        self._check_fitted()
        return self.labels_.keys

    @property
    def n_rows(self) -> int:
        """Rows of the input table: words, then hashed n-gram buckets."""
        return self.n_words + int(self.bucket_ids_.shape[0])

    @property
    def n_words(self) -> int:
        """The number of word rows."""
        return len(self.vocab_) if self.vocab_ is not None else int(self.word_hashes_.shape[0])

    # -- encoding -------------------------------------------------------------------------------
    def _tokens(self, texts) -> tuple[list[str], np.ndarray]:
        """All tokens of all texts, each text followed by ``"</s>"``, and tokens per text."""
        tok = self._tok()
        if tok.pattern == r"\S+" and not tok.lowercase:  # fastText's reading: one C-level split
            lens = np.fromiter(map(len, map(str.split, texts)), dtype=np.int64,
                               count=len(texts)) + 1
            flat = f" {EOS} ".join(texts).split()
            flat.append(EOS)
            return flat, lens
        toks = [tok(t) for t in texts]
        lens = np.fromiter(map(len, toks), dtype=np.int64, count=len(toks)) + 1
        flat = []
        for t in toks:
            flat.extend(t)
            flat.append(EOS)
        return flat, lens

    def _word_hashes(self) -> np.ndarray:
        cached = getattr(self, "_hash_cache", None)
        if cached is None or cached[0] is not self.vocab_:
            h = np.fromiter((zlib.crc32(k.encode("utf-8")) for k in self.vocab_.keys),
                            dtype=np.uint64, count=len(self.vocab_))
            cached = (self.vocab_, h)
            self._hash_cache = cached
        return cached[1]

    def _uses_buckets(self) -> bool:
        return self.ngrams > 1 or self.maxn > 0

    def _vocab_char_grams(self) -> tuple[np.ndarray, np.ndarray]:
        """Char n-gram buckets of every vocabulary word (CSR offsets, buckets), cached."""
        cached = getattr(self, "_char_cache", None)
        settings = (self.minn, self.maxn, self.n_buckets)
        if cached is None or cached[0] is not self.vocab_ or cached[1] != settings:
            cached = (self.vocab_, settings, char_ngram_buckets(
                self.vocab_.keys, self.minn, self.maxn, self.n_buckets))
            self._char_cache = cached
        return cached[2]

    def _token_char_grams(self, flat: list[str], wid: np.ndarray, known: np.ndarray):
        """Per token its number of char n-grams, and all their buckets in token order.

        Known words take their cached lists; every other distinct token is hashed once.
        """
        if self.vocab_ is not None:
            base_off, base_buckets = self._vocab_char_grams()
            key = wid.copy()
            unknown = np.flatnonzero(~known)
        else:  # words stored as hashes: no word list to cache by
            base_off, base_buckets = np.zeros(1, np.int64), np.zeros(0, np.int64)
            key = np.empty(len(flat), dtype=np.int64)
            unknown = np.arange(len(flat))
        n_base = base_off.shape[0] - 1
        if unknown.size:
            distinct: dict[str, int] = {}
            number = distinct.setdefault
            key[unknown] = n_base + np.fromiter(
                (number(flat[p], len(distinct)) for p in unknown.tolist()), dtype=np.int64,
                count=unknown.size)
            more_off, more_buckets = char_ngram_buckets(list(distinct), self.minn, self.maxn,
                                                        self.n_buckets)
            base_off = np.concatenate([base_off, base_off[-1] + more_off[1:]])
            base_buckets = np.concatenate([base_buckets, more_buckets])
        counts = base_off[key + 1] - base_off[key]
        return counts, base_buckets[_places(base_off[key], counts)]

    def _bucket_rows(self, buckets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(row among the n-gram rows, found) of each bucket."""
        if self.bucket_ids_ is None:  # training: every bucket has a row
            return buckets, np.ones(buckets.shape[0], dtype=bool)
        pos = np.searchsorted(self.bucket_ids_, buckets)
        found = pos < self.bucket_ids_.shape[0]
        found[found] = self.bucket_ids_[pos[found]] == buckets[found]
        return pos, found

    def _encode_tokens(self, flat: list[str], lens: np.ndarray):
        """Rows of each example: (ids, offsets, denominators). Offsets have n + 1 entries.

        Each example's rows: its known words, then the char n-grams of all its tokens
        (``maxn`` > 0), then its word n-grams (``ngrams`` > 1), each part in token order.
        """
        classifier_kernels = kernels("compactemb.train._classifier_kernels")
        count_ngrams, hash_ngrams = classifier_kernels.count_ngrams, classifier_kernels.hash_ngrams

        n = lens.shape[0]
        if self.vocab_ is None:  # words stored as hashes: look the token hashes up
            table = {t: zlib.crc32(t.encode("utf-8")) for t in set(flat)}
            hashes = np.fromiter(map(table.__getitem__, flat), dtype=np.uint64, count=len(flat))
            wid = np.searchsorted(self.word_hashes_, hashes).astype(np.int64)
            ok = wid < self.word_hashes_.shape[0]
            ok[ok] = self.word_hashes_[wid[ok]] == hashes[ok]
            wid[~ok] = -1
            known = ok
        else:
            wid = np.fromiter(map(self.vocab_.index.get, flat, itertools.repeat(-1)),
                              dtype=np.int64, count=len(flat))
            known = wid >= 0
            if self.ngrams > 1:
                hashes = np.empty(len(flat), dtype=np.uint64)
                hashes[known] = self._word_hashes()[wid[known]]
                for p in np.flatnonzero(~known):
                    hashes[p] = zlib.crc32(flat[p].encode("utf-8"))
        ends = np.cumsum(lens)
        starts = ends - lens
        example = np.repeat(np.arange(n, dtype=np.int64), lens)
        word_counts = np.bincount(example[known], minlength=n)
        # parts after the words: (n-grams per example, their rows, found) in example order
        parts = []
        if self.maxn > 0:
            per_token, buckets = self._token_char_grams(flat, wid, known)
            before = np.zeros(len(flat) + 1, dtype=np.int64)
            np.cumsum(per_token, out=before[1:])
            parts.append((before[ends] - before[starts], *self._bucket_rows(buckets)))
        if self.ngrams > 1:
            g_counts = count_ngrams(starts, ends, self.ngrams)
            g_offsets = np.zeros(n + 1, dtype=np.int64)
            np.cumsum(g_counts, out=g_offsets[1:])
            buckets = np.empty(int(g_offsets[-1]), dtype=np.int64)
            hash_ngrams(hashes, starts, ends, self.ngrams, self.n_buckets, g_offsets, buckets)
            parts.append((g_counts, *self._bucket_rows(buckets)))
        kept = word_counts.copy()
        denom = word_counts.copy()
        part_kept = []
        for counts, _, found in parts:
            owner = np.repeat(np.arange(n, dtype=np.int64), counts)
            part_kept.append(np.bincount(owner[found], minlength=n))
            kept += part_kept[-1]
            denom += counts
        if self.missing_ngrams_ != "zero":
            denom = kept
        offsets = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(kept, out=offsets[1:])
        # each example's words, then each part: scatter them (already in example order) to
        # their places, linear time where a stable argsort by example was n log n
        ids = np.empty(int(offsets[-1]), dtype=np.int64)
        ids[_places(offsets[:-1], word_counts)] = wid[known]
        at = offsets[:-1] + word_counts
        for (_, pos, found), counts in zip(parts, part_kept):
            ids[_places(at, counts)] = self.n_words + pos[found]
            at = at + counts
        return ids, offsets, denom.astype(np.float32)

    def encode(self, texts: Sequence[str]):
        """Input rows of each text: ``(ids, offsets, denominators)`` (offsets: n + 1 entries).

        Parameters
        ----------
        texts : sequence of str
            The texts (tokenized as in training).

        Returns
        -------
        (numpy.ndarray, numpy.ndarray, numpy.ndarray)
            Input rows of all texts, the offsets of each text's rows, and each text's denominator.
        """
        self._check_fitted()
        texts = _as_texts(texts)
        flat, lens = self._tokens(texts)
        return self._encode_tokens(flat, lens)

    # -- training -------------------------------------------------------------------------------
    def fit(self, texts: Sequence[str], labels: Sequence, *, callback=None) -> TextClassifier:
        """Train on texts and their labels (a label, or a list of labels per text).

        Parameters
        ----------
        texts : sequence of str
        labels : sequence
            One label or a list of labels per text.
        callback : callable, optional
            ``callback(epoch, info)`` after each epoch, ``info`` holding ``seconds`` (of that
            epoch) and ``loss`` (mean over the examples); returning False stops training there
            (the learning rate keeps the schedule of all ``epochs`` up to that point).

        Returns
        -------
        TextClassifier
            ``self`` (``model_`` is the classifier itself).

        Raises
        ------
        InputError
            Bad parameters, no texts, a single class, or diverged training.
        """
        self._check_params()
        notify = epoch_callback(callback, "TextClassifier")
        t0 = time.perf_counter()
        texts = _as_texts(texts)
        label_lists = _as_label_lists(labels, len(texts))
        if not texts:
            raise InputError("the training set is empty")
        label_counts = Counter(itertools.chain.from_iterable(label_lists))
        if len(label_counts) < 2:
            raise InputError(f"the training set has a single class ({next(iter(label_counts))!r}"
                             "); a classifier needs at least two")
        if self.loss == "softmax" and any(len(ls) > 1 for ls in label_lists):
            import warnings

            warnings.warn("some texts have several labels: loss='softmax' trains on one of "
                          "them at random each time; loss='ova' learns them all", stacklevel=2)
        self.labels_ = Vocab.from_counts(label_counts)
        flat, lens = self._tokens(texts)
        self.vocab_ = Vocab.from_counts(Counter(flat), min_count=self.min_count)
        self.word_hashes_ = None
        self.bucket_ids_ = np.empty(0, dtype=np.int64)
        self.missing_ngrams_ = "zero"
        if self._uses_buckets():  # every bucket first, then keep those that occur
            self.bucket_ids_ = None  # type: ignore[assignment]  # only while fit encodes
        ids, offsets, _ = self._encode_tokens(flat, lens)
        if self._uses_buckets():
            nw = len(self.vocab_)
            is_gram = ids >= nw
            seen = np.zeros(self.n_buckets, dtype=bool)
            seen[ids[is_gram] - nw] = True
            self.bucket_ids_ = np.flatnonzero(seen).astype(
                np.int32 if self.n_buckets < 2**31 else np.int64)
            ids[is_gram] = nw + (np.cumsum(seen) - 1)[ids[is_gram] - nw]
        self.row_counts_ = np.bincount(ids, minlength=self.n_rows).astype(np.int32)
        rng = np.random.default_rng(self.random_state)
        w_in = rng.uniform(-1.0 / self.dim, 1.0 / self.dim,
                           size=(self.n_rows, self.dim)).astype(np.float32)
        self.output_ = np.zeros((len(self.labels_), self.dim), dtype=np.float32)
        lab_ids, lab_offsets = _label_arrays(self.labels_, label_lists)
        weights = lens.astype(np.float64)  # learning rate decays by tokens, as in fastText
        loss, epochs_run = self._run_sgd(
            w_in, self.output_, ids, offsets, lab_ids, lab_offsets, weights, epochs=self.epochs,
            lr=self.learning_rate, update_input=True, seed=int(rng.integers(2**31)),
            bits=self.bits or 0, notify=notify)
        # quantisation-aware: the stored table is what training saw (its shadow rows dropped)
        self.table_ = DenseTable(w_in) if self.bits is None else qat_table(w_in, self.bits)
        self.train_info_ = {"examples": len(texts), "tokens": int(lens.sum()),
                            "words": len(self.vocab_), "labels": len(self.labels_),
                            "ngram_rows": int(self.bucket_ids_.shape[0]),
                            "seconds": round(time.perf_counter() - t0, 3),
                            "loss": round(loss, 6), "threads": self._threads(),
                            "epochs_run": epochs_run}
        return self

    def fit_file(self, path, **read_options) -> TextClassifier:
        """``fit`` on a fastText or CSV/TSV file (options as :func:`read_labelled`).

        Parameters
        ----------
        path : str or os.PathLike
            The labelled file.
        **read_options
            Passed to :func:`compactemb.labelled.read_labelled` (``format``, ``label_column``, ...).

        Returns
        -------
        TextClassifier
            ``self``, fitted.
        """
        texts, labels = read_labelled(path, **read_options)
        return self.fit(texts, labels)

    def _threads(self) -> int:
        return resolve_threads(self.n_threads)

    def _run_sgd(self, w_in, w_out, ids, offsets, lab_ids, lab_offsets, weights, *, epochs, lr,
                 update_input, seed, shuffle=None, bits=0, notify=None) -> tuple[float, int]:
        """Hogwild SGD: each thread takes a disjoint part of the shuffled examples.

        One kernel call per thread and epoch (the threads meet between epochs, where
        ``notify(epoch, info)`` may stop training); each thread's order, random state and
        learning-rate schedule carry over, so the epochs run exactly as in one call.
        Returns the last epoch's mean loss and the epochs run.
        """
        train_epochs = kernels("compactemb.train._classifier_kernels").train_epochs

        n = offsets.shape[0] - 1
        n_threads = max(1, min(self._threads(), n))
        shuffle = bool(self.shuffle if shuffle is None else shuffle)
        perm = np.random.default_rng(seed).permutation(n) if shuffle else np.arange(n)
        orders = [part.copy() for part in np.array_split(perm.astype(np.int64), n_threads)]
        states = [np.array([((seed + t) * 2654435761 + 88172645463325252) & (2**64 - 1)],
                           dtype=np.uint64) for t in range(n_threads)]
        schedules = [np.zeros(2) for _ in range(n_threads)]
        done = np.zeros(n_threads, dtype=np.int64)
        losses = [0.0] * n_threads
        args = (w_in, w_out, ids, offsets, lab_ids, lab_offsets, weights)
        loss_kind = LOSSES[self.loss]
        levels = {1: np.array([-1.0, 1.0], np.float32), 2: LEVELS_2BIT}.get(
            bits, np.zeros(0, np.float32))
        # compile (or load the cache) once in this thread, not in several at once
        train_epochs(*args, np.empty(0, np.int64), np.zeros(1, np.uint64), np.zeros(2), 1, 1,
                     lr, loss_kind, done, 0, update_input, shuffle, bits, levels)

        def work(t):
            losses[t] = train_epochs(*args, orders[t], states[t], schedules[t], 1, epochs, lr,
                                     loss_kind, done, t, update_input, shuffle, bits, levels)

        total = n * epochs
        loss, epoch = 0.0, 0
        with progress(total=total, desc="training classifier", unit="ex") as bar:
            for epoch in range(epochs):
                t0 = time.perf_counter()
                run_hogwild(work, n_threads, on_tick=lambda: bar.update(int(done.sum()) - bar.n))
                if not np.isfinite(w_out).all():
                    raise InputError(f"training diverged (learning_rate={lr} is too high)")
                loss = float(sum(losses)) / max(n, 1)
                if notify is not None and notify(epoch, {"seconds": time.perf_counter() - t0,
                                                         "loss": loss}):
                    break
            bar.update(int(done.sum()) - bar.n)
        return loss, epoch + 1

    # -- prediction -----------------------------------------------------------------------------
    def _hidden(self, ids, offsets, denom) -> np.ndarray:
        h = self.table_.bag(ids, offsets, mode="sum", include_last_offset=True)
        np.divide(h, denom[:, None], out=h, where=denom[:, None] > 0)
        return h

    def decision_function(self, texts: Sequence[str]) -> np.ndarray:
        """Scores before the softmax/sigmoid, shape (n_texts, n_labels).

        Parameters
        ----------
        texts : sequence of str
            The texts (tokenized as in training).

        Returns
        -------
        numpy.ndarray, shape (n_texts, n_labels)
            float32 scores, columns in ``classes_`` order.
        """
        self._check_fitted()
        texts = _as_texts(texts)
        out = np.empty((len(texts), len(self.labels_)), dtype=np.float32)
        for s in range(0, len(texts), _BATCH):
            ids, offsets, denom = self.encode(texts[s:s + _BATCH])
            out[s:s + _BATCH] = self._hidden(ids, offsets, denom) @ self.output_.T
        return out

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Probability of each label (columns in ``classes_`` order), shape (n_texts, n_labels).

        Softmax rows sum to 1; with ``loss="ova"`` each column is an independent sigmoid. A text
        with no known word or n-gram gets the uniform softmax (0.5 sigmoids).

        Parameters
        ----------
        texts : sequence of str
            The texts (tokenized as in training).

        Returns
        -------
        numpy.ndarray, shape (n_texts, n_labels)
            Probabilities, columns in ``classes_`` order.
        """
        z = self.decision_function(texts).astype(np.float64)
        if self.loss == "ova":
            p = 1.0 / (1.0 + np.exp(-z))
        else:
            z -= z.max(axis=1, keepdims=True)
            p = np.exp(z)
            p /= p.sum(axis=1, keepdims=True)
        return p.astype(np.float32)

    def predict(self, texts: Sequence[str], *, k: int = 1, threshold: float = 0.0,
                return_proba: bool = False):
        """The ``k`` most probable labels of each text (at least ``threshold``), best first.

        Returns a list (one per text) of label lists, or of ``(label, probability)`` pairs with
        ``return_proba``. Ties go to the label seen more often in training.

        Parameters
        ----------
        texts : sequence of str
            The texts.
        k : int
            Labels per text at most.
        threshold : float
            Labels below this probability are left out.
        return_proba : bool
            Give ``(label, probability)`` pairs instead of labels.

        Returns
        -------
        list of list
            Per text, its labels (or pairs), best first.
        """
        if not isinstance(k, (int, np.integer)) or k < 1:
            raise InputError(f"k must be a positive integer, got {k!r}")
        p = self.predict_proba(texts)
        k = min(k, p.shape[1])
        top = np.argsort(-p, axis=1, kind="stable")[:, :k]
        classes = self.classes_
        out = []
        for row, ids in zip(p, top):
            picked = [(classes[i], float(row[i])) for i in ids if row[i] >= threshold]
            out.append(picked if return_proba else [c for c, _ in picked])
        return out

    def evaluate(self, texts: Sequence[str], labels: Sequence, *, k: int = 1) -> dict:
        """Accuracy, macro precision/recall/F1 (and P@k/R@k); see ``classification_metrics``.

        Parameters
        ----------
        texts : sequence of str
            The texts.
        labels : sequence
            Each text's true label, or list of labels.
        k : int
            The cutoff of precision@k and recall@k.

        Returns
        -------
        dict
            The metrics by name.
        """
        from ..evaluation._classification import classification_metrics

        label_lists = _as_label_lists(labels, len(_as_texts(texts)))
        preds = self.predict(texts, k=max(k, 1))
        return classification_metrics(label_lists, preds, k=k, classes=self.classes_)

    # -- compression ----------------------------------------------------------------------------
    def compress(self, method: str = "int8", *, cutoff: int | None = None,
                 retrain: bool = False, texts: Sequence[str] | None = None,
                 labels: Sequence | None = None, retrain_epochs: int | None = None,
                 score: str | None = None, hash_words: bool = False,
                 **table_options) -> TextClassifier:
        """A smaller copy: keep the ``cutoff`` best rows, then store them as ``method``.

        The same as ``compactemb.compress.compress(self, "pruned+" + method, keep=cutoff,
        ...)``; see :func:`compactemb.train._classifier_compress.compress_classifier` for
        every parameter (``score``, ``retrain``, ``hash_words``, table options).

        Parameters
        ----------
        method : str, default "int8"
            ``"float32"``, ``"float16"``, ``"int8"``, ``"int4"``, ``"pq"`` ...
        cutoff : int, optional
            Rows to keep (fastText's ``-cutoff``).
        retrain : bool, default False
            Fine-tune after pruning and refit the output layer after quantising (needs
            ``texts`` and ``labels``).
        texts, labels : sequences, optional
            Training data for ``retrain``.
        retrain_epochs : int, optional
            Epochs of fine-tuning (default: ``epochs``).
        score : {"norm", "usage"}, optional
            How rows are ranked for ``cutoff``.
        hash_words : bool, default False
            Store the kept words as 32-bit hashes.
        **table_options
            Options of the table kind (e.g. ``n_subvectors=50`` for ``"pq"``).

        Returns
        -------
        TextClassifier
            The compressed copy.

        Raises
        ------
        InputError
            On an unknown method, a bad option, or ``retrain`` without training data.

        Examples
        --------
        >>> clf = TextClassifier(dim=8, n_buckets=100, epochs=5, n_threads=1).fit(
        ...     ["good film", "bad film", "good", "bad"], ["pos", "neg", "pos", "neg"])
        >>> clf.compress("int4", cutoff=4).table_.kind
        'int4'
        """
        from ._classifier_compress import compress_classifier

        return compress_classifier(self, method, cutoff=cutoff, retrain=retrain, texts=texts,
                                   labels=labels, retrain_epochs=retrain_epochs, score=score,
                                   hash_words=hash_words, **table_options)

    def _word_row(self, word: str) -> int:
        """Row of ``word``, or -1."""
        if self.vocab_ is not None:
            return self.vocab_.index.get(word, -1)
        h = zlib.crc32(word.encode("utf-8"))
        i = int(np.searchsorted(self.word_hashes_, h))
        return i if i < self.word_hashes_.shape[0] and self.word_hashes_[i] == h else -1

    def _retrain(self, texts, label_lists, epochs, *, update_input) -> None:
        texts = _as_texts(texts)
        lab_ids, lab_offsets = _label_arrays(self.labels_, label_lists, skip_unknown=True)
        flat, lens = self._tokens(texts)
        ids, offsets, _ = self._encode_tokens(flat, lens)
        w_in = self.table_.weights if update_input else self.table_.to_dense().weights
        if not update_input:
            w_in = np.ascontiguousarray(w_in)
        self._run_sgd(w_in, self.output_, ids, offsets, lab_ids, lab_offsets,
                      lens.astype(np.float64), epochs=epochs, lr=self.learning_rate,
                      update_input=update_input, seed=int(self.random_state) + 7919,
                      shuffle=True)  # fine-tuning in file order would favour the file's end
        # (full precision: the rows are stored afterwards in whatever kind compress asks for)

    # -- storage and memory ---------------------------------------------------------------------
    @property
    def nbytes(self) -> int:
        """Bytes of every stored array (vocabularies, input table, output layer, buckets)."""
        return int(sum(self.memory_parts(stored_only=True).values()))

    def memory_parts(self, *, stored_only: bool = False) -> dict[str, int]:
        """Measured bytes by name; ``stored_only`` counts only the arrays a file stores.

        Parameters
        ----------
        stored_only : bool
            Count only what a saved file holds.

        Returns
        -------
        dict of str to int
            Bytes by name.
        """
        self._check_fitted()
        parts = {**self.table_.memory_parts("input_table"),
                 "output": int(self.output_.nbytes), "bucket_ids": int(self.bucket_ids_.nbytes)}
        if self.row_counts_ is not None:
            parts["row_counts"] = int(self.row_counts_.nbytes)
        if self.word_hashes_ is not None:
            parts["word_hashes"] = int(self.word_hashes_.nbytes)
        if stored_only:
            if self.vocab_ is not None:
                parts.update({f"vocab.{k}": int(v.nbytes)
                              for k, v in self.vocab_.arrays().items()})
            parts.update({f"labels.{k}": int(v.nbytes)
                          for k, v in self.labels_.arrays().items()})
        else:
            if self.vocab_ is not None:
                parts.update(self.vocab_.memory_parts("vocab"))
            parts.update(self.labels_.memory_parts("labels"))
        return parts

    def fasttext_form_nbytes(self) -> int:
        """Bytes of fastText's float32 input matrix for this model.

        (n_words + n_buckets) x dim: what fastText allocates and saves; here unseen buckets take no
        space.
        """
        self._check_fitted()
        return (self.n_words + (self.n_buckets if self._uses_buckets() else 0)) * self.dim * 4

    def memory_comparison(self) -> dict:
        """One-hot (bag of words and n-gram buckets) input against the embedding, by arithmetic.

        Plus fastText's float32 form of the input table.
        """
        from ..memory import onehot_vs_embedding

        self._check_fitted()
        n = self.n_words + (self.n_buckets if self._uses_buckets() else 0)
        out = onehot_vs_embedding(n, self.dim)
        out["fasttext_form_float32_bytes"] = self.fasttext_form_nbytes()
        out["input_table_bytes"] = int(self.table_.nbytes)
        return out

    def save(self, path, *, meta: dict | None = None) -> None:
        """Save as a compactemb file of kind ``classifier`` (atomic, no pickle).

        Parameters
        ----------
        path : str or os.PathLike
            The file; :meth:`load` reads it back.
        meta : dict or None
            Metadata to store instead of ``meta``.
        """
        from ..storage import save_components

        self._check_fitted()
        params = self.get_params()
        params.pop("tokenizer")
        for key in ("dim", "ngrams", "n_buckets", "loss"):
            params.pop(key)
        # written only when used: files without them read as before (and old readers read them)
        if params["maxn"] == 0 and params["minn"] == 0:
            params.pop("minn"), params.pop("maxn")
        if params["bits"] is None:
            params.pop("bits")
        attrs = {"dim": self.dim, "ngrams": self.ngrams, "n_buckets": self.n_buckets,
                 "loss": self.loss, "tokenizer": self._tok().to_dict(),
                 "missing_ngrams": self.missing_ngrams_, "params": params,
                 "hashed_words": self.vocab_ is None,
                 "train_info": getattr(self, "train_info_", {})}
        counts = self.row_counts_ if self.row_counts_ is not None else np.empty(0, np.int32)
        hashes = self.word_hashes_ if self.vocab_ is None else np.empty(0, np.uint32)
        head = _ClassifierHead(self.output_, self.bucket_ids_, counts, hashes, attrs)
        parts = {"labels": self.labels_, "table": self.table_, "head": head}
        if self.vocab_ is not None:
            parts["vocab"] = self.vocab_
        save_components(path, "classifier", parts, meta=meta if meta is not None else self.meta)

    @classmethod
    def load(cls, path, *, mmap: bool = False) -> TextClassifier:
        """Read a classifier saved by :meth:`save` (see :func:`compactemb.load`).

        Parameters
        ----------
        path : str or os.PathLike
            The file.
        mmap : bool
            Map the arrays from the file instead of reading them.

        Returns
        -------
        TextClassifier
            The fitted classifier.

        Raises
        ------
        InputError
            When the file holds another kind of object.
        """
        from ..storage import load

        obj = load(path, mmap=mmap)
        if not isinstance(obj, TextClassifier):
            raise InputError(f"{os.fspath(path)}: holds a {type(obj).__name__}, "
                             "not a classifier")
        return obj

    def word_vectors(self):
        """The word rows as :class:`KeyedVectors` (for neighbours, clustering, plots)."""
        from ..keyed import KeyedVectors

        self._check_fitted()
        if self.vocab_ is None:
            raise InputError("this classifier stores its words as hashes (hash_words=True); "
                             "it has no word list to give vectors for")
        n = len(self.vocab_)
        return KeyedVectors(self.vocab_, DenseTable(self.table_.rows(0, n)), self.meta)

    def __repr__(self) -> str:
        if not hasattr(self, "output_"):
            return f"TextClassifier(dim={self.dim}, ngrams={self.ngrams}, unfitted)"
        return (f"TextClassifier({self.n_words} words + {self.bucket_ids_.shape[0]} n-gram "
                f"rows x {self.dim}, {len(self.labels_)} labels, {self.table_.kind}, "
                f"{self.nbytes:,} bytes)")


def _as_texts(texts) -> list[str]:
    if isinstance(texts, str):
        raise InputError("texts must be a list of strings, got a single string; wrap it in a "
                         "list")
    texts = list(texts)
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise InputError(f"text {i} is a {type(t).__name__}, expected str")
    return texts


def _as_label_lists(labels, n: int) -> list[list[str]]:
    if isinstance(labels, str):
        raise InputError("labels must be a sequence (one label or label list per text)")
    out = []
    for lab in labels:
        kind = type(lab)
        if kind is list:
            out.append(lab)
        elif kind is str:
            out.append([lab])
        elif isinstance(lab, (list, tuple, set, frozenset, np.ndarray)):
            out.append(list(lab))
        else:
            out.append([lab])
    if len(out) != n:
        raise InputError(f"{n} texts but {len(out)} labels")
    for i, labs in enumerate(out):
        if not labs:
            raise InputError(f"text {i} has no label")
        if type(labs[0]) is not str or not all(type(x) is str for x in labs):
            out[i] = [str(x.item() if isinstance(x, np.generic) else x) for x in labs]
    return out


def _label_arrays(labels: Vocab, label_lists, *, skip_unknown: bool = False):
    index = labels.index
    counts = np.zeros(len(label_lists), dtype=np.int64)
    flat = []
    for i, labs in enumerate(label_lists):
        ids = [index[x] for x in labs if x in index] if skip_unknown else [index[x] for x in labs]
        counts[i] = len(ids)
        flat.extend(ids)
    offsets = np.zeros(len(label_lists) + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    return np.asarray(flat, dtype=np.int64), offsets
