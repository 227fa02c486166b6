"""Pictures of embeddings: a 2-D projection coloured by cluster or label, as a PNG.

The projection is PCA, or UMAP when installed; the PNG is written atomically. matplotlib is needed
(``pip install 'compactemb[plot]'``); UMAP needs ``umap-learn`` (``compactemb[umap]``).
"""

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

    Parameters
    ----------
    x : array-like, shape (n, dim)
        The rows, n >= 2.

    Returns
    -------
    numpy.ndarray, shape (n, 2)
        float64 coordinates.

    Raises
    ------
    InputError
        For fewer than 2 rows or an array that is not 2-D.
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


def _agg_pyplot():
    """``matplotlib.pyplot`` on the Agg backend (files only, no display needed).

    Raises OptionalDependencyError without matplotlib (``pip install 'compactemb[plot]'``).
    """
    require("matplotlib", "plot")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def project_2d(x, *, method: str = "pca", random_state: int = 0) -> np.ndarray:
    """2-D coordinates of the rows by ``method`` ("pca" or "umap").

    Parameters
    ----------
    x : array-like, shape (n, dim)
        The rows.
    method : {"pca", "umap"}
        The projection; UMAP needs ``pip install 'compactemb[umap]'``.
    random_state : int
        Seed of UMAP.

    Returns
    -------
    numpy.ndarray, shape (n, 2)
        float64 coordinates.

    Raises
    ------
    InputError
        For an unknown method.
    """
    if method == "pca":
        return pca_2d(x)
    if method == "umap":
        with warnings.catch_warnings():  # umap-learn warns on import when TensorFlow is absent
            warnings.simplefilter("ignore", ImportWarning)
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
    data : array-like or EmbeddingTable
        The rows to draw.
    path : str or os.PathLike
        The PNG to write.
    colors : sequence, optional
        A cluster id or label per row; one colour each (with a legend up to 20 of them).
    names : sequence of str, optional
        Text of each row; the first ``annotate`` rows are written next to their point.
    annotate : int
        How many rows are named.
    method : {"pca", "umap"}
        The projection (see :func:`project_2d`).
    title : str or None
        The figure's title.
    random_state : int
        Seed of the projection.
    dpi : int
        Resolution of the PNG.

    Returns
    -------
    dict
        A summary: path, points, method, and the number of colour groups.

    Raises
    ------
    InputError
        When ``colors`` or ``names`` do not match the rows.
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
    ax.set_xlabel(f"{method.upper()} 1")
    ax.set_ylabel(f"{method.upper()} 2")
    ax.set_title(title or f"{x.shape[0]:,} vectors, {method.upper()} projection")
    fig.tight_layout()
    if names is not None:
        n_named = min(annotate, x.shape[0])
        annotate_without_overlap(ax, xy[:n_named], [str(n) for n in names[:n_named]],
                                 fontsize=7, others=xy)
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
    """Picture of keyed vectors, coloured by clusters or by labels.

    The given ``keys`` or the ``max_keys`` most frequent are drawn, coloured by k-means
    clusters (``k``) or by a key -> label dict (``labels``; unlabelled keys grey out as
    "(none)"). Without ``keys``, every labelled key in the vocabulary is drawn too (first, so
    that the ``annotate`` named points are labelled ones).

    Parameters
    ----------
    kv : KeyedVectors
        The vectors.
    path : str or os.PathLike
        The PNG to write.
    keys : sequence or None
        The keys to draw; None draws the most frequent.
    max_keys : int
        How many of the most frequent keys are drawn when ``keys`` is None.
    k : int or None
        Colour by this many k-means clusters (cosine).
    labels : dict or None
        Colour by key -> label.
    method : {"pca", "umap"}
        The projection (see :func:`project_2d`).
    annotate : int
        How many points are named.
    random_state : int
        Seed of the clustering and the projection.
    title : str or None
        The figure's title.

    Returns
    -------
    dict
        What :func:`plot_projection` returns.

    Raises
    ------
    InputError
        When both ``k`` and ``labels`` are given.
    """
    if k is not None and labels is not None:
        raise InputError("colour by clusters (k) or by labels, not both")
    if keys is not None:
        ids = kv.vocab.encode(list(keys))
    else:
        ids = np.arange(min(max_keys, len(kv.vocab)), dtype=np.int64)
        if labels is not None:  # the labelled keys are drawn (and named) first, then the rest
            labelled = np.unique(kv.vocab.encode(list(labels), on_unknown="skip"))
            ids = np.concatenate([labelled, np.setdiff1d(ids, labelled, assume_unique=True)])
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


