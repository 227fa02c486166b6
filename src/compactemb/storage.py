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
from typing import Any

import numpy as np

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


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True  # someone else's live process (or not a pid): leave its file alone
    return True


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
    """Remove ``<path>.tmp-<pid>-*`` files left beside ``path`` by writers that died (kill -9,
    power loss); files of live processes are kept. Returns the removed paths.

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
    removed = []
    try:
        names = os.listdir(directory)
    except OSError:
        return removed
    for name in names:
        if not name.startswith(prefix):
            continue
        pid_text = name[len(prefix):].split("-", 1)[0]
        if not pid_text.isdigit() or len(pid_text) > 9 or _pid_alive(int(pid_text)):
            continue
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
        """The arrays of component ``name``, by their names within it."""
        prefix = name + "/"
        return {k[len(prefix):]: v for k, v in self.arrays.items() if k.startswith(prefix)}


def read_file(path: str | os.PathLike, *, mmap_mode: bool = False,
              verify: bool = True) -> StoredFile:
    """Read and validate a compactemb file; arrays are memory-mapped when ``mmap_mode``."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise InputError(f"{path}: no such file")
    if os.path.isdir(path):
        raise InputError(f"{path}: is a directory, expected a compactemb file")
    size = os.path.getsize(path)

    def bad(msg: str) -> FormatError:
        return FormatError(f"{path}: {msg}")

    with open(path, "rb") as f:
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
    if zlib.crc32(blob) != hcrc:
        raise bad("corrupt: header checksum mismatch")
    try:
        header = json.loads(blob.decode("utf-8"))
        entries = header["arrays"]
        header["kind"]  # noqa: B018 - presence check
    except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as exc:
        raise bad(f"corrupt: header is not valid ({exc})") from None

    mapping = None
    if mmap_mode and entries:
        with open(path, "rb") as f:
            mapping = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    arrays: dict[str, np.ndarray] = {}
    try:
        with open(path, "rb") as f:
            for name, e in entries.items():
                try:
                    dt = np.dtype(e["dtype"])
                    _check_dtype(dt, name)
                    shape = tuple(int(s) for s in e["shape"])
                    offset, nbytes = int(e["offset"]), int(e["nbytes"])
                except (TypeError, ValueError, KeyError, InputError) as exc:
                    raise bad(f"corrupt: entry of array {name!r} is invalid ({exc})") from None
                count = int(np.prod(shape, dtype=np.int64))
                if count * dt.itemsize != nbytes or min(shape, default=0) < 0:
                    raise bad(f"corrupt: array {name!r} shape {shape} does not match "
                              f"{nbytes} bytes")
                if offset < _PREAMBLE.size + hlen or offset + nbytes > total:
                    raise bad(f"corrupt: array {name!r} lies outside the file")
                if mapping is not None:
                    a = np.frombuffer(mapping, dtype=dt, count=count, offset=offset)
                else:
                    f.seek(offset)
                    a = np.fromfile(f, dtype=dt, count=count)
                    if a.size != count:
                        raise bad(f"truncated: array {name!r} is incomplete")
                a = a.reshape(shape)
                if verify and _crc(a) != e.get("crc32"):
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
    """
    arrays: dict[str, np.ndarray] = {}
    described: dict[str, dict] = {}
    for cname, obj in components.items():
        described[cname] = {"type": obj.component_type, "attrs": obj.attrs()}
        for aname, a in obj.arrays().items():
            arrays[f"{cname}/{aname}"] = a
    write_file(path, kind, arrays, meta=meta, components=described)


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
    cls = component_class(ctype)
    try:
        return cls.from_state(desc.get("attrs", {}), stored.component_arrays(name))
    except (KeyError, ValueError, TypeError) as exc:
        raise FormatError(f"{stored.path}: component {name!r} ({ctype}) is invalid: "
                          f"{exc}") from None


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
    How ``compactemb.vocab`` registers the loader of vocabulary files:

    >>> def load_vocab_file(stored):
    ...     return build_component(stored, "vocab")
    >>> register_file_kind("vocab", load_vocab_file) is load_vocab_file
    True
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
    mmap : bool, default False
        Memory-map the arrays (read-only views) instead of reading them into memory.
    verify : bool, default True
        Check the CRC-32 of every array (reads the whole file once).
    """
    stored = read_file(path, mmap_mode=mmap, verify=verify)
    if stored.kind not in _FILE_KINDS:
        _import_definition("FILE_KINDS", stored.kind)
    if stored.kind not in _FILE_KINDS:
        raise FormatError(f"{stored.path}: unknown file kind {stored.kind!r}")
    return _FILE_KINDS[stored.kind](stored)
