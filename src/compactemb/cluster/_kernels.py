"""numba kernels of k-means. Imported lazily by ``cluster.py``."""

from __future__ import annotations

import numba as nb


@nb.njit(cache=True, nogil=True, fastmath=True)
def center_sums(x, labels, sums, counts):
    """sums[c] = sum of the rows of ``x`` labelled c (float64), counts[c] = how many."""
    sums[:] = 0.0
    counts[:] = 0
    dim = x.shape[1]
    for i in range(x.shape[0]):
        c = labels[i]
        counts[c] += 1
        for j in range(dim):
            sums[c, j] += x[i, j]


@nb.njit(cache=True, nogil=True, fastmath=True)
def cluster_distance_sums(dist, labels, k, out):
    """out[i, c] = sum of dist[i, j] over the columns j labelled c (silhouette)."""
    out[:] = 0.0
    for i in range(dist.shape[0]):
        for j in range(dist.shape[1]):
            out[i, labels[j]] += dist[i, j]
