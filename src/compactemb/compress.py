"""Post-training compression of any table, keyed vectors or factor model.

``compress(obj, method, **options)`` returns an object of the same kind (a table, a
:class:`~compactemb.keyed.KeyedVectors`, a :class:`~compactemb.recommend.FactorModel`) whose
tables are compressed; the input is never modified. Methods:

============  ==================================================  ===============================
method        what                                                options (defaults)
============  ==================================================  ===============================
``fp16``      float16 values                                      -
``int8``      row-wise int8, fp32 scale + bias (FBGEMM fused)     -
``int4``      row-wise int4, fp16 scale + bias (FBGEMM fused)     -
``pq``        product quantisation, 1 byte per sub-vector         n_subvectors (see below),
                                                                  n_centroids=256 (or bits=8),
                                                                  n_iter=20, sample=65536,
                                                                  rotation=False,
                                                                  normalize=False, seed=0
``svd``       low rank ``U @ V``                                  rank (dim // 4)
``mixed``     mixed dimension by frequency blocks                 n_blocks=4, shrink=4.0
``prune``     keep the most frequent rows, fallback for the rest  keep (0.25), fallback="hash",
                                                                  n_fallback
============  ==================================================  ===============================

Methods combine with ``+``: ``"prune+pq"`` prunes, then product-quantises the kept and fallback
rows (``prune`` must come first; one value method may follow it). The default ``n_subvectors``
is the largest divisor of dim that is at most dim / 4 (e.g. 75 at dim = 300, 4 values per code).
"""

from __future__ import annotations

import numpy as np

from .exceptions import InputError
from .tables import (
    DenseTable,
    EmbeddingTable,
    Int4Table,
    Int8Table,
    LowRankTable,
    MixedDimTable,
    PQTable,
    PrunedTable,
)

METHODS = ("fp16", "int8", "int4", "pq", "svd", "mixed", "prune")
_OPTIONS = {
    "fp16": set(), "int8": set(), "int4": set(),
    "pq": {"n_subvectors", "n_centroids", "bits", "n_iter", "sample", "rotation", "normalize",
           "seed"},
    "svd": {"rank"}, "mixed": {"n_blocks", "shrink"},
    "prune": {"keep", "fallback", "n_fallback"},
}


def parse_method(method) -> list[str]:
    """``"prune+pq"`` or ["prune", "pq"] -> a validated list of steps."""
    steps = method.split("+") if isinstance(method, str) else list(method)
    steps = [s.strip().lower() for s in steps]
    for s in steps:
        if s not in METHODS:
            raise InputError(f"unknown compression method {s!r}; choose from "
                             f"{', '.join(METHODS)} (combine with '+', e.g. prune+pq)")
    if not steps:
        raise InputError("no compression method given")
    if "prune" in steps[1:] or len(steps) > 2 or (len(steps) == 2 and steps[0] != "prune"):
        raise InputError(f"method {'+'.join(steps)!r}: only 'prune+<method>' combinations are "
                         "supported (prune first, then one of fp16/int8/int4/pq/svd)")
    if len(steps) == 2 and steps[1] in ("prune", "mixed"):
        raise InputError("'mixed' needs the frequency order of all rows; it cannot follow prune")
    return steps


