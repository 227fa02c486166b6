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
import itertools
import os
import re
from typing import TYPE_CHECKING

import numpy as np

from .exceptions import InputError, require
from .text import _open_binary, iter_lines
from .vocab import Vocab

if TYPE_CHECKING:  # the container imports scipy: the CLI's parser only needs FORMATS
    from .interactions import Interactions

__all__ = ["ENGINES", "FORMATS", "read_interactions"]

FORMATS = ("auto", "text", "csv", "tsv", "movielens", "parquet")
BAD_ROW_POLICIES = ("raise", "skip")
ENGINES = ("auto", "pyarrow", "python")


_INT64_MAX = (1 << 63) - 1


def _parse_id(tok: str):
    """An int when the ID is a whole number that fits in int64; else the text.

    A user ID of 10^20 is kept as the string it is, never overflowed.
    """
    try:
        value = int(tok)
    except ValueError:
        return tok
    return value if -_INT64_MAX - 1 <= value <= _INT64_MAX else tok


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
                      item_vocab: Vocab | None = None, on_unknown: str = "raise",
                      engine: str = "auto", on_bad_rows: str = "raise") -> Interactions:
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
    engine : {"auto", "pyarrow", "python"}, default "auto"
        Delimited text is read by pyarrow's multithreaded CSV reader when pyarrow is installed
        (``compactemb[data]``), columns straight into the hashing indexer; a file it cannot
        take exactly as the Python reader would (comment lines, ragged rows, padded fields, a
        bad value) is read again by the Python reader, which names the line of any error.
        ``python`` always uses the Python reader; ``pyarrow`` requires pyarrow.
    on_bad_rows : {"raise", "skip"}, default "raise"
        A malformed row of a delimited file (too few fields, an empty ID, a weight that is not
        a number, not finite or negative, a bad timestamp, broken CSV quoting): ``raise`` stops
        at the first one naming its line; ``skip`` leaves such rows out and lists them in the
        result's ``skipped_rows`` (a file with no good row is still an error).

    Returns
    -------
    Interactions
        Users x items, weights summed over repeated pairs.

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
    if engine not in ENGINES:
        raise InputError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    if on_bad_rows not in BAD_ROW_POLICIES:
        raise InputError(f"on_bad_rows must be one of {', '.join(BAD_ROW_POLICIES)}, got "
                         f"{on_bad_rows!r}")
    skipped: list[str] | None = [] if on_bad_rows == "skip" else None
    if engine != "python":
        try:
            fast = _read_delimited_arrow(path, sep, header, user_col, item_col, weight_col,
                                         time_col, kw, required=engine == "pyarrow")
        except InputError:
            if skipped is None:
                raise
            fast = None  # a bad row among the first two: the Python reader skips it
        if fast is not None:
            return fast
    rows = _split_rows(path, sep, skipped)
    inter = _rows_to_interactions(rows, path, header, user_col, item_col, weight_col, time_col,
                                  kw, skipped)
    if skipped:
        inter.skipped_rows = skipped
    return inter


def _split_rows(path: str, sep: str | None, skipped: list[str] | None = None):
    """Yield (line number, fields) of the non-empty, non-comment lines.

    With ``skipped`` (a list), a line CSV cannot split is recorded there instead of raising.
    """
    lines = ((n, line.rstrip("\r\n")) for n, line in enumerate(iter_lines(path), 1))
    lines = ((n, line) for n, line in lines if line.strip() and not line.startswith("#"))
    if sep == ",":  # CSV: quoted fields may hold commas
        for n, line in lines:
            try:
                fields = next(csv.reader([line]))
            except csv.Error as exc:
                if skipped is None:
                    raise InputError(f"{path}: line {n}: {exc}") from None
                skipped.append(f"{path}: line {n}: {exc}")
                continue
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


