"""Reading text corpora and splitting them into tokens.

A corpus is a plain-text file, optionally ``.gz`` or ``.xz`` compressed, holding one sentence or
paragraph per line, in UTF-8. Reading streams: a corpus larger than memory works, and a line
longer than ``max_line_bytes`` (a corpus that is one huge line) is cut at whitespace into pieces
instead of being loaded whole or silently truncated.

The default tokenizer lowercases and keeps runs of letters (``[^\\W\\d_]+``, any script):
"Mr. Darcy's 2 horses" gives ``["mr", "darcy", "s", "horses"]``.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import queue
import re
import sys
import threading
from collections.abc import Generator, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .exceptions import InputError

DEFAULT_PATTERN = r"[^\W\d_]+"
_BLOCK = 1 << 20


@dataclass(frozen=True)
class Tokenizer:
    """Split a line into tokens with a regular expression.

    Parameters
    ----------
    pattern : str, default ``[^\\W\\d_]+``
        Each match is one token. ``r"\\S+"`` splits on whitespace only.
    lowercase : bool, default True
        Lowercase the line before matching.
    """

    pattern: str = DEFAULT_PATTERN
    lowercase: bool = True
    if TYPE_CHECKING:  # an instance attribute set by __post_init__, not a dataclass field
        def _findall(self, line: str) -> list[str]: ...

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "_findall", re.compile(self.pattern).findall)
        except re.error as exc:
            raise InputError(
                f"tokenizer pattern {self.pattern!r} is not a valid regex: {exc}") from None

    def __call__(self, line: str) -> list[str]:
        """The tokens of one line."""
        return self._findall(line.lower() if self.lowercase else line)

    def tokenize_lines(self, lines: list[str]) -> tuple[list[str], np.ndarray]:
        """Tokenize many lines at once.

        Gives the tokens of ``[self(line) for line in lines]`` concatenated, and the number of
        tokens of each line.

        Patterns that are one character class repeated (the default ``[^\\W\\d_]+``,
        ``\\S+``, ``\\w+``, ...) run over the whole block in NumPy: lowercase, mark the
        characters of the class through a table, split; other patterns run line by line.

        Parameters
        ----------
        lines : list of str

        Returns
        -------
        tokens : list of str
        lengths : ndarray of int64, shape (len(lines),)

        Examples
        --------
        >>> Tokenizer().tokenize_lines(["A cat.", "", "Dogs, 2 dogs"])
        (['a', 'cat', 'dogs', 'dogs'], array([2, 0, 2]))
        """
        table = _run_table(self.pattern)
        if table is None or not lines:
            return self._tokenize_each(lines)
        text = "\n".join(lines)
        if self.lowercase and not text.isascii():
            text = text.lower()  # exact Unicode lowercasing (final sigma, dotted I)
        try:
            codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32).copy()
        except UnicodeEncodeError:  # lone surrogates (only from in-memory strings)
            return self._tokenize_each(lines)
        if self.lowercase and text.isascii():
            upper = (codes >= 65) & (codes <= 90)
            codes[upper] += 32
        if codes.size and codes.max() >= table.size:  # beyond the BMP (emoji, old scripts)
            table = _run_table(self.pattern, 0x110000)
            assert table is not None  # a pattern with a BMP table has the full one
        in_token = table[codes]
        starts = np.flatnonzero(in_token[1:] & ~in_token[:-1]) + 1
        if in_token.size and in_token[0]:
            starts = np.concatenate([[0], starts])
        newlines = np.flatnonzero(codes == 10)
        if newlines.size != len(lines) - 1:  # lines holding newlines: keep them apart
            return self._tokenize_each(lines)
        lengths = np.bincount(np.searchsorted(newlines, starts), minlength=len(lines))
        codes[~in_token] = 32  # every character outside the class becomes a space
        tokens = codes.tobytes().decode("utf-32-le").split()
        return tokens, lengths.astype(np.int64, copy=False)

    def _tokenize_each(self, lines) -> tuple[list[str], np.ndarray]:
        per_line = [self(line) for line in lines]
        return ([t for toks in per_line for t in toks],
                np.fromiter(map(len, per_line), dtype=np.int64, count=len(per_line)))

    def to_dict(self) -> dict:
        """The settings as a JSON-able dict (stored in model files)."""
        return {"pattern": self.pattern, "lowercase": self.lowercase}

    @classmethod
    def from_dict(cls, d: dict | None, *, untrusted: bool = False) -> Tokenizer:
        """The tokenizer :meth:`to_dict` describes; the default one for None or ``{}``.

        With ``untrusted`` (a tokenizer stored in a file) only the known fields are accepted
        and the pattern must pass :func:`check_safe_pattern`, so a file cannot make the loader
        compile a regex that backtracks for minutes.

        Parameters
        ----------
        d : dict or None
            ``{"pattern": ..., "lowercase": ...}``.
        untrusted : bool
            Check the fields and the pattern (a tokenizer read from a file).

        Returns
        -------
        Tokenizer
            The tokenizer.

        Raises
        ------
        InputError
            For unknown fields or an unsafe pattern with ``untrusted``.
        """
        if not d:
            return cls()
        if untrusted:
            if not isinstance(d, dict) or set(d) - {"pattern", "lowercase"}:
                raise InputError(f"stored tokenizer {str(d)[:80]}: expected the fields "
                                 "'pattern' and 'lowercase' only")
            if not isinstance(d.get("lowercase", True), bool):
                raise InputError("stored tokenizer: 'lowercase' must be true or false")
            check_safe_pattern(d.get("pattern", DEFAULT_PATTERN))
        return cls(**d)


MAX_STORED_PATTERN = 200


def check_safe_pattern(pattern) -> str:
    """Accept a tokenizer pattern read from a file only from a safe subset of regexes.

    The subset: at most 200 characters, no backreferences, no quantifier inside a repeated group
    (``(a+)+``) and no alternation inside a repeated group (``(a|a)*``) - the shapes behind
    catastrophic backtracking - and at most 8 quantifiers in all. Every pattern the trainers
    write (``[^\\W\\d_]+``, ``\\S+``, ``\\w+|[^\\w\\s]``) is in it.

    Parameters
    ----------
    pattern : str
        The stored pattern.

    Returns
    -------
    str
        ``pattern``.

    Raises
    ------
    InputError
        When the pattern is not a string, not a valid regex, or outside the subset.

    Examples
    --------
    >>> check_safe_pattern(r"\\w+|[^\\w\\s]")
    '\\\\w+|[^\\\\w\\\\s]'
    >>> check_safe_pattern("(a+)+$")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    compactemb.exceptions.InputError: stored tokenizer pattern '(a+)+$': a repeated group ...
    """
    if sys.version_info >= (3, 11):
        import re._parser as sre_parse
    else:  # pragma: no cover - Python 3.10
        import sre_parse

    if not isinstance(pattern, str) or not pattern or len(pattern) > MAX_STORED_PATTERN:
        raise InputError(f"stored tokenizer pattern {str(pattern)[:80]!r}: expected a string of "
                         f"1 to {MAX_STORED_PATTERN} characters")
    try:
        tree = sre_parse.parse(pattern)
    except (re.error, RecursionError, OverflowError) as exc:
        raise InputError(f"stored tokenizer pattern {pattern!r} is not a valid regex: "
                         f"{exc}") from None
    repeats = {sre_parse.MAX_REPEAT, sre_parse.MIN_REPEAT, getattr(sre_parse, "POSSESSIVE_REPEAT",
                                                                   None)}
    refs = {sre_parse.GROUPREF, getattr(sre_parse, "GROUPREF_EXISTS", None)}
    n_repeats = 0

    def walk(items, inside_repeat: bool) -> None:
        nonlocal n_repeats
        for op, arg in items:
            if op in refs:
                raise InputError(f"stored tokenizer pattern {pattern!r}: backreferences are not "
                                 "accepted from a file")
            if op in repeats:
                n_repeats += 1
                many = arg[1] > 1  # ? and {0,1} repeat nothing
                if inside_repeat and many:
                    raise InputError(f"stored tokenizer pattern {pattern!r}: a repeated group "
                                     "holds a quantifier or an alternation (catastrophic "
                                     "backtracking); not accepted from a file")
                walk(arg[2], inside_repeat or many)
            elif op is sre_parse.BRANCH:
                if inside_repeat:
                    raise InputError(f"stored tokenizer pattern {pattern!r}: a repeated group "
                                     "holds a quantifier or an alternation (catastrophic "
                                     "backtracking); not accepted from a file")
                for branch in arg[1]:
                    walk(branch, inside_repeat)
            elif op is sre_parse.SUBPATTERN:
                walk(arg[-1], inside_repeat)
            elif op in (sre_parse.ASSERT, sre_parse.ASSERT_NOT):
                walk(arg[1], inside_repeat)

    walk(tree, False)
    if n_repeats > 8:
        raise InputError(f"stored tokenizer pattern {pattern!r}: more than 8 quantifiers; "
                         "not accepted from a file")
    return pattern


_ONE_CLASS_RUN = re.compile(r"(\[(?:\\.|[^\]\\])+\]|\\[wWdDsS])\+")
_RUN_TABLES: dict = {}


def _run_table(pattern: str, size: int = 0x10000) -> np.ndarray | None:
    """For a pattern ``C+`` (one character class repeated): a bool table of ``C``'s characters.

    The table covers the code points below ``size`` (the BMP first; all of Unicode once a text needs
    it). None for any other pattern, or a class holding a whitespace character (the block path
    splits on whitespace).
    """
    table = _RUN_TABLES.get(pattern, False)
    if table is None or (table is not False and table.size >= size):
        return table
    table = None
    if _ONE_CLASS_RUN.fullmatch(pattern) is not None:
        every_char = "".join(map(chr, range(size)))
        table = np.zeros(size, dtype=bool)
        for run in re.finditer(pattern, every_char):
            table[run.start():run.end()] = True
        spaces = [c for c in range(0x3001) if chr(c).isspace()]  # U+3000 is the last
        if table[spaces].any():
            table = None
    _RUN_TABLES[pattern] = table
    return table


def _open_binary(path: str):
    if not os.path.exists(path):
        raise InputError(f"{path}: no such file")
    if os.path.isdir(path):
        raise InputError(f"{path}: is a directory, expected a text file")
    with open(path, "rb") as f:
        magic = f.read(6)
    if magic.startswith(b"\x1f\x8b"):
        return gzip.open(path, "rb")
    if magic.startswith(b"\xfd7zXZ\x00"):
        return lzma.open(path, "rb")
    if magic.startswith(b"BZh"):
        return bz2.open(path, "rb")
    return open(path, "rb")


def iter_lines(path: str | os.PathLike, max_line_bytes: int = _BLOCK) -> Iterator[str]:
    """Yield the lines of a text corpus (plain, .gz, .xz, .bz2), decoded as strict UTF-8.

    A line longer than ``max_line_bytes`` is yielded in pieces cut at a space, so memory stays
    bounded and nothing is dropped.

    Parameters
    ----------
    path : str or os.PathLike
        The corpus file.
    max_line_bytes : int
        The longest piece of a line yielded at once.

    Yields
    ------
    str
        Each line, without its line break.

    Raises
    ------
    InputError
        Naming the file and line for binary content or invalid UTF-8.
    """
    for lines in iter_line_blocks(path, max_line_bytes):
        yield from lines


def iter_line_blocks(path: str | os.PathLike, max_line_bytes: int = _BLOCK) -> Iterator[list[str]]:
    """The lines of :func:`iter_lines` (the same strings, the same errors), a block at a time.

    Each block of about 1 MB is decoded with one call, and a compressed file is read and
    decompressed in a background thread (the decompressors release the GIL), so a tokenizer
    working on whole blocks overlaps with the reading.

    Parameters
    ----------
    path : str or os.PathLike
    max_line_bytes : int
        Longer lines are cut at a space into pieces, each its own line.

    Returns
    -------
    iterator of list of str

    Raises
    ------
    InputError
        Missing file, binary content, or invalid UTF-8 (naming the line).

    Examples
    --------
    >>> import tempfile, os
    >>> d = tempfile.mkdtemp(); p = os.path.join(d, "c.txt")
    >>> with open(p, "w") as f:
    ...     _ = f.write("a b\\nc\\n")
    >>> [line for block in iter_line_blocks(p) for line in block]
    ['a b', 'c']
    """
    path = os.fspath(path)
    try:
        with _open_binary(path) as f:
            compressed = not isinstance(f, io.BufferedReader)
            blocks = _prefetch(f, path) if compressed else _read_blocks(f, path)
            try:
                yield from _split_blocks(blocks, path, max_line_bytes)
            finally:
                blocks.close()  # stops the reader thread before the file closes
    except PermissionError:
        raise InputError(f"{path}: permission denied") from None


def _split_blocks(blocks, path: str, max_line_bytes: int) -> Iterator[list[str]]:
    lineno = 0
    carry = b""
    first = True
    for block in blocks:
        if first:
            first = False
            if b"\x00" in block[:8192]:
                raise InputError(f"{path}: looks like a binary file (NUL bytes), "
                                 "expected UTF-8 text")
            if block.startswith(b"\xef\xbb\xbf"):
                block = block[3:]
        data = carry + block if carry else block
        end = data.rfind(b"\n")
        if end >= 0:
            carry = data[end + 1:]
            lines = _decode_block(data[:end], path, lineno)
            lineno += len(lines)
            yield lines
        else:
            carry = data
        pieces = []
        while len(carry) > max_line_bytes:
            cut = carry.rfind(b" ", 0, max_line_bytes)
            if cut <= 0:
                cut = max_line_bytes
                while cut > 0 and (carry[cut] & 0xC0) == 0x80:  # stay on a char boundary
                    cut -= 1
            pieces.append(_decode(carry[:cut], path, lineno + 1))
            carry = carry[cut:]
        if pieces:
            yield pieces
    if carry:
        lineno += 1
        yield [_decode(carry, path, lineno)]


def _read_blocks(f, path: str) -> Generator[bytes, None, None]:
    while True:
        try:
            block = f.read(_BLOCK)
        except (OSError, EOFError, lzma.LZMAError) as exc:
            raise InputError(f"{path}: cannot be decompressed ({exc})") from None
        if not block:
            return
        yield block


def _prefetch(f, path: str, depth: int = 4) -> Generator[bytes, None, None]:
    """``_read_blocks`` run in a thread, ``depth`` blocks ahead; errors re-raised here."""
    blocks: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                blocks.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def reader():
        try:
            for block in _read_blocks(f, path):
                if not put(block):
                    return
            put(None)
        except BaseException as exc:  # handed to the consumer, which raises it
            put(exc)

    thread = threading.Thread(target=reader, name="compactemb-read", daemon=True)
    thread.start()
    try:
        while True:
            item = blocks.get()
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join()


def _decode_block(raw: bytes, path: str, lineno: int) -> list[str]:
    """Lines ``lineno + 1 ...`` of a block (without its last newline), one decode call."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line_start = raw.rfind(b"\n", 0, exc.start) + 1
        bad_line = lineno + raw.count(b"\n", 0, exc.start) + 1
        raise InputError(
            f"{path}: line {bad_line}: not valid UTF-8 (byte {exc.start - line_start} of the "
            "line); convert the file to UTF-8") from None
    lines = text.split("\n")
    if "\r" in text:
        lines = [line.rstrip("\r") for line in lines]
    return lines


