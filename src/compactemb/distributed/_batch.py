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


class ShardedRanker:
    """A stand-in for a FactorModel whose ``recommend_rows`` runs on Ray, a window ahead.

    Made for consumers that rank consecutive batches of users in order, such as
    :func:`compactemb.batch_recommend.write_recommendations`: the first call submits the next
    ``window`` batches as tasks, and each call returns its batch's result (submitting one more),
    so the cluster ranks while the driver writes, in bounded memory. Any other call runs
    locally.

    Parameters
    ----------
    model : FactorModel
    ray : module
        A connected ``ray`` (see :func:`ray_session`).
    window : int, optional
        Batches in flight (default: 2 per CPU of the cluster).

    Examples
    --------
    >>> with ray_session("auto") as ray:                               # doctest: +SKIP
    ...     write_recommendations(ShardedRanker(model, ray), "recs.parquet")
    """

    def __init__(self, model, ray, window: int | None = None):
        self._model, self._ray = model, ray
        self.n_users, self.n_items = model.n_users, model.n_items
        self.user_vocab, self.item_vocab = model.user_vocab, model.item_vocab
        self._window = window or 2 * max(1, int(ray.cluster_resources().get("CPU", 1)))
        self._model_ref = ray.put(model)
        self._task = ray.remote(_recommend_shard).options(max_retries=3)
        self._pending: dict[int, object] = {}
        self._key: tuple[int, bool, int] | None = None  # (k, exclude_seen, rows) of this pass
        self._next = 0

    def _submit(self, start: int, size: int, k: int, exclude_seen: bool):
        end = min(self.n_users, start + size)
        return self._task.remote(self._model_ref, start, end, k, exclude_seen)

    def recommend_rows(self, rows, *, k: int = 10, exclude_seen: bool = True, **kwargs):
        """Top-k item rows for ``rows`` (as :meth:`FactorModel.recommend_rows`)."""
        rows = np.asarray(rows, dtype=np.int64).ravel()
        if kwargs or rows.size == 0 or not np.array_equal(
                rows, np.arange(rows[0], rows[0] + rows.size)):
            return self._model.recommend_rows(rows, k=k, exclude_seen=exclude_seen, **kwargs)
        start, size = int(rows[0]), int(rows.size)
        if self._key != (k, exclude_seen, size):  # a new pass: forget what was in flight
            self._key, self._pending, self._next = (k, exclude_seen, size), {}, start
        ref = self._pending.pop(start, None)
        if ref is None:
            ref = self._submit(start, size, k, exclude_seen)
            self._next = max(self._next, start + size)
        while len(self._pending) < self._window and self._next < self.n_users:
            self._pending[self._next] = self._submit(self._next, size, k, exclude_seen)
            self._next += size
        return self._ray.get(ref)
