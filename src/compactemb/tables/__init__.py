"""Embedding tables: the lookup-table protocol and its kinds.

Every kind (dense float32/float16 here; quantised, product-quantised, hashed, quotient-remainder
and mixed-dimension kinds later) implements :class:`EmbeddingTable`, so lookups, bags,
neighbours, evaluation, storage and the memory report work on all of them unchanged.
"""

from ._base import EmbeddingTable, check_bag_inputs, register_table
from ._dense import DenseTable
from ._hashed import HashedTable, QRTable
from ._lowbit import Bit1Table, Bit2Table
from ._lowrank import LowRankTable
from ._mixed import MixedDimTable
from ._pq import PQTable
from ._pq4 import PQ4Table
from ._pruned import PrunedTable
from ._quantized import Int4Table, Int8Table
from ._rq import RQTable
from ._subword import SubwordTable
from ._tiered import TieredTable

__all__ = ["EmbeddingTable", "DenseTable", "register_table", "check_bag_inputs", "table_kinds",
           "Int8Table", "Int4Table", "PQTable", "LowRankTable", "PrunedTable", "HashedTable",
           "QRTable", "MixedDimTable", "Bit1Table", "Bit2Table", "TieredTable", "SubwordTable",
           "RQTable", "PQ4Table"]


def table_kinds() -> dict[str, type[EmbeddingTable]]:
    """The registered table kinds, by name.

    Returns
    -------
    dict of str to type
        Kind name -> table class.
    """
    from ..storage import registered_kinds

    return {name: cls for name, cls in registered_kinds(import_all=False)["components"].items()
            if issubclass(cls, EmbeddingTable)}


def _load_table_file(stored):
    from ..storage import build_component

    table = build_component(stored, "table")
    table.meta = stored.meta
    return table


def _register_file_kind():
    from ..storage import register_file_kind

    register_file_kind("table", _load_table_file)


_register_file_kind()
