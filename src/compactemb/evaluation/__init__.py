"""Evaluation of embeddings: word similarity and analogies; ranking metrics of recommenders."""

from ._ranking import metrics_from_recommendations, ranking_metrics
from ._words import (
    AnalogyResult,
    SimilarityResult,
    evaluate_analogies,
    evaluate_similarity,
    read_analogies,
    read_similarity,
)

__all__ = ["AnalogyResult", "SimilarityResult", "evaluate_analogies", "evaluate_similarity",
           "metrics_from_recommendations", "ranking_metrics", "read_analogies",
           "read_similarity"]
