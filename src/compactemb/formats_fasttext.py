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

Quantised (``.ftz``, ``FastText::quantize``) models: a quantised matrix is ``QuantMatrix::save``::

    uint8 qnorm; int64 m, n; int32 codesize; codesize uint8 codes (m rows x nsubq)
    product quantiser: int32 dim, nsubq, dsub, lastdsub; dim * 256 float32 centroids
        (sub-quantiser j < nsubq-1 at [j*256*dsub + c*dsub], the last one at
        [j*256*dsub + c*lastdsub], lastdsub = dim - (nsubq-1)*dsub)
    qnorm only: m uint8 norm codes; a quantiser of dim 1 (1 x 256 norm centroids)

and row i decodes as centroid values times its norm centroid (1 without qnorm). With
``-cutoff`` the dictionary is pruned: only kept words are listed, and ``pruneidx_size`` pairs
(bucket, row) map the kept buckets to n-gram rows ``nwords + row`` (by decreasing norm); the
n-grams of other buckets are left out of a word's mean.
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
_KSUB = 256  # centroids per sub-quantiser (fastText's nbits = 8)


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

    def raw(self, nbytes: int, dtype, what: str) -> np.ndarray:
        """``nbytes`` bytes as a 1-D array of ``dtype``."""
        dtype = np.dtype(dtype)
        return self.array((nbytes // dtype.itemsize,), what, dtype)

    def skip(self, nbytes: int, what: str) -> None:
        """Pass over ``nbytes`` bytes (that must be there)."""
        have = min(len(self.buf) - self.at, nbytes)
        self.at += have
        self.pos += have
        if nbytes > have:
            self.f.seek(nbytes - have, os.SEEK_CUR)
            self.pos += nbytes - have
            if self.pos > os.fstat(self.f.fileno()).st_size:
                raise FormatError(f"{self.path}: truncated in the {what} (byte {self.pos})")

    def array(self, shape: tuple, what: str, dtype="<f4") -> np.ndarray:
        out = np.empty(shape, dtype=dtype)
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


def _read_qmatrix(r: _Reader, what: str, *, keep: bool) -> dict:
    """A ``QuantMatrix`` as ``QuantMatrix::save`` writes it.

    qnorm, m, n, codes, the product quantiser and, with qnorm, the norms' codes and their
    one-dimensional quantiser.
    """
    qnorm = r.take(1, what)[0]
    m, n = struct.unpack("<2q", r.take(16, what))
    (codesize,) = struct.unpack("<i", r.take(4, what))
    if qnorm not in (0, 1) or m < 0 or not 0 < n <= _MAX_DIM:
        raise FormatError(f"{r.path}: implausible quantised {what} header (qnorm {qnorm}, "
                          f"{m} x {n})")
    codes = None
    if keep:
        codes = r.raw(codesize, np.uint8, what)
    else:
        r.skip(codesize, what)
    pq = _read_pq(r, what)
    if pq["dim"] != n or codesize != m * pq["nsubq"]:
        raise FormatError(f"{r.path}: the quantised {what} ({m} x {n}, {codesize} code bytes) "
                          f"does not match its quantiser (dim {pq['dim']}, {pq['nsubq']} "
                          "sub-quantisers)")
    out = {"qnorm": bool(qnorm), "m": m, "n": n, "pq": pq,
           "codes": None if codes is None else codes.reshape(m, pq["nsubq"])}
    if qnorm:
        norm_codes = None
        if keep:
            norm_codes = r.raw(m, np.uint8, what)
        else:
            r.skip(m, what)
        npq = _read_pq(r, f"{what} norms")
        if npq["dim"] != 1 or npq["nsubq"] != 1:
            raise FormatError(f"{r.path}: the {what} norms' quantiser has dim {npq['dim']}, "
                              "expected 1")
        out["norm_codes"], out["npq"] = norm_codes, npq
    return out


def _read_pq(r: _Reader, what: str) -> dict:
    """A ``ProductQuantizer``: int32 dim, nsubq, dsub, lastdsub, then dim * 256 float32."""
    dim, nsubq, dsub, lastdsub = struct.unpack("<4i", r.take(16, f"{what} quantiser"))
    if not 0 < dim <= _MAX_DIM or not 0 < dsub <= dim or nsubq != -(-dim // dsub) \
            or lastdsub != dim - (nsubq - 1) * dsub:
        raise FormatError(f"{r.path}: implausible product quantiser in the {what} (dim {dim}, "
                          f"nsubq {nsubq}, dsub {dsub}, lastdsub {lastdsub})")
    centroids = r.raw(dim * _KSUB * 4, np.dtype("<f4"), f"{what} quantiser")
    if not np.isfinite(centroids).all():
        raise FormatError(f"{r.path}: the {what} quantiser has NaN or infinite centroids")
    return {"dim": dim, "nsubq": nsubq, "dsub": dsub, "lastdsub": lastdsub,
            "centroids": centroids}


def _pq_codebooks(pq: dict) -> list[np.ndarray]:
    """Per sub-quantiser (256, width) centroid blocks (``ProductQuantizer::get_centroids``)."""
    c, dsub, nsubq = pq["centroids"], pq["dsub"], pq["nsubq"]
    books = [c[m * _KSUB * dsub:(m + 1) * _KSUB * dsub].reshape(_KSUB, dsub)
             for m in range(nsubq - 1)]
    last = (nsubq - 1) * _KSUB * dsub
    books.append(c[last:last + _KSUB * pq["lastdsub"]].reshape(_KSUB, pq["lastdsub"]))
    return books


def _decode_qmatrix(q: dict, rows: np.ndarray) -> np.ndarray:
    """float32 rows as ``QuantMatrix::addRowToVector`` adds them.

    Each centroid value times the row's norm centroid (float32 products; 1 without qnorm).
    """
    books = _pq_codebooks(q["pq"])
    out = np.empty((rows.shape[0], q["n"]), np.float32)
    for s in range(0, rows.shape[0], 1 << 16):
        sel = rows[s:s + (1 << 16)]
        codes = q["codes"][sel]
        block = np.concatenate([books[m][codes[:, m]] for m in range(len(books))], axis=1)
        if q["qnorm"]:
            norms = q["npq"]["centroids"][q["norm_codes"][sel]]
            block = block * norms[:, None]  # float32 * float32, as fastText's alpha * c[n]
        out[s:s + sel.shape[0]] = block
    return out


def load_fasttext_bin(path) -> KeyedVectors:
    """Read a fastText model (``.bin`` or quantised ``.ftz``) into keyed vectors.

    The vectors are over a subword table: ``kv[word]`` gives what fastText's
    ``get_word_vector`` gives, bit for bit, for words of the model's dictionary and for unseen
    words. Labels and the output matrix are not kept.

    A quantised model's input matrix becomes a PQ inner table holding fastText's own codes
    and centroids when that is exact (no norm quantisation, ``dsub`` dividing dim); otherwise
    (``-qnorm``, or a shorter last sub-vector) its rows are decoded to float32 as fastText
    decodes them. A pruned dictionary (``-cutoff``) keeps only the kept buckets, whose
    n-grams fastText leaves out of a word's mean (``SubwordTable(skip_pruned=True)``).

    Parameters
    ----------
    path : str or os.PathLike
        The model.

    Returns
    -------
    KeyedVectors
        The words (with their counts) over a :class:`~compactemb.tables.SubwordTable`;
        ``meta["imported_from"]`` has the model's args (and ``quantised``).

    Raises
    ------
    FormatError
        For a file that is not a fastText model, is truncated or inconsistent.

    Examples
    --------
    >>> kv = load_fasttext_bin("model.bin")  # doctest: +SKIP
    >>> kv["unseenword"].shape  # doctest: +SKIP
    (100,)
    """
    from .keyed import KeyedVectors
    from .tables import DenseTable, EmbeddingTable, PQTable, SubwordTable
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
        kept = None
        if prune_size >= 0:  # (bucket, row) pairs of the buckets a quantised model kept
            if prune_size > min(args["bucket"], 1 << 31):
                raise FormatError(f"{path}: {prune_size} pruned-dictionary entries for "
                                  f"{args['bucket']} buckets")
            pairs = r.raw(8 * prune_size, np.dtype("<i4"), "pruned dictionary").reshape(-1, 2)
            kept = _kept_buckets(path, pairs, args["bucket"])
        n_ngram_rows = args["bucket"] if kept is None else kept[0].shape[0]
        quantised = r.take(1, "input matrix")[0]
        if quantised not in (0, 1):
            raise FormatError(f"{path}: input matrix flag {quantised} (expected 0 or 1)")
        if quantised:
            q = _read_qmatrix(r, "input matrix", keep=True)
            m, n = q["m"], q["n"]
        else:
            if kept is not None:  # as fastText, which refuses these
                raise FormatError(f"{path}: a pruned dictionary in a model that is not "
                                  "quantised (fastText refuses these too)")
            m, n = struct.unpack("<2q", r.take(16, "input matrix"))
        if n != args["dim"] or m != nwords + n_ngram_rows:
            raise FormatError(f"{path}: input matrix {m} x {n} does not match {nwords} words + "
                              f"{n_ngram_rows} buckets x dim {args['dim']}")
        if not quantised:
            matrix = r.array((m, n), "input matrix")
            if not np.isfinite(matrix).all():
                raise FormatError(f"{path}: the input matrix has NaN or infinite values")
        # the output matrix is not kept, but it must be there whole
        qout = r.take(1, "output matrix")[0]
        if qout not in (0, 1):
            raise FormatError(f"{path}: output matrix flag {qout} (expected 0 or 1)")
        if quantised and qout:
            qo = _read_qmatrix(r, "output matrix", keep=False)
            if qo["n"] != n:
                raise FormatError(f"{path}: output matrix dim {qo['n']} does not match dim {n}")
            end = r.pos
        else:
            mo, no = struct.unpack("<2q", r.take(16, "output matrix"))
            if mo < 0 or no != n:
                raise FormatError(f"{path}: output matrix {mo} x {no} does not match dim {n}")
            end = r.pos + 4 * mo * no
        size = os.fstat(f.fileno()).st_size
        if size < end:
            raise FormatError(f"{path}: truncated in the output matrix: {size:,} bytes, the "
                              f"model needs {end:,}")
    order = np.arange(m, dtype=np.int64)
    if kept is not None:  # our n-gram rows follow the sorted bucket ids
        order[nwords:] = nwords + kept[1]
    inner: EmbeddingTable
    if not quantised:
        inner = DenseTable(matrix)
        how = None
    elif not q["qnorm"] and q["pq"]["lastdsub"] == q["pq"]["dsub"]:
        pq = q["pq"]
        inner = PQTable(pq["centroids"].reshape(pq["nsubq"], _KSUB, pq["dsub"]),
                        q["codes"][order])
        how = "pq"
    else:
        inner = DenseTable(_decode_qmatrix(q, order))
        how = "decoded to float32"
    maxn = args["maxn"]
    table = SubwordTable(inner, words, minn=args["minn"] if maxn else 0, maxn=maxn,
                         buckets=args["bucket"], kept_buckets=None if kept is None else kept[0],
                         skip_pruned=kept is not None)
    imported = {"file": os.path.basename(path), "format": "fasttext-bin",
                "args": {**args, "loss": _LOSSES[args["loss"]], "model": _MODELS[args["model"]]},
                "ntokens": int(ntokens), "labels": int(nlabels)}
    if quantised:
        imported["quantised"] = {"dsub": q["pq"]["dsub"], "qnorm": q["qnorm"],
                                 "pruned": kept is not None, "input": how}
    return KeyedVectors(Vocab(words, counts), table, {"imported_from": imported})


def _kept_buckets(path: str, pairs: np.ndarray, buckets: int) -> tuple[np.ndarray, np.ndarray]:
    """(sorted kept bucket ids, their rows among the n-gram rows) of a pruned dictionary."""
    bucket, row = pairs[:, 0].astype(np.int64), pairs[:, 1].astype(np.int64)
    n = bucket.shape[0]
    if n and (bucket.min() < 0 or bucket.max() >= buckets or row.min() < 0 or row.max() >= n
              or np.unique(bucket).shape[0] != n or np.unique(row).shape[0] != n):
        raise FormatError(f"{path}: the pruned dictionary is not a one-to-one map of buckets "
                          f"in [0, {buckets}) to rows in [0, {n})")
    by_bucket = np.argsort(bucket, kind="stable")
    return bucket[by_bucket], row[by_bucket]


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
        For int keys, a word holding a NUL byte or whitespace, or a subword table imported
        from a pruned ``.ftz`` (``skip_pruned``).
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
    if isinstance(table, SubwordTable) and table.skip_pruned:
        raise InputError("this subword table leaves pruned n-grams out of its means (fastText's "
                         "pruned .ftz dictionary), which a plain .bin cannot hold")
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
