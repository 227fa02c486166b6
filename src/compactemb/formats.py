"""Reading and writing the text and binary vector formats of other tools.

* ``word2vec``: text, header line ``<count> <dim>``, then ``word v1 ... vdim`` per line
  (the original word2vec tool with ``-binary 0``, gensim ``save_word2vec_format``);
* ``word2vec-binary``: header line ``<count> <dim>``, then per word ``word<space>`` followed by
  ``dim`` little-endian float32 values and a newline (``-binary 1``, gensim ``binary=True``);
* ``glove``: text like ``word2vec`` but without the header line (Stanford GloVe);
* ``vec``: fastText's ``.vec`` files, the ``word2vec`` text format;
* ``fasttext-bin``: fastText's binary model (words and n-gram buckets, read into a subword
  table: :mod:`compactemb.formats_fasttext`).

Text values are written with 9 significant digits, which round-trips every float32 exactly, so
a file written here and read back (by compactemb or gensim) gives identical vectors. Text files
may be gzip/xz/bz2 compressed. Writing is atomic.
"""

from __future__ import annotations

import os
import warnings

import numpy as np

from .exceptions import FormatError, InputError
from .keyed import KeyedVectors
from .tables import DenseTable
from .text import _open_binary, iter_lines
from .vocab import Vocab

FORMATS = ("word2vec", "word2vec-binary", "glove", "vec", "fasttext-bin")
WRITE_FORMATS = ("word2vec", "word2vec-binary", "fasttext-bin")


def load_vectors(path, format: str, *, limit: int | None = None) -> KeyedVectors:
    """Read vectors in one of :data:`FORMATS`; ``limit`` keeps only the first N vectors.

    Parameters
    ----------
    path : str or os.PathLike
        The file (gzip, bz2 and xz compressed files are read too).
    format : str
        One of :data:`FORMATS`.
    limit : int or None
        Read only the first ``limit`` vectors.

    Returns
    -------
    KeyedVectors
        The vectors in file order, with ``meta["imported_from"]`` describing the file.

    Raises
    ------
    InputError
        For an unknown format.
    FormatError
        Naming the file and line for a malformed file.
    """
    if format not in FORMATS:
        raise InputError(f"unknown vector format {format!r}; expected one of {', '.join(FORMATS)}")
    if format == "word2vec-binary":
        return load_word2vec_format(path, binary=True, limit=limit)
    if format == "glove":
        return load_glove(path, limit=limit)
    if format == "fasttext-bin":  # a whole model: its n-gram rows serve every word
        from .formats_fasttext import load_fasttext_bin

        if limit is not None:
            raise InputError("--limit does not apply to a fastText .bin model (its n-gram rows "
                             "are shared by all words)")
        return load_fasttext_bin(path)
    kv = load_word2vec_format(path, binary=False, limit=limit)
    kv.meta["imported_from"]["format"] = format
    return kv


def save_vectors(kv: KeyedVectors, path, format: str) -> None:
    """Write vectors in one of :data:`WRITE_FORMATS`.

    Parameters
    ----------
    kv : KeyedVectors
        The vectors (any table kind; compressed kinds are decoded).
    path : str or os.PathLike
        The file to write (atomically).
    format : str
        One of :data:`WRITE_FORMATS`.

    Raises
    ------
    InputError
        For an unknown format or a key the format cannot hold.
    """
    if format not in WRITE_FORMATS:
        raise InputError(f"cannot write format {format!r}; expected one of "
                         f"{', '.join(WRITE_FORMATS)}")
    if format == "fasttext-bin":
        from .formats_fasttext import save_fasttext_bin

        save_fasttext_bin(kv, path)
        return
    save_word2vec_format(kv, path, binary=format == "word2vec-binary")


def _check_limit(limit):
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise InputError(f"limit must be a positive integer, got {limit!r}")


def _parse_header(line: str, path: str) -> tuple[int, int]:
    parts = line.split()
    try:
        if len(parts) != 2:
            raise ValueError
        count, dim = int(parts[0]), int(parts[1])
    except ValueError:
        raise FormatError(f"{path}: line 1: expected a header '<count> <dim>', got "
                          f"{line[:60]!r} (a GloVe file has no header: use format 'glove')") \
            from None
    if count < 0 or dim < 1:
        raise FormatError(f"{path}: line 1: bad header: {count} vectors of dimension {dim}")
    return count, dim


def _check_finite(values: np.ndarray, path: str, lineno: int) -> None:
    if not np.isfinite(values).all():
        raise FormatError(f"{path}: line {lineno}: a value is NaN or infinite "
                          "(vectors must be finite numbers)")


