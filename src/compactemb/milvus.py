"""Push vectors into Milvus and search them there.

Milvus Lite (a local ``.db`` file) by default, the same code to a Milvus server with
``uri="http://HOST:19530"``.

``pymilvus`` (extra ``compactemb[milvus]``) is imported only when a function here is called.

Collection layout: ``id`` (INT64 primary key = the row number in the table), ``key`` (VARCHAR,
the row's key as text), ``count`` (INT64, the vocabulary's count) and ``vector``. The
collection's description holds a small JSON record (key type, rows, dim, table kind, metric), so
a search returns keys of the right type and can tell an unfinished push.

Pushes are **resumable, never silently partial**: rows are upserted by primary key, so pushing
the same file again gives the same rows (no duplicates) and finishes an interrupted push; a
search into a collection holding fewer rows than its push announced fails with an error saying
so, and a failed push raises (the CLI exits 1) instead of reporting success.
"""

from __future__ import annotations

import json
import time
from collections.abc import Hashable, Sequence

import numpy as np

from .exceptions import CompactEmbError, InputError

__all__ = ["MilvusError", "PushReport", "push", "search", "search_vectors", "recommend",
           "is_lite", "INDEX_TYPES", "METRICS"]

INDEX_TYPES = ("auto", "flat", "ivf_flat", "ivf_pq", "hnsw")
METRICS = ("cosine", "ip", "l2")
_MAX_KEY_CHARS = 65535
_BATCH_BYTES = 4 << 20  # vectors per insert call: about 4 MB of payload (gRPC limit is 64 MB)
_TAG = "compactemb"


class MilvusError(CompactEmbError):
    """Milvus could not be reached, refused a request, or holds an incompatible collection."""


PushReport = dict  # rows, bytes_sent, index_type, index_params, metric, vector_type, seconds


def _pymilvus():
    from .exceptions import require

    return require("pymilvus", "milvus")


def is_lite(uri: str) -> bool:
    """Whether ``uri`` names a Milvus Lite file (``*.db``) rather than a server URL.

    Parameters
    ----------
    uri : str
        A Milvus Lite file or a server URL.

    Returns
    -------
    bool
        True for a Lite file.
    """
    return str(uri).endswith(".db")


def _check_uri(uri: str) -> str:
    uri = str(uri)
    if is_lite(uri) or uri.startswith(("http://", "https://", "tcp://", "unix:")):
        return uri
    raise InputError(f"--uri {uri!r}: expected a Milvus Lite file ending in .db or a server "
                     "URL such as http://127.0.0.1:19530")


def _connect(uri: str, token: str | None = None, timeout: float = 10.0):
    pm = _pymilvus()
    uri = _check_uri(uri)
    try:
        return pm.MilvusClient(uri=uri, token=token or "", timeout=timeout)
    except Exception as exc:  # pymilvus raises MilvusException, grpc errors or its own
        raise MilvusError(f"cannot connect to Milvus at {uri}: {_short(exc)}") from None


def _short(exc: BaseException) -> str:
    msg = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    return " ".join(str(msg).split())[:300]


def _call(what: str, uri: str, fn, *args, **kw):
    """Run one pymilvus call, turning its errors into one-line MilvusErrors."""
    try:
        return fn(*args, **kw)
    except CompactEmbError:
        raise
    except Exception as exc:
        raise MilvusError(f"{what} at {uri} failed: {_short(exc)}") from None


# -- what to push -----------------------------------------------------------------------------
def _as_keyed(obj, side: str | None):
    """(vocab, table, kind) of anything with vectors; ``side`` picks a factor model's half."""
    from .keyed import KeyedVectors
    from .recommend import FactorModel
    from .tables import EmbeddingTable
    from .vocab import Vocab

    if side not in (None, "users", "items"):
        raise InputError(f"side must be 'users' or 'items', got {side!r}")
    if isinstance(obj, FactorModel):
        if side == "users":
            return obj.user_vocab, obj.user_table
        return obj.item_vocab, obj.item_table
    if side is not None:
        raise InputError(f"--side only applies to a factor model, not a {type(obj).__name__}")
    if isinstance(obj, KeyedVectors):
        return obj.vocab, obj.table
    if hasattr(obj, "word_vectors"):  # a classifier
        kv = obj.word_vectors()
        return kv.vocab, kv.table
    if isinstance(obj, EmbeddingTable):
        return Vocab(np.arange(obj.n_rows, dtype=np.int64)), obj
    raise InputError(f"a {type(obj).__name__} has no vectors to push")


