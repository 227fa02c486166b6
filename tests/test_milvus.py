"""compactemb.milvus against real Milvus: Milvus Lite (a local .db) and a Milvus standalone server
(the `milvus` package's binary) started here on loopback ports and stopped after the module.

The reference is in-process exact search (`KeyedVectors.neighbors`, `FactorModel.recommend`):
with a flat index Milvus must return the same top-10 keys with scores within 1e-4.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from _net import ESTABLISHED, is_loopback, tcp_sockets

from compactemb import DenseTable, KeyedVectors, Vocab
from compactemb import milvus as cm
from compactemb.cli import main
from compactemb.exceptions import InputError, OptionalDependencyError, UnknownKeyError
from compactemb.recommend import FactorModel
from compactemb.tables import PQTable

LOOPBACK_COMPONENTS = ("rootCoord", "proxy", "queryCoord", "queryNode", "indexNode", "dataCoord",
                       "dataNode")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _server_pids(root: int) -> list[int]:
    """``root`` and its descendants (the launcher runs the milvus binary as a child)."""
    pids, frontier = [root], [root]
    while frontier:
        pid = frontier.pop()
        try:
            kids = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except OSError:
            kids = []
        pids += [int(k) for k in kids]
        frontier += [int(k) for k in kids]
    return pids


@pytest.fixture(scope="module")
def server_uri(tmp_path_factory):
    """A Milvus standalone server on a free loopback port, for this module only."""
    exe = Path(sys.executable).with_name("milvus-server")
    assert exe.exists(), "the test extra installs the `milvus` package (milvus-server)"
    data = tmp_path_factory.mktemp("milvus-server")
    port = _free_port()
    cmd = [str(exe), "--data", str(data), "--proxy-port", str(port)]
    for comp in LOOPBACK_COMPONENTS:
        cmd += ["--extra-config", f"{comp}.ip=127.0.0.1"]
    log = open(data / "launcher.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    uri = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 240
        stderr_log = data / "logs" / "milvus-stderr.log"
        while True:
            if proc.poll() is not None:
                pytest.fail(f"milvus-server exited with {proc.returncode}: "
                            + (data / "launcher.log").read_text()[-2000:])
            if stderr_log.exists() and b"panic:" in stderr_log.read_bytes():
                pytest.fail("the milvus binary panicked while starting (seen when another "
                            "Milvus server runs on this machine at the same time)")
            try:
                from pymilvus import MilvusClient

                MilvusClient(uri=uri, timeout=2).list_collections()
                break
            except Exception:
                if time.monotonic() > deadline:
                    pytest.fail("milvus-server did not answer within 240 s")
                time.sleep(0.5)
        yield uri, proc
    finally:
        _stop_group(proc)
        log.close()


def _stop_group(proc) -> None:
    """SIGINT the launcher and the milvus binary (its own process group), wait until every
    process of the group is gone (ports released), SIGKILL after 30 s."""
    os.killpg(proc.pid, signal.SIGINT)
    deadline = time.monotonic() + 30
    while True:
        if proc.poll() is None:
            time.sleep(0.2)
        else:
            try:
                os.killpg(proc.pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.2)
        if time.monotonic() > deadline:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(10)
            return


@pytest.fixture(params=["lite", "server"])
def uri(request, tmp_path):
    if request.param == "lite":
        return str(tmp_path / "vectors.db")
    return request.getfixturevalue("server_uri")[0]


def _words(n=1500, dim=24, seed=0, dtype=np.float32):
    rng = np.random.default_rng(seed)
    keys = [f"w{i}" for i in range(n)]
    return KeyedVectors(Vocab(keys, counts=rng.integers(1, 1000, n)),
                        DenseTable(rng.standard_normal((n, dim)).astype(dtype)))


def _same_as_exact(got, want):
    for g, w in zip(got, want):
        assert [k for k, _ in g] == [k for k, _ in w]
        np.testing.assert_allclose([s for _, s in g], [s for _, s in w], atol=1e-4)


QUERIES = ["w0", "w3", "w17", "w400", "w1499"]


def test_flat_top10_equals_exact_neighbors_and_repush_is_idempotent(uri, request):
    kv = _words()
    name = f"flat_{request.node.callspec.id}"
    rep = cm.push(kv, uri, name, index="flat", replace=True)
    assert rep["rows"] == 1500 and rep["index_type"] == "FLAT" and rep["metric"] == "cosine"
    assert rep["bytes_sent"] >= 1500 * 24 * 4
    _same_as_exact(cm.search(uri, name, QUERIES, 10), kv.neighbors(QUERIES, k=10))
    # the same push again: same rows, nothing duplicated
    again = cm.push(kv, uri, name, index="flat")
    assert again["rows"] == 1500
    from pymilvus import MilvusClient

    c = MilvusClient(uri=uri)
    assert c.query(name, filter="", output_fields=["count(*)"],
                   consistency_level="Strong")[0]["count(*)"] == 1500
    _same_as_exact(cm.search(uri, name, QUERIES, 10), kv.neighbors(QUERIES, k=10))


def test_fp16_table_is_pushed_as_float_and_matches_exact(uri):
    # float32 fields on both: Lite refuses FLOAT16, the 2.3.5 server mis-scores float16 queries
    kv = _words(dtype=np.float16)
    rep = cm.push(kv, uri, "half", index="flat", replace=True)
    assert rep["vector_type"] == "FLOAT_VECTOR"
    _same_as_exact(cm.search(uri, "half", QUERIES, 10), kv.neighbors(QUERIES, k=10))


def test_pq_table_decoded_and_int_keys(uri):
    rng = np.random.default_rng(1)
    m, k, dsub, n = 4, 16, 6, 1200
    table = PQTable(rng.standard_normal((m, k, dsub)).astype(np.float32),
                    rng.integers(0, k, (n, m)).astype(np.uint8))
    kv = KeyedVectors(Vocab(np.arange(100, 100 + n, dtype=np.int64)), table)
    cm.push(table, uri, "pq_flat", index="flat", replace=True)  # bare table: keys = rows
    got = cm.search(uri, "pq_flat", [3, 50], 10)
    assert all(isinstance(key, int) for key, _ in got[0])
    bare = KeyedVectors(Vocab(np.arange(n, dtype=np.int64)), table)
    # PQ codes repeat: ties in score may order differently; compare the score lists
    for g, w in zip(got, bare.neighbors([3, 50], k=10)):
        np.testing.assert_allclose([s for _, s in g], [s for _, s in w], atol=1e-4)
    cm.push(kv, uri, "pq_keys", index="flat", replace=True)
    assert {key for key, _ in cm.search(uri, "pq_keys", [100], 5)[0]} <= set(range(100, 1300))


def test_ivf_pq_mirrors_the_tables_subvectors_on_a_server_and_lite_refuses(server_uri, tmp_path):
    rng = np.random.default_rng(2)
    table = PQTable(rng.standard_normal((5, 256, 4)).astype(np.float32),
                    rng.integers(0, 256, (3000, 5)).astype(np.uint8))
    rep = cm.push(table, server_uri[0], "pq_ivf", index="ivf_pq", replace=True)
    assert rep["index_type"] == "IVF_PQ"
    assert rep["index_params"]["m"] == 5 and rep["index_params"]["nbits"] == 8
    from pymilvus import MilvusClient

    idx = MilvusClient(uri=server_uri[0]).describe_index("pq_ivf", "vector")
    assert idx["index_type"] == "IVF_PQ" and int(idx["m"]) == 5
    with pytest.raises(cm.MilvusError, match="Lite has no IVF_PQ"):
        cm.push(table, str(tmp_path / "v.db"), "pq_ivf", index="ivf_pq")


def test_other_dimension_or_metric_is_refused_and_replace_works(uri):
    cm.push(_words(dim=24), uri, "dims", index="flat", replace=True)
    with pytest.raises(cm.MilvusError, match="dim 24.*dim 8|use --replace"):
        cm.push(_words(dim=8), uri, "dims", index="flat")
    with pytest.raises(cm.MilvusError, match="metric"):
        cm.push(_words(dim=24), uri, "dims", index="flat", metric="l2")
    rep = cm.push(_words(dim=8), uri, "dims", index="flat", replace=True)
    assert rep["dim"] == 8
    with pytest.raises(UnknownKeyError, match="nope"):
        cm.search(uri, "dims", ["nope"], 3)


def test_unfinished_push_is_detected_and_resume_finishes_it(tmp_path, monkeypatch):
    uri = str(tmp_path / "v.db")
    kv = _words(n=1000)
    from pymilvus import MilvusClient

    real_upsert = MilvusClient.upsert
    calls = []

    def dying_upsert(self, *a, **kw):  # the server goes away after the first batch
        calls.append(1)
        if len(calls) > 1:
            raise ConnectionError("server closed the connection")
        return real_upsert(self, *a, **kw)

    monkeypatch.setattr(MilvusClient, "upsert", dying_upsert)
    with pytest.raises(cm.MilvusError, match="insert rows 300..599 .* failed"):
        cm.push(kv, uri, "part", index="flat", batch_rows=300)
    monkeypatch.setattr(MilvusClient, "upsert", real_upsert)
    with pytest.raises(cm.MilvusError, match="300 of the 1000 rows.*did not finish"):
        cm.search(uri, "part", ["w1"], 3)
    rep = cm.push(kv, uri, "part", index="flat", resume=True, batch_rows=300)
    assert rep["rows"] == 1000 and rep["rows_sent"] == 700
    _same_as_exact(cm.search(uri, "part", QUERIES[:4], 10), kv.neighbors(QUERIES[:4], k=10))


def test_recommend_in_milvus_equals_in_process(uri):
    rng = np.random.default_rng(3)
    n_users, n_items, dim = 40, 500, 12
    seen = sp.random(n_users, n_items, density=0.05, random_state=3, format="csr")
    model = FactorModel(Vocab([f"u{i}" for i in range(n_users)]),
                        Vocab(np.arange(n_items, dtype=np.int64) * 7),
                        DenseTable(rng.standard_normal((n_users, dim))),
                        DenseTable(rng.standard_normal((n_items, dim))), seen=seen)
    cm.push(model, uri, "items_ip", index="flat", metric="ip", side="items", replace=True)
    users = ["u0", "u5", "u39"]
    _same_as_exact(cm.recommend(model, users, uri, "items_ip", 10),
                   model.recommend(users, k=10))
    cm.push(model, uri, "items_cos", index="flat", side="items", replace=True)
    with pytest.raises(cm.MilvusError, match="inner product"):
        cm.recommend(model, users, uri, "items_cos", 10)


def test_cli_push_search_recommend_json(capsys, tmp_path):
    uri = str(tmp_path / "cli.db")
    kv = _words(n=600)
    kv.save(tmp_path / "w.cemb")
    assert main(["milvus", "push", str(tmp_path / "w.cemb"), "--uri", uri, "--collection",
                 "words", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    for key in ("rows", "bytes_sent", "index_type", "index_params", "seconds"):
        assert key in out
    assert out["rows"] == 600 and out["index_type"] == "FLAT"  # auto: small -> exact
    assert main(["milvus", "search", "--uri", uri, "--collection", "words", "w1", "w2",
                 "-k", "10", "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert main(["neighbors", str(tmp_path / "w.cemb"), "w1", "w2", "-k", "10", "--json"]) == 0
    want = json.loads(capsys.readouterr().out)
    assert list(got) == ["w1", "w2"]
    for q in got:
        assert [r["key"] for r in got[q]] == [r["key"] for r in want[q]]
        assert q not in [r["key"] for r in got[q]]
    np.save(tmp_path / "q.npy", kv["w1"][None, :])
    assert main(["milvus", "search", "--uri", uri, "--collection", "words", "--vector-file",
                 str(tmp_path / "q.npy"), "-k", "3", "--json"]) == 0
    vec = json.loads(capsys.readouterr().out)
    assert vec["0"][0]["key"] == "w1"


def test_cli_bad_input_is_one_line_exit_1(capsys, tmp_path):
    kv = _words(n=50)
    kv.save(tmp_path / "w.cemb")
    closed = f"http://127.0.0.1:{_free_port()}"
    t0 = time.monotonic()
    with pytest.raises(cm.MilvusError, match="cannot connect|failed"):
        cm.push(kv, closed, "x", timeout=2)
    assert time.monotonic() - t0 < 30
    for argv, msg in (
        (["milvus", "push", str(tmp_path / "w.cemb"), "--uri", closed, "--collection", "x"],
         "cannot connect to Milvus"),
        (["milvus", "push", str(tmp_path / "w.cemb"), "--uri", "vectors", "--collection", "x"],
         "expected a Milvus Lite file"),
        (["milvus", "push", str(tmp_path / "w.cemb"), "--uri", str(tmp_path / "v.db"),
          "--collection", "x", "--index", "ivf_pq"], "Lite has no IVF_PQ"),
        (["milvus", "search", "--uri", str(tmp_path / "v.db"), "--collection", "missing", "a"],
         "no collection 'missing'"),
        (["milvus", "push", str(tmp_path / "w.cemb"), "--uri", str(tmp_path / "v.db"),
          "--collection", "9bad"], "collection name"),
    ):
        assert main(argv) == 1, argv
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and msg in err, err


def test_missing_pymilvus_names_the_extra(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "pymilvus", None)
    with pytest.raises(OptionalDependencyError, match=r"compactemb\[milvus\]"):
        cm.push(_words(n=10), str(tmp_path / "v.db"), "x")
    with pytest.raises(InputError, match="metric"):
        cm.push(_words(n=10), str(tmp_path / "v.db"), "x", metric="hamming")


def test_server_traffic_stays_on_loopback(server_uri):
    cm.push(_words(n=200), server_uri[0], "loop", index="flat", replace=True)
    peers = {remote for _, _, remote, _ in
             tcp_sockets(_server_pids(server_uri[1].pid), state=ESTABLISHED)}
    assert peers, "the server has no established connection to inspect"
    assert all(is_loopback(p) for p in peers), peers


def _collection_rows(uri: str, name: str) -> list[dict]:
    from pymilvus import MilvusClient

    c = MilvusClient(uri=uri)
    rows = c.query(name, filter="id >= 0", output_fields=["id", "key", "count", "vector"],
                   limit=16384, consistency_level="Strong")
    return sorted(rows, key=lambda r: r["id"])


def test_embed_and_push_over_shards_on_ray_equals_local_push(server_uri, tmp_path):
    """Text shards embedded by Ray tasks (a one-node loopback cluster), each pushing its rows to
    the server: the collection holds what the local doc_vectors + push put there."""
    import ray

    from compactemb.distributed import LocalCluster, embed_and_push
    from compactemb.distributed._cluster import LOOPBACK, pin_loopback
    from compactemb.docvec import doc_vectors, read_texts

    uri = server_uri[0]
    rng = np.random.default_rng(4)
    words = [f"w{i}" for i in range(300)]
    kv = KeyedVectors(Vocab(words, np.arange(600, 0, -2)),
                      DenseTable(rng.standard_normal((300, 16)).astype(np.float32)))
    files = []
    for s, n_texts in enumerate((120, 1, 75)):
        lines = [" ".join(rng.choice(words + ["unknown"], rng.integers(0, 9)))
                 for _ in range(n_texts)]
        files.append(tmp_path / f"part{s}.txt")
        files[-1].write_text("\n".join(lines) + "\n")
        (tmp_path / f"part{s}.tsv").write_text(
            "id\ttext\n" + "".join(f"d{s}-{j}\t{t}\n" for j, t in enumerate(lines)))
    texts = [t for f in files for t in read_texts(str(f))[1]]
    tsv_ids = [i for s in range(3) for i in read_texts(str(tmp_path / f"part{s}.tsv"),
                                                      id_column="id")[0]]
    cases = [("mean", False, None), ("sif", True, "id")]
    for method, remove, id_column in cases:
        local = doc_vectors(kv, texts, ids=tsv_ids if id_column else None, method=method,
                            remove_first_component=remove)
        cm.push(local, uri, f"docs_local_{method}", index="flat", replace=True)
    cluster = LocalCluster(n_nodes=1, cpus_per_node=2, object_store_memory=100_000_000)
    try:
        with cluster.driver_env():
            pin_loopback()
            ray.init(address=cluster.address, _node_ip_address=LOOPBACK,
                     logging_level="error", log_to_driver=False)
            try:
                for method, remove, id_column in cases:
                    paths = [str(tmp_path / f"part{s}.{'tsv' if id_column else 'txt'}")
                             for s in range(3)]
                    rep = embed_and_push(kv, paths, uri, f"docs_ray_{method}", method=method,
                                         remove_first_component=remove, id_column=id_column,
                                         index="flat", replace=True, address=cluster.address)
                    assert rep["rows"] == len(texts) and rep["files"] == 3
            finally:
                ray.shutdown()
    finally:
        cluster.stop()
    assert not cluster.pids()
    for method, remove, _ in cases:
        want = _collection_rows(uri, f"docs_local_{method}")
        got = _collection_rows(uri, f"docs_ray_{method}")
        assert [(r["id"], r["key"], r["count"]) for r in got] == \
            [(r["id"], r["key"], r["count"]) for r in want]
        a = np.array([r["vector"] for r in got], np.float32)
        b = np.array([r["vector"] for r in want], np.float32)
        if remove:  # the direction is summed over files: float rounding apart
            np.testing.assert_allclose(a, b, atol=1e-6)
        else:
            np.testing.assert_array_equal(a, b)
    with pytest.raises(InputError, match="Milvus Lite"):
        embed_and_push(kv, [str(files[0])], str(tmp_path / "x.db"), "docs")
