"""Shrink on request: a guided search over the compression methods.

It finds the smallest compression within a quality budget, or the best quality within a size budget.

:func:`shrink` does not try a blind grid. Every method *family* has at most one size knob
(``keep`` of ``pruned+<method>``, ``n_subvectors`` of ``pq``) whose bytes are known by arithmetic
before anything is built, and quality grows with bytes within a family. So:

* with ``max_bytes``, each family is set by bisection on its knob to the largest size within the
  budget, built, measured and evaluated once; the best quality wins;
* with ``min_quality``, the fixed-size methods are tried from the smallest up until one meets the
  quality (an upper bound on the answer), then each knob family is bisected on its knob, over
  sizes below the best so far only, for the smallest size that still meets the quality; a family
  whose largest useful size already misses the quality is dropped after one evaluation.

Families: float16, int8, int4, 2-bit and 1-bit (also with a random rotation; factor models also
with a float16 scale a row, as dot-product scores need row lengths), pq, ``pruned+<method>`` and
``tiered+<method>`` (every dropped row its own 1-bit codes; not for classifiers, whose rows are
not in frequency order), all built by :func:`compactemb.compress.compress`.

Quality is the mean, over the evaluator's metrics, of candidate / original (1.0 = as good as
the input). The default evaluator needs no labels: neighbour recall@10 against the input table
for a sample of the keys (word vectors and tables: of the 50,000 most frequent), or recall of
the top-10 items of a sample of users (factor models). Others: :func:`word_evaluator`
(analogies, similarity files), :func:`ranking_evaluator` (held-out interactions, ndcg@10),
:func:`accuracy_evaluator` (labelled test texts, classifiers).

Sizes are the bytes of the embedding tables (``nbytes``, as ``compress`` and ``frontier``
report them); ``"32x"`` means a 32nd of the tables in float32.
"""

from __future__ import annotations

import math
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .exceptions import InputError

__all__ = ["shrink", "ShrinkResult", "parse_size", "neighbour_recall", "word_evaluator",
           "ranking_evaluator", "accuracy_evaluator"]

_UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
          "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40, "k": 10**3, "m": 10**6,
          "g": 10**9}
LOWBIT = ("bit1", "bit2")
_MIN_KEEP = 0.01  # a pruned family never keeps fewer than 1% of the rows


def parse_size(spec, float32_bytes: int | None = None) -> int:
    """A size budget in bytes: ``5MB``, ``300KiB``, ``123456`` or ``32x`` (of float32).

    Parameters
    ----------
    spec : str or int
        Bytes (decimal ``kB``/``MB``/``GB`` or binary ``KiB``/``MiB``/``GiB`` units, case
        ignored) or a ratio ``<r>x`` against the float32 size.
    float32_bytes : int, optional
        The float32 size the ratio refers to (needed for ``<r>x``).

    Returns
    -------
    int
        The budget in bytes (rounded down).

    Raises
    ------
    InputError
        On an unreadable size, a ratio below 1 or a non-positive size.

    Examples
    --------
    >>> parse_size("5MB"), parse_size("300KiB"), parse_size("32x", 3200)
    (5000000, 307200, 100)
    """
    if isinstance(spec, (int, np.integer)) and not isinstance(spec, bool):
        if spec <= 0:
            raise InputError(f"a size budget must be positive, got {spec}")
        return int(spec)
    text = str(spec).strip().replace(" ", "").replace("_", "")
    m = re.fullmatch(r"(\d+(?:\.\d*)?|\.\d+)(x|[a-zA-Z]*)", text)
    if not m or (m.group(2).lower() not in _UNITS and m.group(2).lower() != "x"):
        raise InputError(f"size {spec!r}: give bytes (e.g. 5MB, 300KiB, 123456) or a ratio "
                         f"against float32 (e.g. 32x)")
    value, unit = float(m.group(1)), m.group(2).lower()
    if unit == "x":
        if value < 1:
            raise InputError(f"size {spec!r}: a ratio must be at least 1x")
        if float32_bytes is None:
            raise InputError(f"size {spec!r}: a ratio needs the float32 size of the tables")
        return int(float32_bytes / value)
    size = int(value * _UNITS[unit])
    if size <= 0:
        raise InputError(f"size {spec!r} must be positive")
    return size


