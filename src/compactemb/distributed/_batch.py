"""Batch jobs over shards of users on a Ray cluster: top-k recommendations for every user.

The model goes once into the object store (each node reads it zero-copy); each task ranks the
items for one contiguous range of user rows with :meth:`FactorModel.recommend_rows`, the same
code as one process, so the result is identical row by row.
"""

from __future__ import annotations

import numpy as np

from ..exceptions import InputError
from ..search import SearchResult
from ._cluster import ray_session


def _recommend_shard(model, start: int, end: int, k: int, exclude_seen: bool) -> SearchResult:
    return model.recommend_rows(np.arange(start, end), k=k, exclude_seen=exclude_seen)


def recommend_all(model, *, k: int = 10, exclude_seen: bool = True, n_shards: int | None = None,
                  address: str | None = None) -> SearchResult:
    """Top-k item rows for every user row of ``model``, ranked over shards on Ray.

    Parameters
    ----------
    model : FactorModel
    k : int, default 10
    exclude_seen : bool, default True
        Skip the items each user interacted with in training.
    n_shards : int, optional
        Tasks (ranges of users); default: 4 per CPU of the cluster.
    address : str or None
        Ray cluster (``"HOST:PORT"``, ``"auto"``, None: a local one).

    Returns
    -------
    SearchResult
        ``ids`` and ``scores`` of shape (n_users, k), row ``u`` for user row ``u`` — equal to
        ``model.recommend_rows(range(n_users), k=k)``.

    Raises
    ------
    InputError
        ``k`` or ``n_shards`` below 1.
    ClusterError
        The cluster cannot be reached.

    Examples
    --------
    >>> res = recommend_all(model, k=10, address="auto")           # doctest: +SKIP
    >>> res.ids.shape                                              # doctest: +SKIP
    (943, 10)
    """
    if k < 1:
        raise InputError(f"k must be >= 1, got {k}")
    if n_shards is not None and n_shards < 1:
        raise InputError(f"n_shards must be >= 1, got {n_shards}")
    n_users = model.n_users
    with ray_session(address) as ray:
        if n_shards is None:
            n_shards = 4 * max(1, int(ray.cluster_resources().get("CPU", 1)))
        bounds = np.unique(np.linspace(0, n_users, min(n_shards, max(n_users, 1)) + 1)
                           .astype(np.int64))
        model_ref = ray.put(model)
        task = ray.remote(_recommend_shard).options(max_retries=3)
        parts = ray.get([task.remote(model_ref, int(a), int(b), k, exclude_seen)
                         for a, b in zip(bounds[:-1], bounds[1:])])
    if not parts:
        return SearchResult(np.zeros((0, k), np.int64), np.zeros((0, k), np.float32))
    return SearchResult(np.concatenate([p.ids for p in parts]),
                        np.concatenate([p.scores for p in parts]))
