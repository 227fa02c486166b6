"""Ranking metrics of recommenders, with the definitions of implicit's ``evaluation`` module.

For each user with at least one test item, the model recommends ``k`` items, skipping the
user's training items. With ``hits`` the recommended test items, ``n_u`` the user's test items
and ``n_items`` the catalogue size:

* ``precision@k``: ``sum hits / sum min(k, n_u)`` over users (pooled, as implicit does: a user
  with fewer than k test items can still reach 1);
* ``recall@k``: mean over users of ``hits / n_u`` (implicit has none; the usual definition);
* ``ndcg@k``: mean of ``DCG / IDCG`` with binary gains, ``1 / log2(rank + 1)``, and the ideal
  DCG of ``min(k, n_u)`` hits;
* ``map@k``: mean of ``sum_{hits} (hits so far / rank) / min(k, n_u)``;
* ``auc``: implicit's AUC@k: per user, misses within the top k count the hits above them, and
  every item outside the top k is scored as if the remaining positives were spread evenly,
  ``(hits + n_u) / 2`` per negative; divided by ``n_u * (n_items - n_u)`` and averaged.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .._progress import progress
from ..exceptions import InputError


def metrics_from_recommendations(rec_ids: np.ndarray, test_rows: sp.csr_matrix, n_items: int,
                                 k: int) -> dict:
    """Sums of the ranking metrics of one batch of recommendations against held-out items.

    Users without test items are skipped. The sums pool over batches; the metrics are the sums
    divided by the user count (``relevant / pr_div`` for precision).

    Parameters
    ----------
    rec_ids : numpy.ndarray, shape (n_users, >= k)
        Recommended item columns per user, best first; -1 where there is none.
    test_rows : scipy.sparse.csr_matrix
        The held-out items of the same users, one row per row of ``rec_ids``.
    n_items : int
        The number of items (for AUC's negatives).
    k : int
        The cutoff: the first ``k`` recommendations count.

    Returns
    -------
    dict
        ``relevant``, ``pr_div``, ``recall``, ``ndcg``, ``map`` and ``auc`` sums, and ``users``.
    """
    rec = np.asarray(rec_ids)[:, :k]
    test = sp.csr_matrix(test_rows)
    n_pos = np.diff(test.indptr)
    keep = n_pos > 0
    rec, n_pos = rec[keep], n_pos[keep]
    test = test[keep]
    n = rec.shape[0]
    # hit[u, r]: the r-th recommendation of u is one of u's test items
    rows = np.repeat(np.arange(n), np.diff(test.indptr))
    pairs = np.stack([rows, test.indices.astype(np.int64)], axis=1)
    hit = np.zeros(rec.shape, dtype=bool)
    if n:
        key_test = pairs[:, 0] * (n_items + 1) + pairs[:, 1]
        key_rec = np.arange(n)[:, None] * (n_items + 1) + np.where(rec >= 0, rec, n_items)
        hit = np.isin(key_rec, key_test)
    ranks = np.arange(1, rec.shape[1] + 1)
    cg = 1.0 / np.log2(ranks + 1)
    cg_sum = np.cumsum(1.0 / np.log2(np.arange(1, k + 1) + 1))
    hits_cum = np.cumsum(hit, axis=1)
    n_hits = hits_cum[:, -1] if rec.shape[1] else np.zeros(n, dtype=np.int64)
    denom = np.minimum(k, n_pos)
    idcg = cg_sum[denom - 1]
    ndcg = (hit * cg).sum(axis=1) / idcg
    ap = (hit * hits_cum / ranks).sum(axis=1) / denom
    # AUC@k as implicit computes it
    miss = ~hit
    auc_top = (miss * hits_cum).sum(axis=1)
    n_miss = miss.sum(axis=1)
    n_neg = n_items - n_pos
    auc = auc_top + (n_hits + n_pos) / 2.0 * (n_neg - n_miss)
    with np.errstate(divide="ignore", invalid="ignore"):
        auc = np.where(n_neg > 0, auc / (n_pos * n_neg), np.nan)
    return {"relevant": float(n_hits.sum()), "pr_div": float(denom.sum()),
            "recall": float((n_hits / n_pos).sum()), "ndcg": float(ndcg.sum()),
            "map": float(ap.sum()), "auc": float(np.nansum(auc)), "users": int(n)}


def _finish(acc: dict, k: int) -> dict:
    n = acc["users"]
    if n == 0:
        raise InputError("no user of the test set has a test item the model knows")
    return {f"precision@{k}": acc["relevant"] / acc["pr_div"], f"recall@{k}": acc["recall"] / n,
            f"ndcg@{k}": acc["ndcg"] / n, f"map@{k}": acc["map"] / n, "auc": acc["auc"] / n,
            "users": n, "k": k}


def ranking_metrics(model, test, *, train=None, k: int = 10, batch: int = 1000,
                    exclude_seen: bool = True) -> dict:
    """precision@k, recall@k, ndcg@k, map@k and auc of a factor model on held-out items.

    Parameters
    ----------
    model : FactorModel, or a tuple (user_factors, item_factors) of arrays
    test : Interactions or sparse matrix (users x items, in the model's rows and columns)
        Held-out interactions; users with none are skipped.
    train : Interactions or sparse matrix, optional
        Items excluded from each user's recommendations (default: the model's stored
        training interactions). Ignored with ``exclude_seen=False``.
    k : int, default 10

    Returns
    -------
    dict with ``precision@k``, ``recall@k``, ``ndcg@k``, ``map@k``, ``auc`` (keys carry the
    value of k), ``users`` (users evaluated) and ``k``.
    """
    from ..recommend import FactorModel
    from ..tables import DenseTable
    from ..vocab import Vocab

    if not isinstance(k, (int, np.integer)) or k < 1:
        raise InputError(f"k must be a positive integer, got {k!r}")
    if isinstance(model, tuple):
        uf, itf = (np.asarray(a, dtype=np.float32) for a in model)
        model = FactorModel(Vocab(np.arange(uf.shape[0])), Vocab(np.arange(itf.shape[0])),
                            DenseTable(uf), DenseTable(itf))
    if not isinstance(model, FactorModel):
        raise InputError(f"model must be a FactorModel or (user_factors, item_factors), got "
                         f"{type(model).__name__}")
    test_m = sp.csr_matrix(getattr(test, "matrix", test))
    if test_m.shape != (model.n_users, model.n_items):
        raise InputError(f"test matrix of shape {test_m.shape} does not match the model's "
                         f"{model.n_users} users x {model.n_items} items")
    exclude = None
    if exclude_seen and train is not None:
        exclude = sp.csr_matrix(getattr(train, "matrix", train))
        if exclude.shape != test_m.shape:
            raise InputError(f"train matrix of shape {exclude.shape} does not match the "
                             f"test matrix {test_m.shape}")
    users = np.flatnonzero(np.diff(test_m.indptr) > 0)
    acc = {"relevant": 0.0, "pr_div": 0.0, "recall": 0.0, "ndcg": 0.0, "map": 0.0, "auc": 0.0,
           "users": 0}
    bar = progress(total=users.size, desc="evaluating", unit="user")
    try:
        for b0 in range(0, users.size, batch):
            rows = users[b0:b0 + batch]
            res = model.recommend_rows(rows, k=k, exclude_seen=exclude_seen, exclude=exclude)
            part = metrics_from_recommendations(res.ids, test_m[rows], model.n_items, k)
            for key in acc:
                acc[key] += part[key]
            bar.update(rows.size)
    finally:
        bar.close()
    return _finish(acc, k)

