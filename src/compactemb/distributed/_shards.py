"""Interaction logs read as Ray Datasets from Parquet/CSV shards, indexed consistently.

The log never goes through the driver. ``ray.data.read_parquet`` / ``read_csv`` read the shard
files on the cluster (block order = file order, then row order); one task per block returns its
distinct user and item IDs in first-seen order with their counts; the driver merges these in
block order into the global user and item index (by count, ties in first-seen order: the very
index :func:`~compactemb.interactions_io.read_interactions` builds from the same rows in the
same order). Then one task per block encodes its rows with that index and cuts them by the
ALS actors' row ranges; the build task of actor ``k`` concatenates its pieces in block order
and sums repeated pairs in that order, as one process would.
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass, field

import numpy as np

from ..exceptions import InputError

_WEIGHT_NAMES = ("weight", "rating", "count", "plays", "playcount", "value")
SHARD_FORMATS = ("auto", "parquet", "csv", "tsv")


def shard_paths(source) -> list[str]:
    """The files of ``source``: a folder (its files, by name), a glob pattern, or a list.

    Parameters
    ----------
    source : str, os.PathLike or list of them
        A folder, a glob pattern (``logs/part-*.parquet``), one file, or a list of files (kept
        in its order).

    Returns
    -------
    list of str
        The files in the order their rows count (a folder's and a glob's sorted by name).

    Raises
    ------
    InputError
        Nothing matches, or a listed file is missing.

    Examples
    --------
    >>> shard_paths("logs/part-*.parquet")        # doctest: +SKIP
    ['logs/part-000.parquet', 'logs/part-001.parquet']
    """
    if isinstance(source, (list, tuple)):
        paths = [os.fspath(p) for p in source]
        missing = [p for p in paths if not os.path.isfile(p)]
        if missing:
            raise InputError(f"interaction shard {missing[0]} does not exist")
    else:
        source = os.fspath(source)
        if os.path.isdir(source):
            paths = sorted(os.path.join(source, n) for n in os.listdir(source)
                           if not n.startswith((".", "_"))
                           and os.path.isfile(os.path.join(source, n)))
        elif glob.has_magic(source):
            paths = sorted(p for p in glob.glob(source) if os.path.isfile(p))
        elif os.path.isfile(source):
            paths = [source]
        else:
            raise InputError(f"interaction shards {source}: no such file, folder or pattern")
    if not paths:
        raise InputError(f"interaction shards {source}: no files")
    return paths


def is_shard_source(source) -> bool:
    """Whether a command-line input names shards (a folder or a glob), not one file."""
    source = os.fspath(source)
    return os.path.isdir(source) or (glob.has_magic(source) and not os.path.exists(source))


def _shard_format(paths: list[str], format: str) -> str:
    if format not in SHARD_FORMATS:
        raise InputError(f"shard format must be one of {', '.join(SHARD_FORMATS)}, got "
                         f"{format!r}")
    if format != "auto":
        return format
    kinds = set()
    for p in paths:
        name = p.lower()
        for suffix in (".gz", ".bz2"):
            name = name.removesuffix(suffix)
        kinds.add("parquet" if name.endswith((".parquet", ".pq")) else
                  "tsv" if name.endswith((".tsv", ".dat")) else
                  "csv" if name.endswith(".csv") else "?")
    if len(kinds) != 1 or "?" in kinds:
        names = ", ".join(sorted(os.path.basename(p) for p in paths[:5]))
        raise InputError("interaction shards must be all Parquet (.parquet) or all CSV/TSV "
                         f"(.csv, .tsv); got {names}")
    return kinds.pop()


@dataclass
class InteractionShards:
    """An interaction log in Parquet or CSV/TSV shard files, read on a Ray cluster.

    Give it to :meth:`RayALS.fit` (or :func:`index_interaction_shards`): the files are read as
    a Ray Dataset by the workers, never by the driver. Every node must see the files at the
    same path.

    Parameters
    ----------
    source : str, os.PathLike or list
        A folder, a glob pattern or a list of files (see :func:`shard_paths`).
    format : {"auto", "parquet", "csv", "tsv"}, default "auto"
        ``auto``: by the files' names.
    user_col, item_col : int or str, default 0 and 1
        Column position (0-based) or name.
    weight_col : int, str, "auto" or None, default "auto"
        ``auto``: a column named weight/rating/count/plays/playcount/value, else the third
        column when there is one; None: every interaction weighs 1.
    header : bool, default True
        CSV/TSV: the first line of every file names the columns.

    Examples
    --------
    >>> shards = InteractionShards("logs/", user_col="user", item_col="item")  # doctest: +SKIP
    >>> RayALS(dim=64, address="auto").fit(shards).model_                         # doctest: +SKIP
    """

    source: object
    format: str = "auto"
    user_col: int | str = 0
    item_col: int | str = 1
    weight_col: int | str | None = "auto"
    header: bool = True
    paths: list = field(init=False)

    def __post_init__(self):
        self.paths = shard_paths(self.source)
        self.format = _shard_format(self.paths, self.format)

    def dataset(self, ray):
        """The shards as a Ray Dataset (rows in file order).

        Parameters
        ----------
        ray : module
            The connected ``ray`` module.

        Returns
        -------
        ray.data.Dataset
        """
        import logging

        import ray.data

        logging.getLogger("ray.data").setLevel(logging.WARNING)  # no per-dataset INFO lines
        context = ray.data.DataContext.get_current()
        context.execution_options.preserve_order = True  # blocks in file order, then row order
        context.enable_progress_bars = False
        if self.format == "parquet":
            return ray.data.read_parquet(self.paths)
        import pyarrow.csv as pacsv

        return ray.data.read_csv(
            self.paths,
            read_options=pacsv.ReadOptions(autogenerate_column_names=not self.header),
            parse_options=pacsv.ParseOptions(delimiter="\t" if self.format == "tsv" else ","))

    def block_refs(self, ray) -> list:
        """Object references of the dataset's blocks (Arrow tables), in row order.

        Parameters
        ----------
        ray : module
            The connected ``ray`` module.

        Returns
        -------
        list of ray.ObjectRef
        """
        import warnings

        with warnings.catch_warnings():
            # Ray 2.60's DataContext warns about its own default fields when it is created
            warnings.simplefilter("ignore", DeprecationWarning)
            return self.dataset(ray).to_arrow_refs()


# -- per block (Ray tasks; plain functions) -----------------------------------------------------


def _columns(table, spec: InteractionShards, where: str) -> tuple[str, str, str | None]:
    names = list(table.column_names)

    def pick(col, what):
        if isinstance(col, (int, np.integer)) or (isinstance(col, str) and col.isdigit()):
            pos = int(col)
            if pos >= len(names):
                raise InputError(f"{where}: no column {pos} for the {what} (columns: {names})")
            return names[pos]
        lowered = [n.lower() for n in names]
        if str(col).lower() not in lowered:
            raise InputError(f"{where}: no {what} column named {col!r} (columns: {names})")
        return names[lowered.index(str(col).lower())]

    ucol, icol = pick(spec.user_col, "user"), pick(spec.item_col, "item")
    wcol = spec.weight_col
    if wcol == "auto":
        lowered = [n.lower() for n in names]
        wcol = next((names[lowered.index(n)] for n in _WEIGHT_NAMES if n in lowered), None)
        if wcol is None and len(names) > 2 and names[2] not in (ucol, icol):
            wcol = names[2]
    elif wcol is not None:
        wcol = pick(wcol, "weight")
    return ucol, icol, wcol


def _ids(column):
    """An ID column as the readers take it: integers, or stripped strings."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        column = pc.utf8_trim_whitespace(column)
    return column


