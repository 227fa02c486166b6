"""Scale-out on Ray: the same jobs on a cluster (``pip install 'compactemb[ray]'``).

Ray is imported only when a job runs. :class:`RayALS` is ALS with users and items sharded
across actors; :func:`count_vocab` and :func:`count_cooccurrence` count a corpus over many
files (:class:`RayPPMISVD` trains on those counts); :func:`recommend_all` ranks items for
every user over shards; :class:`InteractionShards` is an interaction log in Parquet/CSV
shard files that :class:`RayALS` reads as a Ray Dataset on the cluster; :func:`ray_session`
connects (an address, ``"auto"``, or a local cluster) and :class:`LocalCluster` starts a
loopback cluster of several nodes (tests, benchmarks); :func:`compress_on_ray` compresses with
row ranges as tasks; :func:`embed_and_push` embeds text files as tasks, each pushing its
rows to a Milvus server. See docs/SCALE.md.
"""

from __future__ import annotations

import importlib

# name -> submodule; loaded on first use so that the command line stays light
_EXPORTS = {"RayALS": "_als", "recommend_all": "_batch", "ClusterError": "_cluster",
            "LocalCluster": "_cluster", "ray_session": "_cluster", "RayPPMISVD": "_counting",
            "count_cooccurrence": "_counting", "count_vocab": "_counting",
            "InteractionShards": "_shards", "index_interaction_shards": "_shards",
            "compress_on_ray": "_compress", "ray_compression": "_compress",
            "embed_and_push": "_docs"}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
