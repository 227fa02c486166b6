"""KeyedVectors: a vocabulary plus a table, with the lookups word-vector users know."""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import numpy as np

from .exceptions import InputError, UnknownKeyError
from .search import (
    SearchResult,
    blocked_top_k,
    inverse_norms,
    is_single_key,
    keyed_results,
    search,
)
from .storage import register_file_kind
from .tables import EmbeddingTable
from .vocab import Vocab


class KeyedVectors:
    """Vectors addressed by key: ``kv["word"]``, ``most_similar``, ``analogy``, save/load.

    Parameters
    ----------
    vocab : Vocab
        Row ``i`` of ``table`` belongs to ``vocab.keys[i]``.
    table : EmbeddingTable
        Any table kind (dense, compressed, memory-mapped).
    meta : dict, optional
        Training parameters, training log, quality measured at training time.
    """

    def __init__(self, vocab: Vocab, table: EmbeddingTable, meta: dict | None = None):
        if len(vocab) != table.n_rows:
            raise InputError(f"vocabulary of {len(vocab)} keys does not match a table of "
                             f"{table.n_rows} rows")
        self.vocab = vocab
        self.table = table
        self.meta = dict(meta or {})

    @property
    def dim(self) -> int:
        """The vectors' dimension."""
        return self.table.dim

    @property
    def vectors(self) -> np.ndarray:
        """All vectors as a float32 ``(len(self), dim)`` matrix, row ``i`` for ``vocab.keys[i]``.

        Compressed tables are decoded into a new array; a float32 dense table gives its
        ``weights`` without a copy (read-only when the file was memory-mapped). The same as
        ``np.asarray(kv)`` and ``np.asarray(kv.table)``; gensim's ``KeyedVectors.vectors``.
        """
        return np.asarray(self.table)

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        return self.table.__array__(dtype=dtype, copy=copy)

    def __len__(self) -> int:
        return len(self.vocab)

    def __contains__(self, key) -> bool:
        return key in self.vocab

    def __getitem__(self, key):
        if hasattr(self.table, "lookup_words"):  # a subword table: unseen words have vectors
            single = isinstance(key, str)
            rows = self._key_rows([key] if single else list(key))[0]
            return rows[0] if single else rows
        if isinstance(key, (str, int, np.integer)):
            return self.table.lookup([self.vocab[key]])[0]
        return self.table.lookup(self.vocab.encode(key))

    def _key_rows(self, keys: list) -> tuple[np.ndarray, np.ndarray]:
        """Vectors of ``keys`` and their rows.

        Row -1 marks a word outside the vocabulary whose vector a subword table composed from its
        n-grams (other tables raise for it).
        """
        lookup_words = getattr(self.table, "lookup_words", None)
        if lookup_words is None:
            ids = self.vocab.encode(keys)
            return self.table.lookup(ids), ids
        ids = self.vocab.encode(keys, on_unknown="fill")
        if ids.size and ids.min() < 0:
            return lookup_words(keys), ids
        return self.table.lookup(ids), ids

    def __repr__(self) -> str:
        return f"KeyedVectors({len(self)} keys x {self.dim}, {self.table!r})"

    def similarity(self, a: Hashable, b: Hashable) -> float:
        """Cosine similarity of two keys.

        Parameters
        ----------
        a, b : hashable
            Two keys.

        Returns
        -------
        float
            The cosine, 0.0 when either vector is zero.

        Raises
        ------
        UnknownKeyError
            For a key outside the vocabulary (unless a subword table composes it).
        """
        va, vb = self[[a, b]]
        den = float(np.linalg.norm(va) * np.linalg.norm(vb))
        return float(va @ vb / den) if den > 0 else 0.0

    def neighbors(self, keys, *, k: int = 10, approximate: bool | None = None,
                  nprobe: int | None = None) -> list:
        """The ``k`` nearest keys (cosine) of a key, or of each key, excluding the key itself.

        PQ, int8 and int4 tables are scored on their codes; above 200,000 rows they are
        searched through an IVF index (see :func:`compactemb.search.search`).

        Parameters
        ----------
        keys : key or sequence of keys
            One key gives one list; a sequence of keys gives one list per key.
        k : int, default 10
            Neighbours per key.
        approximate : bool or None, default None
            True: through the IVF index; False: exact; None: by the table's kind and size.
        nprobe : int or None
            Lists of the IVF index scored per key (default 24).

        Returns
        -------
        list of (key, score), or list of such lists
            Best first; shorter than ``k`` only when the vocabulary is.

        Raises
        ------
        UnknownKeyError
            For a key not in the vocabulary.

        Examples
        --------
        >>> from compactemb import DenseTable
        >>> kv = KeyedVectors(Vocab(["a", "b", "c"]),
        ...                   DenseTable(np.array([[1, 0], [1, .1], [0, 1]], np.float32)))
        >>> [key for key, _ in kv.neighbors("a", k=2)]
        ['b', 'c']
        >>> [[key for key, _ in row] for row in kv.neighbors(["a", "c"], k=1)]
        [['b'], ['b']]
        """
        single = is_single_key(keys)
        rows, ids = self._key_rows([keys] if single else list(keys))
        res = search(self.table, rows, k=k, exclude=[[i] if i >= 0 else [] for i in ids],
                     approximate=approximate, nprobe=nprobe)
        out = keyed_results(res, self.vocab.keys)
        return out[0] if single else out

    def most_similar(self, positive: Sequence[Hashable] = (), negative: Sequence[Hashable] = (),
                     *, k: int = 10, method: str = "add") -> list[tuple]:
        """Keys closest to ``sum(positive) - sum(negative)`` (3CosAdd), or by 3CosMul.

        With ``method="mul"`` (Levy & Goldberg 2014) and one negative and two positives
        (a:b :: c:?, positive=[b, c], negative=[a]) the score is
        ``cos'(d,b) cos'(d,c) / (cos'(d,a) + 1e-3)`` with ``cos' = (cos + 1) / 2``.

        Parameters
        ----------
        positive, negative : sequence of hashable
            Keys added and subtracted (a single key is taken as a list of one).
        k : int
            How many results.
        method : {"add", "mul"}
            3CosAdd or 3CosMul.

        Returns
        -------
        list of (key, float)
            One list, best first (the keys together are one query), the given keys excluded.

        Raises
        ------
        InputError
            Without any key, or for an unknown method.
        UnknownKeyError
            For a key outside the vocabulary.
        """
        positive = [positive] if isinstance(positive, (str, int)) else list(positive)
        negative = [negative] if isinstance(negative, (str, int)) else list(negative)
        if not positive and not negative:
            raise InputError("most_similar needs at least one key")
        rows, ids = self._key_rows(positive + negative)
        pos, neg = ids[:len(positive)], ids[len(positive):]
        exclude = [ids[ids >= 0]]
        if method == "add":
            rows /= np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-30)
            query = rows[: len(pos)].sum(0) - rows[len(pos):].sum(0)
            return self._decode(search(self.table, query, k=k, exclude=exclude))[0]
        if method == "mul":
            if ids.size and ids.min() < 0:
                raise UnknownKeyError("3CosMul needs words of the vocabulary; use method='add' "
                                      "for unseen words")
            return self._decode(cosmul(self.table, [pos], [neg], k=k))[0]
        raise InputError(f"method must be 'add' or 'mul', got {method!r}")

    def analogy(self, a, b, c, *, k: int = 1, method: str = "add") -> list[tuple]:
        """a is to b as c is to ?  (3CosAdd by default).

        Parameters
        ----------
        a, b, c : hashable
            The keys of the question.
        k : int
            How many answers.
        method : {"add", "mul"}
            3CosAdd or 3CosMul (see :meth:`most_similar`).

        Returns
        -------
        list of (key, float)
            The answers, best first, the three keys excluded.
        """
        return self.most_similar([b, c], [a], k=k, method=method)

    def _decode(self, res: SearchResult) -> list[list[tuple]]:
        return keyed_results(res, self.vocab.keys)

    # -- storage and memory ---------------------------------------------------------------------
    def save(self, path, *, meta: dict | None = None) -> None:
        """Save vocabulary, table and metadata to one compactemb file (atomic).

        Parameters
        ----------
        path : str or os.PathLike
            The file; read it back with :func:`compactemb.load`.
        meta : dict or None
            Entries added to ``meta`` before saving.
        """
        from .storage import save_components

        if meta is not None:
            self.meta.update(meta)
        save_components(path, "keyed_vectors", {"vocab": self.vocab, "table": self.table},
                        meta=self.meta)

    @classmethod
    def load(cls, path, *, mmap: bool = False, verify: bool = True) -> KeyedVectors:
        """Read keyed vectors saved by :meth:`save` (see :func:`compactemb.load`).

        Parameters
        ----------
        path : str or os.PathLike
            The file.
        mmap : bool
            Map the arrays from the file instead of reading them.
        verify : bool
            Check the arrays' checksums.

        Returns
        -------
        KeyedVectors
            The vectors.

        Raises
        ------
        InputError
            When the file holds another kind of object.
        FormatError
            When the file is not a valid compactemb file.
        """
        from .storage import load

        obj = load(path, mmap=mmap, verify=verify)
        if not isinstance(obj, KeyedVectors):
            raise InputError(f"{path}: holds a {type(obj).__name__}, not keyed vectors")
        return obj

    def memory_parts(self) -> dict[str, int]:
        """Measured bytes of each array, by name (``table.*`` and ``vocab.*``)."""
        return {**self.table.memory_parts("table"), **self.vocab.memory_parts("vocab")}

    def memory_report(self):
        """The measured memory of these vectors (see :func:`compactemb.memory_report`)."""
        from .memory import memory_report

        return memory_report(self)


