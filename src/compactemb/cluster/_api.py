"""KMeans, the clustering quality measures and clustering of keyed vectors.

Assignment is a blocked ``|x|^2 - 2 x.c + |c|^2`` through BLAS, the centre update a numba
kernel. ``metric="cosine"`` clusters the L2-normalised rows with normalised centres (spherical
k-means), the usual choice for word vectors. Quality: silhouette (no labels needed), and the
normalised mutual information and adjusted Rand index against given labels.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field

import numpy as np

from .._native import kernels
from .._progress import progress
from ..exceptions import InputError, NotFittedError
from ._kmeans import _BLOCK, assign, kmeans, normalise_rows, squared_distances


def _as_matrix(data) -> np.ndarray:
    from ..tables import EmbeddingTable

    if isinstance(data, EmbeddingTable):
        return data.to_dense().weights
    x = np.asarray(data)
    if x.ndim != 2:
        raise InputError(f"clustering needs a 2-D matrix (n_points, dim), got shape {x.shape}")
    if x.dtype.kind not in "fiu":
        raise InputError(f"clustering needs numbers, got dtype {x.dtype}")
    x = np.ascontiguousarray(x, dtype=np.float32)
    if x.size and not np.isfinite(x).all():
        raise InputError("the points hold NaN or infinite values")
    return x


class KMeans:
    """k-means with k-means++ seeding and ``n_init`` restarts (the lowest inertia wins).

    Parameters
    ----------
    k : int, default 8
    n_init : int, default 3
        Restarts from different seeds.
    max_iter : int, default 100
    tol : float, default 1e-4
        Relative centre movement that counts as converged.
    metric : {"euclidean", "cosine"}, default "euclidean"
        ``cosine``: spherical k-means on L2-normalised rows.
    random_state : int, default 0

    Attributes
    ----------
    labels_ : ndarray of shape (n_points,)
    centers_ : ndarray of shape (k, dim), float32
    inertia_ : float
        Sum of squared distances of the points (normalised, for cosine) to their centre.
    n_iter_ : int
    """

    def __init__(self, k: int = 8, *, n_init: int = 3, max_iter: int = 100, tol: float = 1e-4,
                 metric: str = "euclidean", random_state: int = 0):
        self.k = k
        self.n_init = n_init
        self.max_iter = max_iter
        self.tol = tol
        self.metric = metric
        self.random_state = random_state

    def _check(self, n: int) -> None:
        for name in ("k", "n_init", "max_iter"):
            v = getattr(self, name)
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 1:
                raise InputError(f"The {name!r} parameter of KMeans must be an integer >= 1. "
                                 f"Got {v!r} instead.")
        if self.metric not in ("euclidean", "cosine"):
            raise InputError(f"The 'metric' parameter of KMeans must be 'euclidean' or "
                             f"'cosine'. Got {self.metric!r} instead.")
        if self.k > n:
            raise InputError(f"k={self.k} clusters need at least {self.k} points, got {n}")

    def _prepare(self, data) -> np.ndarray:
        x = _as_matrix(data)
        return normalise_rows(x) if self.metric == "cosine" else x

    def fit(self, data) -> KMeans:
        """Cluster the rows of a matrix or an :class:`EmbeddingTable`.

        Parameters
        ----------
        data : array-like, shape (n, dim), or EmbeddingTable
            The rows.

        Returns
        -------
        KMeans
            ``self``, with ``centers_``, ``labels_``, ``inertia_`` and ``n_iter_``.

        Raises
        ------
        InputError
            For invalid parameters, fewer rows than clusters, or non-finite values.
        """
        x = self._prepare(data)
        self._check(x.shape[0])
        with progress(total=self.n_init, desc="k-means", unit="run") as bar:
            self.labels_, self.centers_, self.inertia_, self.n_iter_ = kmeans(
                x, self.k, n_init=self.n_init, max_iter=self.max_iter, tol=self.tol,
                spherical=self.metric == "cosine", random_state=self.random_state,
                on_run=bar.update)
        return self

    def predict(self, data) -> np.ndarray:
        """Nearest centre of each row.

        Parameters
        ----------
        data : array-like, shape (n, dim), or EmbeddingTable
            The rows.

        Returns
        -------
        numpy.ndarray of int
            The cluster of each row.

        Raises
        ------
        NotFittedError
            Before :meth:`fit`.
        """
        if not hasattr(self, "centers_"):
            raise NotFittedError("this KMeans is not fitted yet; call fit() first")
        return assign(self._prepare(data), self.centers_)[0]


# -- quality ----------------------------------------------------------------------------------

def silhouette_score(data, labels, *, metric: str = "euclidean", sample_size: int | None = 10000,
                     random_state: int = 0) -> float:
    """Mean silhouette (Rousseeuw 1987) over the points, or over ``sample_size`` of them.

    A point alone in its cluster scores 0 (as scikit-learn). Distances are Euclidean, or
    ``1 - cosine`` with ``metric="cosine"``. Cost O(n^2 dim), in blocks.

    Parameters
    ----------
    data : array-like, shape (n, dim)
        The points.
    labels : array-like, shape (n,)
        The cluster of each point (any hashable labels).
    metric : {"euclidean", "cosine"}
        The distance between points.
    sample_size : int or None
        Score this many points drawn at random; None scores every point.
    random_state : int
        Seed of the sample.

    Returns
    -------
    float
        The mean silhouette, in [-1, 1].

    Raises
    ------
    InputError
        When ``labels`` does not match the points or there are fewer than 2 clusters.
    """
    cluster_distance_sums = kernels("compactemb.cluster._kernels").cluster_distance_sums
    x = _as_matrix(data)
    labels = np.asarray(labels)
    if labels.shape != (x.shape[0],):
        raise InputError(f"{labels.shape[0]} labels for {x.shape[0]} points")
    _, lab = np.unique(labels, return_inverse=True)
    k = int(lab.max()) + 1 if lab.size else 0
    if not 2 <= k <= x.shape[0] - 1:
        raise InputError(f"silhouette needs 2 <= number of clusters <= n_points - 1; got {k} "
                         f"clusters for {x.shape[0]} points")
    if sample_size is not None and sample_size < x.shape[0]:
        pick = np.sort(np.random.default_rng(random_state).choice(x.shape[0], sample_size,
                                                                   replace=False))
        x, lab = x[pick], lab[pick]
    x = x.astype(np.float64)  # float32 Gram products lose small distances
    if metric == "cosine":
        x = normalise_rows(x)
    elif metric != "euclidean":
        raise InputError(f"metric must be 'euclidean' or 'cosine', got {metric!r}")
    counts = np.bincount(lab, minlength=k).astype(np.float64)
    scores = np.empty(x.shape[0], dtype=np.float64)
    sums = np.empty((min(_BLOCK // 4, x.shape[0]), k), dtype=np.float64)
    for s in range(0, x.shape[0], _BLOCK // 4):
        blk = x[s:s + _BLOCK // 4]
        if metric == "cosine":
            d = np.maximum(1.0 - blk @ x.T, 0.0)
        else:
            d = np.sqrt(squared_distances(blk, x))
        out = sums[:blk.shape[0]]
        cluster_distance_sums(d, lab, k, out)
        own = lab[s:s + blk.shape[0]]
        rows = np.arange(blk.shape[0])
        size = counts[own]
        a = np.divide(out[rows, own], size - 1, out=np.zeros(blk.shape[0]), where=size > 1)
        means = out / counts[None, :]
        means[rows, own] = np.inf
        b = means.min(axis=1)
        sil = (b - a) / np.maximum(np.maximum(a, b), 1e-300)
        scores[s:s + blk.shape[0]] = np.where(size > 1, sil, 0.0)
    return float(scores.mean())


def _contingency(a, b) -> np.ndarray:
    _, ia = np.unique(np.asarray(a), return_inverse=True)
    _, ib = np.unique(np.asarray(b), return_inverse=True)
    if ia.shape != ib.shape:
        raise InputError(f"label lists differ in length: {ia.shape[0]} and {ib.shape[0]}")
    if ia.size == 0:
        raise InputError("no labels to compare")
    table = np.zeros((ia.max() + 1, ib.max() + 1), dtype=np.int64)
    np.add.at(table, (ia, ib), 1)
    return table


def _entropy(counts: np.ndarray) -> float:
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log(p)).sum())


def normalized_mutual_info(labels_true, labels_pred) -> float:
    """Normalized mutual information of two labelings of the same points.

    The mutual information is divided by the arithmetic mean of the entropies (scikit-learn's
    default); 1.0 when both labelings are a single class.

    Parameters
    ----------
    labels_true, labels_pred : array-like, shape (n,)
        Two labelings of the same points (any hashable labels).

    Returns
    -------
    float
        The NMI, in [0, 1].
    """
    c = _contingency(labels_true, labels_pred).astype(np.float64)
    n = c.sum()
    ha, hb = _entropy(c.sum(axis=1)), _entropy(c.sum(axis=0))
    if ha == 0 and hb == 0:
        return 1.0
    nz = c > 0
    pij = c[nz] / n
    outer = np.outer(c.sum(axis=1), c.sum(axis=0))[nz] / (n * n)
    mi = float((pij * np.log(pij / outer)).sum())
    return max(0.0, mi / ((ha + hb) / 2))


def adjusted_rand_index(labels_true, labels_pred) -> float:
    """Adjusted Rand index (Hubert & Arabie 1985): 1 for equal partitions, ~0 for random.

    Parameters
    ----------
    labels_true, labels_pred : array-like, shape (n,)
        Two labelings of the same points (any hashable labels).

    Returns
    -------
    float
        The index, at most 1.
    """
    c = _contingency(labels_true, labels_pred).astype(np.float64)

    def pairs(v):
        return (v * (v - 1) / 2).sum()

    n = c.sum()
    index = pairs(c)
    a, b = pairs(c.sum(axis=1)), pairs(c.sum(axis=0))
    expected = a * b / pairs(np.array([n])) if n > 1 else 0.0
    top = (a + b) / 2
    if top == expected:
        return 1.0
    return float((index - expected) / (top - expected))


# -- clustering keyed vectors -----------------------------------------------------------------

@dataclass
class ClusterResult:
    """Clusters of keys: ``clusters`` lists each with its size and most frequent members.

    Attributes
    ----------
    keys : list
        The clustered keys.
    labels : numpy.ndarray
        The cluster of each key.
    clusters : list of dict
        Per cluster: its size and most frequent members.
    inertia : float
        The k-means objective.
    silhouette : float or None
        The silhouette score, None when not computed.
    metrics : dict
        Agreement with given labels (NMI, ARI) when labels were given.
    """

    keys: list
    labels: np.ndarray
    clusters: list[dict]
    inertia: float
    silhouette: float | None
    metrics: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """The result as a JSON-able dict (keys summarised by their count)."""
        return {"n_keys": len(self.keys), "k": len(self.clusters), "inertia": self.inertia,
                "silhouette": self.silhouette, **self.metrics, "clusters": self.clusters}


def cluster_keys(kv, k: int, *, keys: Sequence[Hashable] | None = None, top: int = 10,
                 max_keys: int | None = None, metric: str = "cosine", n_init: int = 3,
                 random_state: int = 0, labels: dict | None = None,
                 silhouette_sample: int | None = 5000) -> ClusterResult:
    """k-means over the vectors of ``kv`` (KeyedVectors), or of a chosen subset of keys.

    Parameters
    ----------
    keys : sequence, optional
        Keys to cluster (unknown keys raise); default: all, or the ``max_keys`` most frequent.
    top : int, default 10
        Members listed per cluster, most frequent (lowest vocabulary row) first.
    labels : dict, optional
        key -> reference label; adds ``nmi`` and ``ari`` over the keys that have one.

    Returns
    -------
    ClusterResult
        The clusters with their sizes and members, the inertia and the silhouette.
    """
    if keys is not None:
        ids = kv.vocab.encode(list(keys))
        ids = ids[np.sort(np.unique(ids, return_index=True)[1])]
    else:
        n = len(kv.vocab) if max_keys is None else min(max_keys, len(kv.vocab))
        ids = np.arange(n, dtype=np.int64)
    x = kv.table.lookup(ids)
    model = KMeans(k, n_init=n_init, metric=metric, random_state=random_state).fit(x)
    names = kv.vocab.decode(ids)
    clusters: list[dict] = []
    for c in range(k):
        members = np.flatnonzero(model.labels_ == c)
        members = members[np.argsort(ids[members], kind="stable")]  # vocab order = frequency
        clusters.append({"cluster": c, "size": int(members.size),
                         "members": [names[i] for i in members[:top]]})
    clusters.sort(key=lambda d: -d["size"])
    sil = None
    if 2 <= k < x.shape[0]:
        sil = silhouette_score(x, model.labels_, metric=metric, sample_size=silhouette_sample,
                               random_state=random_state)
    metrics: dict = {}
    if labels is not None:
        have = [i for i, name in enumerate(names) if name in labels]
        if len(have) < 2:
            raise InputError(f"only {len(have)} of the clustered keys have a reference label")
        ref = [str(labels[names[i]]) for i in have]
        metrics = {"labelled_keys": len(have),
                   "nmi": normalized_mutual_info(ref, model.labels_[have]),
                   "ari": adjusted_rand_index(ref, model.labels_[have])}
    return ClusterResult(names, model.labels_, clusters, model.inertia_, sil, metrics)
