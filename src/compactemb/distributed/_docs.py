"""Document vectors over text shards on Ray, each task pushing its rows to a Milvus server.

The local run is ``doc_vectors(words, all texts in file order)`` then ``milvus.push``: row ``r``
of the collection is the ``r``-th text over the files in order, its key the text's ID (an ID
column, or its line number over all files counting from 1), its count 1. Here one task per file
embeds its texts with the same :func:`~compactemb.docvec.embed_texts` (the word vectors go once
into the object store) and keeps them in the object store; the driver learns each file's row
count (and, for ``remove_first_component``, its ``X^T X`` part, so that the first singular
direction of all documents is that of the whole matrix), creates the collection for the total,
and one task per file inserts its rows at their global row numbers. Then the driver flushes,
waits for the index and checks the row count, as ``push`` does.
"""

from __future__ import annotations

import time

import numpy as np

from ..exceptions import InputError
from ._cluster import ray_session


def embed_shard(words, path: str, id_column, text_column, method: str, sif_a: float,
                want_gram: bool) -> tuple:
    """One file's texts embedded (a Ray task): (ids or None, vectors, summary)."""
    from ..docvec import embed_texts, read_texts

    ids, texts = read_texts(path, id_column=id_column, text_column=text_column)
    if id_column is None:
        ids = None  # line numbers over all files: the driver knows the offset
    vecs = embed_texts(words, texts, method=method, sif_a=sif_a)
    x = vecs.astype(np.float64)
    return ids, vecs, {"rows": len(texts), "gram": x.T @ x if want_gram else None}


def push_shard(uri: str, collection: str, token, timeout: float, start: int, ids, vecs,
               component, batch_rows: int) -> dict:
    """Insert one file's rows as rows ``start, start + 1, ...`` of the collection (a Ray task)."""
    from .. import milvus as cm
    from ..docvec import remove_component

    if component is not None:
        vecs = remove_component(vecs, component)
    vecs = np.ascontiguousarray(vecs, dtype=np.float32)
    n = vecs.shape[0]
    keys = [str(k) for k in ids] if ids is not None else [str(start + j + 1) for j in range(n)]
    c = cm._connect(uri, token, timeout)
    sent = 0
    for b0 in range(0, n, batch_rows):
        b1 = min(n, b0 + batch_rows)
        block = vecs[b0:b1]
        if not np.isfinite(block).all():
            raise InputError(f"rows {start + b0}..{start + b1 - 1} hold NaN or inf values "
                             "(not pushed)")
        rows = []
        for j in range(b0, b1):
            if len(keys[j]) > cm._MAX_KEY_CHARS:
                raise InputError(f"key of row {start + j} is longer than {cm._MAX_KEY_CHARS} "
                                 "chars")
            rows.append({"id": start + j, "key": keys[j], "count": 1, "vector": vecs[j]})
            sent += len(keys[j].encode()) + 16 + 4 * vecs.shape[1]
        cm._call(f"insert rows {start + b0}..{start + b1 - 1}", uri, c.upsert, collection, rows)
    c.close()
    return {"rows": n, "bytes_sent": sent}


