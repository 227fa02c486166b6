"""Scale-out on Ray: the same jobs on a cluster (``pip install 'compactemb[ray]'``).

Ray is imported only when a job runs. :class:`RayALS` is ALS with users and items sharded
across actors; :func:`count_vocab` and :func:`count_cooccurrence` count a corpus over many
files; :func:`recommend_all` ranks items for every user over shards; :func:`ray_session`
connects (an address, ``"auto"``, or a local cluster). See docs/SCALE.md.
"""

from __future__ import annotations

from ._als import RayALS
from ._cluster import ClusterError, ray_session

__all__ = ["ClusterError", "RayALS", "ray_session"]