def default_subvectors(dim: int) -> int:
    """Largest divisor of ``dim`` that is at most dim / 4 (1 when dim < 4)."""
    best = 1
    for m in range(1, dim // 4 + 1):
        if dim % m == 0:
            best = m
    return best


def _check_options(steps: list[str], options: dict) -> dict:
    allowed = set().union(*(_OPTIONS[s] for s in steps))
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise InputError(f"option(s) {', '.join(unknown)} do not apply to method "
                         f"{'+'.join(steps)!r} (it takes: {', '.join(sorted(allowed)) or 'none'})")
    return options


def _value_step(step: str, opts: dict):
    """A function matrix-or-table -> compressed table, for one value method."""
    if step == "fp16":
        def f(x):
            x = x.to_dense().weights if isinstance(x, EmbeddingTable) else x
            return DenseTable(x, dtype="float16")
        return f
    if step == "int8":
        return Int8Table.from_dense
    if step == "int4":
        return Int4Table.from_dense
    if step == "pq":
        def f(x):
            dim = x.dim if isinstance(x, EmbeddingTable) else np.shape(x)[1]
            kw = {k: opts[k] for k in _OPTIONS["pq"] - {"bits"} if k in opts}
            if "bits" in opts:
                bits = opts["bits"]
                if not isinstance(bits, (int, np.integer)) or not 1 <= bits <= 8:
                    raise InputError(f"pq option 'bits' must be an integer in [1, 8] (one byte "
                                     f"per code), got {bits!r}")
                if "n_centroids" in opts and opts["n_centroids"] != 2 ** bits:
                    raise InputError("pq options 'bits' and 'n_centroids' disagree; give one")
                kw["n_centroids"] = 2 ** bits
            kw.setdefault("n_subvectors", default_subvectors(dim))
            return PQTable.from_dense(x, **kw)
        return f
    if step == "svd":
        def f(x):
            dim = x.dim if isinstance(x, EmbeddingTable) else np.shape(x)[1]
            return LowRankTable.from_dense(x, rank=opts.get("rank", max(1, dim // 4)))
        return f
    if step == "mixed":
        def f(x):
            return MixedDimTable.from_dense(x, n_blocks=opts.get("n_blocks", 4),
                                            shrink=opts.get("shrink", 4.0))
        return f
    raise AssertionError(step)  # pragma: no cover - parse_method rejects the rest


def compress_table(table: EmbeddingTable, method="int8", **options) -> EmbeddingTable:
    """Compress one table (see the module docstring for methods and options)."""
    if not isinstance(table, EmbeddingTable):
        table = DenseTable(table)
    steps = parse_method(method)
    opts = _check_options(steps, options)
    if steps[0] == "prune":
        inner = _value_step(steps[1], opts) if len(steps) > 1 else None
        kw = {k: opts[k] for k in ("fallback", "n_fallback") if k in opts}
        out = PrunedTable.from_dense(table, keep=opts.get("keep", 0.25), inner=inner, **kw)
    else:
        out = _value_step(steps[0], opts)(table)
    out.meta = {**(getattr(table, "meta", None) or {}),
                "compression": {"method": "+".join(steps), "options": dict(opts),
                                "source_kind": table.kind, "source_nbytes": table.nbytes}}
    return out


def compress(obj, method="int8", *, user_method=None, item_method=None, **options):
    """Compress a table, keyed vectors or factor model; returns a new object of the same kind.

    For a factor model, ``user_method`` / ``item_method`` override ``method`` for one of its
    two tables (e.g. int4 users and ``prune+int4`` items: rarely seen items share fallback
    vectors, every user keeps its own); each table gets the options that apply to its method.

    Examples
    --------
    >>> import numpy as np
    >>> from compactemb.tables import DenseTable
    >>> t = DenseTable(np.random.default_rng(0).standard_normal((300, 8)))
    >>> compress(t, "int8").kind, compress(t, "prune+int4", keep=100).kind
    ('int8', 'pruned')
    """
    from .keyed import KeyedVectors
    from .recommend import FactorModel

    if isinstance(obj, FactorModel):
        methods = {"user": user_method or method, "item": item_method or method}
        steps = {k: parse_method(m) for k, m in methods.items()}
        _check_options(steps["user"] + steps["item"], options)
        tables = {}
        for side, vocab, table in (("user", obj.user_vocab, obj.user_table),
                                   ("item", obj.item_vocab, obj.item_table)):
            if {"prune", "mixed"} & set(steps[side]):
                _check_frequency_order(vocab)
            allowed = set().union(*(_OPTIONS[s] for s in steps[side]))
            tables[side] = compress_table(table, methods[side],
                                          **{k: v for k, v in options.items() if k in allowed})
        meta = {**obj.meta, "compression": {"user": tables["user"].meta["compression"],
                                            "item": tables["item"].meta["compression"]}}
        return FactorModel(obj.user_vocab, obj.item_vocab, tables["user"], tables["item"],
                           seen=obj._seen, meta=meta)
    if user_method is not None or item_method is not None:
        raise InputError("user_method / item_method apply to factor models only")
    if isinstance(obj, KeyedVectors):
        if {"prune", "mixed"} & set(parse_method(method)):
            _check_frequency_order(obj.vocab)
        table = compress_table(obj.table, method, **options)
        meta = {**obj.meta, "compression": table.meta["compression"]}
        return KeyedVectors(obj.vocab, table, meta)
    if isinstance(obj, (EmbeddingTable, np.ndarray)):
        return compress_table(obj, method, **options)
    if type(obj).__name__ == "TextClassifier":  # pruning + retraining needs its training data
        raise InputError("a classifier is compressed with 'compactemb quantize' (Python: "
                         "TextClassifier.compress), which can prune rows and retrain")
    raise InputError(f"cannot compress a {type(obj).__name__}: give a table, keyed vectors or "
                     "a factor model")


def _check_frequency_order(vocab) -> None:
    counts = np.asarray(vocab.counts)
    if counts.size > 1 and np.any(np.diff(counts) > 0):
        raise InputError("prune and mixed keep the first (most frequent) rows, but this "
                         "vocabulary is not in decreasing frequency order")