def block_ids(table, spec: InteractionShards, block: int) -> dict:
    """Distinct user and item IDs of one block in first-seen order, with their counts."""
    from ..vocab import factorize_ids

    ucol, icol, _ = _columns(table, spec, f"block {block}")
    out = {"rows": table.num_rows}
    for what, col in (("user", ucol), ("item", icol)):
        uniques, codes = factorize_ids(_ids(table.column(col)), what=f"{what} ID")
        out[what] = (uniques, np.bincount(codes, minlength=len(uniques)).astype(np.int64))
    return out


def merge_ids(parts: list) -> tuple:
    """The global index of block summaries (in block order): :class:`Vocab` of each side.

    Keys by count, ties in first-seen order, counts summed: ``Vocab.from_ids_encoded`` of the
    concatenated column.
    """
    from ..vocab import Vocab, factorize_ids

    vocabs = []
    for what in ("user", "item"):
        keys = [p[what][0] for p in parts]
        counts = np.concatenate([p[what][1] for p in parts])
        if all(isinstance(k, np.ndarray) for k in keys):
            merged = np.concatenate(keys)
        else:  # strings somewhere: every ID is a string (as one reader makes a mixed column)
            merged = np.asarray([str(v) for k in keys for v in
                                 (k.tolist() if isinstance(k, np.ndarray) else k)],
                                dtype=object)
        uniques, codes = factorize_ids(merged, what=f"{what} ID")
        total = np.bincount(codes, weights=counts, minlength=len(uniques)).astype(np.int64)
        order = np.argsort(-total, kind="stable")
        info = {"tokens": int(total.sum()), "distinct_seen": int(len(uniques)), "min_count": 1,
                "max_size": None, "kept": int(len(uniques)), "pruned_during_scan": False}
        keys_sorted = (uniques[order] if isinstance(uniques, np.ndarray)
                       else [uniques[i] for i in order.tolist()])
        vocabs.append(Vocab(keys_sorted, total[order], build_info=info))
    return tuple(vocabs)


