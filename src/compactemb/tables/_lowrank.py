"""Low-rank tables: ``rows = U @ V``, U (n_rows, rank) and V (rank, dim), from a truncated SVD."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from ..exceptions import InputError
from ._base import EmbeddingTable, check_ids, register_table


@register_table
class LowRankTable(EmbeddingTable):
    """A table factored as ``U @ V``: rank * (n_rows + dim) floats instead of n_rows * dim.

    ``from_dense`` keeps the ``rank`` leading singular directions (the best rank-``rank``
    approximation in Frobenius norm, Eckart-Young), with ``U = U_r S_r`` and ``V = V_r^T``.

    Parameters
    ----------
    left : array-like, shape (n_rows, rank)
        U.
    right : array-like, shape (rank, dim)
        V.

    Raises
    ------
    InputError
        When the factors' shapes do not chain.
    """

    kind = "lowrank"
    plot_params: ClassVar[dict] = {"rank": 32}
    plot_label = "low rank (r=32)"

    def __init__(self, left, right):
        u = np.ascontiguousarray(left, dtype=np.float32)
        v = np.ascontiguousarray(right, dtype=np.float32)
        if u.ndim != 2 or v.ndim != 2 or u.shape[1] != v.shape[0]:
            raise InputError(f"low-rank factors must be (n, r) and (r, dim); got {u.shape} "
                             f"and {v.shape}")
        self.left, self.right = u, v
        self.n_rows, self.rank = u.shape
        self.dim = v.shape[1]
        self.meta: dict = {}

    @classmethod
    def from_dense(cls, table_or_array, *, rank: int) -> LowRankTable:
        """The best rank-``rank`` approximation of a matrix or table (truncated SVD).

        Parameters
        ----------
        table_or_array : EmbeddingTable or array-like, shape (n_rows, dim)
            The rows to approximate.
        rank : int
            The rank, in [1, min(n_rows, dim)].

        Returns
        -------
        LowRankTable
            The factored table.

        Raises
        ------
        InputError
            For a matrix that is not 2-D or a rank out of range.
        """
        x = table_or_array.to_dense().weights if isinstance(table_or_array, EmbeddingTable) \
            else np.ascontiguousarray(table_or_array, dtype=np.float32)
        if x.ndim != 2:
            raise InputError(f"a table needs a 2-D matrix, got shape {x.shape}")
        n, dim = x.shape
        if not isinstance(rank, (int, np.integer)) or not 1 <= rank <= min(n, dim):
            raise InputError(f"svd option 'rank' must be an integer in [1, min(n_rows, dim)="
                             f"{min(n, dim)}], got {rank!r}")
        # eigen-decomposition of the small dim x dim Gram matrix: one pass over the rows
        gram = x.T.astype(np.float64) @ x.astype(np.float64)
        evals, evecs = np.linalg.eigh(gram)
        v = evecs[:, ::-1][:, :rank]
        return cls((x @ v.astype(np.float32)), v.T.astype(np.float32))

    def lookup(self, ids) -> np.ndarray:
        idx = check_ids(ids, self.n_rows)
        return (self.left[idx.ravel()] @ self.right).reshape(idx.shape + (self.dim,))

    def rows(self, start: int, stop: int) -> np.ndarray:
        return self.left[start:stop] @ self.right

    def arrays(self):
        return {"left": self.left, "right": self.right}

    def attrs(self):
        return {"n_rows": self.n_rows, "dim": self.dim, "rank": self.rank}

    @classmethod
    def from_state(cls, attrs, arrays):
        t = cls(arrays["left"], arrays["right"])
        if (t.n_rows, t.dim, t.rank) != (attrs["n_rows"], attrs["dim"], attrs["rank"]):
            raise ValueError("factor shapes do not match the attributes")
        return t

    @classmethod
    def estimate_nbytes(cls, n_rows: int, dim: int, *, rank: int = 32, **_) -> int:
        return 4 * int(rank) * (int(n_rows) + int(dim))
