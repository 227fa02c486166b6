"""Evaluation of embeddings: word similarity and analogies (ranking metrics come later)."""

from ._words import (
    AnalogyResult,
    SimilarityResult,
    evaluate_analogies,
    evaluate_similarity,
    read_analogies,
    read_similarity,
)

__all__ = ["AnalogyResult", "SimilarityResult", "evaluate_analogies", "evaluate_similarity",
           "read_analogies", "read_similarity"]
