"""Post-training compression of any table, keyed vectors, factor model or classifier.

``compress(obj, method, **options)`` returns an object of the same kind (a table, a
:class:`~compactemb.keyed.KeyedVectors`, a :class:`~compactemb.recommend.FactorModel`, a
:class:`~compactemb.train.TextClassifier`) whose tables are compressed; the input is never
modified. Method names are the names of the table kinds they make (old names in brackets keep
working):

=====================  ==========================================  ===============================
method                 what                                        options (defaults)
=====================  ==========================================  ===============================
``float32`` (dense)    float32 values (decodes a compressed table) -
``float16`` (fp16)     float16 values                              -
``int8``               row-wise int8, fp32 scale + bias (FBGEMM)   -
``int4``               row-wise int4, fp16 scale + bias (FBGEMM)   -
``pq``                 product quantisation, 1 byte a sub-vector   n_subvectors (see below),
                                                                   n_centroids=256 (or bits=8),
                                                                   n_iter=20, sample=65536,
                                                                   rotation=False,
                                                                   normalize=False,
                                                                   random_state=0 (or seed),
                                                                   ratio / max_bytes (below)
``lowrank`` (svd)      low rank ``U @ V``                          rank (dim // 4)
``mixed``              mixed dimension by frequency blocks         n_blocks=4, shrink=4.0
``pruned`` (prune)     keep the first (most frequent) rows,        keep (0.25), fallback="hash",
                       a fallback for the rest                     n_fallback
``tiered``             the first rows in one table, every other    keep (0.25), tail_components,
                       row its own 1-bit codes of a few principal  tail_normalize=True
                       directions (a TieredTable)
``bit2`` / ``bit1``    2-bit / 1-bit codes (centred, scaled)       scale, rotation, ...
=====================  ==========================================  ===============================

Methods combine with ``+``: ``"pruned+pq"`` prunes, then product-quantises the kept and fallback
rows (``pruned`` or ``tiered`` must come first; one value method may follow it, for the kept
rows). The default ``n_subvectors`` is the largest divisor of dim that is at most dim / 4 (e.g.
75 at dim = 300, 4 values per code).

``pq`` with ``ratio=32`` (or ``"32x"``) or ``max_bytes`` (bytes or a size such as ``"5MB"``)
picks ``n_subvectors`` and ``n_centroids`` itself: the most code bits a row whose table (codes +
codebooks, + rotation and scales when asked) fits ``float32 bytes / ratio`` or ``max_bytes``
(:func:`compactemb.tables._pq.pq_settings_for_bytes`; each table of a factor model on its own).
There ``rotation`` defaults to True (OPQ, which kept more of the word-similarity scores than
plain PQ at equal bytes, bench/results/pq.md) when the rotation's ``4 * dim * dim`` bytes leave
at least 75% of plain PQ's code bits a row (measured wins at 80%, 86% and 88%) and plain PQ
would have at most one code bit a dimension (above, at 8x/16x on d=100, they tied); give
``rotation=False`` for plain PQ. Without ``ratio``/``max_bytes`` the defaults are unchanged.

Fallbacks of ``pruned``: ``"hash"`` (dropped rows share ``n_fallback`` bucket vectors, no bytes
per dropped row), ``"shared"`` (one vector) or ``"lowbit"``: every dropped row keeps 1-bit codes
of the top ``tail_components`` principal directions of the dropped rows (default a quarter of
dim in whole bytes: ``ceil(k / 8)`` bytes a row, + 2 for a float16 norm unless
``tail_normalize=False``); ``"pruned+<m>"`` with ``fallback="lowbit"`` is ``"tiered+<m>"``
(the result is a :class:`~compactemb.tables.TieredTable`). At equal bytes it keeps rare words
much closer to their vectors than hash buckets (notes/issue-15-shrink.md).

``keep`` is a row count (>= 1) or a fraction in (0, 1]; a count above the row count is capped to
it (the compression metadata then holds ``keep_capped_from``, and the command line prints a
note).

Factor models: ``user_method`` / ``item_method`` override ``method`` for one side, and
``side="user"`` or ``"item"`` compresses one side only (the other table is kept as it is).

Classifiers (FastText.zip): ``pruned`` keeps the ``keep`` rows of highest score instead of the
first ones and drops the others from the input (no fallback); the classifier-only options are
``retrain``, ``texts``, ``labels``, ``retrain_epochs``, ``score`` and ``hash_words`` (see
:func:`compactemb.train._classifier_compress.compress_classifier`), and ``pq`` defaults to
``n_subvectors = dim // 2`` (fastText's ``-dsub 2``).
"""

