"""Serving benchmark: Milvus Lite and a Milvus standalone server (insert throughput, query
latency p50/p99, recall@10 per index type), and document vectors on SST-2 (nearest-neighbour
classification accuracy against a scikit-learn TF-IDF + cosine baseline).

One command:  python bench/serving/run.py  [--rows 100000] [--dims 100 300] [--parts milvus docvec]
Writes bench/results/serving.json and serving.md. The server is started on free loopback ports in
a temporary folder and stopped at the end; every connection stays on 127.0.0.1.

Vectors: synthetic, clustered (2,000 Gaussian centres, within-cluster noise 0.5 of the centre
spread), so that neighbourhoods have structure as word vectors do; queries are 200 fresh draws
from the same mixture; the exact top-10 (cosine) is computed with numpy.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "bench" / "results"
SHARED = Path(os.environ.get("COMPACTEMB_SHARED_DATA", ROOT.parent / "shared" / "data"))
COMPONENTS = ("rootCoord", "proxy", "queryCoord", "queryNode", "indexNode", "dataCoord",
              "dataNode")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """milvus-server in a temporary folder, loopback only."""

    def __enter__(self):
        self.dir = tempfile.mkdtemp(prefix="milvus-bench-")
        port = free_port()
        cmd = [str(Path(sys.executable).with_name("milvus-server")), "--data", self.dir,
               "--proxy-port", str(port)]
        for c in COMPONENTS:
            cmd += ["--extra-config", f"{c}.ip=127.0.0.1"]
        self.log = open(Path(self.dir) / "launcher.log", "wb")  # noqa: SIM115
        t0 = time.perf_counter()
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        self.uri = f"http://127.0.0.1:{port}"
        from pymilvus import MilvusClient

        stderr_log = Path(self.dir) / "logs" / "milvus-stderr.log"
        while True:
            failure = None
            if self.proc.poll() is not None:
                failure = "milvus-server exited during start"
            elif stderr_log.exists() and b"panic:" in stderr_log.read_bytes():
                # seen when another Milvus server runs on the machine at the same time
                failure = f"the milvus binary panicked: see {stderr_log}"
            elif time.perf_counter() - t0 > 180:
                failure = "milvus-server did not answer within 180 s"
            if failure:
                self.__exit__()
                raise RuntimeError(failure)
            try:
                MilvusClient(uri=self.uri, timeout=2).list_collections()
                break
            except Exception:
                time.sleep(0.5)
        self.start_seconds = time.perf_counter() - t0
        return self

    def __exit__(self, *exc):
        """SIGINT the launcher and the binary (one process group); wait for all of them."""
        deadline = time.perf_counter() + 30
        sig = signal.SIGINT
        while True:
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                break
            self.proc.poll()
            time.sleep(0.5)
            sig = 0 if time.perf_counter() < deadline else signal.SIGKILL
        self.proc.wait(10)
        self.log.close()


def clustered(n, d, rng, centres):
    assign = rng.integers(0, centres.shape[0], n)
    return centres[assign] + 0.5 * rng.standard_normal((n, d)).astype(np.float32)


def exact_top(x, q, k=10):
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    qn = q / np.linalg.norm(q, axis=1, keepdims=True)
    s = qn @ xn.T
    return np.argsort(-s, axis=1)[:, :k]


def bench_backend(uri, lite, x, queries, truth, indexes, deadline):
    from compactemb import DenseTable, KeyedVectors, Vocab
    from compactemb import milvus as cm

    n, d = x.shape
    kv = KeyedVectors(Vocab(np.arange(n, dtype=np.int64)), DenseTable(x))
    out = {}
    for idx in indexes:
        if time.perf_counter() > deadline:
            out[idx] = {"skipped": "time cap reached"}
            continue
        name = f"bench_{idx}_{d}"
        try:
            rep = cm.push(kv, uri, name, index=idx, replace=True, batch_rows=2000)
        except cm.MilvusError as exc:
            out[idx] = {"error": str(exc)}
            continue
        from pymilvus import MilvusClient

        c = MilvusClient(uri=uri)
        c.load_collection(name)
        if not lite:  # Bounded reads a snapshot ~5 s old on a server: let the push age into it
            time.sleep(6)
        c.load_collection(name)
        _, rec = cm._open(uri, name, None, 10.0)
        lat, hits = [], 0
        for qi in range(queries.shape[0]):
            t0 = time.perf_counter()
            res = cm._run_search(c, uri, name, rec, queries[qi:qi + 1], 10,
                                 consistency="Bounded")
            lat.append(time.perf_counter() - t0)
            hits += len({int(k) for k, _ in res[0]} & set(truth[qi].tolist()))
        lat_ms = np.array(lat) * 1e3
        strong = []
        for qi in range(min(20, queries.shape[0])):
            t0 = time.perf_counter()
            cm._run_search(c, uri, name, rec, queries[qi:qi + 1], 10)
            strong.append(time.perf_counter() - t0)
        out[idx] = {"index_type": rep["index_type"], "index_params": rep["index_params"],
                    "search_params": cm._search_params(rec, 10),
                    "push_seconds": rep["seconds"],
                    "insert_rows_per_s": round(n / rep["seconds"]),
                    "bytes_sent": rep["bytes_sent"],
                    "latency_ms_p50": round(float(np.percentile(lat_ms, 50)), 3),
                    "latency_ms_p99": round(float(np.percentile(lat_ms, 99)), 3),
                    "recall_at_10": round(hits / (10 * queries.shape[0]), 4),
                    "latency_ms_p50_strong": round(float(np.median(strong)) * 1e3, 3)}
        c.drop_collection(name)
        print(f"  {'lite' if lite else 'server'} d={d} {idx}: {out[idx]}", flush=True)
    return out


def part_milvus(args, save, earlier):
    rng = np.random.default_rng(0)
    res = dict(earlier) if earlier.get("rows") == args.rows else {}
    res.update(rows=args.rows, queries=args.queries, data="clustered synthetic")
    deadline = time.perf_counter() + args.max_seconds
    tmp = tempfile.mkdtemp(prefix="lite-bench-")
    data = {}
    for d in args.dims:
        centres = rng.standard_normal((2000, d)).astype(np.float32)
        x = clustered(args.rows, d, rng, centres)
        q = clustered(args.queries, d, rng, centres)
        data[d] = (x, q, exact_top(x, q))
    # auto picks hnsw for a dense table of more than 20,000 rows: not run twice
    lite_idx = ["hnsw", "flat", "ivf_flat"] if "lite" in args.backends else []
    server_idx = ["hnsw", "flat", "ivf_flat", "ivf_pq"]
    for d in args.dims if lite_idx else []:
        x, q, truth = data[d]
        print(f"lite d={d}", flush=True)
        res[f"lite_d{d}"] = bench_backend(str(Path(tmp) / f"b{d}.db"), True, x, q, truth,
                                          lite_idx, deadline)
        save(res)
    if "server" not in args.backends:
        return res
    with Server() as srv:
        res["server_start_seconds"] = round(srv.start_seconds, 2)
        for d in args.dims:
            x, q, truth = data[d]
            print(f"server d={d}", flush=True)
            res[f"server_d{d}"] = bench_backend(srv.uri, False, x, q, truth, server_idx,
                                                deadline)
            save(res)
    return res


def _read_sst(path):
    labels, texts = [], []
    with open(path, encoding="utf-8") as fh:
        next(fh)
        for line in fh:
            lab, _, text = line.rstrip("\r\n").partition("\t")
            labels.append(int(lab))
            texts.append(text)
    return np.array(labels), texts


def knn_accuracy(train_x, train_y, test_x, test_y, k=10):
    def unit(a):
        return a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-30)

    s = unit(test_x) @ unit(train_x).T
    top = np.argpartition(-s, k, axis=1)[:, :k]
    votes = train_y[top].mean(1)
    return float(((votes > 0.5).astype(int) == test_y).mean())


def part_docvec(args):
    from sklearn.feature_extraction.text import TfidfVectorizer

    from compactemb.docvec import embed_texts, first_component, remove_component
    from compactemb.storage import load

    sst = SHARED / "sst2"
    if not (sst / "train.tsv").exists():
        return {"skipped": f"SST-2 not found under {sst.name}"}
    ytr, ttr = _read_sst(sst / "train.tsv")
    yte, tte = _read_sst(sst / "dev.tsv")
    out = {"train_phrases": len(ttr), "test_sentences (dev)": len(tte), "k": 10}
    tmp = Path(tempfile.mkdtemp(prefix="sst-bench-"))
    corpus = tmp / "train.txt"
    corpus.write_text("\n".join(ttr) + "\n", encoding="utf-8")
    wv = tmp / "w.cemb"
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "compactemb", "train", "words", str(corpus), "-o",
                    str(wv), "--method", "sgns", "--dim", "100", "--epochs", "10",
                    "--min-count", "2", "--seed", "1", "-q"], check=True)
    out["word_vectors"] = ("sgns d=100, 10 epochs, min-count 2, trained on the SST-2 train "
                           f"phrases ({time.perf_counter() - t0:.0f} s)")
    kv = load(wv)
    for method, remove in (("mean", False), ("sif", False), ("sif", True)):
        xtr = embed_texts(kv, ttr, method=method)
        xte = embed_texts(kv, tte, method=method)
        if remove:
            u = first_component(xtr)
            xtr, xte = remove_component(xtr, u), remove_component(xte, u)
        name = method + (" + remove first component" if remove else "")
        out[name] = round(knn_accuracy(xtr, ytr, xte, yte), 4)
        print(f"  {name}: {out[name]}", flush=True)
    tf = TfidfVectorizer(sublinear_tf=True)
    a = tf.fit_transform(ttr)
    b = tf.transform(tte)
    s = (b @ a.T).toarray()  # rows are L2-normalised: cosine
    top = np.argpartition(-s, 10, axis=1)[:, :10]
    out["tfidf_cosine_baseline"] = round(float((((ytr[top].mean(1)) > 0.5).astype(int)
                                                == yte).mean()), 4)
    print(f"  tfidf: {out['tfidf_cosine_baseline']}", flush=True)
    return out


def to_markdown(res):
    lines = ["# Serving: Milvus Lite, Milvus server, document vectors", "",
             f"Machine: {platform.machine()}, {os.cpu_count()} cores (shared). "
             f"pymilvus 3.0.2, milvus-lite 3.2.2, Milvus 2.3.5 standalone (PyPI `milvus`).", ""]
    m = res.get("milvus")
    if m:
        lines += [f"{m['rows']:,} vectors ({m['data']}), {m['queries']} single-vector queries, "
                  f"k=10, cosine. Server start: {m.get('server_start_seconds', '?')} s.", "",
                  "Insert rows/s: a whole push (upserts, flush, index build, load) over its rows. "
                  "Latency: one query per call, Bounded consistency (Strong adds the server's "
                  "time tick: see p50 strong). `auto` = hnsw at this size.", "",
                  "| backend | d | index | params | insert rows/s | p50 ms | p99 ms | "
                  "p50 ms strong | recall@10 |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for key, val in m.items():
            if not isinstance(val, dict):
                continue
            backend, d = key.split("_d")
            for idx, r in val.items():
                if "error" in r or "skipped" in r:
                    lines.append(f"| {backend} | {d} | {idx} | {r.get('error', r.get('skipped'))}"
                                 " | | | | | |")
                    continue
                lines.append(f"| {backend} | {d} | {idx} ({r['index_type']}) | "
                             f"{r['index_params']} {r['search_params']} | "
                             f"{r['insert_rows_per_s']:,} | {r['latency_ms_p50']} | "
                             f"{r['latency_ms_p99']} | {r['latency_ms_p50_strong']} | "
                             f"{r['recall_at_10']} |")
        lines.append("")
    dv = res.get("docvec")
    if dv:
        lines += ["## Document vectors on SST-2 (10-NN classification accuracy, dev set)", ""]
        lines += [f"- {k}: {v}" for k, v in dv.items()]
        lines.append("")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--dims", type=int, nargs="+", default=[100, 300])
    ap.add_argument("--parts", nargs="+", default=["milvus", "docvec"])
    ap.add_argument("--backends", nargs="+", default=["lite", "server"],
                    help="Milvus backends to run (results of the others are kept)")
    ap.add_argument("--max-seconds", type=float, default=1500,
                    help="stop starting new Milvus runs after this long")
    args = ap.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / "serving.json"
    res = json.loads(path.read_text()) if path.exists() else {}
    if "docvec" in args.parts:
        res["docvec"] = part_docvec(args)
        path.write_text(json.dumps(res, indent=2))
    def save(part):
        res["milvus"] = part
        path.write_text(json.dumps(res, indent=2))
        (RESULTS / "serving.md").write_text(to_markdown(res))

    if "milvus" in args.parts:
        res["milvus"] = part_milvus(args, save, res.get("milvus", {}))
    path.write_text(json.dumps(res, indent=2))
    (RESULTS / "serving.md").write_text(to_markdown(res))
    print(to_markdown(res))


if __name__ == "__main__":
    main()
