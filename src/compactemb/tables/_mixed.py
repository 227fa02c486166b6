"""Mixed-dimension tables (Ginart et al. 2021): frequent rows get more dimensions.

Rows are in frequency order (as :class:`~compactemb.vocab.Vocab` stores them) and split into
blocks; block ``b`` holds rows ``[start_b, start_{b+1})`` as an (n_b, d_b) matrix ``E_b`` and
maps them to the common width through a (d_b, dim) projection ``P_b``::

    rows 0 ..   99   E_0 (100 x 64)  @ P_0 (64 x 64)     frequent: full width
    rows 100 .. 499  E_1 (400 x 16)  @ P_1 (16 x 64)
    rows 500 .. 2099 E_2 (1600 x 4)  @ P_2 (4 x 64)      rare: 4 values per row

All blocks live in two flat float32 arrays (``emb`` and ``proj`` with per-block offsets) so that
one numba kernel decodes and trains every block.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from .._native import kernels, use_native
from ..exceptions import InputError
from ._base import EmbeddingTable, check_ids, register_table
from ._trainable import TrainableMixin


def geometric_blocks(n_rows: int, n_blocks: int, ratio: float = 4.0) -> list[int]:
    """Block sizes growing by ``ratio`` (the frequent head small, the long tail large)."""
    w = ratio ** np.arange(n_blocks, dtype=np.float64)
    cuts = np.round(np.cumsum(w) / w.sum() * n_rows).astype(np.int64)
    sizes = np.diff(np.concatenate([[0], cuts]))
    return [int(s) for s in sizes]


def block_dims_for(dim: int, n_blocks: int, *, shrink: float = 4.0, min_dim: int = 1) -> list[int]:
    """Widths dim, dim/shrink, dim/shrink^2 ... (at least ``min_dim``)."""
    return [max(min_dim, int(round(dim / shrink ** b))) for b in range(n_blocks)]


@register_table
class MixedDimTable(TrainableMixin, EmbeddingTable):
    """Frequency blocks of different widths, each projected to ``dim`` (see module docstring).

    Parameters
    ----------
    emb : float32 array, flat: block b's (n_b, d_b) rows at ``emb_offsets[b]``
    proj : float32 array, flat: block b's (d_b, dim) projection at ``proj_offsets[b]``
    block_starts : int64 array (n_blocks,), first row of each block (starts at 0, increasing)
    block_dims : int64 array (n_blocks,)
    n_rows, dim : int
    """

    kind = "mixed"
    plot_params: ClassVar[dict] = {"n_blocks": 4, "shrink": 4.0}
    plot_label = "mixed dim (4 blocks, /4)"

    def __init__(self, emb, proj, block_starts, block_dims, n_rows: int, dim: int):
        self.emb = np.ascontiguousarray(emb, dtype=np.float32).ravel()
        self.proj = np.ascontiguousarray(proj, dtype=np.float32).ravel()
        self.block_starts = np.ascontiguousarray(block_starts, dtype=np.int64).ravel()
        self.block_dims = np.ascontiguousarray(block_dims, dtype=np.int64).ravel()
        self.n_rows, self.dim = int(n_rows), int(dim)
        starts, dims = self.block_starts, self.block_dims
        if starts.size < 1 or starts.size != dims.size or starts[0] != 0 \
                or np.any(np.diff(starts) <= 0) or starts[-1] >= max(self.n_rows, 1) \
                or np.any(dims < 1):
            raise InputError("mixed blocks must start at row 0, increase, lie within n_rows and "
                             "have widths >= 1")
        sizes = np.diff(np.append(starts, self.n_rows))
        self.emb_offsets = np.concatenate([[0], np.cumsum(sizes * dims)]).astype(np.int64)
        self.proj_offsets = np.concatenate([[0], np.cumsum(dims * self.dim)]).astype(np.int64)
        if self.emb.size != self.emb_offsets[-1] or self.proj.size != self.proj_offsets[-1]:
            raise InputError(f"mixed arrays hold {self.emb.size} / {self.proj.size} values; the "
                             f"blocks need {self.emb_offsets[-1]} / {self.proj_offsets[-1]}")
        self.meta: dict = {}
        self._identity: list[bool] | None = None  # see _identity_blocks

    @property
    def n_blocks(self) -> int:
        """The number of frequency blocks."""
        return int(self.block_starts.size)

    def block(self, b: int) -> tuple[np.ndarray, np.ndarray]:
        """Views (E_b, P_b) of block ``b``.

        Parameters
        ----------
        b : int
            The block.

        Returns
        -------
        (numpy.ndarray, numpy.ndarray)
            Its embeddings (rows x d_b) and projection (d_b x dim), as views.
        """
        db = int(self.block_dims[b])
        e = self.emb[self.emb_offsets[b]:self.emb_offsets[b + 1]].reshape(-1, db)
        p = self.proj[self.proj_offsets[b]:self.proj_offsets[b + 1]].reshape(db, self.dim)
        return e, p

    @staticmethod
    def _check_blocks(n_rows, dim, block_sizes, block_dims):
        if sum(block_sizes) != n_rows or any(s < 1 for s in block_sizes):
            raise InputError(f"mixed option 'block_sizes' must be positive and sum to "
                             f"n_rows={n_rows}, got {list(block_sizes)}")
        if len(block_dims) != len(block_sizes) or any(
                not isinstance(d, (int, np.integer)) or not 1 <= d <= dim for d in block_dims):
            raise InputError(f"mixed option 'block_dims' needs one width in [1, dim={dim}] per "
                             f"block, got {list(block_dims)}")

    @classmethod
    def random(cls, block_sizes, block_dims, dim: int, *, init_scale: float | None = None,
               seed: int = 0) -> MixedDimTable:
        """Random init; projections start as scaled identity-like maps (orthonormal rows).

        Parameters
        ----------
        block_sizes : sequence of int
            Rows per block, most frequent rows first.
        block_dims : sequence of int
            Each block's inner dimension.
        dim : int
            The output dimension.
        init_scale : float or None
            Scale of the embeddings' uniform init; None takes word2vec's ``0.5 / dim``.
        seed : int
            Seed of the init.

        Returns
        -------
        MixedDimTable
            A trainable table.
        """
        block_sizes, block_dims = [int(s) for s in block_sizes], [int(d) for d in block_dims]
        n_rows = sum(block_sizes)
        cls._check_blocks(n_rows, dim, block_sizes, block_dims)
        rng = np.random.default_rng(seed)
        a = 0.5 / dim if init_scale is None else float(init_scale)
        emb = np.concatenate([rng.uniform(-a, a, n * d) for n, d in zip(block_sizes, block_dims)])
        projs = []
        for d in block_dims:
            q, _ = np.linalg.qr(rng.standard_normal((dim, d)))
            projs.append(q.T.ravel())
        starts = np.concatenate([[0], np.cumsum(block_sizes)[:-1]])
        return cls(emb, np.concatenate(projs), starts, block_dims, n_rows, dim)

    @classmethod
    def from_dense(cls, table_or_array, *, block_sizes=None, block_dims=None, n_blocks: int = 4,
                   shrink: float = 4.0) -> MixedDimTable:
        """Compress a trained table: each block keeps its leading ``d_b`` principal directions.

        ``E_b = X_b V_b``, ``P_b = V_b^T``. Rows must be in frequency order.

        Parameters
        ----------
        table_or_array : EmbeddingTable or array-like, shape (n_rows, dim)
            The trained rows, most frequent first.
        block_sizes, block_dims : sequence of int or None
            Rows and inner dimension per block; None derives them from ``n_blocks`` and ``shrink``.
        n_blocks : int
            The number of blocks (geometric sizes).
        shrink : float
            Each block's dimension is the previous one's divided by this.

        Returns
        -------
        MixedDimTable
            The compressed table.
        """
        x = table_or_array.to_dense().weights if isinstance(table_or_array, EmbeddingTable) \
            else np.ascontiguousarray(table_or_array, dtype=np.float32)
        n, dim = x.shape
        if block_sizes is None:
            if not isinstance(n_blocks, (int, np.integer)) or not 1 <= n_blocks <= n:
                raise InputError(f"mixed option 'n_blocks' must be in [1, n_rows={n}], "
                                 f"got {n_blocks!r}")
            block_sizes = geometric_blocks(n, n_blocks)
        if block_dims is None:
            if not shrink >= 1:
                raise InputError(f"mixed option 'shrink' must be >= 1, got {shrink!r}")
            block_dims = block_dims_for(dim, len(block_sizes), shrink=shrink)
        block_sizes, block_dims = [int(s) for s in block_sizes], [int(d) for d in block_dims]
        cls._check_blocks(n, dim, block_sizes, block_dims)
        embs, projs, s = [], [], 0
        for size, d in zip(block_sizes, block_dims):
            if d == dim:  # a full-width block is stored as is (identity projection: exact)
                embs.append(x[s:s + size].astype(np.float32).ravel())
                projs.append(np.eye(dim, dtype=np.float32).ravel())
                s += size
                continue
            xb = x[s:s + size].astype(np.float64)
            _, vecs = np.linalg.eigh(xb.T @ xb)
            v = vecs[:, ::-1][:, :d]
            embs.append((xb @ v).astype(np.float32).ravel())
            projs.append(v.T.astype(np.float32).ravel())
            s += size
        starts = np.concatenate([[0], np.cumsum(block_sizes)[:-1]])
        return cls(np.concatenate(embs), np.concatenate(projs), starts, block_dims, n, dim)

    def _identity_blocks(self) -> list[bool]:
        """Blocks whose projection is the identity (decoded by a plain row copy).

        Cached until training changes the projections.
        """
        identity = getattr(self, "_identity", None)
        if identity is None:
            eye = np.eye(self.dim, dtype=np.float32)
            identity = self._identity = [int(self.block_dims[b]) == self.dim
                                         and np.array_equal(self.block(b)[1], eye)
                                         for b in range(self.n_blocks)]
        return identity

    def lookup(self, ids) -> np.ndarray:
        idx = check_ids(ids, self.n_rows)
        flat = idx.ravel()
        out = np.empty((flat.size, self.dim), np.float32)
        # group ids by block: one BLAS matmul per block (a full-width row costs dim^2 MACs,
        # far faster batched than row by row); identity blocks are a plain gather
        block = np.searchsorted(self.block_starts, flat, side="right") - 1
        identity = self._identity_blocks()
        for b in np.unique(block):
            sel = np.flatnonzero(block == b)
            e, p = self.block(int(b))
            rows = e[flat[sel] - self.block_starts[b]]
            out[sel] = rows if identity[b] else rows @ p
        return out.reshape(idx.shape + (self.dim,))

    def lookup_kernel(self, ids) -> np.ndarray:
        """The row-by-row numba decode (what numba trainers call, ``mixed_lookup``).

        Parameters
        ----------
        ids : array-like of int
            Row ids, any shape.

        Returns
        -------
        numpy.ndarray of float32
            The rows, shape ``ids.shape + (dim,)``.
        """
        mixed_lookup = kernels("compactemb.tables._compress_kernels").mixed_lookup
        idx = check_ids(ids, self.n_rows)
        out = np.empty((idx.size, self.dim), np.float32)
        mixed_lookup(*self.kernel_args(), idx.ravel(), out)
        return out.reshape(idx.shape + (self.dim,))

    def rows(self, start: int, stop: int) -> np.ndarray:
        # block matmuls (BLAS) for scans
        out = np.empty((stop - start, self.dim), np.float32)
        ends = np.append(self.block_starts[1:], self.n_rows)
        for b in range(self.n_blocks):
            lo, hi = max(start, int(self.block_starts[b])), min(stop, int(ends[b]))
            if lo < hi:
                e, p = self.block(b)
                b0 = int(self.block_starts[b])
                out[lo - start:hi - start] = e[lo - b0:hi - b0] @ p
        return out

    def lookup_reference(self, ids) -> np.ndarray:
        with use_native(False):
            return self.lookup_kernel(ids)

    def parameters(self):
        return {"emb": self.emb, "proj": self.proj}

    def kernel_args(self):
        return (self.emb, self.emb_offsets, self.proj, self.proj_offsets, self.block_starts,
                self.block_dims)

    def apply_gradients(self, ids, grads, lr: float) -> None:
        mixed_scatter = kernels("compactemb.tables._compress_kernels").mixed_scatter
        idx, g = self._check_grads(ids, grads)
        mixed_scatter(*self.kernel_args(), idx, g, np.float32(lr))
        self._norms = self._identity = None

    def arrays(self):
        return {"emb": self.emb, "proj": self.proj, "block_starts": self.block_starts,
                "block_dims": self.block_dims}

    def attrs(self):
        return {"n_rows": self.n_rows, "dim": self.dim, "n_blocks": self.n_blocks}

    @classmethod
    def from_state(cls, attrs, arrays):
        return cls(arrays["emb"], arrays["proj"], arrays["block_starts"], arrays["block_dims"],
                   attrs["n_rows"], attrs["dim"])

    @classmethod
    def estimate_nbytes(cls, n_rows: int, dim: int, *, n_blocks: int = 4, shrink: float = 4.0,
                        **_) -> int:
        n_blocks = max(1, min(int(n_blocks), int(n_rows)))
        sizes = geometric_blocks(int(n_rows), n_blocks)
        dims = block_dims_for(int(dim), n_blocks, shrink=shrink)
        return 4 * sum(s * d + d * int(dim) for s, d in zip(sizes, dims)) + 16 * n_blocks
