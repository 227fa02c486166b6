"""Document vectors from word vectors: the mean, or the SIF-weighted mean, of a text's words.

SIF (Arora, Liang & Ma 2017, "A simple but tough-to-beat baseline for sentence embeddings"):
each word ``w`` is weighted ``a / (a + p(w))`` with ``p(w)`` its frequency in the word
vectors' vocabulary counts (``a = 1e-3`` by default), the weighted sum is divided by the number
of known words, and optionally the first singular direction ``u`` of all document vectors is
removed (``v - (v . u) u``) so that what every text shares (frequent words, syntax) no longer
dominates the cosine. Words outside the vocabulary are skipped; a text without known words
gets the zero vector.

The result is an ordinary keyed-vectors file (keys: line numbers or an ID column), so
``neighbors``, ``info`` and ``milvus push`` take it unchanged. Its metadata records how it was
made (method, ``a``, the removed component and the word-vector file), which
:func:`embed_query` uses to embed a query the same way.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable, Sequence

import numpy as np

from .exceptions import InputError

__all__ = ["embed_texts", "doc_vectors", "embed_query", "search_documents", "read_texts",
           "first_component", "METHODS"]

METHODS = ("mean", "sif")


def _tokenizer_of(word_vectors, tokenizer=None):
    from .text import Tokenizer

    if tokenizer is not None:
        return tokenizer
    params = word_vectors.meta.get("params", {}) if isinstance(word_vectors.meta, dict) else {}
    tok = params.get("tokenizer") if isinstance(params, dict) else None
    if isinstance(tok, dict):
        try:
            return Tokenizer.from_dict(tok, untrusted=True)
        except Exception:  # an unreadable record: the default is the trainers' default too
            return Tokenizer()
    return Tokenizer()


def embed_texts(word_vectors, texts: Iterable[str], *, method: str = "mean", sif_a: float = 1e-3,
                component=None, tokenizer=None) -> np.ndarray:
    """One vector per text: the mean or SIF-weighted mean of its known words' vectors.

    Parameters
    ----------
    word_vectors : KeyedVectors
        Any table kind; compressed rows are decoded per batch.
    texts : iterable of str
    method : {"mean", "sif"}
    sif_a : float, default 1e-3
        SIF's ``a``: smaller values weigh frequent words down more.
    component : array of shape (dim,), optional
        A unit direction removed from every vector (see :func:`first_component`).
    tokenizer : Tokenizer, optional
        Default: the one the word vectors were trained with (from their metadata), else
        :class:`compactemb.Tokenizer`'s default.

    Returns
    -------
    float32 array of shape (n_texts, dim)

    Raises
    ------
    InputError
        Unknown method or a non-positive ``sif_a``.

    Examples
    --------
    >>> import numpy as np
    >>> from compactemb import KeyedVectors, Vocab, DenseTable
    >>> kv = KeyedVectors(Vocab(["good", "bad"]), DenseTable(np.eye(2)))
    >>> embed_texts(kv, ["good good bad", "unknown"]).astype(float).round(3).tolist()
    [[0.667, 0.333], [0.0, 0.0]]
    """
    if method not in METHODS:
        raise InputError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    if not sif_a > 0:
        raise InputError(f"sif_a must be > 0, got {sif_a}")
    tok = _tokenizer_of(word_vectors, tokenizer)
    vocab, table = word_vectors.vocab, word_vectors.table
    weights_of_row = None
    if method == "sif":
        counts = np.asarray(vocab.counts, dtype=np.float64)
        p = counts / max(counts.sum(), 1.0)
        weights_of_row = (sif_a / (sif_a + p)).astype(np.float32)
    out_parts = []
    batch: list[str] = []

    def flush():
        ids_list = [vocab.encode(tok(t), on_unknown="skip") for t in batch]
        lengths = np.fromiter((len(x) for x in ids_list), dtype=np.int64, count=len(ids_list))
        ids = np.concatenate(ids_list) if ids_list else np.empty(0, np.int64)
        offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
        if weights_of_row is None:
            vecs = table.bag(ids, offsets, mode="mean")
        else:
            vecs = table.bag(ids, offsets, mode="sum", weights=weights_of_row[ids])
            n = lengths.astype(np.float32)[:, None]
            np.divide(vecs, n, out=vecs, where=n > 0)
        out_parts.append(vecs.astype(np.float32, copy=False))
        batch.clear()

    for text in texts:
        batch.append(text)
        if len(batch) >= 4096:
            flush()
    if batch:
        flush()
    out = (np.concatenate(out_parts) if out_parts
           else np.zeros((0, table.dim), dtype=np.float32))
    if component is not None:
        out = remove_component(out, component)
    return out


def first_component(vectors: np.ndarray) -> np.ndarray:
    """The first right singular vector (unit, uncentred, as in SIF) of a matrix of vectors.

    Parameters
    ----------
    vectors : array of shape (n, dim)

    Returns
    -------
    float32 array of shape (dim,)

    Raises
    ------
    InputError
        No vectors.

    Examples
    --------
    >>> import numpy as np
    >>> first_component(np.array([[3.0, 0.0], [2.0, 0.1]])).astype(float).round(2).tolist()
    [1.0, 0.02]
    """
    x = np.asarray(vectors, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] == 0:
        raise InputError("first_component needs a non-empty (n, dim) matrix")
    _, vecs = np.linalg.eigh(x.T @ x)
    u = vecs[:, -1]
    if u[np.argmax(np.abs(u))] < 0:  # a fixed sign, so that files are reproducible
        u = -u
    return u.astype(np.float32)


def remove_component(vectors: np.ndarray, component) -> np.ndarray:
    """``v - (v . u) u`` for every row ``v`` (``u`` made unit length first)."""
    u = np.asarray(component, dtype=np.float32)
    u = u / max(float(np.linalg.norm(u)), 1e-30)
    v = np.asarray(vectors, dtype=np.float32)
    return v - np.outer(v @ u, u).astype(np.float32)


def doc_vectors(word_vectors, texts: Sequence[str], *, ids: Sequence | None = None,
                method: str = "mean", remove_first_component: bool = False,
                sif_a: float = 1e-3, tokenizer=None, words_path: str = ""):
    """Keyed document vectors (keys: ``ids``, default line numbers 1, 2, ...).

    Parameters
    ----------
    word_vectors : KeyedVectors
    texts : sequence of str
    ids : sequence of str or int, optional
        One unique key per text.
    method : {"mean", "sif"}
    remove_first_component : bool
        Remove the documents' first singular direction (SIF's second step).
    sif_a : float
    tokenizer : Tokenizer, optional
    words_path : str
        The word-vector file, recorded so that ``search`` can embed queries alike.

    Returns
    -------
    KeyedVectors
        Dense float32 table; ``meta["docvec"]`` records how it was made.

    Raises
    ------
    InputError
        No texts, ids of the wrong length or not unique.

    Examples
    --------
    >>> import numpy as np
    >>> from compactemb import KeyedVectors, Vocab, DenseTable
    >>> kv = KeyedVectors(Vocab(["good", "bad"]), DenseTable(np.eye(2)))
    >>> docs = doc_vectors(kv, ["good", "bad film"])
    >>> docs.vocab.keys
    [1, 2]
    """
    from .keyed import KeyedVectors
    from .tables import DenseTable
    from .vocab import Vocab

    texts = list(texts)
    if not texts:
        raise InputError("no texts to embed")
    if ids is None:
        ids = list(range(1, len(texts) + 1))
    ids = list(ids)
    if len(ids) != len(texts):
        raise InputError(f"{len(ids)} ids for {len(texts)} texts")
    if len(set(ids)) != len(ids):
        dup = next(i for i in ids if ids.count(i) > 1)
        raise InputError(f"document ids must be unique; {dup!r} repeats")
    vecs = embed_texts(word_vectors, texts, method=method, sif_a=sif_a, tokenizer=tokenizer)
    component = None
    if remove_first_component:
        component = first_component(vecs)
        vecs = remove_component(vecs, component)
    tok = _tokenizer_of(word_vectors, tokenizer)
    meta = {"docvec": {
        "method": method, "sif_a": sif_a, "remove_first_component": remove_first_component,
        "component": None if component is None else [float(x) for x in component],
        "words_file": os.path.abspath(words_path) if words_path else "",
        "words_rows": len(word_vectors), "dim": word_vectors.dim,
        "tokenizer": tok.to_dict(),
        "empty_texts": int((np.abs(vecs).sum(1) == 0).sum())}}
    return KeyedVectors(Vocab(ids), DenseTable(vecs), meta)


def _recipe(docs) -> dict:
    rec = docs.meta.get("docvec") if isinstance(docs.meta, dict) else None
    if not isinstance(rec, dict):
        raise InputError("these vectors were not made by 'compactemb embed' (no docvec record); "
                         "embed the texts first")
    return rec


def load_words_for(docs, words=None):
    """The word vectors a document file was made from.

    ``words``, a path or KeyedVectors, overrides the recorded file.
    """
    from .keyed import KeyedVectors
    from .storage import load

    rec = _recipe(docs)
    if isinstance(words, KeyedVectors):
        kv = words
    else:
        path = words or rec.get("words_file")
        if not path:
            raise InputError("the document file records no word-vector file; pass --words FILE")
        if not os.path.exists(path):
            raise InputError(f"word vectors {path} (recorded in the document file) are gone; "
                             "pass --words FILE")
        kv = load(path, mmap=True)
        if hasattr(kv, "word_vectors"):  # a classifier
            kv = kv.word_vectors()
        if not isinstance(kv, KeyedVectors):
            raise InputError(f"{path}: holds a {type(kv).__name__}, not word vectors")
    if kv.dim != rec.get("dim", kv.dim):
        raise InputError(f"word vectors of dim {kv.dim} cannot embed queries for documents of "
                         f"dim {rec['dim']}")
    return kv


def embed_query(docs, text: str | Sequence[str], *, words=None) -> np.ndarray:
    """Embed query text(s) exactly as the documents of ``docs`` were embedded.

    Parameters
    ----------
    docs : KeyedVectors
        Made by :func:`doc_vectors` (its ``meta["docvec"]`` recipe is followed).
    text : str or sequence of str
    words : str or KeyedVectors, optional
        The word vectors, when not at the recorded path.

    Returns
    -------
    float32 array of shape (n_queries, dim)

    Raises
    ------
    InputError
        ``docs`` has no recipe or the word vectors are missing or of another dimension.

    Examples
    --------
    >>> embed_query(docs, "a good film", words=kv)  # doctest: +SKIP
    """
    from .text import Tokenizer

    rec = _recipe(docs)
    kv = load_words_for(docs, words)
    texts = [text] if isinstance(text, str) else list(text)
    tok = Tokenizer.from_dict(rec["tokenizer"]) if rec.get("tokenizer") else None
    return embed_texts(kv, texts, method=rec.get("method", "mean"),
                       sif_a=float(rec.get("sif_a", 1e-3)), component=rec.get("component"),
                       tokenizer=tok)


def search_documents(docs, text: str, k: int = 10, *, words=None) -> list[tuple]:
    """The ``k`` documents closest (cosine, exact) to a query text.

    Parameters
    ----------
    docs : KeyedVectors
        From :func:`doc_vectors`.
    text : str
    k : int
    words : str or KeyedVectors, optional

    Returns
    -------
    list of (document id, score), best first

    Raises
    ------
    InputError
        As :func:`embed_query`; also when the query has no known word.

    Examples
    --------
    >>> search_documents(docs, "a good film", k=3, words=kv)  # doctest: +SKIP
    """
    from .search import search

    q = embed_query(docs, text, words=words)
    if not np.any(q):
        raise InputError(f"no word of the query {text!r} is in the word vectors' vocabulary")
    res = search(docs.table, q, k=k)
    return docs._decode(res)[0]


def read_texts(path, *, id_column: str | None = None,
               text_column: str | None = None) -> tuple[list | None, list[str]]:
    """Texts of a file: one per line, or a column of a tab-separated file with a header.

    Parameters
    ----------
    path : str
    id_column, text_column : str, optional
        Either one makes the file a TSV with a header line; the text column defaults to the
        only column that is not the id column (or ``text``).

    Returns
    -------
    (ids or None, texts)

    Raises
    ------
    InputError
        Missing columns, a short row, or an empty file.

    Examples
    --------
    >>> read_texts("reviews.txt")  # doctest: +SKIP
    (None, ['a good film', ...])
    """
    from .text import iter_lines

    if id_column is None and text_column is None:
        texts = [line.rstrip("\r\n") for line in iter_lines(path)]
        if not texts:
            raise InputError(f"{path}: no texts")
        return None, texts
    with open(path, encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh, delimiter="\t", quoting=csv.QUOTE_NONE)
        header = next(reader, None)
        if not header:
            raise InputError(f"{path}: empty file (expected a header line)")
        header = [h.strip() for h in header]
        if id_column is not None and id_column not in header:
            raise InputError(f"{path}: no column {id_column!r} (columns: {', '.join(header)})")
        if text_column is None:
            others = [h for h in header if h != id_column]
            text_column = "text" if "text" in others else (others[-1] if others else None)
        if text_column not in header:
            raise InputError(f"{path}: no text column {text_column!r} (columns: "
                             f"{', '.join(header)}); pass --text-column")
        ti = header.index(text_column)
        ii = header.index(id_column) if id_column is not None else None
        ids, texts = [], []
        for lineno, row in enumerate(reader, start=2):
            if not row:
                continue
            if len(row) <= max(ti, ii if ii is not None else 0):
                raise InputError(f"{path}:{lineno}: {len(row)} columns, expected "
                                 f"{len(header)}")
            texts.append(row[ti])
            ids.append(row[ii].strip() if ii is not None else len(texts))
    if not texts:
        raise InputError(f"{path}: no texts")
    return ids, texts
