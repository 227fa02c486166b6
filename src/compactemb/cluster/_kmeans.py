"""The one k-means of the package.

It is used by :class:`~compactemb.cluster.KMeans` and by the product-quantisation codebooks
(``tables/_pq.py``).

k-means++ seeding with ``2 + log k`` local trials (scikit-learn's greedy variant), then Lloyd
iterations: the assignment by a numba kernel (direct loops) up to ``_DIRECT_MAX_DIM``
dimensions, where PQ sub-spaces live, and above it by a blocked ``|x|^2 - 2 x.c + |c|^2``
through BLAS, whose matrix product wins at word-vector dimensions; the centre update is a numba
kernel (``center_sums``).
The best of ``n_init`` restarts wins. Imports nothing of the rest of the package, so tables and
cluster both import it without cycles.
"""

from __future__ import annotations

import math

import numpy as np

from .._native import kernels

_BLOCK = 8192
_DIRECT_MAX_DIM = 32  # measured: 3.3x faster than BLAS at dim 10 (PQ), slower from ~64


def normalise_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm (zero rows stay zero)."""
    n = np.linalg.norm(x, axis=1, keepdims=True)
    return np.divide(x, n, out=np.zeros_like(x), where=n > 0)


def squared_distances(x: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """Squared Euclidean distances by the BLAS expansion ``|x|^2 - 2 x.c + |c|^2``.

    Parameters
    ----------
    x : ndarray of shape (n, dim)
    centers : ndarray of shape (k, dim)

    Returns
    -------
    ndarray of float64, shape (n, k)
        Clipped at 0 (the expansion can round below it).

    Examples
    --------
    >>> squared_distances(np.array([[0.0, 0.0]]), np.array([[3.0, 4.0]]))
    array([[25.]])
    """
    d = (x * x).sum(axis=1, dtype=np.float64)[:, None] - 2.0 * (x @ centers.T).astype(np.float64)
    d += (centers * centers).sum(axis=1, dtype=np.float64)[None, :]
    return np.maximum(d, 0.0, out=d)


def assign(x: np.ndarray, centers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nearest centre of each row and its squared distance.

    Parameters
    ----------
    x : float32 ndarray of shape (n, dim)
    centers : ndarray of shape (k, dim)

    Returns
    -------
    labels : int64 ndarray of shape (n,)
    distances : float64 ndarray of shape (n,)

    Examples
    --------
    >>> x = np.array([[0, 0], [5, 5]], dtype=np.float32)
    >>> assign(x, np.array([[4, 4], [0, 1]], dtype=np.float32))[0]
    array([1, 0])
    """
    labels = np.empty(x.shape[0], dtype=np.int64)
    dist = np.empty(x.shape[0], dtype=np.float64)
    if x.shape[1] <= _DIRECT_MAX_DIM:
        kernels("compactemb.cluster._kernels").nearest_centers(
            x, np.ascontiguousarray(centers, dtype=np.float32), labels, dist)
        return labels, dist
    for s in range(0, x.shape[0], _BLOCK):
        d = squared_distances(x[s:s + _BLOCK], centers)
        labels[s:s + d.shape[0]] = d.argmin(axis=1)
        dist[s:s + d.shape[0]] = d[np.arange(d.shape[0]), labels[s:s + d.shape[0]]]
    return labels, dist


def _point_distances(x: np.ndarray, points: np.ndarray) -> np.ndarray:
    """(len(points), len(x)) squared distances, by the same rule as :func:`assign`."""
    if x.shape[1] > _DIRECT_MAX_DIM:
        return squared_distances(points, x)
    out = np.empty((points.shape[0], x.shape[0]), dtype=np.float64)
    kernels("compactemb.cluster._kernels").point_distances(
        x, np.ascontiguousarray(points, dtype=np.float32), out)
    return out


def kmeans_plusplus(x: np.ndarray, k: int, rng: np.random.Generator,
                    n_trials: int | None = None) -> np.ndarray:
    """k-means++ seeding (Arthur & Vassilvitskii 2007).

    Parameters
    ----------
    x : float32 ndarray of shape (n, dim)
    k : int
        Centres to choose.
    rng : numpy.random.Generator
    n_trials : int, optional
        Candidates drawn per centre, the one lowering the potential most is kept; default
        ``2 + log k`` (the greedy variant scikit-learn uses); 1 is the classic seeding.

    Returns
    -------
    int64 ndarray of shape (k,)
        The chosen row indices.

    Examples
    --------
    >>> x = np.array([[0, 0], [0, 0.1], [9, 9]], dtype=np.float32)
    >>> sorted(kmeans_plusplus(x, 2, np.random.default_rng(0)).tolist()) in ([0, 2], [1, 2])
    True
    """
    n = x.shape[0]
    trials = 2 + int(math.log(k)) if n_trials is None else int(n_trials)
    chosen = [int(rng.integers(n))]
    closest = _point_distances(x, x[chosen]).ravel()
    for _ in range(1, k):
        total = closest.sum()
        if total <= 0:  # fewer distinct points than k: any unused row will do
            rest = np.setdiff1d(np.arange(n), chosen)
            chosen.append(int(rng.choice(rest)))
            continue
        cand = np.searchsorted(np.cumsum(closest), rng.random(trials) * total)
        cand = np.minimum(cand, n - 1)
        d = np.minimum(closest[None, :], _point_distances(x, x[cand]))
        best = int(np.argmin(d.sum(axis=1)))
        chosen.append(int(cand[best]))
        closest = d[best]
    return np.asarray(chosen, dtype=np.int64)


