"""The compactemb file format (``.cemb``): named arrays plus JSON metadata, in one file.

Layout (all integers little-endian; see docs/FORMAT.md)::

    offset 0   8 bytes   magic b"CEMBFILE"
           8   uint32    format version (1)
          12   uint32    CRC-32 of the header bytes
          16   uint64    header length in bytes (H)
          24   uint64    total file size in bytes
          32   H bytes   header: UTF-8 JSON
                         {"kind", "library_version", "meta", "components", "arrays"}
          ...  zero padding to a multiple of 64
               arrays, each starting on a 64-byte boundary, C order, at the offset the header
               gives: arrays[name] = {"dtype", "shape", "offset", "nbytes", "crc32"};
               the file ends where the last array ends

Arrays are raw numeric data (no object dtype, no pickle), so a file memory-maps: the arrays come
back as read-only views of one ``mmap``. A save writes a temporary file beside the target,
fsyncs it and renames it over the target, so a crash leaves the previous file whole. A load
checks the magic, version, sizes and (unless ``verify=False``) CRC-32 of the header and of every
array, and names the file and the problem when something is wrong.

A file holds *components* (a vocabulary, one or more tables ...), each stored as JSON attributes
plus arrays named ``"<component>/<array>"``; the top-level ``kind`` says which object they make.
"""

from __future__ import annotations

import contextlib
import json
import mmap
import os
import struct
import zlib
from collections.abc import Callable
from typing import Any, TypeGuard

import numpy as np

from ._scratch import dead_owner_names
from .exceptions import FormatError, InputError

MAGIC = b"CEMBFILE"
FORMAT_VERSION = 1
SUPPORTED_VERSIONS = (1,)
_PREAMBLE = struct.Struct("<8sIIQQ")
_ALIGN = 64
_MAX_HEADER = 256 << 20
_CRC_CHUNK = 64 << 20


def _align(n: int) -> int:
    return (n + _ALIGN - 1) // _ALIGN * _ALIGN


def _crc(arr: np.ndarray) -> int:
    buf = np.ascontiguousarray(arr).reshape(-1).view(np.uint8).data
    crc = 0
    for start in range(0, len(buf), _CRC_CHUNK):
        crc = zlib.crc32(buf[start:start + _CRC_CHUNK], crc)
    return crc


def jsonable(obj):
    """Plain JSON types: numpy scalars and arrays become Python values, NaN/inf become None.

    Parameters
    ----------
    obj : object
        Nested dicts, lists, tuples, numpy arrays and scalars.

    Returns
    -------
    object
        The same structure of plain Python values (dict keys as str).

    Examples
    --------
    >>> jsonable({"a": np.float32(0.5), 1: np.array([1, 2]), "b": float("nan")})
    {'a': 0.5, '1': [1, 2], 'b': None}
    """
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    return obj


def _check_dtype(dt: np.dtype, name: str) -> None:
    if dt.kind not in "biuf" or dt.hasobject:
        raise InputError(f"array {name!r}: dtype {dt} cannot be stored (numeric only)")


def write_file(path: str | os.PathLike, kind: str, arrays: dict[str, np.ndarray], *,
               meta: dict | None = None, components: dict | None = None) -> None:
    """Write arrays and metadata to ``path`` atomically.

    Parameters
    ----------
    path : str or os.PathLike
        The file.
    kind : str
        The file kind (a registered kind such as ``"keyed_vectors"``).
    arrays : dict of str to numpy.ndarray
        The arrays by name (numeric dtypes only).
    meta : dict or None
        JSON-able metadata.
    components : dict or None
        The description of the components the arrays belong to.

    Raises
    ------
    InputError
        For an array that cannot be stored or a folder that does not exist.
    """
    from . import __version__

    path = os.fspath(path)
    arrays = {k: np.ascontiguousarray(v) for k, v in arrays.items()}
    for name, a in arrays.items():
        _check_dtype(a.dtype, name)
    entries: dict[str, dict[str, Any]] = {name: {"dtype": a.dtype.newbyteorder("<").str,
                      "shape": list(a.shape), "offset": 0, "nbytes": int(a.nbytes),
                      "crc32": _crc(a)} for name, a in arrays.items()}
    header: dict[str, Any] = {"kind": kind, "library_version": __version__,
                              "meta": jsonable(meta or {}),
                              "components": jsonable(components or {}), "arrays": entries}
    # offsets depend on the header length, which depends on the offsets: iterate to a fixpoint
    start = _align(_PREAMBLE.size + 1024)
    for _ in range(8):
        pos = end = start
        for e in entries.values():
            e["offset"] = pos
            end = pos + e["nbytes"]
            pos = _align(end)
        total = end  # no padding after the last array: every trailing byte is checksummed
        blob = json.dumps(header, sort_keys=True, allow_nan=False).encode("utf-8")
        need = _align(_PREAMBLE.size + len(blob))
        if need <= start:
            break
        start = need
    else:  # pragma: no cover - the loop converges in two rounds
        raise RuntimeError("header layout did not converge")
    with atomic_write(path) as f:
        f.write(_PREAMBLE.pack(MAGIC, FORMAT_VERSION, zlib.crc32(blob), len(blob), total))
        f.write(blob)
        for name, a in arrays.items():
            f.seek(entries[name]["offset"])
            f.write(a.astype(a.dtype.newbyteorder("<"), copy=False).reshape(-1).view(np.uint8))
        f.truncate(total)