def route_block(table, spec: InteractionShards, block: int, user_vocab, item_vocab,
                user_bounds: np.ndarray, item_bounds: np.ndarray) -> tuple:
    """One block's rows as codes, cut by the actors' user ranges then by their item ranges.

    Returns ``2 n`` pieces: for user shard ``k`` (user code, item code, weight) of its rows, in
    block order; then for item shard ``k`` (item code, user code, weight).
    """
    import pyarrow as pa

    where = f"block {block}"
    ucol, icol, wcol = _columns(table, spec, where)
    users = _ids(table.column(ucol))
    items = _ids(table.column(icol))
    if user_vocab.key_type == "str" and not pa.types.is_string(users.type):
        users = users.cast(pa.string())
    if item_vocab.key_type == "str" and not pa.types.is_string(items.type):
        items = items.cast(pa.string())
    u = user_vocab.encode(users.to_numpy(zero_copy_only=False))
    i = item_vocab.encode(items.to_numpy(zero_copy_only=False))
    if wcol is None:
        w = np.ones(u.size, np.float32)
    else:
        col = table.column(wcol)
        if col.null_count:
            raise InputError(f"{where}: the weight column {wcol!r} has missing values")
        w = col.to_numpy().astype(np.float32)
        bad = ~np.isfinite(w) | (w < 0)
        if bad.any():
            raise InputError(f"{where}: row {int(np.argmax(bad))}: weight {w[bad][0]} is "
                             "negative or not finite")
    out = []
    for codes, other, bounds in ((u, i, user_bounds), (i, u, item_bounds)):
        shard = np.searchsorted(bounds, codes, side="right") - 1
        order = np.argsort(shard, kind="stable")  # block order within each shard
        cuts = np.searchsorted(shard[order], np.arange(bounds.size))
        for k in range(bounds.size - 1):
            rows = order[cuts[k]:cuts[k + 1]]
            out.append((codes[rows].astype(np.int64), other[rows].astype(np.int32), w[rows]))
    return tuple(out)