def cosmul(table: EmbeddingTable, positives, negatives, *, k: int = 1, exclude=None,
           block_rows: int = 16384, batch: int = 256) -> SearchResult:
    """3CosMul top-k for batches of queries.

    ``positives`` and ``negatives`` hold one array of row ids per query, the same number of each
    in every query (an analogy a:b :: c:? is positives [b, c], negatives [a]). The score of row d
    is ``prod_p cos'(d, p) / prod_n (cos'(d, n) + 1e-3)`` with ``cos' = (cos + 1) / 2``; the
    query rows themselves (or ``exclude``) are never returned.

    Parameters
    ----------
    table : EmbeddingTable
        The vectors searched.
    positives, negatives : array-like of int, shape (n_queries, n_pos) and (n_queries, n_neg)
        Row ids per query.
    k : int
        Results per query.
    exclude : sequence of arrays of int or None
        Row ids never returned, per query; None excludes the query rows.
    block_rows : int
        Table rows scored at a time (bounds the memory used).
    batch : int
        Queries scored at a time.

    Returns
    -------
    SearchResult
        ``ids`` and ``scores`` of shape (n_queries, k), best first.
    """
    from .tables._adc import RowRanges, code_scorer

    pos = np.atleast_2d(np.asarray(positives, dtype=np.int64))
    neg = np.asarray(negatives, dtype=np.int64).reshape(pos.shape[0], -1)
    inv = inverse_norms(table)
    scorer = code_scorer(table)  # PQ, int8, int4: cosines from the codes, nothing decoded
    cached: dict[int, tuple[list, list]] = {}

    def unit_rows(ids):
        q = table.lookup(ids) * inv[ids, None]
        return q if scorer is None else scorer.prepare(q)

    def cosines(q, start, rows, part):
        if scorer is None:
            return q @ (rows * part[:, None]).T
        return scorer.scores(q, np.arange(q.shape[0], dtype=np.int64), rows) * part

    def score(q0, q1, start, rows):
        if q0 not in cached:  # the query rows of this batch, looked up once for all blocks
            cached.clear()
            cached[q0] = ([unit_rows(pos[q0:q1, j]) for j in range(pos.shape[1])],
                          [unit_rows(neg[q0:q1, j]) for j in range(neg.shape[1])])
        qp, qn = cached[q0]
        part = inv[start:start + rows.shape[0]]
        s = np.ones((q1 - q0, rows.shape[0]), dtype=np.float32)
        for q in qp:
            s *= (cosines(q, start, rows, part) + 1) * 0.5
        for q in qn:
            s /= (cosines(q, start, rows, part) + 1) * 0.5 + 1e-3
        s[:, part == 0] = -np.inf
        return s

    return blocked_top_k(score, pos.shape[0], table if scorer is None
                         else RowRanges(table.n_rows), k=k,
                         exclude=np.concatenate([pos, neg], axis=1) if exclude is None
                         else exclude, block_rows=block_rows, query_batch=batch)


def _load_keyed_vectors(stored):
    from .storage import build_component

    vocab = build_component(stored, "vocab")
    table = build_component(stored, "table")
    try:
        return KeyedVectors(vocab, table, stored.meta)
    except InputError as exc:
        from .exceptions import FormatError

        raise FormatError(f"{stored.path}: {exc}") from None


register_file_kind("keyed_vectors", _load_keyed_vectors)

__all__ = ["KeyedVectors", "cosmul", "UnknownKeyError"]