_TMP_MARK = ".tmp-"


def temp_name(path: str) -> str:
    """A temporary name beside ``path`` that says which process writes it.

    The name is ``<name>.tmp-<pid>-<random>``, so a later save can tell a dead writer's
    leftover.

    Parameters
    ----------
    path : str
        The file that will be written.

    Returns
    -------
    str
        The temporary name.
    """
    import secrets

    return f"{path}{_TMP_MARK}{os.getpid()}-{secrets.token_hex(4)}"


def remove_dead_temps(path: str | os.PathLike) -> list[str]:
    """Remove ``<path>.tmp-<pid>-*`` files left beside ``path`` by writers that died.

    Those are leftovers of kill -9 or a power loss; files of live processes are kept. Returns the
    removed paths.

    Parameters
    ----------
    path : str or PathLike
        The target whose leftovers to remove.

    Returns
    -------
    list of str
        The removed temporary files.

    Examples
    --------
    >>> import tempfile, os
    >>> d = tempfile.mkdtemp(); target = os.path.join(d, "m.cemb")
    >>> remove_dead_temps(target)
    []
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    prefix = os.path.basename(path) + _TMP_MARK
    removed: list[str] = []
    for name in dead_owner_names(directory, prefix):
        try:
            os.unlink(os.path.join(directory, name))
            removed.append(os.path.join(directory, name))
        except OSError:
            pass
    return removed


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb", **kw):
    """Open a temporary file beside ``path``; on success fsync it and rename it over ``path``.

    On any error (or Ctrl-C) the temporary file is removed and ``path`` is left as it was. The
    temporary name carries the writer's process id; leftovers of dead writers (kill -9) beside
    ``path`` are removed first. An OSError (disk full, read-only folder ...) is raised with
    ``path`` as its file name, never the temporary one.

    Parameters
    ----------
    path : str or os.PathLike
        The file to write.
    mode : str
        The temporary file's open mode (``"wb"``, ``"w"``).
    **kw
        Passed to :func:`open` (``encoding=...``).

    Yields
    ------
    file object
        The open temporary file.

    Raises
    ------
    InputError
        When the folder does not exist or ``path`` is a folder.
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise InputError(f"{path}: the directory {directory} does not exist")
    if os.path.isdir(path):
        raise InputError(f"{path}: is a directory")
    remove_dead_temps(path)
    tmp = temp_name(os.path.join(directory, os.path.basename(path)))
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0),
                     0o666)  # the umask applies, as for open()
    except OSError as exc:
        raise OSError(exc.errno, exc.strerror, path) from None
    try:
        try:
            with os.fdopen(fd, mode, **kw) as f:
                yield f
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except OSError as exc:
            if exc.filename == path or exc.filename is None and exc.errno is None:
                raise
            raise OSError(exc.errno, exc.strerror, path) from None
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    try:  # make the rename durable
        dfd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass


def write_json(path, obj) -> None:
    """Write JSON atomically (reports).

    Parameters
    ----------
    path : str or os.PathLike
        The file.
    obj : object
        Anything :func:`jsonable` turns into JSON (NaN and inf are written as null).
    """
    with atomic_write(path, "w", encoding="utf-8") as f:
        json.dump(jsonable(obj), f, indent=2, sort_keys=False, allow_nan=False)
        f.write("\n")