# -- what an object holds -------------------------------------------------------------------------

def _kind(obj) -> str:
    from .keyed import KeyedVectors
    from .recommend import FactorModel
    from .tables import EmbeddingTable

    if isinstance(obj, KeyedVectors):
        return "vectors"
    if isinstance(obj, FactorModel):
        return "factors"
    if isinstance(obj, EmbeddingTable):
        return "table"
    if type(obj).__name__ == "TextClassifier":
        return "classifier"
    raise InputError(f"cannot shrink a {type(obj).__name__}: give a table, keyed vectors, a "
                     "factor model or a classifier")


def _tables(obj) -> list:
    kind = _kind(obj)
    if kind == "vectors":
        return [obj.table]
    if kind == "factors":
        return [obj.user_table, obj.item_table]
    if kind == "classifier":
        return [obj.table_]
    return [obj]


def table_bytes(obj) -> int:
    """Bytes of the embedding tables of any shrinkable object (measured)."""
    return int(sum(t.nbytes for t in _tables(obj)))


def float32_bytes(obj) -> int:
    """Bytes the object's tables take in float32."""
    return int(sum(4 * t.n_rows * t.dim for t in _tables(obj)))


def _frequency_ordered(obj) -> bool:
    kind = _kind(obj)
    vocabs = {"vectors": lambda: [obj.vocab], "factors": lambda: [obj.user_vocab,
                                                                   obj.item_vocab]}
    if kind not in vocabs:
        return True  # tables: rows are taken as they are; classifiers prune by score
    for v in vocabs[kind]():
        counts = np.asarray(v.counts)
        if counts.size > 1 and np.any(np.diff(counts) > 0):
            return False
    return True


# -- evaluators -----------------------------------------------------------------------------------

def neighbour_recall(reference, *, k: int = 10, n_queries: int = 1000, pool: int = 50000,
                     random_state=0) -> Callable:
    """Label-free quality: how many of each query's ``k`` nearest rows a candidate keeps.

    Parameters
    ----------
    reference : KeyedVectors, EmbeddingTable or FactorModel
        The uncompressed object; its neighbours are the truth.
    k : int, default 10
        Neighbours compared (recall@k).
    n_queries : int, default 1000
        Keys sampled (without replacement) from the ``pool`` most frequent rows (the first
        rows); factor models: users sampled from all users, their top-k items by dot product.
    pool : int, default 50000
        How many of the most frequent rows the queries come from. (Was 20,000: on skip-gram
        d=100, 42,843 words, queries from all rows ranked shrink's 32x candidates like the
        similarity sets do, rank correlation 0.90 against 0.74, and picked their best
        candidate, 0.967 against 0.928 relative Spearman; notes/issue-15-shrink.md.)
    random_state : int, default 0
        Seed of the sample.

    Returns
    -------
    callable
        ``evaluate(candidate) -> {"recall@k": value}``, 1.0 for the reference itself; the
        callable has ``relative = True`` (no division by the reference's value needed).

    Raises
    ------
    InputError
        For a classifier (evaluate those on a labelled test file) or ``k < 1``.

    Examples
    --------
    >>> from compactemb.tables import DenseTable
    >>> t = DenseTable(np.random.default_rng(0).standard_normal((200, 8)))
    >>> neighbour_recall(t, n_queries=20)(t)
    {'recall@10': 1.0}
    """
    from .search import search

    kind = _kind(reference)
    if kind == "classifier":
        raise InputError("a classifier has no label-free quality measure here: evaluate it on "
                         "a labelled test file (--test FILE)")
    if k < 1:
        raise InputError(f"k must be >= 1, got {k}")
    rng = np.random.default_rng(random_state)

    if kind == "factors":
        n = reference.user_table.n_rows
        users = np.sort(rng.choice(n, min(n_queries, n), replace=False))

        def neighbours(obj):
            return search(obj.item_table, obj.user_table.lookup(users), k=k, metric="dot").ids
    else:
        def table_of(obj):
            return obj.table if _kind(obj) == "vectors" else obj

        n = table_of(reference).n_rows
        top = min(n, pool)
        rows = np.sort(rng.choice(top, min(n_queries, top), replace=False))

        def neighbours(obj):
            t = table_of(obj)
            return search(t, t.lookup(rows), k=k, exclude=[[r] for r in rows]).ids

    truth = neighbours(reference)

    def evaluate(obj) -> dict:
        got = neighbours(obj)
        hits = [len(set(a[a >= 0]) & set(b[b >= 0])) / max(1, int((b >= 0).sum()))
                for a, b in zip(got, truth)]
        return {f"recall@{k}": float(np.mean(hits)) if hits else 1.0}

    evaluate.relative = True  # type: ignore[attr-defined]
    evaluate.metric = f"recall@{k}"  # type: ignore[attr-defined]
    return evaluate


