"""compactemb: compact learned embeddings for sparse categorical data, every byte accounted for.

Importing the package is cheap: no numba kernel is compiled or imported until it is used.
"""

from __future__ import annotations

__version__ = "0.1.0"

from .exceptions import CompactEmbError, FormatError, InputError, UnknownKeyError  # noqa: E402
from .keyed import KeyedVectors  # noqa: E402
from .memory import (  # noqa: E402
    MemoryReport,
    interaction_memory,
    memory_report,
    onehot_vs_embedding,
    plot_memory_growth,
)
from .onehot import OneHotEncoder  # noqa: E402
from .storage import load  # noqa: E402
from .tables import DenseTable, EmbeddingTable  # noqa: E402
from .text import Tokenizer  # noqa: E402
from .vocab import Vocab  # noqa: E402

__all__ = [
    "__version__", "CompactEmbError", "FormatError", "InputError", "UnknownKeyError",
    "KeyedVectors", "MemoryReport", "interaction_memory", "memory_report", "onehot_vs_embedding",
    "plot_memory_growth", "OneHotEncoder", "load", "DenseTable", "EmbeddingTable", "Tokenizer",
    "Vocab",
]