class StoredFile:
    """A read file: ``kind``, ``meta``, ``components`` and ``arrays`` (dict name -> ndarray).

    Parameters
    ----------
    path : str
        The file read.
    header : dict
        Its parsed header (``kind``, ``meta``, ``components``).
    arrays : dict of str to numpy.ndarray
        Its arrays by name (``component/array``).
    mapping : mmap.mmap or None
        The memory map the arrays view, kept open as long as this object.
    """

    def __init__(self, path, header, arrays, mapping=None):
        self.path = path
        self.header = header
        self.kind: str = header["kind"]
        self.meta: dict = header.get("meta", {})
        self.components: dict = header.get("components", {})
        self.arrays: dict[str, np.ndarray] = arrays
        self._mapping = mapping  # keeps the mmap alive as long as this object

    def component_arrays(self, name: str) -> dict[str, np.ndarray]:
        """The arrays of component ``name``, by their names within it.

        Parameters
        ----------
        name : str
            The component.

        Returns
        -------
        dict of str to numpy.ndarray
            Its arrays.
        """
        prefix = name + "/"
        return {k[len(prefix):]: v for k, v in self.arrays.items() if k.startswith(prefix)}


# limits of the header schema: a file is untrusted input, and none of these is near what a
# compactemb save writes (a few levels of nesting, integers of at most 20 digits)
_MAX_JSON_DEPTH = 32
_MAX_NUMBER_CHARS = 40
_MAX_ARRAY_DIMS = 8
_MAX_DIMENSION = 1 << 48
_STRING_RE = None  # compiled on first use


def _stored_dtypes() -> dict[str, np.dtype]:
    """The dtype strings a file may name: numeric, little-endian (or single-byte)."""
    names = ["b1", "i1", "u1", "i2", "u2", "i4", "u4", "i8", "u8", "f2", "f4", "f8"]
    out = {}
    for n in names:
        dt = np.dtype(n).newbyteorder("<")
        out[dt.str] = dt
    return out


_DTYPES = _stored_dtypes()


def _json_depth(blob: bytes) -> int:
    """Deepest nesting of ``[`` and ``{`` outside strings (checked before json.loads recurses)."""
    global _STRING_RE
    if _STRING_RE is None:
        import re

        _STRING_RE = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
    bare = np.frombuffer(_STRING_RE.sub(b'""', blob), dtype=np.uint8)
    step = np.zeros(bare.shape[0], dtype=np.int32)
    step[(bare == ord("[")) | (bare == ord("{"))] = 1
    step[(bare == ord("]")) | (bare == ord("}"))] = -1
    return int(np.cumsum(step).max(initial=0))


def _parse_number(text: str):
    if len(text) > _MAX_NUMBER_CHARS:
        raise ValueError(f"a number of {len(text)} characters")
    return int(text) if text.lstrip("-").isdigit() else float(text)


def _reject_constant(text: str):
    raise ValueError(f"{text} is not a stored value")


def _parse_header(blob: bytes) -> dict:
    if _json_depth(blob) > _MAX_JSON_DEPTH:
        raise ValueError(f"JSON nested deeper than {_MAX_JSON_DEPTH} levels")
    header = json.loads(blob.decode("utf-8"), parse_int=_parse_number,
                        parse_float=_parse_number, parse_constant=_reject_constant)
    if not isinstance(header, dict):
        raise ValueError("the header is not a JSON object")
    return header


def _is_int(v) -> TypeGuard[int]:
    return isinstance(v, int) and not isinstance(v, bool)


def _check_header_schema(header: dict, bad) -> None:
    """Types of every header field the loader uses, before anything is allocated."""
    kind = header.get("kind")
    if not isinstance(kind, str):
        raise bad(f"corrupt: field 'kind' is {type(kind).__name__}, expected a string")
    for field in ("meta", "components", "arrays"):
        if not isinstance(header.get(field, {}), dict):
            raise bad(f"corrupt: field {field!r} is {type(header[field]).__name__}, "
                      "expected an object")
    if "arrays" not in header:
        raise bad("corrupt: field 'arrays' is missing")
    for cname, desc in header.get("components", {}).items():
        if not isinstance(desc, dict) or not isinstance(desc.get("type"), str) or \
                not isinstance(desc.get("attrs", {}), dict):
            raise bad(f"corrupt: field 'components.{cname}' must be an object with a string "
                      "'type' and an object 'attrs'")