def _decode(raw: bytes, path: str, lineno: int) -> str:
    try:
        return raw.decode("utf-8").rstrip("\r")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{path}: line {lineno}: not valid UTF-8 (byte {exc.start} of the line); "
            "convert the file to UTF-8"
        ) from None


class Corpus:
    """Several corpus files read as one, in order; iterable any number of times (lines).

    Parameters
    ----------
    paths : str, os.PathLike or sequence of them
        The files, read in this order.

    Raises
    ------
    InputError
        For an empty list of files.
    """

    def __init__(self, paths):
        self.paths = [os.fspath(p) for p in ([paths] if isinstance(paths, (str, os.PathLike))
                                             else paths)]
        if not self.paths:
            raise InputError("a corpus needs at least one file")

    def __iter__(self) -> Iterator[str]:
        for p in self.paths:
            yield from iter_lines(p)

    def __repr__(self) -> str:
        return " + ".join(self.paths)


def iter_sentences(
    corpus: str | os.PathLike | Iterable, tokenizer: Tokenizer | None = None
) -> Iterator[list[str]]:
    """Yield token lists from a corpus path, an iterable of strings, or of token lists.

    Parameters
    ----------
    corpus : str, os.PathLike or iterable
        A corpus file, an iterable of lines, or an iterable of token lists (used as given).
    tokenizer : Tokenizer or None
        Splits lines into tokens; None takes the default :class:`Tokenizer`.

    Yields
    ------
    list of str
        The tokens of each sentence (line).
    """
    tok = tokenizer or Tokenizer()
    if isinstance(corpus, (str, os.PathLike)):
        for line in iter_lines(corpus):
            yield tok(line)
        return
    for item in corpus:
        yield tok(item) if isinstance(item, str) else list(item)


