"""The memory-vs-quality frontier: compress with a grid of methods, evaluate each, keep the front.

``frontier(obj, evaluator, grid)`` compresses ``obj`` (keyed vectors or a factor model) with every
``(method, options)`` of the grid, measures the bytes of its tables and evaluates it with the
evaluation of its kind:

* words: analogy accuracy and similarity Spearman (:func:`word_evaluator`);
* recommenders: ndcg@k, precision@k ... on held-out interactions (:func:`ranking_evaluator`).

A point is on the Pareto front when no point with fewer (or equal) bytes has higher quality.
``write_frontier`` writes ``frontier.json``, ``frontier.md`` and ``frontier.png``.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable

import numpy as np

from ._progress import progress
from .compress import compress, default_subvectors
from .exceptions import InputError

# -- grids ---------------------------------------------------------------------------------------

def _divisor_near(dim: int, target: float) -> int:
    divs = [m for m in range(1, dim + 1) if dim % m == 0]
    return min(divs, key=lambda m: (abs(m - target), m))


def default_grid(dim: int, n_rows: int, *, factors: bool = False) -> list[tuple[str, dict]]:
    """fp16, int8, int4, low rank, PQ at 4 sizes (one with OPQ), prune combinations, mixed.

    Small tables get smaller PQ codebooks (K = 16 or 64 centroids), whose bytes would otherwise
    dominate; factor models also get int4 users with pruned int4 items.

    Parameters
    ----------
    dim : int
        The vectors' dimension.
    n_rows : int
        The number of rows (all tables together).
    factors : bool
        Add the settings that only factor models have.

    Returns
    -------
    list of (str, dict)
        (method, options) per setting, as :func:`compactemb.compress.compress` takes them.
    """
    grid: list[tuple[str, dict]] = [("fp16", {}), ("int8", {}), ("int4", {}),
                                    ("svd", {"rank": max(1, dim // 2)}),
                                    ("svd", {"rank": max(1, dim // 4)})]
    k = 256 if n_rows >= 64 * 256 else 64 if n_rows >= 64 * 64 else 16
    if n_rows >= k:
        pq = {} if k == 256 else {"n_centroids": k}
        ms = sorted({default_subvectors(dim), _divisor_near(dim, dim / 10),
                     _divisor_near(dim, dim / 20), _divisor_near(dim, dim / 30)}, reverse=True)
        grid += [("pq", {"n_subvectors": m, **pq}) for m in ms]
        grid.append(("pq", {"n_subvectors": _divisor_near(dim, dim / 20), "rotation": True,
                            **pq}))
        keep = max(k, n_rows // 2)
        if keep < n_rows and not factors:
            grid += [("prune+int4", {"keep": keep}),
                     ("prune+pq", {"keep": keep, "n_subvectors": _divisor_near(dim, dim / 10),
                                   **pq}),
                     ("prune+pq", {"keep": keep, "n_subvectors": _divisor_near(dim, dim / 20),
                                   **pq})]
    if factors:
        grid += [("int4", {"item_method": "prune+int4", "keep": f}) for f in (0.75, 0.5)]
    if n_rows >= 16:
        grid.append(("mixed", {"n_blocks": 4, "shrink": 2.0}))
    return grid


def subword_grid(table) -> list[tuple[str, dict]]:
    """Settings for a subword table (the default grid of :func:`frontier` over one).

    Value steps on every row, and n-gram buckets pruned by norm (``keep``), rare words dropped
    to their n-grams (``keep_words``), then int8/int4/PQ.

    Parameters
    ----------
    table : SubwordTable
        The table to compress.

    Returns
    -------
    list of (str, dict)
        (method, options) per setting, as :func:`compactemb.compress.compress` takes them.
    """
    dim, n_words, n_ngrams = table.dim, table.n_rows, table.n_ngram_rows
    grid: list[tuple[str, dict]] = [("fp16", {}), ("int8", {}), ("int4", {})]
    m_half, m_quarter = _divisor_near(dim, dim / 2), _divisor_near(dim, dim / 4)
    for keep, keep_words, method, m in [(None, None, "pq", m_half),
                                        (0.1, None, "pruned+int8", None),
                                        (0.05, None, "pruned+int4", None),
                                        (0.05, None, "pruned+pq", m_half),
                                        (0.025, 0.5, "pruned+pq", m_half),
                                        (0.025, 0.5, "pruned+pq", m_quarter)]:
        opts: dict = {}
        if keep is not None:
            opts["keep"] = max(1, int(round(keep * n_ngrams)))
        if keep_words is not None:
            opts["keep_words"] = max(1, int(round(keep_words * n_words)))
        if m is not None:
            rows = opts.get("keep_words", n_words) + opts.get("keep", n_ngrams)
            k = 256 if rows >= 64 * 256 else 64 if rows >= 64 * 64 else 16
            if rows < k:
                continue
            opts.update({"n_subvectors": m, **({} if k == 256 else {"n_centroids": k})})
        grid.append((method, opts))
    return grid


def parse_grid_entry(spec: str) -> tuple[str, dict]:
    """Parse one ``--grid`` entry into a method and its options.

    Parameters
    ----------
    spec : str
        ``method[:name=value,...]``; values are read as booleans, integers, floats or strings.

    Returns
    -------
    (str, dict)
        The method and its options.

    Raises
    ------
    InputError
        For an option that is not ``name=value``.

    Examples
    --------
    >>> parse_grid_entry("pq:n_subvectors=30,rotation=true")
    ('pq', {'n_subvectors': 30, 'rotation': True})
    """
    method, _, rest = spec.partition(":")
    opts: dict = {}
    for item in filter(None, (p.strip() for p in rest.split(","))):
        key, eq, val = item.partition("=")
        if not eq:
            raise InputError(f"grid entry {spec!r}: option {item!r} must be name=value")
        opts[key.strip().replace("-", "_")] = _parse_value(val.strip())
    return method.strip(), opts


def _parse_value(v: str):
    low = v.lower()
    if low in ("true", "yes"):
        return True
    if low in ("false", "no"):
        return False
    for cast in (int, float):
        try:
            return cast(v)
        except ValueError:
            pass
    return v


def label_of(method: str, options: dict) -> str:
    """A short label of one setting for tables and plots.

    Parameters
    ----------
    method : str
        The compression method.
    options : dict
        Its options (seeds and sample sizes are left out of the label).

    Returns
    -------
    str
        For example ``"pq (M=16, opq=True)"``.
    """
    short = {"n_subvectors": "M", "rotation": "opq", "normalize": "unit", "rank": "r",
             "keep": "keep", "keep_words": "words", "n_blocks": "blocks", "shrink": "shrink",
             "n_centroids": "K", "bits": "bits"}
    parts = [f"{short.get(k, k)}={v}" for k, v in options.items()
             if k not in ("seed", "sample", "n_iter")]
    return method + (f" ({', '.join(parts)})" if parts else "")


# -- evaluators ---------------------------------------------------------------------------------

def word_evaluator(*, analogies=None, similarity=(), restrict: int | None = 30000,
                   method: str = "add") -> tuple[Callable, str]:
    """An evaluator for keyed vectors and the name of its primary metric.

    Metrics: ``analogy`` (accuracy, 3CosAdd or 3CosMul over the ``restrict`` most frequent
    keys) and ``spearman:<file>`` per similarity file; the primary metric is the analogy
    accuracy when analogies are given, else the mean Spearman.

    Parameters
    ----------
    analogies : str, os.PathLike or None
        An analogy file (see :func:`compactemb.evaluation.read_analogies`).
    similarity : sequence of str or os.PathLike
        Word-similarity files.
    restrict : int or None
        Answer analogies among the ``restrict`` most frequent keys only.
    method : {"add", "mul"}
        3CosAdd or 3CosMul.

    Returns
    -------
    (callable, str)
        ``evaluate(kv) -> dict`` of metrics, and the primary metric's name.

    Raises
    ------
    InputError
        When neither analogies nor similarity files are given.
    """
    from .evaluation import evaluate_analogies, evaluate_similarity, read_analogies, read_similarity

    if analogies is None and not similarity:
        raise InputError("word evaluation needs --analogies and/or --similarity files")
    questions = read_analogies(analogies) if analogies is not None else None
    sims = {os.path.basename(str(p)): read_similarity(p) for p in similarity}

    def evaluate(kv) -> dict:
        out: dict = {}
        if questions is not None:
            r = evaluate_analogies(kv, questions, method=method, restrict=restrict)
            out["analogy"] = r.accuracy
            out["analogy_coverage"] = r.coverage
        for name, pairs in sims.items():
            out[f"spearman:{name}"] = evaluate_similarity(kv, pairs).spearman
        if sims:
            vals = [v for k, v in out.items() if k.startswith("spearman:") and v is not None]
            out["spearman_mean"] = float(np.mean(vals)) if vals else None
        return out

    return evaluate, ("analogy" if questions is not None else "spearman_mean")


def ranking_evaluator(test, *, k: int = 10) -> tuple[Callable, str]:
    """An evaluator for factor models on a held-out users x items matrix (model row order).

    Metrics: ndcg@k, precision@k, recall@k, map@k and auc from ``evaluation.ranking_metrics``,
    seen (training) items excluded.

    Parameters
    ----------
    test : scipy.sparse matrix
        The held-out users x items matrix, in the model's row and column order.
    k : int
        The cutoff of the ranking metrics.

    Returns
    -------
    (callable, str)
        ``evaluate(model) -> dict`` of metrics, and the primary metric's name.
    """
    from .evaluation._ranking import ranking_metrics

    def evaluate(model) -> dict:
        out = ranking_metrics(model, test, k=k)
        return {key: v for key, v in out.items() if key not in ("users", "k")}

    return evaluate, f"ndcg@{k}"


# -- the frontier -------------------------------------------------------------------------------

def table_bytes(obj) -> int:
    """Bytes of the embedding tables of keyed vectors, a factor model or a table (measured).

    Parameters
    ----------
    obj : KeyedVectors, FactorModel or EmbeddingTable
        What to measure.

    Returns
    -------
    int
        The tables' ``nbytes`` (user and item tables together for a factor model).
    """
    if hasattr(obj, "user_table"):
        return int(obj.user_table.nbytes + obj.item_table.nbytes)
    if hasattr(obj, "table"):
        return int(obj.table.nbytes)
    return int(obj.nbytes)


def _shape(obj) -> tuple[int, int]:
    if hasattr(obj, "user_table"):
        return obj.user_table.n_rows + obj.item_table.n_rows, obj.user_table.dim
    t = obj.table if hasattr(obj, "table") else obj
    return t.n_rows, t.dim


def pareto_front(points: list[tuple[float, float]]) -> list[bool]:
    """Mark the Pareto-optimal (bytes, quality) points.

    A point is on the front when no other point is at most as large and better (ties in bytes
    keep the best quality only).

    Parameters
    ----------
    points : list of (float, float)
        (bytes, quality) per setting.

    Returns
    -------
    list of bool
        True for each point on the front.

    Examples
    --------
    >>> pareto_front([(10, 0.5), (20, 0.4), (30, 0.9)])
    [True, False, True]
    """
    order = sorted(range(len(points)), key=lambda i: (points[i][0], -points[i][1]))
    best = -np.inf
    on = [False] * len(points)
    for i in order:
        q = points[i][1]
        if q is not None and q > best:
            on[i] = True
            best = q
    return on


def frontier(obj, evaluator: Callable, primary: str, *, grid=None,
             baseline: str = "float32") -> dict:
    """Compress ``obj`` with every grid entry, evaluate, mark the Pareto front.

    Parameters
    ----------
    obj : KeyedVectors or FactorModel
        The float32 model to compress.
    evaluator : callable
        ``evaluator(obj) -> dict`` of metrics (see :func:`word_evaluator`,
        :func:`ranking_evaluator`).
    primary : str
        The metric the front is drawn on.
    grid : iterable of (str, dict) or None
        (method, options) settings; None takes :func:`default_grid`.
    baseline : str
        The label of the uncompressed row.

    Returns
    -------
    dict
        JSON-able: ``rows`` (one per setting, the float32 baseline first) with ``label``,
        ``method``, ``options``, ``bytes``, ``ratio`` (baseline bytes / bytes), the metrics,
        ``relative`` (primary / baseline primary), ``pareto`` and ``seconds``.
    """
    n_rows, dim = _shape(obj)
    from .tables import SubwordTable

    if grid is None and isinstance(getattr(obj, "table", None), SubwordTable):
        grid = subword_grid(obj.table)
    grid = default_grid(dim, n_rows, factors=hasattr(obj, "user_table")) if grid is None \
        else list(grid)
    rows = []
    base_bytes = table_bytes(obj)
    t0 = time.perf_counter()
    base_metrics = evaluator(obj)
    rows.append({"label": baseline, "method": "none", "options": {}, "bytes": base_bytes,
                 **base_metrics, "seconds": round(time.perf_counter() - t0, 3)})
    with progress(total=len(grid), desc="frontier") as bar:
        for method, options in grid:
            t0 = time.perf_counter()
            small = compress(obj, method, **options)
            t1 = time.perf_counter()
            metrics = evaluator(small)
            rows.append({"label": label_of(method, options), "method": method,
                         "options": dict(options), "bytes": table_bytes(small), **metrics,
                         "compress_seconds": round(t1 - t0, 3),
                         "seconds": round(time.perf_counter() - t0, 3)})
            bar.update()
    base_q = rows[0].get(primary)
    for r in rows:
        r["ratio"] = round(base_bytes / r["bytes"], 3) if r["bytes"] else None
        q = r.get(primary)
        r["relative"] = round(q / base_q, 4) if q is not None and base_q else None
    # a setting without the primary metric is never on the front
    on = pareto_front([(r["bytes"], -np.inf if r.get(primary) is None else float(r[primary]))
                       for r in rows])
    for r, p in zip(rows, on):
        r["pareto"] = bool(p)
    return {"primary": primary, "n_rows": n_rows, "dim": dim, "baseline_bytes": base_bytes,
            "rows": rows}


def frontier_markdown(result: dict) -> str:
    """A Markdown table of a frontier result.

    Parameters
    ----------
    result : dict
        What :func:`frontier` returns.

    Returns
    -------
    str
        One row per setting.
    """
    rows = result["rows"]
    metric_keys = [k for k in rows[0] if k not in (
        "label", "method", "options", "bytes", "seconds", "compress_seconds", "ratio",
        "relative", "pareto", "test_users", "analogy_coverage")]
    head = ["setting", "bytes", "B/row", "ratio"] + metric_keys + [
        f"relative {result['primary']}", "Pareto"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [r["label"], f"{r['bytes']:,}", f"{r['bytes'] / result['n_rows']:.1f}",
                 f"{r['ratio']:.1f}x"]
        for k in metric_keys:
            v = r.get(k)
            cells.append("-" if v is None else f"{v:.4f}")
        cells.append("-" if r["relative"] is None else f"{100 * r['relative']:.1f}%")
        cells.append("*" if r["pareto"] else "")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot_frontier(result: dict, path) -> None:
    """PNG of bytes (log) against the primary metric, the Pareto front joined and labelled.

    Parameters
    ----------
    result : dict
        What :func:`frontier` returns.
    path : str or os.PathLike
        The PNG to write.

    Raises
    ------
    OptionalDependencyError
        Without matplotlib (``pip install 'compactemb[plot]'``).
    """
    from .plots import _agg_pyplot

    plt = _agg_pyplot()

    from .storage import atomic_write

    primary = result["primary"]
    rows = [r for r in result["rows"] if r.get(primary) is not None]
    fig, ax = plt.subplots(figsize=(8, 5.5))
    xs = [r["bytes"] for r in rows]
    ys = [r[primary] for r in rows]
    ax.scatter(xs, ys, c=["tab:red" if r["pareto"] else "tab:grey" for r in rows], zorder=3)
    front = sorted((r for r in rows if r["pareto"]), key=lambda r: r["bytes"])
    ax.step([r["bytes"] for r in front], [r[primary] for r in front], where="post",
            color="tab:red", lw=1.2, label="Pareto front")
    ax.set_xscale("log")
    ax.set_xlabel("bytes of the embedding tables (measured)")
    ax.set_ylabel(primary)
    ax.set_title(f"Memory vs quality ({result['n_rows']:,} rows x {result['dim']})")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    # every point named, the labels kept apart (the Pareto front's first)
    from .plots import annotate_without_overlap

    named = sorted(rows, key=lambda r: not r["pareto"])
    annotate_without_overlap(ax, [(r["bytes"], r[primary]) for r in named],
                             [r["label"] for r in named], fontsize=6.5,
                             others=list(zip(xs, ys)), marker_radius=3.0)  # scatter's s=36
    with atomic_write(path) as f:
        fig.savefig(f, format="png", dpi=120)
    plt.close(fig)


def write_frontier(result: dict, out_dir, *, plot: bool = True) -> dict:
    """Write frontier.json, frontier.md and (with matplotlib) frontier.png.

    Parameters
    ----------
    result : dict
        What :func:`frontier` returns.
    out_dir : str or os.PathLike
        The folder (created when missing).
    plot : bool
        Also draw frontier.png when matplotlib is installed.

    Returns
    -------
    dict
        The written paths by kind (``json``, ``markdown``, ``png``).
    """
    from .storage import atomic_write, write_json

    created = not os.path.isdir(out_dir)
    os.makedirs(out_dir, exist_ok=True)
    paths = {"json": os.path.join(out_dir, "frontier.json"),
             "markdown": os.path.join(out_dir, "frontier.md")}
    if plot:
        paths["png"] = os.path.join(out_dir, "frontier.png")
    written: list[str] = []
    try:
        write_json(paths["json"], result)
        written.append(paths["json"])
        with atomic_write(paths["markdown"], "w", encoding="utf-8") as f:
            f.write(frontier_markdown(result))
        written.append(paths["markdown"])
        if plot:
            plot_frontier(result, paths["png"])
    except BaseException:
        # all three files or none: a failed run leaves no half set (nor a folder it made)
        for path in written:
            with contextlib.suppress(OSError):
                os.unlink(path)
        if created:
            with contextlib.suppress(OSError):
                os.rmdir(out_dir)
        raise
    return paths