def _split_row(line: str, dim: int | None, path: str, lineno: int):
    parts = line.rstrip().split(" ")
    if dim is None:
        dim = len(parts) - 1
        if dim < 1:
            raise FormatError(f"{path}: line {lineno}: expected a word and its values")
    if len(parts) < dim + 1:
        raise FormatError(f"{path}: line {lineno}: expected {dim} values after the word, got "
                          f"{len(parts) - 1}")
    word = " ".join(parts[: len(parts) - dim])  # a word may contain spaces (some GloVe files)
    try:
        values = np.array(parts[len(parts) - dim:], dtype=np.float32)
    except ValueError:
        bad = next(p for p in parts[len(parts) - dim:] if not _is_float(p))
        raise FormatError(f"{path}: line {lineno}: not a number: {bad[:40]!r}") from None
    return word, values, dim


def _read_vector_line(line: str, dim: int | None, path: str, lineno: int):
    """One text row as (word, values, dim), checked for width and finite values."""
    word, values, dim = _split_row(line, dim, path, lineno)
    if values.shape[0] != dim:
        raise FormatError(f"{path}: line {lineno}: expected {dim} values, got "
                          f"{values.shape[0]}")
    _check_finite(values, path, lineno)
    return word, values, dim


def _is_float(s: str) -> bool:
    try:
        float(s)
        return True
    except ValueError:
        return False


def _build(words: list[str], rows: list[np.ndarray], dim: int, path: str, fmt: str, header):
    seen: dict[str, int] = {}
    keep = []
    for i, w in enumerate(words):
        if w not in seen:
            seen[w] = i
            keep.append(i)
    if len(keep) != len(words):
        warnings.warn(f"{path}: {len(words) - len(keep)} duplicate words; kept the first "
                      "vector of each (as gensim does)", stacklevel=3)
        words = [words[i] for i in keep]
        rows = [rows[i] for i in keep]
    if not words:
        raise FormatError(f"{path}: no vectors in the file")
    weights = np.vstack(rows) if rows else np.zeros((0, dim), np.float32)
    info = {"source": os.path.basename(path), "counts": "unknown (file order kept)"}
    vocab = Vocab(words, build_info=info)
    meta = {"imported_from": {"file": os.path.basename(path), "format": fmt,
                              "header_count": header, "vectors": len(words), "dim": dim}}
    return KeyedVectors(vocab, DenseTable(weights), meta)


def load_word2vec_format(path, *, binary: bool = False, limit: int | None = None) -> KeyedVectors:
    """Read the word2vec text (``binary=False``) or binary format; gensim's reader's rules.

    Parameters
    ----------
    path : str or os.PathLike
        The file.
    binary : bool
        Read the binary format.
    limit : int or None
        Read only the first ``limit`` vectors.

    Returns
    -------
    KeyedVectors
        The vectors in file order, with ``meta["imported_from"]`` describing the file.

    Raises
    ------
    FormatError
        Naming the file and line (or vector) for a bad header, a row with the wrong number of
        values, a value that is not a number, or a truncated file.
    """
    _check_limit(limit)
    path = os.fspath(path)
    if binary:
        return _load_binary(path, limit)
    lines = iter_lines(path)
    try:
        first = next(lines)
    except StopIteration:
        raise FormatError(f"{path}: the file is empty") from None
    count, dim = _parse_header(first, path)
    want = count if limit is None else min(count, limit)
    words: list[str] = []
    rows: list[np.ndarray] = []
    lineno = 1
    for line in lines:
        lineno += 1
        if len(words) >= want:
            break
        if not line.strip():
            continue
        word, values, _ = _read_vector_line(line, dim, path, lineno)
        words.append(word)
        rows.append(values)
    if len(words) < want:
        raise FormatError(f"{path}: the header announces {count} vectors but the file has "
                          f"{len(words)} (truncated, or a wrong count)")
    return _build(words, rows, dim, path, "word2vec", count)


_READ_CHUNK = 1 << 20


class _Stream:
    """A forward-only byte buffer over a (possibly compressed) file.

    It reads 1 MB at a time, so a binary import holds only what it keeps, and stops reading at
    ``--limit``.
    """

    def __init__(self, f):
        self.f, self.buf, self.pos, self.offset, self.eof = f, b"", 0, 0, False

    def have(self, n: int) -> bool:
        """Whether ``n`` more bytes are available (reading on until they are, or EOF)."""
        if self.pos > _READ_CHUNK:  # drop what was consumed
            self.offset += self.pos
            self.buf, self.pos = self.buf[self.pos:], 0
        while len(self.buf) - self.pos < n and not self.eof:
            chunk = self.f.read(max(_READ_CHUNK, n - (len(self.buf) - self.pos)))
            if not chunk:
                self.eof = True
            self.buf += chunk
        return len(self.buf) - self.pos >= n

    def find(self, byte: bytes, within: int) -> int:
        """Position (relative) of ``byte`` within the next ``within`` bytes, or -1."""
        self.have(within)
        i = self.buf.find(byte, self.pos, self.pos + within)
        return -1 if i < 0 else i - self.pos

    def take(self, n: int) -> bytes:
        out = self.buf[self.pos:self.pos + n]
        self.pos += n
        return out

    def skip_separators(self) -> None:
        while self.have(1) and self.buf[self.pos] in b"\n\r ":
            self.pos += 1


