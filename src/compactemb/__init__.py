"""compactemb: compact learned embeddings for sparse categorical data, every byte accounted for.

Importing the package is cheap: the public names below are imported on first use (PEP 562), and
no numba kernel is compiled or imported until it is used. The command line's entry point imports
this package, so a cheap import also means Ctrl-C is caught from the first moment.
"""

from __future__ import annotations

# nothing heavy here, not even ``typing``: the command line's entry point imports this package
# before it can catch Ctrl-C
TYPE_CHECKING = False

__version__ = "0.1.0"

# public name -> the module that defines it, imported on first access
_LAZY = {
    "CompactEmbError": "exceptions",
    "FormatError": "exceptions",
    "InputError": "exceptions",
    "UnknownKeyError": "exceptions",
    "KeyedVectors": "keyed",
    "MemoryReport": "memory",
    "interaction_memory": "memory",
    "memory_report": "memory",
    "onehot_vs_embedding": "memory",
    "plot_memory_growth": "memory",
    "OneHotEncoder": "onehot",
    "load": "storage",
    "DenseTable": "tables",
    "EmbeddingTable": "tables",
    "Tokenizer": "text",
    "Vocab": "vocab",
}

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs
    from .exceptions import CompactEmbError, FormatError, InputError, UnknownKeyError
    from .keyed import KeyedVectors
    from .memory import (
        MemoryReport,
        interaction_memory,
        memory_report,
        onehot_vs_embedding,
        plot_memory_growth,
    )
    from .onehot import OneHotEncoder
    from .storage import load
    from .tables import DenseTable, EmbeddingTable
    from .text import Tokenizer
    from .vocab import Vocab


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'compactemb' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "__version__", "CompactEmbError", "FormatError", "InputError", "UnknownKeyError",
    "KeyedVectors", "MemoryReport", "interaction_memory", "memory_report", "onehot_vs_embedding",
    "plot_memory_growth", "OneHotEncoder", "load", "DenseTable", "EmbeddingTable", "Tokenizer",
    "Vocab",
]
