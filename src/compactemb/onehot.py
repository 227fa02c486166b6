"""One-hot encoding, the baseline that embeddings replace: dense and sparse (CSR) batches."""

from __future__ import annotations

import numpy as np

from .tables._base import check_ids


class OneHotEncoder:
    """Encode row indices of a vocabulary of ``n_categories`` keys as one-hot vectors.

    ``dense(ids)`` gives an (n, n_categories) float32 matrix, ``sparse(ids)`` the same as a
    ``scipy.sparse.csr_matrix`` (one stored value per row). Both are real objects whose
    ``nbytes`` the memory report measures.

    Parameters
    ----------
    n_categories : int
        The vocabulary size (the width of a one-hot vector).
    dtype : numpy dtype
        The values' type.
    """

    def __init__(self, n_categories: int, *, dtype=np.float32):
        self.n_categories = int(n_categories)
        self.dtype = np.dtype(dtype)

    def dense(self, ids) -> np.ndarray:
        """One-hot rows of ``ids`` as a dense ``(len(ids), n_categories)`` matrix.

        Parameters
        ----------
        ids : array-like of int
            Category indices in ``[0, n_categories)``.

        Returns
        -------
        numpy.ndarray
            The one-hot rows.
        """
        idx = check_ids(np.ravel(ids), self.n_categories)
        out = np.zeros((idx.size, self.n_categories), dtype=self.dtype)
        out[np.arange(idx.size), idx] = 1
        return out

    def sparse(self, ids):
        """One-hot rows of ``ids`` as a ``scipy.sparse.csr_matrix``.

        Parameters
        ----------
        ids : array-like of int
            Category indices in ``[0, n_categories)``.

        Returns
        -------
        scipy.sparse.csr_matrix
            The one-hot rows.
        """
        import scipy.sparse as sp

        idx = check_ids(np.ravel(ids), self.n_categories)
        itype = np.int32 if max(idx.size, self.n_categories) < 2**31 else np.int64
        return sp.csr_matrix(
            (np.ones(idx.size, dtype=self.dtype), idx.astype(itype),
             np.arange(idx.size + 1, dtype=itype)),
            shape=(idx.size, self.n_categories))

    def dense_bytes(self, n: int) -> int:
        """Bytes of a dense batch of ``n`` one-hot rows, without building it.

        Parameters
        ----------
        n : int
            The number of rows.

        Returns
        -------
        int
            ``n * n_categories * itemsize``.
        """
        return int(n) * self.n_categories * self.dtype.itemsize


def csr_nbytes(m) -> int:
    """Measured bytes of a scipy CSR matrix (data + indices + indptr).

    Parameters
    ----------
    m : scipy.sparse.csr_matrix
        The matrix.

    Returns
    -------
    int
        The bytes of its three arrays.
    """
    return int(m.data.nbytes + m.indices.nbytes + m.indptr.nbytes)