def _check_array_entry(name: str, e, data_start: int, total: int, bad):
    """(dtype, shape, offset, nbytes, crc) of one array entry, every number checked."""
    field = f"arrays.{name}"
    if not isinstance(e, dict):
        raise bad(f"corrupt: field {field!r} is not an object")
    dtype_name = e.get("dtype")
    dt = _DTYPES.get(dtype_name) if isinstance(dtype_name, str) else None
    if dt is None:
        raise bad(f"corrupt: field '{field}.dtype' is {e.get('dtype')!r}; stored arrays are "
                  f"little-endian numbers ({', '.join(sorted(_DTYPES))})")
    shape = e.get("shape")
    if not isinstance(shape, list) or len(shape) > _MAX_ARRAY_DIMS or not all(
            _is_int(s) and 0 <= s <= _MAX_DIMENSION for s in shape):
        raise bad(f"corrupt: field '{field}.shape' is {str(shape)[:80]}; expected at most "
                  f"{_MAX_ARRAY_DIMS} non-negative integers")
    offset, nbytes, crc = e.get("offset"), e.get("nbytes"), e.get("crc32", 0)
    for key, v in (("offset", offset), ("nbytes", nbytes), ("crc32", crc)):
        if not _is_int(v) or v < 0 or v > (1 << 64):
            raise bad(f"corrupt: field '{field}.{key}' is {str(v)[:40]}, expected a "
                      "non-negative integer")
    assert isinstance(offset, int) and isinstance(nbytes, int)  # checked just above
    count = span = 1
    for s in shape:  # Python integers: a product never wraps
        count *= s
        span *= max(s, 1)
    if span > 1 << 62:  # numpy cannot even describe it (a zero dimension hides nothing)
        raise bad(f"corrupt: field '{field}.shape' {tuple(shape)} is beyond any array")
    if count * dt.itemsize != nbytes:
        raise bad(f"corrupt: array {name!r} shape {tuple(shape)} does not match {nbytes} bytes "
                  f"(field '{field}.nbytes')")
    if offset < data_start or offset + nbytes > total:
        raise bad(f"corrupt: array {name!r} lies outside the file (field '{field}.offset')")
    return dt, tuple(shape), offset, nbytes, count, crc


