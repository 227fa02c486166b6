"""numba kernels for sparse linear algebra (multi-threaded where scipy is single-threaded).

Cached although parallel: safe with numba >= 0.57, see ``_mf_kernels.py``."""

from __future__ import annotations

import numba as nb


@nb.njit(parallel=True, fastmath=True, cache=True, nogil=True)
def csr_dense_matmul(indptr, indices, data, x, out):
    """out = A @ x for A in CSR (float32 data), x dense (n_cols, k); rows in parallel."""
    k = x.shape[1]
    for i in nb.prange(indptr.shape[0] - 1):
        for j in range(k):
            out[i, j] = 0.0
        for p in range(indptr[i], indptr[i + 1]):
            c = indices[p]
            v = data[p]
            for j in range(k):
                out[i, j] += v * x[c, j]
