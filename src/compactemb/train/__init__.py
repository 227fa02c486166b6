"""Trainers: each one's ``fit`` returns the estimator, whose learned attributes end in ``_``.

Imported lazily by name, so that ``from compactemb.train import Word2Vec`` loads neither scipy
(used by the SVD and matrix-factorisation trainers) nor the other trainers.
"""

from __future__ import annotations

import importlib

_WHERE = {
    "ALS": "._mf", "BPR": "._mf",
    "PPMISVD": "._svd", "PureSVD": "._svd", "cooccurrence": "._svd", "ppmi": "._svd",
    "randomized_svd": "._svd",
    "TextClassifier": "._classifier",
    "Word2Vec": "._word2vec",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_WHERE[name], __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_WHERE))