def build_shard(k: int, n: int, bounds: list, n_cols: tuple, weighting: str, alpha: float,
                blocked: bool, *pieces) -> tuple:
    """Actor ``k``'s CSR rows of both sides from its pieces of every block (block order).

    Returns (shard, seen, info, then when ``blocked`` ``2 n`` send lists: for side ``s`` and
    owner ``j`` the other-side rows of ``j`` that shard ``k`` needs, local to ``j``).
    ``seen`` is the user side's weights (indptr, indices, data); ``info`` the rows read.
    """
    import scipy.sparse as sp

    from ..interactions import confidence

    n_blocks = len(pieces) // 2
    shard: dict = {}
    sends = []
    info = {"need_rows": [0, 0], "self_need": [0, 0], "nnz": [0, 0]}
    seen = None
    for side in (0, 1):
        lo, hi = int(bounds[side][k]), int(bounds[side][k + 1])
        own = pieces[side * n_blocks:(side + 1) * n_blocks]
        rows = np.concatenate([p[0] for p in own]) - lo if own else np.zeros(0, np.int64)
        cols = np.concatenate([p[1] for p in own]) if own else np.zeros(0, np.int32)
        vals = np.concatenate([p[2] for p in own]) if own else np.zeros(0, np.float32)
        # the matrix as one process builds it: repeated pairs summed in row order (float32)
        m = sp.coo_matrix((vals, (rows.astype(np.int32), cols)),
                          shape=(hi - lo, n_cols[side])).tocsr()
        m.sum_duplicates()
        if side == 0:
            seen = (m.indptr.astype(np.int64), m.indices.astype(np.int32), m.data)
        conf = confidence(m, weighting=weighting, alpha=alpha)
        indices = conf.indices.astype(np.int32)
        info["nnz"][side] = int(conf.nnz)
        other_bounds = np.asarray(bounds[1 - side])
        if blocked:
            need = np.unique(indices)
            indices = np.searchsorted(need, indices).astype(np.int32)
            cuts = np.searchsorted(need, other_bounds)
            for j in range(n):
                sends.append((need[cuts[j]:cuts[j + 1]] - other_bounds[j]).astype(np.int64))
            info["need_rows"][side] = int(need.size)
            info["self_need"][side] = int(cuts[k + 1] - cuts[k])
        else:
            info["need_rows"][side] = int(n_cols[side])
        shard[f"indptr{side}"] = conf.indptr.astype(np.int64)
        shard[f"indices{side}"] = indices
        shard[f"data{side}"] = conf.data.astype(np.float32)
    return (shard, seen, info, *sends)


def with_sends(shard: dict, n: int, *sends) -> dict:
    """``shard`` with its send lists: per side, per destination (from the build tasks)."""
    out = dict(shard)
    for side in (0, 1):
        out[f"send{side}"] = list(sends[side * n:(side + 1) * n])
    return out


def index_interaction_shards(shards: InteractionShards, *, address: str | None = None):
    """The global user and item index of shards, built on Ray from each block's IDs.

    Parameters
    ----------
    shards : InteractionShards
    address : str or None
        Ray cluster (``"HOST:PORT"``, ``"auto"``, None: a local one).

    Returns
    -------
    user_vocab, item_vocab : Vocab
        Equal to the vocabularies of ``read_interactions`` over the same rows in the same
        order (keys by count, ties first-seen; the counts).

    Raises
    ------
    InputError
        A column missing from a block, a missing ID.
    ClusterError
        The cluster cannot be reached.

    Examples
    --------
    >>> users, items = index_interaction_shards(InteractionShards("logs/"))  # doctest: +SKIP
    """
    from ._als import _get
    from ._cluster import ray_session

    with ray_session(address) as ray:
        refs = shards.block_refs(ray)
        task = ray.remote(block_ids).options(max_retries=3)
        return merge_ids(_get(ray, [task.remote(r, shards, b) for b, r in enumerate(refs)]))
