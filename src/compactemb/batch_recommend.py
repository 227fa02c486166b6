"""Top-k recommendations for every user of a model, written to a file in bounded memory.

Users are ranked ``batch`` at a time with :meth:`FactorModel.recommend_rows` (blocked matrix
products, seen items excluded straight from the stored CSR, the parallel top-k kernel); each
batch's raw IDs are decoded in one array operation and appended to the output, so memory stays
about ``batch x (block + k)`` scores whatever the number of users.

Output: one row per (user, rank) with columns ``user``, ``rank`` (1 = best), ``item``,
``score``; Parquet (``.parquet``/``.pq``, needs pyarrow: ``compactemb[data]``; one row group
per batch) or tab-separated text with a header (any other name, ``.gz`` compressed when the
name ends so). Written to a temporary name and renamed at the end.
"""

from __future__ import annotations

import gzip
import os

import numpy as np

from ._progress import progress
from .exceptions import InputError, require


def write_recommendations(model, path: str | os.PathLike, *, k: int = 10,
                          exclude_seen: bool = True, batch: int = 4096,
                          show_progress: bool = True) -> dict:
    """Rank items for every user of ``model`` and write them to ``path``.

    Parameters
    ----------
    model : FactorModel
    path : str or os.PathLike
        ``*.parquet``/``*.pq``: Parquet; anything else: TSV (``*.gz``: gzip-compressed).
    k : int, default 10
        Items per user (fewer when a user has seen nearly every item).
    exclude_seen : bool, default True
        Skip the items each user interacted with in training.
    batch : int, default 4096
        Users ranked and written at once (bounds memory).
    show_progress : bool, default True
        A progress bar on stderr (users done).

    Returns
    -------
    dict
        ``output``, ``users``, ``rows`` written, ``format``.

    Raises
    ------
    InputError
        ``k`` or ``batch`` below 1; Parquet without pyarrow.

    Examples
    --------
    >>> info = write_recommendations(model, "recs.parquet", k=10)   # doctest: +SKIP
    >>> info["rows"]                                                 # doctest: +SKIP
    9430
    """
    if k < 1:
        raise InputError(f"k must be >= 1, got {k}")
    if batch < 1:
        raise InputError(f"batch must be >= 1, got {batch}")
    path = os.fspath(path)
    parquet = path.lower().endswith((".parquet", ".pq"))
    from .storage import remove_dead_temps, temp_name

    remove_dead_temps(path)  # leftovers of killed writers
    tmp = temp_name(path)  # carries this process's id, as atomic_write's do
    rows_written = 0
    bar = progress(total=model.n_users, desc="recommending", unit="user",
                   quiet=None if show_progress else True)
    writer = None
    try:
        if parquet:
            pa = require("pyarrow", "data")
            import pyarrow.parquet as pq
        else:
            out = gzip.open(tmp, "wt", encoding="utf-8") if path.endswith(".gz") else \
                open(tmp, "w", encoding="utf-8")
            out.write("user\trank\titem\tscore\n")
        for b0 in range(0, model.n_users, batch):
            rows = np.arange(b0, min(model.n_users, b0 + batch), dtype=np.int64)
            res = model.recommend_rows(rows, k=k, exclude_seen=exclude_seen)
            valid = res.ids >= 0
            user_rows = np.broadcast_to(rows[:, None], res.ids.shape)[valid]
            width = res.ids.shape[1]  # k, or fewer when the model has fewer items
            ranks = np.broadcast_to(np.arange(1, width + 1, dtype=np.int32), res.ids.shape)[valid]
            users = model.user_vocab.decode_array(user_rows)
            items = model.item_vocab.decode_array(res.ids[valid])
            scores = res.scores[valid]
            if parquet:
                table = pa.table({"user": users, "rank": ranks, "item": items, "score": scores})
                if writer is None:
                    writer = pq.ParquetWriter(tmp, table.schema)
                writer.write_table(table)
            else:
                out.write("".join(f"{u}\t{r}\t{i}\t{s:.7g}\n" for u, r, i, s in
                                  zip(users.tolist(), ranks.tolist(), items.tolist(),
                                      scores.tolist())))
            rows_written += int(valid.sum())
            bar.update(rows.size)
        if parquet:
            if writer is None:  # no users: an empty file with the columns
                empty = pa.table({"user": pa.array([], pa.int64()), "rank": pa.array(
                    [], pa.int32()), "item": pa.array([], pa.int64()),
                    "score": pa.array([], pa.float32())})
                writer = pq.ParquetWriter(tmp, empty.schema)
            writer.close()
            writer = None
        else:
            out.close()
        os.replace(tmp, path)
    except BaseException as exc:
        if writer is not None:
            writer.close()
        if not parquet and "out" in locals():
            out.close()
        if os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(exc, OSError) and exc.filename == tmp:  # name the user's file
            raise OSError(exc.errno, exc.strerror, path) from None
        raise
    finally:
        bar.close()
    return {"output": path, "users": int(model.n_users), "rows": rows_written,
            "format": "parquet" if parquet else "tsv"}
