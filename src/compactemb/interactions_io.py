"""Readers of interaction files: delimited text, MovieLens files and Parquet.

:func:`read_interactions` reads delimited text (whitespace, tab or comma; with or without a
header; columns chosen by name or position), the MovieLens files (``u.data`` and the
``u1.base`` ... splits: tab-separated ``user item rating timestamp``; ``ratings.csv``: a header
``userId,movieId,rating,timestamp``) and Parquet (needs pyarrow or pandas: ``compactemb[data]``)
into an :class:`~compactemb.interactions.Interactions`. The names stay importable from
:mod:`compactemb.interactions`.
"""

from __future__ import annotations

import csv
import os
import re

import numpy as np

from .exceptions import InputError, require
from .interactions import Interactions
from .text import iter_lines
from .vocab import Vocab

__all__ = ["FORMATS", "read_interactions"]

FORMATS = ("auto", "text", "csv", "tsv", "movielens", "parquet")


def _parse_id(tok: str):
    try:
        return int(tok)
    except ValueError:
        return tok


def _guess_format(path: str) -> str:
    name = os.path.basename(path).lower()
    for suffix in (".gz", ".xz", ".bz2"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    if name.endswith((".parquet", ".pq")):
        return "parquet"
    if name == "u.data" or re.fullmatch(r"u[a-z0-9]*\.(base|test)", name):
        return "movielens"
    if name.endswith(".csv"):
        return "csv"
    if name.endswith((".tsv", ".dat")):
        return "tsv"
    return "text"


def _column(spec, header: list[str] | None, what: str, path: str, required: bool):
    """Resolve a column given by position (int or digit string) or name; None if absent."""
    if spec is None:
        return None
    if isinstance(spec, (int, np.integer)) or (isinstance(spec, str) and spec.isdigit()):
        return int(spec)
    if header is None:
        raise InputError(f"{path}: the {what} column is given by name ({spec!r}) but the file "
                         "has no header; give its position (0-based)")
    lowered = [h.strip().lower() for h in header]
    if spec.lower() in lowered:
        return lowered.index(spec.lower())
    if required:
        raise InputError(f"{path}: no {what} column named {spec!r} in the header {header}")
    return None


_TIME_NAMES = ("timestamp", "time", "ts", "datetime", "date")


def read_interactions(path: str | os.PathLike, *, format: str = "auto", sep: str | None = None,
                      header: bool | None = None, user_col=0, item_col=1, weight_col="auto",
                      time_col="auto", user_vocab: Vocab | None = None,
                      item_vocab: Vocab | None = None, on_unknown: str = "raise"
                      ) -> Interactions:
    """Read interactions from a delimited text file, a MovieLens file or Parquet.

    Parameters
    ----------
    format : {"auto", "text", "csv", "tsv", "movielens", "parquet"}, default "auto"
        ``auto`` picks by name: ``*.parquet`` -> parquet; ``u.data``, ``u1.base`` ... ->
        movielens (tab, no header, ``user item rating timestamp``); ``*.csv`` -> csv (comma);
        ``*.tsv``, ``*.dat`` -> tsv (tab); anything else -> text (whitespace, tab or comma).
    sep : str, optional
        Field separator, overriding the format's.
    header : bool, optional
        Whether the first row names the columns; default: detected (a first row whose weight
        column is not a number, or whose ID columns match the column names given).
    user_col, item_col : int or str, default 0 and 1
        Column position (0-based) or header name.
    weight_col : int, str, "auto" or None, default "auto"
        ``auto``: the third column when there is one (``rating``/``weight``/``count`` by
        name); ``None``: every interaction weighs 1.
    time_col : int, str, "auto" or None, default "auto"
        ``auto``: a header column named timestamp/time/ts/date, or the 4th column of
        MovieLens files; ``None``: no timestamps.
    user_vocab, item_vocab, on_unknown
        See :meth:`Interactions.from_arrays` (index a test file like its training set).

    Raises
    ------
    InputError
        A malformed row: ``"<file>: line <n>: <reason>"``.
    """
    path = os.fspath(path)
    if format not in FORMATS:
        raise InputError(f"format must be one of {', '.join(FORMATS)}, got {format!r}")
    if format == "auto":
        format = _guess_format(path)
    kw = {"user_vocab": user_vocab, "item_vocab": item_vocab, "on_unknown": on_unknown}
    if format == "parquet":
        return _read_parquet(path, user_col, item_col, weight_col, time_col, kw)
    if format == "movielens":
        if sep is None and path.lower().endswith(".csv"):
            format = "csv"
        else:
            sep = "\t" if sep is None else sep
            header = False if header is None else header
            time_col = 3 if time_col == "auto" else time_col
            weight_col = 2 if weight_col == "auto" else weight_col
    if format == "csv":
        sep = "," if sep is None else sep
    elif format == "tsv":
        sep = "\t" if sep is None else sep
    rows = _split_rows(path, sep)
    return _rows_to_interactions(rows, path, header, user_col, item_col, weight_col, time_col,
                                 kw)


def _split_rows(path: str, sep: str | None):
    """Yield (line number, fields) of the non-empty, non-comment lines."""
    lines = ((n, line.rstrip("\r\n")) for n, line in enumerate(iter_lines(path), 1))
    lines = ((n, line) for n, line in lines if line.strip() and not line.startswith("#"))
    if sep == ",":  # CSV: quoted fields may hold commas
        for n, line in lines:
            try:
                fields = next(csv.reader([line]))
            except csv.Error as exc:
                raise InputError(f"{path}: line {n}: {exc}") from None
            yield n, [f.strip() for f in fields]
        return
    splitter = re.compile(r"[,\t ]+" if sep is None else re.escape(sep))
    for n, line in lines:
        yield n, [f.strip() for f in splitter.split(line.strip())]


def _is_number(tok: str) -> bool:
    try:
        float(tok)
        return True
    except ValueError:
        return False


def _chain(first, rest):
    yield from first
    yield from rest


def _detect_header(f0: list[str], f1: list[str] | None, names: list, weight_col) -> bool:
    """Tell whether the first row is a header.

    It is when a column is named and found in it; or its weight field is not a number; or its
    leading fields are words where the second row's are numbers.
    """
    lowered = {f.lower() for f in f0}
    if any(isinstance(c, str) and not c.isdigit() and c.lower() in lowered for c in names):
        return True
    weight_pos = weight_col if isinstance(weight_col, int) else 2
    if weight_col is not None and len(f0) > weight_pos and not _is_number(f0[weight_pos]):
        return True
    if f1 is not None and len(f0) >= 2 and len(f1) >= 2:
        return (not any(_is_number(f) for f in f0[:2])) and all(_is_number(f) for f in f1[:2])
    return False


def _rows_to_interactions(rows, path, header, user_col, item_col, weight_col, time_col, kw):
    rows = iter(rows)
    first = next(rows, None)
    if first is None:
        raise InputError(f"{path}: no interactions in the file")
    n0, f0 = first
    names = [user_col, item_col] + [c for c in (weight_col, time_col)
                                    if c not in (None, "auto")]
    second = next(rows, None)
    if second is not None:
        rows = _chain([second], rows)
    if header is None:
        header = _detect_header(f0, second[1] if second else None, names, weight_col)
    hdr = f0 if header else None
    ucol = _column(user_col, hdr, "user", path, True)
    icol = _column(item_col, hdr, "item", path, True)
    if weight_col == "auto":
        wcol = None
        if hdr is not None:
            for name in ("weight", "rating", "count", "plays", "playcount", "value"):
                wcol = _column(name, hdr, "weight", path, False)
                if wcol is not None:
                    break
        if wcol is None and len(f0) > 2 and 2 not in (ucol, icol):
            wcol = 2
    else:
        wcol = _column(weight_col, hdr, "weight", path, True)
    if time_col == "auto":
        tcol = None
        if hdr is not None:
            for name in _TIME_NAMES:
                tcol = _column(name, hdr, "time", path, False)
                if tcol is not None:
                    break
    else:
        tcol = _column(time_col, hdr, "time", path, True)
    need = max(c for c in (ucol, icol, wcol, tcol) if c is not None) + 1
    users, items, weights, times = [], [], [], []

    def take(n, fields):
        if len(fields) < need:
            raise InputError(f"{path}: line {n}: expected at least {need} fields, got "
                             f"{len(fields)}: {' '.join(fields)[:60]!r}")
        u, i = fields[ucol], fields[icol]
        if not u or not i:
            raise InputError(f"{path}: line {n}: empty {'user' if not u else 'item'} ID")
        if wcol is not None:
            try:
                w = float(fields[wcol])
            except ValueError:
                raise InputError(f"{path}: line {n}: weight {fields[wcol]!r} is not a "
                                 "number") from None
            if not np.isfinite(w):
                raise InputError(f"{path}: line {n}: weight {fields[wcol]!r} is not finite")
            weights.append(w)
        if tcol is not None:
            try:
                times.append(float(fields[tcol]))
            except ValueError:
                raise InputError(f"{path}: line {n}: timestamp {fields[tcol]!r} is not a "
                                 "number") from None
        users.append(_parse_id(u))
        items.append(_parse_id(i))

    if not header:
        take(n0, f0)
    for n, fields in rows:
        take(n, fields)
    if not users:
        raise InputError(f"{path}: no interactions in the file")
    users_a = _uniform_ids(users)
    items_a = _uniform_ids(items)
    return Interactions.from_arrays(users_a, items_a,
                                    np.asarray(weights, np.float32) if wcol is not None else None,
                                    np.asarray(times) if tcol is not None else None, **kw)


def _uniform_ids(values: list) -> np.ndarray:
    """All-int IDs as int64; mixed ints and strings are indexed as strings."""
    if all(type(v) is int for v in values):
        return np.asarray(values, dtype=np.int64)
    return np.asarray([str(v) for v in values], dtype=object)


def _read_parquet(path, user_col, item_col, weight_col, time_col, kw) -> Interactions:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        pd = require("pandas", "data")
        df = pd.read_parquet(path)
    else:
        try:
            df = pq.read_table(path).to_pandas()
        except Exception as exc:  # pyarrow raises its own error types for bad files
            raise InputError(f"{path}: cannot read Parquet ({exc})") from None
    cols = [str(c).lower() for c in df.columns]
    if weight_col == "auto":
        weight_col = next((df.columns[cols.index(n)] for n in
                           ("weight", "rating", "count", "plays", "value") if n in cols), None)
        if weight_col is None and len(cols) > 2:
            weight_col = 2
    if time_col == "auto":
        time_col = next((df.columns[cols.index(n)] for n in _TIME_NAMES if n in cols), None)
    try:
        return Interactions.from_dataframe(df, user_col, item_col, weight_col, time_col, **kw)
    except InputError as exc:
        raise InputError(f"{path}: {exc}") from None
