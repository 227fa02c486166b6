"""2-D projections against NumPy's SVD, and PNG pictures written atomically."""

from __future__ import annotations

import numpy as np
import pytest

from compactemb.exceptions import InputError
from compactemb.keyed import KeyedVectors
from compactemb.plots import pca_2d, plot_keyed, plot_projection, project_2d
from compactemb.tables import DenseTable
from compactemb.vocab import Vocab

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_pca_matches_svd_up_to_sign():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 6)) * np.array([5.0, 3.0, 1.0, 0.5, 0.2, 0.1])
    x = x @ np.linalg.qr(rng.normal(size=(6, 6)))[0]
    got = pca_2d(x)
    xc = x - x.mean(axis=0)
    u, s, _ = np.linalg.svd(xc, full_matrices=False)
    ref = u[:, :2] * s[:2]
    for j in range(2):
        sign = np.sign(got[:, j] @ ref[:, j])
        np.testing.assert_allclose(got[:, j], sign * ref[:, j], rtol=1e-6, atol=1e-8)
    # the variance kept is the top two singular values squared
    np.testing.assert_allclose((got ** 2).sum(axis=0), s[:2] ** 2, rtol=1e-8)


def test_plot_projection_writes_png(tmp_path):
    pytest.importorskip("matplotlib")
    rng = np.random.default_rng(1)
    x = rng.normal(size=(50, 4)).astype(np.float32)
    out = tmp_path / "p.png"
    info = plot_projection(DenseTable(x), out, colors=["a"] * 25 + ["b"] * 25,
                           names=[f"k{i}" for i in range(50)], annotate=5)
    assert out.read_bytes()[:8] == PNG_MAGIC and info["groups"] == 2 and info["points"] == 50
    assert [p.name for p in tmp_path.iterdir()] == ["p.png"]  # no temporary file left


def test_plot_keyed_by_cluster_and_labels(tmp_path):
    pytest.importorskip("matplotlib")
    rng = np.random.default_rng(2)
    keys = [f"w{i}" for i in range(40)]
    kv = KeyedVectors(Vocab(keys), DenseTable(rng.normal(size=(40, 5))))
    info = plot_keyed(kv, tmp_path / "c.png", k=3)
    assert info["groups"] == 3
    info = plot_keyed(kv, tmp_path / "l.png", keys=keys[:10], labels={"w1": "x", "w2": "y"})
    assert info["groups"] == 3 and info["points"] == 10  # x, y and "(none)"


def test_bad_input(tmp_path):
    with pytest.raises(InputError, match="projection method"):
        project_2d(np.zeros((5, 3)), method="tsne")
    with pytest.raises(InputError, match="at least 2 points"):
        pca_2d(np.zeros((1, 3)))
    with pytest.raises(InputError, match="3 colours for 4 points"):
        plot_projection(np.eye(4), tmp_path / "x.png", colors=[1, 2, 3])
    with pytest.raises(InputError, match="does not exist"):
        plot_projection(np.eye(4), tmp_path / "missing" / "x.png")


def test_umap_projection():
    pytest.importorskip("umap")
    x = np.random.default_rng(3).normal(size=(60, 8))
    assert project_2d(x, method="umap").shape == (60, 2)


def _overlaps(boxes):
    """Pairs of (x0, y0, x1, y1) boxes that share area, by brute force."""
    return [(i, j) for i in range(len(boxes)) for j in range(i + 1, len(boxes))
            if min(boxes[i][2], boxes[j][2]) - max(boxes[i][0], boxes[j][0]) > 1e-9
            and min(boxes[i][3], boxes[j][3]) - max(boxes[i][1], boxes[j][1]) > 1e-9]


def test_place_labels_never_overlap():
    from compactemb.plots import place_labels

    rng = np.random.default_rng(0)
    pts = rng.normal(scale=15, size=(25, 2))  # crowded: 25 labels in about 60 x 60 points
    sizes = np.column_stack([rng.uniform(15, 60, 25), np.full(25, 9.0)])
    corners = place_labels(pts, sizes)
    boxes = [(x, y, x + w, y + h) for (x, y), (w, h) in zip(corners, sizes)]
    assert _overlaps(boxes) == []
    # each box touches the ring of tried distances around its own point (never far away)
    centre_dist = np.hypot(*(corners + sizes / 2 - pts).T)
    assert centre_dist.max() < 120 + np.hypot(*sizes.max(axis=0))


def test_annotated_scatter_labels_do_not_overlap_when_drawn():
    pytest.importorskip("matplotlib")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.text import Text

    from compactemb.plots import annotate_without_overlap

    fig = Figure(figsize=(4, 3))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    xy = np.random.default_rng(1).normal(size=(20, 2)) * 0.05  # all in one clump
    ax.scatter(xy[:, 0], xy[:, 1])
    ax.set_xlim(-1, 1)
    ax.set_ylim(-1, 1)
    texts = annotate_without_overlap(ax, xy, [f"label{i}" for i in range(20)])
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    # the text alone (an Annotation's own extent includes its leader line)
    boxes = [tuple(Text.get_window_extent(t, renderer).extents) for t in texts]
    assert len(boxes) == 20 and _overlaps(boxes) == []


def test_spread_apart_keeps_the_gap_and_the_centre():
    from compactemb.plots import spread_apart

    v = np.array([5.0, 5.0, 5.0, 40.0, 6.0, -30.0])
    out = spread_apart(v, 4.0)
    s = np.sort(out)
    assert np.all(np.diff(s) >= 4.0 - 1e-9)
    np.testing.assert_allclose(out[[3, 5]], [40.0, -30.0])  # lone values stay put
    np.testing.assert_allclose(out[[0, 1, 2, 4]].mean(), v[[0, 1, 2, 4]].mean())
    assert list(np.argsort(out, kind="stable")) == list(np.argsort(v, kind="stable"))
