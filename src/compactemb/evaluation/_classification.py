"""Classification metrics: accuracy, macro precision/recall/F1, and P@k / R@k (multi-label).

Gold labels are given per example as one label or a list of labels; predictions as ranked label
lists (best first), as ``TextClassifier.predict`` returns them. Single-label definitions match
scikit-learn (macro averages over every label that is gold or predicted somewhere, a zero
denominator counting as 0); P@k and R@k are fastText's: correct labels among the top ``k``
divided by ``k`` per example (precision) or by the number of gold labels (recall), summed over
all examples.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

from ..exceptions import InputError


def _gold_lists(y_true) -> list[list]:
    return [list(y) if isinstance(y, (list, tuple, set, frozenset)) else [y] for y in y_true]


def _pred_lists(y_pred) -> list[list]:
    return [list(y) if isinstance(y, (list, tuple)) else [y] for y in y_pred]


def accuracy(y_true, y_pred) -> float:
    """Fraction of examples whose top prediction is one of their gold labels."""
    gold, pred = _gold_lists(y_true), _pred_lists(y_pred)
    _check_lengths(gold, pred)
    return sum(bool(p) and p[0] in g for g, p in zip(gold, pred)) / len(gold)


def _check_lengths(gold, pred) -> None:
    if len(gold) != len(pred):
        raise InputError(f"{len(gold)} gold labels but {len(pred)} predictions")
    if not gold:
        raise InputError("no examples to evaluate")


def per_class_scores(y_true, y_pred) -> dict[Hashable, dict]:
    """Precision, recall, F1 and support of every label, from each top-1 prediction."""
    gold, pred = _gold_lists(y_true), _pred_lists(y_pred)
    _check_lengths(gold, pred)
    tp: dict = {}
    fp: dict = {}
    fn: dict = {}
    support: dict = {}
    for g, p in zip(gold, pred):
        top = p[0] if p else None
        gs = set(g)
        for lab in gs:
            support[lab] = support.get(lab, 0) + 1
            if lab == top:
                tp[lab] = tp.get(lab, 0) + 1
            else:
                fn[lab] = fn.get(lab, 0) + 1
        if top is not None and top not in gs:
            fp[top] = fp.get(top, 0) + 1
    labels = list(dict.fromkeys([*support, *fp]))
    out = {}
    for lab in labels:
        t, f_p, f_n = tp.get(lab, 0), fp.get(lab, 0), fn.get(lab, 0)
        prec = t / (t + f_p) if t + f_p else 0.0
        rec = t / (t + f_n) if t + f_n else 0.0
        f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
        out[lab] = {"precision": prec, "recall": rec, "f1": f1, "support": support.get(lab, 0)}
    return out


def precision_recall_at_k(y_true, y_pred, k: int) -> tuple[float, float]:
    """fastText's P@k and R@k over ranked predictions (only the first ``k`` of each count)."""
    if not isinstance(k, int) or k < 1:
        raise InputError(f"k must be a positive integer, got {k!r}")
    gold, pred = _gold_lists(y_true), _pred_lists(y_pred)
    _check_lengths(gold, pred)
    hits = n_gold = 0
    for g, p in zip(gold, pred):
        gs = set(g)
        hits += sum(lab in gs for lab in p[:k])
        n_gold += len(gs)
    return hits / (k * len(gold)), hits / n_gold if n_gold else 0.0


def classification_metrics(y_true, y_pred, *, k: int = 1,
                           classes: Sequence[Hashable] | None = None) -> dict:
    """Accuracy, macro precision/recall/F1, P@k/R@k, per-class scores.

    Parameters
    ----------
    y_true : sequence
        Gold label, or list of gold labels, per example.
    y_pred : sequence of lists
        Ranked predictions per example (at least ``k`` for P@k to mean what it says).
    classes : sequence, optional
        The labels the model knows. Gold labels outside it (never seen in training) are listed
        under ``unseen_labels``; their examples stay in every metric and count as errors, since
        no prediction can match them.
    """
    gold = _gold_lists(y_true)
    pred = _pred_lists(y_pred)
    per = per_class_scores(gold, pred)
    n = len(per)
    p_at_k, r_at_k = precision_recall_at_k(gold, pred, k)
    out = {
        "n": len(gold),
        "accuracy": accuracy(gold, pred),
        "macro_precision": sum(v["precision"] for v in per.values()) / n,
        "macro_recall": sum(v["recall"] for v in per.values()) / n,
        "macro_f1": sum(v["f1"] for v in per.values()) / n,
        "k": k, f"precision_at_{k}": p_at_k, f"recall_at_{k}": r_at_k,
        "multi_label": any(len(g) > 1 for g in gold),
    }
    if classes is not None:
        known = set(classes)
        unseen = sorted({str(lab) for g in gold for lab in g if lab not in known})
        out["unseen_labels"] = unseen
        out["unseen_examples"] = sum(any(lab not in known for lab in g) for g in gold)
    out["per_class"] = {str(lab): v for lab, v in per.items()}
    return out