def _resolve_columns(f0, f1, path, header, user_col, item_col, weight_col, time_col):
    """Header or not, and the positions of the user, item, weight and time columns.

    Weight and time may be None. Read from the first two rows' fields.
    """
    names = [user_col, item_col] + [c for c in (weight_col, time_col)
                                    if c not in (None, "auto")]
    if header is None:
        header = _detect_header(f0, f1, names, weight_col)
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
    return header, ucol, icol, wcol, tcol


def _rows_to_interactions(rows, path, header, user_col, item_col, weight_col, time_col, kw,
                          skipped: list[str] | None = None):
    rows = iter(rows)
    first = next(rows, None)
    if first is None:
        raise InputError(f"{path}: no interactions in the file")
    n0, f0 = first
    second = next(rows, None)
    if second is not None:
        rows = _chain([second], rows)
    header, ucol, icol, wcol, tcol = _resolve_columns(
        f0, second[1] if second else None, path, header, user_col, item_col, weight_col,
        time_col)
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
            if w < 0:
                raise InputError(f"{path}: line {n}: weight {fields[wcol]!r} is negative "
                                 "(interaction weights are counts or confidences >= 0)")
            weights.append(w)
        if tcol is not None:
            try:
                times.append(float(fields[tcol]))
            except ValueError:
                raise InputError(f"{path}: line {n}: timestamp {fields[tcol]!r} is not a "
                                 "number") from None
        users.append(_parse_id(u))
        items.append(_parse_id(i))

    def take_or_skip(n, fields):
        if skipped is None:
            take(n, fields)
            return
        mark = (len(users), len(items), len(weights), len(times))
        try:
            take(n, fields)
        except InputError as exc:
            # a row fails before its user and item are appended, but weights/times may be
            del users[mark[0]:], items[mark[1]:], weights[mark[2]:], times[mark[3]:]
            skipped.append(str(exc))

    if not header:
        take_or_skip(n0, f0)
    for n, fields in rows:
        take_or_skip(n, fields)
    if not users:
        raise InputError(f"{path}: no interactions in the file")
    users_a = _uniform_ids(users)
    items_a = _uniform_ids(items)
    from .interactions import Interactions

    return Interactions.from_arrays(users_a, items_a,
                                    np.asarray(weights, np.float32) if wcol is not None else None,
                                    np.asarray(times) if tcol is not None else None, **kw)


def _sniff_delimiter(line: str, fields: list[str]) -> str | None:
    """The one character that splits ``line`` into exactly ``fields`` (no padding)."""
    for delim in ("\t", ",", " "):
        if delim in line and line.split(delim) == fields:
            return delim
    return None


