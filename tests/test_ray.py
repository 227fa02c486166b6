"""The Ray backend on a real two-node cluster on this machine (every node on 127.0.0.1).

One module-scoped cluster: a head and a second node, each a ``ray start --block`` process
started by :class:`LocalCluster`; the tests connect to it by address and compare with the
single-process code; the cluster's processes are ended in the fixture's finalizer, pass or fail.
"""

from __future__ import annotations

import os
import signal

import numpy as np
import pytest
import scipy.sparse as sp
from _net import tcp_sockets

from compactemb.distributed import (
    ClusterError,
    LocalCluster,
    RayALS,
    RayPPMISVD,
    count_cooccurrence,
    count_vocab,
    recommend_all,
)
from compactemb.distributed._cluster import free_port
from compactemb.distributed._counting import corpus_units
from compactemb.train import ALS, PPMISVD
from compactemb.vocab import Vocab

LOOPBACK = {"127.0.0.1", "::1", "::ffff:127.0.0.1"}
ANY = {"0.0.0.0", "::"}  # the remote end of a listening socket


@pytest.fixture(scope="module")
def cluster():
    import ray

    from compactemb.distributed._cluster import LOOPBACK, pin_loopback

    local = LocalCluster(n_nodes=2, cpus_per_node=2, object_store_memory=150_000_000)
    try:
        with local.driver_env():
            pin_loopback()
            ray.init(address=local.address, _node_ip_address=LOOPBACK, logging_level="error",
                     log_to_driver=False)
            try:
                yield local
            finally:
                ray.shutdown()
    finally:
        local.stop()
        assert not local.pids(), "cluster processes left running"


@pytest.fixture(scope="module")
def interactions():
    rng = np.random.default_rng(7)
    n_users, n_items, nnz = 400, 1500, 4000
    m = sp.coo_matrix((rng.integers(1, 6, nnz).astype(np.float32),
                       (rng.integers(0, n_users, nnz), rng.integers(0, n_items, nnz))),
                      shape=(n_users, n_items)).tocsr()
    m.sum_duplicates()
    return m


def test_two_nodes_all_on_loopback(cluster):
    import ray

    nodes = [n for n in ray.nodes() if n["Alive"]]
    assert len(nodes) == 2
    assert {n["NodeManagerAddress"] for n in nodes} == {"127.0.0.1"}
    sockets = tcp_sockets(cluster.pids())
    assert sockets, "no socket found for the cluster processes"
    # every socket of the nodes, listening or connected, is on loopback at both ends
    assert [s for s in sockets if s[0] not in LOOPBACK or s[2] not in LOOPBACK | ANY] == []
    # and so are the driver's connections to them (the test process may hold others)
    ports = {s[1] for s in sockets}
    driver = [s for s in tcp_sockets([os.getpid()]) if s[3] in ports]
    assert driver and [s for s in driver if s[0] not in LOOPBACK or s[2] not in LOOPBACK] == []


@pytest.mark.parametrize("partition, solver", [("broadcast", "cg"), ("blocked", "cholesky")])
def test_als_equals_single_process(cluster, interactions, partition, solver):
    params = dict(dim=8, epochs=3, regularization=0.05, solver=solver, random_state=3)
    ref = ALS(n_threads=1, **params).fit(interactions)
    est = RayALS(address=cluster.address, n_workers=2, partition=partition,
                 **params).fit(interactions)
    assert est.partition_ == partition
    assert len({s["node_id"] for s in est.worker_stats_}) == 2  # one actor on each node
    scale = np.abs(ref.user_factors_).max()
    np.testing.assert_allclose(est.user_factors_, ref.user_factors_, atol=2e-4 * scale, rtol=0)
    np.testing.assert_allclose(est.item_factors_, ref.item_factors_,
                               atol=2e-4 * np.abs(ref.item_factors_).max(), rtol=0)
    # what went between the actors is what the plan says
    received = sum(s["bytes_received"] for s in est.worker_stats_)
    assert received == 3 * est.plan_["bytes_sent_per_iteration"]
    top_ref = ref.model_.recommend_rows(np.arange(50), k=10).ids
    top = est.model_.recommend_rows(np.arange(50), k=10).ids
    assert (top_ref == top).mean() > 0.95