def read_file(path: str | os.PathLike, *, mmap_mode: bool = False,
              verify: bool = True) -> StoredFile:
    """Read and validate a compactemb file; arrays are memory-mapped when ``mmap_mode``.

    The file is untrusted input: the header is checked against the schema (field types, finite
    non-negative integers, shape products equal to the byte counts, offsets inside the file,
    JSON nesting and number length, little-endian numeric dtypes) before any array is
    allocated, and every failure is a :class:`~compactemb.FormatError` naming the file and the
    field. The path is opened once and everything is read from that descriptor, so a
    concurrent atomic replace gives the old or the new file, never an error.

    Parameters
    ----------
    path : str or PathLike
    mmap_mode : bool, default False
        Memory-map the arrays (read-only views) instead of reading them into memory.
    verify : bool, default True
        Check the CRC-32 of the header (always) and of every array.

    Returns
    -------
    StoredFile

    Raises
    ------
    InputError
        When the path does not exist or is a folder.
    FormatError
        When the file is not a valid compactemb file.

    Examples
    --------
    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "a.cemb")
    >>> write_file(p, "table", {"x": np.zeros(3, np.float32)})
    >>> read_file(p).arrays["x"].shape
    (3,)
    """
    path = os.fspath(path)

    def bad(msg: str) -> FormatError:
        return FormatError(f"{path}: {msg}")

    try:
        f = open(path, "rb")  # noqa: SIM115 - closed below, after the arrays are read
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a directory, expected a compactemb file") from None
    mapping = None
    arrays: dict[str, np.ndarray] = {}
    try:
        import stat

        st = os.fstat(f.fileno())
        if stat.S_ISDIR(st.st_mode):
            raise InputError(f"{path}: is a directory, expected a compactemb file")
        size = st.st_size
        pre = f.read(_PREAMBLE.size)
        if len(pre) < _PREAMBLE.size:
            if pre and not MAGIC.startswith(pre[:8]):
                raise bad("not a compactemb file (wrong magic bytes)")
            raise bad(f"truncated: {size} bytes, shorter than the {_PREAMBLE.size}-byte preamble")
        magic, version, hcrc, hlen, total = _PREAMBLE.unpack(pre)
        if magic != MAGIC:
            raise bad("not a compactemb file (wrong magic bytes)")
        if version not in SUPPORTED_VERSIONS:
            raise bad(f"format version {version} is not supported by this compactemb "
                      f"(reads {', '.join(map(str, SUPPORTED_VERSIONS))}); upgrade compactemb")
        if size < total:
            raise bad(f"truncated: {size} bytes on disk, the header says {total}")
        if size > total:
            raise bad(f"corrupt: {size} bytes on disk, the header says {total} "
                      "(trailing data)")
        if hlen > min(_MAX_HEADER, size - _PREAMBLE.size):
            raise bad(f"corrupt: header length {hlen} does not fit in the file")
        blob = f.read(hlen)
        if len(blob) != hlen:
            raise bad("truncated: the header is incomplete")
        if zlib.crc32(blob) != hcrc:
            raise bad("corrupt: header checksum mismatch")
        try:
            header = _parse_header(blob)
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            raise bad(f"corrupt: header is not valid ({str(exc)[:200]})") from None
        _check_header_schema(header, bad)
        data_start = _PREAMBLE.size + hlen
        entries = {name: _check_array_entry(name, e, data_start, total, bad)
                   for name, e in header["arrays"].items()}
        if mmap_mode and entries and total > 0:
            mapping = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
            if len(mapping) < total:  # the file shrank since fstat
                raise bad(f"truncated: {len(mapping)} bytes on disk, the header says {total}")
        for name, (dt, shape, offset, nbytes, count, crc) in entries.items():
            if mapping is not None:
                a = np.frombuffer(mapping, dtype=dt, count=count, offset=offset)
            else:
                a = np.empty(count, dtype=dt)
                buf = a.view(np.uint8).reshape(-1)
                f.seek(offset)
                got = f.readinto(buf.data) if nbytes else 0  # buffered: on to nbytes or EOF
                if got != nbytes:
                    raise bad(f"truncated: array {name!r} is incomplete")
            a = a.reshape(shape)
            if verify and _crc(a) != crc:
                raise bad(f"corrupt: array {name!r} checksum mismatch")
            if not a.dtype.isnative:  # big-endian hosts: files are little-endian
                a = a.astype(a.dtype.newbyteorder("="))
            arrays[name] = a
    except BaseException:
        if mapping is not None:
            arrays.clear()
            try:
                mapping.close()
            except BufferError:
                pass
        raise
    finally:
        f.close()  # an mmap keeps its own reference to the file
    return StoredFile(path, header, arrays, mapping)


# -- components ------------------------------------------------------------------------------

def save_components(path, kind: str, components: dict[str, Any], *, meta: dict | None = None):
    """Save objects with ``component_type``, ``attrs()`` and ``arrays()`` under their names.

    Parameters
    ----------
    path : str or os.PathLike
        The file, written atomically.
    kind : str
        The file kind (``"keyed_vectors"``, ``"factors"``, ...).
    components : dict of str to object
        The stored objects by component name.
    meta : dict or None
        JSON-able metadata.

    Raises
    ------
    InputError
        For an array that cannot be stored or a folder that does not exist.
    """
    arrays: dict[str, np.ndarray] = {}
    described: dict[str, dict] = {}
    for cname, obj in components.items():
        described[cname] = {"type": obj.component_type, "attrs": obj.attrs()}
        for aname, a in obj.arrays().items():
            arrays[f"{cname}/{aname}"] = a
    write_file(path, kind, arrays, meta=meta, components=described)


# -- checks a from_state makes on what a file says -----------------------------------------

_MAX_STATE_INT = 1 << 48


