"""Trainers, all on one contract (``compactemb.train._base``, tests/test_trainer_contract.py).

* keyword parameters only, one spelling per concept: ``dim``, ``epochs``, ``learning_rate``,
  ``random_state``, ``n_threads``, ``min_count`` (``alpha`` only as ALS's confidence scale);
  ``get_params()`` / ``set_params()``; old spellings (``iterations``, Word2Vec's ``alpha`` and
  ``min_alpha``) still work with a DeprecationWarning;
* ``fit(data, callback=None)`` validates the parameters, trains and returns the trainer; word
  trainers take a path, lines or token lists, item trainers an Interactions or a users x items
  matrix; ``callback(epoch, info)`` runs after each epoch (``info["seconds"]``, and ``loss``
  or ``train_auc`` when known) and returning False stops training;
* the trained object is ``model_``: KeyedVectors (Word2Vec, PPMISVD), FactorModel (ALS, BPR,
  PureSVD), the classifier itself (TextClassifier); learned attributes end in ``_``, and
  reading one before ``fit`` raises NotFittedError.

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
    "FastText": "._fasttext",
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