def _read_delimited_arrow(path, sep, header, user_col, item_col, weight_col, time_col, kw, *,
                          required: bool) -> Interactions | None:
    """The file through pyarrow's CSV reader, or None where the Python reader must read it.

    None when pyarrow is missing, or for anything the two readers could take differently.
    """
    try:
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.csv as pacsv
    except ImportError:
        if required:
            require("pyarrow", "data")
        return None
    head = list(itertools.islice(_split_rows(path, sep), 2))
    if not head or head[0][0] != 1:
        return None  # empty file, or leading blank/comment lines: the Python reader
    f0, f1 = head[0][1], head[1][1] if len(head) > 1 else None
    header, ucol, icol, wcol, tcol = _resolve_columns(
        f0, f1, path, header, user_col, item_col, weight_col, time_col)
    first_line = next(iter_lines(path))
    delim = sep if sep is not None and len(sep) == 1 else None
    if sep is None:
        delim = _sniff_delimiter(first_line, f0)
    if delim is None or (delim != "," and first_line.split(delim) != f0):
        return None
    with open(path, "rb") as f:
        magic = f.read(3)
    if magic[:2] == b"\x1f\x8b" or magic == b"\xef\xbb\xbf":
        source = _open_binary(path)  # gzip (pyarrow guesses compression by name only), BOM
        if magic == b"\xef\xbb\xbf":
            source.read(3)
    elif magic in (b"\xfd7z", b"BZh"):
        source = _open_binary(path)
    else:
        source = path
    cols = {"user": ucol, "item": icol, "weight": wcol, "time": tcol}
    wanted = sorted({c for c in cols.values() if c is not None})
    types = {f"f{c}": pa.float64() for c in (wcol, tcol) if c is not None}
    try:
        table = pacsv.read_csv(
            source,
            read_options=pacsv.ReadOptions(skip_rows=1 if header else 0,
                                           autogenerate_column_names=True,
                                           block_size=16 << 20),
            parse_options=pacsv.ParseOptions(delimiter=delim,
                                             quote_char='"' if delim == "," else False,
                                             ignore_empty_lines=True),
            convert_options=pacsv.ConvertOptions(include_columns=[f"f{c}" for c in wanted],
                                                  column_types=types))
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, KeyError):
        return None  # ragged rows, a bad number...: the Python reader names the line
    finally:
        if source is not path:
            source.close()
    if table.num_rows == 0:
        return None
    columns = {}
    for what, c in cols.items():
        if c is None:
            continue
        col = table.column(f"f{c}")
        if col.null_count:
            return None
        if what in ("user", "item"):
            col = _arrow_ids(col, pa, pc, first=what == "user")
            if col is None:
                return None
        else:
            col = col.to_numpy()
            if not np.isfinite(col).all() or (what == "weight" and (col < 0).any()):
                return None  # the Python reader names the line
        columns[what] = col
    del table
    from .interactions import Interactions

    return Interactions.from_arrays(
        columns["user"], columns["item"],
        columns["weight"].astype(np.float32) if "weight" in columns else None,
        columns.get("time"), **kw)


def _arrow_ids(col, pa, pc, *, first: bool):
    """An ID column as the Python reader would take it (ints, or stripped strings).

    None when it holds something the two readers treat differently.
    """
    if pa.types.is_integer(col.type):
        if pa.types.is_uint64(col.type) and (pc.max(col).as_py() or 0) > _INT64_MAX:
            return None  # beyond int64: the Python reader keeps such IDs as strings
        return col
    if not pa.types.is_string(col.type) and not pa.types.is_large_string(col.type):
        return None  # dates, floats: the Python reader's rules
    stripped = pc.utf8_trim_whitespace(col)
    if pc.any(pc.equal(stripped, "")).as_py():
        return None  # an empty ID: the Python reader names its line
    if first and pc.any(pc.starts_with(col, "#")).as_py():
        return None  # comment lines
    # int-like text that int() would rewrite ("007", "+5", "1_0") keeps the Python reader
    int_like = pc.match_substring_regex(stripped, r"^[+-]?[0-9_]+$")
    canonical = pc.match_substring_regex(stripped, r"^(0|-?[1-9][0-9]*)$")
    if pc.any(pc.and_(int_like, pc.invert(canonical))).as_py():
        return None
    return stripped


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
            df = pq.read_table(path)  # an Arrow table: columns go to the indexer as they are
        except Exception as exc:  # pyarrow raises its own error types for bad files
            raise InputError(f"{path}: cannot read Parquet ({exc})") from None
    names = list(getattr(df, "column_names", None) or df.columns)
    cols = [str(c).lower() for c in names]
    if weight_col == "auto":
        weight_col = next((names[cols.index(n)] for n in
                           ("weight", "rating", "count", "plays", "value") if n in cols), None)
        if weight_col is None and len(cols) > 2:
            weight_col = 2
    if time_col == "auto":
        time_col = next((names[cols.index(n)] for n in _TIME_NAMES if n in cols), None)
    try:
        from .interactions import Interactions

        return Interactions.from_dataframe(df, user_col, item_col, weight_col, time_col, **kw)
    except InputError as exc:
        raise InputError(f"{path}: {exc}") from None
