"""Trainers: each one's ``fit`` returns the estimator, whose learned attributes end in ``_``."""

from ._svd import PPMISVD, PureSVD, cooccurrence, ppmi, randomized_svd

__all__ = ["PPMISVD", "PureSVD", "cooccurrence", "ppmi", "randomized_svd"]
