"""Clustering of embeddings: k-means (k-means++ start, restarts) and its quality measures.

The k-means itself (``_kmeans.py``) is shared with the product-quantisation codebooks of
``compactemb.tables``; its numba kernels are in ``_kernels.py``, their NumPy twins in
``_twins.py``. Importing this package compiles nothing.
"""

from __future__ import annotations

from ._api import (
    ClusterResult,
    KMeans,
    adjusted_rand_index,
    cluster_keys,
    normalized_mutual_info,
    silhouette_score,
)
from ._kmeans import assign, kmeans, kmeans_plusplus, lloyd, squared_distances

__all__ = [
    "ClusterResult", "KMeans", "adjusted_rand_index", "assign", "cluster_keys", "kmeans",
    "kmeans_plusplus", "lloyd", "normalized_mutual_info", "silhouette_score", "squared_distances",
]