def test_blocked_scheme_by_a_forced_small_limit(cluster, interactions):
    ref = ALS(dim=8, epochs=2, n_threads=1, random_state=1).fit(interactions)
    est = RayALS(dim=8, epochs=2, random_state=1, address=cluster.address, n_workers=3,
                 max_factor_bytes=1000).fit(interactions)
    assert est.partition_ == "blocked"
    n_users, n_items = interactions.shape
    # each actor holds only the item rows its users touch, never the whole item table
    need_items = est.plan_["need_rows"][0]
    for k in range(est.plan_["n_shards"]):
        assert need_items[k] < n_items
    bcast = RayALS(dim=8, epochs=2, address=cluster.address, n_workers=3,
                   max_factor_bytes=10**9)
    assert bcast._choose_partition(__import__("ray"), n_users, n_items) == "broadcast"
    np.testing.assert_allclose(est.item_factors_, ref.item_factors_,
                               atol=2e-4 * np.abs(ref.item_factors_).max(), rtol=0)


def test_worker_killed_mid_job_is_restarted(cluster, interactions):
    ref = ALS(dim=8, epochs=4, n_threads=1, random_state=5).fit(interactions)
    killed = []

    def kill_one(epoch, info):
        if epoch == 1:
            pid = est.worker_pids_[0]
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

    est = RayALS(dim=8, epochs=4, random_state=5, address=cluster.address, n_workers=2,
                 partition="broadcast")
    est.fit(interactions, callback=kill_one)
    assert killed
    assert killed[0] not in [s["pid"] for s in est.worker_stats_]  # a new process took over
    np.testing.assert_allclose(est.user_factors_, ref.user_factors_,
                               atol=2e-4 * np.abs(ref.user_factors_).max(), rtol=0)
    np.testing.assert_allclose(est.item_factors_, ref.item_factors_,
                               atol=2e-4 * np.abs(ref.item_factors_).max(), rtol=0)


def test_unreachable_cluster_is_one_clear_error(cluster, interactions):
    port = free_port()
    with pytest.raises(ClusterError) as err:
        RayALS(dim=4, epochs=1, address=f"127.0.0.1:{port}").fit(interactions)
    message = str(err.value)
    assert "\n" not in message and f"127.0.0.1:{port}" in message
    with pytest.raises(ClusterError, match="HOST:PORT"):
        RayALS(dim=4, epochs=1, address="nowhere").fit(interactions)


@pytest.fixture(scope="module")
def corpus_files(tmp_path_factory):
    rng = np.random.default_rng(3)
    words = [f"w{c}" for c in "abcdefghijklmnopqrstuvwxyz"] + ["Élan", "naïve", "x"]
    p = rng.zipf(1.5, 40_000) % len(words)
    tokens = [words[i] for i in p]
    d = tmp_path_factory.mktemp("corpus")
    paths = []
    import gzip

    for n in range(3):
        lines = [" ".join(tokens[i:i + 1 + (i % 13)])
                 for i in range(n * 4000, (n + 1) * 4000, 7)]
        path = d / (f"part{n}.txt.gz" if n == 1 else f"part{n}.txt")
        data = ("\ufeff" if n == 0 else "") + "\n".join(lines) + "\n\n"
        if n == 1:
            with gzip.open(path, "wt", encoding="utf-8") as f:
                f.write(data)
        else:
            path.write_text(data, encoding="utf-8")
        paths.append(str(path))
    return paths


def test_vocab_counts_equal_single_process(cluster, corpus_files):
    from compactemb.text import Corpus

    # small byte ranges: the plain files are cut into many units, mid-line
    units = corpus_units(corpus_files, chunk_bytes=997)
    assert len(units) > 10 and any(u[1] > 0 for u in units)
    ref = Vocab.from_corpus(Corpus(corpus_files), min_count=2)
    got = count_vocab(corpus_files, min_count=2, address=cluster.address, chunk_bytes=997)
    assert got.keys == ref.keys
    assert got.counts.tolist() == ref.counts.tolist()
    assert got.build_info["tokens"] == ref.build_info["tokens"]


