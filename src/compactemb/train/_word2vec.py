"""word2vec: skip-gram and CBOW with negative sampling (Mikolov et al. 2013), as gensim trains it.

The corpus is tokenised once, in one streaming pass, into an int32 cache file in a temporary
directory (row ids, ``-1`` between sentences); each epoch then reads it back in jobs of about
``job_tokens`` tokens with ``os.pread``, so only the jobs in flight are in memory and a corpus
larger than RAM trains. ``n_threads`` Python threads each run the nogil numba kernel on their
own jobs and write the shared matrices without locks (Hogwild): with one thread and a seed the
result is bit-identical run to run; with several it is not (the order of updates varies).

Everything else follows gensim's ``word2vec_inner.pyx``: subsampling with word2vec's formula
(``sample = 1e-3``), a reduced window drawn per word, negatives from the unigram^0.75
distribution, a 1000-entry sigmoid table over [-6, 6], a learning rate decaying linearly from
``learning_rate`` to ``min_learning_rate`` (gensim's ``alpha``, ``min_alpha``) over all epochs,
and the same 48-bit LCG. Two changes, for speed:
negatives are drawn in O(1) with Walker's alias method (gensim bisects a cumulative table; the
distribution is the same), and skip-gram shares one draw of negatives across a centre word's
window unless ``shared_negatives=False``.

Job layout (``-1`` ends a sentence; jobs end at a sentence end when one is near)::

    cache:  | 4 17 2 -1 9 9 3 -1 | 5 1 -1 8 ... | ...
              job 0                job 1
"""

from __future__ import annotations

import os
import threading
import time
from itertools import count, repeat

import numpy as np

from .._native import kernels
from .._progress import progress
from .._threads import resolve_threads, run_hogwild
from .._validation import N_THREADS, RANDOM_STATE, Boolean, Integer, Options, Real, fail
from ..exceptions import InputError
from ..keyed import KeyedVectors
from ..tables import DenseTable
from ..text import (
    TokenInterner,
    Tokenizer,
    describe,
    iter_corpus_line_blocks,
    iter_token_blocks,
)
from ..vocab import Vocab, join_sentences
from ._base import Trainer, _Renamed, epoch_callback

_LCG_MASK = (1 << 48) - 1
_CHUNK = 1 << 20  # int32 tokens per read while remapping the cache
QAT_BITS = (1, 2, 4)  # bits a value in quantisation-aware training


