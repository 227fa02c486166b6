"""Readers of labelled text: fastText files (``__label__X`` tokens) and CSV/TSV files.

Used by :class:`~compactemb.train.TextClassifier` (``fit_file``) and ``compactemb train
classifier``; public so that data can be read once and inspected or split before training::

    from compactemb.labelled import read_labelled
    texts, labels = read_labelled("train.tsv")
"""

from __future__ import annotations

import csv
import itertools
import os

from .exceptions import InputError
from .text import iter_lines

__all__ = ["LABEL_PREFIX", "read_labelled"]

LABEL_PREFIX = "__label__"
_TEXT_NAMES = ("text", "sentence", "content", "review", "document", "body", "title")
_LABEL_NAMES = ("label", "labels", "class", "category", "target", "y")


def read_labelled(path, *, format: str = "auto", text_column: str | int | None = None,
                  label_column: str | int | None = None, label_sep: str | None = None,
                  label_prefix: str = LABEL_PREFIX, unlabelled: str = "error",
                  ) -> tuple[list[str], list[list[str]]]:
    """Read texts and their labels from a fastText file or a CSV/TSV file.

    Parameters
    ----------
    path : str or PathLike
        fastText format: one text per line, its labels as ``__label__X`` tokens (anywhere on the
        line). CSV/TSV: a header line naming the columns, or two columns without a header.
    format : {"auto", "fasttext", "csv", "tsv"}, default "auto"
        ``auto``: by the file extension (``.csv``, ``.tsv``; ``.gz``/``.xz`` stripped first),
        fastText format otherwise.
    text_column, label_column : str or int, optional
        CSV/TSV columns by header name or 0-based index. Default: the columns named like
        ``text``/``sentence``/``content`` and ``label``/``class``/``category``.
    label_sep : str, optional
        Split the label cell on this string (multi-label CSV/TSV); default: one label per row.
    unlabelled : {"error", "skip"}, default "error"
        A row without a label raises :class:`InputError` naming the file and line, or is skipped.

    Returns
    -------
    texts : list of str
    labels : list of list of str
        Labels without the prefix (``__label__pos`` gives ``pos``).

    Raises
    ------
    InputError
        An unreadable row, an unlabelled row (with ``unlabelled="error"``), ambiguous columns,
        or no example at all; the message names the file and line.

    Examples
    --------
    >>> texts, labels = read_labelled("train.tsv")  # doctest: +SKIP
    """
    path = os.fspath(path)
    if unlabelled not in ("error", "skip"):
        raise InputError(f"unlabelled must be 'error' or 'skip', got {unlabelled!r}")
    fmt = format
    if fmt == "auto":
        base = path.lower()
        for ext in (".gz", ".xz", ".bz2"):
            base = base.removesuffix(ext)
        fmt = "csv" if base.endswith(".csv") else "tsv" if base.endswith(".tsv") else "fasttext"
    if fmt == "fasttext":
        texts, labels = _read_fasttext(path, label_prefix, unlabelled)
    elif fmt in ("csv", "tsv"):
        texts, labels = _read_delimited(path, fmt, text_column, label_column, label_sep,
                                        unlabelled)
    else:
        raise InputError(f"format must be 'auto', 'fasttext', 'csv' or 'tsv', got {format!r}")
    if not texts:
        raise InputError(f"{path}: no labelled examples in the file")
    return texts, labels


def _read_fasttext(path, prefix, unlabelled):
    texts, labels = [], []
    n = len(prefix)
    for lineno, line in enumerate(iter_lines(path), 1):
        words = line.split()  # empty exactly when the line is blank (same whitespace as strip)
        if not words:
            continue
        # Common case, one C-level count instead of a startswith per token: the prefix occurs
        # once, at the start of the first word, so no other word can start with it.
        if words[0].startswith(prefix) and line.count(prefix) == 1:
            if len(words[0]) > n:
                texts.append(" ".join(words[1:]))
                labels.append([words[0][n:]])
                continue
            labs: list[str] = []
        elif prefix not in line:
            labs = []
        else:
            labs = [w[n:] for w in words if w.startswith(prefix) and len(w) > n]
        if not labs:
            if unlabelled == "skip":
                continue
            raise InputError(f"{path}: line {lineno}: no label (expected a token like "
                             f"{prefix}X; use unlabelled='skip' to ignore such lines)")
        texts.append(" ".join(w for w in words if not w.startswith(prefix)))
        labels.append(labs)
    return texts, labels


def _pick_column(header, wanted, names, what, path):
    if wanted is not None:
        if isinstance(wanted, int) or (isinstance(wanted, str) and wanted.isdigit()):
            idx = int(wanted)
            if header is not None and not 0 <= idx < len(header):
                raise InputError(f"{path}: {what} column {idx} out of range "
                                 f"({len(header)} columns)")
            return idx
        if header is None or wanted not in header:
            raise InputError(f"{path}: no {what} column named {wanted!r}; the header has "
                             f"{header}")
        return header.index(wanted)
    if header is not None:
        low = [h.strip().lower() for h in header]
        for name in names:
            if name in low:
                return low.index(name)
    return None


def _read_delimited(path, fmt, text_column, label_column, label_sep, unlabelled):
    delim = "," if fmt == "csv" else "\t"
    lines = iter_lines(path)
    reader = csv.reader(lines, delimiter=delim,
                        quoting=csv.QUOTE_MINIMAL if fmt == "csv" else csv.QUOTE_NONE)
    try:
        first = next(reader)
    except StopIteration:
        raise InputError(f"{path}: the file is empty") from None
    except csv.Error as exc:
        raise InputError(f"{path}: line 1: {exc}") from None
    low = [h.strip().lower() for h in first]
    has_header = any(h in _TEXT_NAMES + _LABEL_NAMES for h in low) or (
        isinstance(text_column, str) and not text_column.isdigit()) or (
        isinstance(label_column, str) and not label_column.isdigit())
    header = first if has_header else None
    ti = _pick_column(header, text_column, _TEXT_NAMES, "text", path)
    li = _pick_column(header, label_column, _LABEL_NAMES, "label", path)
    ncol = len(first)
    if ti is None and li is None and ncol == 2:
        li, ti = 0, 1  # "label<TAB>text", the GLUE/SST layout
    elif ti is None and li is not None and ncol == 2:
        ti = 1 - li
    elif li is None and ti is not None and ncol == 2:
        li = 1 - ti
    if ti is None or li is None:
        raise InputError(f"{path}: cannot tell the text and label columns apart "
                         f"(header {first}); name them with text_column/label_column "
                         "(--text-column/--label-column)")
    texts, labels = [], []
    rows = reader if header is not None else itertools.chain([first], reader)
    try:
        for row in rows:
            lineno = reader.line_num
            if not row or (len(row) == 1 and not row[0].strip()):
                continue
            if max(ti, li) >= len(row):
                raise InputError(f"{path}: line {lineno}: {len(row)} columns, expected at "
                                 f"least {max(ti, li) + 1}")
            cell = row[li].strip()
            labs = [x.strip() for x in cell.split(label_sep)] if label_sep else [cell]
            labs = [x for x in labs if x]
            if not labs:
                if unlabelled == "skip":
                    continue
                raise InputError(f"{path}: line {lineno}: empty label cell")
            texts.append(row[ti])
            labels.append(labs)
    except csv.Error as exc:
        raise InputError(f"{path}: line {reader.line_num}: {exc}") from None
    return texts, labels