class TokenInterner:
    """Token ids and counts of a corpus without a Python object per token.

    For tokenizers whose pattern is one character class repeated (the default): each block of
    lines is lowercased, turned into code points and handed to a numba kernel that finds the
    tokens and interns them in a hash table keyed by their code points. Tokens are numbered in
    first-seen order over everything added; only the distinct ones ever become ``str``.

    Parameters
    ----------
    tokenizer : Tokenizer
        Must satisfy :meth:`supports`.

    Examples
    --------
    >>> interner = TokenInterner(Tokenizer())
    >>> interner.add_lines(["The cat", "", "the dog"]).tolist()
    [0, 1, -1, 0, 2, -1]
    >>> interner.keys(), interner.counts().tolist()
    (['the', 'cat', 'dog'], [2, 1, 1])
    """

    def __init__(self, tokenizer: Tokenizer):
        from ._native import kernels

        if not self.supports(tokenizer):
            raise InputError(f"TokenInterner needs a pattern that is one character class "
                             f"repeated, not {tokenizer.pattern!r}")
        self.tokenizer = tokenizer
        self._kernels = kernels("compactemb._text_kernels")
        self._slots = np.full(1 << 16, -1, dtype=np.int32)  # key ids, -1: empty
        self._hash = np.zeros(1 << 14, dtype=np.uint64)
        self._start = np.zeros(1 << 14, dtype=np.int64)
        self._len = np.zeros(1 << 14, dtype=np.int64)
        self._counts = np.zeros(1 << 14, dtype=np.int64)
        self._chars = np.zeros(1 << 18, dtype=np.uint32)
        self._state = np.zeros(2, dtype=np.int64)  # keys, code points used

    @staticmethod
    def supports(tokenizer: Tokenizer) -> bool:
        """Whether the tokenizer's pattern is one character class repeated.

        Parameters
        ----------
        tokenizer : Tokenizer
            The tokenizer.

        Returns
        -------
        bool
            Whether the interner can tokenize like it.
        """
        return _run_table(tokenizer.pattern) is not None

    def __len__(self) -> int:
        return int(self._state[0])

    def add_lines(self, lines: list[str]) -> np.ndarray:
        """Intern the tokens of ``lines``.

        Returns their ids (int32), ``-1`` after each line with a token (the token cache's layout).

        Parameters
        ----------
        lines : list of str
            The lines.

        Returns
        -------
        numpy.ndarray of int32
            Token ids and separators.
        """
        text = "\n".join(lines)
        if text.count("\n") != max(len(lines) - 1, 0):  # a line holding newlines stays one
            text = "\n".join(line.replace("\n", " ") for line in lines)
        if self.tokenizer.lowercase:
            text = text.lower()
        codes = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
        table = _run_table(self.tokenizer.pattern)
        assert table is not None  # supports() admitted only tokenizers that have one
        if codes.size and int(codes.max()) >= table.size:
            table = _run_table(self.tokenizer.pattern, 0x110000)
            assert table is not None
        self._reserve(codes.size)
        out = np.empty(codes.size + 2, dtype=np.int32)
        w = self._kernels.intern_block(codes, table, self._slots, self._hash, self._start,
                                       self._len, self._chars, self._counts, self._state, out)
        return out[:w]

    def _reserve(self, n_codes: int) -> None:
        """Room for a block of ``n_codes`` code points: at most ``(n + 1) // 2`` new keys."""
        n_keys, used = int(self._state[0]), int(self._state[1])
        keys_needed = n_keys + (n_codes + 1) // 2 + 1
        if keys_needed > self._hash.size:
            grow = max(keys_needed, 2 * self._hash.size) - self._hash.size
            self._hash = np.concatenate([self._hash, np.zeros(grow, np.uint64)])
            self._start = np.concatenate([self._start, np.zeros(grow, np.int64)])
            self._len = np.concatenate([self._len, np.zeros(grow, np.int64)])
            self._counts = np.concatenate([self._counts, np.zeros(grow, np.int64)])
        if used + n_codes > self._chars.size:
            grow = max(used + n_codes, 2 * self._chars.size) - self._chars.size
            self._chars = np.concatenate([self._chars, np.zeros(grow, np.uint32)])
        if 2 * keys_needed > self._slots.size:  # load factor stays at most one half
            size = 1 << int(2 * keys_needed - 1).bit_length()
            self._slots = np.full(size, -1, dtype=np.int32)
            if n_keys:
                self._kernels.rehash(self._slots, self._hash, n_keys)

    def keys(self, start: int = 0) -> list[str]:
        """The distinct tokens in id order, from id ``start`` on.

        Parameters
        ----------
        start : int
            The first id.

        Returns
        -------
        list of str
            The tokens of ids ``start``, ``start + 1``, ...
        """
        n = len(self)
        if start >= n:
            return []
        first = int(self._start[start])
        text = self._chars[first: int(self._state[1])].tobytes().decode("utf-32-le",
                                                                        "surrogatepass")
        bounds = (self._start[start:n] - first).tolist()
        return [text[a:a + b] for a, b in zip(bounds, self._len[start:n].tolist())]

    def counts(self) -> np.ndarray:
        """Occurrences of each distinct token, in id order (int64)."""
        return self._counts[: len(self)].copy()


