"""Vocabulary and co-occurrence counts of a corpus over many files, as Ray tasks.

The corpus is cut into units: each compressed file whole, each plain file in byte ranges of
about ``chunk_bytes`` (a range owns the lines that start inside it). One task counts one unit;
the driver adds the results in unit order. Keys therefore appear in the order a single reader
would first see them, so the vocabulary (by frequency, ties in first-seen order) and the counts
equal the single-process :meth:`Vocab.from_corpus` and PPMI-SVD counts exactly. Every node must
see the files at the same path (a shared or replicated file system).
"""

from __future__ import annotations

import os
import time
from collections import Counter

import numpy as np
import scipy.sparse as sp

from ..exceptions import InputError
from ..text import Tokenizer, _decode, _open_binary
from ..train._svd import PPMISVD
from ..vocab import Vocab
from ._cluster import ray_session

_COMPRESSED = (b"\x1f\x8b", b"\xfd7zXZ\x00", b"BZh")


def corpus_units(paths, chunk_bytes: int = 64 << 20) -> list[tuple[str, int, int]]:
    """Cut corpus files into ``(path, start, end)`` units (``end = -1``: the whole file).

    Parameters
    ----------
    paths : path or list of paths
    chunk_bytes : int, default 64 MiB
        Size of the byte ranges of plain (uncompressed) files.

    Returns
    -------
    list of (str, int, int)

    Raises
    ------
    InputError
        A file is missing or no file is given.

    Examples
    --------
    >>> corpus_units([])                                           # doctest: +SKIP
    """
    paths = [os.fspath(p) for p in ([paths] if isinstance(paths, (str, os.PathLike))
                                    else paths)]
    if not paths:
        raise InputError("a corpus needs at least one file")
    units = []
    for path in paths:
        _open_binary(path).close()  # the same checks and messages as the single reader
        with open(path, "rb") as f:
            magic = f.read(6)
        size = os.path.getsize(path)
        if any(magic.startswith(m) for m in _COMPRESSED) or size <= chunk_bytes:
            units.append((path, 0, -1))
            continue
        units.extend((path, a, min(a + chunk_bytes, size)) for a in range(0, size, chunk_bytes))
    return units


def iter_unit_lines(path: str, start: int, end: int):
    """The lines of one unit, decoded as :func:`compactemb.text.iter_lines` does.

    Lines over 1 MiB are not cut into pieces here.
    """
    from ..text import iter_lines

    if end < 0:
        yield from iter_lines(path)
        return
    with open(path, "rb") as f:
        if start > 0:
            f.seek(start - 1)
            f.readline()  # the line running across ``start`` belongs to the previous unit
        lineno = 0
        while f.tell() < end:
            raw = f.readline()
            if not raw:
                break
            if f.tell() - len(raw) == 0 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            lineno += 1
            yield _decode(raw.rstrip(b"\n"), path, lineno)


def count_unit(path: str, start: int, end: int, tokenizer: dict | None):
    """Token counts of one unit: (keys in first-seen order, counts, tokens)."""
    tok = Tokenizer.from_dict(tokenizer)
    counts: Counter = Counter()
    for line in iter_unit_lines(path, start, end):
        counts.update(tok(line))
    return list(counts), np.fromiter(counts.values(), dtype=np.int64, count=len(counts)), \
        int(counts.total())


def cooccurrence_unit(path: str, start: int, end: int, tokenizer: dict | None, keys: list,
                      window: int, weighting: str) -> sp.csr_matrix:
    """Co-occurrence counts of one unit, as the single-process PPMI-SVD counts them."""
    from ..train._svd import cooccurrence

    tok = Tokenizer.from_dict(tokenizer)
    index = {k: i for i, k in enumerate(keys)}
    get = index.get
    buf: list[int] = []
    for line in iter_unit_lines(path, start, end):
        sent = tok(line)
        buf.extend(i for i in map(get, sent) if i is not None)
        if sent:
            buf.append(-1)
    chunk = np.asarray(buf, dtype=np.int32)
    return cooccurrence([chunk], len(keys), window=window, weighting=weighting)


def _run(ray, fn, units, *args):
    remote = ray.remote(fn).options(max_retries=3)
    arg_refs = [ray.put(a) if isinstance(a, list) else a for a in args]
    return ray.get([remote.remote(*u, *arg_refs) for u in units])


