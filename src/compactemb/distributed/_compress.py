"""Compression over row ranges on a Ray cluster: the same file as the local ``compress``.

Row-wise methods (``float16``, ``int8``, ``int4``) quantise each range of rows in its own task
(the source table goes once into the object store) and the driver concatenates the ranges. PQ
trains its codebooks (and rotation) on the driver, on the same sample as locally; the rows are
then encoded in ranges of whole 65,536-row blocks, as :func:`compactemb.tables._pq.encode_rows`
cuts them in one process, so the codes are the same bits. Everything else (pruning, low rank,
mixed dimensions) runs on the driver as before; a ``pruned+int8`` or ``pruned+pq`` table has its
value step distributed.
"""

from __future__ import annotations

import contextlib
from functools import partial

import numpy as np

from ..exceptions import InputError
from ._cluster import ray_session

ROW_WISE = ("float16", "int8", "int4")
PQ_BLOCK = 65536  # rows per encode block of PQTable.from_dense


def _ranges(n: int, rows_per_task: int, align: int = 1) -> list[tuple[int, int]]:
    step = max(align, -(-rows_per_task // align) * align)
    return [(a, min(n, a + step)) for a in range(0, n, step)] or [(0, 0)]


def _default_rows(ray, n: int) -> int:
    cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
    return max(4096, -(-n // (2 * cpus)))


def quantize_range(table, step: str, start: int, stop: int) -> np.ndarray:
    """Rows ``start:stop`` of ``table`` quantised by a row-wise method (a Ray task)."""
    from ..tables._quantized import quantize_rows

    rows = np.ascontiguousarray(table.rows(start, stop), dtype=np.float32)
    if step == "float16":  # through DenseTable: the same range check as locally
        from ..tables import DenseTable

        return DenseTable(rows, dtype="float16").weights
    return quantize_rows(rows, 8 if step == "int8" else 4)


def _row_wise_step(ray, rows_per_task, step: str, opts: dict):
    """The value step ``step`` as row-range tasks (None: not row-wise, run it locally)."""
    if step not in ROW_WISE:
        return None
    from ..tables import DenseTable, EmbeddingTable, Int4Table, Int8Table

    def run(x):
        table = x if isinstance(x, EmbeddingTable) else DenseTable(x)
        ref = ray.put(table)
        task = ray.remote(quantize_range).options(max_retries=3)
        ranges = _ranges(table.n_rows, rows_per_task or _default_rows(ray, table.n_rows))
        parts = ray.get([task.remote(ref, step, a, b) for a, b in ranges])
        data = np.concatenate(parts)
        if step == "float16":
            return DenseTable(data, dtype="float16")
        return (Int8Table if step == "int8" else Int4Table)(data, table.dim)

    return run


def _pq_encoder(ray, rows_per_task, x, codebooks, rotation):
    """Every row's PQ codes, encoded in ranges of whole blocks as Ray tasks."""
    from ..tables._pq import encode_rows

    n = x.shape[0]
    ranges = _ranges(n, rows_per_task or _default_rows(ray, n), align=PQ_BLOCK)
    refs = ray.put(x), ray.put(codebooks), ray.put(rotation)
    task = ray.remote(encode_rows).options(max_retries=3)
    parts = ray.get([task.remote(*refs, a, b) for a, b in ranges])
    return np.concatenate(parts) if parts else np.zeros((0, codebooks.shape[0]), np.uint8)


@contextlib.contextmanager
def ray_compression(address: str | None = None, *, rows_per_task: int | None = None):
    """Within the block, ``compress`` quantises row ranges and encodes PQ rows on Ray.

    Parameters
    ----------
    address : str or None
        Ray cluster (``"HOST:PORT"``, ``"auto"``, None: a local one).
    rows_per_task : int, optional
        Rows per task (PQ: rounded up to whole 65,536-row blocks); default: two tasks per CPU
        of the cluster.

    Yields
    ------
    module
        The connected ``ray``.

    Raises
    ------
    InputError
        ``rows_per_task`` below 1.
    ClusterError
        The cluster cannot be reached.

    Examples
    --------
    >>> with ray_compression("auto"):                       # doctest: +SKIP
    ...     small = compress(model, "pq", n_subvectors=16)
    """
    from ..compress import value_step_override
    from ..tables._pq import row_encoder

    if rows_per_task is not None and rows_per_task < 1:
        raise InputError(f"rows_per_task must be >= 1, got {rows_per_task}")
    with ray_session(address) as ray:
        steps = value_step_override.set(partial(_row_wise_step, ray, rows_per_task))
        encoder = row_encoder.set(partial(_pq_encoder, ray, rows_per_task))
        try:
            yield ray
        finally:
            row_encoder.reset(encoder)
            value_step_override.reset(steps)


def compress_on_ray(obj, method: str = "int8", *, address: str | None = None,
                    rows_per_task: int | None = None, **options):
    """:func:`compactemb.compress.compress` with its row-wise work as Ray tasks.

    Parameters
    ----------
    obj, method, **options
        As :func:`compactemb.compress.compress`.
    address : str or None
        Ray cluster (``"HOST:PORT"``, ``"auto"``, None: a local one).
    rows_per_task : int, optional
        See :func:`ray_compression`.

    Returns
    -------
    object of the type of ``obj``
        Equal to ``compress(obj, method, **options)`` (the same file when saved): row-wise
        methods and PQ encoding are deterministic per row.

    Raises
    ------
    InputError
        As ``compress``.
    ClusterError
        The cluster cannot be reached.

    Examples
    --------
    >>> small = compress_on_ray(kv, "int8", address="auto")     # doctest: +SKIP
    """
    from ..compress import compress

    with ray_compression(address, rows_per_task=rows_per_task):
        return compress(obj, method, **options)