def test_cooccurrence_and_ppmi_svd_equal_single_process(cluster, corpus_files):
    from compactemb.text import Corpus
    from compactemb.train._svd import cooccurrence

    vocab = Vocab.from_corpus(Corpus(corpus_files), min_count=3)
    ref = cooccurrence(vocab.encode_corpus(Corpus(corpus_files)), len(vocab), window=3,
                       weighting="harmonic")
    got = count_cooccurrence(corpus_files, vocab, window=3, weighting="harmonic",
                             address=cluster.address, chunk_bytes=1500)
    assert (got != ref).nnz == 0 or np.abs((got - ref).data).max() < 1e-9
    assert got.nnz == ref.nnz
    kv_ref = PPMISVD(dim=5, min_count=3).fit(Corpus(corpus_files)).model_
    kv = RayPPMISVD(dim=5, min_count=3, address=cluster.address,
                    chunk_bytes=1500).fit(corpus_files).model_
    assert kv.vocab.keys == kv_ref.vocab.keys
    # singular vectors are defined up to sign: compare |cosine| of each column
    rows = np.arange(len(kv.vocab))
    a, b = kv.table.lookup(rows), kv_ref.table.lookup(rows)
    cos = np.abs((a * b).sum(0)) / (np.linalg.norm(a, axis=0) * np.linalg.norm(b, axis=0))
    assert cos.min() > 0.999


def test_recommend_all_equals_single_process(cluster, interactions):
    model = ALS(dim=8, epochs=2, n_threads=1).fit(interactions).model_
    ref = model.recommend_rows(np.arange(model.n_users), k=7)
    got = recommend_all(model, k=7, n_shards=5, address=cluster.address)
    np.testing.assert_array_equal(got.ids, ref.ids)
    # the same code per row; BLAS may sum in another order with another thread count
    np.testing.assert_allclose(got.scores, ref.scores, rtol=1e-5)


def _cli(capsys, *argv):
    import json

    from compactemb.cli import main

    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, (json.loads(out) if code == 0 and "--json" in argv else out), err


def test_cli_ray_switch(cluster, interactions, corpus_files, tmp_path, capsys):
    from compactemb.storage import load

    coo = interactions.tocoo()
    log = tmp_path / "log.tsv"
    log.write_text("".join(f"{u}\t{i}\t{int(w)}\n" for u, i, w in
                           zip(coo.row, coo.col, coo.data)))
    ray = f"--ray={cluster.address}"
    code, out, err = _cli(capsys, "train", "items", str(log), "-o", str(tmp_path / "m.cemb"),
                          "--method", "als", "--dim", "8", "--epochs", "2", ray, "--json")
    assert code == 0, err
    model = load(str(tmp_path / "m.cemb"))
    assert model.meta["backend"] == "ray" and model.meta["n_shards"] == 2
    assert out["users"] == interactions.shape[0] - (np.diff(interactions.indptr) == 0).sum()
    code, out, err = _cli(capsys, "vocab", corpus_files[0], "-o", str(tmp_path / "v.cemb"),
                          "--min-count", "2", ray, "--json")
    assert code == 0, err
    assert out["most_frequent"] == Vocab.from_corpus(corpus_files[0], min_count=2).keys[:10]
    code, out, err = _cli(capsys, "train", "words", corpus_files[2], "-o",
                          str(tmp_path / "w.cemb"), "--dim", "4", "--min-count", "2", ray,
                          "--json")
    assert code == 0, err
    # no distributed version: a clear error, not a silent single-process run
    code, _, err = _cli(capsys, "train", "words", corpus_files[2], "-o",
                        str(tmp_path / "w2.cemb"), "--method", "sgns", ray)
    assert code == 1 and "--ray is available for --method svd" in err
    # every user's recommendations: batches ranked on the cluster, the same file as locally
    for name, extra in (("local.tsv", []), ("ray.tsv", [ray])):
        code, _, err = _cli(capsys, "recommend", str(tmp_path / "m.cemb"), "--all", "-o",
                            str(tmp_path / name), "-k", "5", "--batch", "37", *extra)
        assert code == 0, err
    local = [line.split("\t") for line in (tmp_path / "local.tsv").read_text().splitlines()]
    dist = [line.split("\t") for line in (tmp_path / "ray.tsv").read_text().splitlines()]
    assert len(local) == len(dist) > interactions.shape[0]
    assert [r[:3] for r in local] == [r[:3] for r in dist]
    np.testing.assert_allclose([float(r[3]) for r in local[1:]],
                               [float(r[3]) for r in dist[1:]], rtol=1e-5)
    code, _, err = _cli(capsys, "train", "items", str(log), "-o", str(tmp_path / "m2.cemb"),
                        "--method", "als", f"--ray=127.0.0.1:{free_port()}")
    assert code == 1 and err.count("\n") == 1 and "no Ray cluster answers" in err