# -- labels that do not overlap -------------------------------------------------------------------

def spread_apart(values, min_gap: float) -> np.ndarray:
    """Positions as close to ``values`` as a simple sweep allows, at least ``min_gap`` apart.

    Used to stack labels at the ends of lines: sorted, pushed up where too close, then the
    whole run shifted back down so that it stays centred on the original positions.

    Parameters
    ----------
    values : array of shape (n,)
        Wanted positions (e.g. heights in points).
    min_gap : float
        Smallest distance between two results.

    Returns
    -------
    ndarray of shape (n,)
        The positions, in the order of ``values``.

    Examples
    --------
    >>> spread_apart([0.0, 1.0, 10.0], 4.0).tolist()
    [-1.5, 2.5, 10.0]
    """
    v = np.asarray(values, dtype=np.float64)
    order = np.argsort(v, kind="stable")
    out = v[order].copy()
    # clusters of labels that touch are moved as blocks centred on their wanted positions
    blocks = [[0]]
    for i in range(1, out.size):
        blocks.append([i])
        while len(blocks) > 1:
            prev, cur = blocks[-2], blocks[-1]
            top_prev = _block_start(v[order][prev], min_gap) + (len(prev) - 1) * min_gap
            if _block_start(v[order][cur], min_gap) >= top_prev + min_gap:
                break
            blocks[-2:] = [prev + cur]
    for b in blocks:
        start = _block_start(v[order][b], min_gap)
        out[b] = start + min_gap * np.arange(len(b))
    res = np.empty_like(out)
    res[order] = out
    return res


def _block_start(wanted: np.ndarray, gap: float) -> float:
    """First position of a block of evenly spaced labels centred on the mean of ``wanted``."""
    return float(wanted.mean() - gap * (len(wanted) - 1) / 2)


# directions tried around a point, right/up first (the usual reading position)
_DIRECTIONS = [(1, 1), (1, -1), (-1, 1), (-1, -1), (1, 0), (-1, 0), (0, 1), (0, -1)]


def place_labels(points, sizes, *, others=None, radii=None,
                 marker_radius: float = 1.5) -> np.ndarray:
    """Lower-left corners for label boxes next to their points, without overlaps.

    Greedy, in the given order (put the most important labels first): each box takes the first
    position around its point, at growing distance, that overlaps no box placed before it nor
    a marker of ``others``; when every position overlaps, the least-overlapping one.

    Parameters
    ----------
    points : array of shape (n, 2)
        Anchor of each label, in display units (e.g. points of 1/72 inch).
    sizes : array of shape (n, 2)
        Width and height of each label's box, same units.
    others : array of shape (m, 2), optional
        Markers to keep clear of (each a square of half-width ``marker_radius``).
    radii : sequence of float, optional
        Distances tried (default 2 .. 120).
    marker_radius : float, default 1.5
        Half-width of a marker of ``others``, in the units of ``points``.

    Returns
    -------
    ndarray of shape (n, 2)
        The lower-left corner of each box.

    Examples
    --------
    >>> corners = place_labels([[0, 0], [0, 0]], [[20, 8], [20, 8]])
    >>> bool(np.abs(corners[0] - corners[1]).max() > 0)
    True
    """
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    wh = np.asarray(sizes, dtype=np.float64).reshape(-1, 2)
    radii = radii if radii is not None else (2, 5, 9, 14, 20, 28, 38, 50, 65, 85, 120)
    marks = np.zeros((0, 2)) if others is None else \
        np.asarray(others, dtype=np.float64).reshape(-1, 2)
    boxes = np.empty((marks.shape[0] + pts.shape[0], 4))
    boxes[:marks.shape[0]] = np.concatenate([marks - marker_radius, marks + marker_radius],
                                            axis=1)
    n_boxes = marks.shape[0]
    placed = np.zeros_like(pts)
    for i, ((px, py), (w, h)) in enumerate(zip(pts, wh)):
        best, best_overlap = (px, py), np.inf
        for r in radii:
            for dx, dy in _DIRECTIONS:
                x0 = px + dx * r - (w if dx < 0 else w / 2 if dx == 0 else 0)
                y0 = py + dy * r - (h if dy < 0 else h / 2 if dy == 0 else 0)
                overlap = _overlap((x0, y0, x0 + w, y0 + h), boxes[:n_boxes])
                if overlap < best_overlap:
                    best, best_overlap = (x0, y0), overlap
                if overlap == 0:
                    break
            if best_overlap == 0:
                break
        placed[i] = best
        boxes[n_boxes] = (best[0], best[1], best[0] + w, best[1] + h)
        n_boxes += 1
    return placed