def count_vocab(corpus, *, tokenizer: Tokenizer | None = None, min_count: int = 5,
                max_size: int | None = None, address: str | None = None,
                chunk_bytes: int = 64 << 20) -> Vocab:
    """Count a corpus's tokens on a Ray cluster; equal to :meth:`Vocab.from_corpus`.

    Parameters
    ----------
    corpus : path or list of paths
        Text files (plain, .gz, .xz, .bz2), read as one corpus in order.
    tokenizer : Tokenizer, optional
    min_count, max_size : int
        The final cut, as :meth:`Vocab.from_counts`.
    address : str or None
        Ray cluster (``"HOST:PORT"``, ``"auto"``, None: a local one).
    chunk_bytes : int, default 64 MiB
        Plain files are counted in byte ranges of this size, one task each.

    Returns
    -------
    Vocab

    Raises
    ------
    InputError
        Missing files, no token, or no token seen ``min_count`` times.
    ClusterError
        The cluster cannot be reached.

    Examples
    --------
    >>> vocab = count_vocab(["a.txt", "b.txt.gz"], address="auto")   # doctest: +SKIP
    """
    t0 = time.perf_counter()
    units = corpus_units(corpus, chunk_bytes)
    tok = tokenizer or Tokenizer()
    with ray_session(address) as ray:
        parts = _run(ray, count_unit, units, tok.to_dict())
    merged: Counter = Counter()
    tokens = 0
    for keys, counts, n in parts:  # in unit order: first-seen order as one reader's
        merged.update(dict(zip(keys, counts.tolist())))
        tokens += n
    name = " + ".join(sorted({u[0] for u in units}))
    if tokens == 0:
        raise InputError(f"{name}: the corpus has no tokens")
    info = {"tokens": tokens, "pruned_during_scan": False, "scan_prunes": 0,
            "scan_prune_threshold": None, "max_scan_size": None, "tokenizer": tok.to_dict(),
            "backend": "ray", "units": len(units),
            "seconds": round(time.perf_counter() - t0, 3)}
    vocab = Vocab.from_counts(merged, min_count=min_count, max_size=max_size, build_info=info)
    if len(vocab) == 0:
        raise InputError(f"{name}: no token occurs at least min_count={min_count} times "
                         f"({tokens} tokens, {len(merged)} distinct)")
    return vocab


def count_cooccurrence(corpus, vocab: Vocab, *, tokenizer: Tokenizer | None = None,
                       window: int = 2, weighting: str = "linear", address: str | None = None,
                       chunk_bytes: int = 64 << 20) -> sp.csr_matrix:
    """Symmetric co-occurrence counts on a Ray cluster; equal to the single-process counts.

    Parameters
    ----------
    corpus : path or list of paths
    vocab : Vocab
        Rows and columns; tokens not in it are dropped (the window spans over them), as in
        :class:`~compactemb.train.PPMISVD`.
    tokenizer : Tokenizer, optional
    window : int, default 2
    weighting : {"linear", "harmonic", "uniform"}, default "linear"
    address : str or None
    chunk_bytes : int, default 64 MiB

    Returns
    -------
    scipy.sparse.csr_matrix of float64, shape (len(vocab), len(vocab))

    Raises
    ------
    InputError
        Bad window or weighting, missing files.
    ClusterError
        The cluster cannot be reached.

    Examples
    --------
    >>> counts = count_cooccurrence(["a.txt"], vocab, window=2)   # doctest: +SKIP
    """
    from ..train._svd import WEIGHTINGS

    if weighting not in WEIGHTINGS:
        raise InputError(f"weighting must be one of {sorted(WEIGHTINGS)}, got {weighting!r}")
    if window < 1:
        raise InputError(f"window must be >= 1, got {window}")
    units = corpus_units(corpus, chunk_bytes)
    tok = tokenizer or Tokenizer()
    with ray_session(address) as ray:
        parts = _run(ray, cooccurrence_unit, units, tok.to_dict(), list(vocab.keys),
                     window, weighting)
    total = sp.csr_matrix((len(vocab), len(vocab)), dtype=np.float64)
    for part in parts:
        total = total + part
    total.sum_duplicates()
    return total