def _plan_index(table, index: str, metric: str, lite: bool, n_rows: int) -> tuple[str, dict, dict]:
    """(Milvus index type, build params, search params) for a table.

    Memory mirrors the table's compression where the target supports it.
    """
    if index not in INDEX_TYPES:
        raise InputError(f"index must be one of {', '.join(INDEX_TYPES)}, got {index!r}")
    kind = getattr(table, "kind", "dense")
    nlist = int(min(4096, max(1, 4 * np.sqrt(max(n_rows, 1)))))
    nprobe = max(1, min(nlist, nlist // 8 + 16))
    ivf_search = {"nprobe": nprobe}
    if index == "auto":
        if n_rows <= 20000:
            index = "flat"  # exact is fast enough; no recall to lose
        elif kind == "pq" and not lite:
            index = "ivf_pq"
        elif kind in ("int8", "int4") or kind == "pq":  # 1 byte per dim, near the table's size
            return "IVF_SQ8", {"nlist": nlist}, {**ivf_search, "nprobe": min(nlist, 4 * nprobe)}
        else:
            index = "hnsw"
    if index == "flat":
        return "FLAT", {}, {}
    if index == "ivf_flat":
        return "IVF_FLAT", {"nlist": nlist}, ivf_search
    if index == "hnsw":
        return "HNSW", {"M": 16, "efConstruction": 200}, {"ef": 128}
    # ivf_pq
    if lite:
        raise MilvusError("Milvus Lite has no IVF_PQ index (it supports flat, ivf_flat, hnsw); "
                          "use another --index or a Milvus server")
    dim = table.dim
    m = int(getattr(table, "n_subvectors", 0)) if kind == "pq" else 0
    if not m or dim % m:
        m = next(c for c in (dim // 4, dim // 2, dim, 1) if c >= 1 and dim % c == 0)
    nbits = 8
    if kind == "pq":
        nbits = int(max(1, min(16, np.ceil(np.log2(max(table.n_centroids, 2))))))
    return "IVF_PQ", {"nlist": nlist, "m": m, "nbits": nbits}, {**ivf_search,
                                                               "nprobe": min(nlist, 4 * nprobe)}


def _describe(c, uri: str, collection: str) -> dict:
    """The collection's schema and compactemb record."""
    desc = _call(f"describe collection {collection!r}", uri, c.describe_collection, collection)
    # Milvus Lite drops descriptions but keeps properties; a server keeps both
    props = desc.get("properties") or {}
    try:
        rec = json.loads(props.get(_TAG) or desc.get("description") or "{}")
    except ValueError:
        rec = {}
    if not isinstance(rec, dict) or rec.get(_TAG) != 1:
        rec = {}
    fields = {f["name"]: f for f in desc.get("fields", [])}
    vec = fields.get("vector")
    if vec is None or "id" not in fields or "key" not in fields:
        raise MilvusError(f"collection {collection!r} at {uri} was not made by compactemb "
                          "(no id/key/vector fields); pick another --collection or --replace it")
    rec["dim"] = int(vec.get("params", {}).get("dim", rec.get("dim", 0)))
    rec["vector_type"] = getattr(vec.get("type"), "name", str(vec.get("type")))
    return rec


def _wait_for_index(c, uri: str, collection: str, n: int, timeout: float) -> None:
    """Wait until the vector index covers every row.

    Until then a server answers from its interim index (a small fixed IVF) whatever index was asked
    for.
    """
    deadline = time.monotonic() + timeout
    reloaded = False
    while True:
        idx = _call("describe index", uri, c.describe_index, collection, "vector") or {}
        total, done = int(idx.get("total_rows", n)), int(idx.get("indexed_rows", n))
        if done >= total and int(idx.get("pending_index_rows", 0)) == 0:
            break
        reloaded = True
        if time.monotonic() > deadline:
            raise MilvusError(f"the {idx.get('index_type', '')} index of {collection!r} at {uri} "
                              f"covers {done} of {total} rows after {timeout:.0f} s; the rows "
                              "are in: search again later or push again to wait")
        time.sleep(0.5)
    if reloaded:  # serve from the built index rather than the interim one
        _call("release collection", uri, c.release_collection, collection)


def _count(c, uri: str, collection: str) -> int:
    res = _call(f"count rows of {collection!r}", uri, c.query, collection, filter="",
                output_fields=["count(*)"], consistency_level="Strong")
    return int(res[0]["count(*)"])


def _create_or_check(c, pm, uri, collection, exists, vtype, key_type, n, dim, table_kind,
                     metric, source, index_type, index_params, search_params):
    """Create the collection for ``n`` rows, or check that the existing one takes them.

    Returns (whether it existed, its index type). Also used by the push over shards
    (:mod:`compactemb.distributed`), whose tasks then insert their rows.
    """
    record = {_TAG: 1, "key_type": key_type, "rows": n, "dim": dim,
              "table_kind": table_kind, "metric": metric, "source": source,
              "search_params": search_params}
    if exists:
        old = _describe(c, uri, collection)
        if old["dim"] != dim or old["vector_type"] != vtype.name:
            raise MilvusError(
                f"collection {collection!r} at {uri} holds {old['vector_type']} of dim "
                f"{old['dim']}, this push is {vtype.name} of dim {dim}; use --replace or "
                "another --collection")
        if old.get("key_type") not in (None, key_type):
            raise MilvusError(f"collection {collection!r} holds {old['key_type']} keys, this "
                              f"push has {key_type} keys; use --replace")
        have_idx = _call("describe index", uri, c.describe_index, collection, "vector") or {}
        if str(have_idx.get("metric_type", metric)).lower() != metric:
            raise MilvusError(f"collection {collection!r} is indexed for metric "
                              f"{have_idx.get('metric_type')}, not {metric}; use --replace")
        index_type = have_idx.get("index_type", index_type)
        if old.get("rows") != n:
            raise MilvusError(f"collection {collection!r} was pushed from {old.get('rows')} rows,"
                              f" this table has {n}; use --replace")
    else:
        schema = pm.MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False,
                                               description=json.dumps(record))
        schema.add_field("id", pm.DataType.INT64, is_primary=True)
        schema.add_field("key", pm.DataType.VARCHAR, max_length=_MAX_KEY_CHARS)
        schema.add_field("count", pm.DataType.INT64)
        schema.add_field("vector", vtype, dim=dim)
        ip = c.prepare_index_params()
        ip.add_index(field_name="vector", index_type=index_type, metric_type=metric.upper(),
                     params=index_params)
        _call(f"create collection {collection!r} ({index_type}, {metric})", uri,
              c.create_collection, collection, schema=schema, index_params=ip,
              consistency_level="Strong")
        _call("set collection properties", uri, c.alter_collection_properties, collection,
              properties={_TAG: json.dumps(record)})
    return exists, index_type


def push(obj, uri: str, collection: str, *, index: str = "auto", metric: str = "cosine",
         replace: bool = False, side: str | None = None, token: str | None = None,
         resume: bool = False, batch_rows: int | None = None, timeout: float = 10.0,
         index_timeout: float = 1800.0, source: str = "") -> dict:
    """Insert a table's rows (keys and counts as scalar fields) into a Milvus collection.

    Parameters
    ----------
    obj : KeyedVectors, FactorModel, classifier, EmbeddingTable, or a path to a compactemb file
        Compressed tables are decoded block by block.
    uri : str
        ``something.db`` for Milvus Lite, ``http://HOST:19530`` for a server.
    collection : str
        Created when missing; an existing one must have the same dimension and vector type.
    index : {"auto", "flat", "ivf_flat", "ivf_pq", "hnsw"}
        ``auto``: exact ``flat`` up to 20,000 rows; above, IVF_PQ with the table's own number of
        sub-vectors for a PQ table on a server, IVF_SQ8 for int8/int4 (and PQ on Lite), else HNSW.
    metric : {"cosine", "ip", "l2"}
    replace : bool
        Drop the collection first.
    side : {"users", "items"}, optional
        Which half of a factor model (default items).
    token : str, optional
        Credentials for a server (``user:password`` or an API key).
    resume : bool
        Skip rows already in the collection (by primary key) instead of upserting them again.
    index_timeout : float
        Seconds to wait for the index to cover every row (the push returns only then).

    Returns
    -------
    dict
        ``rows``, ``bytes_sent`` (vector, key and count payload), ``index_type``,
        ``index_params``, ``search_params``, ``metric``, ``vector_type``, ``seconds``.

    Raises
    ------
    MilvusError
        Unreachable URI, a collection of another dimension or schema, a metric or index the
        target cannot take, a server gone mid-push (the push is then *not* done; run it again).
    OptionalDependencyError
        pymilvus is not installed.

    Examples
    --------
    >>> push(kv, "vectors.db", "words")  # doctest: +SKIP
    {'rows': 71290, 'index_type': 'HNSW', ...}
    """
    from ._progress import progress
    from .storage import load

    if isinstance(obj, (str, bytes)) or hasattr(obj, "__fspath__"):
        source = source or str(obj)
        obj = load(obj, mmap=True)
    if metric not in METRICS:
        raise InputError(f"metric must be one of {', '.join(METRICS)}, got {metric!r}")
    if not collection or not str(collection).replace("_", "a").isalnum() or \
            str(collection)[0].isdigit():
        raise InputError(f"collection name {collection!r}: use letters, digits and _ (not "
                         "starting with a digit)")
    vocab, table = _as_keyed(obj, side)
    lite = is_lite(uri)
    n, dim = table.n_rows, table.dim
    index_type, index_params, search_params = _plan_index(table, index, metric, lite, n)
    # float32 vectors everywhere: Milvus Lite refuses FLOAT16 fields, and a Milvus 2.3.5 server
    # stores them but answers float16 queries from pymilvus 3.0.2 with garbage (cosine 0.0,
    # inner products ~1e24), so float16 storage is not offered until a pair that works is pinned
    fp16 = False
    pm = _pymilvus()
    vtype = pm.DataType.FLOAT16_VECTOR if fp16 else pm.DataType.FLOAT_VECTOR
    vdtype = np.float16 if fp16 else np.float32
    t0 = time.perf_counter()
    c = _connect(uri, token, timeout)
    exists = _call("list collections", uri, c.has_collection, collection)
    if exists and replace:
        _call(f"drop collection {collection!r}", uri, c.drop_collection, collection)
        exists = False
    exists, index_type = _create_or_check(
        c, pm, uri, collection, exists, vtype, vocab.key_type, n, dim,
        getattr(table, "kind", ""), metric, source, index_type, index_params, search_params)
    keys = vocab.keys
    counts = np.asarray(vocab.counts, dtype=np.int64)
    if batch_rows is None:
        batch_rows = max(1, min(10000, _BATCH_BYTES // (dim * np.dtype(vdtype).itemsize + 32)))
    sent = 0
    done_rows = 0
    with progress(total=n, desc=f"push {collection}", unit="row") as bar:
        for b0 in range(0, n, batch_rows):
            b1 = min(n, b0 + batch_rows)
            ids: range | list[int] = range(b0, b1)
            if resume and exists:
                have = _call("query ids", uri, c.query, collection,
                             filter=f"id >= {b0} and id < {b1}", output_fields=["id"],
                             consistency_level="Strong")
                have_ids = {int(r["id"]) for r in have}
                ids = [i for i in ids if i not in have_ids]
                if not ids:
                    bar.update(b1 - b0)
                    continue
            block = np.ascontiguousarray(table.rows(b0, b1), dtype=vdtype)
            if not np.isfinite(block).all():
                raise InputError(f"rows {b0}..{b1 - 1} hold NaN or inf values (not pushed)")
            rows = []
            for i in ids:
                key = str(keys[i])
                if len(key) > _MAX_KEY_CHARS:
                    raise InputError(f"key of row {i} is longer than {_MAX_KEY_CHARS} chars")
                rows.append({"id": i, "key": key, "count": int(counts[i]),
                             "vector": block[i - b0]})
                sent += len(key.encode()) + 16
            sent += len(rows) * dim * np.dtype(vdtype).itemsize
            _call(f"insert rows {b0}..{b1 - 1}", uri, c.upsert, collection, rows)
            done_rows += len(rows)
            bar.update(b1 - b0)
    _call("flush", uri, c.flush, collection)
    _wait_for_index(c, uri, collection, n, index_timeout)
    _call("load collection", uri, c.load_collection, collection)
    have = _count(c, uri, collection)
    if have != n:
        raise MilvusError(f"push into {collection!r} at {uri} ended with {have} of {n} rows; "
                          "run the same push again to finish it")
    return {"uri": uri, "collection": collection, "rows": n, "rows_sent": done_rows,
            "dim": dim, "bytes_sent": int(sent), "index_type": index_type,
            "index_params": index_params, "search_params": search_params, "metric": metric,
            "vector_type": vtype.name, "lite": lite,
            "seconds": round(time.perf_counter() - t0, 3)}


# -- search ---------------------------------------------------------------------------------
def _open(uri, collection, token, timeout):
    c = _connect(uri, token, timeout)
    if not _call("list collections", uri, c.has_collection, collection):
        raise MilvusError(f"no collection {collection!r} at {uri} (push one with "
                          "'compactemb milvus push')")
    rec = _describe(c, uri, collection)
    _call("load collection", uri, c.load_collection, collection)
    if "rows" in rec:
        have = _count(c, uri, collection)
        if have != rec["rows"]:
            raise MilvusError(f"collection {collection!r} at {uri} holds {have} of the "
                              f"{rec['rows']} rows its push announced: that push did not "
                              "finish; run it again")
    idx = _call("describe index", uri, c.describe_index, collection, "vector") or {}
    rec["metric"] = str(idx.get("metric_type", rec.get("metric", "cosine"))).lower()
    rec["index_type"] = idx.get("index_type", "")
    rec["index_params"] = {k: v for k, v in idx.items() if k in ("nlist", "m", "nbits", "M",
                                                                   "efConstruction")}
    return c, rec


def _search_params(rec: dict, k: int) -> dict:
    """The search parameters recorded at push time (HNSW's ef raised to k where needed)."""
    t = rec.get("index_type", "")
    params = dict(rec.get("search_params") or {})
    if not params and t == "HNSW":
        params = {"ef": 128}
    if not params and t.startswith("IVF"):
        nlist = int(rec.get("index_params", {}).get("nlist", 128))
        params = {"nprobe": min(nlist, nlist // 8 + 16)}
    if "ef" in params:
        params["ef"] = max(int(params["ef"]), k)
    return params


def _key_of(rec: dict, key: str):
    return int(key) if rec.get("key_type") == "int" else key


def _run_search(c, uri, collection, rec, vectors, k, *, filters=None, exclude_ids=None,
                consistency="Strong"):
    vdtype = np.float16 if rec.get("vector_type") == "FLOAT16_VECTOR" else np.float32
    q = np.atleast_2d(np.asarray(vectors, dtype=np.float32))
    if q.shape[1] != rec["dim"]:
        raise InputError(f"query vectors of dim {q.shape[1]} do not match collection "
                         f"{collection!r} of dim {rec['dim']}")
    metric = rec["metric"]
    params = {"metric_type": metric.upper(), "params": _search_params(rec, k)}
    out = []
    for i in range(q.shape[0]):
        extra = 0 if exclude_ids is None else len(exclude_ids[i])
        flt = "" if filters is None else filters[i]
        res = _call(f"search {collection!r}", uri, c.search, collection,
                    data=[q[i].astype(vdtype)], limit=min(16384, k + extra), filter=flt,
                    output_fields=["key"], search_params=params, consistency_level=consistency)
        hits = []
        skip = set() if exclude_ids is None else set(exclude_ids[i])
        for h in res[0]:
            if int(h["id"]) in skip:
                continue
            ent = h.get("entity", {})
            hits.append((_key_of(rec, ent["key"]), float(h["distance"])))
        out.append(hits[:k])
    return out


def search_vectors(uri: str, collection: str, vectors, k: int = 10, *,
                   token: str | None = None, timeout: float = 10.0,
                   consistency: str = "Strong") -> list[list[tuple]]:
    """Top-k ``(key, score)`` of each query vector in a Milvus collection.

    Scores are similarities (higher first) for cosine and ip, squared distances (lower first)
    for l2.

    Parameters
    ----------
    uri, collection : str
    vectors : array of shape (n, dim) or (dim,)
    k : int
    consistency : {"Strong", "Bounded", "Session", "Eventually"}
        Milvus' consistency level. ``Strong`` (default) sees every finished push but waits
        for the server's time tick (about 200 ms per search on a 2.3 server); ``Bounded``
        answers at once, possibly without rows written in the last seconds.

    Returns
    -------
    list of lists of (key, score)

    Raises
    ------
    MilvusError, InputError

    Examples
    --------
    >>> search_vectors("vectors.db", "words", kv["king"], k=5)  # doctest: +SKIP
    """
    if k < 1:
        raise InputError(f"k must be >= 1, got {k}")
    c, rec = _open(uri, collection, token, timeout)
    return _run_search(c, uri, collection, rec, vectors, k, consistency=consistency)


def search(uri: str, collection: str, queries: Sequence[Hashable], k: int = 10, *,
           token: str | None = None, timeout: float = 10.0) -> list[list[tuple]]:
    """The k nearest stored keys of each stored key, the key itself excluded (as ``neighbors``).

    Parameters
    ----------
    uri : str
        ``something.db`` (Milvus Lite) or ``http://HOST:19530``.
    collection : str
    queries : sequence of keys stored in the collection (a single key is allowed)
    k : int

    Returns
    -------
    list of lists of (key, score), one list per query, best first.

    Raises
    ------
    UnknownKeyError
        A query key is not in the collection.
    MilvusError
        Unreachable URI, missing collection, unfinished push.

    Examples
    --------
    >>> search("vectors.db", "words", ["king"], k=3)  # doctest: +SKIP
    [[('queen', 0.78), ('prince', 0.71), ('monarch', 0.69)]]
    """
    from .exceptions import UnknownKeyError

    if isinstance(queries, (str, bytes, int, np.integer)):
        queries = [queries]
    if k < 1:
        raise InputError(f"k must be >= 1, got {k}")
    c, rec = _open(uri, collection, token, timeout)
    found = _lookup(c, uri, collection, [str(q) for q in queries])
    missing = [q for q in queries if str(q) not in found]
    if missing:
        raise UnknownKeyError(f"not in collection {collection!r}: "
                              + ", ".join(map(repr, missing[:5])))
    vecs = np.stack([found[str(q)][1] for q in queries])
    ids = [[found[str(q)][0]] for q in queries]
    return _run_search(c, uri, collection, rec, vecs, k, exclude_ids=ids)


def _lookup(c, uri, collection, keys: list[str]) -> dict[str, tuple[int, np.ndarray]]:
    out: dict[str, tuple[int, np.ndarray]] = {}
    for b0 in range(0, len(keys), 256):
        part = keys[b0:b0 + 256]
        res = _call("look up keys", uri, c.query, collection, filter=f"key in {json.dumps(part)}",
                    output_fields=["id", "key", "vector"], consistency_level="Strong")
        for r in res:
            out[r["key"]] = (int(r["id"]), _vector(r["vector"]))
    return out


def _vector(v) -> np.ndarray:
    if isinstance(v, (bytes, bytearray)):  # FLOAT16_VECTOR comes back as raw bytes
        return np.frombuffer(v, dtype=np.float16).astype(np.float32)
    if isinstance(v, list) and v and isinstance(v[0], (bytes, bytearray)):
        return np.frombuffer(v[0], dtype=np.float16).astype(np.float32)
    return np.asarray(v, dtype=np.float32)


def recommend(model, users, uri: str, collection: str, k: int = 10, *,
              exclude_seen: bool = True, token: str | None = None,
              timeout: float = 10.0) -> list[list[tuple]]:
    """Top-k items per user scored by inner product in Milvus, seen items filtered.

    The collection must hold the model's items pushed with ``metric="ip"``
    (``compactemb milvus push MODEL --side items --metric ip``).

    Parameters
    ----------
    model : FactorModel
    users : sequence of raw user IDs
    uri, collection : str
    k : int
    exclude_seen : bool
        Filter out the items each user interacted with in training.

    Returns
    -------
    list of lists of (item ID, score), one per user, best first.

    Raises
    ------
    MilvusError
        The collection is not an inner-product collection of this model's items.

    Examples
    --------
    >>> recommend(model, ["196"], "items.db", "items", k=5)  # doctest: +SKIP
    """
    if isinstance(users, (str, bytes, int, np.integer)):
        users = [users]
    if k < 1:
        raise InputError(f"k must be >= 1, got {k}")
    c, rec = _open(uri, collection, token, timeout)
    if rec["metric"] != "ip":
        raise MilvusError(f"collection {collection!r} is indexed for {rec['metric']}; "
                          "recommending needs inner product: push the items with --metric ip")
    if rec.get("rows") not in (None, model.n_items) or rec["dim"] != model.dim:
        raise MilvusError(f"collection {collection!r} ({rec.get('rows')} rows of dim "
                          f"{rec['dim']}) does not hold this model's {model.n_items} items of "
                          f"dim {model.dim}: push them with --side items")
    rows = model.user_rows(users)
    vecs = model.user_table.lookup(rows)
    filters = None
    if exclude_seen and model._seen is not None:
        seen = model._seen
        filters = []
        for r in rows:
            items = seen.indices[seen.indptr[r]:seen.indptr[r + 1]]
            filters.append(f"id not in {json.dumps([int(i) for i in items])}" if len(items)
                           else "")
    return _run_search(c, uri, collection, rec, vecs, k, filters=filters)