class Word2Vec(Trainer):
    """Skip-gram or CBOW word vectors trained with negative sampling.

    Parameters
    ----------
    dim : int, default 100
    sg : bool, default True
        Skip-gram (True) or CBOW (False).
    window : int, default 5
        Largest distance to a context word; each word draws a window of 1..window.
    negative : int, default 5
        Negative samples per positive example.
    min_count, max_size : int
        Vocabulary cut (see :class:`~compactemb.vocab.Vocab`).
    sample : float, default 1e-3
        Subsampling threshold of frequent words (0 disables it).
    epochs : int, default 5
    learning_rate, min_learning_rate : float, default 0.025 and 0.0001
        Learning rate at the start and at the end of training (linear decay); gensim's
        ``alpha`` and ``min_alpha`` (old spellings here too, deprecated).
    cbow_mean : bool, default True
        CBOW averages the context vectors (True) or sums them.
    ns_exponent : float, default 0.75
        Negatives are drawn with probability proportional to count ** ns_exponent.
    shared_negatives : bool, default True
        Skip-gram: draw one set of negatives per centre word, shared by the context words of
        its window (pWord2Vec, Ji et al. 2016): about 1.5x faster at the same quality in
        ``bench/word2vec``. False draws per (centre, context) pair, exactly as gensim.
    n_threads : int or None, default None
        Training threads; None uses every core this process may run on.
    job_tokens : int, default 100,000
        Tokens per job (the unit of work a thread takes, and of learning-rate updates).
    tokenizer : Tokenizer, optional
        How lines of a text corpus become tokens (default: lowercase runs of letters).
    cache_dir : path, optional
        Where the temporary token cache is written (default: the system temporary directory).
    random_state : int, default 0
    bits : {None, 1, 2, 4}, default None
        Quantisation-aware training (Word2Bits, Lam 2018): the forward pass uses ``bits``-bit
        input and output vectors (:func:`word2bits_levels`: +-1/3 at 1 bit, 4 or 16 uniform
        levels in [-1, 1] at 2 or 4 bits), full-precision shadow weights take the
        straight-through gradients and saturated scores still give a gradient. Input and
        output shadow weights start uniform in [-1/dim, 1/dim) (Word2Bits starts in [-0.5,
        0.5): on Gutenberg that learned far worse in our epochs, notes/issue-15-qat.md). The
        result is a table of that many bits a value (:func:`qat_table`). None trains float32
        vectors.
    qat_vectors : {"sum", "input"}, default "sum"
        With ``bits``: the codes of the input plus output shadow weights (Word2Bits' output)
        or of the input weights alone.
    float_epochs : int, default 0
        With ``bits``: the first ``float_epochs`` epochs train without quantisation (a float32
        warm start, initialised as without ``bits``), the others quantisation-aware.

    Attributes
    ----------
    model_ : KeyedVectors
        The trained input vectors (the same as ``keyed_vectors()``).
    vocab_ : Vocab
    table_ : DenseTable of shape (len(vocab_), dim)
        The input vectors (gensim's ``wv.vectors``); with ``bits``, the compact table of
        :func:`qat_table` (Bit1Table, Bit2Table or Int4Table).
    output_weights_ : ndarray of shape (len(vocab_), dim)
        The negative-sampling output vectors (gensim's ``syn1neg``).
    shadow_weights_ : ndarray of shape (len(vocab_), dim) or None
        With ``bits``: the full-precision input weights (None without).
    loss_ : list of float
        Mean negative-sampling loss per example, per epoch.
    meta_ : dict
        Parameters, corpus size, timings, the per-epoch training log and the token cache size.

    Examples
    --------
    >>> from compactemb.demo import demo_corpus_path
    >>> kv = Word2Vec(50, epochs=1, n_threads=1).fit(demo_corpus_path()).model_
    """

    _renames = {"alpha": "learning_rate", "min_alpha": "min_learning_rate"}
    _param_spec = {"dim": Integer(low=1), "sg": Boolean(), "window": Integer(low=1),
                   "negative": Integer(low=1), "min_count": Integer(low=1),
                   "max_size": Integer(low=1, allow_none=True), "sample": Real(low=0),
                   "epochs": Integer(low=1), "learning_rate": Real(low=0, low_open=True),
                   "min_learning_rate": Real(low=0), "cbow_mean": Boolean(),
                   "ns_exponent": Real(low=0), "shared_negatives": Boolean(),
                   "n_threads": N_THREADS, "job_tokens": Integer(low=1000),
                   "random_state": RANDOM_STATE, "bits": Options((None, *QAT_BITS)),
                   "qat_vectors": Options(("sum", "input")), "float_epochs": Integer(low=0)}
    alpha = _Renamed("learning_rate")
    min_alpha = _Renamed("min_learning_rate")

    def __init__(self, dim: int = 100, *, sg: bool = True, window: int = 5, negative: int = 5,
                 min_count: int = 5, max_size: int | None = None, sample: float = 1e-3,
                 epochs: int = 5, learning_rate: float = 0.025,
                 min_learning_rate: float = 0.0001, cbow_mean: bool = True,
                 ns_exponent: float = 0.75, shared_negatives: bool = True,
                 n_threads: int | None = None, job_tokens: int = 100_000,
                 tokenizer: Tokenizer | None = None, cache_dir=None, random_state: int = 0,
                 bits: int | None = None, qat_vectors: str = "sum", float_epochs: int = 0,
                 **deprecated):
        self.dim = dim
        self.sg = sg
        self.window = window
        self.negative = negative
        self.min_count = min_count
        self.max_size = max_size
        self.sample = sample
        self.epochs = epochs
        self.learning_rate = learning_rate
        self.min_learning_rate = min_learning_rate
        self.cbow_mean = cbow_mean
        self.ns_exponent = ns_exponent
        self.shared_negatives = shared_negatives
        self.n_threads = n_threads
        self.job_tokens = job_tokens
        self.tokenizer = tokenizer
        self.cache_dir = cache_dir
        self.random_state = random_state
        self.bits = bits
        self.qat_vectors = qat_vectors
        self.float_epochs = float_epochs
        self._set_renamed(deprecated)

    def _validate(self) -> None:
        super()._validate()
        if self.bits and self.float_epochs >= self.epochs:
            fail("Word2Vec", "float_epochs", f"< epochs={self.epochs} with bits",
                 self.float_epochs)
        if self.min_learning_rate > self.learning_rate:
            fail("Word2Vec", "min_learning_rate", f"<= learning_rate={self.learning_rate}",
                 self.min_learning_rate)

    # -- training ------------------------------------------------------------------------------
    def fit(self, corpus, *, vocab: Vocab | None = None, callback=None) -> Word2Vec:
        """Train on a corpus.

        Parameters
        ----------
        corpus : path, iterable of str or iterable of list of str
            A text file (plain/.gz/.xz/.bz2), lines of text, or token lists.
        vocab : Vocab, optional
            Use this vocabulary as is, no counting pass (e.g. ``Vocab.load`` of a file
            written by ``compactemb vocab``).
        callback : callable, optional
            ``callback(epoch, info)`` after each epoch, in epoch order; ``info`` has
            ``seconds``, ``loss`` and ``words``. Returning False stops training: at once with
            ``n_threads=1``; with more threads, the jobs already running finish first.

        Returns
        -------
        Word2Vec
            ``self``, with ``model_`` (KeyedVectors).

        Raises
        ------
        InputError
            Bad parameters, an empty corpus, or no word reaching ``min_count``.
        """
        self._validate()
        self._notify = epoch_callback(callback, "Word2Vec")
        threads = resolve_threads(self.n_threads)
        t0 = time.perf_counter()
        from .._scratch import make_scratch, remove_scratch

        tmpdir = make_scratch("w2v", self.cache_dir)  # removed on exit, SIGTERM; stale cleaned
        try:
            cache = os.path.join(tmpdir, "tokens.i32")
            vocab, stats = tokenize_to_cache(corpus, cache, tokenizer=self.tokenizer,
                                             vocab=vocab, min_count=self.min_count,
                                             max_size=self.max_size,
                                             job_tokens=self.job_tokens)
            t1 = time.perf_counter()
            state = self._init_state(vocab)
            log = self._train(cache, stats, state, threads)
            t2 = time.perf_counter()
        finally:
            remove_scratch(tmpdir)
            del self._notify
        self.vocab_ = vocab
        self.table_ = self._result_table(vocab, state)
        self.output_weights_ = state["syn1neg"]
        self.shadow_weights_ = state["syn0"] if self._qat_bits() else None
        self.loss_ = [e["loss"] for e in log]
        self._tables = {k: state[k] for k in ("keep_thresholds", "alias_prob", "alias_index")}
        train_s = t2 - t1
        words = stats["corpus_tokens"] * len(log)  # epochs run (fewer if a callback stopped)
        self.meta_ = {
            "trainer": "word2vec", "params": self._meta_params("sgns" if self.sg else "cbow"),
            "corpus": describe(corpus),
            "vocab_size": len(vocab), "n_threads_used": threads,
            "corpus_tokens": stats["corpus_tokens"], "trained_tokens": stats["tokens"],
            "sentences": stats["sentences"], "token_cache_bytes": stats["cache_bytes"],
            "jobs_per_epoch": len(stats["bounds"]) - 1,
            "training_log": log,
            "words_per_second": round(words / train_s, 1) if train_s > 0 else None,
            "timings_s": {"tokenize": round(t1 - t0, 3), "train": round(train_s, 3),
                          "total": round(t2 - t0, 3)},
            "reproducible": threads == 1,
        }
        bits = self._qat_bits()
        if bits:
            self.meta_["qat"] = {"bits": bits, "vectors": self.qat_vectors,
                                 "levels": word2bits_levels(bits).tolist(),
                                 "table_kind": self.table_.kind}
        self.model_ = KeyedVectors(self.vocab_, self.table_, self.meta_)
        return self

    def _init_state(self, vocab: Vocab) -> dict:
        n, dim = len(vocab), int(self.dim)
        rng = np.random.default_rng(self.random_state)
        # uniform in [-1/dim, 1/dim), as gensim 4 (word2vec.c uses half that range)
        syn0 = ((rng.random((n, dim), dtype=np.float32) * np.float32(2) - np.float32(1))
                / np.float32(dim))
        if self._qat_bits() and not self.float_epochs:  # zero rows would all quantise alike
            syn1neg = ((rng.random((n, dim), dtype=np.float32) * np.float32(2) - np.float32(1))
                       / np.float32(dim))
        else:
            syn1neg = np.zeros((n, dim), dtype=np.float32)
        return {"syn0": syn0, "syn1neg": syn1neg,
                "keep_thresholds": keep_thresholds(vocab.counts, self.sample),
                **dict(zip(("alias_prob", "alias_index"),
                           alias_tables(vocab.counts, self.ns_exponent)))}

    def _train(self, cache: str, stats: dict, state: dict, threads: int) -> list[dict]:
        from ._word2vec_kernels import sigmoid_tables

        exp_table, log_table = sigmoid_tables()
        train_job, args = self._job_kernel(state, exp_table, log_table)
        warm_epochs = int(self.float_epochs) if self._qat_bits() else 0
        if warm_epochs:  # the first epochs without quantisation
            warm_job, warm_args = self._job_kernel(state, exp_table, log_table, float_only=True)
        bounds = stats["bounds"]
        n_jobs = len(bounds) - 1
        total = int(bounds[-1])
        epochs = int(self.epochs)
        span = float(epochs) * max(total, 1)
        log: list[dict] = [{"epoch": e + 1, "loss_sum": 0.0, "examples": 0, "words": 0,
                            "seconds": 0.0} for e in range(epochs)]
        first_start: dict[int, float] = {}  # epoch -> when its first job started
        lock = threading.Lock()
        stop = threading.Event()
        counter = {"next": 0, "tokens": 0, "reported": 0}
        seed = int(self.random_state)

        def worker(_thread: int) -> None:
            fd = os.open(cache, os.O_RDONLY)
            try:
                while not stop.is_set():
                    with lock:
                        k = counter["next"]
                        counter["next"] += 1
                    if k >= epochs * n_jobs:
                        return
                    epoch, j = divmod(k, n_jobs)
                    lo, hi = int(bounds[j]), int(bounds[j + 1])
                    with lock:
                        if epoch not in first_start:
                            first_start[epoch] = time.perf_counter()
                    raw = os.pread(fd, (hi - lo) * 4, lo * 4)
                    tokens = np.frombuffer(raw, dtype=np.int32)
                    p0 = (epoch * total + lo) / span
                    p1 = (epoch * total + hi) / span
                    lr, min_lr = self.learning_rate, self.min_learning_rate
                    a0 = lr - (lr - min_lr) * p0
                    a1 = lr - (lr - min_lr) * p1
                    job, job_args = (warm_job, warm_args) if epoch < warm_epochs else \
                        (train_job, args)
                    loss, terms, kept = job(tokens, *job_args, a0, a1,
                                                  job_seed(seed, epoch, j))
                    with lock:
                        e = log[epoch]
                        e["loss_sum"] += loss
                        e["examples"] += terms
                        e["words"] += kept
                        e["seconds"] = time.perf_counter() - first_start[epoch]
                        counter["tokens"] += hi - lo
                        e["jobs_done"] = e.get("jobs_done", 0) + 1
                        # report finished epochs in order; the callback may stop training
                        while (counter["reported"] < epochs
                               and log[counter["reported"]].get("jobs_done") == n_jobs):
                            r = log[counter["reported"]]
                            counter["reported"] += 1
                            info = {"seconds": r["seconds"], "words": r["words"],
                                    "loss": r["loss_sum"] / r["examples"] if r["examples"]
                                    else None}
                            if self._notify(r["epoch"] - 1, info):
                                stop.set()
            finally:
                os.close(fd)

        bar = progress(total=epochs * total, desc="word2vec " + ("sg" if self.sg else "cbow"),
                       unit="w")
        shown = 0

        def show_progress() -> None:
            nonlocal shown
            with lock:
                now = counter["tokens"]
                cur = log[min(counter["next"], epochs * n_jobs - 1) // max(n_jobs, 1)]
                running = cur["loss_sum"] / max(cur["examples"], 1)
            bar.update(now - shown)
            shown = now
            bar.set_postfix(loss=f"{running:.4f}", refresh=False)

        try:  # a worker's error is re-raised; Ctrl-C stops the workers after their job
            run_hogwild(worker, threads, on_tick=show_progress, tick_seconds=0.2, stop=stop)
        finally:
            bar.close()
        log = [e for e in log if e.pop("jobs_done", 0)]  # epochs run (all, unless stopped)
        for e in log:
            e["loss"] = e["loss_sum"] / e["examples"] if e["examples"] else None
            e["seconds"] = round(e["seconds"], 3)
        return log

    def _job_kernel(self, state: dict, exp_table, log_table, float_only: bool = False) -> tuple:
        """The kernel that trains one job, and its arguments before (alpha0, alpha1, seed)."""
        module = kernels("compactemb.train._word2vec_kernels")
        args = (state["syn0"], state["syn1neg"], state["keep_thresholds"],
                state["alias_prob"], state["alias_index"], exp_table, log_table,
                bool(self.sg), bool(self.cbow_mean), bool(self.shared_negatives),
                int(self.window), int(self.negative))
        bits = None if float_only else self._qat_bits()
        if bits:  # a kernel of its own: the float path stays as fast as before
            return module.train_job_qat, (*args, bits, word2bits_levels(bits))
        return module.train_job, args

    def _qat_bits(self) -> int | None:
        """``bits`` when this trainer quantises (FastText never does)."""
        bits = getattr(self, "bits", None)
        return int(bits) if bits else None

    def _result_table(self, vocab: Vocab, state: dict):
        """The trained input vectors as the table of ``model_`` (compact codes with ``bits``)."""
        bits = self._qat_bits()
        if bits:
            weights = state["syn0"] + state["syn1neg"] if self.qat_vectors == "sum" \
                else state["syn0"]
            return qat_table(weights, bits)
        return DenseTable(state["syn0"])

    # -- results -------------------------------------------------------------------------------
    def keyed_vectors(self) -> KeyedVectors:
        """The trained input vectors as :class:`KeyedVectors` (``model_``; metadata included).

        Returns
        -------
        KeyedVectors

        Raises
        ------
        NotFittedError
            Before ``fit``.
        """
        self._check_fitted()
        return self.model_

    def memory_parts(self) -> dict[str, int]:
        """Measured bytes of the trained state, and of the token cache used while training."""
        self._check_fitted()
        shadow = getattr(self, "shadow_weights_", None)
        parts = {**self.table_.memory_parts("input_vectors"),
                 "output_vectors.weights": int(self.output_weights_.nbytes),
                 **({"input_vectors.shadow_weights (training)": int(shadow.nbytes)}
                    if shadow is not None else {}),
                 **{f"sampling.{k}": int(v.nbytes) for k, v in self._tables.items()},
                 **self.vocab_.memory_parts("vocab"),
                 "token_cache_file (disk, deleted after fit)": self.meta_["token_cache_bytes"]}
        return parts


def word2bits_levels(bits: int) -> np.ndarray:
    """The values a ``bits``-bit Word2Bits code takes, ascending (float32).

    1 bit: ``+-1/3`` (Word2Bits); 2 and 4 bits: ``2**bits`` uniform mid-rise levels
    ``+-(2k + 1) / 2**bits`` over [-1, 1] (2 bits: ``+-0.25, +-0.75`` as Word2Bits; its own
    4-bit rule has 17 values, ``k / 8`` for ``|k| <= 8``, which do not fit 4 bits).

    Parameters
    ----------
    bits : {1, 2, 4}
        Bits a value.

    Returns
    -------
    ndarray of float32, shape (2 ** bits,)

    Raises
    ------
    InputError
        For another ``bits``.

    Examples
    --------
    >>> word2bits_levels(2).tolist()
    [-0.75, -0.25, 0.25, 0.75]
    """
    if bits not in QAT_BITS:
        fail("word2bits_levels", "bits", "one of 1, 2, 4", bits)
    if bits == 1:
        return np.array([-1 / 3, 1 / 3], np.float32)
    half = 1 << (bits - 1)
    return ((2 * (np.arange(2 * half) - half) + 1) / (2 * half)).astype(np.float32)


def word2bits_codes(x, bits: int) -> np.ndarray:
    """Word2Bits' quantiser: the code (index into :func:`word2bits_levels`) of each value.

    1 bit: the sign (0 counts as positive). 2 and 4 bits: the level nearest to the value, with
    cells closed above (``|x| <= 0.5`` is 0.25 at 2 bits, as Word2Bits) and values beyond +-1
    clipped to the outermost level. The NumPy form of the training kernel's quantiser.

    Parameters
    ----------
    x : array_like of float
        Values.
    bits : {1, 2, 4}
        Bits a value.

    Returns
    -------
    ndarray of uint8, the shape of ``x``

    Raises
    ------
    InputError
        For another ``bits``.

    Examples
    --------
    >>> word2bits_codes([-0.6, -0.5, 0.0, 0.5, 2.0], 2).tolist()
    [0, 1, 2, 2, 3]
    """
    if bits not in QAT_BITS:
        fail("word2bits_codes", "bits", "one of 1, 2, 4", bits)
    x = np.asarray(x, dtype=np.float32)
    if bits == 1:
        return (x >= 0).astype(np.uint8)
    half = 1 << (bits - 1)
    k = np.clip(np.ceil(np.abs(x) * np.float32(half)) - 1, 0, half - 1).astype(np.int64)
    return np.where(x >= 0, half + k, half - 1 - k).astype(np.uint8)


def qat_table(weights, bits: int):
    """The ``bits``-bit table of Word2Bits codes of ``weights``, values exactly on the levels.

    1 and 2 bits: a :class:`~compactemb.tables.Bit1Table` / ``Bit2Table`` with the levels of
    :func:`word2bits_levels` and no scales, mean or rotation (``ceil(dim * bits / 8)`` bytes a
    row); 4 bits: an :class:`~compactemb.tables.Int4Table` with scale 1/8 and bias -15/16 on
    every row (its fp16 scale and bias cost 4 bytes a row).

    Parameters
    ----------
    weights : array of shape (n_rows, dim)
        Full-precision (shadow) weights.
    bits : {1, 2, 4}

    Returns
    -------
    EmbeddingTable
        Decodes to ``word2bits_levels(bits)[word2bits_codes(weights, bits)]``.

    Raises
    ------
    InputError
        For another ``bits``.

    Examples
    --------
    >>> qat_table(np.array([[0.3, -2.0, 0.6]]), 2).lookup([0]).tolist()
    [[0.25, -0.75, 0.75]]
    """
    from ..tables import Bit1Table, Bit2Table, Int4Table
    from ..tables._lowbit import pack_codes

    codes = word2bits_codes(weights, bits)
    if codes.ndim != 2:
        raise InputError(f"qat_table needs a 2-D matrix, got shape {codes.shape}")
    n, dim = codes.shape
    if bits == 4:
        if dim % 2:
            codes = np.concatenate([codes, np.zeros((n, 1), np.uint8)], axis=1)
        nibbles = codes[:, 0::2] | (codes[:, 1::2] << 4)
        scale_bias = np.tile(np.array([1 / 8, -15 / 16], np.float16).view(np.uint8), (n, 1))
        return Int4Table(np.ascontiguousarray(np.concatenate([nibbles, scale_bias], axis=1)), dim)
    kind = Bit1Table if bits == 1 else Bit2Table
    return kind(pack_codes(codes, bits), dim, word2bits_levels(bits))


def job_seed(seed: int, epoch: int, job: int) -> int:
    """A 48-bit LCG seed for one job, fixed by (random_state, epoch, job)."""
    x = (seed * 0x9E3779B97F4A7C15 + epoch * 0xBF58476D1CE4E5B9 + job * 0x94D049BB133111EB
         + 1) & ((1 << 64) - 1)
    x ^= x >> 31
    return x & _LCG_MASK


def keep_thresholds(counts: np.ndarray, sample: float) -> np.ndarray:
    """P(keep) * 2**32 per word, with word2vec's formula (gensim's ``sample_int``).

    ``P = (sqrt(c / (sample * N)) + 1) * sample * N / c``, capped at 1; ``sample = 0`` keeps all.
    """
    counts = np.asarray(counts, dtype=np.float64)
    if not sample:
        p = np.ones_like(counts)
    else:
        threshold = sample * counts.sum()
        with np.errstate(divide="ignore", invalid="ignore"):
            p = (np.sqrt(counts / threshold) + 1) * threshold / counts
        p = np.where(np.isfinite(p), np.minimum(p, 1.0), 1.0)  # count 0: keep
    return np.round(p * 2.0**32).astype(np.uint64)


def alias_tables(counts: np.ndarray, ns_exponent: float = 0.75):
    """Alias tables sampling row i with probability count_i**ns_exponent / sum_j (...).

    Acceptance thresholds * 2**32 as uint64, alias rows as int32; the denominator is sum_j
    count_j**ns_exponent.
    """
    build_alias = kernels("compactemb.train._word2vec_kernels").build_alias
    w = np.asarray(counts, dtype=np.float64) ** ns_exponent
    if w.size and not w.sum() > 0:  # a vocabulary without counts: uniform negatives
        w = np.ones_like(w)
    prob = np.zeros(w.shape[0], dtype=np.uint64)
    alias = np.zeros(w.shape[0], dtype=np.int32)
    build_alias(w, prob, alias)
    return prob, alias


def alias_distribution(prob: np.ndarray, alias: np.ndarray) -> np.ndarray:
    """The probability of each row under alias tables (what the sampler really draws)."""
    accept = prob.astype(np.float64) / 2.0**32
    p = accept.copy()
    np.add.at(p, alias, 1.0 - accept)
    return p / prob.shape[0]


def tokenize_to_cache(corpus, path: str, *, tokenizer: Tokenizer | None = None,
                      vocab: Vocab | None = None, min_count: int = 5,
                      max_size: int | None = None, job_tokens: int = 100_000):
    """Write the corpus as int32 row ids (``-1`` after each sentence) to ``path``.

    Without ``vocab``, one pass counts and encodes at once: tokens get provisional ids in
    first-seen order, then one numpy pass over the file maps them to the frequency-ordered
    vocabulary and drops the rare ones. Returns (vocab, stats) with the job bounds.
    """
    tok = tokenizer or Tokenizer()
    raw_path = path + ".raw" if vocab is None else path
    index: dict = {} if vocab is None else vocab.index
    n_tokens = 0
    n_sentences = 0
    counts = np.zeros(0, dtype=np.int64)
    line_blocks = iter_corpus_line_blocks(corpus)
    interner = TokenInterner(tok) if line_blocks is not None and \
        TokenInterner.supports(tok) else None
    bar = progress(desc="tokenising", unit="tok")
    try:
        with open(raw_path, "wb") as f:
            if interner is not None:  # files: a numba kernel numbers and counts the tokens
                n_tokens, n_sentences = _intern_to_file(f, line_blocks, interner, index,
                                                        vocab is not None, bar)
            # otherwise whole blocks of lines: tokenised in NumPy, mapped by C-level map()
            for tokens, lengths in ([] if interner is not None else
                                    iter_token_blocks(corpus, tok)):
                n_tokens += len(tokens)
                n_sentences += int(np.count_nonzero(lengths))
                if vocab is None:
                    ids = _provisional_ids(index, tokens)
                    block = join_sentences(ids, lengths)
                else:
                    ids = np.fromiter(map(index.get, tokens, repeat(-2)), dtype=np.int32,
                                      count=len(tokens))
                    block = join_sentences(ids, lengths)
                    block = block[block != -2]  # unknown tokens dropped, sentence ends kept
                counts = _flush(f, block, counts, len(index), vocab is None)
                bar.update(block.size)
    finally:
        bar.close()
    if n_tokens == 0:
        raise InputError(f"{describe(corpus)}: the corpus has no tokens")
    if vocab is None:
        if interner is not None:
            keys, counts = interner.keys(), interner.counts()
        else:
            keys = list(index)
            counts = np.concatenate([counts, np.zeros(len(keys) - counts.size, np.int64)])
        del index, interner
        order = np.argsort(-counts, kind="stable")  # by frequency, ties in first-seen order
        order = order[counts[order] >= min_count]
        if max_size is not None:
            order = order[:max_size]
        info = {"tokens": n_tokens, "pruned_during_scan": False, "distinct_seen": len(keys),
                "min_count": min_count, "max_size": max_size, "kept": int(order.size),
                "tokenizer": tok.to_dict()}
        if order.size == 0:
            os.unlink(raw_path)
            raise InputError(f"{describe(corpus)}: no token occurs at least "
                             f"min_count={min_count} times ({n_tokens} tokens, "
                             f"{len(keys)} distinct)")
        vocab = Vocab([keys[i] for i in order], counts[order], build_info=info)
        remap = np.full(len(keys) + 1, -2, dtype=np.int32)  # last slot: separator -1 -> -1
        remap[order] = np.arange(order.size, dtype=np.int32)
        remap[-1] = -1
        del keys
    else:
        remap = None
    trained, bounds = _finish_cache(raw_path, path, remap, job_tokens)
    if raw_path != path:
        os.unlink(raw_path)
    if trained == 0:
        raise InputError(f"{describe(corpus)}: none of its tokens is in the vocabulary")
    stats = {"corpus_tokens": n_tokens, "tokens": trained, "sentences": n_sentences,
             "cache_bytes": os.path.getsize(path), "bounds": bounds}
    return vocab, stats


def _intern_to_file(f, line_blocks, interner: TokenInterner, index: dict, given: bool, bar):
    """Write the interner's ids (first-seen, ``-1`` after each sentence) block by block.

    With a ``given`` vocabulary, its rows instead, unknown tokens dropped. Returns (tokens,
    sentences).
    """
    n_tokens = n_sentences = 0
    rows = np.zeros(0, dtype=np.int32)  # interner id -> vocabulary row (-2: unknown)
    for lines in line_blocks:
        ids = interner.add_lines(lines)
        seps = int(np.count_nonzero(ids < 0))
        n_sentences += seps
        n_tokens += ids.size - seps
        if given:
            new = interner.keys(rows.size)
            if new:
                rows = np.concatenate([rows, np.fromiter(map(index.get, new, repeat(-2)),
                                                         dtype=np.int32, count=len(new))])
            ids = np.where(ids >= 0, rows[np.maximum(ids, 0)] if rows.size else -2, -1)
            ids = ids[ids != -2].astype(np.int32, copy=False)
        ids.tofile(f)
        bar.update(ids.size)
    return n_tokens, n_sentences


def _provisional_ids(index: dict, tokens: list[str]) -> np.ndarray:
    """Ids of a block's tokens in first-seen order over the whole corpus.

    New keys are added to ``index``. ``setdefault`` runs in C over the block with placeholder values
    (the token's position plus ``_NEW``); only the block's new distinct keys get a loop in Python.
    """
    n_known = len(index)
    ids = np.fromiter(map(index.setdefault, tokens, count(_NEW)), dtype=np.int64,
                      count=len(tokens))
    fresh = ids >= _NEW
    if fresh.any():
        first_pos = np.unique(ids[fresh])  # each new key's first position, in block order
        for offset, pos in enumerate((first_pos - _NEW).tolist()):
            index[tokens[pos]] = n_known + offset
        ids[fresh] = n_known + np.searchsorted(first_pos, ids[fresh])
    return ids.astype(np.int32)


_NEW = 1 << 40  # placeholder ids of keys first seen in the current block


def _flush(f, arr: np.ndarray, counts: np.ndarray, n_keys: int, count: bool) -> np.ndarray:
    arr.tofile(f)
    if not count:
        return counts
    c = np.bincount(arr[arr >= 0], minlength=n_keys)
    if counts.size < c.size:
        counts = np.concatenate([counts, np.zeros(c.size - counts.size, np.int64)])
    counts[: c.size] += c
    return counts


def _finish_cache(raw_path: str, path: str, remap, job_tokens: int):
    """Remap provisional ids (when ``remap`` is given) and find job bounds at sentence ends.

    Returns (number of word tokens, bounds as int64 array starting at 0).
    """
    bounds = [0]
    written = 0
    words = 0
    out = open(path + ".tmp", "wb") if remap is not None else None
    try:
        with open(raw_path, "rb") as f:
            while True:
                chunk = np.fromfile(f, dtype=np.int32, count=_CHUNK)
                if chunk.size == 0:
                    break
                if remap is not None:
                    chunk = remap[chunk]  # -1 indexes the last slot, which maps to -1
                    chunk = chunk[chunk != -2]
                    chunk.tofile(out)
                words += int(np.count_nonzero(chunk >= 0))
                ends = np.flatnonzero(chunk == -1) + written + 1
                written += chunk.size
                while written - bounds[-1] >= job_tokens:
                    target = bounds[-1] + job_tokens
                    k = np.searchsorted(ends, target)
                    if k < ends.size and ends[k] - bounds[-1] <= 2 * job_tokens:
                        bounds.append(int(ends[k]))
                    elif k == ends.size and written - bounds[-1] < 2 * job_tokens:
                        break  # the sentence end may be in the next chunk
                    else:
                        bounds.append(target)
    finally:
        if out is not None:
            out.close()
    if remap is not None:
        os.replace(path + ".tmp", path)
    if written > bounds[-1]:
        bounds.append(written)
    return words, np.asarray(bounds, dtype=np.int64)


def reference_train_job(tokens, syn0, syn1neg, keep_thresholds, alias_prob, alias_index,
                        exp_table, log_table, sg, cbow_mean, shared_negatives, window, negative,
                        alpha0, alpha1, seed, bits=None, levels=None):
    """Slow, obvious NumPy twin of the numba ``train_job`` (same arguments, same RNG stream).

    With ``bits`` (and ``levels = word2bits_levels(bits)``), the twin of ``train_job_qat``:
    input and output rows are quantised where they are used, the gradients of the quantised
    values update the full-precision rows, and saturated scores are not skipped.
    Updates ``syn0`` and ``syn1neg`` in place; returns (loss sum, loss terms, words kept).
    """
    max_exp, size = 6.0, exp_table.shape[0]
    if bits:  # levels = odd integers ("units") times unit; scores are summed in units
        unit = np.float32(levels[-1] / np.float32((1 << bits) - 1))
        units = np.rint(levels / unit).astype(np.float32)
        unit2 = np.float32(unit * unit)

    def quantized(row):
        """(values, values in units) of a row as the forward pass sees it."""
        if not bits:
            return row.copy(), None
        c = word2bits_codes(row, bits)
        return levels[c], units[c]

    def rand(state):
        return (state * 25214903917 + 11) & _LCG_MASK

    def negative_row(state):
        state = rand(state)
        slot = (((state >> 16) & 0xFFFFFFFF) * len(alias_prob)) >> 32
        state = rand(state)
        accept = ((state >> 16) & 0xFFFFFFFF) < int(alias_prob[slot])
        return (slot if accept else int(alias_index[slot])), state

    def draw_negatives(word, state):
        rows = []
        for _ in range(negative):
            target, state = negative_row(state)
            if target != word:  # a draw of the positive word is dropped
                rows.append(target)
        return rows, state

    def sigmoid_index(f):  # in float64, as the kernel (a float32 f is promoted there)
        return int((float(f) + max_exp) * (size / max_exp / 2))

    state = int(seed) & _LCG_MASK
    kept_tokens: list[int] = []
    for t in (int(x) for x in tokens):
        if t < 0:
            if kept_tokens and kept_tokens[-1] >= 0:
                kept_tokens.append(-1)
            continue
        state = rand(state)
        if int(keep_thresholds[t]) <= (state >> 16) & 0xFFFFFFFF:
            continue
        kept_tokens.append(t)
    if not kept_tokens or kept_tokens[-1] >= 0:
        kept_tokens.append(-1)
    buf = np.array(kept_tokens)
    m = len(buf)
    slope = np.float32((alpha1 - alpha0) / max(m, 1))
    loss, terms = 0.0, 0
    sentences, start = [], 0
    for i, t in enumerate(buf):
        if t < 0:
            sentences.append((start, i))
            start = i + 1

    def update(inp, target, label, alpha, grad, inp_units=None, fscale=None):
        """One negative-sampling example; accumulates the input gradient in ``grad``."""
        out, out_units = quantized(syn1neg[target])
        if bits:  # exact integer sum in units, then one rounding
            f = np.float32(np.dot(inp_units, out_units)) * fscale
        else:
            f = np.float32(np.dot(inp, out))
        x = f if label else -f
        if abs(f) >= max_exp and not bits:
            return (-x if x < 0 else 0.0), 1
        if abs(f) >= max_exp:  # saturated: the limit of the gradient
            g = np.float32((label - (1.0 if f > 0 else 0.0)) * alpha)
        else:
            g = np.float32((label - exp_table[sigmoid_index(f)]) * alpha)
        grad += (g * unit) * out_units if bits else g * out
        syn1neg[target] += g * inp
        if abs(x) >= max_exp:
            return (-x if x < 0 else 0.0), 1
        return (0.0 if abs(x) >= max_exp else -float(log_table[sigmoid_index(x)])), 1

    for s, e in sentences:
        for i in range(s, e):
            alpha = np.float32(alpha0) + slope * np.float32(i)
            state = rand(state)
            b = state % window
            context = [j for j in range(max(s, i - window + b), min(e, i + window + 1 - b))
                       if j != i]
            word = buf[i]

            if sg:
                if shared_negatives:
                    negatives, state = draw_negatives(word, state)
                for j in context:
                    if not shared_negatives:
                        negatives, state = draw_negatives(word, state)
                    grad = np.zeros(syn0.shape[1], np.float32)
                    inp, inp_units = quantized(syn0[buf[j]])
                    if bits:
                        inp = inp_units * unit
                    for target, label in [(word, 1)] + [(t, 0) for t in negatives]:
                        l_, n_ = update(inp, target, label, alpha, grad, inp_units,
                                        unit2 if bits else None)
                        loss, terms = loss + l_, terms + n_
                    syn0[buf[j]] += grad
            else:
                if not context:
                    continue
                ctx = buf[context]
                inv = np.float32(1.0) / np.float32(len(context))
                neu1_units = fscale = None
                if bits:
                    neu1_units = np.sum([quantized(syn0[c])[1] for c in ctx], axis=0,
                                        dtype=np.float32)
                    neu1 = neu1_units * (unit * inv if cbow_mean else unit)
                    fscale = unit2 * inv if cbow_mean else unit2
                else:
                    neu1 = syn0[ctx].sum(axis=0, dtype=np.float32)
                    if cbow_mean:
                        neu1 *= inv
                grad = np.zeros(syn0.shape[1], np.float32)
                negatives, state = draw_negatives(word, state)
                for target, label in [(word, 1)] + [(t, 0) for t in negatives]:
                    l_, n_ = update(neu1, target, label, alpha, grad, neu1_units, fscale)
                    loss, terms = loss + l_, terms + n_
                if not cbow_mean:
                    grad *= np.float32(1.0) / np.float32(len(context))
                for j in ctx:  # a word twice in the window is updated twice, as in gensim
                    syn0[j] += grad
    kept = sum(e - s for s, e in sentences)
    return loss, terms, kept
