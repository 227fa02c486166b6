"""FactorModel: user and item embedding tables with their ID vocabularies."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .exceptions import FormatError, InputError, UnknownKeyError
from .memory import interaction_memory
from .search import SearchResult, blocked_top_k, is_single_key, keyed_results, search
from .storage import register_component, register_file_kind
from .tables import EmbeddingTable
from .vocab import Vocab


@register_component
class _Seen:
    """The training interactions (CSR pattern) kept to exclude seen items; stored as arrays."""

    component_type = "seen"

    def __init__(self, indptr, indices, n_items):
        self.indptr, self.indices, self.n_items = indptr, indices, int(n_items)

    def arrays(self):
        return {"indptr": self.indptr, "indices": self.indices}

    def attrs(self):
        return {"n_items": self.n_items}

    @classmethod
    def from_state(cls, attrs, arrays):
        from .storage import state_array, state_indices, state_int

        n_items = state_int(attrs, "n_items")
        indptr = state_array(arrays, "indptr", ndim=1, kinds="iu")
        indices = state_array(arrays, "indices", ndim=1, kinds="iu")
        if indptr.shape[0] < 1 or int(indptr[0]) != 0 or int(indptr[-1]) != indices.shape[0] \
                or np.any(np.diff(indptr.astype(np.int64)) < 0):
            raise ValueError("array 'indptr' does not delimit array 'indices'")
        state_indices(indices, "indices", n_items)
        return cls(indptr, indices, n_items)


class FactorModel:
    """User and item vectors: ``score(u, i) = user_table[u] . item_table[i]``.

    Parameters
    ----------
    user_vocab, item_vocab : Vocab
        Raw user and item IDs -> rows.
    user_table, item_table : EmbeddingTable
    seen : scipy.sparse matrix, optional
        Training interactions (users x items) used to exclude seen items in ``recommend``.
    """

    def __init__(self, user_vocab: Vocab, item_vocab: Vocab, user_table: EmbeddingTable,
                 item_table: EmbeddingTable, *, seen=None, meta: dict | None = None):
        if len(user_vocab) != user_table.n_rows or len(item_vocab) != item_table.n_rows:
            raise InputError("vocabulary sizes do not match the tables' rows")
        if user_table.dim != item_table.dim:
            raise InputError(f"user dim {user_table.dim} != item dim {item_table.dim}")
        self.user_vocab, self.item_vocab = user_vocab, item_vocab
        self.user_table, self.item_table = user_table, item_table
        self.meta = dict(meta or {})
        self._seen = None
        if seen is not None:
            if isinstance(seen, _Seen):
                if seen.n_items != item_table.n_rows or \
                        seen.indptr.shape[0] != user_table.n_rows + 1:
                    raise InputError(f"the seen items ({seen.indptr.shape[0] - 1} users x "
                                     f"{seen.n_items} items) do not match the tables "
                                     f"({user_table.n_rows} x {item_table.n_rows})")
                self._seen = seen
            else:
                m = sp.csr_matrix(seen)
                # copy=False: the training matrix's int32 indices are shared, not copied
                self._seen = _Seen(m.indptr.astype(np.int64),
                                   m.indices.astype(np.int32, copy=False), m.shape[1])

    @property
    def dim(self) -> int:
        """The factors' dimension (a BPR model's includes its bias column)."""
        return self.user_table.dim

    @property
    def n_users(self) -> int:
        """The number of users (rows of ``user_table``)."""
        return self.user_table.n_rows

    @property
    def n_items(self) -> int:
        """The number of items (rows of ``item_table``)."""
        return self.item_table.n_rows

    # -- IDs -----------------------------------------------------------------------------------
    def user_rows(self, users, *, on_unknown: str = "raise") -> np.ndarray:
        """Rows of raw user IDs; unknown users raise (or are -1 with ``on_unknown="fill"``).

        Parameters
        ----------
        users : ID or sequence of IDs
            Raw user IDs.
        on_unknown : {"raise", "fill"}
            Raise for an unknown user, or give it -1.

        Returns
        -------
        numpy.ndarray of int64
            One row per ID.

        Raises
        ------
        UnknownKeyError
            For an unknown user with ``on_unknown="raise"``.
        """
        return _rows(self.user_vocab, users, "user", on_unknown)

    def item_rows(self, items, *, on_unknown: str = "raise") -> np.ndarray:
        """Columns of raw item IDs; unknown items raise (or are -1 with ``on_unknown="fill"``).

        Parameters
        ----------
        items : ID or sequence of IDs
            Raw item IDs.
        on_unknown : {"raise", "fill"}
            Raise for an unknown item, or give it -1.

        Returns
        -------
        numpy.ndarray of int64
            One column per ID.

        Raises
        ------
        UnknownKeyError
            For an unknown item with ``on_unknown="raise"``.
        """
        return _rows(self.item_vocab, items, "item", on_unknown)

    def item_popularity(self) -> np.ndarray:
        """Training interactions per item: the ranking used for cold-start users.

        Counted from the stored ``seen`` matrix, else taken from the vocabulary counts.
        """
        if self._seen is not None:
            return np.bincount(self._seen.indices, minlength=self.n_items).astype(np.int64)
        return np.asarray(self.item_vocab.counts, dtype=np.int64)

    # -- recommendation -------------------------------------------------------------------------
    def recommend(self, users, *, k: int = 10, exclude_seen: bool = True,
                  cold_start: str = "error", batch: int | None = None) -> list:
        """Top-k items for a user as ``[(item ID, score), ...]``, best first.

        One list per user for a sequence of users.

        Parameters
        ----------
        users : raw user ID or sequence of them
            One ID gives one list; a sequence gives a list of lists, one per user.
        k : int, default 10
        exclude_seen : bool, default True
            Never recommend an item the user interacted with in training.
        cold_start : {"error", "popular"}, default "error"
            For a user not seen in training: ``error`` raises :class:`UnknownKeyError` naming
            the user; ``popular`` returns the k most popular training items, with their
            interaction counts as scores.
        batch : int, optional
            Users scored at once (default: so that a score block stays about 16 MB).

        Returns
        -------
        list of (item ID, score), or a list of such lists
            One list for one user ID, one list per user for a sequence of user IDs; shorter
            than ``k`` only when the user has seen nearly every item.

        Raises
        ------
        UnknownKeyError
            For a user not seen in training, with ``cold_start="error"``.

        Examples
        --------
        >>> import numpy as np
        >>> from compactemb import DenseTable, Vocab
        >>> model = FactorModel(Vocab(["ann"]), Vocab(["x", "y"]),
        ...                     DenseTable(np.ones((1, 2))), DenseTable(np.eye(2)))
        >>> model.recommend("ann", k=1)
        [('x', 1.0)]
        >>> model.recommend(["ann"], k=1)
        [[('x', 1.0)]]
        """
        if cold_start not in ("error", "popular"):
            raise InputError(f"cold_start must be 'error' or 'popular', got {cold_start!r}")
        single = is_single_key(users)
        users = [users] if single else list(users)
        rows = self.user_rows(users, on_unknown="raise" if cold_start == "error" else "fill")
        known = rows >= 0
        res = self.recommend_rows(rows[known], k=k, exclude_seen=exclude_seen, batch=batch)
        out = iter(keyed_results(res, self.item_vocab.keys))
        popular: list[tuple] = []
        if not known.all():
            pop = self.item_popularity()
            top = np.argsort(-pop, kind="stable")[:k]
            popular = [(self.item_vocab.keys[i], float(pop[i])) for i in top]
        result = [next(out) if ok else list(popular) for ok in known]  # a copy per user
        return result[0] if single else result

    def recommend_rows(self, rows, *, k: int = 10, exclude_seen: bool = True, exclude=None,
                       batch: int | None = None, block_rows: int = 16384,
                       n_threads: int | None = None) -> SearchResult:
        """Top-k item columns for user rows: ``SearchResult`` (n, k), -1/-inf padded.

        Scores ``user . item`` in blocks of users x items, so memory stays bounded (about
        ``batch x block_rows`` floats per thread) even when scoring every user. ``exclude`` (a
        users x items sparse matrix) replaces the stored training interactions as the items to
        skip. ``n_threads`` (None: every available core) rank contiguous shares of the users
        at once, each with its own BLAS products and a serial top-k.

        Parameters
        ----------
        rows : array-like of int
            User rows (see :meth:`user_rows`).
        k : int
            Items per user.
        exclude_seen : bool
            Skip the items each user interacted with in training.
        exclude : scipy.sparse matrix or None
            Users x items to skip instead of the training interactions.
        batch : int or None
            Users scored at a time; None picks one for ``block_rows``.
        block_rows : int
            Items scored at a time.
        n_threads : int or None
            Threads; None uses every available core.

        Returns
        -------
        SearchResult
            Item columns and scores, shape (len(rows), k), best first.
        """
        from ._threads import numba_threads, resolve_threads

        rows = np.asarray(rows, dtype=np.int64).ravel()
        if k < 1:
            raise InputError(f"k must be >= 1, got {k}")
        if rows.size and (rows.min() < 0 or rows.max() >= self.n_users):
            raise InputError(f"user rows must be in [0, {self.n_users})")
        block = max(1, min(block_rows, self.n_items))
        if batch is None:
            batch = max(1, min(4096, (1 << 22) // block))
        workers = min(resolve_threads(n_threads), rows.size // batch)
        if workers <= 1:
            return self._recommend_share(rows, k, exclude_seen, exclude, batch, block)
        from concurrent.futures import ThreadPoolExecutor

        def share(part):
            with numba_threads(1):  # the threads are the parallelism: a serial top-k each
                return self._recommend_share(part, k, exclude_seen, exclude, batch, block)

        with ThreadPoolExecutor(workers) as pool:
            parts = list(pool.map(share, np.array_split(rows, workers)))
        return SearchResult(np.concatenate([p.ids for p in parts]),
                            np.concatenate([p.scores for p in parts]))

    def _recommend_share(self, rows, k, exclude_seen, exclude, batch, block) -> SearchResult:
        ex_ptr = ex_ind = None
        if exclude is not None:
            ex = sp.csr_matrix(exclude)
            if ex.shape[1] != self.n_items:
                raise InputError(f"exclude has {ex.shape[1]} columns for {self.n_items} items")
            ex_ptr, ex_ind = ex.indptr, ex.indices
        elif exclude_seen and self._seen is not None:
            ex_ptr, ex_ind = self._seen.indptr, self._seen.indices
        exclusions = None
        if ex_ptr is not None and ex_ind is not None:
            def exclusions(q0, q1):
                r = rows[q0:q1]
                starts, ends = ex_ptr[r], ex_ptr[r + 1]
                lens = (ends - starts).astype(np.int64)
                cols = ex_ind[np.repeat(starts, lens) + _ranges(lens)].astype(np.int64)
                return np.repeat(np.arange(r.size), lens), cols
        from .tables._adc import RowRanges, code_scorer

        user_vectors: dict[int, np.ndarray] = {}
        scorer = code_scorer(self.item_table)  # PQ, int8, int4 items: scored on their codes

        def score(q0, q1, start, items):
            if q0 not in user_vectors:  # looked up once per batch of users, not per block
                user_vectors.clear()
                users = self.user_table.lookup(rows[q0:q1])
                user_vectors[q0] = users if scorer is None else scorer.prepare(users)
            if scorer is None:
                return user_vectors[q0] @ items.T
            return scorer.scores(user_vectors[q0], np.arange(q1 - q0, dtype=np.int64), items)

        return blocked_top_k(score, rows.size, self.item_table if scorer is None
                             else RowRanges(self.item_table.n_rows), k=k, exclude=exclusions,
                             block_rows=block, query_batch=batch if scorer is None
                             else min(batch, 256))

    def iter_recommendations(self, *, k: int = 10, exclude_seen: bool = True,
                             batch: int = 4096):
        """Yield ``(user rows, SearchResult)`` for every user, ``batch`` users at a time.

        Parameters
        ----------
        k : int
            Items per user.
        exclude_seen : bool
            Skip the items each user interacted with in training.
        batch : int
            Users per step.

        Yields
        ------
        (numpy.ndarray, SearchResult)
            The users' rows and their recommendations (see :meth:`recommend_rows`).
        """
        for b0 in range(0, self.n_users, batch):
            rows = np.arange(b0, min(self.n_users, b0 + batch), dtype=np.int64)
            yield rows, self.recommend_rows(rows, k=k, exclude_seen=exclude_seen)

    def similar_items(self, items, *, k: int = 10) -> list:
        """The k most similar items (cosine of item vectors), the item itself excluded.

        One item ID gives one list of ``(item ID, score)``; a sequence gives one list per item.

        Parameters
        ----------
        items : ID or sequence of IDs
            Raw item IDs.
        k : int
            How many similar items.

        Returns
        -------
        list
            ``[(item ID, score), ...]`` for one ID, one such list per ID for a sequence.
        """
        return self._similar(items, self.item_rows, self.item_table, self.item_vocab, k)

    def similar_users(self, users, *, k: int = 10) -> list:
        """The k most similar users (cosine of user vectors), the user itself excluded.

        One user ID gives one list of ``(user ID, score)``; a sequence gives one list per user.

        Parameters
        ----------
        users : ID or sequence of IDs
            Raw user IDs.
        k : int
            How many similar users.

        Returns
        -------
        list
            ``[(user ID, score), ...]`` for one ID, one such list per ID for a sequence.
        """
        return self._similar(users, self.user_rows, self.user_table, self.user_vocab, k)

    @staticmethod
    def _similar(keys, to_rows, table: EmbeddingTable, vocab: Vocab, k: int) -> list:
        single = is_single_key(keys)
        rows = to_rows([keys] if single else list(keys))
        res = search(table, table.lookup(rows), k=k, exclude=[[i] for i in rows])
        out = keyed_results(res, vocab.keys)
        return out[0] if single else out

    def memory_parts(self) -> dict[str, int]:
        """Measured bytes of each array, by name (tables, vocabularies, seen items)."""
        parts = {**self.user_table.memory_parts("user_table"),
                 **self.item_table.memory_parts("item_table"),
                 **self.user_vocab.memory_parts("user_vocab"),
                 **self.item_vocab.memory_parts("item_vocab")}
        if self._seen is not None:
            parts.update({f"seen.{k}": int(v.nbytes) for k, v in self._seen.arrays().items()})
        return parts

    def memory_comparison(self) -> dict:
        """The one-hot vs embedding comparison for this model's data.

        One-hot width per interaction against embedding values per interaction (see
        :func:`compactemb.memory.interaction_memory`), with the measured bytes of each table.
        """
        n = int(self._seen.indices.size) if self._seen is not None else None
        out = interaction_memory(len(self.user_vocab), len(self.item_vocab), self.dim,
                                 n_interactions=n)
        out.update(user_table_bytes_measured=int(self.user_table.nbytes),
                   item_table_bytes_measured=int(self.item_table.nbytes))
        return out

    def save(self, path, *, meta: dict | None = None) -> None:
        """Write the model to a compactemb file (read it back with :func:`compactemb.load`).

        Parameters
        ----------
        path : str or os.PathLike
            The file, written atomically.
        meta : dict or None
            Entries added to the model's ``meta`` before saving.
        """
        from .storage import save_components

        if meta:
            self.meta.update(meta)
        comps = {"user_vocab": self.user_vocab, "item_vocab": self.item_vocab,
                 "user_table": self.user_table, "item_table": self.item_table}
        if self._seen is not None:
            comps["seen"] = self._seen
        save_components(path, "factors", comps, meta=self.meta)


def _rows(vocab: Vocab, keys, what: str, on_unknown: str) -> np.ndarray:
    if isinstance(keys, (str, bytes, int, np.integer)):
        keys = [keys]
    rows = vocab.encode(list(keys), on_unknown="fill", fill_value=-1)
    if on_unknown == "raise" and (rows < 0).any():
        missing = [k for k, r in zip(keys, rows) if r < 0]
        shown = ", ".join(repr(m) for m in missing[:5])
        more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        hint = ("; for new users use cold_start='popular' or --cold-start popular"
                if what == "user" else "")
        raise UnknownKeyError(f"unknown {what}{'s' if len(missing) > 1 else ''}: {shown}{more} "
                              f"(the model knows {len(vocab):,} {what}s{hint})")
    return rows


def _ranges(lengths: np.ndarray) -> np.ndarray:
    """Concatenated ``arange(n)`` for each n in ``lengths``."""
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    offsets = np.repeat(np.cumsum(lengths) - lengths, lengths)
    return np.arange(total, dtype=np.int64) - offsets


def _load_factor_model(stored):
    from .storage import build_component

    parts = {n: build_component(stored, n) for n in
             ("user_vocab", "item_vocab", "user_table", "item_table")}
    seen = build_component(stored, "seen") if "seen" in stored.components else None
    try:
        return FactorModel(**parts, seen=seen, meta=stored.meta)
    except InputError as exc:
        raise FormatError(f"{stored.path}: {exc}") from None


register_file_kind("factors", _load_factor_model)