@pytest.fixture(scope="module")
def shard_log(tmp_path_factory):
    """An interaction log cut into CSV shards (int IDs, repeated pairs across shards) and the
    same rows in Parquet shards (string IDs), with one file of all the rows in order."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(11)
    n = 6000
    users = rng.integers(1000, 1400, n)
    items = rng.zipf(1.2, n) % 900
    weights = rng.integers(1, 5, n)
    d = tmp_path_factory.mktemp("shards")
    (d / "csv").mkdir()
    (d / "pq").mkdir()
    cuts = [0, 1700, 1701, 4200, n]  # a one-row shard too
    for s, (a, b) in enumerate(zip(cuts, cuts[1:])):
        rows = "".join(f"{u},{i},{w}\n" for u, i, w in
                       zip(users[a:b], items[a:b], weights[a:b]))
        (d / "csv" / f"part-{s:03d}.csv").write_text("user,item,rating\n" + rows)
        pq.write_table(pa.table({"uid": [f"u{u}" for u in users[a:b]],
                                 "iid": [f"i{i}" for i in items[a:b]],
                                 "w": weights[a:b].astype(np.float64)}),
                       d / "pq" / f"part-{s:03d}.parquet", row_group_size=500)
    whole = d / "all.csv"
    whole.write_text("user,item,rating\n" + "".join(
        f"{u},{i},{w}\n" for u, i, w in zip(users, items, weights)))
    whole_str = d / "all_str.csv"
    whole_str.write_text("uid,iid,w\n" + "".join(
        f"u{u},i{i},{w}\n" for u, i, w in zip(users, items, weights)))
    return d


def test_als_on_shards_equals_single_process(cluster, shard_log):
    # the blocked scheme with 3 workers: send lists from every build task; the broadcast
    # scheme reads shards in test_cli_train_items_on_shards
    partition, workers = "blocked", 3
    from compactemb.distributed import InteractionShards
    from compactemb.interactions_io import read_interactions

    ref_inter = read_interactions(shard_log / "all.csv")
    params = dict(dim=8, epochs=3, regularization=0.05, random_state=4, weighting="log")
    ref = ALS(n_threads=1, **params).fit(ref_inter)
    files = sorted(str(p) for p in (shard_log / "csv").iterdir())
    est = RayALS(address=cluster.address, n_workers=workers, partition=partition,
                 **params).fit(InteractionShards(files))
    assert est.partition_ == partition and est.plan_["n_shards"] == workers
    model = est.model_
    # the index merged from the blocks' IDs is read_interactions' on the same rows: keys by
    # count, ties in first-seen order (Parquet shards with string IDs: the CLI test below)
    for got, want in ((model.user_vocab, ref_inter.user_vocab),
                      (model.item_vocab, ref_inter.item_vocab)):
        assert got.key_type == want.key_type == "int"
        assert got.keys == want.keys
        assert got.counts.tolist() == want.counts.tolist()
    # the seen pattern is the single-process one (repeated pairs summed)
    want = ref_inter.matrix
    np.testing.assert_array_equal(model._seen.indptr, want.indptr)
    np.testing.assert_array_equal(model._seen.indices, want.indices)
    assert model.meta["n_interactions"] == want.nnz
    for a, b in ((est.user_factors_, ref.user_factors_), (est.item_factors_, ref.item_factors_)):
        np.testing.assert_allclose(a, b, atol=2e-4 * np.abs(b).max(), rtol=0)
    received = sum(s["bytes_received"] for s in est.worker_stats_)
    assert received == 3 * est.plan_["bytes_sent_per_iteration"]


def test_cli_train_items_on_shards(cluster, shard_log, tmp_path, capsys):
    from compactemb.interactions_io import read_interactions
    from compactemb.storage import load

    ray = f"--ray={cluster.address}"
    ref = read_interactions(shard_log / "all_str.csv")
    code, out, err = _cli(capsys, "train", "items", str(shard_log / "pq" / "*.parquet"), "-o",
                          str(tmp_path / "m.cemb"), "--method", "als", "--dim", "4",
                          "--epochs", "1", "--user-col", "uid", "--item-col", "iid", ray,
                          "--json")
    assert code == 0, err
    assert out["interactions"] == ref.nnz
    # the index of the Parquet shards (string IDs) is read_interactions' of the same rows
    model = load(str(tmp_path / "m.cemb"))
    for got, want in ((model.user_vocab, ref.user_vocab), (model.item_vocab, ref.item_vocab)):
        assert got.key_type == want.key_type == "str"
        assert got.keys == want.keys
        assert got.counts.tolist() == want.counts.tolist()
    code, _, err = _cli(capsys, "train", "items", str(shard_log / "csv"), "-o",
                        str(tmp_path / "m2.cemb"), "--method", "als", "--format", "movielens",
                        ray)
    assert code == 1 and "--format auto, csv, tsv or parquet" in err


def _saved_bytes(obj, path) -> bytes:
    obj.save(str(path))
    return path.read_bytes()


def test_compress_on_ray_is_the_local_file(cluster, tmp_path, capsys):
    from compactemb import DenseTable, KeyedVectors, Vocab
    from compactemb.compress import compress
    from compactemb.distributed import compress_on_ray

    rng = np.random.default_rng(2)
    kv = KeyedVectors(Vocab([f"w{i}" for i in range(3001)], np.arange(3001, 0, -1)),
                      DenseTable(rng.standard_normal((3001, 12)).astype(np.float32)))
    for method in ("int8", "int4", "float16", "pruned+int8"):
        local = _saved_bytes(compress(kv, method), tmp_path / "local.cemb")
        dist = _saved_bytes(compress_on_ray(kv, method, address=cluster.address,
                                            rows_per_task=700), tmp_path / "ray.cemb")
        assert dist == local, method
    # PQ: codebooks trained on the driver, rows encoded in two tasks of whole 65,536-row blocks
    big = DenseTable(rng.standard_normal((70_000, 8)).astype(np.float32))
    opts = dict(n_subvectors=2, n_centroids=16, n_iter=3, sample=3000, rotation=True,
                random_state=5)
    local = _saved_bytes(compress(big, "pq", **opts), tmp_path / "local.cemb")
    dist = _saved_bytes(compress_on_ray(big, "pq", address=cluster.address, rows_per_task=1,
                                        **opts), tmp_path / "ray.cemb")
    assert dist == local
    # the command line: --ray gives the local file
    kv.save(str(tmp_path / "kv.cemb"))
    for name, extra in (("c_local.cemb", []), ("c_ray.cemb", [f"--ray={cluster.address}"])):
        code, _, err = _cli(capsys, "compress", str(tmp_path / "kv.cemb"), "-o",
                            str(tmp_path / name), "--method", "pq", "--n-subvectors", "3",
                            "--n-centroids", "8", *extra)
        assert code == 0, err
    assert (tmp_path / "c_ray.cemb").read_bytes() == (tmp_path / "c_local.cemb").read_bytes()


_LOCAL_START = r"""
import json, os, sys, time
sys.path.insert(0, sys.argv[3])
from _net import tcp_sockets
from compactemb.cli import main
from compactemb.distributed import count_vocab
from compactemb.distributed._cluster import _children, _start_time, ray_session