def state_int(attrs: dict, name: str, *, low: int = 0, high: int = _MAX_STATE_INT,
              default: Any = None) -> int:
    """An integer attribute of a stored object, checked before it sizes or bounds anything.

    Parameters
    ----------
    attrs : dict
        The stored attributes.
    name : str
        The attribute.
    low, high : int
        The accepted range, both ends included.
    default : int, optional
        The value when the attribute is absent (absent and no default is an error).

    Returns
    -------
    int

    Raises
    ------
    ValueError
        Naming the attribute, when it is missing, not an integer (a bool, a float, a string)
        or out of range; :func:`build_component` reports it as the file's format error.

    Examples
    --------
    >>> state_int({"n_buckets": 16}, "n_buckets", low=1)
    16
    >>> state_int({"n_buckets": 0}, "n_buckets", low=1)
    Traceback (most recent call last):
    ...
    ValueError: attribute 'n_buckets' is 0; expected an integer from 1 to 281474976710656
    """
    if not isinstance(attrs, dict):
        raise ValueError(f"attributes are {type(attrs).__name__}, expected an object")
    if name not in attrs and default is not None:
        return default
    v = attrs.get(name)
    if not isinstance(v, (int, np.integer)) or isinstance(v, (bool, np.bool_)) \
            or not low <= v <= high:
        raise ValueError(f"attribute {name!r} is {str(v)[:40]}; expected an integer from "
                         f"{low} to {high}")
    return int(v)


def state_choice(attrs: dict, name: str, choices, *, default: Any = None) -> Any:
    """An attribute that must be one of ``choices`` (strings or booleans).

    Parameters
    ----------
    attrs : dict
    name : str
    choices : iterable
    default : optional
        The value when the attribute is absent (absent and no default is an error).

    Returns
    -------
    The attribute.

    Raises
    ------
    ValueError
        Naming the attribute and the accepted values.

    Examples
    --------
    >>> state_choice({"combine": "mul"}, "combine", ("mul", "add"))
    'mul'
    """
    if not isinstance(attrs, dict):
        raise ValueError(f"attributes are {type(attrs).__name__}, expected an object")
    if name not in attrs and default is not None:
        return default
    v = attrs.get(name)
    choices = tuple(choices)
    if not any(type(v) is type(c) and v == c for c in choices):
        raise ValueError(f"attribute {name!r} is {str(v)[:40]}; expected one of "
                         f"{', '.join(map(repr, choices))}")
    return v


def state_array(arrays: dict, name: str, *, ndim: int | None = None, kinds: str = "biuf",
                rows: int | None = None) -> np.ndarray:
    """The stored array ``name`` that a from_state needs, checked.

    It must be present, of a dtype kind in ``kinds``, with ``ndim`` dimensions and ``rows`` rows
    when given.

    Parameters
    ----------
    arrays : dict
    name : str
    ndim : int, optional
    kinds : str, default "biuf"
        Accepted ``dtype.kind`` letters ("iu" for indices, "f" for values ...).
    rows : int, optional

    Returns
    -------
    numpy.ndarray

    Raises
    ------
    ValueError
        Naming the array and what does not fit.

    Examples
    --------
    >>> state_array({"w": np.zeros((2, 3), np.float32)}, "w", ndim=2, kinds="f").shape
    (2, 3)
    """
    if name not in arrays:
        raise ValueError(f"array {name!r} is missing")
    a = arrays[name]
    if a.dtype.kind not in kinds:
        raise ValueError(f"array {name!r} has dtype {a.dtype}, expected kind {kinds!r}")
    if ndim is not None and a.ndim != ndim:
        raise ValueError(f"array {name!r} has {a.ndim} dimensions, expected {ndim}")
    if rows is not None and (a.ndim == 0 or a.shape[0] != rows):
        raise ValueError(f"array {name!r} has shape {a.shape}, expected {rows} rows")
    return a


def state_indices(a: np.ndarray, name: str, bound: int) -> np.ndarray:
    """Check that integer array ``a`` holds indices in ``[0, bound)`` (one pass).

    Parameters
    ----------
    a : numpy.ndarray of int
        The indices.
    name : str
        The array's name, for the message.
    bound : int
        One past the largest valid index.

    Returns
    -------
    numpy.ndarray
        ``a`` itself.

    Raises
    ------
    ValueError
        When an index is outside ``[0, bound)`` (the loader reports it as a format error).
    """
    if a.size and (int(a.min()) < 0 or int(a.max()) >= bound):
        raise ValueError(f"array {name!r} holds indices outside [0, {bound})")
    return a


# what a from_state or a file loader raises on attributes that do not fit its arrays; each is
# reported as the file's format error (a safety net behind the explicit checks of check_state)
_STATE_ERRORS = (KeyError, ValueError, TypeError, IndexError, AttributeError, OverflowError,
                 ZeroDivisionError, RecursionError, LookupError, UnicodeError)