class RayPPMISVD(PPMISVD):
    """PPMI-SVD word vectors with the counting on a Ray cluster.

    The vocabulary and the co-occurrence counts are computed by tasks over the corpus files
    (:func:`count_vocab`, :func:`count_cooccurrence`) and equal the single-process ones; the
    PPMI weighting and the truncated SVD of the ``V x V`` sparse matrix then run on the driver,
    as in :class:`~compactemb.train.PPMISVD` (so the vectors are the same for a seed).

    Parameters
    ----------
    dim, window, weighting, min_count, max_size, cds, shift, eig, n_iter, tokenizer,
    random_state
        As :class:`~compactemb.train.PPMISVD` (``subsample`` is not available: its random
        draws depend on how the corpus is cut).
    address : str or None
        Ray cluster (``"HOST:PORT"``, ``"auto"``, None: a local one).
    chunk_bytes : int, default 64 MiB
        Plain files are counted in byte ranges of this size.

    Attributes
    ----------
    model_ : KeyedVectors

    Examples
    --------
    >>> kv = RayPPMISVD(dim=300, address="auto").fit(["a.txt", "b.txt"]).model_  # +SKIP
    """

    def __init__(self, dim: int = 100, *, window: int = 2, weighting: str = "linear",
                 min_count: int = 5, max_size: int | None = None, cds: float = 0.75,
                 shift: float = 1.0, eig: float = 0.5, subsample: float | None = None,
                 n_iter: int = 5, tokenizer: Tokenizer | None = None, random_state: int = 0,
                 address: str | None = None, chunk_bytes: int = 64 << 20):
        super().__init__(dim, window=window, weighting=weighting, min_count=min_count,
                         max_size=max_size, cds=cds, shift=shift, eig=eig, subsample=subsample,
                         n_iter=n_iter, tokenizer=tokenizer, random_state=random_state)
        self.address = address
        self.chunk_bytes = chunk_bytes

    def fit(self, corpus, *, vocab: Vocab | None = None, callback=None):
        """Count on the cluster, weight and factorise on the driver.

        Parameters
        ----------
        corpus : path or list of paths
        vocab : Vocab, optional
            Use this vocabulary as is.
        callback : callable, optional
            ``callback(0, info)`` once, when done.

        Returns
        -------
        RayPPMISVD
            ``self``, with ``model_`` (KeyedVectors).

        Raises
        ------
        InputError
            Bad parameters, ``subsample`` set, an empty corpus, ``dim`` too large.
        ClusterError
            The cluster cannot be reached.
        """
        from ..keyed import KeyedVectors
        from ..train._base import epoch_callback

        self._validate()
        if self.subsample:
            raise InputError("RayPPMISVD: subsample is not available on Ray (its random draws "
                             "depend on how the corpus is cut); leave it unset")
        notify = epoch_callback(callback, "RayPPMISVD")
        t0 = time.perf_counter()
        name = os.fspath(corpus) if isinstance(corpus, (str, os.PathLike)) else \
            " + ".join(map(os.fspath, corpus))
        with ray_session(self.address):  # one connection for both passes
            if vocab is None:
                vocab = count_vocab(corpus, tokenizer=self.tokenizer, min_count=self.min_count,
                                    max_size=self.max_size, address=self.address,
                                    chunk_bytes=self.chunk_bytes)
            if self.dim >= len(vocab):
                raise InputError(f"dim={self.dim} must be smaller than the vocabulary size "
                                 f"{len(vocab)} of {name}")
            t1 = time.perf_counter()
            counts = count_cooccurrence(corpus, vocab, tokenizer=self.tokenizer,
                                        window=self.window, weighting=self.weighting,
                                        address=self.address, chunk_bytes=self.chunk_bytes)
        m, t2, t3, t4 = self._factorize(counts, vocab, name)
        self.meta_ = {
            "trainer": "ppmi_svd", "backend": "ray", "params": self._meta_params("svd"),
            "corpus": name, "vocab_size": len(vocab), "cooccurrence_nnz": int(counts.nnz),
            "ppmi_nnz": int(m.nnz), "corpus_tokens": vocab.build_info.get("tokens"),
            "timings_s": {"vocab": round(t1 - t0, 3), "count": round(t2 - t1, 3),
                          "ppmi": round(t3 - t2, 3), "svd": round(t4 - t3, 3),
                          "total": round(t4 - t0, 3)},
        }
        self.model_ = KeyedVectors(self.vocab_, self.table_, self.meta_)
        notify(0, {"seconds": t4 - t0})
        return self
