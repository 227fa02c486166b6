"""Compression of a trained :class:`~compactemb.train.TextClassifier` (FastText.zip).

Joulin et al. 2016, "FastText.zip": keep the ``cutoff`` input rows of largest norm (pruned words
and n-grams are then dropped from the input, ``missing_ngrams_ = "drop"``), optionally fine-tune
the pruned model, and store the kept rows in any table kind (float16, int8, int4, product
quantisation ...). :func:`compactemb.compress.compress` and ``TextClassifier.compress`` both call
:func:`compress_classifier`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..exceptions import InputError
from ..tables import DenseTable, EmbeddingTable
from ..vocab import Vocab


def default_classifier_subvectors(dim: int) -> int:
    """PQ sub-vectors of a classifier by default: 2 dimensions a byte (fastText's ``-dsub 2``).

    Parameters
    ----------
    dim : int
        Embedding dimension.

    Returns
    -------
    int
        ``dim // 2`` for an even ``dim``, else ``dim`` (one dimension a byte).

    Examples
    --------
    >>> default_classifier_subvectors(100), default_classifier_subvectors(9)
    (50, 9)
    """
    return dim // 2 if dim % 2 == 0 else dim


def compress_classifier(model, method: str = "int8", *, cutoff: int | None = None,
                        retrain: bool = False, texts: Sequence[str] | None = None,
                        labels: Sequence | None = None, retrain_epochs: int | None = None,
                        score: str | None = None, hash_words: bool = False,
                        **table_options):
    """A smaller copy of a fitted classifier: keep ``cutoff`` rows, store them as ``method``.

    Parameters
    ----------
    model : TextClassifier
        A fitted classifier; it is not modified.
    method : str, default "int8"
        ``"float32"``, ``"float16"``, or any registered table kind with a ``from_dense``
        constructor (``"int8"``, ``"int4"``, ``"pq"`` ...). ``table_options`` go to it.
        ``"pq"`` defaults to ``n_subvectors = dim // 2`` (fastText's ``-dsub 2``).
    cutoff : int, optional
        Rows to keep, by decreasing score (``"</s>"`` always kept), as fastText's ``-cutoff``;
        at or above the row count nothing is pruned.
    retrain : bool, default False
        Fine-tune the pruned float32 model on ``texts``/``labels`` for ``retrain_epochs``
        (default: the model's epochs), and refit the output layer after quantising.
    texts, labels : sequences, optional
        The training data, needed by ``retrain``.
    retrain_epochs : int, optional
        Epochs of fine-tuning.
    score : {"norm", "usage"}, optional
        Row ranking for ``cutoff``: L2 norm (fastText) or norm x sqrt(occurrences in training).
        Default: "usage" when the model has its row counts, else "norm".
    hash_words : bool, default False
        Store the kept words as sorted 32-bit hashes instead of their text.
    **table_options
        Options of the table kind (``n_subvectors=``, ``random_state=`` ...).

    Returns
    -------
    TextClassifier
        The compressed copy; ``train_info_["compression"]`` records how it was made.

    Raises
    ------
    InputError
        On an unknown method, a bad option, or ``retrain`` without training data.

    Examples
    --------
    >>> from compactemb.train import TextClassifier
    >>> clf = TextClassifier(dim=8, n_buckets=100, epochs=5, n_threads=1).fit(
    ...     ["good film", "bad film", "good", "bad"], ["pos", "neg", "pos", "neg"])
    >>> compress_classifier(clf, "int8", cutoff=4).table_.kind
    'int8'
    """
    from ._classifier import EOS, TextClassifier, _as_label_lists, _as_texts

    model._check_fitted()
    if retrain and (texts is None or labels is None):
        raise InputError("retrain=True needs the training texts and labels")
    if cutoff is not None and (not isinstance(cutoff, (int, np.integer)) or cutoff < 1):
        raise InputError(f"cutoff must be a positive integer, got {cutoff!r}")
    if score is None:
        score = "norm" if model.row_counts_ is None else "usage"
    n_words = model.n_words
    keep = np.arange(model.n_rows, dtype=np.int64)
    if cutoff is not None and cutoff < model.n_rows:
        norms = model.table_.row_norms().astype(np.float64)
        if score == "usage":
            if model.row_counts_ is None:
                raise InputError("score='usage' needs the row counts of a model straight "
                                 "from training; this one is pruned (use score='norm')")
            norms *= np.sqrt(model.row_counts_.astype(np.float64))
        elif score != "norm":
            raise InputError(f"score must be 'norm' or 'usage', got {score!r}")
        eos = model._word_row(EOS)
        if eos >= 0:
            norms[eos] = np.inf
        keep = np.sort(np.argsort(-norms, kind="stable")[:cutoff])
    words = keep[keep < n_words]
    small: Any = TextClassifier(**model.get_params())  # filled in attribute by attribute
    small.meta = dict(model.meta)
    if hash_words or model.vocab_ is None:
        hashes = (model._word_hashes()[words] if model.vocab_ is not None
                  else model.word_hashes_[words].astype(np.uint64))
        # sorted by hash; of two words with one hash the more frequent (earlier) stays
        order = np.lexsort((words, hashes))
        first = np.ones(order.shape[0], dtype=bool)
        first[1:] = hashes[order][1:] != hashes[order][:-1]
        words = words[order[first]]
        keep = np.concatenate([words, keep[keep >= n_words]])
        small.vocab_ = None
        small.word_hashes_ = hashes[order[first]].astype(np.uint32)
    else:
        keys = model.vocab_.keys
        small.vocab_ = Vocab([keys[i] for i in words], model.vocab_.counts[words])
        small.word_hashes_ = None
    small.labels_ = model.labels_
    small.bucket_ids_ = np.ascontiguousarray(model.bucket_ids_[keep[keep >= n_words]
                                                               - n_words])
    pruned = keep.shape[0] < model.n_rows
    small.missing_ngrams_ = "drop" if pruned else model.missing_ngrams_
    small.row_counts_ = None if pruned or model.row_counts_ is None \
        else np.ascontiguousarray(model.row_counts_[keep])
    small.output_ = model.output_.copy()
    rows = model.table_.lookup(keep)
    small.train_info_ = dict(getattr(model, "train_info_", {}))
    small.train_info_["compression"] = {"method": method, "cutoff": cutoff, "score": score,
                                        "hash_words": small.vocab_ is None,
                                        "retrain": bool(retrain), "rows": int(keep.size)}
    if retrain:
        label_lists = _as_label_lists(labels, len(_as_texts(texts)))
        rows = np.ascontiguousarray(rows, dtype=np.float32)
        small.table_ = DenseTable(rows)
        small._retrain(texts, label_lists, retrain_epochs or model.epochs, update_input=True)
    if method == "pq":
        table_options.setdefault("n_subvectors", default_classifier_subvectors(model.dim))
    if method in ("bit1", "bit2"):
        # a float16 scale a row: the bag sums rows, so their lengths matter (SST-2: 1-/2-bit
        # with per-dimension scales only lose 8.2/3.1 points, with row scales ~0)
        table_options.setdefault("scale", "row")
    small.table_ = make_table(rows, method, table_options)
    if retrain and method != "float32":
        small._retrain(texts, label_lists, retrain_epochs or model.epochs,
                       update_input=False)
    return small


def make_table(rows: np.ndarray, method: str, options: dict) -> EmbeddingTable:
    """Store ``rows`` as a table of kind ``method`` (float32/float16 or a ``from_dense`` kind).

    Parameters
    ----------
    rows : ndarray of shape (n, dim)
        The rows to store.
    method : str
        ``"float32"``, ``"float16"`` or a registered table kind with ``from_dense``.
    options : dict
        Options of that kind; ``random_state`` is passed on as the kind's ``seed`` where the
        kind spells it so.

    Returns
    -------
    EmbeddingTable

    Raises
    ------
    InputError
        On an unknown method or options the kind does not take.

    Examples
    --------
    >>> make_table(np.ones((3, 4), np.float32), "float16", {}).kind
    'dense'
    """
    if method in ("float32", "float16"):
        if options:
            raise InputError(f"method {method!r} takes no options, got {sorted(options)}")
        return DenseTable(rows, dtype=method)
    from ..tables import table_kinds

    kinds = table_kinds()
    cls = kinds.get(method)
    if cls is None or not hasattr(cls, "from_dense") or method == "pruned":
        usable = sorted(k for k, c in kinds.items() if hasattr(c, "from_dense") and k != "pruned")
        raise InputError(f"unknown compression method {method!r}; use float32, float16"
                         + "".join(f", {k}" for k in usable))
    try:
        return cls.from_dense(DenseTable(rows), **_seed_spelling(cls.from_dense, options))
    except TypeError as exc:
        raise InputError(f"bad options for method {method!r}: {exc}") from None


def _seed_spelling(func, options: dict) -> dict:
    """``random_state`` under the name ``func`` takes (older constructors call it ``seed``)."""
    import inspect

    if "random_state" not in options:
        return options
    params = inspect.signature(func).parameters
    if "random_state" in params or "seed" not in params:
        return options
    out = dict(options)
    out["seed"] = out.pop("random_state")
    return out