from __future__ import annotations

import contextvars
from typing import Any

import numpy as np

from .exceptions import InputError
from .shrink import shrink as shrink  # re-exported: compactemb.compress.shrink (issue 15)
from .tables import (
    DenseTable,
    EmbeddingTable,
    Int4Table,
    Int8Table,
    LowRankTable,
    MixedDimTable,
    PQTable,
    PrunedTable,
    SubwordTable,
)

METHODS = ("float32", "float16", "int8", "int4", "pq", "lowrank", "mixed", "pruned")
# old method names -> the table kind names above
ALIASES = {"dense": "float32", "fp32": "float32", "fp16": "float16", "svd": "lowrank",
           "prune": "pruned"}
_PQ_OPTIONS = {"n_subvectors", "n_centroids", "bits", "n_iter", "sample", "rotation",
               "normalize", "random_state", "seed", "ratio", "max_bytes"}
_OPTIONS = {
    "float32": set(), "float16": set(), "int8": set(), "int4": set(), "pq": _PQ_OPTIONS,
    "lowrank": {"rank"}, "mixed": {"n_blocks", "shrink"},
    "pruned": {"keep", "keep_words", "fallback", "n_fallback"},
}
_TAIL_OPTIONS = {"tail_components", "tail_normalize"}
_OPTIONS["pruned"] |= _TAIL_OPTIONS
_OPTIONS["tiered"] = {"keep"} | _TAIL_OPTIONS
FALLBACKS = ("hash", "shared", "lowbit")
CLASSIFIER_OPTIONS = ("retrain", "texts", "labels", "retrain_epochs", "score", "hash_words")
SIDES = ("both", "user", "item")


def available_methods() -> tuple[str, ...]:
    """Every method name: :data:`METHODS` and any other registered table kind with ``from_dense``.

    Returns
    -------
    tuple of str
        :data:`METHODS` first, then other compressing table kinds, sorted.

    Examples
    --------
    >>> available_methods()[:3]
    ('float32', 'float16', 'int8')
    """
    from .tables import table_kinds

    extra = sorted(k for k, c in table_kinds().items()
                   if hasattr(c, "from_dense") and k not in METHODS)
    return METHODS + tuple(extra)


def _options_of(step: str) -> set:
    """Options a method takes: the table above, else the keywords of the kind's ``from_dense``."""
    if step in _OPTIONS:
        return _OPTIONS[step]
    import inspect

    from .tables import table_kinds

    cls: Any = table_kinds()[step]
    params = inspect.signature(cls.from_dense).parameters.values()
    return {p.name for p in params if p.kind == p.KEYWORD_ONLY}


def canonical_method(name: str) -> str:
    """The table kind name of one method step (``"fp16"`` -> ``"float16"``).

    Parameters
    ----------
    name : str
        A method name or an old synonym (case and surrounding spaces ignored).

    Returns
    -------
    str
        One of :func:`available_methods`.

    Raises
    ------
    InputError
        If ``name`` is no method.

    Examples
    --------
    >>> canonical_method("SVD"), canonical_method("int4")
    ('lowrank', 'int4')
    """
    step = name.strip().lower()
    step = ALIASES.get(step, step)
    if step not in METHODS and step not in available_methods():
        raise InputError(f"unknown compression method {name.strip()!r}; choose from "
                         f"{', '.join(available_methods())} (combine with '+', e.g. pruned+pq; "
                         f"old names {', '.join(f'{a}={c}' for a, c in ALIASES.items())})")
    return step