def embed_and_push(words, paths, uri: str, collection: str, *, method: str = "mean",
                   sif_a: float = 1e-3, remove_first_component: bool = False,
                   id_column: str | None = None, text_column: str | None = None,
                   index: str = "auto", metric: str = "cosine", replace: bool = False,
                   token: str | None = None, timeout: float = 10.0,
                   index_timeout: float = 1800.0, address: str | None = None) -> dict:
    """Embed the texts of many files as Ray tasks, each pushing its rows to a Milvus server.

    Parameters
    ----------
    words : KeyedVectors
        Word vectors (as :func:`compactemb.docvec.doc_vectors`).
    paths : list of str
        Text files (one text a line, or TSV with ``id_column`` / ``text_column``), in order;
        every node must see them at the same path.
    uri : str
        A Milvus server, ``http://HOST:PORT`` (a Milvus Lite ``.db`` file is opened by one
        process at a time, so tasks cannot share it).
    collection : str
    method, sif_a, remove_first_component
        As :func:`compactemb.docvec.doc_vectors`.
    id_column, text_column : str, optional
        As :func:`compactemb.docvec.read_texts`; without an ID column the keys are line
        numbers over all files, from 1.
    index, metric, replace, token, timeout, index_timeout
        As :func:`compactemb.milvus.push`.
    address : str or None
        Ray cluster (``"HOST:PORT"``, ``"auto"``, None: a local one).

    Returns
    -------
    dict
        ``rows``, ``files``, ``bytes_sent``, ``index_type``, ``metric``, ``seconds``: the
        collection holds what ``push(doc_vectors(words, texts, ids=...), uri, collection)``
        puts there (the same ids, keys, counts and vectors; with ``remove_first_component``
        within float rounding, the direction being summed over files).

    Raises
    ------
    InputError
        No files, a Milvus Lite URI, repeated IDs, bad options.
    MilvusError
        As :func:`compactemb.milvus.push`.
    ClusterError
        The cluster cannot be reached.

    Examples
    --------
    >>> embed_and_push(words, ["a.txt", "b.txt"], "http://127.0.0.1:19530", "docs",
    ...                address="auto")                                    # doctest: +SKIP
    {'rows': 20000, 'files': 2, ...}
    """
    from .. import milvus as cm
    from ..docvec import METHODS
    from ..tables import DenseTable
    from ._als import _get

    paths = [str(p) for p in paths]
    if not paths:
        raise InputError("no text files to embed")
    if cm.is_lite(uri):
        raise InputError(f"{uri}: a Milvus Lite file is opened by one process at a time; a push "
                         "over shards needs a Milvus server (http://HOST:PORT)")
    if method not in METHODS:
        raise InputError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    if metric not in cm.METRICS:
        raise InputError(f"metric must be one of {', '.join(cm.METRICS)}, got {metric!r}")
    t0 = time.perf_counter()
    with ray_session(address) as ray:
        words_ref = ray.put(words)
        embed = ray.remote(embed_shard).options(num_returns=3, max_retries=3)
        parts = [embed.remote(words_ref, p, id_column, text_column, method, sif_a,
                              remove_first_component) for p in paths]
        summaries = _get(ray, [p[2] for p in parts])
        counts = [s["rows"] for s in summaries]
        n, dim = int(sum(counts)), words.dim
        if id_column is not None:  # keys must be unique over all files, as in one file
            seen: set = set()
            for ids in _get(ray, [p[0] for p in parts]):
                for key in ids:
                    if key in seen:
                        raise InputError(f"document ids must be unique; {key!r} repeats")
                    seen.add(key)
        component = None
        if remove_first_component:  # first_component of the whole matrix, from its parts
            _, vecs = np.linalg.eigh(sum(s["gram"] for s in summaries))
            u = vecs[:, -1]
            component = (-u if u[np.argmax(np.abs(u))] < 0 else u).astype(np.float32)
        index_type, index_params, search_params = cm._plan_index(
            DenseTable(np.zeros((0, dim), np.float32)), index, metric, False, n)
        pm = cm._pymilvus()
        c = cm._connect(uri, token, timeout)
        exists = cm._call("list collections", uri, c.has_collection, collection)
        if exists and replace:
            cm._call(f"drop collection {collection!r}", uri, c.drop_collection, collection)
            exists = False
        exists, index_type = cm._create_or_check(
            c, pm, uri, collection, exists, pm.DataType.FLOAT_VECTOR, "str" if id_column
            else "int", n, dim, DenseTable.kind, metric, "", index_type, index_params,
            search_params)
        batch_rows = max(1, min(10000, cm._BATCH_BYTES // (dim * 4 + 32)))
        push = ray.remote(push_shard).options(max_retries=3)  # an upsert: a retry is harmless
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(int).tolist()
        done = _get(ray, [push.remote(uri, collection, token, timeout, start, p[0], p[1],
                                      component, batch_rows)
                          for start, p in zip(starts, parts)])
    cm._call("flush", uri, c.flush, collection)
    cm._wait_for_index(c, uri, collection, n, index_timeout)
    cm._call("load collection", uri, c.load_collection, collection)
    have = cm._count(c, uri, collection)
    if have != n:
        raise cm.MilvusError(f"push into {collection!r} at {uri} ended with {have} of {n} rows; "
                             "run the same push again to finish it")
    return {"uri": uri, "collection": collection, "rows": n, "files": len(paths), "dim": dim,
            "bytes_sent": int(sum(d["bytes_sent"] for d in done)), "index_type": index_type,
            "index_params": index_params, "search_params": search_params, "metric": metric,
            "seconds": round(time.perf_counter() - t0, 3)}
