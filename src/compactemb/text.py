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
import lzma
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

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

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "_findall", re.compile(self.pattern).findall)
        except re.error as exc:
            raise InputError(
                f"tokenizer pattern {self.pattern!r} is not a valid regex: {exc}") from None

    def __call__(self, line: str) -> list[str]:
        return self._findall(line.lower() if self.lowercase else line)

    def to_dict(self) -> dict:
        return {"pattern": self.pattern, "lowercase": self.lowercase}

    @classmethod
    def from_dict(cls, d: dict | None) -> Tokenizer:
        return cls(**d) if d else cls()


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
    bounded and nothing is dropped. Raises :class:`InputError` naming the file and line for
    binary content or invalid UTF-8.
    """
    path = os.fspath(path)
    lineno = 0
    carry = b""
    try:
        with _open_binary(path) as f:
            first = True
            while True:
                try:
                    block = f.read(_BLOCK)
                except (OSError, EOFError, lzma.LZMAError) as exc:
                    raise InputError(f"{path}: cannot be decompressed ({exc})") from None
                if first:
                    first = False
                    if b"\x00" in block[:8192]:
                        raise InputError(f"{path}: looks like a binary file (NUL bytes), "
                                         "expected UTF-8 text")
                    if block.startswith(b"\xef\xbb\xbf"):
                        block = block[3:]
                if not block:
                    break
                parts = (carry + block).split(b"\n")
                carry = parts.pop()
                for raw in parts:
                    lineno += 1
                    yield _decode(raw, path, lineno)
                while len(carry) > max_line_bytes:
                    cut = carry.rfind(b" ", 0, max_line_bytes)
                    if cut <= 0:
                        cut = max_line_bytes
                        while cut > 0 and (carry[cut] & 0xC0) == 0x80:  # stay on a char boundary
                            cut -= 1
                    yield _decode(carry[:cut], path, lineno + 1)
                    carry = carry[cut:]
            if carry:
                lineno += 1
                yield _decode(carry, path, lineno)
    except PermissionError:
        raise InputError(f"{path}: permission denied") from None


def _decode(raw: bytes, path: str, lineno: int) -> str:
    try:
        return raw.decode("utf-8").rstrip("\r")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{path}: line {lineno}: not valid UTF-8 (byte {exc.start} of the line); "
            "convert the file to UTF-8"
        ) from None


class Corpus:
    """Several corpus files read as one, in order; iterable any number of times (lines)."""

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
    """Yield token lists from a corpus path, an iterable of strings, or of token lists."""
    tok = tokenizer or Tokenizer()
    if isinstance(corpus, (str, os.PathLike)):
        for line in iter_lines(corpus):
            yield tok(line)
        return
    for item in corpus:
        yield tok(item) if isinstance(item, str) else list(item)


def describe(corpus) -> str:
    """A short name of a corpus for messages."""
    if isinstance(corpus, (str, os.PathLike)):
        return os.fspath(corpus)
    return repr(corpus) if isinstance(corpus, Corpus) else "the corpus"