# attributes that count or size something, in any kind (and in nested parts such as a pruned
# table's "inner"): whole numbers in [0, 2^48], checked for every component before its
# from_state runs; a kind checks its own ranges and the fit to its arrays in from_state
COUNT_ATTRIBUTES = frozenset({
    "n_rows", "dim", "size", "n_keep", "n_fallback", "n_buckets", "n_hashes", "rank",
    "n_blocks", "n_centroids", "n_subvectors", "n_remainder", "n_components", "n_head",
    "n_items", "bits", "ngrams"})


def check_count_attributes(attrs, where: str = "") -> None:
    """Check every count attribute (:data:`COUNT_ATTRIBUTES`) in ``attrs``, nested ones too.

    Each must be an integer in [0, 2^48], never a bool, float or string.

    Parameters
    ----------
    attrs : dict
        A component's stored attributes.
    where : str
        Prefix of the attribute names in messages (for nested objects).

    Raises
    ------
    ValueError
        Naming the attribute.

    Examples
    --------
    >>> check_count_attributes({"n_rows": 3, "inner": {"dim": 2}})
    >>> check_count_attributes({"inner": {"dim": 1.5}})
    Traceback (most recent call last):
    ...
    ValueError: attribute 'inner.dim' is 1.5; expected an integer from 0 to 281474976710656
    """
    if not isinstance(attrs, dict):
        raise ValueError(f"attributes {where or ''} are {type(attrs).__name__}, expected an "
                         "object")
    for key, value in attrs.items():
        if key in COUNT_ATTRIBUTES:
            state_int({f"{where}{key}": value}, f"{where}{key}")
        elif isinstance(value, dict) and where.count(".") < 4:
            check_count_attributes(value, f"{where}{key}.")


def build_component(stored: StoredFile, name: str):
    """Rebuild component ``name`` of a read file through the component-type registry.

    Parameters
    ----------
    stored : StoredFile
        The read file.
    name : str
        The component's name.

    Returns
    -------
    object
        The rebuilt object.

    Raises
    ------
    FormatError
        Naming the file and component when it is missing, of an unknown type, or its arrays
        do not fit its attributes.
    """
    try:
        desc = stored.components[name]
        ctype = desc["type"]
    except (KeyError, TypeError):
        raise FormatError(f"{stored.path}: has no component {name!r} "
                          f"(kind {stored.kind!r})") from None
    try:
        cls = component_class(ctype)
    except FormatError as exc:
        raise FormatError(f"{stored.path}: component {name!r}: {exc}") from None
    try:
        attrs = desc.get("attrs", {})
        check_count_attributes(attrs)
        return cls.from_state(attrs, stored.component_arrays(name))
    except FormatError:
        raise
    except _STATE_ERRORS as exc:
        raise FormatError(f"{stored.path}: component {name!r} ({ctype}) is invalid: "
                          f"{str(exc)[:300]}") from None


# -- the registry of stored kinds -------------------------------------------------------------
#
# Every class a file can hold (a component type: vocabulary, table kinds, a factor model's seen
# items, a classifier's head ...) and every loader of a top-level file kind registers itself here
# when its module is imported (``@register_component``, ``register_file_kind``). Storage names no
# higher layer: which module defines a kind is declared in ``_stored_kinds.py``, a plain table of
# module names that ``component_class`` and ``load`` import on first need, so that reading a
# table file does not import the trainers.
_COMPONENT_TYPES: dict[str, type] = {}
_FILE_KINDS: dict[str, Callable] = {}


def register_component(cls=None, target: type | None = None):
    """Register a stored component class under its ``component_type``.

    Parameters
    ----------
    cls : type or str
        A class with ``component_type``, ``attrs()``, ``arrays()`` and ``from_state(attrs,
        arrays)``; or a type name, then ``target`` is the class (the older spelling).
    target : type, optional
        The class, when ``cls`` is a type name.

    Returns
    -------
    type
        The class, so that this works as a class decorator.

    Raises
    ------
    InputError
        When the class has no ``component_type`` or the name is taken by another class.

    Examples
    --------
    How ``compactemb.vocab`` registers its class (registering it again changes nothing):

    >>> from compactemb.vocab import Vocab
    >>> register_component(Vocab) is Vocab
    True
    """
    if isinstance(cls, str):
        name, klass = cls, target
    else:
        klass = cls
        name = getattr(klass, "component_type", "")
    if not name or not isinstance(klass, type):
        raise InputError(f"register_component needs a class with a component_type, got {cls!r}")
    old = _COMPONENT_TYPES.get(name)
    if old is not None and old is not klass and old.__qualname__ != klass.__qualname__:
        raise InputError(f"component type {name!r} is already registered to {old.__qualname__}")
    _COMPONENT_TYPES[name] = klass
    return klass