def parse_method(method) -> list[str]:
    """``"pruned+pq"``, ``"prune+pq"`` or ["pruned", "pq"] -> a validated list of steps.

    Parameters
    ----------
    method : str or list of str
        One method, ``pruned+<method>`` or ``tiered+<method>``; old names are accepted.

    Returns
    -------
    list of str
        The steps, spelled as in :data:`METHODS`.

    Raises
    ------
    InputError
        On an unknown method or a combination other than ``pruned+<method>`` or
        ``tiered+<method>``.

    Examples
    --------
    >>> parse_method("PRUNE + fp16")
    ['pruned', 'float16']
    """
    raw = method.split("+") if isinstance(method, str) else list(method)
    if not [s for s in raw if str(s).strip()]:
        raise InputError("no compression method given")
    steps = [canonical_method(str(s)) for s in raw]
    splits = ("pruned", "tiered")
    if set(splits) & set(steps[1:]) or len(steps) > 2 or (len(steps) == 2
                                                          and steps[0] not in splits):
        raise InputError(f"method {'+'.join(steps)!r}: only 'pruned+<method>' combinations are "
                         "supported, and 'tiered+<method>' (pruned or tiered first, then one "
                         "of float16/int8/int4/bit2/bit1/pq/lowrank)")
    if len(steps) == 2 and steps[1] == "mixed":
        raise InputError(f"'mixed' needs the frequency order of all rows; it cannot follow "
                         f"{steps[0]}")
    return steps