def tree():
    t, out = _children(), []
    todo = list(t.get(os.getpid(), []))
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(t.get(pid, []))
    return [p for p in out if _start_time(p) is not None]

def left():
    deadline = time.monotonic() + 30
    while tree() and time.monotonic() < deadline:
        time.sleep(0.5)
    return tree()

report = {}
with ray_session(None, num_cpus=1, object_store_memory=80_000_000) as ray:
    report["nodes"] = [n["NodeManagerAddress"] for n in ray.nodes()]
    report["keys"] = count_vocab([sys.argv[1]], min_count=2).keys
    pids = tree()
    report["pids"] = len(pids)
    report["sockets"] = tcp_sockets(pids + [os.getpid()])
report["left_after_session"] = left()
report["cli_code"] = main(["vocab", sys.argv[1], "-o", sys.argv[2], "--min-count", "2",
                           "--ray"])
report["left_after_cli"] = left()
print("REPORT " + json.dumps(report))
"""


def test_ray_without_address_starts_a_local_cluster(corpus_files, tmp_path):
    import json
    import shutil
    import subprocess
    import sys
    import tempfile

    from _net import is_loopback

    from compactemb.storage import load

    home = tmp_path / "home"
    home.mkdir()
    ray_tmp = tempfile.mkdtemp(prefix="cemb-rt-")  # short: unix socket paths
    env = dict(os.environ, HOME=str(home), RAY_TMPDIR=ray_tmp, RAY_USAGE_STATS_ENABLED="0")
    env.pop("RAY_ADDRESS", None)
    try:
        proc = subprocess.run(
            [sys.executable, "-c", _LOCAL_START, corpus_files[0], str(tmp_path / "v.cemb"),
             os.path.dirname(__file__)], env=env, capture_output=True, text=True, timeout=300)
    finally:
        shutil.rmtree(ray_tmp, ignore_errors=True)
    line = [x for x in proc.stdout.splitlines() if x.startswith("REPORT ")]
    assert proc.returncode == 0 and line, proc.stderr[-3000:]
    report = json.loads(line[0][7:])
    ref = Vocab.from_corpus(corpus_files[0], min_count=2)
    assert report["keys"] == ref.keys
    assert report["nodes"] == ["127.0.0.1"] and report["pids"] > 0
    # every socket of the local cluster and its driver on loopback, at both ends
    assert report["sockets"] and all(
        is_loopback(s[0]) and (is_loopback(s[2]) or s[2] in ANY) for s in report["sockets"])
    # stopped afterwards, by the job and by the command alike
    assert report["left_after_session"] == [] and report["left_after_cli"] == []
    assert report["cli_code"] == 0 and load(str(tmp_path / "v.cemb")).keys == ref.keys


def test_block_index_merge_without_a_cluster(tmp_path):
    """The per-block functions on Arrow tables, in-process: blocks of int IDs and of string IDs
    merge into the index read_interactions builds from the concatenated rows (every ID a
    string, 7 and "7" one ID), and their rows are cut by user and item ranges in order."""
    import pyarrow as pa

    from compactemb.distributed._shards import (
        InteractionShards,
        block_ids,
        merge_ids,
        route_block,
    )
    from compactemb.interactions_io import read_interactions

    (tmp_path / "a.tsv").write_text("7\tx\t1\n8\ty\t2\n7\ty\t1\n")
    spec = InteractionShards(str(tmp_path / "a.tsv"), header=False, weight_col=2)
    blocks = [pa.table({"f0": [7, 8, 7], "f1": ["x", "y", "y"], "f2": [1.0, 2.0, 1.0]}),
              pa.table({"f0": [" u1", "7", "8"], "f1": ["z", "x", "z"], "f2": [3.0, 1.0, 1.0]})]
    users, items = merge_ids([block_ids(b, spec, n) for n, b in enumerate(blocks)])
    whole = tmp_path / "whole.tsv"
    whole.write_text("7\tx\t1\n8\ty\t2\n7\ty\t1\nu1\tz\t3\n7\tx\t1\n8\tz\t1\n")
    ref = read_interactions(whole, header=False)
    for got, want in ((users, ref.user_vocab), (items, ref.item_vocab)):
        assert (got.key_type, got.keys, got.counts.tolist()) == \
            (want.key_type, want.keys, want.counts.tolist())
    # user ranges [0, 1), [1, 3); item ranges [0, 2), [2, 3): rows in block order per range
    pieces = route_block(blocks[1], spec, 1, users, items, np.array([0, 1, 3]),
                         np.array([0, 2, 3]))
    u = users.encode(["u1", "7", "8"])
    i = items.encode(["z", "x", "z"])
    by_user = [np.flatnonzero(u < 1), np.flatnonzero(u >= 1)]
    for k, rows in enumerate(by_user):
        np.testing.assert_array_equal(pieces[k][0], u[rows])
        np.testing.assert_array_equal(pieces[k][1], i[rows])
    by_item = [np.flatnonzero(i < 2), np.flatnonzero(i >= 2)]
    for k, rows in enumerate(by_item):
        np.testing.assert_array_equal(pieces[2 + k][0], i[rows])
        np.testing.assert_array_equal(pieces[2 + k][2], np.array([3.0, 1.0, 1.0])[rows])
