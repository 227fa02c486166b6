"""NumPy twin of ``_linalg_kernels.py``; see ``compactemb._native``."""

from __future__ import annotations

import scipy.sparse as sp


def csr_dense_matmul(indptr, indices, data, x, out):
    """out = A @ x for A in CSR (float32 data), x dense (n_cols, k)."""
    a = sp.csr_matrix((data, indices, indptr), shape=(indptr.shape[0] - 1, x.shape[0]))
    out[:] = a @ x
