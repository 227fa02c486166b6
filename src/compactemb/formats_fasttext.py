"""fastText's binary model format (``.bin``), read into and written from the subword table.

Layout (little-endian, as ``FastText::saveModel`` writes it)::

    int32 magic 793712314, int32 version (12; 11 read too)
    args:  int32 dim, ws, epoch, minCount, neg, wordNgrams, loss, model, bucket, minn, maxn,
           lrUpdateRate; float64 t
    dictionary: int32 size, nwords, nlabels; int64 ntokens, pruneidx_size (-1: not pruned);
           size entries: word bytes, '\\0', int64 count, int8 type (0 word, 1 label);
           pruneidx_size pairs of int32 (bucket, row)
    uint8 quantised input; input matrix: int64 m, n, then m * n float32
    uint8 quantised output; output matrix: the same

The input matrix has ``nwords + bucket`` rows: the words, then the n-gram buckets. A word's
vector is the mean of its row and its n-gram rows (:class:`~compactemb.tables.SubwordTable`).
Quantised (``.ftz``) models are refused by name.
"""

from __future__ import annotations

import os
import struct
from typing import TYPE_CHECKING

import numpy as np

from .exceptions import FormatError, InputError

if TYPE_CHECKING:  # imported where used, not at module load
    from .keyed import KeyedVectors

FASTTEXT_MAGIC = 793712314
FASTTEXT_VERSION = 12
_ARGS = struct.Struct("<12id")
_DICT = struct.Struct("<3i2q")
_ENTRY = struct.Struct("<qb")
_LOSSES = {1: "hs", 2: "ns", 3: "softmax", 4: "ova"}
_MODELS = {1: "cbow", 2: "sg", 3: "supervised"}
_ARG_NAMES = ("dim", "ws", "epoch", "minCount", "neg", "wordNgrams", "loss", "model", "bucket",
              "minn", "maxn", "lrUpdateRate")
_MAX_DIM = 1 << 16
_CHUNK = 1 << 20


class _Reader:
    """Sequential reads of a file with clear errors at the end of the data."""

    def __init__(self, f, path: str):
        self.f, self.path, self.pos = f, path, 0
        self.buf, self.at = b"", 0

    def take(self, n: int, what: str) -> bytes:
        while len(self.buf) - self.at < n:
            more = self.f.read(max(_CHUNK, n))
            if not more:
                raise FormatError(f"{self.path}: truncated in the {what} (byte {self.pos})")
            self.buf = self.buf[self.at:] + more
            self.at = 0
        out = self.buf[self.at:self.at + n]
        self.at += n
        self.pos += n
        return out

    def word(self, what: str) -> bytes:
        while True:
            end = self.buf.find(b"\0", self.at)
            if end >= 0:
                out = self.buf[self.at:end]
                self.pos += end + 1 - self.at
                self.at = end + 1
                return out
            if len(self.buf) - self.at > 1 << 16:
                raise FormatError(f"{self.path}: a {what} longer than 64 KiB at byte {self.pos}"
                                  " (not a fastText model?)")
            more = self.f.read(_CHUNK)
            if not more:
                raise FormatError(f"{self.path}: truncated in the {what} (byte {self.pos})")
            self.buf = self.buf[self.at:] + more
            self.at = 0

    def array(self, shape: tuple[int, int], what: str) -> np.ndarray:
        out = np.empty(shape, dtype="<f4")
        view = out.reshape(-1).view(np.uint8).data
        have = min(len(self.buf) - self.at, len(view))
        view[:have] = self.buf[self.at:self.at + have]
        self.at += have
        got = have
        while got < len(view):
            n = self.f.readinto(view[got:got + (64 << 20)])
            if not n:
                raise FormatError(f"{self.path}: truncated in the {what}: {got:,} of "
                                  f"{len(view):,} bytes (byte {self.pos + got})")
            got += n
        self.pos += got
        return out