def register_file_kind(kind: str, loader: Callable) -> Callable:
    """Register the loader of a top-level file kind: ``loader(stored: StoredFile) -> object``.

    Parameters
    ----------
    kind : str
        The header's ``kind``.
    loader : callable
        Builds the object from a :class:`StoredFile` (usually through :func:`build_component`).

    Returns
    -------
    callable
        ``loader``.

    Raises
    ------
    InputError
        When ``loader`` is not callable.

    Examples
    --------
    A loader of a new kind (``compactemb.vocab`` registers ``"vocab"`` the same way); the
    example removes it again, so the real kinds stay as they are:

    >>> def load_example(stored):
    ...     return stored.meta
    >>> register_file_kind("example_kind", load_example) is load_example
    True
    >>> _ = _FILE_KINDS.pop("example_kind")
    """
    if not callable(loader):
        raise InputError(f"the loader of file kind {kind!r} must be callable, got {loader!r}")
    _FILE_KINDS[kind] = loader
    return loader


def _import_definition(table_name: str, name: str) -> None:
    """Import the module that defines kind ``name`` (it registers itself), if one is declared."""
    import importlib

    from . import _stored_kinds

    module = getattr(_stored_kinds, table_name).get(name)
    if module is not None:
        importlib.import_module(module)


def component_class(type_name: str) -> Any:
    """The class registered for a component type, importing its module on first use.

    Parameters
    ----------
    type_name : str
        The component type as a file names it.

    Returns
    -------
    type
        The registered class.

    Raises
    ------
    FormatError
        When no class is known for the type (a file written by a newer compactemb).
    """
    if type_name not in _COMPONENT_TYPES:
        _import_definition("COMPONENT_TYPES", type_name)
    if type_name not in _COMPONENT_TYPES:
        from . import _stored_kinds

        known = sorted(set(_COMPONENT_TYPES) | set(_stored_kinds.COMPONENT_TYPES))
        raise FormatError(f"unknown component type {type_name!r}; known: "
                          f"{', '.join(known)} (a newer compactemb may read it)")
    return _COMPONENT_TYPES[type_name]


def registered_kinds(*, import_all: bool = True) -> dict[str, dict]:
    """The registered component types and file kinds.

    Parameters
    ----------
    import_all : bool, default True
        Import every module declared in ``_stored_kinds`` first, so the answer is complete.

    Returns
    -------
    dict
        ``{"components": {type name: class}, "files": {kind: loader}}``.

    Examples
    --------
    >>> "dense" in registered_kinds()["components"]
    True
    """
    if import_all:
        import importlib

        from . import _stored_kinds

        for module in {*_stored_kinds.COMPONENT_TYPES.values(), *_stored_kinds.FILE_KINDS.values()}:
            importlib.import_module(module)
    return {"components": dict(_COMPONENT_TYPES), "files": dict(_FILE_KINDS)}


def load(path: str | os.PathLike, *, mmap: bool = False, verify: bool = True):
    """Load any compactemb file: a table, a vocabulary, word vectors, a factor model, ...

    Parameters
    ----------
    path : str or os.PathLike
        The file.
    mmap : bool, default False
        Memory-map the arrays (read-only views) instead of reading them into memory.
    verify : bool, default True
        Check the CRC-32 of every array (reads the whole file once).

    Returns
    -------
    object
        What the file holds: an EmbeddingTable, Vocab, KeyedVectors, FactorModel,
        TextClassifier, ...

    Raises
    ------
    FormatError
        Naming the file and the problem for anything but a valid compactemb file.
    """
    stored = read_file(path, mmap_mode=mmap, verify=verify)
    if stored.kind not in _FILE_KINDS:
        _import_definition("FILE_KINDS", stored.kind)
    if stored.kind not in _FILE_KINDS:
        raise FormatError(f"{stored.path}: unknown file kind {stored.kind!r}")
    try:
        return _FILE_KINDS[stored.kind](stored)
    except FormatError:
        raise
    except _STATE_ERRORS as exc:
        raise FormatError(f"{stored.path}: {stored.kind} file is invalid: "
                          f"{str(exc)[:300]}") from None