def default_subvectors(dim: int) -> int:
    """Largest divisor of ``dim`` that is at most dim / 4 (1 when dim < 4).

    Parameters
    ----------
    dim : int
        Embedding dimension.

    Returns
    -------
    int
        The default ``n_subvectors`` of ``pq`` for tables, keyed vectors and factor models.

    Examples
    --------
    >>> default_subvectors(300), default_subvectors(3)
    (75, 1)
    """
    best = 1
    for m in range(1, dim // 4 + 1):
        if dim % m == 0:
            best = m
    return best


def _check_options(steps: list[str], options: dict, *, classifier: bool = False) -> dict:
    allowed = set().union(*(_options_of(s) for s in steps))
    if classifier:
        allowed = (allowed - {"fallback", "n_fallback"} - _TAIL_OPTIONS) | set(CLASSIFIER_OPTIONS)
    unknown = sorted(set(options) - allowed)
    if unknown:
        only = [k for k in unknown if k in CLASSIFIER_OPTIONS]
        if only and not classifier:
            raise InputError(f"option(s) {', '.join(only)} apply to classifiers only")
        hint = (" ('keep' needs pruned first, e.g. pruned+" + steps[-1] + ")"
                if "keep" in unknown and "pruned" not in steps else "")
        raise InputError(f"option(s) {', '.join(unknown)} do not apply to method "
                         f"{'+'.join(steps)!r} (it takes: {', '.join(sorted(allowed)) or 'none'})"
                         + hint)
    if steps[0] == "pruned" and not classifier:
        fallback = options.get("fallback", "hash")
        if fallback not in FALLBACKS:
            raise InputError(f"pruned option 'fallback' must be one of {', '.join(FALLBACKS)}, "
                             f"got {fallback!r}")
        if fallback == "lowbit" and "n_fallback" in options:
            raise InputError("pruned option 'n_fallback' counts hash buckets; fallback 'lowbit' "
                             "gives every dropped row its own codes (give tail_components)")
        if fallback != "lowbit" and _TAIL_OPTIONS & set(options):
            raise InputError(f"option(s) {', '.join(sorted(_TAIL_OPTIONS & set(options)))} "
                             "apply to fallback='lowbit' (or tiered+<method>) only")
    if "seed" in options:
        if "random_state" in options and options["random_state"] != options["seed"]:
            raise InputError("options 'seed' and 'random_state' disagree; give random_state")
        options = {**options, "random_state": options["seed"]}
        del options["seed"]
    return options


def _cap_keep(keep, n_rows: int):
    """``keep`` as given, or ``n_rows`` when it is a count above ``n_rows``; and whether capped."""
    if isinstance(keep, (int, np.integer)) and not isinstance(keep, bool) and keep > n_rows:
        return int(n_rows), True
    return keep, False


def pq_budget(opts: dict, n_rows: int, dim: int) -> int | None:
    """The byte budget of a pq table from its ``ratio`` or ``max_bytes`` option, or None.

    Parameters
    ----------
    opts : dict
        compress() options: ``ratio`` (a number or ``"32x"``: float32 bytes / ratio) or
        ``max_bytes`` (bytes, or a size such as ``"5MB"``, ``"300KiB"``, ``"32x"``).
    n_rows, dim : int
        The table's shape (its float32 bytes are ``4 * n_rows * dim``).

    Returns
    -------
    int or None
        Bytes, or None when neither option is given.

    Raises
    ------
    InputError
        When both are given, with ``n_subvectors``, or unreadable.

    Examples
    --------
    >>> pq_budget({"ratio": "32x"}, 1000, 100), pq_budget({"max_bytes": "10kB"}, 1000, 100)
    (12500, 10000)
    """
    from .shrink import parse_size

    given = [k for k in ("ratio", "max_bytes") if opts.get(k) is not None]
    if not given:
        return None
    if len(given) == 2:
        raise InputError("pq options 'ratio' and 'max_bytes' both set a size; give one")
    if "n_subvectors" in opts:
        raise InputError(f"pq option '{given[0]}' chooses n_subvectors; do not give both")
    f32 = 4 * int(n_rows) * int(dim)
    if given[0] == "max_bytes":
        return parse_size(opts["max_bytes"], f32)
    text = str(opts["ratio"]).strip().lower().removesuffix("x")
    try:
        ratio = float(text)
    except ValueError:
        raise InputError(f"pq option 'ratio' must be a number such as 32 or '32x', got "
                         f"{opts['ratio']!r}") from None
    return parse_size(f"{ratio}x", f32)


def _pq_choice(n_rows: int, dim: int, budget: int, rotation: bool, opts: dict,
               kw: dict) -> dict | None:
    """pq_settings_for_bytes, or None when nothing fits."""
    from .tables._pq import pq_settings_for_bytes

    try:
        return pq_settings_for_bytes(n_rows, dim, budget, rotation=rotation,
                                     normalize=bool(opts.get("normalize")),
                                     n_centroids=kw.get("n_centroids"))
    except InputError:
        return None


def _code_bits(setting: dict) -> float:
    return setting["n_subvectors"] * float(np.log2(setting["n_centroids"]))


def _pq_kwargs(opts: dict, dim: int, n_rows: int | None = None) -> dict:
    from .tables._pq import pq_settings_for_bytes
    from .train._classifier_compress import _seed_spelling

    kw = {k: opts[k] for k in _PQ_OPTIONS - {"bits", "seed", "ratio", "max_bytes"} if k in opts}
    if "bits" in opts:
        bits = opts["bits"]
        if not isinstance(bits, (int, np.integer)) or not 1 <= bits <= 8:
            raise InputError(f"pq option 'bits' must be an integer in [1, 8] (one byte "
                             f"per code), got {bits!r}")
        if "n_centroids" in opts and opts["n_centroids"] != 2 ** bits:
            raise InputError("pq options 'bits' and 'n_centroids' disagree; give one")
        kw["n_centroids"] = 2 ** bits
    if opts.get("ratio") is not None or opts.get("max_bytes") is not None:
        if n_rows is None:
            raise InputError("pq options 'ratio' and 'max_bytes' size tables, keyed vectors and "
                             "factor models (each table); give classifiers n_subvectors")
        budget = pq_budget(opts, n_rows, dim)
        assert budget is not None
        plain = None if opts.get("rotation") else _pq_choice(n_rows, dim, budget, False, opts, kw)
        rotated = _pq_choice(n_rows, dim, budget, True, opts, kw) \
            if opts.get("rotation", True) else None
        if "rotation" not in opts and rotated is not None and plain is not None and (
                _code_bits(rotated) < 0.75 * _code_bits(plain) or _code_bits(plain) > dim):
            rotated = None  # OPQ won at <= 1 code bit a dimension, tied above (pq.md)
        setting = rotated if rotated is not None else plain
        if setting is None:  # nothing fits: the error of the setting asked for
            pq_settings_for_bytes(n_rows, dim, budget, rotation=bool(opts.get("rotation")),
                                  normalize=bool(opts.get("normalize")),
                                  n_centroids=kw.get("n_centroids"))
            raise AssertionError("unreachable")
        kw.update(setting, rotation=rotated is not None)
    kw.setdefault("n_subvectors", default_subvectors(dim))
    return _seed_spelling(PQTable.from_dense, kw)


# a function (step, options) -> value step or None (the local one); compactemb.distributed sets
# it to quantise row ranges as Ray tasks for the duration of one compress
value_step_override: contextvars.ContextVar = contextvars.ContextVar("value_step_override",
                                                                    default=None)


def _value_step(step: str, opts: dict):
    """A function matrix-or-table -> compressed table, for one value method."""
    override = value_step_override.get()
    if override is not None and (step_fn := override(step, opts)) is not None:
        return step_fn
    if step in ("float32", "float16"):
        def f(x):
            x = x.to_dense().weights if isinstance(x, EmbeddingTable) else x
            return DenseTable(x, dtype=step)
        return f
    if step == "int8":
        return Int8Table.from_dense
    if step == "int4":
        return Int4Table.from_dense
    if step == "pq":
        def f(x):
            n_rows, dim = x.shape if isinstance(x, EmbeddingTable) else np.shape(x)
            return PQTable.from_dense(x, **_pq_kwargs(opts, dim, n_rows))
        return f
    if step == "lowrank":
        def f(x):
            dim = x.dim if isinstance(x, EmbeddingTable) else np.shape(x)[1]
            return LowRankTable.from_dense(x, rank=opts.get("rank", max(1, dim // 4)))
        return f
    if step == "mixed":
        def f(x):
            return MixedDimTable.from_dense(x, n_blocks=opts.get("n_blocks", 4),
                                            shrink=opts.get("shrink", 4.0))
        return f
    from .tables import table_kinds

    # another registered kind: its own from_dense options
    cls: Any = table_kinds()[step]
    from_dense = cls.from_dense
    return lambda x: from_dense(x, **{k: v for k, v in opts.items() if k in _options_of(step)})


def compress_table(table: EmbeddingTable | np.ndarray, method="int8",
                   **options) -> EmbeddingTable:
    """Compress one table (see the module docstring for methods and options).

    Parameters
    ----------
    table : EmbeddingTable or ndarray
        The table (a matrix is taken as a float32 dense table).
    method : str, default "int8"
        A method of :data:`METHODS` or ``pruned+<method>``.
    **options
        Options of the method (``keep``, ``n_subvectors``, ``rank``, ``random_state`` ...).

    Returns
    -------
    EmbeddingTable
        The compressed table; ``meta["compression"]`` records how.

    Raises
    ------
    InputError
        On an unknown method or an option the method does not take.

    Examples
    --------
    >>> t = DenseTable(np.ones((10, 4), np.float32))
    >>> compress_table(t, "pruned+int8", keep=3).n_keep
    3
    """
    if not isinstance(table, EmbeddingTable):
        table = DenseTable(table)
    steps = parse_method(method)
    opts = _check_options(steps, dict(options))
    if opts.get("keep_words") is not None and not isinstance(table, SubwordTable):
        raise InputError("option 'keep_words' prunes the words of a subword table; this is a "
                         f"{table.kind} table (use keep)")
    if steps != ["pq"] and {"ratio", "max_bytes"} & {k for k, v in opts.items() if v is not None}:
        raise InputError(f"options 'ratio' / 'max_bytes' size a plain pq table; for "
                         f"{'+'.join(steps)!r} use shrink (compactemb shrink --max-bytes)")
    capped_from = None
    out: EmbeddingTable
    tiered = steps[0] == "tiered" or (steps[0] == "pruned" and opts.get("fallback") == "lowbit")
    if isinstance(table, SubwordTable) and tiered:
        raise InputError(f"method {'+'.join(steps)!r} needs rows in frequency order; a subword "
                         "table prunes its n-gram buckets by norm: use pruned+<method> with the "
                         "hash fallback")
    if isinstance(table, SubwordTable):  # n-gram buckets pruned by norm, value step on the rest
        pruned = table.prune_buckets(opts.get("keep", 0.25)) if steps[0] == "pruned" else table
        if opts.get("keep_words") is not None:  # the other words: vectors from n-grams only
            pruned = pruned.prune_words(opts["keep_words"])
        value = steps[1:] if steps[0] == "pruned" else steps
        out = pruned.with_inner(_value_step(value[0], opts)(pruned.inner)) if value else pruned
    elif tiered:
        out, capped_from = _tiered(table, steps, opts)
    elif steps[0] == "pruned":
        inner = _value_step(steps[1], opts) if len(steps) > 1 else None
        kw = {k: opts[k] for k in ("fallback", "n_fallback") if k in opts}
        keep, capped = _cap_keep(opts.get("keep", 0.25), table.n_rows)
        if capped:
            capped_from = opts["keep"]
        out = PrunedTable.from_dense(table, keep=keep, inner=inner, **kw)
    else:
        out = _value_step(steps[0], opts)(table)
    given = method if isinstance(method, str) else "+".join(method)
    info = {"method": "+".join(s.strip().lower() for s in given.split("+")),
            "options": dict(opts), "source_kind": table.kind, "source_nbytes": table.nbytes}
    if info["method"] != "+".join(steps):
        info["table_method"] = "+".join(steps)
    if capped_from is not None:
        info["keep_capped_from"] = capped_from
    out.meta = {**(getattr(table, "meta", None) or {}), "compression": info}
    return out


def _tiered(table: EmbeddingTable, steps: list[str], opts: dict):
    """``tiered+<value>`` (= ``pruned+<value>`` with fallback "lowbit"): a TieredTable."""
    from .tables import TieredTable
    from .tables._tiered import lowbit_tail

    keep, capped = _cap_keep(opts.get("keep", 0.25), table.n_rows)
    head = _value_step(steps[1] if len(steps) > 1 else "float32", opts)
    tail = lowbit_tail(opts.get("tail_components"), bool(opts.get("tail_normalize", True)))
    out = TieredTable.from_dense(table, keep=keep, head=head, tail=tail)
    return out, (opts["keep"] if capped else None)


def compress(obj, method="int8", *, user_method=None, item_method=None, side="both",
             **options):
    """Compress a table, keyed vectors, factor model or classifier; returns a new object.

    Parameters
    ----------
    obj : EmbeddingTable, ndarray, KeyedVectors, FactorModel or TextClassifier
        What to compress; it is not modified.
    method : str, default "int8"
        A method of :data:`METHODS` (``float32``, ``float16``, ``int8``, ``int4``, ``pq``,
        ``lowrank``, ``mixed``, ``pruned``), another table kind (``bit2``, ``bit1``,
        ``tiered`` ...), or ``pruned+<method>`` / ``tiered+<method>``; old names (``fp16``,
        ``svd``, ``prune``) are accepted.
    user_method, item_method : str, optional
        Factor models: the method of one side's table (default: ``method``).
    side : {"both", "user", "item"}, default "both"
        Factor models: compress one side only; the other table is kept as it is.
    **options
        ``keep`` (rows kept by ``pruned``: a count or a fraction; counts above the row count
        are capped; subword tables: n-gram buckets kept, by norm), ``keep_words`` (subword
        tables, with ``pruned``: the most frequent words kept, the rest get n-gram vectors),
        ``n_subvectors``, ``n_centroids``, ``bits``, ``n_iter``, ``sample``,
        ``rotation``, ``normalize``, ``random_state``, ``ratio``, ``max_bytes`` (pq),
        ``rank`` (lowrank), ``n_blocks``,
        ``shrink`` (mixed), ``fallback`` ("hash", "shared", "lowbit"), ``n_fallback``
        (pruned, not classifiers), ``tail_components``, ``tail_normalize`` (tiered and
        fallback "lowbit"), and for
        classifiers ``retrain``, ``texts``, ``labels``, ``retrain_epochs``, ``score``,
        ``hash_words``. Each factor-model table gets the options that apply to its method.

    Returns
    -------
    object of the type of ``obj``
        The compressed copy; its metadata records the compression.

    Raises
    ------
    InputError
        On an unknown method, an option that does not apply, or an object of another type.

    Examples
    --------
    >>> import numpy as np
    >>> from compactemb.tables import DenseTable
    >>> t = DenseTable(np.random.default_rng(0).standard_normal((300, 8)))
    >>> compress(t, "int8").kind, compress(t, "pruned+int4", keep=100).kind
    ('int8', 'pruned')
    """
    from .keyed import KeyedVectors
    from .recommend import FactorModel

    if side not in SIDES:
        raise InputError(f"side must be one of {', '.join(SIDES)}, got {side!r}")
    if options.get("keep_words") is not None and not isinstance(getattr(obj, "table", None),
                                                                 SubwordTable):
        raise InputError("option 'keep_words' prunes the words of keyed vectors over a subword "
                         f"table; got a {type(obj).__name__}")
    if isinstance(obj, FactorModel):
        return _compress_factors(obj, method, user_method, item_method, side, options)
    if user_method is not None or item_method is not None or side != "both":
        raise InputError("user_method / item_method / side apply to factor models only")
    if isinstance(obj, KeyedVectors):
        if {"pruned", "mixed", "tiered"} & set(parse_method(method)):
            _check_frequency_order(obj.vocab)
        table = compress_table(obj.table, method, **options)
        meta = {**obj.meta, "compression": table.meta["compression"]}
        vocab = obj.vocab
        if table.n_rows < len(vocab):  # keep_words: the first (most frequent) words stay
            from .vocab import Vocab

            vocab = Vocab(vocab.keys[:table.n_rows], vocab.counts[:table.n_rows])
        return KeyedVectors(vocab, table, meta)
    if isinstance(obj, (EmbeddingTable, np.ndarray)):
        return compress_table(obj, method, **options)
    if type(obj).__name__ == "TextClassifier":
        return _compress_classifier(obj, method, options)
    raise InputError(f"cannot compress a {type(obj).__name__}: give a table, keyed vectors, "
                     "a factor model or a classifier")


def _compress_factors(obj, method, user_method, item_method, side, options):
    from .recommend import FactorModel

    methods = {"user": user_method or method, "item": item_method or method}
    if side != "both":
        methods[{"user": "item", "item": "user"}[side]] = None
    steps = {k: parse_method(m) for k, m in methods.items() if m is not None}
    _check_options([s for v in steps.values() for s in v], dict(options))
    tables: dict[str, EmbeddingTable] = {}
    infos: dict[str, dict | None] = {}
    for name, vocab, table in (("user", obj.user_vocab, obj.user_table),
                               ("item", obj.item_vocab, obj.item_table)):
        if name not in steps:
            tables[name] = table
            infos[name] = None
            continue
        if {"pruned", "mixed", "tiered"} & set(steps[name]):
            _check_frequency_order(vocab)
        allowed = set().union(*(_options_of(s) for s in steps[name]))
        tables[name] = compress_table(table, methods[name],
                                      **{k: v for k, v in options.items() if k in allowed})
        infos[name] = tables[name].meta["compression"]
    meta = {**obj.meta, "compression": infos}
    return FactorModel(obj.user_vocab, obj.item_vocab, tables["user"], tables["item"],
                       seen=obj._seen, meta=meta)


def _compress_classifier(clf, method, options):
    from .train._classifier_compress import compress_classifier

    steps = parse_method(method)
    if steps[0] == "tiered":
        raise InputError("tiered tables need rows in frequency order; a classifier's rows are "
                         "words then n-gram buckets: use pruned+<method> (e.g. pruned+bit2)")
    opts = _check_options(steps, dict(options), classifier=True)
    clf._check_fitted()
    cutoff, capped_from = None, None
    if steps[0] == "pruned":
        keep = opts.pop("keep", 0.25)
        n_rows = clf.n_rows
        if isinstance(keep, float) and not isinstance(keep, bool):
            if not 0 < keep <= 1:
                raise InputError(f"pruned option 'keep' as a fraction must be in (0, 1], "
                                 f"got {keep}")
            keep = max(1, int(round(keep * n_rows)))
        cutoff, capped = _cap_keep(keep, n_rows)
        if capped:
            capped_from = keep
        steps = steps[1:] or ["float32"]
    classifier_kw = {k: opts.pop(k) for k in CLASSIFIER_OPTIONS if k in opts}
    if steps[0] == "pq":
        from .train._classifier_compress import default_classifier_subvectors

        opts = _pq_kwargs({"n_subvectors": default_classifier_subvectors(clf.dim), **opts},
                          clf.dim)
    elif steps[0] == "lowrank":
        opts.setdefault("rank", max(1, clf.dim // 4))
    small = compress_classifier(clf, steps[0], cutoff=cutoff, **classifier_kw, **opts)
    if capped_from is not None:
        small.train_info_["compression"]["keep_capped_from"] = capped_from
    return small


def keep_capped(obj) -> list[tuple[str, int, int]]:
    """Where a compressed object's ``keep`` was capped: (table, requested, rows kept) triples.

    Parameters
    ----------
    obj : object
        A result of :func:`compress`.

    Returns
    -------
    list of tuple
        ``("user"/"item"/"table", keep as requested, rows of the table)``; empty when nothing
        was capped.

    Examples
    --------
    >>> t = DenseTable(np.ones((10, 4), np.float32))
    >>> keep_capped(compress(t, "pruned", keep=50))
    [('table', 50, 10)]
    """
    def entry(info, where, rows):
        if info and "keep_capped_from" in info:
            return [(where, info["keep_capped_from"], rows)]
        return []

    if hasattr(obj, "user_table"):
        comp = obj.meta.get("compression") or {}
        return (entry(comp.get("user"), "user", obj.user_table.n_rows)
                + entry(comp.get("item"), "item", obj.item_table.n_rows))
    if hasattr(obj, "train_info_"):
        info = obj.train_info_.get("compression") or {}
        return entry(info, "table", info.get("rows", 0))
    if hasattr(obj, "table"):
        return entry(obj.meta.get("compression"), "table", obj.table.n_rows)
    return entry((getattr(obj, "meta", None) or {}).get("compression"), "table", obj.n_rows)


def _check_frequency_order(vocab) -> None:
    counts = np.asarray(vocab.counts)
    if counts.size > 1 and np.any(np.diff(counts) > 0):
        raise InputError("pruned, tiered and mixed keep the first (most frequent) rows, but this "
                         "vocabulary is not in decreasing frequency order")