def word_evaluator(*, analogies=None, similarity=(), restrict: int | None = 30000) -> Callable:
    """Quality of word vectors on analogy and similarity files.

    Parameters
    ----------
    analogies : path, optional
        Analogy questions (``questions-words.txt`` format), 3CosAdd over ``restrict`` keys.
    similarity : sequence of paths
        Word-pair similarity files; one Spearman metric each.
    restrict : int or None, default 30000
        Analogies search the most frequent ``restrict`` keys.

    Returns
    -------
    callable
        ``evaluate(kv) -> {"analogy": accuracy, "spearman:<file>": rho, ...}``.

    Raises
    ------
    InputError
        When no file is given.

    Examples
    --------
    >>> word_evaluator()  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    InputError: word evaluation needs analogies and/or similarity files
    """
    import os

    from .evaluation import (
        evaluate_analogies,
        evaluate_similarity,
        read_analogies,
        read_similarity,
    )

    if analogies is None and not similarity:
        raise InputError("word evaluation needs analogies and/or similarity files")
    questions = read_analogies(analogies) if analogies is not None else None
    sims = {os.path.basename(str(p)): read_similarity(p) for p in similarity}

    def evaluate(kv) -> dict:
        out: dict = {}
        if questions is not None:
            out["analogy"] = evaluate_analogies(kv, questions, restrict=restrict).accuracy
        for name, pairs in sims.items():
            out[f"spearman:{name}"] = evaluate_similarity(kv, pairs).spearman
        return out

    evaluate.metric = (  # type: ignore[attr-defined]
        "analogy+similarity" if questions is not None and sims
        else "analogy" if questions is not None else "spearman")
    return evaluate


def ranking_evaluator(test, *, k: int = 10) -> Callable:
    """The ndcg@k of a factor model on held-out interactions.

    The held-out matrix is users x items in the model's order; training items are excluded.

    Parameters
    ----------
    test : scipy.sparse matrix (n_users, n_items)
        Held-out interactions.
    k : int, default 10
        Cut-off.

    Returns
    -------
    callable
        ``evaluate(model) -> {"ndcg@k": value}``.

    Examples
    --------
    >>> import scipy.sparse as sp
    >>> ranking_evaluator(sp.csr_matrix((2, 3))).metric
    'ndcg@10'
    """
    from .evaluation._ranking import ranking_metrics

    def evaluate(model) -> dict:
        return {f"ndcg@{k}": ranking_metrics(model, test, k=k)[f"ndcg@{k}"]}

    evaluate.metric = f"ndcg@{k}"  # type: ignore[attr-defined]
    return evaluate


def accuracy_evaluator(texts, labels) -> Callable:
    """Accuracy of a classifier on labelled test texts.

    Parameters
    ----------
    texts, labels : sequences
        The test set (as ``TextClassifier.evaluate`` takes it).

    Returns
    -------
    callable
        ``evaluate(classifier) -> {"accuracy": value}``.

    Examples
    --------
    >>> accuracy_evaluator(["a b"], ["x"]).metric
    'accuracy'
    """
    def evaluate(clf) -> dict:
        return {"accuracy": float(clf.evaluate(texts, labels)["accuracy"])}

    evaluate.metric = "accuracy"  # type: ignore[attr-defined]
    return evaluate


