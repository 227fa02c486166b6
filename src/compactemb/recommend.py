"""FactorModel: user and item embedding tables with their ID vocabularies."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .exceptions import FormatError, InputError
from .memory import interaction_memory
from .search import SearchResult, search
from .tables import EmbeddingTable
from .vocab import Vocab


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
        return cls(arrays["indptr"], arrays["indices"], attrs["n_items"])


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
                self._seen = seen
            else:
                m = sp.csr_matrix(seen)
                self._seen = _Seen(m.indptr.astype(np.int64), m.indices.astype(np.int32),
                                   m.shape[1])

    @property
    def dim(self) -> int:
        return self.user_table.dim

    def recommend(self, users, *, k: int = 10, exclude_seen: bool = True,
                  batch: int = 1024) -> list[list[tuple]]:
        """Top-k items (raw IDs, scores) per user, scoring users in batches."""
        rows = self.user_vocab.encode(users)
        out = []
        for b in range(0, rows.size, batch):
            r = rows[b:b + batch]
            exclude = None
            if exclude_seen and self._seen is not None:
                ip, ind = self._seen.indptr, self._seen.indices
                exclude = [ind[ip[u]:ip[u + 1]] for u in r]
            res = search(self.item_table, self.user_table.lookup(r), k=k, metric="dot",
                         exclude=exclude)
            out.extend(self._decode(res, self.item_vocab))
        return out

    def similar_items(self, items, *, k: int = 10) -> list[list[tuple]]:
        rows = self.item_vocab.encode(items)
        res = search(self.item_table, self.item_table.lookup(rows), k=k,
                     exclude=[[i] for i in rows])
        return self._decode(res, self.item_vocab)

    def similar_users(self, users, *, k: int = 10) -> list[list[tuple]]:
        rows = self.user_vocab.encode(users)
        res = search(self.user_table, self.user_table.lookup(rows), k=k,
                     exclude=[[i] for i in rows])
        return self._decode(res, self.user_vocab)

    @staticmethod
    def _decode(res: SearchResult, vocab: Vocab):
        keys = vocab.keys
        return [[(keys[i], float(s)) for i, s in zip(ri, rs) if i >= 0]
                for ri, rs in zip(res.ids, res.scores)]

    def memory_parts(self) -> dict[str, int]:
        parts = {**self.user_table.memory_parts("user_table"),
                 **self.item_table.memory_parts("item_table"),
                 **self.user_vocab.memory_parts("user_vocab"),
                 **self.item_vocab.memory_parts("item_vocab")}
        if self._seen is not None:
            parts.update({f"seen.{k}": int(v.nbytes) for k, v in self._seen.arrays().items()})
        return parts

    def memory_comparison(self) -> dict:
        n = int(self._seen.indices.size) if self._seen is not None else None
        return interaction_memory(len(self.user_vocab), len(self.item_vocab), self.dim,
                                  n_interactions=n)

    def save(self, path, *, meta: dict | None = None) -> None:
        from .storage import save_components

        if meta:
            self.meta.update(meta)
        comps = {"user_vocab": self.user_vocab, "item_vocab": self.item_vocab,
                 "user_table": self.user_table, "item_table": self.item_table}
        if self._seen is not None:
            comps["seen"] = self._seen
        save_components(path, "factors", comps, meta=self.meta)


def _load_factor_model(stored):
    from .storage import build_component

    parts = {n: build_component(stored, n) for n in
             ("user_vocab", "item_vocab", "user_table", "item_table")}
    seen = build_component(stored, "seen") if "seen" in stored.components else None
    try:
        return FactorModel(**parts, seen=seen, meta=stored.meta)
    except InputError as exc:
        raise FormatError(f"{stored.path}: {exc}") from None