def iter_corpus_line_blocks(corpus) -> Iterator[list[str]] | None:
    """The line blocks of a file corpus, one file after the other.

    Parameters
    ----------
    corpus : str, os.PathLike, Corpus or iterable
        The corpus.

    Returns
    -------
    iterator of list of str, or None
        The blocks of :func:`iter_line_blocks`; None for an in-memory corpus.
    """
    if not isinstance(corpus, (str, os.PathLike, Corpus)):
        return None
    paths = [corpus] if isinstance(corpus, (str, os.PathLike)) else corpus.paths
    return (lines for path in paths for lines in iter_line_blocks(path))


def iter_token_blocks(corpus: str | os.PathLike | Iterable, tokenizer: Tokenizer | None = None,
                      *, batch_lines: int = 8192) -> Iterator[tuple[list[str], np.ndarray]]:
    """The sentences of :func:`iter_sentences`, a block at a time, flattened.

    Parameters
    ----------
    corpus : path, :class:`Corpus`, iterable of str, or iterable of token lists
    tokenizer : Tokenizer, optional
    batch_lines : int, default 8192
        Lines per block for in-memory corpora (files go by blocks of about 1 MB).

    Returns
    -------
    iterator of (tokens, lengths)
        ``tokens`` is the list of a block's tokens, ``lengths[j]`` how many of them belong to
        the block's ``j``-th sentence (zero for an empty line).

    Examples
    --------
    >>> [(t, n.tolist()) for t, n in iter_token_blocks(["A b", "", "c"])]
    [(['a', 'b', 'c'], [2, 0, 1])]
    """
    tok = tokenizer or Tokenizer()
    if isinstance(corpus, (str, os.PathLike, Corpus)):
        paths = [corpus] if isinstance(corpus, (str, os.PathLike)) else corpus.paths
        for path in paths:
            for lines in iter_line_blocks(path):
                yield tok.tokenize_lines(lines)
        return
    batch: list = []
    for item in corpus:
        batch.append(item)
        if len(batch) >= batch_lines:
            yield _tokenize_batch(tok, batch)
            batch = []
    if batch:
        yield _tokenize_batch(tok, batch)


def _tokenize_batch(tok: Tokenizer, items: list) -> tuple[list[str], np.ndarray]:
    if all(isinstance(item, str) for item in items):
        return tok.tokenize_lines(items)
    sents = [tok(item) if isinstance(item, str) else list(item) for item in items]
    return ([t for sent in sents for t in sent],
            np.fromiter(map(len, sents), dtype=np.int64, count=len(sents)))


def describe(corpus) -> str:
    """A short name of a corpus for messages.

    Parameters
    ----------
    corpus : str, os.PathLike, Corpus or iterable
        The corpus.

    Returns
    -------
    str
        Its path(s), or ``"the corpus"`` for an in-memory one.
    """
    if isinstance(corpus, (str, os.PathLike)):
        return os.fspath(corpus)
    return repr(corpus) if isinstance(corpus, Corpus) else "the corpus"