def read_fasttext_header(r: _Reader) -> dict:
    """Magic, version and args of a fastText model (from the file's start)."""
    magic, version = struct.unpack("<2i", r.take(8, "header"))
    if magic != FASTTEXT_MAGIC:
        raise FormatError(f"{r.path}: not a fastText .bin model (magic {magic}, expected "
                          f"{FASTTEXT_MAGIC})")
    if version not in (11, 12):
        raise FormatError(f"{r.path}: fastText model version {version} is not supported "
                          "(11 and 12 are)")
    values = _ARGS.unpack(r.take(_ARGS.size, "args"))
    args = dict(zip(_ARG_NAMES, values[:12]))
    args["t"] = values[12]
    args["version"] = version
    if version == 11 and args["model"] == 3:
        args["maxn"] = 0  # as fastText: old supervised models have no character n-grams
    if not 0 < args["dim"] <= _MAX_DIM or args["bucket"] < 0 or args["minn"] < 0 \
            or args["maxn"] < 0 or args["model"] not in _MODELS or args["loss"] not in _LOSSES:
        raise FormatError(f"{r.path}: implausible fastText args {args}")
    return args


def load_fasttext_bin(path) -> KeyedVectors:
    """Read a fastText ``.bin`` model into keyed vectors over a subword table.

    ``kv[word]`` then gives what fastText's ``get_word_vector`` gives, bit for bit, for words
    of the model's dictionary and for unseen words. Labels and the output matrix are not kept.

    Parameters
    ----------
    path : str or os.PathLike
        The model.

    Returns
    -------
    KeyedVectors
        The words (with their counts) over a :class:`~compactemb.tables.SubwordTable`;
        ``meta["imported_from"]`` has the model's args.

    Raises
    ------
    FormatError
        For a file that is not a fastText model, is truncated, or is quantised (``.ftz``).

    Examples
    --------
    >>> kv = load_fasttext_bin("model.bin")  # doctest: +SKIP
    >>> kv["unseenword"].shape  # doctest: +SKIP
    (100,)
    """
    from .keyed import KeyedVectors
    from .tables import DenseTable, SubwordTable
    from .vocab import Vocab

    path = os.fspath(path)
    with open(path, "rb") as f:
        r = _Reader(f, path)
        args = read_fasttext_header(r)
        size, nwords, nlabels, ntokens, prune_size = _DICT.unpack(r.take(_DICT.size,
                                                                         "dictionary"))
        if not 0 <= nwords <= size or nlabels != size - nwords or size > 1 << 31:
            raise FormatError(f"{path}: inconsistent dictionary sizes (size {size}, words "
                              f"{nwords}, labels {nlabels})")
        words, counts = [], np.empty(nwords, dtype=np.int64)
        for i in range(size):
            raw = r.word("dictionary")
            count, kind = _ENTRY.unpack(r.take(_ENTRY.size, "dictionary"))
            if kind not in (0, 1) or (kind == 0) != (i < nwords):
                raise FormatError(f"{path}: dictionary entry {i} has type {kind} (words come "
                                  "first, then labels)")
            if i < nwords:
                try:
                    words.append(raw.decode("utf-8"))
                except UnicodeDecodeError:
                    raise FormatError(f"{path}: dictionary word {i} is not UTF-8") from None
                counts[i] = count
        if prune_size >= 0:  # fastText itself reads a pruned dictionary only with .ftz
            raise FormatError(f"{path}: a pruned (quantised) fastText model; only plain .bin "
                              "models are read")
        if r.take(1, "input matrix")[0]:
            raise FormatError(f"{path}: a quantised (.ftz) fastText model; only plain .bin "
                              "models are read")
        m, n = struct.unpack("<2q", r.take(16, "input matrix"))
        if n != args["dim"] or m != nwords + args["bucket"]:
            raise FormatError(f"{path}: input matrix {m} x {n} does not match {nwords} words + "
                              f"{args['bucket']} buckets x dim {args['dim']}")
        matrix = r.array((m, n), "input matrix")
        if not np.isfinite(matrix).all():
            raise FormatError(f"{path}: the input matrix has NaN or infinite values")
        # the output matrix is not kept, but its header must be there (a whole file)
        r.take(1, "output matrix")
        mo, no = struct.unpack("<2q", r.take(16, "output matrix"))
        if mo < 0 or no != n:
            raise FormatError(f"{path}: output matrix {mo} x {no} does not match dim {n}")
        size = os.fstat(f.fileno()).st_size
        if size < r.pos + 4 * mo * no:
            raise FormatError(f"{path}: truncated in the output matrix: {size:,} bytes, the "
                              f"model needs {r.pos + 4 * mo * no:,}")
    maxn = args["maxn"]
    table = SubwordTable(DenseTable(matrix), words, minn=args["minn"] if maxn else 0,
                         maxn=maxn, buckets=args["bucket"])
    meta = {"imported_from": {"file": os.path.basename(path), "format": "fasttext-bin",
                              "args": {**args, "loss": _LOSSES[args["loss"]],
                                       "model": _MODELS[args["model"]]},
                              "ntokens": int(ntokens), "labels": int(nlabels)}}
    return KeyedVectors(Vocab(words, counts), table, meta)