def _overlap(box, boxes: np.ndarray) -> float:
    """Total area of ``box`` shared with the rows (x0, y0, x1, y1) of ``boxes``."""
    if boxes.shape[0] == 0:
        return 0.0
    w = np.minimum(box[2], boxes[:, 2]) - np.maximum(box[0], boxes[:, 0])
    h = np.minimum(box[3], boxes[:, 3]) - np.maximum(box[1], boxes[:, 1])
    return float(np.sum(np.clip(w, 0, None) * np.clip(h, 0, None)))


def annotate_without_overlap(ax, xy, texts, *, fontsize: float = 7, others=None,
                             alpha: float = 0.85, marker_radius: float = 1.5) -> list:
    """Write ``texts`` next to the data points ``xy`` of ``ax`` with no two labels overlapping.

    Call it once the axes are laid out (after ``tight_layout``); a label moved away from its
    point gets a thin line to it.

    Parameters
    ----------
    ax : matplotlib Axes
    xy : array of shape (n, 2)
        Data coordinates of the labelled points.
    texts : sequence of str
        One label per point, the most important first.
    fontsize : float, default 7
    others : array of shape (m, 2), optional
        Data coordinates of other markers labels should not cover.
    alpha : float, default 0.85
    marker_radius : float, default 1.5
        Half-width of the markers of ``others``, in points.

    Returns
    -------
    list of matplotlib Annotation

    Examples
    --------
    >>> from matplotlib.figure import Figure
    >>> ax = Figure().add_subplot()
    >>> _ = ax.scatter([0, 0.01], [0, 0])
    >>> len(annotate_without_overlap(ax, [[0, 0], [0.01, 0]], ["alpha", "beta"]))
    2
    """
    from matplotlib.textpath import TextPath

    xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
    if xy.shape[0] == 0:
        return []
    to_points = 72.0 / ax.figure.dpi
    pts = ax.transData.transform(xy) * to_points
    other_pts = None if others is None else \
        ax.transData.transform(np.asarray(others, dtype=np.float64).reshape(-1, 2)) * to_points
    sizes = []
    for t in texts:
        ext = TextPath((0, 0), t, size=fontsize).get_extents()
        sizes.append((ext.width + 2.0, fontsize * 1.25))
    corners = place_labels(pts, sizes, others=other_pts, marker_radius=marker_radius)
    out = []
    for (x, y), (cx, cy), t in zip(xy, corners - pts, texts):
        far = np.hypot(cx, cy) > 12
        out.append(ax.annotate(
            t, (x, y), xytext=(cx + 1.0, cy + 0.2 * fontsize), textcoords="offset points",
            ha="left", va="bottom", fontsize=fontsize, alpha=alpha,
            arrowprops={"arrowstyle": "-", "lw": 0.4, "color": "0.5", "shrinkA": 0,
                        "shrinkB": 2} if far else None))
    return out
