"""Trainers: each one's ``fit`` returns the estimator, whose learned attributes end in ``_``."""

from ._classifier import TextClassifier
from ._mf import ALS, BPR
from ._svd import PPMISVD, PureSVD, cooccurrence, ppmi, randomized_svd
from ._word2vec import Word2Vec

__all__ = ["ALS", "BPR", "PPMISVD", "PureSVD", "TextClassifier", "Word2Vec", "cooccurrence",
           "ppmi", "randomized_svd"]
