"""k-means, silhouette, NMI and ARI against slow NumPy references (and scikit-learn if there)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from compactemb.cluster import (
    KMeans,
    adjusted_rand_index,
    cluster_keys,
    kmeans,
    kmeans_plusplus,
    lloyd,
    normalized_mutual_info,
    silhouette_score,
)
from compactemb.exceptions import InputError
from compactemb.keyed import KeyedVectors
from compactemb.tables import DenseTable
from compactemb.vocab import Vocab


def blobs(n_per=60, k=4, dim=5, spread=0.3, seed=0):
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=4.0, size=(k, dim))
    x = np.concatenate([c + spread * rng.normal(size=(n_per, dim)) for c in centers])
    y = np.repeat(np.arange(k), n_per)
    return x.astype(np.float32), y


def reference_lloyd(x, centers, n_iter):
    """Plain Lloyd iterations with Python loops (no empty clusters in these tests)."""
    x = x.astype(np.float64)
    centers = centers.astype(np.float64).copy()
    for _ in range(n_iter):
        labels = np.array([min(range(len(centers)),
                               key=lambda c: ((p - centers[c]) ** 2).sum()) for p in x])
        new = np.array([x[labels == c].mean(axis=0) for c in range(len(centers))])
        if np.allclose(new, centers):
            break
        centers = new
    labels = np.array([min(range(len(centers)), key=lambda c: ((p - centers[c]) ** 2).sum())
                       for p in x])
    return labels, centers


def reference_silhouette(x, labels):
    n = len(x)
    d = np.sqrt(((x[:, None, :].astype(np.float64) - x[None, :, :]) ** 2).sum(-1))
    scores = []
    for i in range(n):
        own = labels == labels[i]
        if own.sum() == 1:
            scores.append(0.0)
            continue
        a = d[i, own].sum() / (own.sum() - 1)
        b = min(d[i, labels == c].mean() for c in set(labels.tolist()) if c != labels[i])
        scores.append((b - a) / max(a, b))
    return float(np.mean(scores))


def reference_ari(a, b):
    pairs = list(itertools.combinations(range(len(a)), 2))
    same_a = np.array([a[i] == a[j] for i, j in pairs])
    same_b = np.array([b[i] == b[j] for i, j in pairs])
    index = np.sum(same_a & same_b)
    expected = same_a.sum() * same_b.sum() / len(pairs)
    top = (same_a.sum() + same_b.sum()) / 2
    return (index - expected) / (top - expected)


def reference_nmi(a, b):
    n = len(a)

    def h(v):
        return -sum(c / n * math.log(c / n) for c in np.unique(v, return_counts=True)[1])

    mi = 0.0
    for x in set(a):
        for y in set(b):
            nxy = sum(1 for p, q in zip(a, b) if p == x and q == y)
            if nxy:
                nx, ny = list(a).count(x), list(b).count(y)
                mi += nxy / n * math.log(n * nxy / (nx * ny))
    return mi / ((h(a) + h(b)) / 2)


def test_lloyd_matches_reference_from_same_start():
    x, _ = blobs(spread=1.5, seed=1)
    init = x[[0, 70, 130, 200]]
    labels, centers, inertia, _ = lloyd(x, init, max_iter=50, tol=0.0)
    ref_labels, ref_centers = reference_lloyd(x, init, 50)
    np.testing.assert_array_equal(labels, ref_labels)
    np.testing.assert_allclose(centers, ref_centers, rtol=1e-4, atol=1e-4)
    assert inertia == pytest.approx(((x - ref_centers[ref_labels]) ** 2).sum(), rel=1e-4)


def test_kmeans_recovers_blobs_and_beats_or_equals_sklearn():
    x, y = blobs(k=6, seed=2)
    km = KMeans(6, n_init=3, random_state=0).fit(x)
    assert adjusted_rand_index(y, km.labels_) == pytest.approx(1.0)
    np.testing.assert_array_equal(km.predict(x), km.labels_)
    cluster = pytest.importorskip("sklearn.cluster")
    sk = cluster.KMeans(6, n_init=3, random_state=0).fit(x)
    assert km.inertia_ <= sk.inertia_ * 1.001


def test_kmeans_plusplus_picks_distinct_spread_points():
    x, y = blobs(k=5, spread=0.05, seed=3)
    idx = kmeans_plusplus(x, 5, np.random.default_rng(0))
    assert sorted(y[idx].tolist()) == [0, 1, 2, 3, 4]


def test_cosine_kmeans_and_table_input():
    x, y = blobs(k=3, seed=4)
    km = KMeans(3, metric="cosine", random_state=1).fit(DenseTable(x))
    np.testing.assert_allclose(np.linalg.norm(km.centers_, axis=1), 1.0, rtol=1e-5)
    assert adjusted_rand_index(y, km.labels_) > 0.9


def test_silhouette_matches_reference():
    x, y = blobs(n_per=15, k=3, spread=2.0, seed=5)
    y[0] = 3  # a singleton cluster scores 0
    assert silhouette_score(x, y) == pytest.approx(reference_silhouette(x, y), rel=1e-5)
    metrics = pytest.importorskip("sklearn.metrics")
    assert silhouette_score(x, y, metric="cosine") == pytest.approx(
        metrics.silhouette_score(x, y, metric="cosine"), rel=1e-4)


def test_nmi_ari_match_references():
    rng = np.random.default_rng(6)
    a = rng.integers(0, 3, 40)
    b = np.where(rng.random(40) < 0.6, a, rng.integers(0, 4, 40))
    assert normalized_mutual_info(a, b) == pytest.approx(reference_nmi(a, b), rel=1e-9)
    assert adjusted_rand_index(a, b) == pytest.approx(reference_ari(a, b), rel=1e-9)
    assert normalized_mutual_info(["x", "y"], [5, 7]) == pytest.approx(1.0)
    metrics = pytest.importorskip("sklearn.metrics")
    assert normalized_mutual_info(a, b) == pytest.approx(
        metrics.normalized_mutual_info_score(a, b))
    assert adjusted_rand_index(a, b) == pytest.approx(metrics.adjusted_rand_score(a, b))


def test_cluster_keys_lists_frequent_members_and_scores_labels():
    x, y = blobs(n_per=10, k=3, seed=7)
    order = np.random.default_rng(0).permutation(len(x))
    x, y = x[order], y[order]
    keys = [f"w{i}" for i in range(len(x))]
    kv = KeyedVectors(Vocab(keys, np.arange(len(x), 0, -1)), DenseTable(x))
    res = cluster_keys(kv, 3, top=3, labels={k: int(v) for k, v in zip(keys, y)},
                       metric="euclidean")
    assert sorted(c["size"] for c in res.clusters) == [10, 10, 10]
    for c in res.clusters:  # members in vocabulary (frequency) order
        assert c["members"] == sorted(c["members"], key=lambda k: int(k[1:]))[:3]
    assert res.metrics["nmi"] == pytest.approx(1.0) and res.metrics["ari"] == pytest.approx(1.0)
    assert res.silhouette > 0.5
    sub = cluster_keys(kv, 2, keys=keys[:12])
    assert sum(c["size"] for c in sub.clusters) == 12


def test_bad_input():
    x, _ = blobs(n_per=2, k=2)
    with pytest.raises(InputError, match="k=5 clusters need at least 5 points"):
        KMeans(5).fit(x)
    with pytest.raises(InputError, match="'metric' parameter"):
        KMeans(2, metric="manhattan").fit(x)
    with pytest.raises(InputError, match="2-D"):
        KMeans(2).fit(np.zeros(3))
    with pytest.raises(InputError, match="silhouette needs"):
        silhouette_score(x, np.zeros(len(x)))


@pytest.mark.parametrize("columns", [slice(0, 64), slice(24, 40)],
                         ids=["dim64-blas", "dim16-kernel"])
def test_shared_kmeans_matches_sklearn_on_digits(columns):
    """The one k-means (used by KMeans and by PQ codebooks) against scikit-learn on real data
    (the handwritten digits bundled with scikit-learn), on both assignment paths."""
    datasets = pytest.importorskip("sklearn.datasets")
    sk_cluster = pytest.importorskip("sklearn.cluster")
    x = np.ascontiguousarray(datasets.load_digits().data[:, columns], dtype=np.float32)
    init = x[kmeans_plusplus(x, 10, np.random.default_rng(0))]
    labels, centers, inertia, _ = kmeans(x, 10, init=init, max_iter=300, tol=1e-4)
    sk = sk_cluster.KMeans(10, init=init, n_init=1, max_iter=300, tol=1e-4,
                           algorithm="lloyd").fit(x)
    assert inertia == pytest.approx(sk.inertia_, rel=1e-4)
    assert adjusted_rand_index(sk.labels_, labels) > 0.99
    ours = kmeans(x, 10, n_init=4, random_state=0)[2]
    theirs = sk_cluster.KMeans(10, n_init=4, random_state=0).fit(x).inertia_
    assert ours <= theirs * 1.01

