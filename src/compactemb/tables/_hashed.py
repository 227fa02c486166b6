"""Train-time compact tables: the hashing trick and quotient-remainder compositional tables.

* :class:`HashedTable` - row ``i`` is the sum of ``k`` buckets ``W[h_1(i)] + ... + W[h_k(i)]``
  of a shared (n_buckets, dim) matrix (Weinberger et al. 2009; k > 1 as in hash embeddings,
  Svenstrup et al. 2017): distinct rows rarely share all k buckets.
* :class:`QRTable` - Shi et al. 2020: with ``R`` remainder rows, row ``i`` combines
  ``Q[i // R]`` and ``R[i % R]`` (element-wise product by default, or sum). Every row gets a
  unique pair, in ``(ceil(n/R) + R) * dim`` floats (about ``2 sqrt(n) dim`` at best).

Both are trained through ``apply_gradients`` (see ``_trainable``).
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from .._native import kernels
from ..exceptions import InputError
from ._base import EmbeddingTable, check_ids, register_table
from ._trainable import TrainableMixin

_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


def hash_ids(ids, seed: int, n_buckets: int) -> np.ndarray:
    """splitmix64(id * golden + seed) % n_buckets: NumPy twin of the kernels' ``hash_id``."""
    z = np.asarray(ids, dtype=np.int64).astype(np.uint64) * _GAMMA + np.uint64(seed)
    z = (z ^ (z >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    z = z ^ (z >> np.uint64(31))
    return (z % np.uint64(n_buckets)).astype(np.int64)


def _check_count(name: str, value, what: str, low: int = 1) -> int:
    if not isinstance(value, (int, np.integer)) or value < low:
        raise InputError(f"{what} option '{name}' must be an integer >= {low}, got {value!r}")
    return int(value)


def _seeds(seed: int, n_hashes: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 2**63 - 1, size=n_hashes).astype(np.uint64)


@register_table
class HashedTable(TrainableMixin, EmbeddingTable):
    """Hashing trick: ``row(i) = sum_h weights[hash_h(i) % n_buckets]``.

    Parameters
    ----------
    weights : float32 array of shape (n_buckets, dim)
    n_rows : int
        Rows (ids) addressed; any number, independent of the memory used.
    seeds : uint64 array of shape (n_hashes,)
        One seed per hash function.
    """

    kind = "hashed"
    plot_params: ClassVar[dict] = {"n_buckets": 50_000, "n_hashes": 2}
    plot_label = "hashed (50k buckets)"

    def __init__(self, weights, n_rows: int, seeds):
        w = np.ascontiguousarray(weights, dtype=np.float32)
        s = np.ascontiguousarray(seeds, dtype=np.uint64).ravel()
        if w.ndim != 2 or w.shape[0] < 1:
            raise InputError(f"hashed weights must be (n_buckets >= 1, dim), got {w.shape}")
        if s.size < 1:
            raise InputError("hashed option 'n_hashes' must be >= 1")
        self.weights, self.seeds = w, s
        self.n_buckets, self.dim = w.shape
        self.n_rows = _check_count("n_rows", n_rows, "hashed", 0)
        self.meta: dict = {}

    @classmethod
    def random(cls, n_rows: int, dim: int, *, n_buckets: int, n_hashes: int = 2,
               init_scale: float | None = None, seed: int = 0) -> HashedTable:
        """Uniform(-a, a) buckets, a = 0.5 / dim / n_hashes by default (word2vec's init).

        Parameters
        ----------
        n_rows, dim : int
            The table's shape.
        n_buckets : int
            Rows of the shared bucket table.
        n_hashes : int
            Buckets summed per row.
        init_scale : float or None
            ``a`` of the uniform init; None takes the default above.
        seed : int
            Seed of the init.

        Returns
        -------
        HashedTable
            A trainable table.
        """
        n_buckets = _check_count("n_buckets", n_buckets, "hashed")
        n_hashes = _check_count("n_hashes", n_hashes, "hashed")
        dim = _check_count("dim", dim, "hashed")
        a = 0.5 / dim / n_hashes if init_scale is None else float(init_scale)
        rng = np.random.default_rng(seed)
        w = rng.uniform(-a, a, size=(n_buckets, dim)).astype(np.float32)
        return cls(w, n_rows, _seeds(seed, n_hashes))

    def buckets(self, ids) -> np.ndarray:
        """(n, n_hashes) bucket of each id under each hash function.

        Parameters
        ----------
        ids : array-like of int
            Row ids.

        Returns
        -------
        numpy.ndarray of int64, shape (n, n_hashes)
            Bucket rows.
        """
        ids = np.asarray(ids, dtype=np.int64).ravel()
        return np.stack([hash_ids(ids, int(s), self.n_buckets) for s in self.seeds], axis=1)

    def lookup(self, ids) -> np.ndarray:
        hashed_lookup = kernels("compactemb.tables._compress_kernels").hashed_lookup
        idx = check_ids(ids, self.n_rows)
        out = np.empty((idx.size, self.dim), np.float32)
        hashed_lookup(self.weights, idx.ravel(), self.seeds, out)
        return out.reshape(idx.shape + (self.dim,))

    def parameters(self):
        return {"weights": self.weights}

    def kernel_args(self):
        return (self.weights, self.seeds)

    def apply_gradients(self, ids, grads, lr: float) -> None:
        hashed_scatter = kernels("compactemb.tables._compress_kernels").hashed_scatter
        idx, g = self._check_grads(ids, grads)
        hashed_scatter(self.weights, idx, self.seeds, g, np.float32(lr))
        self._norms = None

    def arrays(self):
        return {"weights": self.weights, "seeds": self.seeds}

    def attrs(self):
        return {"n_rows": self.n_rows, "dim": self.dim, "n_buckets": self.n_buckets,
                "n_hashes": int(self.seeds.size)}

    @classmethod
    def from_state(cls, attrs, arrays):
        return cls(arrays["weights"], attrs["n_rows"], arrays["seeds"])

    @classmethod
    def estimate_nbytes(cls, n_rows: int, dim: int, *, n_buckets: int = 50_000,
                        n_hashes: int = 2, **_) -> int:
        return 4 * int(n_buckets) * int(dim) + 8 * int(n_hashes)


@register_table
class QRTable(TrainableMixin, EmbeddingTable):
    """Quotient-remainder table: ``row(i) = Q[i // R] (*|+) R[i % R]``.

    Parameters
    ----------
    quotient : float32 array of shape (ceil(n_rows / n_remainder), dim)
    remainder : float32 array of shape (n_remainder, dim)
    n_rows : int
    combine : {"mul", "add"}, default "mul"
        Element-wise product (Shi et al.'s default) or sum.
    """

    kind = "qr"
    plot_params: ClassVar[dict] = {"n_remainder": 1000}
    plot_label = "quotient-remainder (R=1000)"

    def __init__(self, quotient, remainder, n_rows: int, *, combine: str = "mul"):
        q = np.ascontiguousarray(quotient, dtype=np.float32)
        r = np.ascontiguousarray(remainder, dtype=np.float32)
        if combine not in ("mul", "add"):
            raise InputError(f"qr option 'combine' must be 'mul' or 'add', got {combine!r}")
        if q.ndim != 2 or r.ndim != 2 or q.shape[1] != r.shape[1] or r.shape[0] < 1:
            raise InputError(f"qr factors must be (n_q, dim) and (n_r >= 1, dim); got {q.shape} "
                             f"and {r.shape}")
        n_rows = _check_count("n_rows", n_rows, "qr", 0)
        need = -(-n_rows // r.shape[0])
        if q.shape[0] < need:
            raise InputError(f"qr needs ceil(n_rows / n_remainder) = {need} quotient rows, got "
                             f"{q.shape[0]}")
        self.quotient, self.remainder, self.combine = q, r, combine
        self.n_rows, self.dim = n_rows, q.shape[1]
        self.n_remainder = r.shape[0]
        self.meta: dict = {}

    @classmethod
    def random(cls, n_rows: int, dim: int, *, n_remainder: int, combine: str = "mul",
               init_scale: float | None = None, seed: int = 0) -> QRTable:
        """Random init, so products start at the usual scale and rows differ.

        With ``mul`` the quotient rows are uniform(-a, a) and the remainder rows 1 + uniform(-0.1,
        0.1).

        Parameters
        ----------
        n_rows, dim : int
            The table's shape.
        n_remainder : int
            Rows of the remainder table (the quotient table has ``ceil(n_rows / n_remainder)``).
        combine : {"mul", "add"}
            How the quotient and remainder rows combine.
        init_scale : float or None
            ``a`` of the uniform init; None takes the default above.
        seed : int
            Seed of the init.

        Returns
        -------
        QRTable
            A trainable table.
        """
        n_remainder = _check_count("n_remainder", n_remainder, "qr")
        dim = _check_count("dim", dim, "qr")
        n_rows = _check_count("n_rows", n_rows, "qr", 0)
        a = 0.5 / dim if init_scale is None else float(init_scale)
        rng = np.random.default_rng(seed)
        n_q = max(1, -(-n_rows // n_remainder))
        q = rng.uniform(-a, a, size=(n_q, dim)).astype(np.float32)
        if combine == "mul":
            r = (1 + rng.uniform(-0.1, 0.1, size=(n_remainder, dim))).astype(np.float32)
        else:
            r = rng.uniform(-a, a, size=(n_remainder, dim)).astype(np.float32)
        return cls(q, r, n_rows, combine=combine)

    def lookup(self, ids) -> np.ndarray:
        qr_lookup = kernels("compactemb.tables._compress_kernels").qr_lookup
        idx = check_ids(ids, self.n_rows)
        out = np.empty((idx.size, self.dim), np.float32)
        qr_lookup(self.quotient, self.remainder, idx.ravel(), self.combine == "mul", out)
        return out.reshape(idx.shape + (self.dim,))

    def parameters(self):
        return {"quotient": self.quotient, "remainder": self.remainder}

    def kernel_args(self):
        return (self.quotient, self.remainder, self.combine == "mul")

    def apply_gradients(self, ids, grads, lr: float) -> None:
        qr_scatter = kernels("compactemb.tables._compress_kernels").qr_scatter
        idx, g = self._check_grads(ids, grads)
        qr_scatter(self.quotient, self.remainder, idx, g, np.float32(lr),
                   self.combine == "mul")
        self._norms = None

    def arrays(self):
        return {"quotient": self.quotient, "remainder": self.remainder}

    def attrs(self):
        return {"n_rows": self.n_rows, "dim": self.dim, "n_remainder": self.n_remainder,
                "combine": self.combine}

    @classmethod
    def from_state(cls, attrs, arrays):
        return cls(arrays["quotient"], arrays["remainder"], attrs["n_rows"],
                   combine=attrs["combine"])

    @classmethod
    def estimate_nbytes(cls, n_rows: int, dim: int, *, n_remainder: int = 1000, **_) -> int:
        return 4 * int(dim) * (max(1, -(-int(n_rows) // int(n_remainder))) + int(n_remainder))
