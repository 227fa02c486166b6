"""Memory accounting: one-hot against embeddings, by arithmetic and by measurement.

Two kinds of figure, never mixed:

* **arithmetic** for any shape (``onehot_vs_embedding``, ``interaction_memory``): what a dense
  one-hot matrix, a sparse (CSR) one-hot matrix and an embedding table of that shape cost;
* **measured** for real objects (``memory_report(obj)``): each array's real ``nbytes`` and the real
  size of Python-side indexes, never a per-entry guess.

Sparse one-hot rows are cheap to *store* (one index and one value per row): the honest comparison
says so. The embedding's win is elsewhere: a model's input is dense (d values instead of V), the
first layer has d x h parameters instead of V x h, similar entities get similar vectors, and what
is learned for one entity generalises to its neighbours.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

_ITEMSIZE = {"float32": 4, "float16": 2, "float64": 8, "int8": 1}

WHERE_THE_WIN_LIES = [
    "A sparse (CSR) one-hot row stores only an index and a value, so storing one-hot IDs is cheap; "
    "the one-hot cost appears when a model consumes them.",
    "Dense model input: d values per entity instead of a V-wide vector.",
    "First-layer parameters: a V x d table is the V x h first layer of a one-hot model with h = d; "
    "it grows linearly with V, while the dense one-hot matrix of all entities grows as V^2.",
    "Similarity: cosine between embeddings is meaningful; between distinct one-hot vectors it is "
    "always 0.",
    "Generalisation: what is learned about one entity carries over to entities near it.",
]


def _csr_bytes(n_rows: int, nnz_per_row: int, value_bytes: int = 4) -> int:
    """CSR as scipy stores it: data + int32 indices + int32 indptr (int64 past 2**31 entries)."""
    nnz = n_rows * nnz_per_row
    idx = 4 if max(nnz, n_rows) < 2**31 else 8
    return nnz * value_bytes + nnz * idx + (n_rows + 1) * idx


def onehot_vs_embedding(n_rows: int, dim: int, *, dtype: str = "float32") -> dict:
    """Arithmetic for a vocabulary of ``n_rows`` keys embedded in ``dim`` values.

    The dense one-hot matrix is the one-hot encoding of every key (n_rows x n_rows); the table
    is n_rows x dim.

    Parameters
    ----------
    n_rows : int
        The vocabulary size.
    dim : int
        The embedding dimension.
    dtype : {"float32", "float16", ...}
        The values' type on both sides.

    Returns
    -------
    dict
        JSON-able bytes and ratios (the ``compactemb memory --vocab`` output).

    Examples
    --------
    >>> onehot_vs_embedding(10_000, 100)["ratio_onehot_dense_to_table"]
    100.0
    """
    n_rows, dim = int(n_rows), int(dim)
    b = _ITEMSIZE[dtype]
    dense = n_rows * n_rows * b
    table = n_rows * dim * b
    sparse = _csr_bytes(n_rows, 1, b)
    return {
        "mode": "vocabulary",
        "vocab_size": n_rows,
        "dim": dim,
        "dtype": dtype,
        "bytes_per_value": b,
        "onehot_values_per_row": n_rows,
        "embedding_values_per_row": dim,
        "onehot_dense_bytes": dense,
        "onehot_dense_bytes_per_row": n_rows * b,
        "onehot_sparse_bytes": sparse,
        "onehot_sparse_bytes_per_row": round(sparse / n_rows, 3) if n_rows else 0,
        "table_bytes": table,
        "table_bytes_per_row": dim * b,
        "ratio_onehot_dense_to_table": round(dense / table, 3) if table else None,
        "ratio_values_per_row": round(n_rows / dim, 3) if dim else None,
        "ratio_table_to_onehot_sparse": round(table / sparse, 3) if sparse else None,
        "growth": {"onehot_dense": "quadratic in vocab_size", "onehot_sparse": "linear",
                   "table": "linear"},
        "where_the_win_lies": WHERE_THE_WIN_LIES,
    }


def interaction_memory(n_users: int, n_items: int, dim: int, *, dtype: str = "float32",
                       n_interactions: int | None = None) -> dict:
    """Arithmetic for a recommender: one (user, item) interaction as one-hot vs embeddings.

    Parameters
    ----------
    n_users, n_items : int
        The number of users and of items.
    dim : int
        The factors' dimension.
    dtype : {"float32", "float16", ...}
        The values' type on both sides.
    n_interactions : int or None
        Also give the totals for this many interactions.

    Returns
    -------
    dict
        JSON-able bytes and ratios per interaction (and in total).
    """
    n_users, n_items, dim = int(n_users), int(n_items), int(dim)
    b = _ITEMSIZE[dtype]
    width = n_users + n_items
    out = {
        "mode": "interactions",
        "users": n_users,
        "items": n_items,
        "dim": dim,
        "dtype": dtype,
        "bytes_per_value": b,
        "onehot_width_per_interaction": width,
        "embedding_values_per_interaction": 2 * dim,
        "onehot_dense_bytes_per_interaction": width * b,
        "onehot_sparse_bytes_per_interaction": 2 * (b + 4) + 4,
        "embedding_bytes_per_interaction": 2 * dim * b,
        "ratio_values_per_interaction": round(width / (2 * dim), 3),
        "user_table_bytes": n_users * dim * b,
        "item_table_bytes": n_items * dim * b,
        "tables_bytes": width * dim * b,
        "onehot_dense_bytes_all_entities": width * width * b,
        "where_the_win_lies": WHERE_THE_WIN_LIES,
    }
    if n_interactions is not None:
        n = int(n_interactions)
        out.update(
            interactions=n,
            onehot_dense_bytes_all_interactions=n * width * b,
            onehot_sparse_bytes_all_interactions=_csr_bytes(n, 2, b),
            embedded_bytes_all_interactions=n * 2 * dim * b,
        )
    return out


@dataclass
class MemoryReport:
    """Measured bytes of an object, part by part, with the one-hot comparison for its shape.

    Attributes
    ----------
    parts : dict of str -> int
        Bytes of each array (``table.weights``, ``vocab.counts`` ...) and index, measured.
    comparison : dict
        ``onehot_vs_embedding`` (or ``interaction_memory``) for the object's own shape.
    """

    title: str
    parts: dict[str, int]
    comparison: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)

    @property
    def total(self) -> int:
        """Bytes of all parts together."""
        return int(sum(self.parts.values()))

    def to_dict(self) -> dict:
        """The report as a JSON-able dict (the ``--json`` output of ``compactemb memory``)."""
        return {"object": self.title, "measured": True, "parts": dict(self.parts),
                "total_bytes": self.total, **self.extra, "onehot_comparison": self.comparison}

    def __str__(self) -> str:
        w = max([len(k) for k in self.parts] + [10])
        lines = [f"Memory of {self.title} (measured)"]
        lines += [f"  {k:<{w}}  {v:>15,} B" for k, v in self.parts.items()]
        lines.append(f"  {'total':<{w}}  {self.total:>15,} B")
        if self.comparison:
            lines.append(format_comparison(self.comparison))
        return "\n".join(lines)


def format_comparison(c: dict) -> str:
    """A readable table of an arithmetic comparison.

    Parameters
    ----------
    c : dict
        What :func:`onehot_vs_embedding` or :func:`interaction_memory` returns.

    Returns
    -------
    str
        Aligned lines, ending with where the embedding wins.
    """
    if c.get("mode") == "interactions":
        rows = [
            ("one-hot width per interaction", f"{c['onehot_width_per_interaction']:,} values"),
            ("embedding values per interaction", f"{c['embedding_values_per_interaction']:,} "
             f"values ({c['dim']} user + {c['dim']} item)"),
            ("one-hot dense, per interaction", f"{c['onehot_dense_bytes_per_interaction']:,} B"),
            ("one-hot sparse (CSR), per interaction",
             f"{c['onehot_sparse_bytes_per_interaction']:,} B"),
            ("embedded, per interaction", f"{c['embedding_bytes_per_interaction']:,} B"),
            ("user table", f"{c['user_table_bytes']:,} B"),
            ("item table", f"{c['item_table_bytes']:,} B"),
            ("ratio (values per interaction)", f"{c['ratio_values_per_interaction']:,}x"),
        ]
        if "interactions" in c:
            rows += [
                (f"one-hot dense, {c['interactions']:,} interactions",
                 f"{c['onehot_dense_bytes_all_interactions']:,} B"),
                (f"one-hot sparse, {c['interactions']:,} interactions",
                 f"{c['onehot_sparse_bytes_all_interactions']:,} B"),
            ]
    else:
        rows = [
            ("values per key: one-hot vs embedding",
             f"{c['onehot_values_per_row']:,} vs {c['embedding_values_per_row']:,}"),
            (f"one-hot dense ({c['vocab_size']:,} x {c['vocab_size']:,} {c['dtype']})",
             f"{c['onehot_dense_bytes']:,} B"),
            ("one-hot sparse (CSR)", f"{c['onehot_sparse_bytes']:,} B"),
            (f"embedding table ({c['vocab_size']:,} x {c['dim']} {c['dtype']})",
             f"{c['table_bytes']:,} B"),
            ("one-hot dense / table", f"{c['ratio_onehot_dense_to_table']}x"),
        ]
    w = max(len(r[0]) for r in rows)
    out = ["Arithmetic comparison"] + [f"  {a:<{w}}  {b}" for a, b in rows]
    out.append("Where the embedding wins:")
    out += [f"  - {s}" for s in c.get("where_the_win_lies", [])]
    return "\n".join(out)


def memory_report(obj) -> MemoryReport:
    """Measured memory of a vocabulary, table, keyed vectors or trained model.

    Objects report their parts through ``memory_parts()`` (array name -> bytes, measured from
    the arrays); the one-hot comparison is computed for the object's own shape.

    Parameters
    ----------
    obj : Vocab, EmbeddingTable, KeyedVectors, FactorModel or TextClassifier
        Anything with a ``memory_parts()`` method.

    Returns
    -------
    MemoryReport
        The measured parts, their total and the one-hot comparison.

    Raises
    ------
    TypeError
        For an object without ``memory_parts()``.
    """
    from .tables import EmbeddingTable
    from .vocab import Vocab

    if not hasattr(obj, "memory_parts"):
        raise TypeError(f"no memory report for {type(obj).__name__}")
    parts = obj.memory_parts()
    comparison: dict = {}
    extra: dict = {}
    if hasattr(obj, "memory_comparison"):
        comparison = obj.memory_comparison()
    elif isinstance(obj, EmbeddingTable):
        comparison = onehot_vs_embedding(obj.n_rows, obj.dim)
        extra = {"kind": obj.kind, "shape": [obj.n_rows, obj.dim]}
    elif hasattr(obj, "table") and hasattr(obj, "vocab"):
        comparison = onehot_vs_embedding(obj.table.n_rows, obj.table.dim)
        extra = {"kind": obj.table.kind, "shape": [obj.table.n_rows, obj.table.dim]}
    elif isinstance(obj, Vocab):
        extra = {"size": len(obj)}
    if "shape" in extra:
        extra["table_bytes_measured"] = int(obj.nbytes if isinstance(obj, EmbeddingTable)
                                            else obj.table.nbytes)
    return MemoryReport(type(obj).__name__, parts, comparison, extra)


def growth_curves(dim: int = 300, vocab_sizes=None, *, kinds: dict | None = None) -> dict:
    """Bytes against vocabulary size for one-hot dense, one-hot sparse and table kinds.

    ``kinds`` maps a label to ``(table_class, params)``; by default every registered table kind
    that can estimate its size with default parameters (float32 and float16 dense, and the
    compressed kinds once registered).

    Parameters
    ----------
    dim : int
        The embedding dimension.
    vocab_sizes : array-like of int or None
        The x values; None takes 41 sizes from 100 to 10 million.
    kinds : dict or None
        label -> (table kind name, parameters) of the table curves.

    Returns
    -------
    dict
        ``dim``, ``vocab_sizes`` and ``bytes`` (label -> bytes per vocabulary size).
    """
    from .tables import table_kinds

    v = np.unique(np.logspace(2, 7, 41).astype(np.int64)) if vocab_sizes is None \
        else np.asarray(vocab_sizes, dtype=np.int64)
    curves = {
        "one-hot dense": [int(n) * int(n) * 4 for n in v],
        "one-hot sparse (CSR)": [_csr_bytes(int(n), 1) for n in v],
    }
    if kinds is None:
        kinds = {"dense float32": ("dense", {"dtype": "float32"}),
                 "dense float16": ("dense", {"dtype": "float16"})}
        for name, cls in table_kinds().items():
            plot_params = getattr(cls, "plot_params", None)
            if name != "dense" and plot_params is not None:
                kinds[getattr(cls, "plot_label", name)] = (name, plot_params)
    registry = table_kinds()
    for label, (kind, params) in kinds.items():
        try:
            curves[label] = [registry[kind].estimate_nbytes(int(n), dim, **params) for n in v]
        except NotImplementedError:
            continue
    return {"dim": dim, "vocab_sizes": v.tolist(), "bytes": curves}


def plot_memory_growth(path, dim: int = 300, vocab_sizes=None, *, marks: dict | None = None,
                       kinds: dict | None = None) -> dict:
    """Write a log-log PNG of memory against vocabulary size; returns the curves plotted.

    Parameters
    ----------
    path : str or os.PathLike
        The PNG to write.
    dim : int
        The embedding dimension.
    vocab_sizes : array-like of int or None
        The x values (see :func:`growth_curves`).
    marks : dict or None
        Measured points to add: label -> (vocab_size, bytes).
    kinds : dict or None
        The table curves (see :func:`growth_curves`).

    Returns
    -------
    dict
        What :func:`growth_curves` returns.

    Raises
    ------
    OptionalDependencyError
        Without matplotlib (``pip install 'compactemb[plot]'``).
    """
    from .plots import _agg_pyplot

    plt = _agg_pyplot()

    curves = growth_curves(dim, vocab_sizes, kinds=kinds)
    fig, ax = plt.subplots(figsize=(7.5, 5))
    styles = {"one-hot dense": dict(lw=2.5, color="tab:red"),
              "one-hot sparse (CSR)": dict(lw=2, color="tab:gray", ls="--")}
    # table kinds: tab10's distinct hues other than the one-hot curves' red and grey; past
    # eight kinds the hues repeat with another dash pattern, so no two lines look alike
    tab10 = plt.get_cmap("tab10")
    hues = [tab10(i) for i in range(10) if i not in (3, 7)]
    dashes = ["-", (0, (5, 2)), (0, (1, 1.5)), (0, (6, 2, 1, 2))]
    table_labels = [k for k in curves["bytes"] if k not in styles]
    for i, k in enumerate(table_labels):
        styles[k] = {"lw": 1.8, "color": hues[i % len(hues)], "ls": dashes[i // len(hues) % 4]}
    for label, ys in curves["bytes"].items():
        ax.loglog(curves["vocab_sizes"], ys, label=label, **styles[label])
    for label, (n, b) in (marks or {}).items():
        ax.loglog([n], [b], "k*", ms=12)
        ax.annotate(label, (n, b), textcoords="offset points", xytext=(6, -12), fontsize=8)
    for gib in (1, 1024):
        ax.axhline(gib * 2**30, color="grey", lw=0.6, ls=":")
        ax.text(curves["vocab_sizes"][0], gib * 2**30 * 1.15, f"{gib} GiB" if gib == 1
                else "1 TiB", fontsize=7, color="grey")
    ax.set_xlabel("vocabulary size (rows)")
    ax.set_ylabel("bytes")
    ax.set_title(f"One-hot grows as V², an embedding table as V·d (d = {dim})")
    ax.grid(True, which="major", alpha=0.3)
    # every line named at its right end in its colour, the names spread apart vertically
    from .plots import spread_apart

    ax.set_xlim(curves["vocab_sizes"][0], curves["vocab_sizes"][-1] * 60)
    fig.tight_layout()
    x_end = curves["vocab_sizes"][-1]
    to_points = 72.0 / fig.dpi
    ends = ax.transData.transform([(x_end, ys[-1]) for ys in curves["bytes"].values()])
    ys_pt = spread_apart(ends[:, 1] * to_points, 8.0)
    for (label, ys), y_end, y_pt in zip(curves["bytes"].items(), ends[:, 1], ys_pt):
        ax.annotate(label, (x_end, ys[-1]), xytext=(6, y_pt - y_end * to_points),
                    textcoords="offset points", va="center", fontsize=6.5,
                    color=styles[label]["color"])
    from .storage import atomic_write

    with atomic_write(path) as f:
        fig.savefig(f, format="png", dpi=110)
    plt.close(fig)
    return curves