# -- candidates -----------------------------------------------------------------------------------

def _row_bytes(value: str, dim: int, opts: dict) -> float:
    """Bytes a row costs in a table of method ``value`` (its fixed part is in _fixed_bytes)."""
    from .tables import Bit1Table, Bit2Table

    if value == "float32":
        return 4 * dim
    if value == "float16":
        return 2 * dim
    if value == "int8":
        return dim + 8
    if value == "int4":
        return (dim + 1) // 2 + 4
    if value in LOWBIT:
        cls = Bit1Table if value == "bit1" else Bit2Table
        return cls.row_bytes(dim) + (2 if opts.get("scale", "dim") in ("row", "both") else 0)
    if value == "pq":
        return opts["n_subvectors"] + (2 if opts.get("normalize") else 0)
    if value == "pq4":  # two 4-bit codes a byte
        return (opts["n_subvectors"] + 1) // 2 + (2 if opts.get("normalize") else 0)
    if value == "rq":
        return opts["n_stages"] + (2 if opts.get("normalize") else 0)
    raise AssertionError(value)


def _fixed_bytes(value: str, dim: int, opts: dict) -> float:
    if value in LOWBIT:
        return (4 * (1 << (1 if value == "bit1" else 2))
                + 4 * dim * (opts.get("center", True) is not False)  # the mean
                + 4 * dim * (opts.get("scale", "dim") in ("dim", "both"))
                + (4 * dim * dim if opts.get("rotation") else 0))
    if value in ("pq", "pq4"):
        books = 16 if value == "pq4" else opts.get("n_centroids", 256)
        return 4 * books * dim + (4 * dim * dim if opts.get("rotation") else 0)
    if value == "rq":  # a full-width codebook per stage
        return 4 * opts["n_stages"] * opts.get("n_centroids", 256) * dim
    return 0