def lloyd(x: np.ndarray, centers: np.ndarray, *, max_iter: int = 100, tol: float = 1e-4,
          spherical: bool = False) -> tuple[np.ndarray, np.ndarray, float, int]:
    """Lloyd iterations from ``centers``.

    Stops when no label changes or the centres move less than ``tol`` times the mean variance
    of the data (scikit-learn's rule). An empty cluster takes the point farthest from its centre.

    Parameters
    ----------
    x : float32 ndarray of shape (n, dim)
    centers : ndarray of shape (k, dim)
        Starting centres.
    max_iter : int, default 100
    tol : float, default 1e-4
    spherical : bool, default False
        Normalise the centres after each update (spherical k-means on unit rows).

    Returns
    -------
    labels : int64 ndarray of shape (n,)
    centers : float32 ndarray of shape (k, dim)
    inertia : float
        Sum of squared distances of the rows to their centre.
    iterations : int

    Examples
    --------
    >>> x = np.array([[0, 0], [0, 1], [9, 9], [9, 8]], dtype=np.float32)
    >>> lloyd(x, x[[0, 2]])[0]
    array([0, 0, 1, 1])
    """
    center_sums = kernels("compactemb.cluster._kernels").center_sums
    k, dim = centers.shape
    centers = np.array(centers, dtype=np.float32)
    threshold = tol * float(np.mean(np.var(x, axis=0))) if x.shape[0] > 1 else 0.0
    sums = np.empty((k, dim), dtype=np.float64)
    counts = np.empty(k, dtype=np.int64)
    labels, dist = assign(x, centers)
    it = 0
    for it in range(1, max_iter + 1):  # noqa: B007 - the count is returned
        center_sums(x, labels, sums, counts)
        new = centers.copy()
        nonempty = counts > 0
        new[nonempty] = (sums[nonempty] / counts[nonempty, None]).astype(np.float32)
        for c in np.flatnonzero(~nonempty):  # refill an empty cluster with the worst point
            far = int(np.argmax(dist))
            new[c] = x[far]
            dist[far] = 0.0
        if spherical:
            new = normalise_rows(new)
        shift = float(((new - centers) ** 2).sum())
        centers = new
        new_labels, dist = assign(x, centers)
        changed = bool((new_labels != labels).any())
        labels = new_labels
        if not changed or shift <= threshold:
            break
    return labels, centers, float(dist.sum()), it


def kmeans(x: np.ndarray, k: int, *, n_init: int = 1, max_iter: int = 100, tol: float = 1e-4,
           spherical: bool = False, random_state: int | np.random.Generator = 0,
           init: np.ndarray | None = None, n_trials: int | None = None,
           on_run=None) -> tuple[np.ndarray, np.ndarray, float, int]:
    """k-means++ then Lloyd, ``n_init`` times; the run with the lowest inertia wins.

    The one k-means of the package: :class:`KMeans` and the PQ codebooks call it.

    Parameters
    ----------
    x : ndarray of shape (n, dim)
        Converted to float32; already normalised for spherical k-means.
    k : int
    n_init : int, default 1
    max_iter, tol, spherical
        As :func:`lloyd`.
    random_state : int or numpy.random.Generator, default 0
    init : ndarray of shape (k, dim), optional
        Starting centres instead of the seeding (one run).
    n_trials : int, optional
        As :func:`kmeans_plusplus`.
    on_run : callable, optional
        Called after each run (progress bars).

    Returns
    -------
    tuple
        (labels, centers, inertia, iterations) of the best run, as :func:`lloyd`.

    Examples
    --------
    >>> x = np.array([[0, 0], [0, 1], [9, 9], [9, 8]], dtype=np.float32)
    >>> labels, centers, inertia, _ = kmeans(x, 2, n_init=2)
    >>> round(inertia, 3)
    1.0
    """
    x = np.ascontiguousarray(x, dtype=np.float32)
    rng = random_state if isinstance(random_state, np.random.Generator) \
        else np.random.default_rng(random_state)
    best = None
    for _ in range(1 if init is not None else n_init):
        start = np.asarray(init, dtype=np.float32) if init is not None \
            else x[kmeans_plusplus(x, k, rng, n_trials)]
        run = lloyd(x, start, max_iter=max_iter, tol=tol, spherical=spherical)
        if best is None or run[2] < best[2]:
            best = run
        if on_run is not None:
            on_run()
    assert best is not None  # at least one run
    return best
