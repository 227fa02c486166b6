"""NumPy twins of ``_kernels.py`` (same names, same signatures); see ``compactemb._native``."""

from __future__ import annotations

import numpy as np


def center_sums(x, labels, sums, counts):
    """sums[c] = sum of the rows of ``x`` labelled c (float64), counts[c] = how many."""
    k = sums.shape[0]
    counts[:] = np.bincount(labels, minlength=k)
    sums[:] = 0.0
    np.add.at(sums, labels, x.astype(np.float64))


def cluster_distance_sums(dist, labels, k, out):
    """out[i, c] = sum of dist[i, j] over the columns j labelled c (silhouette)."""
    onehot = np.zeros((labels.shape[0], k), dtype=np.float64)
    onehot[np.arange(labels.shape[0]), labels] = 1.0
    out[:] = dist @ onehot


def _sq(x, points):
    diff = x.astype(np.float64)[None, :, :] - points.astype(np.float64)[:, None, :]
    return (diff * diff).sum(axis=2)


def nearest_centers(x, centers, labels, dists):
    """labels[i] = the centre nearest to row i, dists[i] its squared distance."""
    for s in range(0, x.shape[0], 1024):
        d = _sq(x[s:s + 1024], centers)  # (k, block)
        labels[s:s + d.shape[1]] = d.argmin(axis=0)
        dists[s:s + d.shape[1]] = d.min(axis=0)


def point_distances(x, points, out):
    """out[p, i] = |x[i] - points[p]|^2."""
    out[:] = _sq(x, points)