def _n_fallback(n: int, keep: int, classifier: bool) -> int:
    if classifier or keep >= n:
        return 0
    return min(n - keep, max(1, keep // 16))


def estimate_bytes(obj, method: str, options: dict) -> int:
    """Bytes the tables of ``obj`` would take compressed with ``method`` (arithmetic).

    Parameters
    ----------
    obj : object
        What :func:`shrink` takes.
    method : str
        ``<value>``, ``pruned+<value>`` or ``tiered+<value>``, value one of float32, float16,
        int8, int4, bit1, bit2, pq, pq4 (4-bit PQ), rq (``n_stages``, ``n_centroids``).
    options : dict
        ``keep`` (a count or fraction) for pruned and tiered, ``fallback``,
        ``tail_components``, ``tail_normalize``, ``n_subvectors`` for pq, low-bit options.

    Returns
    -------
    int
        Estimated bytes (the built object is measured afterwards).

    Examples
    --------
    >>> from compactemb.tables import DenseTable
    >>> estimate_bytes(DenseTable(np.zeros((1000, 64), np.float32)), "bit1", {})
    8520
    """
    from .compress import parse_method
    from .tables._tiered import default_tail_components

    steps = parse_method(method)
    split = steps[0] in ("pruned", "tiered")
    value = steps[1] if split and len(steps) > 1 else "float32" if split else steps[0]
    tiered = steps[0] == "tiered" or (steps[0] == "pruned" and options.get("fallback") == "lowbit")
    classifier = _kind(obj) == "classifier"
    if classifier and value in ("bit1", "bit2") and "scale" not in options:
        options = {**options, "scale": "row"}  # compress's default for classifiers
    total = 0.0
    for t in _tables(obj):
        n = t.n_rows
        given = options.get("keep", 0.25)
        if isinstance(given, float):
            keep = round(given * n) if tiered else max(1, round(given * n))
        else:
            keep = min(n, int(given))
        if tiered:
            kt = int(options.get("tail_components") or default_tail_components(t.dim))
            norms = 2 if options.get("tail_normalize", True) else 0
            total += (keep * _row_bytes(value, t.dim, options)
                      + _fixed_bytes(value, t.dim, options) * (keep > 0)
                      + (n - keep) * (-(-kt // 8) + norms)
                      + (8 + 4 * kt + 4 * t.dim + 4 * t.dim * kt) * (n > keep))
            continue
        if steps[0] == "pruned":
            if classifier or keep >= n:
                rows = keep
            elif options.get("fallback") == "shared":
                rows = keep + 1
            else:
                rows = keep + (options.get("n_fallback") or _n_fallback(n, keep, classifier))
        else:
            rows = n
        total += rows * _row_bytes(value, t.dim, options) + _fixed_bytes(value, t.dim, options)
    return int(total)


def _build(obj, method: str, options: dict):
    """Compress ``obj`` with ``method`` (compress() knows every family, tiered included)."""
    from .compress import compress

    return compress(obj, method, **options)


@dataclass
class _Family:
    method: str
    options: dict
    knob: str | None = None          # "keep" or "n_subvectors"
    values: list = field(default_factory=list)  # knob values, ascending size


@dataclass
class ShrinkResult:
    """What :func:`shrink` found.

    Attributes
    ----------
    obj : object
        The winner (or, when ``met`` is False, the closest candidate), with ``meta["shrink"]``.
    met : bool
        Whether the budget was met.
    bytes, ratio, quality, method, options, candidates_tried, seconds
        The winner's measured table bytes, float32 bytes / bytes, relative quality, method,
        options, number of candidates built and evaluated, and the search's wall time.
    metrics : dict
        The evaluator's metrics of the winner; ``baseline`` those of the input.
    candidates : list of dict
        Every candidate tried (method, options, bytes, quality).
    message : str
        One line saying what was found or why the budget cannot be met.
    """

    obj: Any
    met: bool
    bytes: int
    ratio: float
    quality: float
    method: str
    options: dict
    candidates_tried: int
    seconds: float
    metrics: dict
    baseline: dict
    candidates: list
    message: str

    def summary(self) -> dict:
        """The JSON-able summary (the ``--json`` keys of ``compactemb shrink``)."""
        return {"bytes": self.bytes, "ratio": round(self.ratio, 3),
                "quality": round(self.quality, 6), "method": self.method,
                "options": self.options, "candidates_tried": self.candidates_tried,
                "seconds": round(self.seconds, 3), "met": self.met, "metrics": self.metrics,
                "baseline": self.baseline, "message": self.message}


class _Search:
    def __init__(self, obj, evaluator, max_bytes, min_quality, verbose):
        self.obj, self.evaluator = obj, evaluator
        self.max_bytes, self.min_quality = max_bytes, min_quality
        self.relative = bool(getattr(evaluator, "relative", False))
        self.baseline = self._metrics(obj)
        self.tried: list[dict] = []
        self.built: dict = {}
        self.verbose = verbose

    def _metrics(self, obj) -> dict:
        out = self.evaluator(obj)
        if not isinstance(out, dict):
            out = {"quality": float(out)}
        return {k: (None if v is None else float(v)) for k, v in out.items()}

    def quality(self, metrics: dict) -> float:
        if self.relative:
            vals = [v for v in metrics.values() if v is not None]
        else:
            vals = [metrics[k] / b for k, b in self.baseline.items()
                    if b is not None and b > 0 and metrics.get(k) is not None]
        return float(np.mean(vals)) if vals else 0.0

    def evaluate(self, method: str, options: dict) -> dict:
        key = (method, tuple(sorted(options.items())))
        if key in self.built:
            return self.built[key]
        obj = _build(self.obj, method, options)
        size = table_bytes(obj)
        metrics = self._metrics(obj)
        cand = {"method": method, "options": dict(options), "bytes": size,
                "quality": self.quality(metrics), "metrics": metrics, "obj": obj}
        self.built[key] = cand
        self.tried.append(cand)
        if self.verbose:
            sys.stderr.write(f"shrink: {method} {_options_text(options)}: {size:,} B, "
                             f"quality {cand['quality']:.4f}\n")
        return cand

    def fits(self, cand) -> bool:
        ok = self.max_bytes is None or cand["bytes"] <= self.max_bytes
        return ok and (self.min_quality is None or cand["quality"] >= self.min_quality)


def _families(obj) -> tuple[list[_Family], list[_Family]]:
    """(fixed-size families, knob families) that apply to ``obj``."""
    from .compress import default_subvectors

    kind = _kind(obj)
    tables = _tables(obj)
    dim = tables[0].dim
    n_min = min(t.n_rows for t in tables)
    fixed = [_Family(m, {}) for m in ("float16", "int8", "int4", "bit2", "bit1")]
    if dim >= 16:  # a random rotation helps some vectors (d=300 1-bit: 0.90 -> 0.97)
        fixed += [_Family("bit2", {"rotation": True}), _Family("bit1", {"rotation": True})]
    # dot-product scores need each row's length (ALS: 2-bit 0.70 -> 0.90 of ndcg@10 with a
    # float16 scale a row; the classifier's bag sums: 1-/2-bit lose 8/3 points without one)
    row_scaled = kind in ("factors", "classifier")
    if row_scaled:
        fixed += [_Family("bit2", {"scale": "row"}), _Family("bit1", {"scale": "row"})]
    divisors = [m for m in range(1, dim + 1) if dim % m == 0 and m <= dim // 2]
    knobs = []
    if divisors and n_min >= 256:
        knobs.append(_Family("pq", {}, "n_subvectors", divisors))
        # OPQ (a learned rotation first) beat plain PQ at equal bytes on word vectors
        knobs.append(_Family("pq", {"rotation": True}, "n_subvectors", divisors))
        # residual quantisation, 32 centroids a stage (small codebooks: more stages a budget);
        # close to OPQ on word similarity at 32-100x (bench/results/pq.md, notes/issue-15-pq.md)
        knobs.append(_Family("rq", {"n_centroids": 32, "beam": 4, "refine_iter": 1}, "n_stages",
                             list(range(1, 17))))
    if _frequency_ordered(obj) and n_min >= 100:
        for value in ("int8", "int4", "bit2", "bit1"):  # classifiers: rows kept by score
            knobs.append(_Family(f"pruned+{value}", {}, "keep"))
        if row_scaled:
            knobs.append(_Family("pruned+bit2", {"scale": "row"}, "keep"))
        if n_min >= 2560:
            knobs.append(_Family("pruned+pq", {"n_subvectors": default_subvectors(dim)},
                                 "keep"))
        if kind != "classifier" and dim >= 16 and n_min >= 1000:
            # rare rows keep 1-bit codes of a few principal directions instead of a bucket
            # tails of a quarter of dim (whole bytes), with or without norms, or of 8 without
            # norms (1 B a row); a 1-bit head measured worse than these (notes/issue-15.md)
            quarter = max(8, dim // 32 * 8)
            for head, tail, norms in (("bit2", quarter, True), ("bit2", quarter, False),
                                      ("bit2", 8, False), ("int4", quarter, True)):
                knobs.append(_Family(f"tiered+{head}", {"tail_components": tail,
                                                        "tail_normalize": norms}, "keep"))
            if row_scaled:
                knobs.append(_Family("tiered+bit2", {"scale": "row", "tail_components": quarter,
                                                     "tail_normalize": True}, "keep"))
    return fixed, knobs


def _keep_range(obj, fam: _Family) -> tuple[int, int]:
    n = min(t.n_rows for t in _tables(obj))
    lo = max(1, math.ceil(_MIN_KEEP * n))
    if fam.method.endswith("pq"):
        lo = max(lo, 256)  # the codebooks train on the kept rows
    return min(lo, n - 1), n - 1


def _largest_within(obj, fam: _Family, budget: int):
    """The knob value of the largest estimated size <= budget, or None."""
    if fam.knob in ("n_subvectors", "n_stages"):
        fits = [m for m in fam.values
                if estimate_bytes(obj, fam.method, {**fam.options, fam.knob: m}) <= budget]
        return max(fits) if fits else None
    lo, hi = _keep_range(obj, fam)
    if estimate_bytes(obj, fam.method, {**fam.options, "keep": lo}) > budget:
        return None
    while lo < hi:  # bisect the largest keep that fits
        mid = (lo + hi + 1) // 2
        if estimate_bytes(obj, fam.method, {**fam.options, "keep": mid}) <= budget:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _for_bytes(search: _Search, fixed, knobs) -> None:
    budget = search.max_bytes
    for fam in fixed:
        if estimate_bytes(search.obj, fam.method, fam.options) <= budget:
            search.evaluate(fam.method, fam.options)
    # a fixed method already inside the budget makes its pruned family pointless
    inside = {c["method"] for c in search.tried if not c["options"]}
    for fam in knobs:
        if fam.method.startswith(("pruned+", "tiered+")) and fam.method.split("+")[1] in inside:
            continue
        value = _largest_within(search.obj, fam, budget)
        for _ in range(3):  # the estimate is close; shrink the knob if the build is over
            if value is None:
                break
            cand = search.evaluate(fam.method, {**fam.options, fam.knob: value})
            if cand["bytes"] <= budget:
                break
            value = _largest_within(search.obj, fam, int(budget * budget / cand["bytes"]) - 1)


def _for_quality(search: _Search, fixed, knobs) -> None:
    best_bytes = math.inf
    order = sorted(fixed, key=lambda f: estimate_bytes(search.obj, f.method, f.options))
    for fam in order:  # smallest first: the first that meets q bounds the answer
        if search.max_bytes is not None and \
                estimate_bytes(search.obj, fam.method, fam.options) > search.max_bytes:
            continue
        cand = search.evaluate(fam.method, fam.options)
        if search.fits(cand):
            best_bytes = cand["bytes"]
            break
    for fam in knobs:
        cap = best_bytes if search.max_bytes is None else min(best_bytes, search.max_bytes + 1)
        if fam.knob in ("n_subvectors", "n_stages"):
            vals = [m for m in fam.values if estimate_bytes(
                search.obj, fam.method, {**fam.options, fam.knob: m}) < cap]
            lo, hi = 0, len(vals) - 1
            found = None
            while lo <= hi:  # smallest index meeting q
                mid = (lo + hi) // 2
                cand = search.evaluate(fam.method, {**fam.options, fam.knob: vals[mid]})
                if search.fits(cand):
                    found, hi = cand, mid - 1
                else:
                    lo = mid + 1
        else:
            top = _largest_within(search.obj, fam, int(cap) - 1 if cap < math.inf else 1 << 62)
            if top is None:
                continue
            lo = _keep_range(search.obj, fam)[0]
            cand = search.evaluate(fam.method, {**fam.options, "keep": top})
            if not search.fits(cand):
                continue  # even its largest useful size misses the quality
            found, hi = cand, top
            while hi - lo > max(1, hi // 32):  # ~3% steps of the knob
                mid = (lo + hi) // 2
                cand = search.evaluate(fam.method, {**fam.options, "keep": mid})
                if search.fits(cand):
                    found, hi = cand, mid
                else:
                    lo = mid
        if found is not None:
            best_bytes = min(best_bytes, found["bytes"])


def shrink(obj, max_bytes=None, min_quality: float | None = None, evaluator=None, *,
           verbose: bool = False) -> ShrinkResult:
    """The best compression of ``obj`` for a size or quality budget (guided search).

    Parameters
    ----------
    obj : KeyedVectors, FactorModel, EmbeddingTable or TextClassifier
        What to shrink; it is not modified.
    max_bytes : int or str, optional
        Table bytes allowed: a count, ``"5MB"``, ``"300KiB"`` or ``"32x"`` (a 32nd of
        float32). The most faithful candidate within it wins.
    min_quality : float, optional
        Relative quality to keep (1.0 = the input's); the smallest candidate keeping it wins.
        With ``max_bytes`` too, the smallest candidate within both.
    evaluator : callable, optional
        ``evaluator(obj) -> float or dict of metrics``, higher is better; quality is the mean
        of candidate / input over the metrics (or the values themselves when the callable has
        ``relative = True``). Default: :func:`neighbour_recall` (classifiers need one, e.g.
        :func:`accuracy_evaluator`).
    verbose : bool, default False
        Write each candidate to stderr as it is evaluated.

    Returns
    -------
    ShrinkResult
        The winner (``met=True``) or, when no method meets the budget, the closest candidate
        (``met=False``: within ``max_bytes`` the best quality, else the smallest) and a message
        saying so. The object's metadata holds the result under ``"shrink"``.

    Raises
    ------
    InputError
        When neither budget is given, on an unreadable size or a non-positive quality.

    Examples
    --------
    >>> from compactemb.tables import DenseTable
    >>> t = DenseTable(np.random.default_rng(0).standard_normal((3000, 32)))
    >>> r = shrink(t, max_bytes="8x")
    >>> r.met, r.bytes <= 3000 * 32 * 4 // 8
    (True, True)
    """
    start = time.perf_counter()
    _kind(obj)
    if max_bytes is None and min_quality is None:
        raise InputError("shrink needs a budget: max_bytes (e.g. '5MB', '32x') and/or "
                         "min_quality (e.g. 0.97)")
    f32 = float32_bytes(obj)
    budget = None if max_bytes is None else parse_size(max_bytes, f32)
    if min_quality is not None and not (isinstance(min_quality, (int, float))
                                        and min_quality > 0):
        raise InputError(f"min_quality must be a positive number (1.0 = the input's quality), "
                         f"got {min_quality!r}")
    if evaluator is None:
        evaluator = neighbour_recall(obj)
    search = _Search(obj, evaluator, budget, min_quality, verbose)
    fixed, knobs = _families(obj)
    if min_quality is None:
        _for_bytes(search, fixed, knobs)
    else:
        _for_quality(search, fixed, knobs)
    if not search.tried:  # nothing could even be built within the budget: the smallest
        for fam in fixed + knobs:
            if fam.knob == "keep":
                search.evaluate(fam.method, {**fam.options, "keep": _keep_range(obj, fam)[0]})
    if not search.tried:
        raise InputError("no compression method applies to this object (too few rows)")
    winners = [c for c in search.tried if search.fits(c)]
    if winners:
        if min_quality is None:
            best = max(winners, key=lambda c: (c["quality"], -c["bytes"]))
        else:
            best = min(winners, key=lambda c: (c["bytes"], -c["quality"]))
    elif budget is not None and any(c["bytes"] <= budget for c in search.tried):
        best = max((c for c in search.tried if c["bytes"] <= budget),
                   key=lambda c: c["quality"])
    elif min_quality is not None and budget is None:
        best = max(search.tried, key=lambda c: (c["quality"], -c["bytes"]))
    else:
        best = min(search.tried, key=lambda c: c["bytes"])
    met = bool(winners)
    ratio = f32 / best["bytes"] if best["bytes"] else math.inf
    wanted = []
    if budget is not None:
        wanted.append(f"{budget:,} B ({f32 / budget:.1f}x)")
    if min_quality is not None:
        wanted.append(f"quality >= {min_quality:g}")
    where = f"{best['method']} {_options_text(best['options'])}".strip()
    if met:
        message = (f"{where}: {best['bytes']:,} B ({ratio:.1f}x smaller than float32), quality "
                   f"{best['quality']:.4f}, {len(search.tried)} candidates")
    else:
        message = (f"no method meets {' and '.join(wanted)}; closest: {where} at "
                   f"{best['bytes']:,} B ({ratio:.1f}x), quality {best['quality']:.4f}")
    seconds = time.perf_counter() - start
    result = ShrinkResult(
        obj=best["obj"], met=met, bytes=best["bytes"], ratio=ratio, quality=best["quality"],
        method=best["method"], options=best["options"], candidates_tried=len(search.tried),
        seconds=seconds, metrics=best["metrics"], baseline=search.baseline,
        candidates=[{k: v for k, v in c.items() if k != "obj"} for c in search.tried],
        message=message)
    info = {k: v for k, v in result.summary().items() if k != "message"}
    info["metric"] = getattr(evaluator, "metric", "custom")
    info["budget"] = {"max_bytes": budget, "min_quality": min_quality}
    _set_meta(best["obj"], info)
    return result


def _options_text(options: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in options.items())


def _set_meta(obj, info: dict) -> None:
    meta = getattr(obj, "meta", None)
    if meta is None:
        meta = {}
        obj.meta = meta
    meta["shrink"] = info
