"""numba kernels of k-means and the silhouette. Imported lazily (through ``_native.kernels``);
the NumPy twins with the same signatures are in ``_twins.py``."""

from __future__ import annotations

import numba as nb
import numpy as np


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


@nb.njit(cache=True, nogil=True, fastmath=True)
def nearest_centers(x, centers, labels, dists):
    """labels[i] = the centre nearest to row i, dists[i] its squared distance (float64 sums).

    Direct loops: for the few dimensions of PQ sub-spaces this beats the BLAS expansion, whose
    (n, k) float64 temporaries cost more than the arithmetic."""
    n, d = x.shape
    k = centers.shape[0]
    for i in range(n):
        best = np.inf
        arg = 0
        for c in range(k):
            dist = 0.0
            for j in range(d):
                t = x[i, j] - centers[c, j]
                dist += t * t
            if dist < best:
                best = dist
                arg = c
        labels[i] = arg
        dists[i] = best


@nb.njit(cache=True, nogil=True, fastmath=True)
def point_distances(x, points, out):
    """out[p, i] = |x[i] - points[p]|^2 (k-means++ candidates against every row)."""
    n, d = x.shape
    for p in range(points.shape[0]):
        for i in range(n):
            dist = 0.0
            for j in range(d):
                t = x[i, j] - points[p, j]
                dist += t * t
            out[p, i] = dist