# a dimension beyond this is a corrupt header, not a model (it would size the reads)
MAX_IMPORT_DIM = 1 << 16


def _load_binary(path: str, limit: int | None) -> KeyedVectors:
    with _open_binary(path) as f:
        stream = _Stream(f)
        nl = stream.find(b"\n", 4096)
        if nl < 0:
            raise FormatError(f"{path}: no header line")
        try:
            header = stream.take(nl).decode("ascii")
        except UnicodeDecodeError:
            raise FormatError(f"{path}: line 1: the header is not text") from None
        stream.take(1)
        count, dim = _parse_header(header, path)
        if dim > MAX_IMPORT_DIM:
            raise FormatError(f"{path}: line 1: dimension {dim} is beyond {MAX_IMPORT_DIM} "
                              "(a corrupt header?)")
        want = count if limit is None else min(count, limit)
        nbytes = dim * 4
        words, rows = [], []
        for i in range(want):  # stops at --limit: the rest of the file is never read
            stream.skip_separators()  # the newline after each vector is optional
            pos = stream.offset + stream.pos
            sp = stream.find(b" ", 4096)
            if sp < 0 or not stream.have(sp + 1 + nbytes):
                raise FormatError(f"{path}: truncated at vector {i + 1} of {count} "
                                  f"(byte {pos}); is it a text file? (use format 'word2vec')")
            try:
                word = stream.take(sp).decode("utf-8")
            except UnicodeDecodeError:
                raise FormatError(f"{path}: vector {i + 1}: the word is not valid UTF-8 "
                                  f"(byte {pos})") from None
            stream.take(1)
            values = np.frombuffer(stream.take(nbytes), dtype="<f4").astype(np.float32)
            if not np.isfinite(values).all():
                raise FormatError(f"{path}: vector {i + 1} ({word[:40]!r}): a value is NaN or "
                                  "infinite")
            words.append(word)
            rows.append(values)
    return _build(words, rows, dim, path, "word2vec-binary", count)


def load_glove(path, *, limit: int | None = None) -> KeyedVectors:
    """Read GloVe's text format (no header line; the dimension is that of the first row).

    Parameters
    ----------
    path : str or os.PathLike
        The file.
    limit : int or None
        Read only the first ``limit`` vectors.

    Returns
    -------
    KeyedVectors
        The vectors in file order, with ``meta["imported_from"]`` describing the file.

    Raises
    ------
    FormatError
        Naming the file and line for a row of another width or a word2vec header.
    """
    _check_limit(limit)
    path = os.fspath(path)
    words: list[str] = []
    rows: list[np.ndarray] = []
    dim = None
    for lineno, line in enumerate(iter_lines(path), 1):
        if limit is not None and len(words) >= limit:
            break
        if not line.strip():
            continue
        head = line.split()
        if lineno == 1 and len(head) == 2 and all(h.isdigit() for h in head):
            raise FormatError(f"{path}: line 1 looks like a word2vec header {line.strip()!r}; "
                              "use format 'word2vec' or 'vec'")
        word, values, dim = _read_vector_line(line, dim, path, lineno)
        words.append(word)
        rows.append(values)
    if not words or dim is None:
        raise FormatError(f"{path}: no vectors in the file")
    return _build(words, rows, dim, path, "glove", None)


def save_word2vec_format(kv: KeyedVectors, path, *, binary: bool = False,
                         block_rows: int = 16384) -> None:
    """Write ``kv`` (any table kind, decoded block by block) in the word2vec format.

    Keys must not contain spaces or newlines (the format cannot hold them).

    Parameters
    ----------
    kv : KeyedVectors
        The vectors.
    path : str or os.PathLike
        The file to write (atomically).
    binary : bool
        Write the binary format instead of text.
    block_rows : int
        Rows decoded at a time (bounds the memory used).

    Raises
    ------
    InputError
        For an empty key or one containing whitespace.
    """
    from .storage import atomic_write

    keys = [str(k) for k in kv.vocab.keys]
    bad = next((k for k in keys if not k or any(c in k for c in " \n\r\t")), None)
    if bad is not None:
        raise InputError(f"the key {bad!r} cannot be written in the word2vec format "
                         "(empty, or contains whitespace)")
    dim = kv.dim
    row_fmt = " ".join(["%.9g"] * dim)
    with atomic_write(path, "wb") as f:
        f.write(f"{len(keys)} {dim}\n".encode("ascii"))
        for start, block in kv.table.iter_blocks(block_rows):
            block = np.ascontiguousarray(block, dtype="<f4")
            if binary:
                for i, row in enumerate(block):
                    f.write(keys[start + i].encode("utf-8") + b" " + row.tobytes() + b"\n")
            else:
                lines = [f"{keys[start + i]} {row_fmt % tuple(row.tolist())}\n"
                         for i, row in enumerate(block)]
                f.write("".join(lines).encode("utf-8"))


__all__ = ["FORMATS", "WRITE_FORMATS", "load_vectors", "save_vectors", "load_word2vec_format",
           "load_glove", "save_word2vec_format"]
