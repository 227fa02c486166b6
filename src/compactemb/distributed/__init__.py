"""Scale-out on Ray: the same jobs on a cluster (``pip install 'compactemb[ray]'``).

Ray is imported only when a job runs. :class:`RayALS` is ALS with users and items sharded
across actors; :func:`count_vocab` and :func:`count_cooccurrence` count a corpus over many
files (:class:`RayPPMISVD` trains on those counts); :func:`recommend_all` ranks items for
every user over shards; :func:`ray_session` connects (an address, ``"auto"``, or a local
cluster) and :class:`LocalCluster` starts a loopback cluster of several nodes (tests,
benchmarks). See docs/SCALE.md.
"""

from __future__ import annotations

from ._als import RayALS
from ._batch import recommend_all
from ._cluster import ClusterError, LocalCluster, ray_session
from ._counting import RayPPMISVD, count_cooccurrence, count_vocab

__all__ = ["ClusterError", "LocalCluster", "RayALS", "RayPPMISVD", "count_cooccurrence",
           "count_vocab", "ray_session", "recommend_all"]