def save_fasttext_bin(kv, path, *, model: str = "sg") -> None:
    """Write keyed vectors as a fastText ``.bin`` model that ``fasttext.load_model`` reads.

    A subword table is written with its n-gram rows (decoded to float32; pruned buckets as
    zero rows, which is what they mean), so ``get_word_vector`` gives the same vectors for
    every word, seen or not; any other table is written as words only (``maxn = 0``). The
    output matrix is written as zeros: the model gives word vectors, not meant for training.

    Parameters
    ----------
    kv : KeyedVectors
        Vectors with str keys.
    path : str or os.PathLike
        The file (written atomically).
    model : {"sg", "cbow"}
        The model type written in the args.

    Raises
    ------
    InputError
        For int keys or a word holding a NUL byte or whitespace.
    """
    from .storage import atomic_write
    from .tables import SubwordTable

    if kv.vocab.key_type != "str":
        raise InputError("the fastText format holds str words; these vectors have int keys")
    words = list(kv.vocab.keys)
    bad = next((w for w in words if "\0" in w or any(c.isspace() for c in w)), None)
    if bad is not None:
        raise InputError(f"the word {bad!r} cannot be written in the fastText format")
    table = kv.table
    dim = kv.dim
    if isinstance(table, SubwordTable):
        minn, maxn, bucket = table.minn, table.maxn, table.buckets
    else:
        minn = maxn = bucket = 0
    counts = kv.vocab.counts
    args = (dim, 5, 5, 1, 5, 1, 2, 2 if model == "sg" else 1, bucket, minn, maxn, 100)
    with atomic_write(path) as f:
        f.write(struct.pack("<2i", FASTTEXT_MAGIC, FASTTEXT_VERSION))
        f.write(_ARGS.pack(*args, 1e-4))
        f.write(_DICT.pack(len(words), len(words), 0, int(counts.sum()), -1))
        for w, c in zip(words, counts.tolist()):
            f.write(w.encode("utf-8") + b"\0" + _ENTRY.pack(int(c), 0))
        f.write(b"\0" + struct.pack("<2q", len(words) + bucket, dim))
        if isinstance(table, SubwordTable):
            inner, step = table.inner, 1 << 14
            n_rows = table.n_rows if table.pruned else inner.n_rows
            for s in range(0, n_rows, step):
                f.write(np.ascontiguousarray(inner.rows(s, min(n_rows, s + step)),
                                             "<f4").tobytes())
            if table.pruned:
                _write_pruned_buckets(f, table, dim)
        else:
            for _, blk in table.iter_blocks():
                f.write(np.ascontiguousarray(blk, "<f4").tobytes())
        f.write(b"\0" + struct.pack("<2q", len(words), dim))
        zeros = np.zeros((min(len(words), 4096), dim), "<f4").tobytes()
        for s in range(0, len(words), 4096):
            f.write(zeros[: 4 * dim * (min(len(words), s + 4096) - s)])


def _write_pruned_buckets(f, table, dim: int) -> None:
    """All ``buckets`` rows of a pruned subword table: kept ones decoded, the others zero."""
    kept, step = table.kept_buckets, 1 << 14
    for b0 in range(0, table.buckets, step):
        b1 = min(table.buckets, b0 + step)
        block = np.zeros((b1 - b0, dim), "<f4")
        lo, hi = np.searchsorted(kept, [b0, b1])
        if hi > lo:
            block[kept[lo:hi] - b0] = table.inner.lookup(table.n_rows + np.arange(lo, hi))
        f.write(block.tobytes())


__all__ = ["load_fasttext_bin", "save_fasttext_bin", "FASTTEXT_MAGIC", "FASTTEXT_VERSION"]
