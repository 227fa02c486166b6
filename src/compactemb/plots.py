"""Pictures of embeddings: a 2-D projection (PCA, or UMAP when installed) coloured by cluster or
label, written as a PNG (atomically). matplotlib is needed (``pip install 'compactemb[plot]'``);
UMAP needs ``umap-learn`` (``compactemb[umap]``)."""

from __future__ import annotations

import io
import os
import warnings
from collections.abc import Hashable, Sequence

import numpy as np

from .exceptions import InputError, require

METHODS = ("pca", "umap")


def pca_2d(x) -> np.ndarray:
    """The rows projected on their first two principal axes, shape (n, 2).

    Signs are fixed so that the largest-magnitude loading of each axis is positive, which
    makes the picture the same from run to run.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 2:
        raise InputError(f"a projection needs at least 2 points in a 2-D matrix, got {x.shape}")
    xc = x - x.mean(axis=0)
    # eigenvectors of the (dim x dim) covariance: cheap for many points of modest dimension
    vals, vecs = np.linalg.eigh(xc.T @ xc)
    axes = vecs[:, ::-1][:, :2]
    if axes.shape[1] < 2:  # one-dimensional data: a flat second axis
        axes = np.concatenate([axes, np.zeros((x.shape[1], 2 - axes.shape[1]))], axis=1)
    signs = np.sign(axes[np.abs(axes).argmax(axis=0), [0, 1]])
    signs[signs == 0] = 1.0
    return xc @ (axes * signs)


def project_2d(x, *, method: str = "pca", random_state: int = 0) -> np.ndarray:
    """2-D coordinates of the rows by ``method`` ("pca" or "umap")."""
    if method == "pca":
        return pca_2d(x)
    if method == "umap":
        umap = require("umap", "umap")
        x = np.asarray(x, dtype=np.float32)
        reducer = umap.UMAP(n_components=2, random_state=random_state, n_jobs=1,
                            n_neighbors=min(15, max(2, x.shape[0] - 1)))
        with warnings.catch_warnings():  # a seeded UMAP runs on one thread; it says so anyway
            warnings.filterwarnings("ignore", message="n_jobs value", category=UserWarning)
            return np.asarray(reducer.fit_transform(x), dtype=np.float64)
    raise InputError(f"projection method must be one of {METHODS}, got {method!r}")


def plot_projection(data, path, *, colors: Sequence[Hashable] | None = None,
                    names: Sequence[str] | None = None, annotate: int = 30,
                    method: str = "pca", title: str | None = None,
                    random_state: int = 0, dpi: int = 120) -> dict:
    """Draw the rows of ``data`` (matrix or table) in 2-D and write a PNG to ``path``.

    Parameters
    ----------
    colors : sequence, optional
        A cluster id or label per row; one colour each (with a legend up to 20 of them).
    names : sequence of str, optional
        Text of each row; the first ``annotate`` rows are written next to their point.
    Returns a summary: path, points, method, and the number of colour groups.
    """
    from .tables import EmbeddingTable

    x = data.to_dense().weights if isinstance(data, EmbeddingTable) else np.asarray(data)
    if colors is not None and len(colors) != x.shape[0]:
        raise InputError(f"{len(colors)} colours for {x.shape[0]} points")
    if names is not None and len(names) != x.shape[0]:
        raise InputError(f"{len(names)} names for {x.shape[0]} points")
    xy = project_2d(x, method=method, random_state=random_state)
    require("matplotlib", "plot")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 7))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    groups = 0
    if colors is None:
        ax.scatter(xy[:, 0], xy[:, 1], s=8, alpha=0.7, color="tab:blue", linewidths=0)
    else:
        values = [str(c) for c in colors]
        uniq = sorted(set(values), key=_natural)
        groups = len(uniq)
        cmap = _colormap(groups)
        index = {u: i for i, u in enumerate(uniq)}
        codes = np.array([index[v] for v in values])
        for i, u in enumerate(uniq):
            sel = codes == i
            ax.scatter(xy[sel, 0], xy[sel, 1], s=8, alpha=0.75, color=cmap(i), linewidths=0,
                       label=u)
        if groups <= 20:
            ax.legend(markerscale=2, fontsize=8, loc="best", frameon=False)
    if names is not None:
        for i in range(min(annotate, x.shape[0])):
            ax.annotate(str(names[i]), xy[i], fontsize=7, alpha=0.85,
                        xytext=(2, 2), textcoords="offset points")
    ax.set_xlabel(f"{method.upper()} 1")
    ax.set_ylabel(f"{method.upper()} 2")
    ax.set_title(title or f"{x.shape[0]:,} vectors, {method.upper()} projection")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    from .storage import atomic_write

    with atomic_write(path) as f:
        f.write(buf.getvalue())
    return {"output": os.fspath(path), "points": int(x.shape[0]), "method": method,
            "groups": groups, "bytes": len(buf.getvalue())}


def _natural(text: str):
    """Sort key putting "cluster 2" before "cluster 10"."""
    import re

    return [(0, int(t), "") if t.isdigit() else (1, 0, t) for t in re.split(r"(\d+)", text)]


def _colormap(n: int):
    from matplotlib import colormaps

    return colormaps["tab10" if n <= 10 else "tab20" if n <= 20 else "turbo"].resampled(
        max(n, 1))


def plot_keyed(kv, path, *, keys: Sequence[Hashable] | None = None, max_keys: int = 2000,
               k: int | None = None, labels: dict | None = None, method: str = "pca",
               annotate: int = 30, random_state: int = 0, title: str | None = None) -> dict:
    """Picture of keyed vectors: the given ``keys`` or the ``max_keys`` most frequent, coloured
    by k-means clusters (``k``) or by a key -> label dict (``labels``; unlabelled keys grey out
    as "(none)")."""
    if k is not None and labels is not None:
        raise InputError("colour by clusters (k) or by labels, not both")
    if keys is not None:
        ids = kv.vocab.encode(list(keys))
    else:
        ids = np.arange(min(max_keys, len(kv.vocab)), dtype=np.int64)
    x = kv.table.lookup(ids)
    names = kv.vocab.decode(ids)
    colors = None
    if k is not None:
        from .cluster import KMeans

        colors = [f"cluster {c}" for c in KMeans(k, metric="cosine",
                                                 random_state=random_state).fit(x).labels_]
    elif labels is not None:
        colors = [str(labels.get(n, "(none)")) for n in names]
    return plot_projection(x, path, colors=colors, names=names, annotate=annotate,
                           method=method, title=title, random_state=random_state)
