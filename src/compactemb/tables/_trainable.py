"""How SGD trainers update the train-time compact tables (hashed, quotient-remainder, mixed).

A trainer that would update dense rows ``W[ids] -= lr * grads`` calls instead::

    table.apply_gradients(ids, grads, lr)

``ids`` are the (n,) row ids of one step (repeats allowed) and ``grads`` the (n, dim) gradients
of the loss with respect to those rows, as the trainer computes them from ``table.lookup(ids)``.
The table applies the chain rule to its own parameter arrays (``table.parameters()``: buckets,
quotient/remainder factors, per-block embeddings and projections) in a numba kernel, one id after
the other (plain SGD; Hogwild-safe in the same sense as word2vec's dense updates). Trainers
written in numba can call the kernels of ``tables._compress_kernels`` directly with the arrays
of ``parameters()`` (``hashed_scatter``, ``qr_scatter``, ``mixed_scatter``) and the same
arguments the table passes (see each class's ``kernel_args()``).

Each kind also has ``apply_gradients_reference`` (a slow NumPy twin used by the tests).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

import numpy as np

from .._native import use_native
from .._progress import progress
from ..exceptions import InputError
from ._base import check_ids


class TrainableMixin:
    """``parameters()``, ``apply_gradients(ids, grads, lr)`` and ``fit_rows`` for a table kind."""

    # given by the EmbeddingTable the mixin is combined with
    n_rows: int
    dim: int
    kind: ClassVar[str]
    _norms: np.ndarray | None

    if TYPE_CHECKING:
        def lookup(self, ids) -> np.ndarray: ...
        def iter_blocks(self, block: int = ...): ...

    def parameters(self) -> dict[str, np.ndarray]:
        """The arrays SGD updates in place (writable)."""
        raise NotImplementedError

    def kernel_args(self) -> tuple:
        """The arguments a numba trainer passes to this kind's scatter and lookup kernels."""
        raise NotImplementedError

    def apply_gradients(self, ids, grads, lr: float) -> None:
        """Apply one SGD step ``rows[ids] -= lr * grads`` to the parameter arrays.

        Parameters
        ----------
        ids : array-like of int, shape (n,)
            Row ids of the step (repeats allowed).
        grads : array-like of float, shape (n, dim)
            The loss gradients with respect to those rows.
        lr : float
            The learning rate.

        Raises
        ------
        InputError
            For gradients of the wrong shape or read-only (memory-mapped) parameters.
        """
        raise NotImplementedError

    def apply_gradients_reference(self, ids, grads, lr: float) -> None:
        """:meth:`apply_gradients` through the NumPy twin of its kernel (for tests).

        Parameters
        ----------
        ids, grads, lr
            As :meth:`apply_gradients` takes them.
        """
        with use_native(False):
            self.apply_gradients(ids, grads, lr)

    def lookup_reference(self, ids) -> np.ndarray:
        """:meth:`lookup` through the NumPy twin of its kernel (for tests).

        Parameters
        ----------
        ids : array-like of int
            Row ids, any shape.

        Returns
        -------
        numpy.ndarray of float32
            The rows, as :meth:`lookup` gives them.
        """
        with use_native(False):
            return self.lookup(ids)

    def _check_grads(self, ids, grads):
        idx = check_ids(ids, self.n_rows).ravel()
        g = np.ascontiguousarray(grads, dtype=np.float32)
        if g.shape != (idx.size, self.dim):
            raise InputError(f"grads must have shape ({idx.size}, {self.dim}), got {g.shape}")
        for name, a in self.parameters().items():
            if not a.flags.writeable:
                raise InputError(f"parameter {name!r} is read-only (memory-mapped?); load the "
                                 "table without mmap to train it")
        return idx, g

    def fit_rows(self, targets, *, epochs: int = 10, lr: float = 0.05, batch: int = 256,
                 seed: int = 0) -> list[float]:
        """Fit the table's rows to ``targets`` (n_rows, dim) by SGD on the squared error.

        Returns the mean squared error after each epoch. This is how a dense table is
        distilled into a train-time compact kind, and a small end-to-end use of
        ``apply_gradients``.
        """
        y = np.ascontiguousarray(targets, dtype=np.float32)
        if y.shape != (self.n_rows, self.dim):
            raise InputError(f"targets must have shape ({self.n_rows}, {self.dim}), "
                             f"got {y.shape}")
        rng = np.random.default_rng(seed)
        losses = []
        with progress(total=epochs, desc=f"fit {self.kind}") as bar:
            for _ in range(epochs):
                order = rng.permutation(self.n_rows)
                for s in range(0, self.n_rows, batch):
                    ids = order[s:s + batch]
                    grads = self.lookup(ids) - y[ids]
                    self.apply_gradients(ids, grads, lr)
                err = 0.0
                for s, blk in self.iter_blocks():
                    err += float(((blk - y[s:s + blk.shape[0]]) ** 2).sum())
                losses.append(err / max(1, y.size))
                bar.update()
        self._norms = None
        return losses
